#!/usr/bin/env bash
# install-test.sh: install a built pgrace into a temporary prefix and check
# what a user gets.
#
#   tests/install-test.sh BUILD_DIR SOURCE_DIR
#
# Runs `cmake --install BUILD_DIR --prefix TMP` (BUILD_DIR already built),
# then checks, under TMP:
#   - bin/pgrace runs: `--version` prints "pgrace" and "libpq", `--help`
#     exits 0;
#   - share/man/man1/pgrace.1 is installed, is the one in SOURCE_DIR/man, and
#     `man -l` renders it (exit 0, non-empty output, no groff warning);
#   - share/pgrace/scenarios/ holds every SOURCE_DIR/scenarios/*.yaml, and
#     `bin/pgrace check` accepts membership-unique.yaml.
# Deletes TMP on exit, whatever happened.
#
# Exit code: 0 every check passed; 1 a check failed (each failure is named);
# 2 bad usage; 77 skipped: neither man nor groff is installed to render the
# page (ctest: SKIP_RETURN_CODE 77).
set -euo pipefail

say() {
	printf 'install-test: %s\n' "$*" >&2
}

if (($# != 2)); then
	say "usage: tests/install-test.sh BUILD_DIR SOURCE_DIR"
	exit 2
fi
build=$1
source=$2
[[ -d "$build" ]] || {
	say "$build: no such build directory"
	exit 2
}
[[ -d "$source" ]] || {
	say "$source: no such source directory"
	exit 2
}

prefix=$(mktemp -d "${TMPDIR:-/tmp}/pgrace-install.XXXXXX")
trap 'rm -rf -- "$prefix"' EXIT

failures=0
skipped=""
fail() {
	say "FAIL: $*"
	failures=$((failures + 1))
}
pass() {
	say "ok: $*"
}

if ! out=$(cmake --install "$build" --prefix "$prefix" 2>&1); then
	printf '%s\n' "$out" >&2
	say "FAIL: cmake --install $build --prefix $prefix"
	exit 1
fi
pass "cmake --install into $prefix"

# ---- the binary ----
bin=$prefix/bin/pgrace
if [[ ! -x "$bin" ]]; then
	fail "bin/pgrace not installed"
else
	if version=$("$bin" --version 2>&1) && [[ "$version" == *pgrace* && "$version" == *libpq* ]]; then
		pass "bin/pgrace --version: $version"
	else
		fail "bin/pgrace --version printed \"$version\" (expected \"pgrace\" and \"libpq\")"
	fi
	if "$bin" --help >/dev/null 2>&1; then
		pass "bin/pgrace --help"
	else
		fail "bin/pgrace --help did not exit 0"
	fi
fi

# ---- the man page ----
page=$prefix/share/man/man1/pgrace.1
if [[ ! -f "$page" ]]; then
	fail "share/man/man1/pgrace.1 not installed (CMakeLists.txt needs: install(FILES man/pgrace.1 DESTINATION share/man/man1))"
else
	if [[ -f "$source/man/pgrace.1" ]] && ! cmp -s "$page" "$source/man/pgrace.1"; then
		fail "share/man/man1/pgrace.1 differs from $source/man/pgrace.1"
	fi
	render_err=$prefix/render.err
	if command -v man >/dev/null 2>&1; then
		renderer="man -l"
		rc=0
		text=$(MANPAGER=cat MANWIDTH=80 man --warnings -l "$page" 2>"$render_err") || rc=$?
	elif command -v groff >/dev/null 2>&1; then
		renderer="groff -man"
		rc=0
		text=$(groff -man -Tutf8 -ww "$page" 2>"$render_err") || rc=$?
	else
		renderer=""
		rc=0
		text=""
		skipped="neither man nor groff is installed to render the man page (Debian: apt-get install man-db)"
	fi
	if [[ -z "$renderer" ]]; then
		say "SKIP: $skipped"
	elif ((rc != 0)); then
		cat "$render_err" >&2
		fail "$renderer share/man/man1/pgrace.1 exited $rc"
	elif [[ -z "$text" ]]; then
		fail "$renderer share/man/man1/pgrace.1 printed nothing"
	elif grep -qi 'warning' "$render_err"; then
		cat "$render_err" >&2
		fail "$renderer share/man/man1/pgrace.1 renders with warnings"
	elif [[ "$text" != *NAME* || "$text" != *pgrace* ]]; then
		fail "$renderer share/man/man1/pgrace.1: no NAME section naming pgrace"
	else
		pass "$renderer share/man/man1/pgrace.1 ($(printf '%s\n' "$text" | wc -l) lines)"
	fi
fi

# ---- the scenarios ----
shared=$prefix/share/pgrace/scenarios
missing=()
for f in "$source"/scenarios/*.yaml; do
	[[ -e "$f" ]] || continue
	[[ -f "$shared/$(basename -- "$f")" ]] || missing+=("$(basename -- "$f")")
done
if ((${#missing[@]})); then
	fail "not installed in share/pgrace/scenarios: ${missing[*]}"
else
	pass "every scenarios/*.yaml installed in share/pgrace/scenarios"
fi
seed=$shared/membership-unique.yaml
if [[ ! -f "$seed" ]]; then
	fail "share/pgrace/scenarios/membership-unique.yaml not installed"
elif [[ -x "$bin" ]]; then
	if out=$("$bin" check "$seed" 2>&1); then
		pass "bin/pgrace check share/pgrace/scenarios/membership-unique.yaml: ${out##*: }"
	else
		printf '%s\n' "$out" >&2
		fail "bin/pgrace check share/pgrace/scenarios/membership-unique.yaml"
	fi
fi

if ((failures)); then
	say "$failures check(s) failed"
	exit 1
fi
if [[ -n "$skipped" ]]; then
	say "skipped: $skipped"
	exit 77
fi
say "all checks passed"
