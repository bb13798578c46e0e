#!/usr/bin/env bash
# netns-cluster.sh: a zfarm cluster of hosts on one machine. Each host is a
# network namespace with one veth link to a bridge; the bridge sits in a
# namespace of its own, so the cluster's addresses (10.231.0.0/24) exist
# nowhere else and nothing in it can route to the machine's own network.
#
#   netns-cluster.sh up [--brokers N] [--workers N] ...    start a cluster
#   netns-cluster.sh status | cut HOST | restore HOST | exec HOST CMD...
#   netns-cluster.sh kill-broker HOST | start-broker HOST
#   netns-cluster.sh down                                  remove it all
#
# Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2 and util-linux.
# See deploy/netns-cluster.md.
set -euo pipefail

SELF=$(basename "$0")
SUBNET=10.231.0                 # /24; broker hosts .1 to .4, the client
                                # host .5, worker host i .(10+i)
STATE_ROOT=${ZFARM_NETNS_STATE:-/run/zfarm-netns}
MAX_WORKER_HOSTS=200
BROKER_LETTERS=abcd             # with --brokers N: broker-a .. broker-d

usage () {
    cat <<EOF
usage: $SELF [--name NAME] COMMAND [ARGS]

A zfarm farm of several hosts on this machine: broker hosts and worker
hosts, each a network namespace joined to the others by a veth pair and a
bridge (addresses in $SUBNET.0/24, reachable only inside the cluster).

commands:
  up [options]       create the hosts and start brokers and workers over TCP
      --brokers N      broker hosts (default 1: 'broker'; 2 to 4: 'broker-a',
                       'broker-b'...), each running its own zfarm-broker;
                       every worker serves them all (--broker A,B...)
      --workers N      worker hosts w1..wN (default 2)
      --processes N    worker processes per worker host, under one
                       zfarm-worker --processes supervisor (default 1)
      --local N        worker processes forked by each broker (default 0)
      --client         add a host 'client' that runs no zfarm process, for
                       clients whose link no test cuts
      --service NAME   service the workers offer (default primes)
      --module FILE    handler module (default primes.so of the build)
      --function NAME  handler in the module (default zfarm_handler)
      --exec COMMAND   run COMMAND per task instead of a module
      --heartbeat MS   heartbeat interval of brokers and workers (default 500)
      --port PORT      the brokers' TCP port (default 5555)
      --bin-dir DIR    where zfarm-broker, zfarm-worker, zfarm are
      --net-only       create the hosts and links, start no process
      --owner PID      'prune' removes the cluster once PID is gone
  down               stop what 'up' started, delete hosts, links and bridge;
                     doing it twice is harmless
  status             hosts, links, processes, and each broker's status
  cut HOST           take HOST's link down (its packets are dropped)
  restore HOST       bring HOST's link back up
  mute HOST [TO...]  a one-way cut: what HOST sends to the hosts TO is
                     dropped (TCP keeps it queued), while it still hears
                     them; TO defaults to the broker hosts, or for a broker
                     host to every other host
  unmute HOST        let it speak again
  kill-broker [HOST] SIGKILL the broker that 'up' started on broker host HOST
  start-broker [HOST]  start it again, as 'up' did, on the same address
                     (HOST may be left out when there is one broker host)
  exec HOST CMD...   run CMD on HOST (ZFARM_BROKER is set to the brokers)
  endpoint [HOST]    print the brokers' TCP endpoints (A,B...), or HOST's
  list               print the names of the clusters that exist
  prune              'down' every cluster whose --owner process is gone

Hosts are 'broker' (or 'broker-a'..), 'w1'..'wN', and with --client
'client'. Every command but 'up' finds the cluster by --name, or takes the
only one there is. 'up' picks a unique name (zfPID) unless given one, so
that several clusters can run at once.
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
        broker-[a-d])
            local letters=${BROKER_LETTERS%%"${1#broker-}"*}
            echo "$SUBNET.$((1 + ${#letters}))" ;;
        client) echo "$SUBNET.5" ;;
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

# The broker hosts, one a line ('broker', or 'broker-a', 'broker-b'...).
broker_hosts () { cat "$STATE/brokers" 2>/dev/null || echo broker; }

is_broker_host () { broker_hosts | grep -qx -- "$1"; }

# The TCP endpoint of the broker on broker host $1.
endpoint_of () { echo "tcp://$(addr_of "$1"):$(cat "$STATE/port")"; }

