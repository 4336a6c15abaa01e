#!/usr/bin/env bash
# Sets up, builds and runs the test suite: the debug build and the ASan+UBSan build (every
# test), then the ThreadSanitizer build (the tests labelled tsan and the TSan canary: test preset
# tsan-ci; docs/sanitizers.md says which tests and why).
# Usage: scripts/test.sh [preset...]   (default: dev asan tsan)
# For tsan the test preset is tsan-ci; `ctest --preset tsan` runs every test under TSan.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(dev asan tsan)

status=0
for preset in "${presets[@]}"; do
    echo "== ${preset}: configure and build"
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset"
    test_preset=$preset
    [ "$preset" != tsan ] || test_preset=tsan-ci
    echo "== ${preset}: test (test preset ${test_preset})"
    if ! ctest --preset "$test_preset" -j2; then
        echo "== ${preset}: FAILED" >&2
        status=1
    fi
done
exit $status
