#!/bin/sh
# A whole farm on this machine, with no configuration: builds zfarm, starts a
# broker that forks four local workers, hands them CPU-heavy tasks (counting
# primes) all at once, prints each result and the farm's status, and stops.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
deploy/install-deps.sh
echo "building zfarm..." >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

dir=$(mktemp -d /tmp/zfarm-demo-XXXXXX)
endpoint="ipc://$dir/broker.ipc"
zfarm="$top/build/bin/zfarm"
"$top/build/bin/zfarm-broker" --bind "$endpoint" --spawn 4 --worker-cmd \
    "exec '$top/build/bin/zfarm-worker' --service primes --module '$top/build/modules/primes.so'" \
    2>"$dir/broker.log" &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$dir"' EXIT INT TERM

# Ready when the broker reports its four workers (10 s at most).
tries=0
until [ "$("$zfarm" status --broker "$endpoint" --json 2>/dev/null \
          | grep -o '"state":"ready"' | wc -l)" -ge 4 ]; do
    tries=$((tries + 1))
    if [ $tries -gt 100 ]; then
        echo "the workers did not start; broker log:" >&2
        cat "$dir/broker.log" >&2
        exit 1
    fi
    sleep 0.1
done

echo "farm up: 4 worker processes. Counting primes, 8 tasks at once:"
pids=""
for limit in 30000000 40000000 50000000 60000000 70000000 80000000 90000000 100000000; do
    ( result=$("$zfarm" call --broker "$endpoint" primes "$limit") \
          && printf '  primes up to %9d: %s\n' "$limit" "$result" ) &
    pids="$pids $!"
done
failed=0
for pid in $pids; do
    wait "$pid" || failed=1
done
echo
"$zfarm" status --broker "$endpoint"
exit $failed
