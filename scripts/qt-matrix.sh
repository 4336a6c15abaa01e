#!/usr/bin/env bash
# The Qt matrix: builds the matrix preset (the dev build without debug information, warnings
# as errors) and runs every test but load and chains (which the dev build runs once) against the
# Qt 6 of other Debian releases, each in a minimal Debian root made with
# debootstrap. Run as root on Debian.
#
# Usage: scripts/qt-matrix.sh [--roots-only] [suite...]   (default: trixie forky)
#   --roots-only: make or check the cached roots, build and test nothing.
#   trixie: Debian 13, Qt 6.8.   forky: Debian testing, Qt 6.11 at the time of writing.
#
# Roots are cached in ${QDISPATCH_CACHE_DIR:-/var/cache/qdispatch}/roots/<suite> and reused;
# a root whose last debootstrap did not finish, or that no longer has a working cmake and
# qmake6, is made again. The source tree is bind-mounted read-only into the root at /src and
# build/qt-<suite>/ of the source tree is mounted over its build/ folder, so inside the root
# the project's own presets run (`cmake --preset matrix` builds in build/matrix there) and
# nothing of the host's build/ is touched. The mounts live in a private mount namespace and go
# when the suite is done, also when it fails.
#
# Environment:
#   QDISPATCH_CACHE_DIR       where the roots are kept (default /var/cache/qdispatch)
#   QDISPATCH_DEBIAN_MIRROR   the Debian mirror (default: the one apt uses on this machine)
#   QDISPATCH_MATRIX_PRESETS  configure/build/test presets to run in each root (default: matrix)
#   QDISPATCH_MATRIX_PLANT    <suite>:build or <suite>:test plants a failure in that suite's
#                             build or test run (QDISPATCH_PLANTED_FAILURE in tests/CMakeLists.txt),
#                             to prove that a failure in a root fails the matrix and CI
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

roots_only=false
if [ "${1:-}" = "--roots-only" ]; then
    roots_only=true
    shift
fi
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(trixie forky)
cache=${QDISPATCH_CACHE_DIR:-/var/cache/qdispatch}
read -r -a presets <<< "${QDISPATCH_MATRIX_PRESETS:-matrix}"

# What the build and every test need inside a root: Qt (Core, Gui, Widgets, Test, Concurrent),
# the compilers of the header tests, lld (the presets' linker), QCoro for tst_qcoro, git for the FetchContent consumer.
# The tests run on QT_QPA_PLATFORM=offscreen, so no X server.
root_packages=qt6-base-dev,libgl-dev,cmake,ninja-build,g++,clang,lld,git,qcoro-qt6-dev

log() { echo "== qt-matrix $*"; }
fail() { echo "== qt-matrix $*: FAILED" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "qt-matrix: needs root (debootstrap, chroot, mount)" >&2
    exit 1
fi

# debian_mirror, in_root and ensure_root.
. "$src/scripts/debian-roots.sh"

# A root is usable when its cmake and qmake6 run.
root_works() {
    local root=$1
    in_root "$root" cmake --version >/dev/null 2>&1 &&
        in_root "$root" qmake6 -query QT_VERSION >/dev/null 2>&1
}

# Runs inside a private mount namespace (see the end of the file): mounts, builds, tests.
# Arguments: suite root.
run_suite() {
    local suite=$1 root=$2
    local build=$src/build/qt-$suite
    mkdir -p "$build" "$root/src" "$root/proc" "$root/dev"
    # Nothing mounted here may propagate back to the host's mounts.
    mount --make-rprivate /
    # Expanded now: `root` is local, and gone when the trap runs at exit.
    # shellcheck disable=SC2064
    trap "umount -R '$root/src' 2>/dev/null; umount '$root/proc' 2>/dev/null; umount '$root/dev' 2>/dev/null; true" EXIT
    mount --bind "$src" "$root/src"
    mount -o remount,bind,ro "$root/src"
    mount --bind "$build" "$root/src/build"
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"

    local status=0 preset t0 t1 secs step
    # QDISPATCH_PLANTED_FAILURE is always given, so a planted failure never stays in the cache.
    local plant=""
    case "${QDISPATCH_MATRIX_PLANT:-}" in
        "$suite":*)
            plant=${QDISPATCH_MATRIX_PLANT#*:}
            log "$suite: planting a $plant failure (QDISPATCH_MATRIX_PLANT)"
            ;;
    esac
    for preset in "${presets[@]}"; do
        step="build ($preset)"
        log "$suite: $step: cmake --preset $preset && cmake --build --preset $preset"
        t0=$(date +%s)
        if ! in_root "$root" bash -c 'cd /src && cmake --preset "$1" -DQDISPATCH_PLANTED_FAILURE="$2" >/dev/null &&
                                     cmake --build --preset "$1" -j2' bash "$preset" "$plant"; then
            fail "$suite: $step"
            status=1
            continue
        fi
        t1=$(date +%s)
        secs=$((t1 - t0))
        log "$suite: $step took ${secs} s"
        echo "$suite $preset build $secs" >> "$timings"

        step="test ($preset)"
        log "$suite: $step: ctest --preset $preset"
        t0=$(date +%s)
        if ! in_root "$root" bash -c 'cd /src && ctest --preset "$1" -j2' bash "$preset"; then
            fail "$suite: $step"
            status=1
        fi
        t1=$(date +%s)
        secs=$((t1 - t0))
        log "$suite: $step took ${secs} s"
        echo "$suite $preset test $secs" >> "$timings"
    done
    return $status
}

if [ "${1:-}" = "--run-suite" ]; then
    # Re-entered by the loop below inside `unshare --mount`.
    timings=$4
    run_suite "$2" "$3"
    exit $?
fi

timings=$(mktemp)
trap 'rm -f "$timings"' EXIT
failed=()
for suite in "${suites[@]}"; do
    root=$cache/roots/$suite
    log "$suite: root"
    if ! ensure_root "$suite" "$root" "$root_packages" root_works; then
        fail "$suite: making the root"
        failed+=("$suite: root")
        continue
    fi
    log "$suite: Qt $(in_root "$root" qmake6 -query QT_VERSION)"
    $roots_only && continue
    if ! unshare --mount --propagation private "$src/scripts/qt-matrix.sh" --run-suite "$suite" "$root" "$timings"; then
        failed+=("$suite")
    fi
done

echo "== qt-matrix: times (seconds)"
column -t "$timings" 2>/dev/null || cat "$timings"
if [ ${#failed[@]} -gt 0 ]; then
    echo "== qt-matrix: FAILED: ${failed[*]}" >&2
    exit 1
fi
if $roots_only; then
    echo "== qt-matrix: roots ready: ${suites[*]}"
else
    echo "== qt-matrix: every suite built and passed: ${suites[*]}"
fi
