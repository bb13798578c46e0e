#!/usr/bin/env bash
# pool_burst.sh: what an elastic pool costs a burst, against a fixed pool.
#
# Per round, three brokers in turn, each with local workers that run 100 ms
# tasks (zfarm-worker --exec 'sleep 0.1; cat'): an elastic pool
# (--spawn-min 1 --spawn-max 8), the same pool kept by a zfarm-worker
# supervisor (--processes 1..8) and a fixed pool of 8 (--spawn 8), all
# ready and idle before the burst. One zfarm map then submits 1,000 tasks
# at once. Reports, medians with min-max over the rounds: the time from
# the burst to 8 processes in the pool (the elastic one's growth; the
# fixed one has them already), and the time until every result is in.
#
# Usage: tests/bench/pool_burst.sh [--repeat R] [--quick]
# Builds the programs in build-bench (Release) first.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=5
N=1000

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --quick) REPEAT=1; N=200; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "pool_burst.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case $REPEAT in ''|*[!0-9]*|0) echo "pool_burst.sh: --repeat wants a count" >&2; exit 2 ;; esac

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-cli >/dev/null

bench_work pool-burst

s_now_ms () { date +%s%3N; }

# The pool's running count from the broker's status, or -1; for a
# zfarm-worker pool (KIND supervisor), the workers the broker has.
s_running () {
    if [ "$2" = supervisor ]; then
        "$BIN/zfarm" status --json -b "$1" 2>/dev/null \
            | grep -o '"state":' | wc -l
        return
    fi
    "$BIN/zfarm" status --json -b "$1" 2>/dev/null \
        | sed -n 's/.*"pool":{"running":\([0-9]*\).*/\1/p' | grep . || echo -1
}

# s_round KIND: one burst against a fresh broker; prints "grow_ms done_ms".
s_round () {
    local kind=$1 endpoint="ipc://$WORK/$1.ipc" pool tries start grown done_at
    local worker="$BIN/zfarm-worker --service nap --exec 'sleep 0.1; cat'"
    case $kind in
        elastic) pool=(--spawn-min 1 --spawn-max 8 --idle-timeout 2000
                       --worker-cmd "$worker") ;;
        supervisor) pool=() ;;
        *) pool=(--spawn 8 --worker-cmd "$worker") ;;
    esac
    rm -f "$WORK/endpoint"
    s_start "$kind" "$BIN/zfarm-broker" --bind "$endpoint" \
        --endpoint-file "$WORK/endpoint" "${pool[@]}"
    local broker=$STARTED supervisor=""
    if [ "$kind" = supervisor ]; then
        s_start "$kind-pool" "$BIN/zfarm-worker" --broker "$endpoint" \
            --service nap --exec 'sleep 0.1; cat' --processes 1..8 \
            --idle-timeout 2000
        supervisor=$STARTED
    fi
    local want=1
    [ "$kind" = fixed ] && want=8
    for tries in $(seq 300); do
        [ "$(s_running "$endpoint" "$kind")" = "$want" ] && break
        sleep 0.1
    done
    sleep 1     # every process registered and idle
    seq "$N" > "$WORK/items"
    start=$(s_now_ms)
    "$BIN/zfarm" map -b "$endpoint" nap < "$WORK/items" > "$WORK/out" &
    local map=$!
    grown=""
    for tries in $(seq 3000); do
        if [ -z "$grown" ] && [ "$(s_running "$endpoint" "$kind")" = 8 ]; then
            grown=$(( $(s_now_ms) - start ))
        fi
        kill -0 "$map" 2>/dev/null || break
        sleep 0.01
    done
    wait "$map"
    done_at=$(( $(s_now_ms) - start ))
    [ "$(wc -l < "$WORK/out")" -eq "$N" ] || { echo "pool_burst.sh: $kind: results missing" >&2; exit 1; }
    if [ -n "$supervisor" ]; then
        kill -TERM "$supervisor"; wait "$supervisor" 2>/dev/null || true
    fi
    kill -TERM "$broker"; wait "$broker" 2>/dev/null || true
    echo "${grown:--1} $done_at"
}

# s_median_range: "median (min-max)" of the numbers on stdin.
s_median_range () {
    sort -n | awk '{ v[NR] = $1 } END { printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

: > "$WORK/elastic.rows"; : > "$WORK/supervisor.rows"; : > "$WORK/fixed.rows"
for round in $(seq "$REPEAT"); do
    echo "round $round" >&2
    for kind in elastic supervisor fixed; do
        s_round "$kind" >> "$WORK/$kind.rows"
    done
done

echo "| pool | ms from the burst to 8 processes | ms until $N results |"
echo "| --- | ---: | ---: |"
for kind in elastic supervisor fixed; do
    printf '| %s | %s | %s |\n' "$kind" \
        "$(cut -d' ' -f1 "$WORK/$kind.rows" | s_median_range)" \
        "$(cut -d' ' -f2 "$WORK/$kind.rows" | s_median_range)"
done
