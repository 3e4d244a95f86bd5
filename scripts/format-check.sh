#!/usr/bin/env bash
# format-check.sh [--fix] [FILE...]: lists the C files that clang-format (with
# the project's .clang-format) would change, with how many lines each, and
# exits 1 when there is any; 0 when every file is formatted. Without FILEs it
# checks src/*.[ch], tests/*.[ch] and tests/fuzz/*.c. --fix rewrites them in
# place instead (then exits 0). Needs clang-format 14 or later
# (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fix=0
if [[ ${1:-} == --fix ]]; then
	fix=1
	shift
fi
if ! command -v clang-format >/dev/null; then
	echo "format-check: clang-format is not installed (scripts/setup.sh installs it)" >&2
	exit 2
fi
if (($# > 0)); then
	files=("$@")
else
	shopt -s nullglob
	files=(src/*.c src/*.h tests/*.c tests/*.h tests/fuzz/*.c)
fi

if ((fix)); then
	clang-format -i --style=file "${files[@]}"
	echo "format-check: formatted ${#files[@]} files"
	exit 0
fi

bad=0
for f in "${files[@]}"; do
	changed=$(clang-format --style=file "$f" | diff -- "$f" - | grep -c '^<' || true)
	if ((changed > 0)); then
		printf '%s: %d lines not formatted\n' "$f" "$changed"
		bad=$((bad + 1))
	fi
done
if ((bad > 0)); then
	echo "format-check: $bad of ${#files[@]} files not formatted (scripts/format-check.sh --fix FILE... formats them)" >&2
	exit 1
fi
echo "format-check: ${#files[@]} files formatted"
