#!/usr/bin/env bash
# netns-cluster.sh: a zfarm cluster of hosts on one machine. Each host is a
# network namespace with one veth link to a bridge; the bridge sits in a
# namespace of its own, so the cluster's addresses (10.231.0.0/24) exist
# nowhere else and nothing in it can route to the machine's own network.
#
#   netns-cluster.sh up [--workers N] [--processes N] ...   start a cluster
#   netns-cluster.sh status | cut HOST | restore HOST | exec HOST CMD...
#   netns-cluster.sh down                                  remove it all
#
# Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2 and util-linux.
# See deploy/netns-cluster.md.
set -euo pipefail

SELF=$(basename "$0")
SUBNET=10.231.0                 # /24; the broker is .1, worker host i .(10+i)
STATE_ROOT=${ZFARM_NETNS_STATE:-/run/zfarm-netns}
MAX_WORKER_HOSTS=200

usage () {
    cat <<EOF
usage: $SELF [--name NAME] COMMAND [ARGS]

A zfarm farm of several hosts on this machine: a broker host and worker
hosts, each a network namespace joined to the others by a veth pair and a
bridge (addresses in $SUBNET.0/24, reachable only inside the cluster).

commands:
  up [options]       create the hosts and start a broker and workers over TCP
      --workers N      worker hosts w1..wN (default 2)
      --processes N    worker processes per worker host, under one
                       zfarm-worker --processes supervisor (default 1)
      --local N        worker processes forked by the broker itself (default 0)
      --service NAME   service the workers offer (default primes)
      --module FILE    handler module (default primes.so of the build)
      --function NAME  handler in the module (default zfarm_handler)
      --exec COMMAND   run COMMAND per task instead of a module
      --heartbeat MS   heartbeat interval of broker and workers (default 500)
      --port PORT      broker's TCP port (default 5555)
      --bin-dir DIR    where zfarm-broker, zfarm-worker, zfarm are
      --net-only       create the hosts and links, start no process
      --owner PID      'prune' removes the cluster once PID is gone
  down               stop what 'up' started, delete hosts, links and bridge;
                     doing it twice is harmless
  status             hosts, links, processes, and the broker's status
  cut HOST           take HOST's link down (its packets are dropped)
  restore HOST       bring HOST's link back up
  mute HOST          a one-way cut: HOST still hears the broker, but what
                     it sends the broker is dropped (TCP keeps it queued)
  unmute HOST        let it speak again
  exec HOST CMD...   run CMD on HOST (ZFARM_BROKER is set to the broker)
  endpoint           print the broker's TCP endpoint
  list               print the names of the clusters that exist
  prune              'down' every cluster whose --owner process is gone

Hosts are 'broker' and 'w1'..'wN'. Every command but 'up' finds the cluster
by --name, or takes the only one there is. 'up' picks a unique name (zfPID)
unless given one, so that several clusters can run at once.
EOF
}

die () { echo "$SELF: $*" >&2; exit 1; }
note () { echo "$SELF: $*" >&2; }

# ---- names ------------------------------------------------------------------

NAME=""
STATE=""

ns_of () { echo "zfarm-$NAME-$1"; }       # a host's namespace
switch_ns () { echo "zfarm-$NAME-net"; }  # the bridge's namespace
port_of () { echo "p-$1"; }         # a host's link, seen from the bridge

addr_of () {
    case $1 in
        broker) echo "$SUBNET.1" ;;
        w[0-9]*) echo "$SUBNET.$((10 + ${1#w}))" ;;
        *) return 1 ;;
    esac
}

check_name () {
    [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.]{0,23}$ ]] \
        || die "bad cluster name '$1' (1 to 24 letters, digits, '_' or '.')"
}

# Sets NAME and STATE for the commands that act on an existing cluster.
resolve_name () {
    if [ -z "$NAME" ]; then
        local names
        names=$(list_names)
        [ -n "$names" ] || die "no cluster is up (try '$SELF up')"
        [ "$(echo "$names" | wc -l)" -eq 1 ] \
            || die "several clusters are up ($(echo "$names" | tr '\n' ' '));" \
                   "choose one with --name"
        NAME=$names
    fi
    check_name "$NAME"
    STATE=$STATE_ROOT/$NAME
}

