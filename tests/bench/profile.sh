#!/usr/bin/env bash
# profile.sh: instructions per task of zfarm-broker and of lru_broker, and
# of zfarm-worker and of lru_worker, by callgrind, which counts the same on
# a quiet machine and on a noisy one.
#
# Each broker runs under callgrind twice, serving SMALL and then LARGE
# 100-byte echo tasks (ipc, 2 fake workers of capacity 1, 100 in flight);
# the difference between the two runs, divided by LARGE - SMALL, is the
# cost of one task with start-up and shut-down taken out. Then each worker
# (zfarm-worker with echo.so, capacity 1; lru_worker, credit 1) runs under
# callgrind the same way, alone behind its broker. It prints the total per
# task (every thread of the process) and the functions whose cost grew
# most per task, and keeps the callgrind files for callgrind_annotate or
# kcachegrind.
#
# With --workers K the brokers serve K fake workers of capacity 1 instead
# of 2, and only the brokers are profiled: the broker's own cost per task
# as its worker count grows, which callgrind counts whether or not the
# fake workers' process (or the machine) is what limits tasks/s.
#
# With --batch the zfarm runs move tasks in batches (the client sends
# SUBMITs 64 to a message, the fake workers take TASKs and answer DONEs in
# batches, zfarm-worker does by itself): the cost per task of tiny tasks
# in bulk. The plain runs are the same either way.
#
# Usage: tests/bench/profile.sh [--workers K] [--batch] [SMALL LARGE]
#        (default 2 workers, 1000 and 6000 tasks)
# Needs a build: tests/bench/run.sh --quick, or cmake in build-bench.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$HERE/../.." && pwd)/build-bench/bin
WORKERS=2
WORKERS_ONLY=""
BATCH_FAKES=()
BATCH_BENCH=()
while [ $# -gt 0 ]; do
    case $1 in
        --workers) WORKERS=${2:?--workers needs a count}; WORKERS_ONLY=1; shift 2 ;;
        --batch) BATCH_FAKES=(--batch); BATCH_BENCH=(--batch 64); shift ;;
        *) break ;;
    esac
done
case $WORKERS in
    ''|*[!0-9]*) echo "profile.sh: --workers expects a count" >&2; exit 2 ;;
