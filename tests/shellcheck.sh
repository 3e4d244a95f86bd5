#!/usr/bin/env bash
# tests/shellcheck.sh SOURCE_DIR: every shell script of the project passes
# the linter, warnings and style notes included: the files git tracks (or,
# outside a git checkout, finds) that end in .sh or start with a sh/bash
# shebang. Sourced libraries (scripts/lib) name their shell with a
# shell=bash directive; `source` is followed (-x).
set -euo pipefail
cd "$1"
if ! command -v shellcheck >/dev/null; then
	echo "shellcheck: not installed (scripts/setup.sh installs it)" >&2
	exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files --cached --others --exclude-standard)
else
	mapfile -t files < <(find . -type f -not -path './build*' -not -path './.git/*' | sed 's|^\./||')
fi
scripts=()
for f in "${files[@]}"; do
	[[ -f $f ]] || continue
	case "$f" in
	build*/* | tests/data/*) continue ;;
	*.sh) scripts+=("$f") ;;
	*)
		if head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b'; then
			scripts+=("$f")
		fi
		;;
	esac
done
if ((${#scripts[@]} == 0)); then
	echo "shellcheck: no scripts found" >&2
	exit 1
fi
if ! shellcheck -x "${scripts[@]}"; then
	echo "shellcheck: the scripts above have findings" >&2
	exit 1
fi
echo "shellcheck: ${#scripts[@]} scripts passed: ${scripts[*]}"
