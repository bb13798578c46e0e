#!/usr/bin/env bash
# brokers_bound.sh: where the broker, not the workers, sets the pace: one
# client over two brokers against one, with workers that cost next to
# nothing (fake_workers: 2 processes x 4 workers x 8 slots, echo).
#
# Per round, three farms, each run by one zfarm-bench client (window 200):
#   one     one broker, both fake_workers processes on it;
#   pooled  two brokers, one fake_workers process on each, both with the
#           same --instance prefix: they stand for workers that serve both,
#           so the brokers say the same pool and the client keeps to one
#           of them unless its loop is busy (client/README.md);
#   own     the same, with prefixes of their own: two pools, and the client
#           spreads over both.
# Prints the median tasks/s of each, and each broker's share of the tasks
# (from its `completed` counter), with min-max.
#
# Usage: tests/bench/brokers_bound.sh [--repeat R] [--quick]
# Builds the programs in build-bench (Release) first.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=5
N=200000

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --quick) REPEAT=1; N=20000; shift ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "brokers_bound.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case $REPEAT in ''|*[!0-9]*|0) echo "brokers_bound.sh: --repeat wants a count" >&2; exit 2 ;; esac

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm zfarm-bench \
    fake_workers >/dev/null

bench_work brokers_bound

# s_broker NAME: starts a broker on a free loopback port; sets ENDPOINT.
s_broker () {
    local file=$WORK/$1.endpoint tries
    rm -f "$file"
    s_start "$1" "$BIN/zfarm-broker" --bind "tcp://127.0.0.1:*" \
        --endpoint-file "$file"
    for tries in $(seq 1000); do
        [ -s "$file" ] && break
        sleep 0.01
    done
    ENDPOINT=$(head -1 "$file")
}

s_completed () {
    "$BIN/zfarm" status --broker "$1" --json | python3 -c \
        "import json, sys; print(json.load(sys.stdin)['counters']['completed'])"
}

declare -A SAMPLES
s_add () {
    SAMPLES[$1]="${SAMPLES[$1]:-} $2"
}

for round in $(seq "$REPEAT"); do
    for farm in one pooled own; do
        PIDS=()
        s_broker a; A=$ENDPOINT
        s_broker b; B=$ENDPOINT
        second=$B list=$A,$B prefix=P
        [ $farm = one ] && { second=$A; list=$A; }
        [ $farm = pooled ] || prefix=Q
        s_start workers "$BIN/fake_workers" --broker "$A" --count 4 \
            --capacity 8 --instance P
        s_start workers "$BIN/fake_workers" --broker "$second" --count 4 \
            --capacity 8 --instance "$prefix"
        "$BIN/zfarm-bench" --broker "$A" -n 100 --wait-workers 4 \
            --deadline 60 >/dev/null
        [ $farm = one ] || "$BIN/zfarm-bench" --broker "$B" -n 100 \
            --wait-workers 4 --deadline 60 >/dev/null
        a_before=$(s_completed "$A") b_before=$(s_completed "$B")
        json=$("$BIN/zfarm-bench" --json --broker "$list" -n "$N" \
            --window 200 --deadline 120)
        read -r rate errors < <(echo "$json" | python3 -c \
            "import json, sys; d = json.load(sys.stdin); print(d['tasks_per_sec'], d['errors'])")
        [ "$errors" = 0 ] || { echo "brokers_bound.sh: $errors errors" >&2; exit 1; }
        a_ran=$(( $(s_completed "$A") - a_before ))
        b_ran=$(( $(s_completed "$B") - b_before ))
        s_add "tasks/s, $farm" "$rate"
        s_add "broker a's share, $farm" \
            "$(awk -v a="$a_ran" -v b="$b_ran" 'BEGIN { printf "%.2f", a / (a + b) }')"
        for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        wait 2>/dev/null || true
    done
    echo "round $round of $REPEAT done" >&2
done

printf '| measure | median | min-max | rounds |\n| --- | --- | --- | --- |\n'
for key in "tasks/s, one" "tasks/s, pooled" "tasks/s, own" \
           "broker a's share, one" "broker a's share, pooled" \
           "broker a's share, own"; do
    echo "${SAMPLES[$key]}" | tr ' ' '\n' | grep . | sort -g | awk -v k="$key" '
        { v[NR] = $1 }
        END { m = (NR % 2)? v[(NR + 1) / 2]: (v[NR / 2] + v[NR / 2 + 1]) / 2;
              f = (k ~ /share/)? "%.2f": "%.0f"
              printf "| %s | " f " | " f "-" f " | %d |\n", k, m, v[1], v[NR], NR }'
done
