#!/usr/bin/env bash
# Sets up, builds (release preset) and runs the demo.
#   With a display ($DISPLAY or $WAYLAND_DISPLAY): opens the window.
#   Without one: runs the self-test on Qt's offscreen platform (exit code 0 when all passed).
# Arguments are passed on to the demo (--selftest, --screenshot FILE, --help); without a
# display they replace the default --selftest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target qdispatch-demo

demo=build/release/demo/qdispatch-demo
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
    exec "$demo" "$@"
fi

echo "demo: no display found, running the self-test on the offscreen platform" >&2
[ $# -gt 0 ] || set -- --selftest
QT_QPA_PLATFORM=offscreen exec "$demo" "$@"
