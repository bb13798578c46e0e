#!/usr/bin/env bash
# brokers.sh: one client over two brokers, against the same over one.
#
# Two zfarm-brokers on loopback and three zfarm-worker processes (echo.so,
# capacity 1) that serve both. Per round: the tasks/s of one zfarm-bench
# client given one broker, then given both (the same workers, window 100),
# with the CPU time per task of the brokers, the workers and the client
# (from /proc/PID/schedstat and the shell's times: less noisy than tasks/s
# on a shared machine); then bench_failover given both, which SIGKILLs
# halfway the broker that ran more of its tasks, and reports the time from
# the kill to the next result (first_ms), the longest time after it with
# no result (stall_ms), the time to the last result of the tasks in flight
# at the kill (recovered_ms), and that broker's share of
# the tasks before the kill (killed_share), at the brokers' default
# heartbeat (500 ms x 3) and at 100 ms. Prints medians with min-max.
#
# --batch N: the client sends its SUBMITs N to a message (zfarm-bench
# --batch), and so brokers and workers move tasks and results in batches.
#
# Usage: tests/bench/brokers.sh [--repeat R] [--quick] [--batch N]
# Builds the programs in build-bench (Release) first.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=5
N=20000
N_FAIL=20000
BATCH=0

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --quick) REPEAT=1; N=2000; N_FAIL=4000; shift ;;
        --batch) BATCH=${2:?--batch needs a number}; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "brokers.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case $REPEAT in ''|*[!0-9]*|0) echo "brokers.sh: --repeat wants a count" >&2; exit 2 ;; esac

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-echo \
    zfarm zfarm-bench bench_failover >/dev/null

bench_work brokers

