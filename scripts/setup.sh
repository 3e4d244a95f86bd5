#!/usr/bin/env bash
# setup.sh: install the Debian packages pgrace needs (only those missing) and
# build it.
#
#   scripts/setup.sh [--no-build]
#
# Idempotent: packages are checked with dpkg-query and `apt-get update` runs
# only when one is missing. Installs as root directly, else through sudo when
# there is one, else says what to install and stops. Then configures and
# builds into $PGRACE_BUILD_DIR (default build), with $PGRACE_CMAKE_ARGS
# appended to the cmake command line (e.g. PGRACE_BUILD_DIR=build-tsan
# PGRACE_CMAKE_ARGS=-DPGRACE_SANITIZE=thread) and $PGRACE_JOBS parallel jobs
# (default: the number of cores). Works from any folder.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Build: compiler, cmake, pkg-config, libraries, Criterion. Run: PostgreSQL
# server (throwaway clusters, amcheck from contrib), jq (summaries), gnuplot
# (plots), pgbouncer (pooler scenarios), alembic with SQLAlchemy and psycopg2
# (the Alembic example project and its test), Django and ActiveRecord with
# ruby-pg (the application-flow examples and their tests). Check: clang, valgrind, man-db
# (the install test renders the man page), shellcheck (every script, a test),
# clang-format (scripts/format-check.sh), chromium (renders the HTML report
# in its test).
packages=(
	build-essential cmake pkg-config
	libpq-dev libfyaml-dev libjansson-dev libcriterion-dev
	postgresql postgresql-contrib
	jq gnuplot-nox pgbouncer libxml2-utils
	alembic python3-alembic python3-sqlalchemy python3-psycopg2 python3-yaml
	python3-django ruby-activerecord ruby-pg
	dpkg-dev
	clang valgrind man-db shellcheck clang-format chromium
)

build=1
for arg in "$@"; do
	case "$arg" in
	--no-build) build=0 ;;
	-h | --help)
		sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		printf 'setup.sh: unknown argument: %s (usage: scripts/setup.sh [--no-build])\n' "$arg" >&2
		exit 2
		;;
	esac
done

say() {
	printf 'setup: %s\n' "$*" >&2
}

install_missing() {
	local p status
	local -a missing=() sudo=()
	if ! command -v dpkg-query >/dev/null 2>&1; then
		say "not a Debian system (no dpkg-query); make sure these, or your system's equivalents, are installed: ${packages[*]}"
		return 0
	fi
	for p in "${packages[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		if [[ "$status" != ii* ]]; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		say "all ${#packages[@]} packages are installed"
		return 0
	fi
	if [[ "$(id -u)" -ne 0 ]]; then
		if ! command -v sudo >/dev/null 2>&1; then
			say "missing packages: ${missing[*]}"
			say "as root, run: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
			return 1
		fi
		sudo=(sudo)
	fi
	say "installing: ${missing[*]}"
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
		install -y --no-install-recommends "${missing[@]}"
}

install_missing

if ((build)); then
	build_dir=${PGRACE_BUILD_DIR:-build}
	read -ra cmake_args <<<"${PGRACE_CMAKE_ARGS:-}"
	jobs=${PGRACE_JOBS:-$(nproc 2>/dev/null || echo 2)}
	cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}"
	cmake --build "$build_dir" -j "$jobs"
fi
