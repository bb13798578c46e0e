#!/usr/bin/env bash
# run.sh: zfarm's benchmark suite, side by side with its anchors.
#
# Installs what it needs, builds (Release, in build-bench), then measures
# every system in one run: R rounds, and in each round every case once, the
# order rotated from round to round so that the machine's drift spreads over
# all systems alike. Each case starts its own processes on loopback and
# stops them (by pid) before the next one starts. It prints a markdown table
# of medians with min-max and the ratio to the plain ZeroMQ broker, and
# writes results/latest.csv, results/summary.csv and results/*.png.
#
# Usage: tests/bench/run.sh [--repeat R] [--quick] [--no-install]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build-bench
RESULTS=$HERE/results
REPEAT=5
QUICK=0
INSTALL=1

usage () {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --quick) QUICK=1; REPEAT=1; shift ;;
        --no-install) INSTALL=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown option '$1'" >&2; usage 2 ;;
    esac
done
case $REPEAT in ''|*[!0-9]*|0) echo "run.sh: --repeat wants a count" >&2; exit 2 ;; esac

# ---- sizes: every loop is bounded by a count, every wait by a deadline ----

if [ "$QUICK" = 1 ]; then
    N_ONE=500; N_TEN=1000; N_LAT=200; N_MB=20; N_MANY=500; N_BURST=2000
    N_QUEUED=2000; MANY=50; SPAWN=4
else
    N_ONE=20000; N_TEN=50000; N_LAT=5000; N_MB=300; N_MANY=20000
    N_BURST=100000; N_QUEUED=100000; MANY=1000; SPAWN=16
fi
WINDOW=100                  # tasks in flight, throughput rows
MB=1048576
DEADLINE=120                # seconds, any one load generator run

# ---- installing and building ---------------------------------------------

