#!/usr/bin/env bash
# stress.sh: runs the chaos and fault tests again and again under
# AddressSanitizer, with a competing CPU load on every core, and stops at
# the first failure with that run's logs kept. Not part of ctest's default
# run: a stress hunt takes many minutes.
#
# Usage: tests/stress.sh [-n RUNS] [-R REGEX] [-o DIR] [--no-load] [--no-build]
#   -n RUNS     how many runs (default 20)
#   -R REGEX    the tests to run, a ctest -R regex (default: every test
#               labelled "fault", and test_chaos)
#   -o DIR      where the runs' logs go (default /tmp/zfarm-stress-DATE)
#   --no-load   without the competing CPU load
#   --no-build  use build-asan as it is
#
# Each run is one ctest over the chosen tests, in build-asan, with every
# test's temporary directory (the logs of each broker, worker and client it
# started: <log>.out and .err) under DIR/run-N/tmp. A passing run keeps only
# its ctest output; a failing one keeps everything, and the script prints
# where. At the end it adds up the chaos test's report: runs, tasks, kills,
# pauses, restarts, retries.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=20
regex=""
out=""
load=1
build=1
while [ $# -gt 0 ]; do
    case $1 in
        -n) runs=${2:?-n needs a count}; shift ;;
        -R) regex=${2:?-R needs a regex}; shift ;;
        -o) out=${2:?-o needs a directory}; shift ;;
        --no-load) load="" ;;
        --no-build) build="" ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "stress.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if ! [[ $runs =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ]; then
    echo "stress.sh: -n takes a count of 1 or more" >&2
    exit 2
fi
out=${out:-/tmp/zfarm-stress-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The tests' ipc:// endpoints live under it, and a socket's path holds at
# most 107 bytes.
[ ${#out} -le 48 ] \
    || { echo "stress.sh: '$out' is too long for ipc:// paths under it" >&2; exit 2; }
jobs=$(nproc 2>/dev/null || echo 2)

if [ -n "$build" ]; then
    echo "== build build-asan (ASan + UBSan)"
    # ZFARM_TEST_HOOKS as in tests/run.sh: test_worker_removal skips
    # without the broker's injected send failures.
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DZFARM_SANITIZE=ON -DZFARM_TEST_HOOKS=ON >/dev/null
    cmake --build build-asan -j "$jobs" >/dev/null
fi

if [ -z "$regex" ]; then
    names=$(ctest --test-dir build-asan -N -L fault \
                | sed -n 's/^ *Test *#[0-9]*: //p' | tr '\n' '|')
    regex="^(${names}test_chaos)\$"
fi

# The competing load: one busy loop per core, ended by pid when we end.
load_pids=()
stop_load () {
    if [ ${#load_pids[@]} -gt 0 ]; then
        kill "${load_pids[@]}" 2>/dev/null || true
        wait "${load_pids[@]}" 2>/dev/null || true
    fi
    load_pids=()
}
trap stop_load EXIT
trap 'stop_load; exit 130' INT TERM
if [ -n "$load" ]; then
    for _ in $(seq "$jobs"); do
        sh -c 'while :; do :; done' &
        load_pids+=("$!")
    done
    echo "== competing load: $jobs busy loops (pids ${load_pids[*]})"
fi

echo "== $runs runs of $regex; logs in $out"
totals=$out/totals
: >"$totals"
passed=0
failed=""
for run in $(seq "$runs"); do
    dir=$out/run-$run
    mkdir -p "$dir/tmp"
    started=$(date +%s)
    status=0
    ZFARM_KEEP_TMP=1 TMPDIR=$dir/tmp \
        ctest --test-dir build-asan -R "$regex" --output-on-failure \
        >"$dir/ctest.log" 2>&1 || status=$?
    cp build-asan/Testing/Temporary/LastTest.log "$dir/" 2>/dev/null || true
    grep -h '^chaos: totals:' "$dir/LastTest.log" "$dir/ctest.log" 2>/dev/null \
        | head -n 1 >>"$totals" || true
    summary=$(sed -n 's/.*tests passed, \([0-9]* tests\{0,1\} failed out of [0-9]*\).*/\1/p' \
                  "$dir/ctest.log")
    echo "run $run: ${summary:-no summary} ($(( $(date +%s) - started )) s)"
    if [ "$status" -ne 0 ] || ! grep -q '100% tests passed' "$dir/ctest.log"; then
        echo "== run $run failed; its logs are kept in $dir:"
        echo "   ctest.log (ctest's output), LastTest.log (every test's output),"
        echo "   tmp/zfarm-test-*/ (each test's processes' .out and .err)"
        for report in $(grep -l -r 'ERROR: AddressSanitizer\|runtime error:' \
                            "$dir/tmp" 2>/dev/null | head -n 5); do
            echo "   sanitizer report in $report:"
            grep -m 1 '^SUMMARY:\|runtime error:' "$report" | sed 's/^/     /' || true
        done
        failed=$run
        break
    fi
    passed=$((passed + 1))
    rm -rf "$dir/tmp"
done
stop_load

awk -v runs="$passed" -v failed="$failed" '
    { for (i = 3; i < NF; i += 2) sum [$i] += $(i + 1); chaos++ }
    END {
        printf "== %d runs passed%s; test_chaos reported %d times: %d tasks, " \
               "%d kills, %d pauses, %d broker restarts, %d retries\n", runs,
               failed? ", run " failed " failed": "", chaos, sum ["tasks"],
               sum ["kills"], sum ["pauses"], sum ["restarts"], sum ["retries"]
    }' "$totals"
[ -z "$failed" ]
