#!/usr/bin/env bash
# deb-check.sh: build the Debian package and try it as a user would.
#
#   scripts/deb-check.sh [BUILD_DIR]      (as root; BUILD_DIR default: build)
#
# Builds pgrace_VERSION_ARCH.deb in BUILD_DIR (cpack -G DEB, after the build
# is brought up to date), installs it with `apt-get install ./pgrace_*.deb`
# (its Depends, filled by dpkg-shlibdeps, resolved by apt), checks that
# /usr/bin/pgrace, pgrace-plot and the man page are there, then starts a
# throwaway PostgreSQL (scripts/pg-throwaway.sh) and, from /tmp, runs
# `pgrace list` and `pgrace run membership-unique` with the installed binary:
# the installed scenarios are found from any folder. The package is removed
# again (apt-get remove) and the cluster stopped on exit, whatever happened.
# Refuses to run when a pgrace package is installed already.
#
# Exit code: 0 every check passed; 1 a check failed; 2 bad usage (not root,
# no build folder, a pgrace package present).
set -euo pipefail

say() {
	printf 'deb-check: %s\n' "$*" >&2
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
if [[ "$(id -u)" -ne 0 ]]; then
	say "run as root (apt-get install)"
	exit 2
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
	say "$build is not a configured build folder (scripts/setup.sh makes one)"
	exit 2
fi
if dpkg-query -W -f='${Status}' pgrace 2>/dev/null | grep -q 'install ok'; then
	say "a pgrace package is installed already; not touching it"
	exit 2
fi

cmake --build "$build" -j"$(nproc)" >/dev/null
rm -f "$build"/pgrace_*.deb
(cd "$build" && cpack -G DEB >/dev/null)
debs=("$build"/pgrace_*.deb)
if [[ ! -f "${debs[0]}" ]]; then
	say "cpack made no pgrace_*.deb in $build"
	exit 1
fi
say "built ${debs[0]}"

# shellcheck source=scripts/pg-throwaway.sh
source scripts/pg-throwaway.sh
installed=0
cleanup() {
	if ((installed)); then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 remove -y pgrace >/dev/null 2>&1 ||
			dpkg -r pgrace >/dev/null 2>&1 || say "could not remove the pgrace package"
	fi
	pg_throwaway_stop || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
	"$(cd "$(dirname "${debs[0]}")" && pwd)/$(basename "${debs[0]}")"
installed=1

failures=0
check() {
	local what=$1
	shift
	if "$@"; then
		say "ok: $what"
	else
		say "FAIL: $what"
		failures=$((failures + 1))
	fi
}
check "/usr/bin/pgrace runs" /usr/bin/pgrace --version
check "/usr/bin/pgrace-plot is installed" test -x /usr/bin/pgrace-plot
check "the man page is installed" test -f /usr/share/man/man1/pgrace.1
check "the scenarios are under /usr/share/pgrace" test -f /usr/share/pgrace/scenarios/membership-unique.yaml
check "the examples are under /usr/share/pgrace" test -f /usr/share/pgrace/examples/alembic/env.py
check "the docs are under /usr/share/doc/pgrace" test -f /usr/share/doc/pgrace/ci.md

pg_throwaway_start || exit 1
listed=$(cd /tmp && /usr/bin/pgrace list)
check "pgrace list from /tmp names the installed scenarios" grep -q '^membership-unique ' <<<"$listed"
check "pgrace run membership-unique passes from /tmp" \
	bash -c 'cd /tmp && /usr/bin/pgrace run membership-unique --quiet'
if ((failures)); then
	say "$failures checks failed"
	exit 1
fi
say "the package installs and its seed scenario passes"
