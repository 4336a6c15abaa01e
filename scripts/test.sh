#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (the dev preset: GCC, debug, every test).
#
# Usage: scripts/test.sh [preset...]   (default: dev)
# CI (.ci/run) also runs the sanitizer presets through this script:
#   asan   Clang with AddressSanitizer + UndefinedBehaviorSanitizer; test preset asan-ci (every
#          test but those labelled slow, which the dev run has already run)
#   tsan   GCC with ThreadSanitizer; test preset tsan-ci (the programs TSan runs clean:
#          docs/sanitizers.md)
# Those two build only the targets their test preset runs. Each step's time is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(dev)

# The test preset each configure preset is tested with.
test_preset_of() {
    case $1 in
        asan) echo asan-ci ;;
        tsan) echo tsan-ci ;;
        *) echo "$1" ;;
    esac
}

# What the given test preset needs built: every program its tests name (as the command or as an
# argument, such as a program that a CMake script runs), as Ninja outputs relative to the build
# folder, and the library. Tests that run only CMake or the compiler, such as the header checks,
# need nothing more. ctest names the tests; their command lines come from the
# CTestTestfile.cmake files, since ctest shows no command for a program not yet built.
targets_of() {
    local build=build/$2
    ctest --preset "$1" --show-only=json-v1 | python3 -c '
import json, pathlib, re, sys
build = pathlib.Path(sys.argv[1]).resolve()
outputs = set(sys.argv[2].split())
wanted = {test["name"] for test in json.load(sys.stdin)["tests"]}
targets = {"QDispatch"}
for testfile in build.rglob("CTestTestfile.cmake"):
    for name, args in re.findall(r"^add_test\(\[=\[(.*?)\]=\] (.*)\)$", testfile.read_text(), re.M):
        if name not in wanted:
            continue
        for arg in re.findall(r"\"([^\"]*)\"", args):
            path = pathlib.Path(arg.split("=", 1)[-1]).resolve()
            if build in path.parents and str(path.relative_to(build)) in outputs:
                targets.add(str(path.relative_to(build)))
print(" ".join(sorted(targets)))' "$build" "$(ninja -C "$build" -t targets all | cut -d: -f1)"
}

status=0
for preset in "${presets[@]}"; do
    test_preset=$(test_preset_of "$preset")
    t0=$SECONDS
    echo "== ${preset}: configure and build"
    cmake --preset "$preset" >/dev/null
    if [ "$test_preset" = "$preset" ]; then
        cmake --build --preset "$preset"
    else
        # shellcheck disable=SC2046 # one word per target
        cmake --build --preset "$preset" --target $(targets_of "$test_preset" "$preset")
    fi
    t1=$SECONDS
    echo "== ${preset}: test (test preset ${test_preset})"
    if ! ctest --preset "$test_preset" -j2; then
        echo "== ${preset}: FAILED" >&2
        status=1
    fi
    echo "== ${preset}: build $((t1 - t0)) s, test $((SECONDS - t1)) s"
done
exit $status
