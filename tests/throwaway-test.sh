#!/usr/bin/env bash
# tests/throwaway-test.sh SOURCE_DIR: scripts/pg-throwaway.sh stops what it
# started, whatever happened to it meanwhile, and leaves no server behind:
#   1. a cluster restarted by hand (pg_ctl restart, as a CI step may do):
#      stop ends the new postmaster, not only the pid recorded at start
#      (before: the recorded pid was gone, stop deleted the folder and the
#      new postmaster ran on without it);
#   2. a script that sources it, killed with SIGTERM while the server starts
#      (at 10 moments from 0 to 0.3 s): its trap stops the half-started one;
#   3. stop of a folder it did not make is refused.
# Each cluster goes in a folder of this test's, so that anything left is
# found and stopped (by its postmaster's pid) before the test reports it.
set -euo pipefail
src=$1
throwaway="$src/scripts/pg-throwaway.sh"
parent=$(mktemp -d /tmp/pgrace-tw-test.XXXXXX)
chmod 0755 "$parent"
export PGRACE_PG_TMPDIR=$parent
failures=0

fail() {
	echo "throwaway-test: FAIL: $*" >&2
	failures=$((failures + 1))
}

# Postmasters serving a folder under $parent.
left() {
	local f cmd
	for f in /proc/[0-9]*/cmdline; do
		cmd=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue
		if [[ "$cmd" == *"postgres -D $parent/"* ]]; then
			f=${f#/proc/}
			printf '%s\n' "${f%/cmdline}"
		fi
	done
}

cleanup() {
	local pid
	for pid in $(left); do
		kill -QUIT "$pid" 2>/dev/null || true
	done
	sleep 0.5
	rm -rf "$parent"
}
trap cleanup EXIT

# As the server's user (pg-throwaway runs it as postgres when we are root).
as_server() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# 1. restarted by hand
eval "$(bash "$throwaway" start 2>/dev/null)"
dir=$PGRACE_PG_DIR
before=$(head -n 1 "$dir/data/postmaster.pid")
as_server "$PGRACE_PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w restart >/dev/null
after=$(head -n 1 "$dir/data/postmaster.pid")
[[ "$before" != "$after" ]] || fail "restart kept postmaster $before: nothing to test"
bash "$throwaway" stop "$dir" 2>/dev/null || fail "stop after a restart exited $?"
sleep 0.2
if [[ -n "$(left)" ]]; then
	fail "a restarted cluster's postmaster survived stop: $(left)"
fi
[[ ! -d "$dir" ]] || fail "stop left $dir"

# 2. SIGTERM while the server starts
for delay in 0 0.01 0.02 0.03 0.05 0.08 0.1 0.15 0.2 0.3; do
	bash -c 'source "$1"; pg_throwaway_install_traps; pg_throwaway_start 2>/dev/null; sleep 60' \
		_ "$throwaway" &
	pid=$!
	sleep "$delay"
	kill -TERM "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	((rc == 143)) || fail "SIGTERM after $delay s: exit $rc, not 143"
	sleep 0.1
	if [[ -n "$(left)" ]]; then
		fail "SIGTERM after $delay s during start left postmaster $(left)"
		for p in $(left); do kill -QUIT "$p" 2>/dev/null || true; done
	fi
done
leftovers=$(find "$parent" -mindepth 1 -maxdepth 1 -name 'pgrace-pg.*' | wc -l)
((leftovers == 0)) || fail "$leftovers cluster folders left after SIGTERM during start"

# 3. not ours
mkdir -p "$parent/not-ours"
if bash "$throwaway" stop "$parent/not-ours" 2>/dev/null; then
	fail "stop accepted a folder pg-throwaway did not make"
fi
[[ -d "$parent/not-ours" ]] || fail "stop deleted a folder pg-throwaway did not make"

if ((failures)); then
	echo "throwaway-test: $failures failed" >&2
	exit 1
fi
echo "throwaway-test: all passed"
