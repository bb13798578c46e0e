#!/bin/sh
# Runs every zfarm test: installs what they need, builds, and runs ctest
# twice, once plain and once under AddressSanitizer + UndefinedBehaviorSanitizer,
# then runs each fuzz target for a bounded time.
# Usage: tests/run.sh [ctest arguments...]
set -eu
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test

jobs=$(nproc 2>/dev/null || echo 2)
build () {  # build DIR [cmake options...]
    dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" >/dev/null
}

echo "== build and test (plain)"
build build
(cd build && ctest --output-on-failure -j "$jobs" "$@")

echo "== build and test (ASan + UBSan)"
build build-asan -DZFARM_SANITIZE=ON
(cd build-asan && ctest --output-on-failure -j "$jobs" "$@")

echo "== fuzz the decoders (clang, libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DZFARM_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_targets >/dev/null
(cd build-fuzz && ctest --output-on-failure -L fuzz)
