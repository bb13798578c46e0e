#!/bin/sh
# Runs every zfarm test: installs what they need, builds, and runs ctest
# twice, once plain and once under AddressSanitizer + UndefinedBehaviorSanitizer
# (with LeakSanitizer), then runs each fuzz target for a bounded time.
# Usage: tests/run.sh [ctest arguments...]
set -eu
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test

jobs=$(nproc 2>/dev/null || echo 2)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0

build () {  # build DIR [cmake options...]
    dir=$1; shift
    # ZFARM_TEST_HOOKS: the broker's injected send failures, which
    # tests/fault/test_worker_removal.c needs (never in an installed build).
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DZFARM_TEST_HOOKS=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
}

run_ctest () {  # run_ctest DIR [ctest arguments...]
    dir=$1; shift
    (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") | tee -a "$log" \
        || failed=1
}

echo "== build and test (plain)"
build build
run_ctest build "$@"

echo "== build and test (ASan + UBSan)"
build build-asan -DZFARM_SANITIZE=ON
run_ctest build-asan "$@"

echo "== fuzz the decoders (clang, libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DZFARM_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_targets >/dev/null
run_ctest build-fuzz -L fuzz

# One line for all three runs: ctest prints "N% tests passed, F tests
# failed out of T" for each, and counts a skipped test (exit 77: it could
# not run here) among the passed; it lists each as "NN - name (Skipped)".
skipped=$(grep -c ' (Skipped)$' "$log" || true)
sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' "$log" \
    | awk -v failed=$failed -v s="$skipped" '{ f += $1; t += $2 }
          END { if (t == 0) failed = 1
                printf "total: %d passed, %d skipped (could not run here), %d failed\n",
                       t - f - s, s, f
                exit (failed || f) ? 1 : 0 }'
