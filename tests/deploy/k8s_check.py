#!/usr/bin/env python3
"""Checks the Kubernetes manifests of deploy/kubernetes offline.

No cluster runs here, so this checks what `kubectl apply` would not catch
until too late, on the rendered YAML (kubectl kustomize, or the resources
the kustomization lists):
  - every object has a known apiVersion/kind, a name and its required fields;
  - the Services and the PodDisruptionBudget select the Deployment's pods;
  - every ConfigMap the pods use is in the base; every Secret is one of the
    expected external ones (never defined in the base, never inlined);
  - every CRMSYNC_* variable the ConfigMap sets is a crm-syncd setting (from
    `crm-syncd --help`);
  - probes: readiness and startup through grpc.health.v1 (crmctl health),
    liveness on the gRPC port, on declared container ports;
  - resources, a non-root read-only container without capabilities,
    terminationGracePeriodSeconds above --shutdown-grace-seconds;
  - the migration Job runs `--migrate-only` with the same settings.

  k8s_check.py --syncd CRM_SYNCD RENDERED.yaml
  k8s_check.py --self-test CRM_SYNCD RENDERED.yaml   (broken variants must fail)
  k8s_check.py --compose CRM_SYNCD deploy/compose/compose.yaml
    (the compose file: PostgreSQL, three crm-syncd, HAProxy; every setting
    real, every HAProxy variable one haproxy.cfg reads, every secret and
    dependency declared, health checks on every service)
Exit 0 when clean, 1 with the problems listed.
"""
import copy
import re
import subprocess
import sys

import yaml

KNOWN = {
    ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"), ("batch/v1", "Job"),
}
EXTERNAL_SECRETS = {"crm-syncd-tls", "crm-syncd-token", "crm-syncd-db"}


def settings_of(syncd):
    text = subprocess.run([syncd, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"Env:(CRMSYNC_[A-Z_]+)", text))


def pod_specs(objs):
    for o in objs:
        if o["kind"] == "Deployment":
            yield o, o["spec"]["template"]["spec"]
        elif o["kind"] == "Job":
            yield o, o["spec"]["template"]["spec"]


def check(objs, settings):
    problems = []
    p = problems.append
    by_kind = {}
    for o in objs:
        key = (o.get("apiVersion"), o.get("kind"))
        if key not in KNOWN:
            p(f"unknown apiVersion/kind {key}")
            continue
        if not o.get("metadata", {}).get("name"):
            p(f"{key[1]} without metadata.name")
        by_kind.setdefault(o["kind"], []).append(o)
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        p(f"expected one Deployment, found {len(deployments)}")
        return problems
    dep = deployments[0]
    spec = dep["spec"]
    pod_labels = spec["template"]["metadata"].get("labels", {})
    if spec.get("selector", {}).get("matchLabels", {}).items() - pod_labels.items():
        p("Deployment selector does not match its pod labels")
    if spec.get("replicas", 1) < 2:
        p("fewer than 2 replicas: no availability during a rollout")

    def selects(sel):
        return sel and not (sel.items() - pod_labels.items())

    for svc in by_kind.get("Service", []):
        if not selects(svc["spec"].get("selector", {})):
            p(f"Service {svc['metadata']['name']} does not select the crm-syncd pods")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if not pdbs:
        p("no PodDisruptionBudget")
    for pdb in pdbs:
        if not selects(pdb["spec"].get("selector", {}).get("matchLabels", {})):
            p(f"PodDisruptionBudget {pdb['metadata']['name']} does not select the crm-syncd pods")
        if "minAvailable" not in pdb["spec"] and "maxUnavailable" not in pdb["spec"]:
            p("PodDisruptionBudget sets neither minAvailable nor maxUnavailable")

    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    for cm in configmaps.values():
        for name in cm.get("data", {}):
            if name.startswith("CRMSYNC_") and name not in settings:
                p(f"ConfigMap {cm['metadata']['name']} sets {name}, which is not a crm-syncd setting")
    grace = 0
    for cm in configmaps.values():
        grace = max(grace, int(cm.get("data", {}).get("CRMSYNC_SHUTDOWN_GRACE_SECONDS", 0)))

    for owner, pod in pod_specs(objs):
        where = f"{owner['kind']} {owner['metadata']['name']}"
        sc = pod.get("securityContext", {})
        if not sc.get("runAsNonRoot"):
            p(f"{where}: pod may run as root")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "secret" in v and v["secret"]["secretName"] not in EXTERNAL_SECRETS:
                p(f"{where}: unexpected Secret {v['secret']['secretName']}")
        for c in pod["containers"]:
            cwhere = f"{where} container {c['name']}"
            csc = c.get("securityContext", {})
            if not csc.get("readOnlyRootFilesystem"):
                p(f"{cwhere}: root filesystem writable")
            if csc.get("allowPrivilegeEscalation", True):
                p(f"{cwhere}: privilege escalation allowed")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []):
                p(f"{cwhere}: capabilities not dropped")
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits", {}).get("memory"):
                p(f"{cwhere}: resource requests or memory limit missing")
            for ref in c.get("envFrom", []):
                name = ref.get("configMapRef", {}).get("name")
                if name and name not in configmaps:
                    p(f"{cwhere}: ConfigMap {name} is not in the base")
                if "secretRef" in ref:
                    p(f"{cwhere}: secrets must be mounted files, not environment")
            for e in c.get("env", []):
                if e["name"].startswith("CRMSYNC_") and e["name"] not in settings:
                    p(f"{cwhere}: {e['name']} is not a crm-syncd setting")
                if "value" in e and re.search(r"password|secret|key", e["name"], re.I) and \
                        not e["name"].endswith("_FILE"):
                    p(f"{cwhere}: {e['name']} inlined")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    p(f"{cwhere}: mounts undeclared volume {m['name']}")
            if owner["kind"] == "Job":
                if "--migrate-only" not in c.get("args", []):
                    p(f"{cwhere}: the migration Job does not run --migrate-only")
                continue
            ports = {pt.get("name"): pt["containerPort"] for pt in c.get("ports", [])}
            if 50051 not in ports.values():
                p(f"{cwhere}: gRPC port 50051 not declared")
            for probe in ("readinessProbe", "startupProbe"):
                cmd = c.get(probe, {}).get("exec", {}).get("command", [])
                native = c.get(probe, {}).get("grpc")
                if not (native or (cmd and cmd[0] == "crmctl" and cmd[-1] == "health")):
                    p(f"{cwhere}: {probe} does not ask grpc.health.v1")
            live = c.get("livenessProbe", {})
            port = live.get("tcpSocket", {}).get("port") or live.get("grpc", {}).get("port")
            if port is None or (port not in ports and port not in ports.values()):
                p(f"{cwhere}: livenessProbe not on a declared port")
    if dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30) <= grace:
        p(f"terminationGracePeriodSeconds not above --shutdown-grace-seconds ({grace})")
    if not by_kind.get("Job"):
        p("no migration Job")
    return problems


