#!/usr/bin/env bash
# test.sh: build pgrace and run its test suite (ctest) against a throwaway
# PostgreSQL cluster.
#
#   scripts/test.sh [ctest args...]        e.g. scripts/test.sh -R scenario -V
#
# Runs scripts/setup.sh (packages, configure, build), starts a throwaway
# cluster (scripts/pg-throwaway.sh) whose PG* variables the tests inherit,
# runs `ctest --test-dir $PGRACE_BUILD_DIR --output-on-failure --timeout 600`
# with the arguments given, stops and deletes the cluster (also on failure,
# Ctrl-C and TERM) and exits with ctest's code.
#
# Environment: PGRACE_BUILD_DIR (default build) and PGRACE_CMAKE_ARGS (extra
# cmake arguments), both also read by setup.sh, e.g.
#   PGRACE_BUILD_DIR=build-tsan PGRACE_CMAKE_ARGS=-DPGRACE_SANITIZE=thread scripts/test.sh
# PGRACE_TEST_USE_ENV=1 runs against the server the PG* variables already
# name instead of a throwaway one.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
	sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit 0
fi

scripts/setup.sh

# shellcheck source=SCRIPTDIR/pg-throwaway.sh
source scripts/pg-throwaway.sh
pg_throwaway_install_traps
if [[ "${PGRACE_TEST_USE_ENV:-0}" == 1 ]]; then
	printf 'test: PGRACE_TEST_USE_ENV=1: testing against PGHOST=%s PGPORT=%s PGDATABASE=%s\n' \
		"${PGHOST:-(default)}" "${PGPORT:-(default)}" "${PGDATABASE:-(default)}" >&2
else
	pg_throwaway_start || exit 3
fi

# Clusters the tests start themselves (a primary with a standby) go in
# here, so that this script's exit stops any a killed test left behind.
PGRACE_TEST_CLUSTERS=$(mktemp -d /tmp/pgrace-clusters.XXXXXX)
chmod 0755 "$PGRACE_TEST_CLUSTERS"
: >"$PGRACE_TEST_CLUSTERS/.pgrace-clusters"
export PGRACE_TEST_CLUSTERS

rc=0
pg_throwaway_run ctest --test-dir "${PGRACE_BUILD_DIR:-build}" --output-on-failure --timeout 600 "$@" || rc=$?
exit "$rc"
