#!/usr/bin/env bash
# E1 and E2 (the shared library): builds QDispatch's Debian packages from debian/ and proves
# them. Run as root on Debian 12.
#   1. dpkg-buildpackage -us -uc -b on a copy of the tree in build/debian/ (build dependencies:
#      Debian's, scripts/setup.sh installs them): libqdispatch0.1, libqdispatch-dev,
#      qdispatch-demo.
#   2. lintian on them: any error fails (warnings are printed; docs/packaging.md explains the
#      ones left).
#   3. scripts/check-exports.sh on the packaged libqdispatch.so (its self-test first).
#   4. A clean Debian 12 root, made with debootstrap and cached like the Qt matrix's, which has
#      never seen the source tree: only the .debs and the consumer projects (examples/ and
#      tests/pkgconfig/) are copied in. There `apt-get install ./*.deb`, then every example is
#      built with find_package(QDispatch) and run headless, a qmake and a Meson consumer build
#      through qdispatch.pc and run, and qdispatch-demo --selftest runs.
# The cached root is never changed: each run works on an overlay of it in memory, which goes
# when the run ends. It holds the consumers' tools (compiler, CMake, Meson, pkg-config) and, in
# apt's cache, the Qt packages that the .debs depend on, downloaded but not installed, so that
# apt-get install resolves the packages' dependencies itself without fetching them again.
#
# Usage: scripts/debian-package.sh [--no-root | --root-only]
#   --no-root: steps 1 to 3 only.   --root-only: make or check the cached clean root, nothing else
#   (.ci/run makes the roots in the background while it builds).
# Environment: QDISPATCH_CACHE_DIR, QDISPATCH_DEBIAN_MIRROR (scripts/debian-roots.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
out=$src/build/debian
suite=bookworm
root=${QDISPATCH_CACHE_DIR:-/var/cache/qdispatch}/roots/$suite-clean

log() { echo "== debian-package $*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "debian-package: needs root (debootstrap, chroot, mount)" >&2
    exit 1
fi

if [ "${1:-}" = "--in-namespace" ]; then
    in_namespace=true
else
    in_namespace=false
fi

# debian_mirror, in_root and ensure_root.
. "$src/scripts/debian-roots.sh"

# The consumers' tools; the Qt packages come from the .debs' dependencies.
root_packages=g++,make,cmake,ninja-build,pkg-config,meson
qt_packages=(qt6-base-dev libgl-dev)

root_works() {
    local root=$1
    in_root "$root" cmake --version >/dev/null 2>&1 &&
        in_root "$root" meson --version >/dev/null 2>&1 &&
        ! in_root "$root" dpkg-query -W qt6-base-dev >/dev/null 2>&1
}

# Fills apt's lists and its cache of downloaded packages with what the .debs will pull in.
root_prepare() {
    local root=$1
    in_root "$root" apt-get update -q
    in_root "$root" apt-get install -y -q --no-install-recommends --download-only "${qt_packages[@]}"
}

# Steps 4's work, inside a private mount namespace: the overlay, the install, the consumers.
check_in_root() {
    local run=$out/root
    mount --make-rprivate /
    mkdir -p "$run"
    mount -t tmpfs tmpfs "$run"
    mkdir -p "$run/upper" "$run/work" "$run/merged"
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$run/upper,workdir=$run/work" "$run/merged"
    local merged=$run/merged
    trap "umount '$merged/proc' '$merged/dev' 2>/dev/null; umount '$merged' 2>/dev/null; umount '$run' 2>/dev/null; true" EXIT
    mount -t proc proc "$merged/proc"
    mount --bind /dev "$merged/dev"

    # What enters the root: the packages, and projects that use QDispatch as a user's would.
    mkdir -p "$merged/tmp/debs" "$merged/tmp/consumers/tests/package"
    cp "$out"/*.deb "$merged/tmp/debs/"
    cp -r "$src/examples" "$merged/tmp/consumers/"
    cp -r "$src/tests/pkgconfig" "$merged/tmp/consumers/tests/"
    cp "$src/tests/package/consumer.cpp" "$merged/tmp/consumers/tests/package/"

    log "root: apt-get install ./*.deb"
    if ! in_root "$merged" bash -c 'cd /tmp/debs && apt-get install -y -q --no-install-recommends ./*.deb' \
        >"$out/apt-install.log" 2>&1; then
        cat "$out/apt-install.log"
        return 1
    fi
    grep -E '^[0-9]+ upgraded, [0-9]+ newly installed' "$out/apt-install.log"
    in_root "$merged" dpkg-query -W libqdispatch0.1 libqdispatch-dev qdispatch-demo

    local examples
    examples=$(cd "$src/examples" && for d in */CMakeLists.txt; do printf '%s;' "${d%/CMakeLists.txt}"; done)
    log "root: the examples, with find_package(QDispatch): ${examples%;}"
    in_root "$merged" cmake -DEXAMPLES_DIR=/tmp/consumers/examples "-DEXAMPLES=${examples%;}" \
        -DWORK_DIR=/tmp/examples -DGENERATOR=Ninja -P /tmp/consumers/examples/build_installed.cmake
    local tool
    for tool in qmake meson; do
        log "root: the $tool consumer, through qdispatch.pc"
        local program=$tool
        [ "$tool" = qmake ] && program=qmake6
        in_root "$merged" cmake -DTOOL=$tool -DTOOL_PROGRAM=$program -DSOURCE_DIR=/tmp/consumers/tests \
            -DWORK_DIR=/tmp/pkgconfig-$tool -P /tmp/consumers/tests/pkgconfig/run.cmake
    done
    log "root: qdispatch-demo --selftest"
    in_root "$merged" env QT_QPA_PLATFORM=offscreen qdispatch-demo --selftest >"$out/demo-selftest.log" 2>&1 || {
        cat "$out/demo-selftest.log"
        return 1
    }
    tail -n 1 "$out/demo-selftest.log"
}

