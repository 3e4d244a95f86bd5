#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET]: fuzzes with libFuzzer (clang, ASan,
# UBSan) for SECONDS (default 60). TARGET is scenario (default: the scenario
# loader, seeded from scenarios/ and the test suite's scenario files) or
# pgwire (the protocol reader, from an empty corpus). Crashes land in
# build-fuzz/crashes/: turn each into a file under tests/data/bad/ with a row
# in tests/test_scenario.c, or a case in tests/test_pgwire.c.
# Inputs may be as large as a scenario file may be (1 MiB, the loader's own
# cap): long expressions (a chain of thousands of terms) must be reachable.
# NICE (default 10) is the niceness it runs at: the machine is shared.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
target=${2:-scenario}
case $target in
scenario | pgwire) ;;
*)
	echo "fuzz.sh: unknown target $target (scenario or pgwire)" >&2
	exit 2
	;;
esac
./scripts/setup.sh --no-build
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DPGRACE_FUZZ=ON -DPGRACE_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$dir" --target "fuzz_$target" -j 2
mkdir -p "$dir/corpus-$target" "$dir/crashes"
if [ "$target" = scenario ]; then
	cp scenarios/*.yaml tests/data/good/*.yaml tests/data/bad/*.yaml "$dir/corpus-$target/" 2>/dev/null || true
fi
nice -n "${NICE:-10}" "$dir/fuzz_$target" -max_total_time="$seconds" -max_len=1048576 -timeout=10 \
	-artifact_prefix="$dir/crashes/" "$dir/corpus-$target"
