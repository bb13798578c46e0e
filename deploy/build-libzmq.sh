#!/bin/sh
# build-libzmq.sh: builds the libzmq that zfarm-broker links (see
# deploy/libzmq/README.md) and installs it into a private prefix.
#
# The source is Debian's own zeromq3, at the version of the libzmq5 package
# installed here (the one czmq was built against), fetched with apt-get
# from a temporary deb-src list of this machine's Debian mirror, unpacked
# by dpkg-source (which applies debian/patches/series); then our patch, and
# libzmq's CMake build: no drafts, libsodium for CURVE, no tests, docs or
# perf tools. The result is libzmq.so.5 in PREFIX/lib.
#
# Idempotent: PREFIX/zfarm-libzmq.stamp records what was built (the
# patch's SHA-256, the source version, the build revision below); when it
# matches, nothing is done. Concurrent runs wait for each other.
#
# Usage: deploy/build-libzmq.sh [--prefix DIR]
#   default prefix: $ZFARM_LIBZMQ_PREFIX, else /opt/zfarm/libzmq (the
#   default of CMake's ZFARM_LIBZMQ_PREFIX). Run as root, or with sudo:
#   only the install into PREFIX uses it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
patch_file=$here/libzmq/router-reserved-ids.patch
prefix=${ZFARM_LIBZMQ_PREFIX:-/opt/zfarm/libzmq}
if [ "${1:-}" = --prefix ] && [ -n "${2:-}" ]; then
    prefix=$2
fi
# Bump when the configure flags below change, so that builds are redone.
build_revision=1

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

version=$(dpkg-query -W -f='${Version}' libzmq5 2>/dev/null) || {
    echo "build-libzmq.sh: the libzmq5 package is not installed (deploy/install-deps.sh installs it)" >&2
    exit 1
}
key="patch $(sha256sum <"$patch_file" | cut -d' ' -f1)
source zeromq3 $version
build $build_revision"
stamp=$prefix/zfarm-libzmq.stamp

is_built () {
    [ -e "$prefix/lib/libzmq.so.5" ] && [ -f "$stamp" ] \
        && [ "$(cat "$stamp")" = "$key" ]
}
is_built && exit 0

# One build at a time: a lock on the prefix's parent directory.
parent=$(dirname "$prefix")
$sudo mkdir -p "$parent"
exec 9<"$parent"
flock 9
is_built && exit 0          # another run built it while we waited

work=$(mktemp -d "${TMPDIR:-/tmp}/zfarm-libzmq-XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
log=$work/build.log
fail () {
    echo "build-libzmq.sh: $1 failed; the last lines of its log:" >&2
    tail -n 30 "$log" >&2
    exit 1
}
echo "building the patched libzmq (zeromq3 $version) into $prefix; about two minutes..." >&2

# A deb-src list of the Debian mirror this machine uses (its deb822 file,
# as Debian 12 ships it), or of deb.debian.org.
sources=$work/debian-src.sources
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$sources"
else
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" \
        "Suites: bookworm bookworm-updates" "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >"$sources"
fi
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
# Private lists and cache, so that the system's apt state is not touched
# and no root is needed; downloads are checked against the signed index.
apt () {
    apt-get -q -o Dir::Etc::SourceList="$sources" \
        -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$work/lists" \
        -o Dir::Cache="$work/cache" -o Debug::NoLocking=1 \
        -o APT::Sandbox::User="$(id -un)" "$@"
}
(cd "$work" && apt update && apt source --download-only "zeromq3=$version") \
    >"$log" 2>&1 || fail "apt-get source zeromq3=$version"

src=$work/src
(cd "$work" && dpkg-source -x zeromq3_*.dsc "$src") >>"$log" 2>&1 \
    || fail "dpkg-source -x"
patch -d "$src" -p1 --forward <"$patch_file" >>"$log" 2>&1 \
    || fail "applying $(basename "$patch_file")"

cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_SKIP_INSTALL_RPATH=ON \
    -DENABLE_DRAFTS=OFF -DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON \
    -DBUILD_SHARED=ON -DBUILD_STATIC=OFF -DBUILD_TESTS=OFF \
    -DWITH_PERF_TOOL=OFF -DWITH_DOCS=OFF -DENABLE_CPACK=OFF \
    >>"$log" 2>&1 || fail "cmake (configure)"
grep -q "Using libsodium for CURVE security" "$log" \
    || fail "cmake (found no libsodium: CURVE would be missing)"
cmake --build "$work/build" -j "$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1 \
    || fail "cmake --build"
DESTDIR=$work/stage cmake --install "$work/build" >>"$log" 2>&1 \
    || fail "cmake --install"
printf '%s\n' "$key" >"$work/stage$prefix/zfarm-libzmq.stamp"

# Swap the new tree in whole: a broker already running keeps the library
# it mapped, and a failed build leaves the old tree as it was.
$sudo rm -rf "$prefix.new" "$prefix.old"
$sudo cp -a "$work/stage$prefix" "$prefix.new"
$sudo chown -R 0:0 "$prefix.new"
[ ! -e "$prefix" ] || $sudo mv "$prefix" "$prefix.old"
$sudo mv "$prefix.new" "$prefix"
$sudo rm -rf "$prefix.old"
echo "installed $prefix/lib/libzmq.so.5" >&2
