#!/usr/bin/env bash
# The whole test suite, on a fresh machine or this one: installs what the tests need (a current
# nats-server, PostgreSQL, chromium), checks formatting and clippy's lints (warnings are errors), runs every
# test of the workspace against real NATS and both databases, and validates the Kubernetes
# manifests. `.ci/run` runs exactly this.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

# One target dir outside the clone, shared by every run on this machine: 2 cores build slowly.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/rentops-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The checkout the tests read their files from (the planner's examples, .tools/): compile-time
# paths in a shared target dir may name another checkout.
export RENTOPS_WORKSPACE_ROOT="$repo_root"

echo "== nats-server"
RENTOPS_NATS_SERVER="$(./deploy/local/install-nats.sh)"
export RENTOPS_NATS_SERVER
"$RENTOPS_NATS_SERVER" --version

echo "== PostgreSQL"
# Installs and starts Debian's PostgreSQL when none answers on 127.0.0.1:5432 (needs root);
# without it the test kit starts a throwaway cluster of its own.
if ! ./deploy/local/ensure-postgres.sh; then
    echo "ensure-postgres failed; the test kit will try a throwaway cluster" >&2
fi

echo "== chromium"
# The weekly report's test renders it in a real headless browser (Debian's chromium; needs root
# to install the first time).
RENTOPS_CHROMIUM="$(./deploy/local/install-chromium.sh)"
export RENTOPS_CHROMIUM

echo "== formatting and lints"
# Cheap checks first: a formatting slip or a lint fails in seconds, not after the whole suite.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== schemas"
# buf lint, and no change that breaks the released schema (proto/released.binpb).
./proto/check.sh
# The event catalogue (docs/events/CATALOGUE.md) is what proto/ and its emitters say.
./docs/events/generate.py --check

echo "== tests"
cargo test --workspace --locked

echo "== the Python recipe for analysts"
# Reads a real stream with nats-py and classes generated from proto/ (docs/recipes/python).
./docs/recipes/python/check.sh

if [[ -x deploy/k8s/validate.sh ]]; then
    echo "== Kubernetes manifests"
    ./deploy/k8s/validate.sh
fi
