#!/usr/bin/env bash
# curve.sh: what CURVE security costs zfarm, over tcp on loopback.
#
# Builds (Release, in build-curve), makes a broker, a client and a worker
# key with `zfarm keygen`, then runs R rounds. Each round measures both
# modes, in alternating order: a broker on tcp://127.0.0.1 (with
# --curve-secret and --authorized-keys, or without), two zfarm-worker
# processes with echo.so, and zfarm-bench with the keys in its environment:
# throughput with 100-byte and 64 KiB payloads (window 100) and latency
# (one task at a time, 100 bytes). Prints the medians, min-max and the
# ratio CURVE / plain per metric, and writes results/curve.csv (every
# measurement) and results/curve.md (the table).
#
# Usage: tests/bench/curve.sh [--repeat R] [--quick]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build-curve
RESULTS=$HERE/results
REPEAT=5
QUICK=0

usage () {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --quick) QUICK=1; REPEAT=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "curve.sh: unknown option '$1'" >&2; usage 2 ;;
    esac
done
case $REPEAT in ''|*[!0-9]*|0) echo "curve.sh: --repeat wants a count" >&2; exit 2 ;; esac

if [ "$QUICK" = 1 ]; then
    N_SMALL=500; N_LARGE=100; N_LAT=200
else
    N_SMALL=20000; N_LARGE=2000; N_LAT=5000
fi
LARGE=65536
DEADLINE=120                # seconds, any one load generator run

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-cli \
    zfarm-bench zfarm-echo >/dev/null
BIN=$BUILD/bin
ECHO_SO=$BUILD/modules/echo.so

# ---- processes: every one started here is killed by pid ------------------

WORK=$(mktemp -d /tmp/zfarm-curve.XXXXXX)
PIDS=()

s_cleanup () {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ -n "${ZFARM_BENCH_KEEP:-}" ]; then
        echo "curve.sh: logs kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap s_cleanup EXIT
trap 'exit 130' INT TERM

