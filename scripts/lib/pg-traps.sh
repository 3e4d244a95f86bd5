# shellcheck shell=bash
# scripts/lib/pg-traps.sh: cleanup on exit and on signals for a shell that
# sourced pg-throwaway.sh: the traps, and pg_throwaway_run, which hands INT
# and TERM to the command it waits for before the cluster is stopped.

# Traps for the sourcing script: on exit (normal or by failure) stop and
# delete the cluster keeping the exit code; on INT/TERM forward the signal to
# the command pg_throwaway_run is waiting for and let it finish (it may be
# cleaning up its own schema); with no such command, exit 130/143 at once
# (through the EXIT trap).
pg_throwaway_install_traps() {
	trap 'pg_throwaway__on_exit' EXIT
	trap 'pg_throwaway__on_signal INT 130' INT
	trap 'pg_throwaway__on_signal TERM 143' TERM
}

pg_throwaway__on_exit() {
	local rc=$?
	trap - EXIT
	pg_throwaway_stop || true
	pg_throwaway__stop_below "${PGRACE_TEST_CLUSTERS:-}"
	exit "$rc"
}

# Stops every throwaway cluster left in folder $1 (the folder scripts/test.sh
# gives the tests for clusters of their own) and removes the folder.
pg_throwaway__stop_below() {
	local parent=$1 d
	[[ -n "$parent" && -d "$parent" && -f "$parent/.pgrace-clusters" ]] || return 0
	for d in "$parent"/*/; do
		[[ -f "$d$PG_THROWAWAY_MARKER" ]] || continue
		pg_throwaway__log "stopping ${d%/}, left behind by a test"
		pg_throwaway_stop "${d%/}" || true
	done
	rm -f -- "$parent/.pgrace-clusters"
	rmdir -- "$parent" 2>/dev/null || true
}

pg_throwaway__on_signal() {
	local sig=$1 code=$2
	if [[ -z "$PG_THROWAWAY_CHILD" ]]; then
		exit "$code"
	fi
	PG_THROWAWAY_SIGNALS=$((PG_THROWAWAY_SIGNALS + 1))
	if ((PG_THROWAWAY_SIGNALLED == 0)); then
		PG_THROWAWAY_SIGNALLED=$code
	fi
	# A third signal means the command did not stop: kill it.
	if ((PG_THROWAWAY_SIGNALS >= 3)); then
		pg_throwaway__log "SIG$sig again: killing process group $PG_THROWAWAY_CHILD"
		sig=KILL
	else
		pg_throwaway__log "SIG$sig: passing it on to process group $PG_THROWAWAY_CHILD and waiting for it"
	fi
	kill -s "$sig" -- "-$PG_THROWAWAY_CHILD" 2>/dev/null || true
}

# Runs "$@" (stdin from /dev/null) in a process group of its own and returns
# its exit code. INT/TERM sent to this script (from a terminal's Ctrl-C, or to
# its pid only, as CI timeouts do) reach the command exactly once (a third
# one kills it); once it has finished this returns 130/143 and
# PG_THROWAWAY_SIGNALLED says so, leaving the caller to wrap up and exit.
# Needs pg_throwaway_install_traps.
pg_throwaway_run() {
	local rc monitor=$-
	set -m
	"$@" </dev/null &
	PG_THROWAWAY_CHILD=$!
	if [[ "$monitor" != *m* ]]; then
		set +m
	fi
	while :; do
		rc=0
		wait "$PG_THROWAWAY_CHILD" || rc=$?
		# A trapped signal interrupts wait with rc > 128 while the command runs on.
		if ((rc > 128)) && kill -0 "$PG_THROWAWAY_CHILD" 2>/dev/null; then
			continue
		fi
		break
	done
	PG_THROWAWAY_CHILD=""
	if ((PG_THROWAWAY_SIGNALLED != 0)); then
		return "$PG_THROWAWAY_SIGNALLED"
	fi
	return "$rc"
}