esac
SMALL=${1:-1000}
LARGE=${2:-6000}
# Each fake worker is a connection: a descriptor in the broker, two here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Heartbeats cost the broker per second and per worker, not per task, and
# callgrind makes every second hold 50 times fewer tasks: with --workers
# they are 20 times rarer than the default, on both sides, so that the
# figure is the dispatch's.
HEARTBEAT=()
[ -n "$WORKERS_ONLY" ] && HEARTBEAT=(--heartbeat 10000)
[ "$LARGE" -gt "$SMALL" ] || { echo "profile.sh: LARGE must exceed SMALL" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "profile.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
for program in zfarm-broker lru_broker fake_workers zfarm-bench zfarm-worker lru_worker; do
    [ -x "$BIN/$program" ] || { echo "profile.sh: build $BIN/$program first" >&2; exit 1; }
done
OUT=$(cd "$HERE/../.." && pwd)/build-bench/profile
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/zfarm-profile.XXXXXX)
PIDS=()
s_cleanup () {
    local pid
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap s_cleanup EXIT

# s_stop PID: SIGTERM (callgrind then writes its file), at most 60 s.
s_stop () {
    local tries
    kill -TERM "$1" 2>/dev/null || true
    for tries in $(seq 600); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# s_profile SYSTEM TASKS: one run of one broker under callgrind.
s_profile () {
    local system=$1 tasks=$2 broker fakes tries
    local out=$OUT/$system-$tasks.callgrind
    local bench=("$BIN/zfarm-bench" -n "$tasks" --warmup 0 --window 100 --timeout 60000)
    if [ "$system" = zfarm ]; then
        rm -f "$WORK/endpoint"
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN/zfarm-broker" \
            --bind "ipc://$WORK/zfarm.ipc" --endpoint-file "$WORK/endpoint" \
            "${HEARTBEAT[@]}" 2>"$WORK/$system-$tasks.log" &
        broker=$!; PIDS+=("$broker")
        for tries in $(seq 600); do [ -s "$WORK/endpoint" ] && break; sleep 0.1; done
        "$BIN/fake_workers" --broker "ipc://$WORK/zfarm.ipc" --count "$WORKERS" \
            "${HEARTBEAT[@]}" "${BATCH_FAKES[@]}" 2>/dev/null &
        fakes=$!; PIDS+=("$fakes")
        bench+=(--broker "ipc://$WORK/zfarm.ipc" --wait-workers "$WORKERS"
                "${BATCH_BENCH[@]}")
    else
        rm -f "$WORK/endpoints"
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN/lru_broker" \
            --frontend "ipc://$WORK/front.ipc" --backend "ipc://$WORK/back.ipc" \
            --ready "$WORKERS" --endpoint-file "$WORK/endpoints" 2>"$WORK/$system-$tasks.log" &
        broker=$!; PIDS+=("$broker")
        for tries in $(seq 600); do [ -s "$WORK/endpoints" ] && break; sleep 0.1; done
        "$BIN/fake_workers" --plain --broker "ipc://$WORK/back.ipc" --count "$WORKERS" 2>/dev/null &
        fakes=$!; PIDS+=("$fakes")
        bench+=(--plain --broker "ipc://$WORK/front.ipc")
    fi
    "${bench[@]}" >&2
    s_stop "$fakes"
    s_stop "$broker"
}

# s_profile_worker SYSTEM TASKS: one run of one worker under callgrind,
# behind its broker (not profiled).
s_profile_worker () {
    local system=$1 tasks=$2 broker worker tries
    local out=$OUT/$system-$tasks.callgrind
    local bench=("$BIN/zfarm-bench" -n "$tasks" --warmup 0 --window 100 --timeout 60000)
    if [ "$system" = zfarm-worker ]; then
        rm -f "$WORK/endpoint"
        "$BIN/zfarm-broker" --bind "ipc://$WORK/zfarm.ipc" \
            --endpoint-file "$WORK/endpoint" 2>/dev/null &
        broker=$!; PIDS+=("$broker")
        for tries in $(seq 600); do [ -s "$WORK/endpoint" ] && break; sleep 0.1; done
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN/zfarm-worker" \
            --broker "ipc://$WORK/zfarm.ipc" --service echo \
            --module "$BIN/../modules/echo.so" 2>"$WORK/$system-$tasks.log" &
        worker=$!; PIDS+=("$worker")
        bench+=(--broker "ipc://$WORK/zfarm.ipc" --wait-workers 1
                "${BATCH_BENCH[@]}")
    else
        rm -f "$WORK/endpoints"
        "$BIN/lru_broker" --frontend "ipc://$WORK/front.ipc" \
            --backend "ipc://$WORK/back.ipc" --ready 1 \
            --endpoint-file "$WORK/endpoints" 2>/dev/null &
        broker=$!; PIDS+=("$broker")
        for tries in $(seq 600); do [ -s "$WORK/endpoints" ] && break; sleep 0.1; done
        valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN/lru_worker" \
            --broker "ipc://$WORK/back.ipc" 2>"$WORK/$system-$tasks.log" &
        worker=$!; PIDS+=("$worker")
        bench+=(--plain --broker "ipc://$WORK/front.ipc")
    fi
    "${bench[@]}" >&2
    s_stop "$worker"
    s_stop "$broker"
}

# s_costs FILE: "cost<TAB>function" per line, inclusive (every thread).
s_costs () {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null \
        | sed -nE 's/^ *([0-9,]+) +\( *[0-9.]+%\) +(.*)$/\1\t\2/p' | tr -d ','
}

for system in zfarm plain; do
    s_profile "$system" "$SMALL"
    s_profile "$system" "$LARGE"
done
SYSTEMS=(zfarm plain)
if [ -z "$WORKERS_ONLY" ]; then
    for system in zfarm-worker plain-worker; do
        s_profile_worker "$system" "$SMALL"
        s_profile_worker "$system" "$LARGE"
    done
    SYSTEMS+=(zfarm-worker plain-worker)
fi

for system in "${SYSTEMS[@]}"; do
    echo
    echo "== $system: instructions per task (inclusive, every thread; $SMALL vs $LARGE tasks; $WORKERS workers)"
    awk -F'\t' -v tasks=$((LARGE - SMALL)) '
        FNR == NR { small[$2] = $1; next }
        { grown = ($1 - small[$2]) / tasks
          if (grown >= 100) printf "%8.0f  %s\n", grown, substr ($2, 1, 110) }' \
        <(s_costs "$OUT/$system-$SMALL.callgrind") \
        <(s_costs "$OUT/$system-$LARGE.callgrind") | sort -rn | sed -n 1,40p
done

# zfarm-bench --wait-workers asks the broker for its status until every
# worker is in, and a status of 1,000 workers costs much: how many times
# it asked differs between the two runs, so its cost is taken out.
echo
echo "== per task, the status requests of the start taken out ($WORKERS workers)"
for system in zfarm plain; do
    awk -F'\t' -v tasks=$((LARGE - SMALL)) -v name="$system" '
        FNR == NR { small[$2] = $1; next }
        $2 ~ /PROGRAM TOTALS/ { total = $1 - small[$2] }
        $2 ~ /^\?\?\?:s_on_status / { status = $1 - small[$2] }
        END { printf "%8.0f  %s\n", (total - status) / tasks, name }' \
        <(s_costs "$OUT/$system-$SMALL.callgrind") \
        <(s_costs "$OUT/$system-$LARGE.callgrind")
done
