#!/usr/bin/env bash
# Runs the Python recipe against the real thing: the project's nats-server on a port of its own
# with the project's users and permissions, the order service on SQLite, an order placed with the CLI; then generates the classes from
# proto/, reads the ORDER stream with read_stream.py and checks the decoded OrderPlaced.
# deploy/local/test.sh runs it after the Rust tests (whose build the two binaries reuse).
#
#   docs/recipes/python/check.sh        (honours CARGO_TARGET_DIR, RENTOPS_NATS_SERVER)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../../.." && pwd)"
cd "$repo_root"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
nats_server="${RENTOPS_NATS_SERVER:-$(./deploy/local/install-nats.sh)}"

log() { printf 'python-recipe: %s\n' "$*" >&2; }

cargo build --locked --quiet -p rentops-order -p rentops-cli

# The recipe's packages, in a virtualenv of the checkout's own (kept between runs).
venv="$repo_root/.tools/python-recipe"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
    log "installing $(grep -cv '^#' "$here/requirements.txt") packages into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi
py="$venv/bin/python"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    local port="$1" what="$2"
    for _ in $(seq 1 300); do
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && return 0
        sleep 0.1
    done
    log "$what did not open port $port"; return 1
}

log "generating the classes from proto/"
"$py" "$here/generate.py" --proto "$repo_root/proto" --out "$work/gen"

# The project's users and permissions, with passwords of this run's own: the recipe reads as the
# analyst, as it would against the local cluster or Kubernetes.
mkdir -p "$work/auth"
for u in order fleet receivables complaint analyst; do
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$work/auth/$u.password"
    printf 'RENTOPS_NATS_%s_PASSWORD: "%s"\n' "$(tr '[:lower:]' '[:upper:]' <<<"$u")" "$(cat "$work/auth/$u.password")"
done >"$work/auth/passwords.conf"
cp "$repo_root/deploy/k8s/base/nats/permissions.conf" "$work/auth/permissions.conf"
nats_port="$(free_port)"
printf 'listen: "127.0.0.1:%s"\njetstream { store_dir: "%s" }\ninclude ./permissions.conf\n' \
    "$nats_port" "$work/nats" >"$work/auth/nats.conf"
"$nats_server" -c "$work/auth/nats.conf" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_port "$nats_port" nats-server

grpc_port="$(free_port)"
RENTOPS_NATS_URL="nats://127.0.0.1:$nats_port" \
RENTOPS_NATS_USER=order RENTOPS_NATS_PASSWORD_FILE="$work/auth/order.password" \
RENTOPS_DATABASE_URL="sqlite://$work/order.db" \
RENTOPS_GRPC_ADDR="127.0.0.1:$grpc_port" RENTOPS_METRICS_ADDR=off \
    "$target_dir/debug/rentops-order" >"$work/order.log" 2>&1 &
pids+=($!)
wait_port "$grpc_port" "the order service" || { cat "$work/order.log" >&2; exit 1; }

customer="C$RANDOM$RANDOM"
RENTOPS_ORDER_ADDR="http://127.0.0.1:$grpc_port" RENTOPS_ACTOR=analyst-check RENTOPS_STATE_DIR="$work/state" \
    "$target_dir/debug/rentops" order place --channel app --ref "PY-$customer" \
    --customer-id "$customer" --customer-name 王小明 --phone 13800138000 --city SHA \
    --pickup-station PVG --pickup-at "$(date -d 'tomorrow 10:00' -Iseconds)" \
    --return-station PVG --return-at "$(date -d '10:00 3 days' -Iseconds)" \
    --model ES6 --price-fen 45000 >"$work/place.out"

log "reading the ORDER stream"
"$py" "$here/read_stream.py" --nats-url "nats://127.0.0.1:$nats_port" --stream ORDER \
    --user analyst --password-file "$work/auth/analyst.password" \
    --classes "$work/gen" >"$work/order.jsonl"

log "exporting the ORDER stream with the CLI, to compare"
"$target_dir/debug/rentops" events export --nats-url "nats://127.0.0.1:$nats_port" --service order \
    --nats-user analyst --nats-password-file "$work/auth/analyst.password" \
    --out "$work/order-cli.jsonl" 2>/dev/null

"$py" - "$work/order.jsonl" "$customer" "$work/order-cli.jsonl" "$here" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[4])
import read_stream
# The derived event id, as the log's own reader derives it (crates/eventstore envelope tests).
assert read_stream.event_id("order", "abc:r:1:0", "2025-12-01T00:00:00Z") == "019ad735-8400-7221-a195-f87bb3678b19"
events = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
exported = {e["sequence"]: e for e in map(json.loads, open(sys.argv[3], encoding="utf-8"))}
for e in events:
    assert e["id"] and e["id"] == exported[e["sequence"]]["id"], (e, exported.get(e["sequence"]))
placed = [e for e in events if e["type"] == "rentops.order.v1.OrderPlaced"]
assert placed, f"no OrderPlaced among {len(events)} events: {events}"
e = placed[-1]
data = e["data"]
assert data["customer"]["customer_id"] == sys.argv[2], data["customer"]
assert data["customer"]["name"] == "王小明", data["customer"]
assert data["price"]["amount_fen"] in ("45000", 45000), data["price"]
assert e["actor"] == "analyst-check" and e["aggregate_id"] == data["order_id"], e
assert e["request_id"] and e["correlation_id"] == e["causation_id"] == e["request_id"], e
assert e["subject"].startswith(f"rentops.order.order.{data['order_id']}."), e["subject"]
print(f"python-recipe: ok, {len(events)} event(s) decoded, OrderPlaced {data['order_id']} for {sys.argv[2]}")
PY