s_start () {
    local log=$1; shift
    "$@" >>"$WORK/$log.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}

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

s_wait_file () {
    local tries
    for tries in $(seq 1000); do
        [ -s "$1" ] && return 0
        sleep 0.01
    done
    echo "curve.sh: $1 did not appear (logs in $WORK)" >&2
    return 1
}

# ---- keys ------------------------------------------------------------------

mkdir -p "$WORK/keys" "$WORK/authorized"
"$BIN/zfarm" keygen --dir "$WORK/keys" broker >/dev/null
"$BIN/zfarm" keygen --dir "$WORK/keys" --role client bench >/dev/null
"$BIN/zfarm" keygen --dir "$WORK/keys" --role worker --services echo worker >/dev/null
mv "$WORK/keys/bench" "$WORK/keys/worker" "$WORK/authorized/"

# ---- measuring -------------------------------------------------------------

CSV=$WORK/curve.csv
echo "round,row,metric,value,errors" >"$CSV"
ROUND=0

s_field () {
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"
}

# s_measure ROW METRICS -- COMMAND...: runs zfarm-bench, records its JSON.
s_measure () {
    local row=$1 metrics=$2 json metric value; shift 3
    json=$(timeout $((DEADLINE + 30)) "$@" 2>>"$WORK/$row.err" | tail -1) || true
    if [ -z "$json" ] || [ "$(s_field "$json" completed)" = 0 ]; then
        echo "curve.sh: round $ROUND: $row failed: ${json:-no report}" >&2
        echo "$ROUND,$row,failed,0,0" >>"$CSV"
        return 0
    fi
    for metric in $metrics; do
        value=$(s_field "$json" "$metric")
        [ -n "$value" ] && [ "$value" != null ] || continue
        echo "$ROUND,$row,$metric,$value,$(s_field "$json" errors)" >>"$CSV"
    done
    printf '  %-14s %s\n' "$row" "$json" >&2
}

# case_mode MODE: plain or curve; a broker, two workers, three runs.
case_mode () {
    local mode=$1 broker_flags=() key_flags=() workers=() i
    if [ "$mode" = curve ]; then
        broker_flags=(--curve-secret "$WORK/keys/broker_secret"
                      --authorized-keys "$WORK/authorized")
        key_flags=(--curve-server-key "$WORK/keys/broker")
    fi
    rm -f "$WORK/endpoint"
    s_start broker-$mode "$BIN/zfarm-broker" --bind "tcp://127.0.0.1:*" \
        --endpoint-file "$WORK/endpoint" "${broker_flags[@]}"
    local broker=$STARTED
    s_wait_file "$WORK/endpoint"
    local endpoint
    endpoint=$(head -1 "$WORK/endpoint")
    for i in 1 2; do
        if [ "$mode" = curve ]; then
            key_flags=(--curve-server-key "$WORK/keys/broker"
                       --curve-cert "$WORK/keys/worker_secret")
        fi
        s_start worker-$mode "$BIN/zfarm-worker" --broker "$endpoint" \
            --service echo --module "$ECHO_SO" "${key_flags[@]}"
        workers+=("$STARTED")
    done
    local env=()
    if [ "$mode" = curve ]; then
        env=(ZFARM_CURVE_SERVER_KEY="$WORK/keys/broker"
             ZFARM_CURVE_CERT="$WORK/keys/bench_secret")
    fi
    s_measure "$mode-100B" tasks_per_sec -- env "${env[@]}" \
        "$BIN/zfarm-bench" --json --broker "$endpoint" -n "$N_SMALL" \
        --window 100 --wait-workers 2 --deadline "$DEADLINE"
    s_measure "$mode-64KiB" tasks_per_sec -- env "${env[@]}" \
        "$BIN/zfarm-bench" --json --broker "$endpoint" -n "$N_LARGE" \
        --size "$LARGE" --window 100 --wait-workers 2 --deadline "$DEADLINE"
    s_measure "$mode-lat" "p50_us p99_us" -- env "${env[@]}" \
        "$BIN/zfarm-bench" --json --broker "$endpoint" -n "$N_LAT" \
        --latency --wait-workers 2 --deadline "$DEADLINE"
    s_stop "${workers[@]}" "$broker"
}

echo "curve.sh: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $REPEAT rounds" >&2
for ROUND in $(seq "$REPEAT"); do
    echo "round $ROUND" >&2
    if [ $((ROUND % 2)) = 1 ]; then
        case_mode plain; case_mode curve
    else
        case_mode curve; case_mode plain
    fi
done

# ---- the table ---------------------------------------------------------------

mkdir -p "$RESULTS"
cp "$CSV" "$RESULTS/curve.csv"
awk -F',' '
    NR == 1 || $3 == "failed" { next }
    {
        split ($2, part, "-")
        key = part[2] "," $3
        mode = part[1]
        n[key, mode]++
        v[key, mode, n[key, mode]] = $4 + 0
        if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
    }
    function median (key, mode,    count, i, j, t, w) {
        count = n[key, mode]
        if (!count) return -1
        for (i = 1; i <= count; i++) w[i] = v[key, mode, i]
        for (i = 2; i <= count; i++)
            for (j = i; j > 1 && w[j - 1] > w[j]; j--) {
                t = w[j]; w[j] = w[j - 1]; w[j - 1] = t
            }
        low = w[1]; high = w[count]
        return count % 2? w[(count + 1) / 2]: (w[count / 2] + w[count / 2 + 1]) / 2
    }
    END {
        print "| payload, metric | plain: median (min–max) | CURVE: median (min–max) | CURVE / plain |"
        print "| --- | ---: | ---: | ---: |"
        for (k = 1; k <= keys; k++) {
            key = order[k]
            plain = median(key, "plain"); plain_range = sprintf ("%d–%d", low, high)
            curve = median(key, "curve"); curve_range = sprintf ("%d–%d", low, high)
            split (key, f, ",")
            ratio = (plain > 0 && curve >= 0)? sprintf ("%.2f×", curve / plain): "—"
            printf "| %s %s | %d (%s) | %d (%s) | %s |\n", f[1], f[2], plain,
                   plain_range, curve, curve_range, ratio
        }
    }' "$CSV" | tee "$RESULTS/curve.md"
