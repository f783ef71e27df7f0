#!/usr/bin/env bash
# Installs Debian's chromium, the headless browser the weekly report's test (and CI) renders the
# report in, to see that it loads without a console error and that every chart has data marks;
# and a small Chinese font (fonts-wqy-zenhei), so that a screenshot of the report shows the
# customers' words and the city names rather than empty boxes (the check itself needs no font).
#
# Why Debian's package: it is the browser CI runs, it comes with its libraries through apt, and
# nothing but the package registries is reachable here (no downloaded browser builds).
#
# Idempotent: does nothing when chromium and a Chinese font are already installed. Needs root
# (or sudo) only when it has to install. Prints the binary's path on stdout (and nothing else
# there), so callers can do: RENTOPS_CHROMIUM="$(deploy/local/install-chromium.sh)".
set -euo pipefail

log() { echo "install-chromium: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The binary a caller named, else Debian's, else whatever PATH has.
find_chromium() {
    local c
    for c in "${RENTOPS_CHROMIUM:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
        if [[ -n "$c" && -x "$c" ]]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# True when fontconfig knows a font for Chinese.
has_cjk_font() {
    command -v fc-list >/dev/null 2>&1 && [[ -n "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]]
}

packages=()
if bin="$(find_chromium)"; then
    log "chromium already installed: $("$bin" --version 2>/dev/null || echo "$bin")"
else
    packages+=(chromium)
fi
has_cjk_font || packages+=(fonts-wqy-zenhei)
if [[ ${#packages[@]} -eq 0 ]]; then
    echo "$bin"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "no apt-get: install chromium with your system's package manager"
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "installing chromium needs root; re-run as root or install sudo"
    sudo=(sudo)
fi

log "installing ${packages[*]} with apt-get"
# Progress goes to stderr, so stdout carries only the path.
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >&2
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >&2

bin="$(find_chromium)" || die "apt-get finished but no chromium binary was found"
log "installed: $("$bin" --version 2>/dev/null || echo "$bin")"
echo "$bin"
