# shellcheck shell=bash
# scripts/lib/pg-common.sh: the log line and the clock of pg-throwaway.sh
# (sourced by it; not a script of its own).

pg_throwaway__log() {
	printf 'pg-throwaway: %s\n' "$*" >&2
}

# Seconds since the epoch with microseconds.
pg_throwaway__now() {
	if [[ -n "${EPOCHREALTIME:-}" ]]; then
		printf '%s\n' "${EPOCHREALTIME/,/.}"
	else
		date +%s.%N
	fi
}
