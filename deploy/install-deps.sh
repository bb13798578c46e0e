#!/bin/sh
# Installs what zfarm needs to build and test on Debian 12, with apt-get.
# Usage: deploy/install-deps.sh [--test]   (--test adds the test tools)
set -eu

packages="build-essential cmake pkg-config libzmq3-dev libczmq-dev libmsgpack-dev
          libmicrohttpd-dev"
if [ "${1:-}" = "--test" ]; then
    packages="$packages clang libclang-rt-14-dev valgrind iproute2 procps
              chromium systemd man-db groff-base python3-yaml"
fi

missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
