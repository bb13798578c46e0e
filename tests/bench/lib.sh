# lib.sh: what the bench scripts share. Source it after setting HERE.
#
#   bench_work NAME   makes $WORK (/tmp/zfarm-NAME.XXXXXX), and on exit
#                     stops every process started with s_start (SIGTERM,
#                     then SIGKILL after 2 s: a broker stops its pool and
#                     removes its files) and removes $WORK, unless
#                     ZFARM_BENCH_KEEP is set
#   s_start LOG CMD.. starts CMD in the background, output to
#                     $WORK/LOG.log; its pid in $STARTED (and in PIDS)

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