# Clusters with a state directory, and any whose namespaces outlived it.
list_names () {
    {
        if [ -d "$STATE_ROOT" ]; then
            find "$STATE_ROOT" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'
        fi
        ip netns list 2>/dev/null | awk '{print $1}' \
            | sed -n 's/^zfarm-\(.*\)-net$/\1/p'
    } | sort -u
}

hosts () { cat "$STATE/hosts"; }
host_list () { tr '\n' ' ' <"$STATE/hosts"; }

require_host () {
    [ -f "$STATE/hosts" ] || die "cluster '$NAME' has no state in $STATE"
    grep -qx -- "$1" "$STATE/hosts" \
        || die "no host '$1' in cluster '$NAME' (hosts: $(host_list))"
}

endpoint () { cat "$STATE/endpoint"; }

# ---- programs -------------------------------------------------------------

BIN_DIR=""

find_bin_dir () {
    local top
    top=$(cd "$(dirname "$0")/.." && pwd)
    for dir in "$BIN_DIR" "${ZFARM_BIN_DIR:-}" "$top/build/bin" \
               "$(dirname "$(command -v zfarm-broker 2>/dev/null || echo .)")"; do
        if [ -n "$dir" ] && [ -x "$dir/zfarm-broker" ] \
           && [ -x "$dir/zfarm-worker" ] && [ -x "$dir/zfarm" ]; then
            BIN_DIR=$(cd "$dir" && pwd)
            return 0
        fi
    done
    die "zfarm-broker, zfarm-worker and zfarm not found (build them, or give --bin-dir)"
}

find_module () {
    for dir in "${ZFARM_MODULE_DIR:-}" "$BIN_DIR/../modules"; do
        if [ -n "$dir" ] && [ -f "$dir/$1" ]; then
            echo "$(cd "$dir" && pwd)/$1"
            return 0
        fi
    done
    return 1
}

# ---- running things on a host ----------------------------------------------

