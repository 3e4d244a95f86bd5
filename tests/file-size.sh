#!/usr/bin/env bash
# tests/file-size.sh SOURCE_DIR: fails when a C source file in src/ is over
# 850 lines. A file that long usually holds more than one job: split it by job
# (a module per job, its header the contract), not by cutting at a line.
set -euo pipefail
cd "$1"
limit=850
failed=0
checked=0
for f in src/*.c; do
	checked=$((checked + 1))
	n=$(wc -l <"$f")
	if ((n > limit)); then
		echo "file-size: $f has $n lines (limit $limit): split it by job" >&2
		failed=$((failed + 1))
	fi
done
echo "file-size: $((checked - failed)) passed, $failed failed"
((failed == 0))
