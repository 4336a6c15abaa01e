#!/usr/bin/env bash
# Installs what QDispatch needs on Debian 12 (run as root). Skips apt when all is present.
set -euo pipefail

# The build, the tests and the demo (lld links the project's executables: CMakePresets.json); then the API reference (doxygen), the qmake and Meson
# consumers (pkg-config, meson; qmake6 comes with qt6-base-dev), and the Debian packages
# (build-essential, debhelper, lintian; debootstrap for the clean root they are installed into).
packages=(cmake ninja-build g++ clang lld libclang-rt-14-dev clang-format git python3 qt6-base-dev libgl-dev qcoro-qt6-dev python3-asgiref xvfb xauth
          doxygen pkg-config meson build-essential debhelper lintian debootstrap)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