# Replaces this shell with CMD on HOST: in HOST's network namespace, with a
# UTS namespace whose host name is HOST (so the broker's status names each
# worker's host), the cluster's broker as ZFARM_BROKER, and the zfarm
# programs first in PATH. The process keeps this shell's pid.
exec_on () {
    local host=$1; shift
    export ZFARM_BROKER
    ZFARM_BROKER=$(endpoint)
    if (find_bin_dir) 2>/dev/null; then
        find_bin_dir
        export PATH="$BIN_DIR:$PATH"
    fi
    # shellcheck disable=SC2016  # $0 and $@ belong to the inner shell
    exec ip netns exec "$(ns_of "$host")" unshare --uts \
        sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

# Starts CMD on HOST in the background, in a session of its own, with its
# output in logs/HOST.LABEL.log and its pid in pids/HOST.LABEL.pid.
start_on () {
    local host=$1 label=$2; shift 2
    ( exec_on "$host" setsid "$@" ) </dev/null \
        >"$STATE/logs/$host.$label.log" 2>&1 &
    echo $! >"$STATE/pids/$host.$label.pid"
}

# The inode of a namespace, to tell our processes from pids reused since.
ns_inode () { stat -L -c %i "/run/netns/$1" 2>/dev/null || true; }

# Prints the pid in a pid file if that process still runs in one of this
# cluster's namespaces.
our_pid () {
    local pid inode
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    inode=$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) || return 1
    for ns in $(cluster_namespaces); do
        if [ "$(ns_inode "$ns")" = "$inode" ]; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

cluster_namespaces () {
    local name
    name=$(printf '%s' "$NAME" | sed 's/\./\\./g')
    ip netns list 2>/dev/null | awk '{print $1}' \
        | grep -E "^zfarm-$name-(net|broker|w[0-9]+)$" || true
}

# True while pid $1 runs (a zombie has ended).
alive () {
    [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# Waits at most $1 tenths of a second for every pid after it to be gone.
wait_gone () {
    local tenths=$1; shift
    for _ in $(seq "$tenths"); do
        local any=""
        for pid in "$@"; do
            alive "$pid" && any=1
        done
        [ -z "$any" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- up ---------------------------------------------------------------------

cmd_up () {
    local workers=2 processes=1 local_workers=0 service=primes module=""
    local function="" exec_command="" heartbeat=500 port=5555 net_only=""
    local owner=""
    while [ $# -gt 0 ]; do
        case $1 in
            --workers) workers=${2:?}; shift ;;
            --processes) processes=${2:?}; shift ;;
            --local) local_workers=${2:?}; shift ;;
            --service) service=${2:?}; shift ;;
            --module) module=${2:?}; shift ;;
            --function) function=${2:?}; shift ;;
            --exec) exec_command=${2:?}; shift ;;
            --heartbeat) heartbeat=${2:?}; shift ;;
            --port) port=${2:?}; shift ;;
            --bin-dir) BIN_DIR=${2:?}; shift ;;
            --net-only) net_only=1 ;;
            --owner) owner=${2:?}; shift ;;
            *) die "up: unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    for number in "$workers" "$processes" "$local_workers" "$heartbeat" "$port"; do
        [[ $number =~ ^[0-9]+$ ]] || die "up: '$number' is not a number"
    done
    if [ "$workers" -lt 1 ] || [ "$workers" -gt $MAX_WORKER_HOSTS ]; then
        die "up: --workers must be 1 to $MAX_WORKER_HOSTS"
    fi
    [ "$processes" -ge 1 ] || die "up: --processes must be at least 1"
    [ -z "$owner" ] || [[ $owner =~ ^[0-9]+$ ]] || die "up: --owner takes a pid"
    [ "$(id -u)" -eq 0 ] || die "up: needs root (network namespaces)"
    command -v ip >/dev/null || die "up: needs ip (iproute2)"
    command -v unshare >/dev/null || die "up: needs unshare (util-linux)"

    if [ -z "$NAME" ]; then
        NAME=zf$$
    fi
    check_name "$NAME"
    STATE=$STATE_ROOT/$NAME
    if [ -e "$STATE" ] || [ -n "$(cluster_namespaces)" ]; then
        die "up: cluster '$NAME' exists; '$SELF --name $NAME down' first"
    fi
    local worker_args=()
    if [ -z "$net_only" ]; then
        find_bin_dir
        if [ -n "$exec_command" ]; then
            worker_args=(--service "$service" --exec "$exec_command")
        else
            if [ -z "$module" ]; then
                module=$(find_module primes.so) \
                    || die "up: primes.so not found; give --module or --exec"
            fi
            [ -f "$module" ] || die "up: no module '$module'"
            module=$(cd "$(dirname "$module")" && pwd)/$(basename "$module")
            worker_args=(--service "$service" --module "$module")
            [ -z "$function" ] || worker_args+=(--function "$function")
        fi
        worker_args+=(--heartbeat "$heartbeat")
    fi

    mkdir -p "$STATE/pids" "$STATE/logs"
    # From here on, a failure (or a signal) takes down whatever was built.
    trap 'note "up failed; removing cluster $NAME"; cmd_down >&2' EXIT
    echo "tcp://$SUBNET.1:$port" >"$STATE/endpoint"
    [ -z "$owner" ] || echo "$owner" >"$STATE/owner"
    {
        echo broker
        for i in $(seq "$workers"); do echo "w$i"; done
    } >"$STATE/hosts"

    make_network
    if [ -n "$net_only" ]; then
        trap - EXIT
        echo "cluster $NAME up: hosts $(host_list), broker address $SUBNET.1, no processes"
        return 0
    fi
    start_farm "$port" "$heartbeat" "$workers" "$processes" "$local_workers" \
               "${worker_args[@]}"
    trap - EXIT
    echo "cluster $NAME up: broker $(endpoint); $workers worker hosts" \
         "x $processes processes, $local_workers local"
    echo "try: $SELF --name $NAME exec broker zfarm call $service 1000000"
}

