#!/usr/bin/env bash
# clients.sh: many client processes at once, zfarm against the plain
# ZeroMQ broker under the same load.
#
# Per round, in alternating order: a zfarm-broker with two zfarm-worker
# processes (echo.so, capacity 10), and lru_broker with two lru_worker
# processes (credit 10); then C zfarm-bench clients (default 100), each
# with 10 tasks in flight and N tasks to do, connect, warm up, and start
# their timed runs together (--start-at). Reports the farm's tasks/s (all
# clients' tasks over the time from that start to the last one's end), the
# ratio of zfarm's to the plain broker's in each round, and each broker's
# CPU time per task (from /proc/PID/schedstat: steadier than tasks/s on a
# shared machine). Every client must report errors 0.
#
# Usage: tests/bench/clients.sh [--clients C] [--tasks N] [--repeat R]
#                               [--quick]
# Builds the programs in build-bench (Release) first.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=5
CLIENTS=100
N=2000
WINDOW=10

s_count () {    # s_count FLAG VALUE: a positive count, or exit 2
    case $2 in ''|*[!0-9]*|0) echo "clients.sh: $1 wants a count" >&2; exit 2 ;; esac
}
while [ $# -gt 0 ]; do
    case $1 in
        --clients) CLIENTS=${2:-}; s_count "$1" "$CLIENTS"; shift 2 ;;
        --tasks) N=${2:-}; s_count "$1" "$N"; shift 2 ;;
        --repeat) REPEAT=${2:-}; s_count "$1" "$REPEAT"; shift 2 ;;
        --quick) REPEAT=1; CLIENTS=20; N=200; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "clients.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-echo \
    zfarm-bench lru_broker lru_worker >/dev/null

bench_work clients
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

s_stop () {     # s_stop PID...: SIGTERM, then wait for each
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# s_system zfarm|plain: starts the broker and its two workers; sets
# BROKER_PID, CLIENT_EP, WORKER_PIDS and CLIENT_FLAGS.
s_system () {
    local i
    WORKER_PIDS=()
    rm -f "$WORK/endpoints"
    if [ "$1" = zfarm ]; then
        s_start zfarm-broker "$BIN/zfarm-broker" --bind "tcp://127.0.0.1:*" \
            --endpoint-file "$WORK/endpoints"
        BROKER_PID=$STARTED
        s_wait_lines "$WORK/endpoints" 1
        CLIENT_EP=$(sed -n 1p "$WORK/endpoints")
        for i in 1 2; do
            s_start zfarm-worker "$BIN/zfarm-worker" --broker "$CLIENT_EP" \
                --service echo --module "$BUILD/modules/echo.so" --capacity 10
            WORKER_PIDS+=("$STARTED")
        done
        CLIENT_FLAGS=()
        # One client waits for the workers, so that none is timed
        # before they are there.
        "$BIN/zfarm-bench" --broker "$CLIENT_EP" -n 1 --warmup 0 \
            --wait-workers 2 >/dev/null
    else
        s_start lru_broker "$BIN/lru_broker" --frontend "tcp://127.0.0.1:*" \
            --backend "tcp://127.0.0.1:*" --ready 20 \
            --endpoint-file "$WORK/endpoints"
        BROKER_PID=$STARTED
        s_wait_lines "$WORK/endpoints" 2
        CLIENT_EP=$(sed -n 1p "$WORK/endpoints")
        for i in 1 2; do
            s_start lru_worker "$BIN/lru_worker" \
                --broker "$(sed -n 2p "$WORK/endpoints")" --credit 10
            WORKER_PIDS+=("$STARTED")
        done
        CLIENT_FLAGS=(--plain)
        "$BIN/zfarm-bench" --plain --broker "$CLIENT_EP" -n 1 --warmup 0 \
            >/dev/null
    fi
}

# s_clients SYSTEM: runs the clients; sets RATE (tasks/s) and CPU (the
# broker's µs per task).
s_clients () {
    local i pids=() start_at end before errors
    # Time for every client to start, connect and warm up first.
    start_at=$(( $(date +%s%3N) + 2000 + 50 * CLIENTS ))
    for i in $(seq "$CLIENTS"); do
        "$BIN/zfarm-bench" "${CLIENT_FLAGS[@]}" --json --broker "$CLIENT_EP" \
            -n "$N" --window "$WINDOW" --warmup "$WINDOW" --deadline 300 \
            --start-at "$start_at" \
            >"$WORK/client-$i.json" 2>>"$WORK/clients.log" &
        pids+=($!)
    done
    # The broker's CPU from the common start: no start-up or warm-up in it.
    sleep "$(awk -v d="$(( start_at - $(date +%s%3N) ))" \
                 'BEGIN { printf "%.3f", (d > 0? d / 1000: 0) }')"
    before=$(s_cpu_us "$BROKER_PID")
    for i in "${pids[@]}"; do
        wait "$i" || { echo "clients.sh: a $1 client failed (see $WORK)" >&2
                       export ZFARM_BENCH_KEEP=1; exit 1; }
    done
    CPU=$(awk -v c="$(( $(s_cpu_us "$BROKER_PID") - before ))" \
              -v n="$(( CLIENTS * N ))" 'BEGIN { printf "%.2f", c / n }')
    read -r errors end late < <(cat "$WORK"/client-*.json | python3 -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin if line.strip()]
end = max(r["end_ms"] for r in runs)
# A client not ready at the common start: its timed run (end - seconds)
# began over a second after it. Waking 100 processes at once on two
# cores scatters their starts by a few hundred ms: not counted.
late = sum(1 for r in runs if r["end_ms"] - 1000 * r["seconds"] > '"$start_at"' + 1000)
print(sum(r["errors"] for r in runs), end, late)')
    if [ "$late" != 0 ]; then
        echo "clients.sh: $1: $late clients were not ready at the common start;" \
             "the figure would be wrong (see $WORK)" >&2
        export ZFARM_BENCH_KEEP=1
        exit 1
    fi
    if [ "$errors" != 0 ]; then
        echo "clients.sh: $1: $errors errors (see $WORK)" >&2
        export ZFARM_BENCH_KEEP=1
        exit 1
    fi
    RATE=$(( CLIENTS * N * 1000 / (end - start_at) ))
    rm -f "$WORK"/client-*.json
}

declare -A SAMPLES
s_add () { SAMPLES[$1]="${SAMPLES[$1]:-} $2"; }

for round in $(seq "$REPEAT"); do
    order="zfarm plain"
    [ $((round % 2)) = 0 ] && order="plain zfarm"
    for system in $order; do
        s_system "$system"
        s_clients "$system"
        s_add "tasks/s, $system" "$RATE"
        s_add "broker CPU us per task, $system" "$CPU"
        eval "RATE_$system=$RATE"
        s_stop "${WORKER_PIDS[@]}" "$BROKER_PID"
    done
    # shellcheck disable=SC2154
    s_add "tasks/s, zfarm / plain" \
        "$(awk -v z="$RATE_zfarm" -v p="$RATE_plain" 'BEGIN { printf "%.2f", z / p }')"
done

printf "%s clients x %s in flight, %s tasks each, %s rounds\n" \
    "$CLIENTS" "$WINDOW" "$N" "$REPEAT"
printf "%-36s %10s %21s\n" "measure" median "min-max"
for key in "${!SAMPLES[@]}"; do echo "$key"; done | sort | while read -r key; do
    echo "${SAMPLES[$key]}" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk -v k="$key" '
        { v[NR] = $1 }
        END { m = NR % 2? v[(NR + 1) / 2]: (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-36s %10s %10s-%-10s\n", k, m, v[1], v[NR] }'
done
