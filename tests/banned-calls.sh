#!/usr/bin/env bash
# tests/banned-calls.sh SOURCE_DIR: fails when the C sources call a function
# we do not use: unbounded string writers (sprintf, vsprintf, strcpy, strcat,
# gets), the stateful strtok, and atoi/atol, which cannot report bad input.
set -euo pipefail
cd "$1"
pattern='\b(sprintf|vsprintf|strcpy|strcat|gets|strtok|atoi|atol)[[:space:]]*\('
if grep -nE "$pattern" src/*.c src/*.h tests/*.c tests/*.h tests/fuzz/*.c; then
	echo "banned-calls: the calls above are banned (use snprintf, strtol, ...)" >&2
	exit 1
fi
echo "banned-calls: 1 passed, 0 failed"