make_network () {
    local net
    net=$(switch_ns)
    ip netns add "$net"
    ip -n "$net" link set lo up
    ip -n "$net" link add name br0 type bridge
    ip -n "$net" link set br0 up
    for host in $(hosts); do
        local ns
        ns=$(ns_of "$host")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # Both ends are made inside the cluster's namespaces: the machine's
        # own namespace never sees them.
        ip -n "$net" link add name "$(port_of "$host")" type veth \
            peer name eth0 netns "$ns"
        ip -n "$net" link set "$(port_of "$host")" master br0 up
        ip -n "$ns" addr add "$(addr_of "$host")/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
}

# Counts the workers the broker reports as ready or busy (-1: no answer).
registered () {
    local json
    json=$(ip netns exec "$(ns_of broker)" "$BIN_DIR/zfarm" status \
               --broker "$(endpoint)" --timeout 1000 --json 2>/dev/null) \
        || { echo -1; return; }
    echo "$json" | { grep -o '"state":"\(ready\|busy\)"' || true; } | wc -l
}

start_farm () {
    local port=$1 heartbeat=$2 workers=$3 processes=$4 local_workers=$5
    shift 5
    local broker_args=(--bind "$(endpoint)" --endpoint-file "$STATE/broker.endpoints"
                       --heartbeat "$heartbeat")
    if [ "$local_workers" -gt 0 ]; then
        broker_args+=(--spawn "$local_workers" --worker-cmd
                      "exec $(printf '%q ' "$BIN_DIR/zfarm-worker" "$@")")
    fi
    start_on broker broker "$BIN_DIR/zfarm-broker" "${broker_args[@]}"
    for _ in $(seq 100); do
        [ -s "$STATE/broker.endpoints" ] && break
        alive "$(cat "$STATE/pids/broker.broker.pid")" \
            || { cat "$STATE/logs/broker.broker.log" >&2; false; }
        sleep 0.1
    done
    [ -s "$STATE/broker.endpoints" ] || { note "the broker did not bind in 10 s"; false; }

    # A worker host runs its processes under one supervisor, which
    # replaces any that dies.
    for i in $(seq "$workers"); do
        start_on "w$i" workers "$BIN_DIR/zfarm-worker" --broker "$(endpoint)" \
            --processes "$processes" "$@"
    done

    local expected=$((workers * processes + local_workers)) count=-1
    for _ in $(seq 40); do
        count=$(registered)
        [ "$count" -ge "$expected" ] && return 0
        sleep 0.5
    done
    note "only $count of $expected workers registered in 20 s; logs:"
    tail -n 5 "$STATE"/logs/*.log >&2 || true
    false
}

# ---- down -------------------------------------------------------------------

cmd_down () {
    local pids=()
    for file in "$STATE"/pids/*.pid; do
        [ -e "$file" ] || continue
        local pid
        if pid=$(our_pid "$file"); then
            pids+=("$pid")
        fi
    done
    if [ ${#pids[@]} -gt 0 ]; then
        # SIGCONT, so that a stopped process sees the SIGTERM.
        kill -TERM "${pids[@]}" 2>/dev/null || true
        kill -CONT "${pids[@]}" 2>/dev/null || true
        # The broker gives running tasks 5 s (--drain-timeout) to finish.
        if ! wait_gone 70 "${pids[@]}"; then
            note "down: SIGKILL to what is left of ${pids[*]}"
            kill -KILL "${pids[@]}" 2>/dev/null || true
            wait_gone 30 "${pids[@]}" || true
        fi
    fi
    # What is still inside the cluster's namespaces was started there by us
    # or by 'exec' (a worker's command, a shell): a host cannot go away
    # while it runs processes, so they go too.
    for ns in $(cluster_namespaces); do
        local left
        left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        if [ -n "$left" ]; then
            note "down: stopping processes left on $ns: $left"
            # shellcheck disable=SC2086
            kill -KILL $left 2>/dev/null || true
            # shellcheck disable=SC2086
            wait_gone 30 $left || note "down: still there: $left"
        fi
    done
    # Deleting a host's namespace destroys its veth pair; deleting the
    # bridge's namespace destroys the bridge.
    for ns in $(cluster_namespaces); do
        ip netns del "$ns" 2>/dev/null || note "down: could not delete $ns"
    done
    rm -rf "$STATE"
    echo "cluster $NAME down"
}

# ---- the other commands ----------------------------------------------------

link_set () {
    local host=$1 state=$2
    require_host "$host"
    ip -n "$(switch_ns)" link set "$(port_of "$host")" "$state"
}

# A one-way cut: a blackhole route to the broker in HOST's namespace drops
# what it sends there, while what the broker sends still arrives (reverse
# path filtering off, or the kernel would drop that too, for want of a
# route back).
mute_set () {
    local host=$1 mute=$2 ns
    require_host "$host"
    ns=$(ns_of "$host")
    if [ "$mute" = on ]; then
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.eth0.rp_filter=0
        ip -n "$ns" route replace blackhole "$SUBNET.1/32"
    else
        ip -n "$ns" route del blackhole "$SUBNET.1/32" 2>/dev/null || true
    fi
}

cmd_status () {
    [ -f "$STATE/hosts" ] || die "status: cluster '$NAME' has no state in $STATE"
    echo "cluster $NAME, broker $(endpoint)"
    printf '%-8s %-12s %-5s %s\n' HOST ADDRESS LINK PROCESSES
    for host in $(hosts); do
        local link procs=""
        link=$(ip -n "$(switch_ns)" -o link show "$(port_of "$host")" 2>/dev/null \
                   | grep -q '[<,]UP[,>]' && echo up || echo CUT)
        for file in "$STATE/pids/$host".*.pid; do
            [ -e "$file" ] || continue
            local label pid
            label=$(basename "$file" .pid)
            label=${label#"$host".}
            if pid=$(our_pid "$file"); then
                local state
                state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
                procs+="$label:$pid${state:+($state)} "
            else
                procs+="$label:gone "
            fi
        done
        printf '%-8s %-12s %-5s %s\n' "$host" "$(addr_of "$host")" "$link" "$procs"
    done
    if our_pid "$STATE/pids/broker.broker.pid" >/dev/null; then
        echo
        find_bin_dir
        ip netns exec "$(ns_of broker)" "$BIN_DIR/zfarm" status \
            --broker "$(endpoint)" --timeout 2000 || true
    fi
}

# Removes every cluster whose owner process is gone.
cmd_prune () {
    local root=$STATE_ROOT
    [ -d "$root" ] || return 0
    for dir in "$root"/*/; do
        [ -f "$dir/owner" ] || continue
        local owner
        owner=$(cat "$dir/owner")
        if ! [ -d "/proc/$owner" ]; then
            NAME=$(basename "$dir")
            STATE=$root/$NAME
            note "prune: owner $owner of cluster $NAME is gone"
            cmd_down
        fi
    done
}

