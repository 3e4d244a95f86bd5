#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: fuzzes the scenario loader with libFuzzer
# (clang, ASan, UBSan) for SECONDS (default 60), seeded from scenarios/ and
# the test suite's scenario files. Crashes land in build-fuzz/crashes/: turn
# each into a file under tests/data/bad/ with a row in tests/test_scenario.c.
# Inputs may be as large as a scenario file may be (1 MiB, the loader's own
# cap): long expressions (a chain of thousands of terms) must be reachable.
# NICE (default 10) is the niceness it runs at: the machine is shared.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
./scripts/setup.sh --no-build
dir=build-fuzz
CC=clang cmake -S . -B "$dir" -DPGRACE_FUZZ=ON -DPGRACE_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$dir" --target fuzz_scenario -j 2
mkdir -p "$dir/corpus" "$dir/crashes"
cp scenarios/*.yaml tests/data/good/*.yaml tests/data/bad/*.yaml "$dir/corpus/" 2>/dev/null || true
nice -n "${NICE:-10}" "$dir/fuzz_scenario" -max_total_time="$seconds" -max_len=1048576 -timeout=10 \
	-artifact_prefix="$dir/crashes/" "$dir/corpus"
