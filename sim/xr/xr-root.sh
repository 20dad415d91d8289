#!/usr/bin/env bash
# Build (or bring up to date) a Debian trixie root with Monado, the OpenXR runtime, and a
# Python 3.13 virtual environment with pyopenxr and the viewer side of surgisim, for the VR
# tests and `surgisim bench vr` on a machine without a headset, a GPU or a display.
#
# Why a root: Debian bookworm has the OpenXR loader but no runtime; trixie packages Monado,
# which needs glibc >= 2.38, and Monado's client library is loaded into the application
# process, so the OpenXR client (Python + pyopenxr) runs inside the root too. pybullet has
# no wheel for Python 3.13 and is never built here: the simulator stays on the host's
# Python and talks to the client over the bus (tcp on loopback works across the chroot).
#
# Idempotent and cached: each stage leaves a stamp holding a hash of what it installed and
# is skipped when the stamp matches; a half-made root from an interrupted run is removed.
# Root only (debootstrap, chroot, mounts). Prints every stage it runs or skips.
#
# Usage: sim/xr/xr-root.sh [ROOT]
#   ROOT default: $SURGISIM_XR_ROOT, else ${XDG_CACHE_HOME:-~/.cache}/surgisim/xr-root
# Exit codes: 0 ready; 77 cannot be built here (not root, no network, no apt): the
# caller skips; anything else: a real failure.
set -euo pipefail

ROOT="${1:-${SURGISIM_XR_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/surgisim/xr-root}}"
SUITE=trixie
# Debian packages inside the root: the runtime (service + client library), the OpenXR
# loader, Mesa (llvmpipe GL through EGL and GLX, lavapipe Vulkan for Monado's
# compositor), Python.
APT_PACKAGES="monado-service libopenxr1-monado libopenxr-loader1 mesa-vulkan-drivers \
libgl1-mesa-dri libegl1 libegl-mesa0 libgl1 python3 python3-venv ca-certificates procps"
# The viewer side of surgisim (sim.xr, sim.render, haptics.bus, scenarios.visual, the
# CLI, Pillow for the overlay text) and nothing more: no pybullet, numba, scipy or
# pydantic. Bounds as pyproject.toml.
PIP_PACKAGES="pyopenxr>=1.1 PyOpenGL>=3.1.7 Pillow>=10.1 numpy>=1.26 pyzmq>=26 msgpack>=1.0 typer>=0.12 click>=8.1 rich>=13.0"
VENV=/opt/surgisim-venv
SRC_MOUNT=/surgisim   # where a checkout is bind-mounted when something runs in the root

