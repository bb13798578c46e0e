#!/bin/bash
# deploy_check.sh: the files in deploy/, checked as far as this machine
# allows. The systemd units, installed into a temporary prefix (so their
# paths point there), must pass `systemd-analyze verify` with no warning and
# keep their hardening (`systemd-analyze security`); their ExecStart lines,
# expanded as systemd would with the example environment files, must start a
# broker, its local pool and a worker that answer `zfarm call`. The image
# layout is emulated (the Dockerfile's install step into a staging root),
# checked to need only the runtime packages the Dockerfile installs,
# and the compose and Kubernetes files (the KEDA overlay too) must parse
# and agree with it; the worker pods' probes run against real brokers.
#
# A part whose tool is missing is skipped with a message saying so; if
# systemd-analyze or python3's yaml module (both installed by
# deploy/install-deps.sh --test) is missing, the test exits 77 (ctest:
# skipped) after the other parts pass. kubectl and docker are optional.
# docker build itself cannot run without a Docker engine.
# Usage: deploy_check.sh BUILD_DIR SOURCE_DIR LIBDIR [EXTRA_FLAGS]
set -euo pipefail
build=$1
source=$2
libdir_rel=$3
extra=${4:-}
deploy=$source/deploy
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/zfarm-deploy-XXXXXX")
pids=()
cleanup () {
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

step () { printf '== %s\n' "$*"; }
fail () { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skipped=""
skip () { printf 'SKIP: %s\n' "${*:2}"; skipped="$skipped $1"; }

prefix=$tmp/prefix
step "cmake --install --component Runtime, Service into $prefix"
for component in Runtime Service; do
    cmake --install "$build" --prefix "$prefix" --component "$component" \
        >>"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install $component"; }
done
broker_unit=$(find "$prefix" -name zfarm-broker.service)
worker_unit=$(find "$prefix" -name 'zfarm-worker@.service')
[ -n "$broker_unit" ] && [ -n "$worker_unit" ] \
    || fail "no units installed (configured with -DZFARM_INSTALL_SYSTEMD=OFF?)"
for unit in "$broker_unit" "$worker_unit"; do
    grep -q "^ExecStart=$prefix/bin/" "$unit" \
        || fail "$(basename "$unit"): ExecStart does not point into the install prefix"
done

if command -v systemd-analyze >/dev/null; then
    step "systemd-analyze verify"
    units=$tmp/units
    mkdir "$units"
    cp "$broker_unit" "$worker_unit" "$units/"
    cp "$worker_unit" "$units/zfarm-worker@primes.service"
    for unit in "$units"/*; do
        if ! systemd-analyze verify --man=no "$unit" >"$tmp/verify.out" 2>&1 \
        || [ -s "$tmp/verify.out" ]; then
            cat "$tmp/verify.out"
            fail "systemd-analyze verify $(basename "$unit")"
        fi
    done
    step "systemd-analyze security: exposure at most 2.0"
    for unit in "$units"/*; do
        systemd-analyze security --offline=true --threshold=20 "$unit" \
            >"$tmp/security.out" 2>&1 \
            || { grep -E '✗|Overall' "$tmp/security.out"; fail "hardening of $(basename "$unit")"; }
        grep 'Overall' "$tmp/security.out"
    done
else
    skip systemd "systemd-analyze not found (Debian: apt-get install systemd): the units were not verified"
fi

step "the units' command lines, as systemd expands them, with the example settings"
command -v python3 >/dev/null || fail "python3 not found"
etc=$(sed -n 's/^EnvironmentFile=-\(.*\)\/broker\.env$/\1/p' "$broker_unit")
examples=$(dirname "$(find "$prefix" -name broker.env)")
mkdir -p "$etc"
endpoint=ipc://$tmp/broker.ipc
cp "$examples/broker.env" "$examples/worker.env" "$etc/"
# The example config, edited as an operator would: a private endpoint, an
# ephemeral HTTP port, one local worker.
sed -e "s|^\( *bind = \).*|\1\"$endpoint\"|" \
    -e 's|^\( *http = \).*|\1"127.0.0.1:0"|' \
    -e 's|^\( *spawn = \).*|\11|' "$examples/broker.cfg" >"$etc/broker.cfg"
grep -q "^    spawn = 1$" "$etc/broker.cfg" || fail "could not edit broker.cfg"
# unit_run LOG UNIT INSTANCE [NAME=VALUE...]: starts what the unit would.
unit_run () {
    local log=$1; shift
    local argv=()
    mapfile -d '' argv < <(python3 "$here/unit_argv.py" "$@")
    [ "${#argv[@]}" -gt 0 ] || fail "no command from $2"
    "${argv[@]}" 2>"$tmp/$log.err" &
    pids+=($!)
}
# The broker as broker.env and broker.cfg set it up; a worker as worker.env
# sets up every instance; one instance with the defaults alone ("echo":
# service echo, module echo.so).
unit_run broker "$broker_unit" ""
unit_run worker-1 "$worker_unit" 1 ZFARM_BROKER="$endpoint"
rm "$etc/worker.env"
unit_run worker-echo "$worker_unit" echo ZFARM_BROKER="$endpoint"
zfarm=$prefix/bin/zfarm
call () {
    "$zfarm" call --broker "$endpoint" --timeout 20000 "$@" \
        || { cat "$tmp"/*.err; fail "zfarm call $*"; }
}
[ "$(call primes 1000)" = 168 ] || fail "primes 1000 is not 168"
[ "$(call echo 'from the echo instance')" = "from the echo instance" ] \
    || fail "echo instance"
# All three registered: the pool's worker, zfarm-worker@1, zfarm-worker@echo
# (polling the broker's status, for at most 20 s).
for (( try = 0; ; try++ )); do
    json=$("$zfarm" status --broker "$endpoint" --json --timeout 2000 || true)
    workers=$(grep -o '"state":"[a-z]*"' <<<"$json" | wc -l || true)
    [ "$workers" -eq 3 ] && break
    [ "$try" -lt 200 ] || { cat "$tmp"/*.err; fail "expected 3 workers, saw $workers: $json"; }
    sleep 0.1
done
# systemd stops a unit with SIGTERM; each must exit 0 (the worker units
# count 75 as success too, but only --max-tasks gives that).
for pid in "${pids[@]}"; do
    kill -TERM "$pid"
    status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { cat "$tmp"/*.err; fail "pid $pid exited $status on SIGTERM"; }
done
pids=()

step "the image's files, as the Dockerfile installs them"
image=$tmp/image
if [ "$libdir_rel" != lib ]; then
    # The Dockerfile configures LIBDIR=lib; this build's layout differs.
    image=""
    skip image "this build's CMAKE_INSTALL_LIBDIR is $libdir_rel, not lib: the image layout was not emulated"
else
    DESTDIR=$image cmake --install "$build" --prefix /usr --component Runtime \
        --strip >"$tmp/image.log" 2>&1 || { cat "$tmp/image.log"; fail "install into the image root"; }
    runtime=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$deploy/Dockerfile")
    [ -n "$runtime" ] || fail "no ARG RUNTIME_PACKAGES=\"...\" in deploy/Dockerfile"
    # The broker's patched libzmq: in the image, and the one its RUNPATH
    # finds before the system's (cmake/Libzmq.cmake).
    private=""
    if [ "${ZFARM_BROKER_LIBZMQ:-patched}" = patched ]; then
        private=$image/usr/lib/zfarm/libzmq.so.5
        [ -e "$private" ] || fail "the image has no /usr/lib/zfarm/libzmq.so.5"
        # (grep without -q reads all its input: see the awk note below.)
        objdump -T "$private" | grep ' zfarm_libzmq_reserved_ids$' >/dev/null \
            || fail "the image's /usr/lib/zfarm/libzmq.so.5 is not the patched libzmq"
        objdump -p "$image/usr/bin/zfarm-broker" \
            | grep 'RUNPATH *\$ORIGIN/\.\./lib/zfarm:' >/dev/null \
            || fail "the image's zfarm-broker does not look in /usr/lib/zfarm first"
    fi
    if [ -n "$extra" ]; then
        skip runtime-libs "sanitizer build: its programs need the sanitizer runtimes, not only the image's libraries"
    else
        # Every library the programs, libzfarm and the modules load must come
        # from a package the runtime stage installs (or from the base image).
        allowed=" libc6 libgcc-s1 $runtime "
        # owner PATH: the package that ships a library, trying the /lib and
        # /usr/lib spellings of it and of its target (merged /usr: dpkg
        # knows each file by the one name its package used).
        owner () {
            local real candidate
            real=$(readlink -f "$1")
            for candidate in "$1" "/usr${1#/usr}" "${1#/usr}" \
                             "$real" "/usr${real#/usr}" "${real#/usr}"; do
                dpkg -S "$candidate" 2>/dev/null | awk -F: 'NR == 1 { print $1 }' \
                    | grep . && return 0
            done
            return 0
        }
        for elf in "$image"/usr/bin/zfarm* "$image"/usr/lib/libzfarm.so.0 \
                   "$image"/usr/lib/zfarm/modules/*.so $private; do
            for needed in $(objdump -p "$elf" | awk '$1 == "NEEDED" { print $2 }'); do
                [ "$needed" = libzfarm.so.0 ] && continue
                # (awk reads all its input: an early exit would break the
                # pipe, which pipefail counts as a failure.)
                path=$(ldconfig -p \
                       | awk -v lib="$needed" '$1 == lib && !path { path = $NF } END { print path }')
                [ -n "$path" ] || fail "$elf needs $needed, which this machine lacks"
                package=$(owner "$path")
                case "$allowed" in
                    *" $package "*) ;;
                    *) fail "$(basename "$elf") needs $needed from package '$package', which the image does not install" ;;
                esac
            done
        done
    fi
fi

step "compose.yaml, k8s/ and k8s-keda/"
status=0
python3 "$here/check_manifests.py" "$deploy" ${image:+"$image"} || status=$?
case $status in
    0) ;;
    77) skipped="$skipped yaml" ;;
    *) fail "compose.yaml, k8s/ or k8s-keda/" ;;
esac
if command -v kubectl >/dev/null; then
    for dir in k8s k8s-keda; do
        kubectl kustomize "$deploy/$dir" >"$tmp/$dir.out" 2>&1 \
            || { cat "$tmp/$dir.out"; fail "kubectl kustomize deploy/$dir"; }
        echo "kubectl kustomize deploy/$dir: builds"
    done
    grep -q '^kind: ScaledObject$' "$tmp/k8s-keda.out" \
        || fail "kubectl kustomize deploy/k8s-keda: no ScaledObject"
else
    skip kustomize "kubectl not found: the kustomizations were not built (check_manifests.py read their files)"
fi
if docker compose version >/dev/null 2>&1; then
    docker compose -f "$deploy/compose.yaml" config --quiet \
        || fail "docker compose config"
    echo "docker compose config: valid"
else
    skip compose "docker compose not found: compose.yaml was checked by check_manifests.py only"
fi

# The worker pod's probes, as the kubelet runs them (sh -c), against real
# brokers: two that list this host's worker, one that does not, and an
# endpoint where no broker listens.
step "k8s/worker.yaml's probes against real brokers"
probe_script () {
    python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        print(d["spec"]["template"]["spec"]["containers"][0][sys.argv[2]]["exec"]["command"][2])' \
        "$deploy/k8s/worker.yaml" "$1"
}
if ! python3 -c 'import yaml' 2>/dev/null; then
    skip probes "python3 has no yaml module: the worker probes were not run"
else
    readiness=$(probe_script readinessProbe)
    liveness=$(probe_script livenessProbe)
    for name in a b lone; do
        "$prefix/bin/zfarm-broker" --bind "ipc://$tmp/probe-$name.ipc" \
            2>"$tmp/probe-$name.err" &
        pids+=($!)
    done
    "$prefix/bin/zfarm-worker" --broker "ipc://$tmp/probe-a.ipc,ipc://$tmp/probe-b.ipc" \
        --service primes --module "$(find "$prefix" -name primes.so)" \
        2>"$tmp/probe-worker.err" &
    pids+=($!)
    # probe NAME SCRIPT EXPECTED BROKERS: runs SCRIPT with ZFARM_BROKER=BROKERS
    probe () {
        local status=0
        ZFARM_BROKER=$4 PATH="$prefix/bin:$PATH" sh -c "$2" >/dev/null 2>&1 || status=$?
        [ "$status" -eq "$3" ] || { cat "$tmp"/probe-*.err; fail "$1: exit $status, not $3"; }
        echo "$1: exit $status"
    }
    both="ipc://$tmp/probe-a.ipc,ipc://$tmp/probe-b.ipc"
    for (( try = 0; ; try++ )); do
        ZFARM_BROKER=$both PATH="$prefix/bin:$PATH" sh -c "$liveness" >/dev/null 2>&1 \
            && ZFARM_BROKER=ipc://$tmp/probe-b.ipc PATH="$prefix/bin:$PATH" \
               sh -c "$liveness" >/dev/null 2>&1 && break
        [ "$try" -lt 200 ] || { cat "$tmp"/probe-*.err; fail "the worker did not register with both brokers"; }
        sleep 0.1
    done
    probe "readiness, registered with both" "$readiness" 0 "$both"
    probe "liveness, registered with both" "$liveness" 0 "$both"
    probe "readiness, only a broker that does not list it" "$readiness" 1 "ipc://$tmp/probe-lone.ipc"
    probe "liveness, a broker that does not list it" "$liveness" 1 "$both,ipc://$tmp/probe-lone.ipc"
    probe "liveness, a broker that does not answer" "$liveness" 0 "$both,ipc://$tmp/probe-none.ipc"
fi
echo "NOTE: docker build needs a Docker engine and is not run here; the image's install step is emulated above"

case " $skipped " in
    *" systemd "*) echo "deploy check: passed, but the systemd units were NOT verified"; exit 77 ;;
    *" yaml "*) echo "deploy check: passed, but compose.yaml, k8s/ and k8s-keda/ were NOT checked"; exit 77 ;;
esac
echo "deploy check passed${skipped:+ (skipped:$skipped)}"
