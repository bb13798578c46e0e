#!/bin/sh
# Installs what zfarm needs to build and test on Debian 12: packages with
# apt-get, then the patched libzmq that zfarm-broker links
# (deploy/build-libzmq.sh; a no-op once it is built).
# Usage: deploy/install-deps.sh [--test] [--bench] [--system-libzmq]
#   --test           adds the test tools
#   --bench          adds what tests/bench compares against (beanstalkd)
#   --system-libzmq  skips the patched libzmq, for a build configured with
#                    -DZFARM_SYSTEM_LIBZMQ=ON (see deploy/README.md)
set -eu
here=$(cd "$(dirname "$0")" && pwd)

test_tools=no
bench_tools=no
patched_libzmq=yes
for arg in "$@"; do
    case $arg in
        --test) test_tools=yes ;;
        --bench) bench_tools=yes ;;
        --system-libzmq) patched_libzmq=no ;;
        *) echo "usage: $0 [--test] [--bench] [--system-libzmq]" >&2; exit 2 ;;
    esac
done

# libsodium-dev: CURVE in the patched libzmq, and the CURVE test's own
# handshake; dpkg-dev: dpkg-source unpacks Debian's libzmq source;
# liblmdb-dev: the broker's journal of detached tasks (issue 17);
# clang-format (14 on Debian 12): test_format, tests/style/check_format.sh.
packages="build-essential cmake pkg-config libzmq3-dev libczmq-dev libmsgpack-dev
          libmicrohttpd-dev libsodium-dev dpkg-dev liblmdb-dev"
if [ "$test_tools" = yes ]; then
    packages="$packages clang libclang-rt-14-dev valgrind iproute2 procps
              chromium systemd man-db groff-base python3-yaml clang-format"
fi
if [ "$bench_tools" = yes ]; then
    packages="$packages beanstalkd"
fi

missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $package"
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing:$missing" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ "$patched_libzmq" = yes ]; then
    "$here/build-libzmq.sh"
fi
