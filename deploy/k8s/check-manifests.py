#!/usr/bin/env python3
"""Checks a rendered kustomize output for what schema validation cannot see.

kubernetes-validate checks each object against the Kubernetes OpenAPI schema on its own. This
checks the objects against each other and against this project's rules:

  - names are unique per kind, everything sits in one namespace;
  - workload selectors match their pod templates; Services, PodDisruptionBudgets and
    NetworkPolicies select pods that exist; Service target ports name real container ports;
    HorizontalPodAutoscalers and StatefulSets point at objects that exist;
  - every ConfigMap / Secret (and key) a pod uses is rendered, unless named --external-secret;
  - every container: requests and limits, and the restricted Pod Security Standard
    (non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp,
    read-only root filesystem);
  - the rentops services: grpc liveness/readiness probes on their gRPC port (or, when
    RENTOPS_HEALTH_ADDR is set, on the plaintext port named health it listens on), RENTOPS_INSTANCE_ID
    from the pod name, a shutdown budget that fits terminationGracePeriodSeconds;
  - NATS: the config's cluster routes agree with the StatefulSet's replicas, streams are not
    replicated more than there are servers, the config includes the users and permissions
    (permissions.conf) with a passwords.conf from a Secret that defines every user's password
    and agrees with the services' own password files, and nats-server -t accepts it all
    (when --nats-server is given);
  - every service is its own NATS user (RENTOPS_NATS_USER = its name) with its password a file
    of a mounted Secret (RENTOPS_NATS_PASSWORD_FILE), never an environment value;
  - with --forbid-placeholders: no REPLACE_ME value anywhere;
  - with --require-auth: every service authenticates callers (RENTOPS_AUTH=jwt with a key file)
    and serves TLS (RENTOPS_TLS_CERT_FILE and RENTOPS_TLS_KEY_FILE).

Usage: check-manifests.py RENDERED.yaml [--nats-server BIN] [--external-secret NAME]...
       [--forbid-placeholders] [--require-auth]
Exit status 1 when any check fails; every failure is printed.
"""

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
PLACEHOLDER = "REPLACE_ME"

errors = []


def err(msg):
    errors.append(msg)