# The broker host a command names, or the only one there is.
broker_host_arg () {
    if [ -z "${1:-}" ]; then
        [ "$(broker_hosts | wc -l)" -eq 1 ] \
            || die "several broker hosts ($(broker_hosts | paste -sd ' '));" \
                   "name one"
        broker_hosts
        return
    fi
    require_host "$1"
    is_broker_host "$1" || die "'$1' is not a broker host" \
                               "(they are: $(broker_hosts | paste -sd ' '))"
    echo "$1"
}

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
# worker's host), the cluster's brokers as ZFARM_BROKER, and the zfarm
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
        | grep -E "^zfarm-$name-(net|broker|broker-[a-d]|client|w[0-9]+)$" \
        || true
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
    local brokers=1 workers=2 processes=1 local_workers=0 service=primes
    local module="" function="" exec_command="" heartbeat=500 port=5555
    local net_only="" owner="" client=""
    while [ $# -gt 0 ]; do
        case $1 in
            --brokers) brokers=${2:?}; shift ;;
            --workers) workers=${2:?}; shift ;;
            --client) client=1 ;;
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
    for number in "$brokers" "$workers" "$processes" "$local_workers" \
                  "$heartbeat" "$port"; do
        [[ $number =~ ^[0-9]+$ ]] || die "up: '$number' is not a number"
    done
    if [ "$brokers" -lt 1 ] || [ "$brokers" -gt ${#BROKER_LETTERS} ]; then
        die "up: --brokers must be 1 to ${#BROKER_LETTERS}"
    fi
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
    [ -z "$owner" ] || echo "$owner" >"$STATE/owner"
    echo "$port" >"$STATE/port"
    if [ "$brokers" -eq 1 ]; then
        echo broker
    else
        for i in $(seq 0 $((brokers - 1))); do
            echo "broker-${BROKER_LETTERS:$i:1}"
        done
    fi >"$STATE/brokers"
    local list=""
    for host in $(broker_hosts); do
        list+="${list:+,}$(endpoint_of "$host")"
    done
    echo "$list" >"$STATE/endpoint"
    {
        broker_hosts
        [ -z "$client" ] || echo client
        for i in $(seq "$workers"); do echo "w$i"; done
    } >"$STATE/hosts"

    make_network
    if [ -n "$net_only" ]; then
        trap - EXIT
        echo "cluster $NAME up: hosts $(host_list), brokers $(endpoint), no processes"
        return 0
    fi
    start_farm "$port" "$heartbeat" "$workers" "$processes" "$local_workers" \
               "${worker_args[@]}"
    trap - EXIT
    echo "cluster $NAME up: brokers $(endpoint); $workers worker hosts" \
         "x $processes processes, $local_workers local per broker"
    echo "try: $SELF --name $NAME exec $(broker_hosts | head -n 1) zfarm" \
         "call $service 1000000"
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

# Counts the workers the broker on broker host $1 reports as ready or busy
# (-1: no answer).
registered () {
    local json
    json=$(ip netns exec "$(ns_of "$1")" "$BIN_DIR/zfarm" status \
               --broker "$(endpoint_of "$1")" --timeout 1000 --json 2>/dev/null) \
        || { echo -1; return; }
    echo "$json" | { grep -o '"state":"\(ready\|busy\)"' || true; } | wc -l
}

# Starts the broker on broker host $1 with the arguments 'up' saved, bound
# to that host's address, and waits (10 s at most) until it listens.
start_broker () {
    local host=$1 args=() file
    mapfile -d '' args <"$STATE/broker.args"
    file=$STATE/$host.endpoints
    rm -f "$file"
    start_on "$host" broker "$BIN_DIR/zfarm-broker" --bind "$(endpoint_of "$host")" \
        --endpoint-file "$file" "${args[@]}"
    for _ in $(seq 100); do
        [ -s "$file" ] && return 0
        alive "$(cat "$STATE/pids/$host.broker.pid")" \
            || { cat "$STATE/logs/$host.broker.log" >&2; false; }
        sleep 0.1
    done
    note "the broker on $host did not bind in 10 s"
    false
}

start_farm () {
    local port=$1 heartbeat=$2 workers=$3 processes=$4 local_workers=$5
    shift 5
    local broker_args=(--heartbeat "$heartbeat")
    if [ "$local_workers" -gt 0 ]; then
        broker_args+=(--spawn "$local_workers" --worker-cmd
                      "exec $(printf '%q ' "$BIN_DIR/zfarm-worker" "$@")")
    fi
    printf '%s\0' "${broker_args[@]}" >"$STATE/broker.args"
    echo "$BIN_DIR" >"$STATE/bin-dir"
    for host in $(broker_hosts); do
        start_broker "$host"
    done

    # A worker host runs its processes under one supervisor, which
    # replaces any that dies; each process serves every broker.
    for i in $(seq "$workers"); do
        start_on "w$i" workers "$BIN_DIR/zfarm-worker" --broker "$(endpoint)" \
            --processes "$processes" "$@"
    done

    local brokers=()
    mapfile -t brokers < <(broker_hosts)
    wait_registered $((workers * processes + local_workers)) "${brokers[@]}"
}

# Waits (20 s at most) until each broker host's broker after $1 reports $1
# workers or more.
wait_registered () {
    local expected=$1 count=-1 host; shift
    for host in "$@"; do
        for _ in $(seq 40); do
            count=$(registered "$host")
            [ "$count" -ge "$expected" ] && break
            sleep 0.5
        done
        if [ "$count" -lt "$expected" ]; then
            note "only $count of $expected workers registered with the" \
                 "broker on $host in 20 s; logs:"
            tail -n 5 "$STATE"/logs/*.log >&2 || true
            return 1
        fi
    done
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

# A one-way cut: blackhole routes in HOST's namespace drop what it sends to
# the hosts TO (by default the broker hosts, or for a broker host every
# other host), while what they send still arrives (reverse path filtering
# off, or the kernel would drop that too, for want of a route back).
# Unmuting removes every blackhole route of HOST.
mute_set () {
    local host=$1 mute=$2 ns to=(); shift 2
    require_host "$host"
    ns=$(ns_of "$host")
    if [ "$mute" = on ]; then
        if [ $# -gt 0 ]; then
            to=("$@")
        elif is_broker_host "$host"; then
            mapfile -t to < <(hosts | grep -vx -- "$host")
        else
            mapfile -t to < <(broker_hosts)
        fi
        for peer in "${to[@]}"; do
            require_host "$peer"
            [ "$peer" != "$host" ] || die "mute: $host cannot mute itself"
        done
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.eth0.rp_filter=0
        for peer in "${to[@]}"; do
            ip -n "$ns" route replace blackhole "$(addr_of "$peer")/32"
        done
    else
        local routes
        routes=$(ip -n "$ns" route show type blackhole | awk '{print $2}')
        for route in $routes; do
            ip -n "$ns" route del blackhole "$route" 2>/dev/null || true
        done
    fi
}

# SIGKILLs the broker that 'up' started on broker host $1.
kill_broker () {
    local host=$1 pid
    pid=$(our_pid "$STATE/pids/$host.broker.pid") \
        || die "kill-broker: no broker of this cluster runs on $host"
    kill -KILL "$pid"
    wait_gone 50 "$pid" || die "kill-broker: $pid still runs after 5 s"
    echo "broker on $host ($pid) killed"
}

restart_broker () {
    local host=$1
    [ -f "$STATE/broker.args" ] \
        || die "start-broker: this cluster was made with --net-only"
    if our_pid "$STATE/pids/$host.broker.pid" >/dev/null; then
        die "start-broker: the broker on $host still runs"
    fi
    BIN_DIR=$(cat "$STATE/bin-dir")
    find_bin_dir
    start_broker "$host"
    echo "broker on $host started again: $(endpoint_of "$host")"
}

cmd_status () {
    [ -f "$STATE/hosts" ] || die "status: cluster '$NAME' has no state in $STATE"
    echo "cluster $NAME, brokers $(endpoint)"
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
    for host in $(broker_hosts); do
        if our_pid "$STATE/pids/$host.broker.pid" >/dev/null; then
            echo
            echo "$host:"
            find_bin_dir
            ip netns exec "$(ns_of "$host")" "$BIN_DIR/zfarm" status \
                --broker "$(endpoint_of "$host")" --timeout 2000 || true
        fi
    done
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
        mute) [ $# -ge 1 ] || die "usage: mute HOST [TO...]"
              resolve_name; mute_set "$1" on "${@:2}" ;;
        unmute) [ $# -eq 1 ] || die "usage: unmute HOST"
                resolve_name; mute_set "$1" off ;;
        exec) [ $# -ge 2 ] || die "usage: exec HOST COMMAND [ARGS...]"
              resolve_name; require_host "$1"; exec_on "$@" ;;
        kill-broker|start-broker)
            [ $# -le 1 ] || die "usage: $command [HOST]"
            resolve_name
            local host
            host=$(broker_host_arg "${1:-}") || exit 1
            if [ "$command" = kill-broker ]; then
                kill_broker "$host"
            else
                restart_broker "$host"
            fi ;;
        endpoint)
            [ $# -le 1 ] || die "usage: endpoint [HOST]"
            resolve_name
            if [ $# -eq 1 ]; then
                local host
                host=$(broker_host_arg "$1") || exit 1
                endpoint_of "$host"
            else
                endpoint
            fi ;;
        list) list_names ;;
        prune) cmd_prune ;;
        help) usage ;;
        *) die "unknown command '$command' (see --help)" ;;
    esac
}

main "$@"