say() { printf 'xr-root: %s\n' "$*"; }
skip() { say "cannot build the root here: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot and bind mounts); run as root"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get on this machine (Debian/Ubuntu only)"

stamp_ok() { [ -f "$ROOT/.surgisim-$1" ] && [ "$(cat "$ROOT/.surgisim-$1")" = "$2" ]; }
stamp() { printf '%s' "$2" >"$ROOT/.surgisim-$1"; }
hash() { printf '%s' "$*" | sha256sum | cut -c1-16; }

# The Debian mirror apt already uses on this machine (deb822 or one-line sources).
mirror() {
    local uri
    uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null \
            | awk '{print $2}' | grep -v security | head -n1 || true)
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

MOUNTED=()
mount_binds() {
    local d
    for d in proc sys dev dev/pts dev/shm; do
        mkdir -p "$ROOT/$d"
        mount --bind "/$d" "$ROOT/$d"
        MOUNTED=("$ROOT/$d" "${MOUNTED[@]}")
    done
}
unmount_binds() {
    local m
    for m in "${MOUNTED[@]}"; do umount -l "$m" 2>/dev/null || true; done
    MOUNTED=()
}
trap unmount_binds EXIT

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

START=$(date +%s)
say "root: $ROOT"
# one builder at a time (two test sessions on one machine wait for each other)
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

# ---- stage 1: debootstrap ---------------------------------------------------------------
MIRROR=$(mirror)
KEY=$(hash "$SUITE" minbase "$MIRROR")
if stamp_ok debootstrap "$KEY"; then
    say "debootstrap: done before (stamp matches), skipped"
else
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap on the host (apt-get)"
        apt-get update -qq || skip "apt-get update failed (no network to the Debian mirror?)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            debootstrap >/dev/null || skip "could not install debootstrap (no network?)"
    fi
    # a root left half-made by an interrupted run (no stamp) is thrown away
    if [ -e "$ROOT" ]; then
        say "removing an unfinished root at $ROOT"
        for d in dev/shm dev/pts dev sys proc; do umount -l "$ROOT/$d" 2>/dev/null || true; done
        rm -rf --one-file-system "$ROOT"
    fi
    mkdir -p "$(dirname "$ROOT")"
    say "debootstrap --variant=minbase $SUITE from $MIRROR (about a minute)"
    t=$(date +%s)
    if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1; then
        tail -n 5 "$ROOT.debootstrap.log" >&2 || true
        if ! getent hosts "$(printf '%s' "$MIRROR" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')" >/dev/null; then
            rm -rf --one-file-system "$ROOT"
            skip "the mirror $MIRROR cannot be reached (no network)"
        fi
        say "debootstrap failed; log: $ROOT.debootstrap.log"
        exit 1
    fi
    rm -f "$ROOT.debootstrap.log"
    stamp debootstrap "$KEY"
    say "debootstrap: $(( $(date +%s) - t )) s"
fi

# ---- stage 2: Debian packages -----------------------------------------------------------
KEY=$(hash "$APT_PACKAGES")
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
if stamp_ok apt "$KEY"; then
    say "apt packages: installed before (stamp matches), skipped"
else
    say "apt-get install in the root: $APT_PACKAGES"
    t=$(date +%s)
    mount_binds
    in_root apt-get update -qq \
        || skip "apt-get update in the root failed (no network to the Debian mirror?)"
    # shellcheck disable=SC2086
    in_root apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null \
        || skip "apt-get install in the root failed (no network to the Debian mirror?)"
    in_root apt-get clean
    unmount_binds
    stamp apt "$KEY"
    say "apt packages: $(( $(date +%s) - t )) s"
fi

# ---- stage 3: CA certificates (pip in the root trusts what the host trusts) ------------
CERTS=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)
if stamp_ok certs "$CERTS"; then
    say "CA certificates: up to date, skipped"
else
    say "copying the host's extra CA certificates into the root"
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
    in_root update-ca-certificates >/dev/null 2>&1
    stamp certs "$CERTS"
fi

# ---- stage 4: Python environment ----------------------------------------------------------
KEY=$(hash "$PIP_PACKAGES" "$SRC_MOUNT")
if stamp_ok venv "$KEY"; then
    say "python venv: installed before (stamp matches), skipped"
else
    say "python venv at $VENV: pip install $PIP_PACKAGES"
    t=$(date +%s)
    mount_binds
    in_root python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    in_root "$VENV/bin/pip" install -q --disable-pip-version-check $PIP_PACKAGES \
        || skip "pip could not install into the root (no network to the package index?)"
    # surgisim itself, editable, from the mount point every run binds a checkout to; its
    # pybullet-side dependencies are left out on purpose (--no-deps)
    mkdir -p "$ROOT$SRC_MOUNT"
    mount --bind "$(cd "$(dirname "$0")/../.." && pwd)" "$ROOT$SRC_MOUNT"  # the checkout
    MOUNTED=("$ROOT$SRC_MOUNT" "${MOUNTED[@]}")
    in_root "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$SRC_MOUNT"
    unmount_binds
    stamp venv "$KEY"
    say "python venv: $(( $(date +%s) - t )) s"
fi

say "ready in $(( $(date +%s) - START )) s ($(du -sh --one-file-system "$ROOT" 2>/dev/null | cut -f1))"