def ident(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def matches(selector, labels):
    """A LabelSelector (matchLabels only, as this project uses) against a label map."""
    if selector is None:
        return False
    if selector.get("matchExpressions"):
        err(f"matchExpressions are not supported by this checker: {selector}")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def pod_labels(obj):
    return obj["spec"]["template"]["metadata"].get("labels") or {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--nats-server")
    ap.add_argument("--external-secret", action="append", default=[])
    ap.add_argument("--require-auth", action="store_true")
    ap.add_argument("--forbid-placeholders", action="store_true")
    ap.add_argument(
        "--services-dir",
        help="the repository's services/ folder: the rendered services must be exactly those built there",
    )
    args = ap.parse_args()

    with open(args.rendered) as f:
        text = f.read()
    objs = [o for o in yaml.safe_load_all(text) if o]

    # --- names and namespace ---------------------------------------------------------------
    seen = set()
    namespaces = set()
    for o in objs:
        key = (o["kind"], o["metadata"]["name"])
        if key in seen:
            err(f"duplicate {ident(o)}")
        seen.add(key)
        if o["kind"] != "Namespace":
            ns = o["metadata"].get("namespace")
            if not ns:
                err(f"{ident(o)} has no namespace")
            namespaces.add(ns)
    if len(namespaces) > 1:
        err(f"objects spread over several namespaces: {sorted(map(str, namespaces))}")
    declared_ns = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
    if declared_ns and not namespaces <= declared_ns:
        err(f"objects in namespaces {sorted(namespaces - declared_ns)} that are not declared")

    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    workloads = [o for o in objs if o["kind"] in WORKLOAD_KINDS]
    configmaps = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})

    def selects_some_pod(selector, what):
        if selector == {} or selector == {"matchLabels": {}}:
            return  # all pods of the namespace: fine by definition
        if not any(matches(selector, pod_labels(w)) for w in workloads):
            err(f"{what} selects no pod of any workload: {selector}")

    # --- workloads -------------------------------------------------------------------------
    for w in workloads:
        wid = ident(w)
        if not matches(w["spec"].get("selector"), pod_labels(w)):
            err(f"{wid}: selector does not match its pod template labels")
        spec = pod_spec(w)
        psc = spec.get("securityContext") or {}
        if (psc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            err(f"{wid}: pod securityContext.seccompProfile must be RuntimeDefault")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in configmaps:
                err(f"{wid}: volume {v['name']} uses ConfigMap {v['configMap']['name']}, not rendered")
            if "secret" in v:
                check_secret(wid, v["secret"]["secretName"], None, secrets, args.external_secret)
            for src in (v.get("projected") or {}).get("sources") or []:
                if "configMap" in src and src["configMap"]["name"] not in configmaps:
                    err(f"{wid}: volume {v['name']} projects ConfigMap {src['configMap']['name']}, not rendered")
                if "secret" in src:
                    for item in src["secret"].get("items") or [{"key": None}]:
                        check_secret(wid, src["secret"]["name"], item["key"], secrets, args.external_secret)
        claim_names = {c["metadata"]["name"] for c in w["spec"].get("volumeClaimTemplates") or []}
        for c in spec.get("initContainers", []) + spec["containers"]:
            cid = f"{wid} container {c['name']}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        err(f"{cid}: no resources.{part}.{r}")
            csc = c.get("securityContext") or {}
            if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                err(f"{cid}: runAsNonRoot is not set")
            if csc.get("allowPrivilegeEscalation") is not False:
                err(f"{cid}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                err(f"{cid}: capabilities must drop ALL")
            if csc.get("readOnlyRootFilesystem") is not True:
                err(f"{cid}: readOnlyRootFilesystem must be true")
            for m in c.get("volumeMounts") or []:
                if m["name"] not in volumes and m["name"] not in claim_names:
                    err(f"{cid}: mounts {m['name']}, which is neither a volume nor a claim template")
            for ef in c.get("envFrom") or []:
                if "configMapRef" in ef and ef["configMapRef"]["name"] not in configmaps:
                    err(f"{cid}: envFrom ConfigMap {ef['configMapRef']['name']} is not rendered")
                if "secretRef" in ef:
                    check_secret(cid, ef["secretRef"]["name"], None, secrets, args.external_secret)
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    cm = configmaps.get(ref["name"])
                    if cm is None or ref["key"] not in (cm.get("data") or {}):
                        err(f"{cid}: env {e['name']} wants ConfigMap {ref['name']} key {ref['key']}, not rendered")
                if "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    check_secret(cid, ref["name"], ref["key"], secrets, args.external_secret)

    # --- the rentops services --------------------------------------------------------------
    nats_passwords = {}  # service user -> (Secret, key) its password file comes from
    for w in workloads:
        labels = pod_labels(w)
        if labels.get("app.kubernetes.io/component") != "service":
            continue
        wid = ident(w)
        spec = pod_spec(w)
        c = spec["containers"][0]
        env = {e["name"]: e for e in c.get("env") or []}
        grpc = [p["containerPort"] for p in c.get("ports") or [] if p.get("name") == "grpc"]
        if not grpc:
            err(f"{wid}: no container port named grpc")
            continue
        shared = {}
        for ef in c.get("envFrom") or []:
            cm = configmaps.get((ef.get("configMapRef") or {}).get("name"))
            if cm:
                shared.update(cm.get("data") or {})
        settings = dict(shared)
        settings.update({k: e.get("value") for k, e in env.items() if "value" in e})
        probe_port = grpc[0]
        health_addr = settings.get("RENTOPS_HEALTH_ADDR", "off")
        if health_addr and health_addr != "off":
            health = [p["containerPort"] for p in c.get("ports") or [] if p.get("name") == "health"]
            if not health or not health_addr.endswith(f":{health[0]}"):
                err(f"{wid}: RENTOPS_HEALTH_ADDR={health_addr!r} needs a container port named health on that port")
            else:
                probe_port = health[0]
        for probe in ("livenessProbe", "readinessProbe"):
            p = c.get(probe) or {}
            if (p.get("grpc") or {}).get("port") != probe_port:
                err(f"{wid}: {probe} must be a grpc probe on port {probe_port}")
        if args.require_auth:
            if settings.get("RENTOPS_AUTH") != "jwt" or not settings.get("RENTOPS_AUTH_JWT_KEY_FILE"):
                err(f"{wid}: callers must be authenticated (RENTOPS_AUTH=jwt, RENTOPS_AUTH_JWT_KEY_FILE)")
            if not (settings.get("RENTOPS_TLS_CERT_FILE") and settings.get("RENTOPS_TLS_KEY_FILE")):
                err(f"{wid}: gRPC must be served over TLS (RENTOPS_TLS_CERT_FILE, RENTOPS_TLS_KEY_FILE)")
            if settings.get("RENTOPS_TLS_CERT_FILE") and probe_port == grpc[0]:
                err(f"{wid}: with TLS the probes need the plaintext health port (RENTOPS_HEALTH_ADDR)")
        addr = (env.get("RENTOPS_GRPC_ADDR") or {}).get("value", "")
        if not addr.endswith(f":{grpc[0]}") or not addr.startswith("0.0.0.0:"):
            err(f"{wid}: RENTOPS_GRPC_ADDR={addr!r} must listen on 0.0.0.0:{grpc[0]}")
        iid = ((env.get("RENTOPS_INSTANCE_ID") or {}).get("valueFrom") or {}).get("fieldRef", {})
        if iid.get("fieldPath") != "metadata.name":
            err(f"{wid}: RENTOPS_INSTANCE_ID must come from metadata.name")
        if "RENTOPS_DATABASE_URL" in env:
            err(f"{wid}: RENTOPS_DATABASE_URL holds a password: give it as a file (RENTOPS_DATABASE_URL_FILE)")
        url_file = (env.get("RENTOPS_DATABASE_URL_FILE") or {}).get("value", "")
        mounts = [m for m in c.get("volumeMounts", []) if url_file.startswith(m.get("mountPath", "") + "/")]
        if not url_file:
            err(f"{wid}: RENTOPS_DATABASE_URL_FILE is not set")
        elif not mounts:
            err(f"{wid}: RENTOPS_DATABASE_URL_FILE={url_file} is on no mounted volume")
        else:
            # The file is an item of a mounted Secret volume.
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            vol = volumes.get(mounts[0]["name"], {})
            items = [i.get("path") for i in (vol.get("secret") or {}).get("items", [])]
            if "secret" not in vol or url_file.rsplit("/", 1)[-1] not in items:
                err(f"{wid}: RENTOPS_DATABASE_URL_FILE={url_file} is not an item of a mounted Secret")
        # NATS: its own user, the password a file of a mounted Secret, never an env value.
        nats_user = (env.get("RENTOPS_NATS_USER") or {}).get("value", "")
        if "RENTOPS_NATS_PASSWORD" in env or "RENTOPS_NATS_PASSWORD" in shared:
            err(f"{wid}: RENTOPS_NATS_PASSWORD is a password: give it as a file (RENTOPS_NATS_PASSWORD_FILE)")
        if nats_user != w["metadata"]["name"]:
            err(f"{wid}: RENTOPS_NATS_USER={nats_user!r} must be the service's own user {w['metadata']['name']!r}")
        pw_file = (env.get("RENTOPS_NATS_PASSWORD_FILE") or {}).get("value", "")
        pw_mounts = [m for m in c.get("volumeMounts", []) if pw_file.startswith(m.get("mountPath", "") + "/")]
        pw_vol = {v["name"]: v for v in spec.get("volumes", [])}.get(pw_mounts[0]["name"], {}) if pw_mounts else {}
        pw_items = (pw_vol.get("secret") or {}).get("items", [])
        if not pw_file:
            err(f"{wid}: RENTOPS_NATS_PASSWORD_FILE is not set")
        elif not [i for i in pw_items if i.get("path") == pw_file.rsplit("/", 1)[-1]]:
            err(f"{wid}: RENTOPS_NATS_PASSWORD_FILE={pw_file} is not an item of a mounted Secret")
        else:
            item = [i for i in pw_items if i.get("path") == pw_file.rsplit("/", 1)[-1]][0]
            nats_passwords[nats_user] = (pw_vol["secret"]["secretName"], item["key"])
        # Shutdown budget: preStop pause + the service's own grace must fit the pod's grace.
        grace = int(shared.get("RENTOPS_SHUTDOWN_GRACE_SECS", "20"))
        pause = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
        tgps = spec.get("terminationGracePeriodSeconds", 30)
        if pause + grace >= tgps:
            err(f"{wid}: preStop {pause}s + RENTOPS_SHUTDOWN_GRACE_SECS {grace}s >= terminationGracePeriodSeconds {tgps}s")

    # --- Services, PDBs, NetworkPolicies, HPAs, StatefulSets -------------------------------
    for s in by_kind.get("Service", {}).values():
        sel = s["spec"].get("selector") or {}
        pods = [w for w in workloads if matches({"matchLabels": sel}, pod_labels(w))]
        if not pods:
            err(f"{ident(s)} selects no pods: {sel}")
            continue
        names = {p.get("name") for w in pods for c in pod_spec(w)["containers"] for p in c.get("ports") or []}
        for p in s["spec"].get("ports") or []:
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and tp not in names:
                err(f"{ident(s)}: targetPort {tp} is no container port name of the selected pods")
    for p in by_kind.get("PodDisruptionBudget", {}).values():
        selects_some_pod(p["spec"].get("selector"), ident(p))
    for n in by_kind.get("NetworkPolicy", {}).values():
        selects_some_pod(n["spec"].get("podSelector"), ident(n))
        for rule in (n["spec"].get("ingress") or []) + (n["spec"].get("egress") or []):
            for peer in (rule.get("from") or []) + (rule.get("to") or []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    selects_some_pod(peer["podSelector"], f"{ident(n)} peer")
    for h in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = h["spec"]["scaleTargetRef"]
        if ref["name"] not in by_kind.get(ref["kind"], {}):
            err(f"{ident(h)}: scaleTargetRef {ref['kind']}/{ref['name']} is not rendered")
        if h["spec"].get("minReplicas", 1) > h["spec"]["maxReplicas"]:
            err(f"{ident(h)}: minReplicas > maxReplicas")
    for st in by_kind.get("StatefulSet", {}).values():
        svc = by_kind.get("Service", {}).get(st["spec"]["serviceName"])
        if svc is None:
            err(f"{ident(st)}: serviceName {st['spec']['serviceName']} is not rendered")

    # --- exactly the services that exist ---------------------------------------------------------
    if args.services_dir:
        built = {
            d for d in os.listdir(args.services_dir) if os.path.isfile(os.path.join(args.services_dir, d, "Cargo.toml"))
        }
        deployed = {
            w["metadata"]["name"]
            for w in workloads
            if pod_labels(w).get("app.kubernetes.io/component") == "service"
        }
        for name in sorted(deployed - built):
            err(f"Deployment/{name}: no service {name} is built in services/ (its image would not exist)")
        for name in sorted(built - deployed):
            err(f"services/{name} is built but not deployed")

    # --- NATS --------------------------------------------------------------------------------
    nats = by_kind.get("StatefulSet", {}).get("nats")
    if nats is None:
        err("no StatefulSet/nats")
    else:
        check_nats(nats, configmaps, secrets, args.nats_server, nats_passwords)

    # --- placeholders --------------------------------------------------------------------------
    if args.forbid_placeholders and PLACEHOLDER in text:
        lines = [l.strip() for l in text.splitlines() if PLACEHOLDER in l]
        err(f"placeholder values ({PLACEHOLDER}) would be deployed: {lines}")
    elif PLACEHOLDER in text:
        print(f"  note: placeholder Secrets ({PLACEHOLDER}) are part of this render")

    for e in errors:
        print(f"  FAIL {e}")
    if not errors:
        print(f"  ok: {len(objs)} objects cross-checked")
    return 1 if errors else 0


def check_secret(where, name, key, secrets, external):
    if name in external:
        return
    s = secrets.get(name)
    if s is None:
        err(f"{where}: uses Secret {name}, which is not rendered (nor declared external)")
        return
    if key is not None and key not in (s.get("stringData") or {}) and key not in (s.get("data") or {}):
        err(f"{where}: Secret {name} has no key {key}")


def secret_value(secret, key):
    if key in (secret.get("stringData") or {}):
        return secret["stringData"][key]
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode()
    return None


def check_nats(nats, configmaps, secrets, nats_server, nats_passwords):
    replicas = nats["spec"].get("replicas", 1)
    # The config folder: a ConfigMap, or a projected volume of a ConfigMap and Secret items.
    cm, secret_items = None, []
    for v in pod_spec(nats).get("volumes") or []:
        if "configMap" in v:
            cm = configmaps.get(v["configMap"]["name"])
        for src in (v.get("projected") or {}).get("sources") or []:
            if "configMap" in src:
                cm = configmaps.get(src["configMap"]["name"])
            if "secret" in src:
                for item in src["secret"].get("items") or []:
                    secret_items.append((src["secret"]["name"], item["key"], item.get("path", item["key"])))
        if cm is not None:
            break
    if cm is None or "nats.conf" not in (cm.get("data") or {}):
        err("StatefulSet/nats: its ConfigMap with nats.conf is not rendered")
        return
    conf = cm["data"]["nats.conf"]
    # Only uncommented text counts.
    live = "\n".join(l.split("#", 1)[0] for l in conf.splitlines())
    routes = re.findall(r"nats://[^\s\]]+:6222", live)
    has_cluster = re.search(r"^\s*cluster\s*\{", live, re.M) is not None
    if replicas > 1:
        if not has_cluster:
            err(f"StatefulSet/nats has {replicas} replicas but nats.conf has no cluster block")
        elif len(routes) != replicas:
            err(f"StatefulSet/nats has {replicas} replicas but nats.conf lists {len(routes)} routes")
    elif has_cluster:
        err("StatefulSet/nats runs 1 server but nats.conf has a cluster block (it would wait for routes)")
    if "jetstream" not in live:
        err("nats.conf does not enable jetstream")
    permissions = (cm.get("data") or {}).get("permissions.conf")
    if not re.search(r"^\s*include\s+\./permissions\.conf", live, re.M) or permissions is None:
        err("nats.conf must include ./permissions.conf, from the same ConfigMap: clients must be users")
    # The server's passwords: every user of permissions.conf has one, and the services' own
    # password files agree with them (when both are rendered, i.e. placeholders).
    files = dict(cm.get("data") or {})
    wanted = sorted(set(re.findall(r"\$(RENTOPS_NATS_[A-Z_]+_PASSWORD)", permissions or "")))
    server_side = None
    for name, key, path in secret_items:
        s = secrets.get(name)
        if s is not None:
            files[path] = secret_value(s, key) or ""
            if path == "passwords.conf":
                server_side = dict(re.findall(r'^\s*(\w+)\s*[:=]\s*"([^"]*)"', files[path], re.M))
        elif path == "passwords.conf":
            # An external Secret: check the rest of the config with stand-in passwords.
            files[path] = "".join(f'{v}: "stand-in"\n' for v in wanted)
    if permissions is not None and "passwords.conf" not in files:
        err("StatefulSet/nats: no passwords.conf (a Secret item) beside permissions.conf")
    if server_side is not None:
        for v in wanted:
            if v not in server_side:
                err(f"Secret passwords.conf does not define {v}, which permissions.conf uses")
        for user, (name, key) in sorted(nats_passwords.items()):
            s = secrets.get(name)
            var = f"RENTOPS_NATS_{user.upper()}_PASSWORD"
            if s is not None and secret_value(s, key) != server_side.get(var):
                err(f"Deployment/{user}: its NATS password (Secret {name} key {key}) is not the server's {var}")
    for cfg in configmaps.values():
        stream_replicas = (cfg.get("data") or {}).get("RENTOPS_STREAM_REPLICAS")
        if stream_replicas and int(stream_replicas) > replicas:
            err(f"RENTOPS_STREAM_REPLICAS={stream_replicas} in {ident(cfg)} but NATS runs {replicas} server(s)")
    if nats_server:
        with tempfile.TemporaryDirectory() as d:
            for path, text in files.items():
                with open(os.path.join(d, path), "w") as f:
                    f.write(text)
            r = subprocess.run([nats_server, "-t", "-c", os.path.join(d, "nats.conf")], capture_output=True, text=True,
                               env={**os.environ, "SERVER_NAME": "nats-0"})
            if r.returncode != 0:
                err(f"nats-server -t rejects nats.conf: {(r.stderr or r.stdout).strip()}")
            else:
                print(f"  ok: nats-server -t accepts nats.conf with its permissions ({replicas} server(s), {len(routes)} routes, {len(wanted)} users)")


if __name__ == "__main__":
    sys.exit(main())
