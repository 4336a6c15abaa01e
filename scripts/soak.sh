#!/usr/bin/env bash
# Long soak of the randomised model test (tests/tst_model.cpp) and the race test
# (tests/tst_races.cpp): runs them over many seeds for a given time in one or more presets and
# prints the figures of each run. A failure prints the seed that replays it.
#
# Usage: scripts/soak.sh [minutes-per-preset] [preset...]   (default: 10 dev)
#   e.g. scripts/soak.sh 10 dev asan
# QDISPATCH_SOAK_BUILD_DIR=<dir>: use the binaries already built in <dir>/tests (one "preset"
#   argument is then only a label), instead of configuring and building the preset.
# Replaying a failing model round: QDISPATCH_MODEL_SEED=<seed> QDISPATCH_MODEL_REPEAT=1 \
#   QDISPATCH_MODEL_ROUNDS=200 build/<preset>/tests/tst_model
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
shift || true
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(dev)

export QT_QPA_PLATFORM=offscreen
# A soak counts every failing round instead of stopping at the first.
export QDISPATCH_MODEL_KEEP_GOING=${QDISPATCH_MODEL_KEEP_GOING:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for preset in "${presets[@]}"; do
    if [ -n "${QDISPATCH_SOAK_BUILD_DIR:-}" ]; then
        bin="${QDISPATCH_SOAK_BUILD_DIR}/tests"
    else
        echo "== ${preset}: build"
        cmake --preset "$preset" >/dev/null
        cmake --build --preset "$preset" --target tst_model tst_races
        bin="build/${preset}/tests"
    fi
    logs=$(dirname "$bin")
    end=$(( $(date +%s) + minutes * 60 ))
    # Chunks of 60 s, each with a fresh base seed, so that a failure is found and reported
    # early and every chunk's seeds are printed.
    while [ "$(date +%s)" -lt "$end" ]; do
        seed=$(( ( $(date +%s%N) / 1000 ) % 1000000007 ))
        log="${logs}/soak-model.log"
        if QDISPATCH_MODEL_SEED=$seed QDISPATCH_MODEL_SECONDS=60 "$bin/tst_model" > "$log" 2>&1; then
            grep -E "tst_model: [0-9]+ rounds" "$log" | sed 's/^.*tst_model: /tst_model: /'
        else
            grep -E "tst_model:|FAIL|C[0-9]+:|X[0-9]+:" "$log" >&2 || tail -20 "$log" >&2
            echo "== ${preset}: tst_model FAILED (base seed ${seed})" >&2
            status=1
        fi
        if ! QDISPATCH_RACES_SEED=$seed QDISPATCH_RACES_ITERATIONS=100 "$bin/tst_races" \
                > "${logs}/soak-races.log" 2>&1; then
            grep -E "FAIL|seed" "${logs}/soak-races.log" >&2 || true
            echo "== ${preset}: tst_races FAILED (seed ${seed})" >&2
            status=1
        else
            echo "tst_races: seed ${seed}, 100 iterations per case: passed"
        fi
    done
done
exit $status