if $in_namespace; then
    check_in_root
    exit $?
fi

if [ "${1:-}" = "--root-only" ]; then
    ensure_root "$suite" "$root" "$root_packages" root_works root_prepare
    exit 0
fi

t0=$SECONDS
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
upstream=${version%-*}
log "build: dpkg-buildpackage -us -uc -b (qdispatch $version) in build/debian"
rm -rf "$out"
mkdir -p "$out/qdispatch-$upstream"
# The tree as it is (tracked and new files, not ignored ones such as build/).
git ls-files -z --cached --others --exclude-standard | tar -C "$src" --null -T - -cf - |
    tar -C "$out/qdispatch-$upstream" -xf -
if ! (cd "$out/qdispatch-$upstream" && nice -n 10 dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
    tail -n 60 "$out/build.log"
    log "build: FAILED (whole log: build/debian/build.log)" >&2
    exit 1
fi
ls "$out"/*.deb
log "build: $((SECONDS - t0)) s"

log "lintian (errors fail; warnings explained in docs/packaging.md)"
lintian --fail-on error --display-info "$out"/*.changes | tee "$out/lintian.log"
log "lintian: $(grep -c '^E:' "$out/lintian.log" || true) errors, $(grep -c '^W:' "$out/lintian.log" || true) warnings, $(grep -c '^I:' "$out/lintian.log" || true) notes"

log "exported symbols of the packaged library"
scripts/check-exports.sh --self-test
rm -rf "$out/extract"
dpkg-deb -x "$(ls "$out"/libqdispatch0.1_*.deb)" "$out/extract"
scripts/check-exports.sh "$(ls "$out"/extract/usr/lib/*/libqdispatch.so.0.1)"

if [ "${1:-}" = "--no-root" ]; then
    exit 0
fi

t1=$SECONDS
log "root: $suite"
ensure_root "$suite" "$root" "$root_packages" root_works root_prepare
unshare --mount --propagation private "$src/scripts/debian-package.sh" --in-namespace
log "root: $((SECONDS - t1)) s; all: $((SECONDS - t0)) s"
log "the packages built, passed lintian and the export check, installed into a clean $suite root, and their consumers built and ran there"