s_stop () {
    local pid tries
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for tries in $(seq 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# s_broker NAME HEARTBEAT: starts a broker on a free loopback port; sets
# ENDPOINT and STARTED.
s_broker () {
    local file=$WORK/$1.endpoint tries
    rm -f "$file"
    s_start "$1" "$BIN/zfarm-broker" --bind "tcp://127.0.0.1:*" \
        --endpoint-file "$file" --heartbeat "$2"
    for tries in $(seq 1000); do
        [ -s "$file" ] && break
        sleep 0.01
    done
    ENDPOINT=$(head -1 "$file")
}

# s_farm HEARTBEAT: two brokers, three workers serving both; sets A, B,
# A_PID, B_PID, WORKERS.
s_farm () {
    local i
    s_broker a "$1"; A=$ENDPOINT; A_PID=$STARTED
    s_broker b "$1"; B=$ENDPOINT; B_PID=$STARTED
    WORKERS=()
    for i in 1 2 3; do
        s_start worker "$BIN/zfarm-worker" --broker "$A,$B" --service echo \
            --module "$BUILD/modules/echo.so" --capacity 1
        WORKERS+=("$STARTED")
    done
}

s_completed () {
    "$BIN/zfarm" status --broker "$1" --json | python3 -c \
        "import json, sys; print(json.load(sys.stdin)['counters']['completed'])"
}

s_json () {
    python3 -c "import json,sys; d=json.load(sys.stdin); print(d['$1'], d['errors'])"
}

declare -A SAMPLES
s_add () {
    SAMPLES[$1]="${SAMPLES[$1]:-} $2"
}

# s_cpu_sum PID...: the CPU time of all of them, in microseconds.
s_cpu_sum () {
    local pid sum=0
    for pid in "$@"; do sum=$((sum + $(s_cpu_us "$pid"))); done
    echo "$sum"
}

# Runs zfarm-bench with the arguments given, as a child of a subshell that
# then reports its children's CPU time: prints the bench's JSON, then a line
# "cpu_us N".
s_bench_cpu () {
    (
        "$BIN/zfarm-bench" "$@"
        times > "$WORK/times"      # not in a pipe: a subshell of its own
        tail -1 "$WORK/times" | awk '{
            split ($1, u, /[ms]/); split ($2, s, /[ms]/)
            printf "cpu_us %d\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1e6 }'
    )
}

for round in $(seq "$REPEAT"); do
    s_farm 500
    "$BIN/zfarm-bench" --broker "$A" -n 300 --wait-workers 3 --deadline 60 \
        >/dev/null
    for brokers in one two; do
        list=$A
        [ $brokers = two ] && list=$A,$B
        a_before=$(s_completed "$A") b_before=$(s_completed "$B")
        brokers_before=$(s_cpu_sum "$A_PID" "$B_PID")
        workers_before=$(s_cpu_sum "${WORKERS[@]}")
        out=$(s_bench_cpu --json --broker "$list" -n "$N" --window 100 \
            --batch "$BATCH" --deadline 120)
        brokers_cpu=$(( $(s_cpu_sum "$A_PID" "$B_PID") - brokers_before ))
        workers_cpu=$(( $(s_cpu_sum "${WORKERS[@]}") - workers_before ))
        client_cpu=$(echo "$out" | awk '/^cpu_us/ { print $2 }')
        read -r rate errors < <(echo "$out" | head -1 | s_json tasks_per_sec)
        [ "$errors" = 0 ] || { echo "brokers.sh: $errors errors" >&2; exit 1; }
        s_add "tasks/s, one client given $brokers" "$rate"
        a_ran=$(( $(s_completed "$A") - a_before ))
        b_ran=$(( $(s_completed "$B") - b_before ))
        s_add "the busier broker's share, given $brokers" "$(awk -v a="$a_ran" \
            -v b="$b_ran" 'BEGIN { printf "%.2f", (a > b? a: b) / (a + b) }')"
        for part in brokers workers client; do
            eval "cpu=\$${part}_cpu"
            s_add "CPU us per task, $part, given $brokers" \
                "$(awk -v c="$cpu" -v n="$N" 'BEGIN { printf "%.2f", c / n }')"
        done
        s_add "CPU us per task, all, given $brokers" "$(awk -v b="$brokers_cpu" \
            -v w="$workers_cpu" -v c="$client_cpu" -v n="$N" \
            'BEGIN { printf "%.2f", (b + w + c) / n }')"
    done
    s_stop "${WORKERS[@]}" "$A_PID" "$B_PID"
    for heartbeat in 500 100; do
        s_farm "$heartbeat"
        "$BIN/zfarm-bench" --broker "$A" -n 100 --wait-workers 3 \
            --deadline 60 >/dev/null
        json=$("$BIN/bench_failover" --broker "$A,$B" \
            --kill "$A_PID,$B_PID" -n "$N_FAIL" --window 100)
        for metric in first_ms stall_ms recovered_ms killed_share; do
            read -r value errors < <(echo "$json" | s_json "$metric")
            [ "$errors" = 0 ] || { echo "brokers.sh: $errors errors" >&2; exit 1; }
            s_add "$metric after SIGKILL, heartbeat $heartbeat ms" "$value"
        done
        s_stop "${WORKERS[@]}" "$A_PID" "$B_PID"     # one of them is dead
    done
    echo "round $round of $REPEAT done" >&2
done

printf '| measure | median | min-max | rounds |\n| --- | --- | --- | --- |\n'
for key in "tasks/s, one client given one" "tasks/s, one client given two" \
           "the busier broker's share, given two" \
           "CPU us per task, brokers, given one" "CPU us per task, brokers, given two" \
           "CPU us per task, workers, given one" "CPU us per task, workers, given two" \
           "CPU us per task, client, given one" "CPU us per task, client, given two" \
           "CPU us per task, all, given one" "CPU us per task, all, given two" \
           "first_ms after SIGKILL, heartbeat 500 ms" \
           "stall_ms after SIGKILL, heartbeat 500 ms" \
           "recovered_ms after SIGKILL, heartbeat 500 ms" \
           "killed_share after SIGKILL, heartbeat 500 ms" \
           "first_ms after SIGKILL, heartbeat 100 ms" \
           "stall_ms after SIGKILL, heartbeat 100 ms" \
           "recovered_ms after SIGKILL, heartbeat 100 ms" \
           "killed_share after SIGKILL, heartbeat 100 ms"; do
    echo "${SAMPLES[$key]}" | tr ' ' '\n' | grep . | sort -g | awk -v k="$key" '
        { v[NR] = $1 }
        END { m = (NR % 2)? v[(NR + 1) / 2]: (v[NR / 2] + v[NR / 2 + 1]) / 2;
              f = (k ~ /^CPU/)? "%.1f": (k ~ /share/)? "%.2f": "%.0f"
              printf "| %s | " f " | " f "-" f " | %d |\n", k, m, v[1], v[NR], NR }'
done
