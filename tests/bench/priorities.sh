#!/usr/bin/env bash
# priorities.sh: what priorities and delays cost the broker per task.
#
# One zfarm-broker on loopback and three zfarm-worker processes (echo.so,
# capacity 1). Per round, one zfarm-bench client (window 100) runs N tasks
# three ways: plain (every task priority 4, no delay), with priorities
# (0..9 in turn, so every level is busy and every 16th dispatch takes the
# oldest), and with priorities and a 1 ms delay on every task (each one
# goes through the timer heap before its queue). Reports the broker's CPU
# time per task (from /proc/PID/schedstat: less noisy than tasks/s on a
# shared machine) and tasks/s, medians with min-max.
#
# Usage: tests/bench/priorities.sh [--repeat R] [--quick]
# Builds the programs in build-bench (Release) first.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=5
N=20000

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --quick) REPEAT=1; N=2000; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "priorities.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case $REPEAT in ''|*[!0-9]*|0) echo "priorities.sh: --repeat wants a count" >&2; exit 2 ;; esac

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-echo \
    zfarm-bench >/dev/null

bench_work priorities

s_start broker "$BIN/zfarm-broker" --bind "tcp://127.0.0.1:*" \
    --endpoint-file "$WORK/endpoint"
BROKER_PID=$STARTED
for tries in $(seq 1000); do
    [ -s "$WORK/endpoint" ] && break
    sleep 0.01
done
EP=$(head -1 "$WORK/endpoint")
for i in 1 2 3; do
    s_start worker "$BIN/zfarm-worker" --broker "$EP" --service echo \
        --module "$BUILD/modules/echo.so" --capacity 1
done

declare -A SAMPLES
s_add () {
    SAMPLES[$1]="${SAMPLES[$1]:-} $2"
}

CASES=("plain" "priorities" "priorities+delay")
s_flags () {
    case $1 in
        plain) ;;
        priorities) echo "--priorities" ;;
        priorities+delay) echo "--priorities --delay 1" ;;
    esac
}

for round in $(seq "$REPEAT"); do
    for c in $(seq 0 2); do
        case_name=${CASES[$(( (c + round) % 3 ))]}
        before=$(s_cpu_us "$BROKER_PID")
        # shellcheck disable=SC2046
        out=$("$BIN/zfarm-bench" --json --broker "$EP" -n "$N" --window 100 \
              --wait-workers 3 --warmup 0 $(s_flags "$case_name"))
        cpu=$(( $(s_cpu_us "$BROKER_PID") - before ))
        s_add "broker CPU us per task, $case_name" \
            "$(awk -v c="$cpu" -v n="$N" 'BEGIN { printf "%.2f", c / n }')"
        s_add "tasks/s, $case_name" "$(echo "$out" | python3 -c \
            "import json,sys; d=json.load(sys.stdin); print(round(d['tasks_per_sec']), end='')")"
    done
done

printf "%-44s %10s %21s\n" "measure ($REPEAT rounds, $N tasks each)" median "min-max"
for key in "${!SAMPLES[@]}"; do echo "$key"; done | sort | while read -r key; do
    echo "${SAMPLES[$key]}" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk -v k="$key" '
        { v[NR] = $1 }
        END { m = NR % 2? v[(NR + 1) / 2]: (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-44s %10s %10s-%-10s\n", k, m, v[1], v[NR] }'
done
