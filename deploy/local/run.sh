#!/usr/bin/env bash
# The one command that runs the whole rentops cluster on this machine, on the embedded defaults:
# the project's own nats-server with JetStream, and every service with SQLite under <repo>/data/.
#
#   deploy/local/run.sh              build (release), start everything, wait for Ctrl-C
#   deploy/local/run.sh --no-build   use the binaries already built
#
# NATS requires a user: each service connects as its own (its rights in
# deploy/k8s/base/nats/permissions.conf), passwords generated into data/nats-auth/ on the first
# start; the analyst's password file, for `rentops events`, is printed at the end.
#
# On Ctrl-C or SIGTERM it stops the services first (SIGTERM, up to 20 s each, so they can finish
# in-flight appends and ack what they applied while NATS is still there) and nats-server last.
# Honours CARGO_TARGET_DIR (binaries then come from $CARGO_TARGET_DIR/release/).
set -euo pipefail

# The services, in start order. When a new service lands, add it here (its binary is
# rentops-<name>, its ports are listed just below). receivables reads the order and fleet
# streams (who had which car when), so it starts after them; complaint reads all three (what a
# case links to) and starts last; each waits for the streams it reads either way.
SERVICES=(order fleet receivables complaint)

# Each service's default ports (the binaries' own defaults, see crates/runtime config).
declare -A GRPC_PORT=([order]=50051 [fleet]=50052 [receivables]=50053 [complaint]=50054)
declare -A METRICS_PORT=([order]=9101 [fleet]=9102 [receivables]=9103 [complaint]=9104)

NATS_HOST=127.0.0.1
NATS_PORT=14222          # not 4222: a system nats-server (often too old) may already sit there
NATS_MONITOR_PORT=18222  # /healthz, /varz, /jsz
NATS_URL="nats://$NATS_HOST:$NATS_PORT"
STOP_GRACE_SECS=20       # matches the services' RENTOPS_SHUTDOWN_GRACE_SECS default
START_TIMEOUT_SECS=60

