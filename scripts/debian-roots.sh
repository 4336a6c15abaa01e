# Debian roots made with debootstrap and cached, shared by scripts/qt-matrix.sh (the Qt matrix)
# and scripts/debian-package.sh (the clean Debian 12 root the packages are installed into).
# Sourced, not run. The caller defines log() (one line of progress) and runs as root.
#
# A root is made once with debootstrap from the mirror apt uses and kept in
# ${QDISPATCH_CACHE_DIR:-/var/cache/qdispatch}/roots/<name>, beside a stamp written only after
# debootstrap succeeded and the root passed its check; the stamp records the package list, so a
# change of the list makes the root again.

# The mirror apt already uses for this machine's own release (deb822 .sources or the one-line
# sources.list), so the roots come from the same place as the host's packages.
debian_mirror() {
    if [ -n "${QDISPATCH_DEBIAN_MIRROR:-}" ]; then
        echo "$QDISPATCH_DEBIAN_MIRROR"
        return
    fi
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    local f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk -v want="$codename" 'BEGIN { RS = "" }
            {
                uris = ""; suites = ""; enabled = 1
                n = split($0, lines, "\n")
                for (i = 1; i <= n; i++) {
                    line = lines[i]
                    if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris = line }
                    else if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
                    else if (line ~ /^Enabled:[ \t]*no/) enabled = 0
                }
                if (enabled && (" " suites " ") ~ (" " want " ")) { split(uris, u, " "); print u[1]; exit }
            }' "$f")
        [ -z "$uri" ] || break
    done
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(sed -e 's/\[[^]]*\]//' /etc/apt/sources.list |
              awk -v want="$codename" '$1 == "deb" && $3 == want { print $2; exit }')
    fi
    if [ -z "$uri" ]; then
        echo "debian-roots: no Debian mirror for '$codename' in apt's sources; set QDISPATCH_DEBIAN_MIRROR" >&2
        return 1
    fi
    echo "$uri"
}

# Runs a command inside a root, as root with a plain environment (CI passed on: in CI, the
# configuration insists on every optional test dependency, tests/CMakeLists.txt).
in_root() {
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive ${CI:+CI="$CI"} "$@"
}

# ensure_root <suite> <root> <packages> <check> [<prepare>]
# Makes (or re-makes) the root of one suite with the comma-separated packages, unless a
# finished one is cached whose stamp names the same packages and on which the command <check>
# (given the root) succeeds. <prepare>, when given, is run (with the root) after debootstrap and
# before the check, to finish the root.
ensure_root() {
    local suite=$1 root=$2 packages=$3 check=$4 prepare=${5:-}
    local stamp=$root.stamp
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ] && "$check" "$root"; then
        log "$suite: cached root $root"
        return 0
    fi
    rm -f "$stamp"
    if ! command -v debootstrap >/dev/null; then
        log "$suite: installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
    fi
    local mirror script=""
    mirror=$(debian_mirror)
    # Older debootstraps have no script for a newer suite (bookworm's knows no forky); every
    # Debian suite since bullseye bootstraps like sid.
    if [ ! -e "/usr/share/debootstrap/scripts/$suite" ]; then
        script=/usr/share/debootstrap/scripts/sid
    fi
    log "$suite: making the root with debootstrap from $mirror (a few minutes)"
    rm -rf "$root"
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" $script
    in_root "$root" apt-get clean
    if [ -n "$prepare" ]; then
        "$prepare" "$root"
    fi
    "$check" "$root"
    echo "$packages" > "$stamp"
    log "$suite: root ready"
}
