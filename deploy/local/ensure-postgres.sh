#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 and that user `postgres` may connect
# to it over TCP from 127.0.0.1 without a password (trust), as the tests' PostgreSQL path expects.
#
# For CI and fresh machines, where we run as root and only the package registries are reachable:
# it installs Debian's `postgresql` package when no server binary is present, creates and starts
# the `main` cluster with Debian's pg_* wrappers (no systemd in these containers, hence
# --skip-systemctl-redirect), and adds one trust line to that cluster's pg_hba.conf when needed.
#
# Idempotent: on a machine where PostgreSQL already answers with trust auth it only checks.
# Exits 0 when PostgreSQL answers, non-zero otherwise. Never use this on a production host.
set -euo pipefail

HOST=127.0.0.1
# Overridable only so that the script itself can be tested against a throwaway cluster.
PORT="${RENTOPS_PG_PORT:-5432}"
CLUSTER="${RENTOPS_PG_CLUSTER:-main}"
HBA_LINE="host    all    postgres    127.0.0.1/32    trust    # added by rentops deploy/local/ensure-postgres.sh"

log() { echo "ensure-postgres: $*"; }
die() { echo "ensure-postgres: error: $*" >&2; exit 1; }

# Does anything accept PostgreSQL connections on HOST:PORT?
answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT" -t 3
    else
        # No client tools yet (fresh machine): a TCP connect is the best we can do.
        timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
    fi
}

# Can user postgres log in over TCP without a password?
trust_works() {
    PGCONNECT_TIMEOUT=5 psql -h "$HOST" -p "$PORT" -U postgres -d postgres -w -Atqc 'select 1' >/dev/null 2>&1
}

# The newest installed server version, e.g. "15"; empty when none is installed.
installed_version() {
    local p newest=""
    for p in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$p" ]] && newest="$(printf '%s\n%s\n' "$newest" "$p" | sort -V | tail -n1)"
    done
    [[ -n "$newest" ]] && basename "$(dirname "$(dirname "$newest")")"
    return 0
}

wait_until_answers() {
    local _
    for _ in $(seq 1 30); do
        answers && return 0
        sleep 1
    done
    return 1
}

if answers; then
    log "PostgreSQL already answers on $HOST:$PORT"
else
    log "nothing answers on $HOST:$PORT"
    [[ "$(id -u)" -eq 0 ]] || die "need root to install or start PostgreSQL (run as root, or start it yourself)"

    version="$(installed_version)"
    if [[ -z "$version" ]]; then
        log "no PostgreSQL server installed: installing Debian's postgresql package"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
        version="$(installed_version)"
        [[ -n "$version" ]] || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/postgres appeared"
        log "installed PostgreSQL $version"
    else
        log "PostgreSQL $version is installed"
    fi

    if [[ ! -d "/etc/postgresql/$version/$CLUSTER" ]]; then
        log "creating cluster $version/$CLUSTER on port $PORT"
        pg_createcluster --port "$PORT" "$version" "$CLUSTER"
    fi

    log "starting cluster $version/$CLUSTER"
    # `start` fails if it is already running (e.g. on another port): report, don't hide it.
    pg_ctlcluster --skip-systemctl-redirect "$version" "$CLUSTER" start \
        || log "pg_ctlcluster start returned non-zero (already running?): see pg_lsclusters below"
    wait_until_answers || { pg_lsclusters >&2 || true; die "PostgreSQL $version/$CLUSTER does not answer on $HOST:$PORT"; }
    log "PostgreSQL $version/$CLUSTER answers on $HOST:$PORT"
fi

# Trust auth for postgres over TCP. pg_hba.conf is read top-down and the first matching line wins,
# so our line goes first; it is added only once (marked by its comment).
if ! command -v psql >/dev/null 2>&1; then
    log "psql is not installed: cannot check authentication (install postgresql-client to check)"
elif trust_works; then
    log "user postgres connects over TCP from $HOST with trust auth"
else
    log "user postgres cannot connect over TCP without a password: adding a trust line to pg_hba.conf"
    [[ "$(id -u)" -eq 0 ]] || die "need root to edit pg_hba.conf"
    # Find the cluster that owns PORT: pg_lsclusters prints "Ver Cluster Port Status ...".
    read -r ver cluster < <(pg_lsclusters --no-header 2>/dev/null | awk -v p="$PORT" '$3 == p { print $1, $2; exit }') \
        || die "no Debian-managed cluster listens on port $PORT; configure its pg_hba.conf by hand"
    hba="/etc/postgresql/$ver/$cluster/pg_hba.conf"
    [[ -f "$hba" ]] || die "$hba not found"
    if grep -qF "added by rentops deploy/local/ensure-postgres.sh" "$hba"; then
        log "$hba already has our line"
    else
        cp -p "$hba" "$hba.rentops.bak"
        { echo "$HBA_LINE"; cat "$hba.rentops.bak"; } > "$hba"
        log "added to $hba (backup: $hba.rentops.bak): $HBA_LINE"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" reload
    sleep 1
    trust_works || die "user postgres still cannot connect over TCP from $HOST; check $hba"
    log "user postgres now connects over TCP from $HOST with trust auth"
fi

answers || die "PostgreSQL stopped answering on $HOST:$PORT"
log "ok: PostgreSQL answers on $HOST:$PORT"
