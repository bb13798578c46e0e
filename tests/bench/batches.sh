#!/usr/bin/env bash
# batches.sh: tiny tasks in bulk (the performance issue's item 4).
#
# Per round, in rotated order:
#   map, batches   zfarm map --batch 256 over L lines of 100 bytes (default
#                  1,000,000), a zfarm-broker and two zfarm-worker --module
#                  echo.so; every output line must equal its input line
#   map, no batch  the same with --batch 0
#   plain credit 10  the plain ZeroMQ LRU broker, two lru_worker --credit
#                  10, zfarm-bench --plain, 100 in flight: the anchor
#   no broker      direct_echo: the client hands tasks straight to two
#                  lru_worker --credit 1000, one message per task each way:
#                  the limit, ZeroMQ with no broker at all
# Prints tasks/s per case (median, min-max) and map's ratio to the anchor
# and to the limit in each round.
#
# Usage: tests/bench/batches.sh [--lines L] [--repeat R] [--quick]
# Builds the programs in build-bench (Release) first.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=3
LINES=1000000
WINDOW=4096

s_count () {
    case $2 in ''|*[!0-9]*|0) echo "batches.sh: $1 wants a count" >&2; exit 2 ;; esac
}
while [ $# -gt 0 ]; do
    case $1 in
        --lines) LINES=${2:-}; s_count "$1" "$LINES"; shift 2 ;;
        --repeat) REPEAT=${2:-}; s_count "$1" "$REPEAT"; shift 2 ;;
        --quick) REPEAT=1; LINES=20000; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "batches.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-echo \
    zfarm-cli zfarm-bench lru_broker lru_worker direct_echo >/dev/null

bench_work batches
awk -v n="$LINES" 'BEGIN { for (i = 0; i < n; i++) printf "%099d\n", i }' \
    >"$WORK/items"

s_stop () {
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

s_ms () { date +%s%3N; }

# s_map BATCH: one zfarm map over the items; sets RATE.
s_map () {
    local workers=() i start end
    rm -f "$WORK/endpoints"
    s_start zfarm-broker "$BIN/zfarm-broker" --bind "ipc://$WORK/zfarm.ipc" \
        --endpoint-file "$WORK/endpoints"
    local broker=$STARTED
    s_wait_lines "$WORK/endpoints" 1
    local ep
    ep=$(sed -n 1p "$WORK/endpoints")
    for i in 1 2; do
        s_start zfarm-worker "$BIN/zfarm-worker" --broker "$ep" \
            --service echo --module "$BUILD/modules/echo.so"
        workers+=("$STARTED")
    done
    "$BIN/zfarm-bench" --broker "$ep" -n 1 --warmup 0 --wait-workers 2 \
        >/dev/null
    start=$(s_ms)
    "$BIN/zfarm" map -q --batch "$1" --window "$WINDOW" -b "$ep" echo \
        <"$WORK/items" >"$WORK/out"
    end=$(s_ms)
    if ! cmp -s "$WORK/items" "$WORK/out"; then
        echo "batches.sh: map --batch $1: output differs (see $WORK)" >&2
        export ZFARM_BENCH_KEEP=1
        exit 1
    fi
    RATE=$(( LINES * 1000 / (end - start) ))
    s_stop "${workers[@]}" "$broker"
}

s_plain () {
    local workers=() i
    rm -f "$WORK/endpoints"
    s_start lru_broker "$BIN/lru_broker" --frontend "ipc://$WORK/front.ipc" \
        --backend "ipc://$WORK/back.ipc" --ready 20 \
        --endpoint-file "$WORK/endpoints"
    local broker=$STARTED
    s_wait_lines "$WORK/endpoints" 2
    for i in 1 2; do
        s_start lru_worker "$BIN/lru_worker" \
            --broker "$(sed -n 2p "$WORK/endpoints")" --credit 10
        workers+=("$STARTED")
    done
    RATE=$("$BIN/zfarm-bench" --plain --json --broker "$(sed -n 1p "$WORK/endpoints")" \
              -n "$LINES" --window 100 --deadline 300 \
           | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["tasks_per_sec"]))')
    s_stop "${workers[@]}" "$broker"
}

s_direct () {
    local workers=() i
    for i in 1 2; do
        s_start lru_worker "$BIN/lru_worker" --broker "ipc://$WORK/direct.ipc" \
            --credit 1000
        workers+=("$STARTED")
    done
    RATE=$("$BIN/direct_echo" --bind "ipc://$WORK/direct.ipc" --workers 2 \
              --tasks "$LINES" \
           | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["tasks_per_sec"]))')
    s_stop "${workers[@]}"
}

declare -A SAMPLES
s_add () { SAMPLES[$1]="${SAMPLES[$1]:-} $2"; }

cases=(batch nobatch plain direct)
for round in $(seq "$REPEAT"); do
    for i in "${!cases[@]}"; do
        case=${cases[$(( (i + round) % ${#cases[@]} ))]}
        case $case in
            batch) s_map 256; RATE_batch=$RATE; s_add "map, batches" "$RATE" ;;
            nobatch) s_map 0; s_add "map, no batch" "$RATE" ;;
            plain) s_plain; RATE_plain=$RATE; s_add "plain credit 10" "$RATE" ;;
            direct) s_direct; RATE_direct=$RATE; s_add "no broker (limit)" "$RATE" ;;
        esac
    done
    s_add "map, batches / plain credit 10" \
        "$(awk -v a="$RATE_batch" -v b="$RATE_plain" 'BEGIN { printf "%.2f", a / b }')"
    s_add "map, batches / no broker" \
        "$(awk -v a="$RATE_batch" -v b="$RATE_direct" 'BEGIN { printf "%.2f", a / b }')"
done

printf "%s lines of 100 bytes, 2 workers, %s rounds (tasks/s)\n" "$LINES" "$REPEAT"
printf "%-34s %10s %21s\n" "case" median "min-max"
for key in "${!SAMPLES[@]}"; do echo "$key"; done | sort | while read -r key; do
    echo "${SAMPLES[$key]}" | tr ' ' '\n' | sed '/^$/d' | sort -g | awk -v k="$key" '
        { v[NR] = $1 }
        END { m = NR % 2? v[(NR + 1) / 2]: (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%-34s %10s %10s-%-10s\n", k, m, v[1], v[NR] }'
done
