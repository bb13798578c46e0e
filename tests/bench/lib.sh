# lib.sh: what the bench scripts share. Source it after setting HERE.
#
#   bench_work NAME   makes $WORK (/tmp/zfarm-NAME.XXXXXX), and on exit
#                     stops every process started with s_start (SIGTERM,
#                     then SIGKILL after 2 s: a broker stops its pool and
#                     removes its files) and removes $WORK, unless
#                     ZFARM_BENCH_KEEP is set
#   s_start LOG CMD.. starts CMD in the background, output to
#                     $WORK/LOG.log; its pid in $STARTED (and in PIDS)
#   s_cpu_us PID      the CPU time of a process so far, in microseconds
#                     (its schedstat: steadier than tasks/s on a shared
#                     machine)
#   s_wait_lines FILE N  waits at most 10 s for FILE to hold N lines, or
#                     exits 1

ROOT=$(cd "$HERE/../.." && pwd)
PIDS=()

s_cleanup () {
    local pid tries alive
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for tries in $(seq 20); do
        alive=""
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ -n "$alive" ] || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${ZFARM_BENCH_KEEP:-}" ] || rm -rf "$WORK"
}

bench_work () {
    WORK=$(mktemp -d "/tmp/zfarm-$1.XXXXXX")
    trap s_cleanup EXIT
    trap 'exit 130' INT TERM
}

s_start () {
    local log=$1; shift
    "$@" >>"$WORK/$log.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}

s_cpu_us () {
    awk '{ printf "%d", $1 / 1000 }' "/proc/$1/schedstat"
}

s_wait_lines () {
    local tries
    for tries in $(seq 1000); do
        [ -s "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.01
    done
    echo "$(basename "$0"): $1 did not appear (logs in $WORK)" >&2
    exit 1
}
