#!/usr/bin/env bash
# detached.sh: detached tasks, submit -> result, against beanstalkd.
#
# Per round, side by side on this machine, each against a fresh server with
# two workers that echo 100-byte tasks:
#   zfarm attached        ordinary tasks, 1,000 outstanding (the ceiling)
#   zfarm batch|always|off  detached tasks through --journal-sync MODE:
#                         submitted 1,000 at a time (each batch stored and
#                         acknowledged), then fetched 1,000 at a time
#   beanstalkd -b         its binlog, default fsync (at most every 50 ms)
#   beanstalkd -b -f 0    its binlog, fsync after every write
# (bench_beanstalk: a producer pipelining puts 1,000 at a time, two
# workers that reserve, put the result in a second tube and delete, and a
# consumer that reserves the results.) Reports tasks/s per round and
# medians, the ratios that the issue names (batch / attached, always /
# beanstalkd -f 0, batch / beanstalkd default), and the journal's bytes
# per stored task.
#
# Usage: tests/bench/detached.sh [--repeat R] [--count N] [--quick]
# Builds the programs in build-bench (Release) first. Needs beanstalkd
# (deploy/install-deps.sh --bench installs it).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
BUILD=$ROOT/build-bench
BIN=$BUILD/bin
REPEAT=3
N=20000

while [ $# -gt 0 ]; do
    case $1 in
        --repeat) REPEAT=${2:?--repeat needs a number}; shift 2 ;;
        --count) N=${2:?--count needs a number}; shift 2 ;;
        --quick) REPEAT=1; N=2000; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "detached.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
case $REPEAT$N in *[!0-9]*) echo "detached.sh: counts are numbers" >&2; exit 2 ;; esac
command -v beanstalkd >/dev/null \
    || { echo "detached.sh: needs beanstalkd (deploy/install-deps.sh --bench)" >&2; exit 2; }

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target zfarm-broker zfarm-worker zfarm-cli \
    bench_detached bench_beanstalk zfarm-echo >/dev/null

bench_work detached

# s_zfarm MODE: one run against a fresh broker; prints tasks/s.
s_zfarm () {
    local mode=$1 endpoint="ipc://$WORK/zfarm.ipc" journal="$WORK/journal"
    rm -rf "$journal"
    local sync=()
    [ "$mode" = attached ] || sync=(--journal-sync "$mode")
    s_start broker "$BIN/zfarm-broker" --bind "$endpoint" --journal "$journal" \
        "${sync[@]}"
    local broker=$STARTED workers=()
    for i in 1 2; do
        s_start worker "$BIN/zfarm-worker" --broker "$endpoint" --service echo \
            --module "$BUILD/modules/echo.so"
        workers+=("$STARTED")
    done
    for tries in $(seq 100); do
        "$BIN/zfarm" status --json -b "$endpoint" 2>/dev/null \
            | grep -q '"state":"ready".*"state":"ready"' && break
        sleep 0.1
    done
    local kind=detached
    [ "$mode" = attached ] && kind=attached
    "$BIN/bench_detached" "$endpoint" "$N" "$kind" | awk '{ print $2 }'
    if [ "$mode" = batch ]; then
        "$BIN/zfarm" status --json -b "$endpoint" \
            | sed -n 's/.*"journal":{[^}]*"bytes":\([0-9]*\),"records":\([0-9]*\).*/\1 \2/p' \
            > "$WORK/bytes"
    fi
    kill -TERM "$broker" "${workers[@]}" 2>/dev/null || true
    wait "$broker" "${workers[@]}" 2>/dev/null || true
}

# s_beanstalk [FLAGS]: one run against a fresh beanstalkd; prints tasks/s.
s_beanstalk () {
    local port=$((20000 + RANDOM % 20000)) binlog="$WORK/binlog"
    rm -rf "$binlog"
    mkdir -p "$binlog"
    s_start beanstalkd beanstalkd -l 127.0.0.1 -p "$port" -b "$binlog" "$@"
    local server=$STARTED
    sleep 0.3
    "$BIN/bench_beanstalk" 127.0.0.1 "$port" "$N" 2 | awk '{ print $2 }'
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}

s_median () { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A RUNS
NAMES=(attached batch always off beanstalkd beanstalkd-f0)
for round in $(seq "$REPEAT"); do
    for name in "${NAMES[@]}"; do
        case $name in
            beanstalkd) value=$(s_beanstalk) ;;
            beanstalkd-f0) value=$(s_beanstalk -f 0) ;;
            always) value=$(N=$((N / 4)) s_zfarm always) ;;
            *) value=$(s_zfarm "$name") ;;
        esac
        RUNS[$name]="${RUNS[$name]:-} $value"
        printf 'round %d  %-14s %8s tasks/s\n' "$round" "$name" "$value"
    done
done

echo
echo "medians of $REPEAT round(s), $N tasks (always: $((N / 4))), 100 bytes each:"
declare -A MED
for name in "${NAMES[@]}"; do
    MED[$name]=$(echo "${RUNS[$name]}" | tr ' ' '\n' | grep . | s_median)
    printf '  %-14s %8s tasks/s\n' "$name" "${MED[$name]}"
done
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "  batch / attached            $(ratio "${MED[batch]}" "${MED[attached]}")  (target >= 0.5)"
echo "  batch / beanstalkd          $(ratio "${MED[batch]}" "${MED[beanstalkd]}")  (target >= 1)"
echo "  always / beanstalkd -f 0    $(ratio "${MED[always]}" "${MED[beanstalkd-f0]}")  (target >= 1)"
if [ -s "$WORK/bytes" ]; then
    read -r bytes records < "$WORK/bytes"
    echo "  journal bytes per finished task: $((bytes / records))"
fi
