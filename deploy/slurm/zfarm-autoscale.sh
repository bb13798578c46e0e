#!/bin/sh
# zfarm-autoscale.sh: submits zfarm-worker jobs to Slurm while the
# broker's queue is deep. Run it on the login node, next to the broker:
#
#   ZFARM_BROKER=tcp://login1:5555 ZFARM_SERVICE=primes \
#   ZFARM_WORKER_ARGS="--module $HOME/zfarm/modules/primes.so" \
#       deploy/slurm/zfarm-autoscale.sh [--once]
#
# Every ZFARM_SCALE_INTERVAL seconds (30) it reads `zfarm status --json`:
# with Q tasks of the service waiting, it wants ceil(Q / TASKS_PER_JOB)
# jobs (TASKS_PER_JOB 32), at most MAX_JOBS (8), and submits what is
# missing beyond the zfarm-worker jobs of this user that squeue lists
# (pending or running). It never cancels a job: each leaves by itself when
# idle (--idle-exit in zfarm-worker.sbatch). --once: one round, then exit.
set -eu

: "${ZFARM_BROKER:?set ZFARM_BROKER}"
: "${ZFARM_SERVICE:?set ZFARM_SERVICE}"
TASKS_PER_JOB=${TASKS_PER_JOB:-32}
MAX_JOBS=${MAX_JOBS:-8}
INTERVAL=${ZFARM_SCALE_INTERVAL:-30}
JOB_SCRIPT=${ZFARM_JOB_SCRIPT:-$(dirname "$0")/zfarm-worker.sbatch}
export ZFARM_BROKER ZFARM_SERVICE

# Tasks of the service waiting in the broker's queue (0 if it has none).
queued () {
    zfarm status --json --broker "$ZFARM_BROKER" | python3 -c '
import json, sys
doc = json.load (sys.stdin)
print (sum (s.get ("queued", 0) for s in doc.get ("services", [])
            if s.get ("name") == sys.argv [1]))' "$ZFARM_SERVICE"
}

round () {
    waiting=$(queued) || { echo "zfarm-autoscale: no status from $ZFARM_BROKER" >&2; return 0; }
    wanted=$(( (waiting + TASKS_PER_JOB - 1) / TASKS_PER_JOB ))
    [ "$wanted" -le "$MAX_JOBS" ] || wanted=$MAX_JOBS
    have=$(squeue -h -u "$(id -un)" -n zfarm-worker -o %i | wc -l)
    missing=$(( wanted - have ))
    while [ "$missing" -gt 0 ]; do
        sbatch "$JOB_SCRIPT"
        missing=$(( missing - 1 ))
    done
    echo "zfarm-autoscale: $waiting waiting, $have jobs, wanted $wanted" >&2
}

round
[ "${1:-}" = --once ] && exit 0
while sleep "$INTERVAL"; do
    round
done