s_install () {
    "$ROOT/deploy/install-deps.sh"
    local missing="" package
    for package in gearman-job-server libgearman-dev gnuplot-nox; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing="$missing $package"
    done
    # nodejs from another source may already bring npm; Debian's npm
    # would conflict with it, so only a machine without node gets both.
    command -v node >/dev/null || missing="$missing nodejs"
    command -v npm >/dev/null || missing="$missing npm"
    [ -z "$missing" ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "run.sh: installing:$missing" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        --no-install-recommends $missing >/dev/null
}

s_build () {
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    # Only what the suite runs: a half-finished tool elsewhere in the tree
    # must not stop a measurement of the broker.
    cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-echo \
        zfarm-bench lru_broker lru_worker fake_workers bench_pool bench_memory \
        gearman_bench gearman_worker >/dev/null
    mkdir -p "$BUILD/bench-node"
    cp "$HERE/node/package.json" "$HERE/node/package-lock.json" "$BUILD/bench-node/"
    (cd "$BUILD/bench-node" && npm ci --no-audit --no-fund --silent >/dev/null)
}

# The commit measured, before this run rewrites results/ and makes the
# tree look changed.
VERSION=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
[ "$INSTALL" = 1 ] && s_install
s_build
BIN=$BUILD/bin
ECHO_SO=$BUILD/modules/echo.so
export NODE_PATH=$BUILD/bench-node/node_modules
for program in zfarm-broker zfarm-worker zfarm-bench lru_broker lru_worker \
               fake_workers bench_pool bench_memory gearman_bench gearman_worker; do
    [ -x "$BIN/$program" ] || { echo "run.sh: $BIN/$program was not built" >&2; exit 1; }
done
command -v gearmand >/dev/null || { echo "run.sh: gearmand is not installed" >&2; exit 1; }

# 1,000 workers cost the broker a descriptor each, and fake_workers two.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- processes: every one started here is killed by pid ------------------

WORK=$(mktemp -d /tmp/zfarm-bench.XXXXXX)
PIDS=()
FAILED=0                    # a measurement failed: keep the logs

s_cleanup () {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ -n "${ZFARM_BENCH_KEEP:-}" ] || [ "$FAILED" = 1 ]; then
        echo "run.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap s_cleanup EXIT
trap 'exit 130' INT TERM

# s_start LOG PROGRAM ARGS...: starts a process; its pid is in $STARTED.
s_start () {
    local log=$1; shift
    "$@" >>"$WORK/$log.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}

# s_stop PID...: SIGTERM, then SIGKILL after 10 s, and reap.
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

# s_wait_file FILE LINES: waits at most 10 s for FILE to hold LINES lines.
s_wait_file () {
    local tries
    for tries in $(seq 1000); do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.01
    done
    echo "run.sh: $1 did not appear (logs in $WORK)" >&2
    return 1
}

# A free loopback port, for gearmand, which cannot report the one it bound:
# below Linux's ephemeral range, so that no outgoing connection holds it.
s_free_port () {
    local port tries
    for tries in $(seq 100); do
        port=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
    done
    return 1
}

# ---- recording -------------------------------------------------------------

ROUND=0
CSV=$WORK/latest.csv
echo "round,row,metric,value,errors" >"$CSV"

# s_field JSON KEY: one value from a flat JSON object.
s_field () {
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"
}

# s_record ROW JSON METRIC...: adds the metrics of one measurement.
s_record () {
    local row=$1 json=$2 metric value errors; shift 2
    errors=$(s_field "$json" errors)
    for metric in "$@"; do
        value=$(s_field "$json" "$metric")
        [ -n "$value" ] && [ "$value" != null ] || continue
        echo "$ROUND,$row,$metric,$value,${errors:-0}" >>"$CSV"
    done
}

# s_measure ROW METRICS -- COMMAND...: runs a load generator, records it.
# A run that measured nothing is recorded as failed, not as a zero.
s_measure () {
    local row=$1 metrics=$2 json; shift 3
    json=$(timeout $((DEADLINE + 30)) "$@" 2>>"$WORK/$row.err" | tail -1) || true
    if [ -z "$json" ] || [ "$(s_field "$json" completed)" = 0 ]; then
        echo "run.sh: round $ROUND: $row failed: ${json:-no report} (see $WORK)" >&2
        echo "$ROUND,$row,failed,0,$(s_field "$json" errors)" >>"$CSV"
        FAILED=1
        return 0
    fi
    # shellcheck disable=SC2086  # metrics is a list of words
    s_record "$row" "$json" $metrics
    printf '  %-22s %s\n' "$row" "$json" >&2
}

# ---- the cases: each starts its processes, measures, stops them ----------

s_zfarm_broker () {
    local transport=$1; shift
    local bind="tcp://127.0.0.1:*"
    [ "$transport" = ipc ] && bind="ipc://$WORK/zfarm.ipc"
    rm -f "$WORK/zfarm.endpoint"
    s_start zfarm-broker "$BIN/zfarm-broker" --bind "$bind" \
        --endpoint-file "$WORK/zfarm.endpoint" "$@"
    BROKER=$STARTED
    s_wait_file "$WORK/zfarm.endpoint" 1
    ENDPOINT=$(head -1 "$WORK/zfarm.endpoint")
}

# zfarm, 2 zfarm-worker processes with echo.so, capacity C.
case_zfarm () {
    local transport=$1 capacity=$2 row="zfarm-$1-c$2" workers=() i n=$N_ONE
    s_zfarm_broker "$transport"
    for i in 1 2; do
        s_start zfarm-worker "$BIN/zfarm-worker" --broker "$ENDPOINT" \
            --service echo --module "$ECHO_SO" --capacity "$capacity"
        workers+=("$STARTED")
    done
    [ "$capacity" -gt 1 ] && n=$N_TEN
    s_measure "$row" tasks_per_sec -- "$BIN/zfarm-bench" --json \
        --broker "$ENDPOINT" -n "$n" --window "$WINDOW" --wait-workers 2 \
        --deadline "$DEADLINE"
    if [ "$capacity" = 1 ]; then
        s_measure "$row-lat" "p50_us p99_us p999_us" -- "$BIN/zfarm-bench" \
            --json --broker "$ENDPOINT" -n "$N_LAT" --latency \
            --deadline "$DEADLINE"
    fi
    s_stop "${workers[@]}" "$BROKER"
}

s_lru_broker () {
    local transport=$1 ready=$2 front="tcp://127.0.0.1:*" back="tcp://127.0.0.1:*"
    if [ "$transport" = ipc ]; then
        front="ipc://$WORK/lru-front.ipc"; back="ipc://$WORK/lru-back.ipc"
    fi
    rm -f "$WORK/lru.endpoints"
    s_start lru_broker "$BIN/lru_broker" --frontend "$front" --backend "$back" \
        --ready "$ready" --endpoint-file "$WORK/lru.endpoints"
    BROKER=$STARTED
    s_wait_file "$WORK/lru.endpoints" 2
    FRONTEND=$(sed -n 1p "$WORK/lru.endpoints")
    BACKEND=$(sed -n 2p "$WORK/lru.endpoints")
}

# The plain ZeroMQ LRU broker, 2 lru_worker processes with credit C.
case_plain () {
    local transport=$1 credit=$2 row="plain-$1-c$2" workers=() i n=$N_ONE
    s_lru_broker "$transport" $((2 * credit))
    for i in 1 2; do
        s_start lru_worker "$BIN/lru_worker" --broker "$BACKEND" --credit "$credit"
        workers+=("$STARTED")
    done
    [ "$credit" -gt 1 ] && n=$N_TEN
    s_measure "$row" tasks_per_sec -- "$BIN/zfarm-bench" --json --plain \
        --broker "$FRONTEND" -n "$n" --window "$WINDOW" --deadline "$DEADLINE"
    if [ "$credit" = 1 ]; then
        s_measure "$row-lat" "p50_us p99_us p999_us" -- "$BIN/zfarm-bench" \
            --json --plain --broker "$FRONTEND" -n "$N_LAT" --latency \
            --deadline "$DEADLINE"
    fi
    s_stop "${workers[@]}" "$BROKER"
}

# 1 MB payloads, 2 workers of capacity 1, 10 in flight: zfarm or plain.
case_mb () {
    local system=$1 transport=$2 row="$1-$2-mb" workers=() i
    if [ "$system" = zfarm ]; then
        s_zfarm_broker "$transport"
        for i in 1 2; do
            s_start zfarm-worker "$BIN/zfarm-worker" --broker "$ENDPOINT" \
                --service echo --module "$ECHO_SO"
            workers+=("$STARTED")
        done
        s_measure "$row" mb_per_sec -- "$BIN/zfarm-bench" --json \
            --broker "$ENDPOINT" -n "$N_MB" --window 10 --size "$MB" \
            --wait-workers 2 --deadline "$DEADLINE"
    else
        s_lru_broker "$transport" 2
        for i in 1 2; do
            s_start lru_worker "$BIN/lru_worker" --broker "$BACKEND"
            workers+=("$STARTED")
        done
        s_measure "$row" mb_per_sec -- "$BIN/zfarm-bench" --json --plain \
            --broker "$FRONTEND" -n "$N_MB" --window 10 --size "$MB" \
            --deadline "$DEADLINE"
    fi
    s_stop "${workers[@]}" "$BROKER"
}

# K workers of capacity C in one fake_workers process, tcp, window 100.
case_fakes () {
    local system=$1 count=$2 capacity=$3 row="$1-fake-$2x$3" fakes
    if [ "$system" = zfarm ]; then
        s_zfarm_broker tcp
        s_start fake_workers "$BIN/fake_workers" --broker "$ENDPOINT" \
            --count "$count" --capacity "$capacity"
        fakes=$STARTED
        s_measure "$row" tasks_per_sec -- "$BIN/zfarm-bench" --json \
            --broker "$ENDPOINT" -n "$N_MANY" --window "$WINDOW" \
            --wait-workers "$count" --timeout 60000 --deadline "$DEADLINE"
    else
        s_lru_broker tcp $((count * capacity))
        s_start fake_workers "$BIN/fake_workers" --plain --broker "$BACKEND" \
            --count "$count" --capacity "$capacity"
        fakes=$STARTED
        s_measure "$row" tasks_per_sec -- "$BIN/zfarm-bench" --json --plain \
            --broker "$FRONTEND" -n "$N_MANY" --window "$WINDOW" \
            --timeout 60000 --deadline "$DEADLINE"
    fi
    s_stop "$fakes" "$BROKER"
}

# Starts gearmand on a free port and waits until it listens (the workers
# give up if it does not yet); another port if that one was taken after all.
s_gearmand () {
    local attempt tries
    for attempt in 1 2 3; do
        PORT=$(s_free_port)
        s_start gearmand gearmand --listen 127.0.0.1 --port "$PORT" --threads 1 \
            --log-file stderr --verbose ERROR --pid-file "$WORK/gearmand.pid"
        SERVER=$STARTED
        for tries in $(seq 500); do
            (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
            kill -0 "$SERVER" 2>/dev/null || break
            sleep 0.01
        done
        s_stop "$SERVER"
    done
    echo "run.sh: gearmand did not start (see $WORK/gearmand.log)" >&2
    return 1
}

# gearmand with one I/O thread, 2 libgearman C workers.
case_gearman () {
    local workers=() i port server
    s_gearmand || true
    port=$PORT server=$SERVER
    for i in 1 2; do
        s_start gearman_worker "$BIN/gearman_worker" --port "$port"
        workers+=("$STARTED")
    done
    s_measure gearman-tcp tasks_per_sec -- "$BIN/gearman_bench" --json \
        --broker "127.0.0.1:$port" -n "$N_ONE" --window "$WINDOW" \
        --wait-workers 2 --deadline "$DEADLINE"
    s_measure gearman-tcp-lat "p50_us p99_us p999_us" -- "$BIN/gearman_bench" \
        --json --broker "127.0.0.1:$port" -n "$N_LAT" --latency \
        --deadline "$DEADLINE"
    s_stop "${workers[@]}" "$server"
}

# Node's worker-farm: 2 children, 10 calls each at most (its default).
case_workerfarm () {
    local script=$HERE/node/workerfarm_bench.js
    s_measure workerfarm tasks_per_sec -- node "$script" throughput \
        --tasks "$N_TEN" --outstanding 1000 --deadline "$DEADLINE"
    s_measure workerfarm-burst tasks_per_sec -- node "$script" burst \
        --tasks "$N_BURST" --deadline "$DEADLINE"
    s_measure workerfarm-lat "p50_us p99_us p999_us" -- node "$script" latency \
        --tasks "$N_LAT" --deadline "$DEADLINE"
}

case_spawn_zfarm () {
    s_measure spawn-zfarm "spawn_ms replace_ms" -- "$BIN/bench_pool" \
        --dir "$WORK" --count "$SPAWN" --broker-bin "$BIN/zfarm-broker" \
        --worker-cmd "$BIN/zfarm-worker --service echo --module $ECHO_SO" \
        --replace
}

case_spawn_plain () {
    s_measure spawn-plain spawn_ms -- "$BIN/bench_pool" --dir "$WORK" \
        --count "$SPAWN" --plain --worker-bin "$BIN/lru_worker"
}

case_spawn_workerfarm () {
    s_measure spawn-workerfarm "spawn_ms replace_ms" -- node \
        "$HERE/node/workerfarm_bench.js" spawn --workers "$SPAWN" \
        --deadline "$DEADLINE"
}

# The zfarm broker's memory: N queued tasks, then K idle workers.
case_memory () {
    s_zfarm_broker tcp --max-queue $((N_QUEUED * 2))
    s_measure memory "overhead_per_queued_task bytes_per_worker" -- \
        "$BIN/bench_memory" --broker "$ENDPOINT" --pid "$BROKER" \
        --tasks "$N_QUEUED" --workers "$MANY" --fake-workers "$BIN/fake_workers" \
        --dir "$WORK"
    s_stop "$BROKER"
}

CASES=(
    "case_plain tcp 1"      "case_zfarm tcp 1"      "case_plain ipc 1"
    "case_zfarm ipc 1"      "case_plain tcp 10"     "case_zfarm tcp 10"
    "case_plain ipc 10"     "case_zfarm ipc 10"     "case_fakes zfarm 2 10"
    "case_gearman"          "case_workerfarm"       "case_mb plain tcp"
    "case_mb zfarm tcp"     "case_mb plain ipc"     "case_mb zfarm ipc"
    "case_fakes plain 2 50" "case_fakes zfarm 2 50" "case_fakes plain $MANY 1"
    "case_fakes zfarm $MANY 1" "case_spawn_plain"   "case_spawn_zfarm"
    "case_spawn_workerfarm" "case_memory"
)

# ---- the run -----------------------------------------------------------------

s_machine () {
    local model cores kernel os
    model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
    cores=$(nproc)
    kernel=$(uname -r)
    os=$(. /etc/os-release && echo "$PRETTY_NAME")
    echo "$model, $cores cores, $os, kernel $kernel; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

MACHINE=$(s_machine)
echo "machine: $MACHINE" >&2
echo "run.sh: $REPEAT round(s) of ${#CASES[@]} cases; logs in $WORK" >&2
STARTED_AT=$(date +%s)
for ROUND in $(seq "$REPEAT"); do
    echo "round $ROUND" >&2
    for i in "${!CASES[@]}"; do
        # shellcheck disable=SC2086  # a case is a function and its words
        ${CASES[$(( (i + ROUND - 1) % ${#CASES[@]} ))]}
    done
done
ELAPSED=$(( $(date +%s) - STARTED_AT ))

# The table: section, row, metric, label, the row it is divided by.
s_spec () {
    local t="throughput:Throughput (tasks/s; 100 B echo; 2 workers; $WINDOW in flight)"
    local l="latency:Latency (round trip us; one task at a time)"
    local m="payload-1mb:1 MB payloads (MB/s; 2 workers of capacity 1; 10 in flight)"
    local k="many-workers:Many workers (tasks/s; tcp; one fake_workers process; $WINDOW in flight)"
    local p="pools:Pools ($SPAWN workers; ms)"
    local b="memory:Broker memory (bytes; RSS growth / count)"
    local section row metric label base
    while IFS='|' read -r section row metric label base; do
        printf '%s\t%s\t%s\t%s\t%s\n' "$section" "$row" "$metric" "$label" "$base"
    done <<EOF
$t|plain-tcp-c1|tasks_per_sec|plain ZeroMQ LRU tcp; credit 1|plain-tcp-c1
$t|zfarm-tcp-c1|tasks_per_sec|zfarm tcp; capacity 1|plain-tcp-c1
$t|plain-ipc-c1|tasks_per_sec|plain ZeroMQ LRU ipc; credit 1|plain-ipc-c1
$t|zfarm-ipc-c1|tasks_per_sec|zfarm ipc; capacity 1|plain-ipc-c1
$t|gearman-tcp|tasks_per_sec|gearmand -t 1; batches of $WINDOW|plain-tcp-c1
$t|plain-tcp-c10|tasks_per_sec|plain ZeroMQ LRU tcp; credit 10|plain-tcp-c10
$t|zfarm-tcp-c10|tasks_per_sec|zfarm tcp; capacity 10|plain-tcp-c10
$t|plain-ipc-c10|tasks_per_sec|plain ZeroMQ LRU ipc; credit 10|plain-ipc-c10
$t|zfarm-ipc-c10|tasks_per_sec|zfarm ipc; capacity 10|plain-ipc-c10
$t|zfarm-fake-2x10|tasks_per_sec|zfarm tcp; 2 fake workers x 10|plain-tcp-c10
$t|workerfarm|tasks_per_sec|worker-farm; 1000 outstanding|plain-tcp-c10
$t|workerfarm-burst|tasks_per_sec|worker-farm; $N_BURST at once|plain-tcp-c10
$l|plain-tcp-c1-lat|p50_us|plain ZeroMQ LRU tcp|plain-tcp-c1-lat
$l|zfarm-tcp-c1-lat|p50_us|zfarm tcp|plain-tcp-c1-lat
$l|plain-ipc-c1-lat|p50_us|plain ZeroMQ LRU ipc|plain-ipc-c1-lat
$l|zfarm-ipc-c1-lat|p50_us|zfarm ipc|plain-ipc-c1-lat
$l|gearman-tcp-lat|p50_us|gearmand tcp|plain-tcp-c1-lat
$l|workerfarm-lat|p50_us|worker-farm (no broker hop)|plain-tcp-c1-lat
$l|plain-tcp-c1-lat|p99_us|plain ZeroMQ LRU tcp|plain-tcp-c1-lat
$l|zfarm-tcp-c1-lat|p99_us|zfarm tcp|plain-tcp-c1-lat
$l|plain-ipc-c1-lat|p99_us|plain ZeroMQ LRU ipc|plain-ipc-c1-lat
$l|zfarm-ipc-c1-lat|p99_us|zfarm ipc|plain-ipc-c1-lat
$l|gearman-tcp-lat|p99_us|gearmand tcp|plain-tcp-c1-lat
$l|workerfarm-lat|p99_us|worker-farm (no broker hop)|plain-tcp-c1-lat
$l|plain-tcp-c1-lat|p999_us|plain ZeroMQ LRU tcp|plain-tcp-c1-lat
$l|zfarm-tcp-c1-lat|p999_us|zfarm tcp|plain-tcp-c1-lat
$l|plain-ipc-c1-lat|p999_us|plain ZeroMQ LRU ipc|plain-ipc-c1-lat
$l|zfarm-ipc-c1-lat|p999_us|zfarm ipc|plain-ipc-c1-lat
$l|gearman-tcp-lat|p999_us|gearmand tcp|plain-tcp-c1-lat
$l|workerfarm-lat|p999_us|worker-farm (no broker hop)|plain-tcp-c1-lat
$m|plain-tcp-mb|mb_per_sec|plain ZeroMQ LRU tcp|plain-tcp-mb
$m|zfarm-tcp-mb|mb_per_sec|zfarm tcp|plain-tcp-mb
$m|plain-ipc-mb|mb_per_sec|plain ZeroMQ LRU ipc|plain-ipc-mb
$m|zfarm-ipc-mb|mb_per_sec|zfarm ipc|plain-ipc-mb
$k|plain-fake-2x50|tasks_per_sec|plain ZeroMQ LRU; 2 workers x 50|plain-fake-2x50
$k|zfarm-fake-2x50|tasks_per_sec|zfarm; 2 workers x 50|plain-fake-2x50
$k|plain-fake-${MANY}x1|tasks_per_sec|plain ZeroMQ LRU; $MANY workers x 1|plain-fake-${MANY}x1
$k|zfarm-fake-${MANY}x1|tasks_per_sec|zfarm; $MANY workers x 1|plain-fake-${MANY}x1
$p|spawn-plain|spawn_ms|plain C fork+exec of lru_workers to all READY|spawn-plain
$p|spawn-zfarm|spawn_ms|zfarm-broker --spawn to status all ready|spawn-plain
$p|spawn-workerfarm|spawn_ms|worker-farm to first answer from each child|spawn-plain
$p|spawn-zfarm|replace_ms|zfarm pool: SIGKILL to replacement ready|-
$p|spawn-workerfarm|replace_ms|worker-farm: SIGKILL to first answer of a new child|-
$b|memory|overhead_per_queued_task|zfarm per queued task beyond its 100-byte payload ($N_QUEUED queued)|-
$b|memory|bytes_per_worker|zfarm per connected idle worker ($MANY workers)|-
EOF
}

mkdir -p "$RESULTS"
cp "$CSV" "$RESULTS/latest.csv"
s_spec >"$WORK/spec.tsv"
"$HERE/summarize.sh" "$RESULTS/latest.csv" "$WORK/spec.tsv" "$RESULTS" \
    "$MACHINE" "$REPEAT round(s) of every case; $ELAPSED s; $(date -u +%Y-%m-%d); zfarm $VERSION"