main () {
    while [ $# -gt 0 ]; do
        case $1 in
            --name) NAME=${2:?--name needs a value}; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            -*) die "unknown option '$1' (see --help)" ;;
            *) break ;;
        esac
    done
    [ $# -gt 0 ] || { usage >&2; exit 2; }
    local command=$1; shift
    if [ "${1:-}" = "--name" ]; then
        NAME=${2:?--name needs a value}
        shift 2
    fi
    case $command in
        up) cmd_up "$@" ;;
        down)
            if [ -z "$NAME" ] && [ -z "$(list_names)" ]; then
                echo "no cluster to take down"
                exit 0
            fi
            resolve_name; cmd_down ;;
        status) resolve_name; cmd_status ;;
        cut) [ $# -eq 1 ] || die "usage: cut HOST"
             resolve_name; link_set "$1" down ;;
        restore) [ $# -eq 1 ] || die "usage: restore HOST"
                 resolve_name; link_set "$1" up ;;
        mute) [ $# -eq 1 ] || die "usage: mute HOST"
              resolve_name; mute_set "$1" on ;;
        unmute) [ $# -eq 1 ] || die "usage: unmute HOST"
                resolve_name; mute_set "$1" off ;;
        exec) [ $# -ge 2 ] || die "usage: exec HOST COMMAND [ARGS...]"
              resolve_name; require_host "$1"; exec_on "$@" ;;
        endpoint) resolve_name; endpoint ;;
        list) list_names ;;
        prune) cmd_prune ;;
        help) usage ;;
        *) die "unknown command '$command' (see --help)" ;;
    esac
}

main "$@"