log() { printf 'run: %s\n' "$*" >&2; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $arg (try --help)" ;;
    esac
done

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"

# Cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in: resolve it against
# the caller's directory before we change to the repo root.
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    [[ "$CARGO_TARGET_DIR" = /* ]] || CARGO_TARGET_DIR="$PWD/$CARGO_TARGET_DIR"
    export CARGO_TARGET_DIR
    target_dir="$CARGO_TARGET_DIR"
else
    target_dir="$repo_root/target"
fi
bin_dir="$target_dir/release"

# The services' default database URL is sqlite://./data/<service>.db, relative to the working
# directory: run everything from the repo root so the data lands in <repo>/data/.
cd "$repo_root"
data_dir="$repo_root/data"
nats_store="$data_dir/nats"
nats_log="$data_dir/nats.log"
nats_pidfile="$nats_store/nats-server.pid"
# Users and permissions: deploy/k8s/base/nats/permissions.conf (the one definition the
# Kubernetes manifests and the permissions test use too), copied here at every start beside the
# passwords generated on the first one.
nats_auth="$data_dir/nats-auth"
nats_conf="$nats_auth/nats.conf"
permissions="$repo_root/deploy/k8s/base/nats/permissions.conf"
mkdir -p "$data_dir" "$nats_store"

# --- helpers -----------------------------------------------------------------------------------

# Does something accept TCP connections on 127.0.0.1:$1?
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Is process $1 running (and not a zombie waiting to be reaped)?
alive() {
    local state
    [[ -n "${1:-}" && -r "/proc/$1/stat" ]] || { kill -0 "${1:-0}" 2>/dev/null; return; }
    state="$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$state" != Z ]]
}

# Waits up to $2 seconds for process $1 to end; returns 1 if it is still running.
wait_gone() {
    local pid="$1" deadline=$((SECONDS + $2))
    while alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# Exit status of our child $1 once it has ended (reaping it). `wait -n` below may have reaped it
# already: then its status was kept in REAPED.
declare -A REAPED=()
exit_status() {
    local rc=0
    if [[ -n "${REAPED[$1]:-}" ]]; then echo "${REAPED[$1]}"; return; fi
    wait "$1" 2>/dev/null || rc=$?
    REAPED[$1]=$rc
    echo "$rc"
}

# --- shutdown: services first, then NATS -------------------------------------------------------

declare -A PID=()      # service -> pid
nats_pid=""            # set only when this run started nats-server (then we also stop it)
stopping=0

stop_all() {
    ((stopping)) && return
    stopping=1
    local s pid i
    # Reverse start order: a later service may depend on an earlier one's events, not vice versa.
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        s="${SERVICES[i]}"
        pid="${PID[$s]:-}"
        [[ -n "$pid" ]] || continue
        if alive "$pid"; then
            log "stopping $s (pid $pid, SIGTERM, up to ${STOP_GRACE_SECS}s)"
            kill -TERM "$pid" 2>/dev/null || true
            if ! wait_gone "$pid" "$STOP_GRACE_SECS"; then
                log "$s did not stop within ${STOP_GRACE_SECS}s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        log "$s exited with status $(exit_status "$pid")"
    done
    if [[ -n "$nats_pid" ]]; then
        if alive "$nats_pid"; then
            log "stopping nats-server (pid $nats_pid)"
            kill -TERM "$nats_pid" 2>/dev/null || true
            if ! wait_gone "$nats_pid" 15; then
                log "nats-server did not stop within 15s: SIGKILL"
                kill -KILL "$nats_pid" 2>/dev/null || true
            fi
        fi
        log "nats-server exited with status $(exit_status "$nats_pid")"
    fi
}

# The EXIT trap also covers failures half-way through start-up (set -e): nothing is left behind.
trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Starts "$@" in its own session (setsid) with output to log file $1. Why: Ctrl-C goes to the
# whole terminal process group; if the children got it too they would all stop at once, NATS
# possibly before the services have finished their appends. In their own session only this
# script hears Ctrl-C, and it stops them in order. (Without job control, a background `setsid`
# is not a group leader, so it execs in place and $! is the real process.)
start_bg() {
    local logfile="$1"; shift
    setsid "$@" </dev/null >>"$logfile" 2>&1 &
}

# --- preflight ---------------------------------------------------------------------------------

for s in "${SERVICES[@]}"; do
    [[ -n "${GRPC_PORT[$s]:-}" && -n "${METRICS_PORT[$s]:-}" ]] || die "no ports listed for service '$s' in $0"
    for p in "${GRPC_PORT[$s]}" "${METRICS_PORT[$s]}"; do
        port_open "$p" && die "port $p (for $s) is already in use: is another run.sh still running? (ss -ltnp 'sport = :$p')"
    done
done

# --- build (first: nothing is started if it fails) --------------------------------------------

bins=()
for s in "${SERVICES[@]}"; do bins+=(--bin "rentops-$s"); done
bins+=(--bin rentops) # the CLI, for trying things out
if ((build)); then
    command -v cargo >/dev/null || die "cargo not found: install Rust (rustup) or use --no-build with prebuilt binaries"
    log "building: cargo build --release ${bins[*]}"
    cargo build --release "${bins[@]}"
fi
for s in "${SERVICES[@]}"; do
    [[ -x "$bin_dir/rentops-$s" ]] || die "$bin_dir/rentops-$s not found (build it, or drop --no-build)"
done

# --- NATS --------------------------------------------------------------------------------------

nats_bin="$("$script_dir/install-nats.sh")"

# Is the nats-server answering on NATS_PORT the one this repo started earlier (pid file in our
# store dir, process alive, its command line naming our store)? Then reuse it and leave it running.
our_running_nats() {
    local pid
    [[ -r "$nats_pidfile" ]] || return 1
    pid="$(cat "$nats_pidfile" 2>/dev/null)"
    alive "$pid" || return 1
    # Ours: started on our config (or, by an older run.sh, on our store dir).
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -e "$nats_conf" -e "$nats_store" || return 1
    echo "$pid"
}

# A user per service and one for analysts, each with a password of its own: generated once
# (random, in files only this account can read), kept across runs with the rest of data/.
setup_nats_auth() {
    local u upper
    (
        umask 077
        mkdir -p "$nats_auth"
        for u in "${SERVICES[@]}" analyst; do
            [[ -s "$nats_auth/$u.password" ]] && continue
            od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$nats_auth/$u.password"
        done
        {
            echo "# Generated by deploy/local/run.sh from $nats_auth/<user>.password; do not edit."
            for u in "${SERVICES[@]}" analyst; do
                upper="$(tr '[:lower:]' '[:upper:]' <<<"$u")"
                printf 'RENTOPS_NATS_%s_PASSWORD: "%s"\n' "$upper" "$(cat "$nats_auth/$u.password")"
            done
        } >"$nats_auth/passwords.conf"
        cp "$permissions" "$nats_auth/permissions.conf"
        # Everything in the file, nothing on the command line, so a reload (below) re-reads it all.
        # server_name is fixed: JetStream keys its state by server name.
        cat >"$nats_conf" <<EOF
# Generated by deploy/local/run.sh.
server_name: rentops-local
listen: "$NATS_HOST:$NATS_PORT"
http: "127.0.0.1:$NATS_MONITOR_PORT"
jetstream { store_dir: "$nats_store" }
include ./permissions.conf
EOF
    )
    "$nats_bin" -t -c "$nats_conf" >/dev/null 2>&1 \
        || die "nats-server rejects the permissions: $("$nats_bin" -t -c "$nats_conf" 2>&1 | tail -n 1)"
}
setup_nats_auth

nats_note=""
if port_open "$NATS_PORT"; then
    if existing="$(our_running_nats)"; then
        if ! tr '\0' ' ' <"/proc/$existing/cmdline" 2>/dev/null | grep -qF -- "$nats_conf"; then
            die "this repo's nats-server (pid $existing) runs without users and permissions (an older run.sh started it): stop it (kill $existing) and run this again"
        fi
        # Permissions may have changed since it started: have it read them again, and wait for
        # its log to say it did.
        log_before="$(stat -c %s "$nats_log" 2>/dev/null || echo 0)"
        "$nats_bin" --signal "reload=$existing" >/dev/null 2>&1 || die "cannot signal nats-server (pid $existing) to reload"
        deadline=$((SECONDS + 10))
        until reloaded="$(tail -c +"$((log_before + 1))" "$nats_log" 2>/dev/null | grep -E 'Reloaded server configuration|Failed to reload' | head -n 1)" && [[ -n "$reloaded" ]]; do
            ((SECONDS < deadline)) || die "nats-server (pid $existing) did not say within 10s whether it reloaded its permissions (log: $nats_log)"
            sleep 0.2
        done
        [[ "$reloaded" == *Reloaded* ]] || die "nats-server (pid $existing) could not reload its configuration: ${reloaded#*] } (stop it: kill $existing)"
        log "reusing this repo's nats-server already running on $NATS_URL (pid $existing, permissions reloaded); it stays running at exit"
        nats_note=" (already running, pid $existing, left running)"
    else
        die "port $NATS_PORT is taken by something that is not this repo's nats-server (ss -ltnp 'sport = :$NATS_PORT')"
    fi
else
    port_open "$NATS_MONITOR_PORT" && die "NATS monitoring port $NATS_MONITOR_PORT is already in use"
    log "starting nats-server with JetStream on $NATS_URL (store $nats_store, log $nats_log)"
    start_bg "$nats_log" "$nats_bin" -c "$nats_conf" -l "$nats_log" -P "$nats_pidfile"
    nats_pid=$!
    deadline=$((SECONDS + START_TIMEOUT_SECS))
    # Ready means JetStream is up, not just the port: /healthz?js-enabled-only=true says so.
    until curl -fsS -o /dev/null "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true" 2>/dev/null \
        || { ! command -v curl >/dev/null && port_open "$NATS_PORT"; }; do
        alive "$nats_pid" || { tail -n 20 "$nats_log" >&2 || true; die "nats-server exited during start-up (log: $nats_log)"; }
        ((SECONDS < deadline)) || die "nats-server not ready after ${START_TIMEOUT_SECS}s (log: $nats_log)"
        sleep 0.2
    done
    log "nats-server ready (pid $nats_pid)"
fi

# --- services ----------------------------------------------------------------------------------

for s in "${SERVICES[@]}"; do
    # Everything the table below prints is set explicitly, so the table is true even when the
    # caller's shell has other RENTOPS_* values exported. Other RENTOPS_* settings pass through.
    # NO_COLOR: the logs go to files, where colour codes are only noise. The scans of the ladder
    # and the SLA clocks run every 10 s here (60 s and 30 s by default), so that a backlog
    # entered late (the demo's week) catches up while one watches.
    log "starting $s (log: data/$s.log)"
    # Each service is its own NATS user, its password a file (a password exported in the
    # caller's shell, an analyst's say, must not win over it).
    start_bg "$data_dir/$s.log" env -u RENTOPS_NATS_PASSWORD \
        RENTOPS_NATS_URL="$NATS_URL" \
        RENTOPS_NATS_USER="$s" \
        RENTOPS_NATS_PASSWORD_FILE="$nats_auth/$s.password" \
        RENTOPS_DATABASE_URL="sqlite://./data/$s.db" \
        RENTOPS_GRPC_ADDR="127.0.0.1:${GRPC_PORT[$s]}" \
        RENTOPS_METRICS_ADDR="127.0.0.1:${METRICS_PORT[$s]}" \
        RENTOPS_STREAM_REPLICAS=1 \
        RENTOPS_RECEIVABLES_NOTICE_LOG="${RENTOPS_RECEIVABLES_NOTICE_LOG:-$data_dir/notices.jsonl}" \
        RENTOPS_RECEIVABLES_LADDER_SCAN_SECS="${RENTOPS_RECEIVABLES_LADDER_SCAN_SECS:-10}" \
        RENTOPS_COMPLAINT_SCAN_SECS="${RENTOPS_COMPLAINT_SCAN_SECS:-10}" \
        RENTOPS_COMPLAINT_SETTLE_SECS="${RENTOPS_COMPLAINT_SETTLE_SECS:-5}" \
        NO_COLOR=1 \
        "$bin_dir/rentops-$s"
    PID[$s]=$!
done

# A service is up when its gRPC port accepts connections.
for s in "${SERVICES[@]}"; do
    deadline=$((SECONDS + START_TIMEOUT_SECS))
    until port_open "${GRPC_PORT[$s]}"; do
        alive "${PID[$s]}" || {
            tail -n 30 "$data_dir/$s.log" >&2 || true
            die "$s exited during start-up with status $(exit_status "${PID[$s]}") (log: data/$s.log)"
        }
        ((SECONDS < deadline)) || die "$s: gRPC port ${GRPC_PORT[$s]} not open after ${START_TIMEOUT_SECS}s (log: data/$s.log)"
        sleep 0.2
    done
done

# --- what runs where ---------------------------------------------------------------------------

cli="$bin_dir/rentops"
[[ "$cli" == "$repo_root/"* ]] && cli="${cli#"$repo_root/"}"
{
    echo
    echo "rentops is running locally"
    echo
    printf '  %-12s %-7s %-17s %-31s %-31s %s\n' SERVICE PID GRPC METRICS DATABASE LOG
    for s in "${SERVICES[@]}"; do
        printf '  %-12s %-7s %-17s %-31s %-31s %s\n' "$s" "${PID[$s]}" "127.0.0.1:${GRPC_PORT[$s]}" \
            "http://127.0.0.1:${METRICS_PORT[$s]}/metrics" "sqlite://./data/$s.db" "data/$s.log"
    done
    echo
    echo "  NATS       $NATS_URL$nats_note"
    echo "             JetStream store data/nats, log data/nats.log, monitoring http://127.0.0.1:$NATS_MONITOR_PORT"
    echo "             a user per service and one for analysts (deploy/k8s/base/nats/permissions.conf)"
    echo "  analyst    credentials: user analyst, password file $nats_auth/analyst.password"
    echo "             export RENTOPS_NATS_USER=analyst RENTOPS_NATS_PASSWORD_FILE=$nats_auth/analyst.password"
    echo "             then: $cli events tail --service order"
    echo "  data dir   $data_dir"
    echo "  notices    the local notification gateway's SMS, app pushes and desk calls: data/notices.jsonl"
    echo
    echo "  try:       $cli order list"
    echo "             $cli receivables import deploy/local/samples/violations-jtgl.csv --vendor jtgl"
    echo "             $cli complaint taxonomy"
    echo "  logs:      tail -f data/*.log"
    echo "  stop:      Ctrl-C (services first, then nats-server)"
    echo
} >&2

# --- wait --------------------------------------------------------------------------------------

# Sleep until a signal (the traps stop everything) or until a child ends by itself, which is a
# failure: say which one and stop the rest.
watch=("${PID[@]}")
[[ -n "$nats_pid" ]] && watch+=("$nats_pid")
while :; do
    ended="" rc=0
    wait -n -p ended "${watch[@]}" 2>/dev/null || rc=$?
    [[ -n "$ended" ]] && REAPED[$ended]=$rc
    for s in "${SERVICES[@]}"; do
        alive "${PID[$s]}" && continue
        tail -n 20 "$data_dir/$s.log" >&2 || true
        die "$s exited unexpectedly with status $(exit_status "${PID[$s]}") (log: data/$s.log); stopping the rest"
    done
    if [[ -n "$nats_pid" ]] && ! alive "$nats_pid"; then
        die "nats-server exited unexpectedly (log: $nats_log); stopping the services"
    fi
done