def load(path):
    with open(path) as f:
        return [o for o in yaml.safe_load_all(f) if o]


def self_test(objs, settings):
    """Broken variants of the manifests: each must be caught."""
    def dep(o):
        return next(x for x in o if x["kind"] == "Deployment")

    def container(o):
        return dep(o)["spec"]["template"]["spec"]["containers"][0]

    variants = {
        "service selects other pods":
            lambda o: next(x for x in o if x["kind"] == "Service")["spec"].update(
                selector={"app.kubernetes.io/name": "other"}),
        "unknown setting":
            lambda o: next(x for x in o if x["kind"] == "ConfigMap")["data"].update(
                CRMSYNC_NO_SUCH_SETTING="1"),
        "readiness without health":
            lambda o: container(o).update(readinessProbe={"tcpSocket": {"port": "grpc"}}),
        "no pdb": lambda o: o.remove(next(x for x in o if x["kind"] == "PodDisruptionBudget")),
        "grace too short":
            lambda o: dep(o)["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=5),
        "writable root": lambda o: container(o)["securityContext"].update(
            readOnlyRootFilesystem=False),
        "secret inlined": lambda o: container(o).setdefault("env", []).append(
            {"name": "CRMSYNC_TOKEN_KEY", "value": "-----BEGIN PRIVATE KEY-----"}),
    }
    failed = []
    for name, breaker in variants.items():
        broken = copy.deepcopy(objs)
        breaker(broken)
        if not check(broken, settings):
            failed.append(name)
    return failed


def check_compose(path, settings):
    import os
    problems = []
    p = problems.append
    with open(path) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services", {})
    syncds = [n for n, s in services.items() if "crm-syncd" in str(s.get("image", ""))]
    if len(syncds) < 3:
        p(f"{len(syncds)} crm-syncd services, want 3")
    if "postgres" not in services or "haproxy" not in services:
        p("postgres or haproxy service missing")
    cfg = os.path.join(os.path.dirname(path), "..", "haproxy", "haproxy.cfg")
    with open(cfg) as f:
        lb_vars = set(re.findall(r"\$\{(CRMSYNC_[A-Z0-9_]+)\}", f.read()))
    secrets = set(doc.get("secrets", {}))
    for name, s in services.items():
        env = s.get("environment", {})
        for var in env:
            if not var.startswith("CRMSYNC_"):
                continue
            if name == "haproxy":
                if var not in lb_vars:
                    p(f"haproxy sets {var}, which haproxy.cfg does not read")
            elif var not in settings:
                p(f"{name} sets {var}, which is not a crm-syncd setting")
        for sec in s.get("secrets", []):
            if sec not in secrets:
                p(f"{name} uses undeclared secret {sec}")
        deps = s.get("depends_on", [])
        for dep in (deps if isinstance(deps, list) else deps.keys()):
            if dep not in services:
                p(f"{name} depends on unknown service {dep}")
        if name != "haproxy" and "healthcheck" not in s:
            p(f"{name} has no health check")
        if name in syncds:
            test = s.get("healthcheck", {}).get("test", [])
            if "crmctl" not in test or "health" not in test:
                p(f"{name}: health check does not ask grpc.health.v1 (crmctl health)")
    return problems


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(argv) == 4 and argv[1] == "--compose":
        problems = check_compose(argv[3], settings_of(argv[2]))
        for pr in problems:
            print("compose-check: " + pr)
        if not problems:
            print("compose-check: ok")
        return 1 if problems else 0
    if len(argv) != 4 or argv[1] not in ("--syncd", "--self-test"):
        print(__doc__, file=sys.stderr)
        return 2
    settings = settings_of(argv[2])
    objs = load(argv[3])
    problems = check(objs, settings)
    for pr in problems:
        print("k8s-check: " + pr)
    if problems:
        return 1
    if argv[1] == "--self-test":
        missed = self_test(objs, settings)
        for m in missed:
            print("k8s-check self-test: a broken variant passed: " + m)
        if missed:
            return 1
        print("k8s-check: self-test caught every broken variant")
    print(f"k8s-check: {len(objs)} objects ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
