#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests and the compose file.

No cluster and no container engine run in the test command, so this checks
what `kubectl apply` or `docker compose up` would only reveal too late, or
never (a setting crm-syncd does not know is refused at start; a probe on an
undeclared port just keeps pods unready):

Kubernetes (--manifests: the output of `kubectl kustomize deploy/kubernetes`)
  - every object: a known apiVersion/kind, a name, no namespace (the base is
    namespace-agnostic), its required fields; no Secret in the base;
  - the Deployment, both Services (one headless) and the PodDisruptionBudget
    select the crm-syncd server pods and not the migration Job's; every
    Service targets a declared container port;
  - every ConfigMap referenced is in the base, every Secret one of the
    expected external ones (EXTERNAL_SECRETS), mounted as files (never as
    environment), every file setting (TLS, token key, password file) under a
    mount that holds it; nothing secret inlined in a value;
  - every environment variable is a crm-syncd setting with a valid value
    (names, types, ranges and choices from `crm-syncd --help`);
  - listen addresses not loopback and on the declared ports; Prometheus
    scrape annotations on the metrics port;
  - readiness and startup probes ask grpc.health.v1 (the kubelet's `grpc:`
    probe, or `crmctl health` over TLS) on a declared port; liveness exists
    and does not restart pods during a short database outage;
  - non-root numeric user, read-only root filesystem, no privilege
    escalation, ALL capabilities dropped, RuntimeDefault seccomp, fsGroup for
    the Secrets, no service-account token, the image's entrypoint replaced;
    resource requests and a memory limit;
  - terminationGracePeriodSeconds above --shutdown-grace-seconds;
  - a migration Job running `--migrate-only` with the Deployment's image and
    store.
Compose (--compose deploy/compose/compose.yaml)
  - PostgreSQL, three crm-syncd and HAProxy; dependencies (crm-syncd waits
    for a healthy PostgreSQL, HAProxy for every instance); health checks;
  - every CRMSYNC_* of crm-syncd a real setting with a valid value, every
    CRMSYNC_* of HAProxy a variable deploy/haproxy/haproxy.cfg reads; the
    backends are exactly the instances' fixed addresses and ports; the check
    script, its crmctl settings and haproxy.cfg mounted where they are used;
  - every file setting a declared secret of that service; store, user,
    database and password shared with the postgres service; a stop grace
    period above --shutdown-grace-seconds.
--self-test also feeds broken variants of the given file to the same checks
and fails unless each is caught with the expected problem, and fails if a
variant that must stay acceptable is refused.

  k8s_check.py --syncd CRM_SYNCD --manifests RENDERED.yaml [--self-test]
  k8s_check.py --syncd CRM_SYNCD --compose COMPOSE.yaml [--self-test]
Exit status: 0 clean, 1 problems (listed), 2 usage.
"""
import argparse
import copy
import ipaddress
import os
import re
import subprocess
import sys

import yaml

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

KNOWN_KINDS = {
    ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment"),
    ("policy/v1", "PodDisruptionBudget"), ("batch/v1", "Job"),
}
# Created outside the base (deploy/kubernetes/deployment.yaml says how), by name
# and the keys the pods read.
EXTERNAL_SECRETS = {
    "crm-syncd-tls": {"tls.crt", "tls.key", "ca.crt"},
    "crm-syncd-token": {"token.key"},
    "crm-syncd-db": {"password"},
}
# Settings that name a file crm-syncd reads (must be mounted).
FILE_SETTINGS = {
    "CRMSYNC_TLS_CERT", "CRMSYNC_TLS_KEY", "CRMSYNC_TLS_CLIENT_CA", "CRMSYNC_TOKEN_KEY",
    "CRMSYNC_TOKEN_VERIFY_KEY", "CRMSYNC_STORE_PASSWORD_FILE", "CRMSYNC_POLICY_FILE",
}
# What `crm-syncd --migrate-only` reads besides CRMSYNC_STORE.
MIGRATE_FILE_SETTINGS = {"CRMSYNC_STORE_PASSWORD_FILE"}
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
# A liveness probe that follows the store (grpc.health.v1, /healthz) must
# tolerate a database outage at least this long before restarting pods.
MIN_HEALTH_LIVENESS_WINDOW = 300
FLAG_VALUES = {"true", "false", "1", "0", "on", "off", "yes", "no"}


# ---------------------------------------------------------------- settings
class Settings:
    """crm-syncd's settings as `crm-syncd --help` prints them."""

    LINE = re.compile(r"^\s*--([a-z0-9-]+)(.*?)\s*\(Env:(CRMSYNC_[A-Z0-9_]+)\)\s*$")

    def __init__(self, help_text):
        self.spec = {}
        for line in help_text.splitlines():
            m = self.LINE.match(line)
            if m:
                self.spec[m.group(3)] = m.group(2).strip()
        if len(self.spec) < 10:
            raise SystemExit("k8s_check: could not read the settings from crm-syncd --help")

    @classmethod
    def of_binary(cls, syncd):
        return cls(subprocess.run([syncd, "--help"], capture_output=True, text=True,
                                  check=True).stdout)

    def __contains__(self, name):
        return name in self.spec

    def default(self, name):
        spec = self.spec.get(name, "")
        return spec.rsplit("=", 1)[1] if "=" in spec else None

    def value_problem(self, name, value):
        """Why VALUE is not valid for setting NAME, or None."""
        if name not in self.spec:
            return f"{name} is not a crm-syncd setting"
        if not isinstance(value, str):
            return f"{name}: value {value!r} is not a string"
        spec = self.spec[name]
        if spec == "":
            return None if value.lower() in FLAG_VALUES else f"{name}={value!r} is not true/false"
        m = re.match(r"(INT|FLOAT):\S+ in \[(\S+) - (\S+)\]", spec)
        if m:
            conv = int if m.group(1) == "INT" else float
            try:
                v = conv(value)
            except ValueError:
                return f"{name}={value!r} is not a{'n integer' if conv is int else ' number'}"
            if not float(m.group(2)) <= v <= float(m.group(3)):
                return f"{name}={value} is outside [{m.group(2)}, {m.group(3)}]"
            return None
        m = re.match(r"TEXT:\{([^}]*)\}", spec)
        if m and value not in m.group(1).split(","):
            return f"{name}={value!r} is not one of {m.group(1)}"
        return None


def host_port(address):
    """('host', port) of host:port or [v6]:port; port None when absent."""
    m = re.match(r"^(\[[^\]]*\]|[^:]*):(\d+)$", address or "")
    return (m.group(1), int(m.group(2))) if m else (address, None)


def inlined_secret(value):
    """Why VALUE looks like a secret written inline, or None."""
    if not isinstance(value, str):
        return None
    if "-----BEGIN" in value:
        return "a PEM block"
    if re.search(r"(^|\s)password\s*=", value, re.I):
        return "a password in a connection string"
    if re.search(r"://[^/@\s:]+:[^/@\s]+@", value):
        return "a password in a URI"
    return None


def store_conninfo(store):
    """Key/value parameters of a postgres: store (keyword form or URI)."""
    target = store[len("postgres:"):] if store.startswith("postgres:") else ""
    if "://" in target:
        m = re.match(r"postgres(?:ql)?://(?:([^@:/]+)(?::[^@/]*)?@)?([^/:?]*)(?::\d+)?/([^?]*)",
                     target)
        return {"user": m.group(1), "host": m.group(2), "dbname": m.group(3)} if m else {}
    return dict(kv.split("=", 1) for kv in target.split() if "=" in kv)


def get(obj, path, default=None):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


# -------------------------------------------------------------- Kubernetes
def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_env(c, configmaps, settings, where, p):
    """The environment the container gets; reports bad references and values."""
    env = {}
    for ref in c.get("envFrom", []):
        if "secretRef" in ref:
            p(f"{where}: Secret {get(ref, 'secretRef.name')} as environment (mount Secrets as "
              "files)")
        name = get(ref, "configMapRef.name")
        if name is None:
            continue
        if name not in configmaps:
            p(f"{where}: ConfigMap {name} is not in the base")
            continue
        for key, value in (configmaps[name].get("data") or {}).items():
            env[ref.get("prefix", "") + key] = value
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "configMapKeyRef" in get(e, "valueFrom", {}):
            ref = e["valueFrom"]["configMapKeyRef"]
            data = (configmaps.get(ref.get("name")) or {}).get("data") or {}
            if ref.get("name") not in configmaps:
                p(f"{where}: ConfigMap {ref.get('name')} is not in the base")
            elif ref.get("key") not in data:
                p(f"{where}: ConfigMap {ref.get('name')} has no key {ref.get('key')}")
            else:
                env[e["name"]] = data[ref["key"]]
        elif "secretKeyRef" in get(e, "valueFrom", {}):
            p(f"{where}: {e['name']} from a Secret as environment (mount Secrets as files)")
            env[e["name"]] = None
        else:
            env[e["name"]] = None
    for name, value in env.items():
        if value is None:
            if name not in settings:
                p(f"{where}: {name} is not a crm-syncd setting")
            continue
        problem = settings.value_problem(name, value)
        if problem:
            p(f"{where}: {problem}")
        secret = inlined_secret(value)
        if secret:
            p(f"{where}: {name} holds {secret} inline")
    return env


def secret_mounts(pod, c, where, p):
    """mountPath -> set of file names available there (None = not a Secret)."""
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    mounts = {}
    for m in c.get("volumeMounts", []):
        v = volumes.get(m.get("name"))
        if v is None:
            p(f"{where}: mounts undeclared volume {m.get('name')}")
            continue
        if "secret" in v:
            name = v["secret"].get("secretName")
            keys = EXTERNAL_SECRETS.get(name, set())
            items = v["secret"].get("items")
            files = {i.get("path") for i in items} if items else set(keys)
            mounts[m["mountPath"].rstrip("/")] = files
        else:
            mounts[m["mountPath"].rstrip("/")] = None
    return mounts


def check_file(path, mounts, what, where, p):
    directory, base = os.path.split(path)
    if directory in mounts:
        if mounts[directory] is not None and base not in mounts[directory]:
            p(f"{where}: {what} {path}: the Secret mounted at {directory} holds no {base}")
        return
    if not any(path.startswith(m + "/") for m in mounts):
        p(f"{where}: {what} {path} is not on a mounted volume")


def check_pod_security(pod, c, where, p):
    psc = pod.get("securityContext") or {}
    csc = c.get("securityContext") or {}

    def eff(key):
        return csc.get(key, psc.get(key))

    if eff("runAsNonRoot") is not True:
        p(f"{where}: runAsNonRoot not set")
    uid = eff("runAsUser")
    if not isinstance(uid, int) or uid <= 0:
        # The image's USER is the name "crmsync": the kubelet cannot verify a
        # name against runAsNonRoot and refuses to start the container.
        p(f"{where}: no numeric non-root runAsUser (the image's user is a name)")
    if (get(csc, "seccompProfile.type") or get(psc, "seccompProfile.type")) not in (
            "RuntimeDefault", "Localhost"):
        p(f"{where}: seccompProfile is not RuntimeDefault")
    if csc.get("readOnlyRootFilesystem") is not True:
        p(f"{where}: root filesystem writable (readOnlyRootFilesystem)")
    if csc.get("allowPrivilegeEscalation") is not False:
        p(f"{where}: privilege escalation allowed (allowPrivilegeEscalation)")
    if csc.get("privileged"):
        p(f"{where}: privileged")
    if "ALL" not in (get(csc, "capabilities.drop") or []):
        p(f"{where}: capabilities not dropped (drop: [ALL])")
    if get(csc, "capabilities.add"):
        p(f"{where}: adds capabilities {csc['capabilities']['add']}")
    if pod.get("automountServiceAccountToken") is not False:
        p(f"{where}: service-account token mounted (crm-syncd does not use the API)")
    secrets = [v for v in pod.get("volumes", []) if "secret" in v]
    if secrets and not psc.get("fsGroup"):
        p(f"{where}: Secrets mounted without fsGroup: unreadable to the non-root user")
    for v in secrets:
        mode = v["secret"].get("defaultMode", 0o644)
        if mode & 0o007:
            p(f"{where}: Secret volume {v.get('name')} readable by every user "
              f"(defaultMode {mode:o})")
    # The image's entrypoint reads /etc/crmsync/crm-syncd.toml (group crmsync
    # only) and starts in /var/lib/crmsync (crmsync only): a numeric user
    # other than crmsync's must replace both.
    command = (c.get("command") or []) + (c.get("args") or [])
    if not c.get("command"):
        p(f"{where}: no command: the image's entrypoint reads /etc/crmsync/crm-syncd.toml, "
          "unreadable to runAsUser")
    if any(a.startswith("--config") for a in command):
        p(f"{where}: --config given: every setting belongs in the ConfigMap")
    wd = c.get("workingDir", "")
    if not wd or wd.startswith("/var/lib/crmsync"):
        p(f"{where}: workingDir not set away from /var/lib/crmsync (closed to runAsUser)")
    res = c.get("resources") or {}
    for kind in ("cpu", "memory"):
        if not get(res, f"requests.{kind}"):
            p(f"{where}: no {kind} request")
    if not get(res, "limits.memory"):
        p(f"{where}: no memory limit")


def crmctl_health(probe):
    """(host, port, ca) of an exec probe running `crmctl ... health`, else None."""
    cmd = get(probe, "exec.command") or []
    if not cmd or os.path.basename(cmd[0]) != "crmctl" or "health" not in cmd:
        return None
    opts = {}
    for i, a in enumerate(cmd):
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            opts[k] = v
        elif a.startswith("--") and i + 1 < len(cmd):
            opts[a] = cmd[i + 1]
    host, port = host_port(opts.get("--server", "127.0.0.1:50051"))
    return host, port, opts.get("--ca"), "--insecure" in cmd


def check_probes(c, ports, named, mounts, where, p):
    def health_probe(kind):
        probe = c.get(kind)
        if not probe:
            p(f"{where}: no {kind}")
            return
        if "grpc" in probe:
            port = probe["grpc"].get("port")
            if not isinstance(port, int) or port not in ports:
                p(f"{where}: {kind} asks grpc.health.v1 on {port!r}, not a declared "
                  "containerPort number")
            return
        h = crmctl_health(probe)
        if h is None:
            p(f"{where}: {kind} does not ask grpc.health.v1 (grpc: or crmctl health)")
            return
        host, port, ca, insecure = h
        if host not in LOOPBACK:
            p(f"{where}: {kind} asks {host}, not the pod itself")
        if port not in ports:
            p(f"{where}: {kind} asks health on port {port}, not a declared containerPort")
        if not insecure:
            if not ca:
                p(f"{where}: {kind}: crmctl without --ca cannot verify the server")
            else:
                check_file(ca, mounts, f"{kind} --ca", where, p)

    health_probe("readinessProbe")
    health_probe("startupProbe")
    live = c.get("livenessProbe")
    if not live:
        p(f"{where}: no livenessProbe")
        return
    follows_store = False
    if "tcpSocket" in live:
        port = live["tcpSocket"].get("port")
        if port not in ports and port not in named:
            p(f"{where}: livenessProbe on port {port!r}, not a declared container port")
    elif "grpc" in live or crmctl_health(live) or get(live, "httpGet.path") == "/healthz":
        follows_store = True
        port = get(live, "grpc.port") or get(live, "httpGet.port")
        if port is not None and port not in ports and port not in named:
            p(f"{where}: livenessProbe on port {port!r}, not a declared container port")
    elif "httpGet" in live:
        port = live["httpGet"].get("port")
        if port not in ports and port not in named:
            p(f"{where}: livenessProbe on port {port!r}, not a declared container port")
    if follows_store:
        window = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
        if window < MIN_HEALTH_LIVENESS_WINDOW:
            p(f"{where}: livenessProbe follows the store's health and restarts every pod "
              f"after a {window} s database outage")


def check_manifests(objs, settings):
    problems = []
    p = problems.append
    by_kind = {}
    for o in objs:
        if not isinstance(o, dict):
            p(f"not an object: {o!r}")
            continue
        key = (o.get("apiVersion"), o.get("kind"))
        name = get(o, "metadata.name")
        if o.get("kind") == "Secret":
            p(f"Secret {name} is defined in the base: Secrets come from outside it")
            continue
        if key not in KNOWN_KINDS:
            p(f"unknown apiVersion/kind {key[0]}/{key[1]}")
            continue
        if not name:
            p(f"{key[1]} without metadata.name")
            continue
        if get(o, "metadata.namespace"):
            p(f"{key[1]} {name} sets a namespace: the base is namespace-agnostic")
        by_kind.setdefault(o["kind"], []).append(o)

    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    for name, cm in configmaps.items():
        for key, value in (cm.get("data") or {}).items():
            if not isinstance(value, str):
                p(f"ConfigMap {name}: {key} is {value!r}, not a string (quote it)")

    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        p(f"expected one Deployment, found {len(deployments)}")
        return problems
    dep = deployments[0]
    dname = f"Deployment {dep['metadata']['name']}"
    template = get(dep, "spec.template") or {}
    pod = template.get("spec") or {}
    pod_labels = get(template, "metadata.labels") or {}
    containers = pod.get("containers") or []
    if not containers or not all(c.get("name") and c.get("image") for c in containers):
        p(f"{dname}: containers without name or image")
        return problems
    if not selects(get(dep, "spec.selector.matchLabels"), pod_labels):
        p(f"{dname}: selector does not match its pod labels")
    replicas = get(dep, "spec.replicas", 1)
    if replicas < 2:
        p(f"{dname}: {replicas} replica(s): no instance left during a rollout or a drain")

    job_pods = [get(j, "spec.template.metadata.labels") or {} for j in by_kind.get("Job", [])]
    if any(selects(get(dep, "spec.selector.matchLabels"), jl) for jl in job_pods):
        p(f"{dname}: selector also matches the migration Job's pods")

    # The crm-syncd container: ports, environment, probes, security.
    c = containers[0]
    where = f"{dname} container {c['name']}"
    ports = {pt.get("containerPort") for pt in c.get("ports", [])}
    named = {pt.get("name"): pt.get("containerPort") for pt in c.get("ports", []) if pt.get("name")}
    env = container_env(c, configmaps, settings, where, p)
    mounts = secret_mounts(pod, c, where, p)
    for name in FILE_SETTINGS:
        if env.get(name):
            check_file(env[name], mounts, name, where, p)
    listen = env.get("CRMSYNC_LISTEN") or settings.default("CRMSYNC_LISTEN")
    host, grpc_port = host_port(listen)
    if host in LOOPBACK:
        p(f"{where}: CRMSYNC_LISTEN {listen} is loopback: Services and probes cannot reach it")
    if grpc_port not in ports:
        p(f"{where}: gRPC port {grpc_port} (CRMSYNC_LISTEN) is not a declared containerPort")
    metrics = env.get("CRMSYNC_METRICS_LISTEN", settings.default("CRMSYNC_METRICS_LISTEN"))
    mhost, metrics_port = host_port(metrics)
    if not metrics:
        p(f"{where}: metrics are off (CRMSYNC_METRICS_LISTEN empty)")
    else:
        if mhost in LOOPBACK:
            p(f"{where}: CRMSYNC_METRICS_LISTEN {metrics} is loopback: Prometheus cannot scrape")
        if metrics_port not in ports:
            p(f"{where}: metrics port {metrics_port} is not a declared containerPort")
        ann = get(template, "metadata.annotations") or {}
        if ann.get("prometheus.io/scrape") != "true":
            p(f"{dname}: no prometheus.io/scrape: \"true\" annotation")
        if ann.get("prometheus.io/port") != str(metrics_port):
            p(f"{dname}: prometheus.io/port {ann.get('prometheus.io/port')!r} is not the "
              f"metrics port {metrics_port}")
    check_probes(c, ports, named, mounts, where, p)
    check_pod_security(pod, c, where, p)
    grace = int(env.get("CRMSYNC_SHUTDOWN_GRACE_SECONDS")
                or settings.default("CRMSYNC_SHUTDOWN_GRACE_SECONDS") or 0)
    if pod.get("terminationGracePeriodSeconds", 30) <= grace:
        p(f"{dname}: terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)}"
          f" is not above --shutdown-grace-seconds ({grace})")
    image = c["image"]
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        p(f"{where}: image {image} has no version tag")
    for other in containers[1:]:
        check_pod_security(pod, other, f"{dname} container {other['name']}", p)

    # Services and the PodDisruptionBudget.
    services = by_kind.get("Service", [])
    if not any(get(s, "spec.clusterIP") == "None" for s in services):
        p("no headless Service (clusterIP: None) for client-side balancing")
    if not any(get(s, "spec.clusterIP") != "None" for s in services):
        p("no Service with a cluster IP")
    for svc in services:
        sname = f"Service {svc['metadata']['name']}"
        sel = get(svc, "spec.selector") or {}
        if not selects(sel, pod_labels):
            p(f"{sname}: selector {sel} does not match the crm-syncd pods")
        if any(selects(sel, jl) for jl in job_pods):
            p(f"{sname}: selector also matches the migration Job's pods")
        svc_ports = get(svc, "spec.ports") or []
        if not svc_ports:
            p(f"{sname}: no ports")
        for sp in svc_ports:
            if "port" not in sp:
                p(f"{sname}: a port without port")
            target = sp.get("targetPort", sp.get("port"))
            if target not in ports and target not in named:
                p(f"{sname}: targetPort {target!r} is not a container port of the pods")
        if grpc_port not in {sp.get("port") for sp in svc_ports}:
            p(f"{sname}: does not offer the gRPC port {grpc_port}")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if not pdbs:
        p("no PodDisruptionBudget")
    for pdb in pdbs:
        pname = f"PodDisruptionBudget {pdb['metadata']['name']}"
        sel = get(pdb, "spec.selector.matchLabels") or {}
        if not selects(sel, pod_labels):
            p(f"{pname}: selector {sel} does not match the crm-syncd pods")
        if any(selects(sel, jl) for jl in job_pods):
            p(f"{pname}: selector also matches the migration Job's pods")
        spec = pdb.get("spec") or {}
        if "minAvailable" not in spec and "maxUnavailable" not in spec:
            p(f"{pname}: sets neither minAvailable nor maxUnavailable")
        if isinstance(spec.get("minAvailable"), int) and spec["minAvailable"] >= replicas:
            p(f"{pname}: minAvailable {spec['minAvailable']} blocks every drain "
              f"with {replicas} replicas")
        if spec.get("maxUnavailable") == 0:
            p(f"{pname}: maxUnavailable 0 blocks every drain")

    # The migration Job.
    jobs = by_kind.get("Job", [])
    if not jobs:
        p("no migration Job")
    for job in jobs:
        jname = f"Job {job['metadata']['name']}"
        jpod = get(job, "spec.template.spec") or {}
        if jpod.get("restartPolicy") not in ("Never", "OnFailure"):
            p(f"{jname}: restartPolicy must be Never or OnFailure")
        if "backoffLimit" not in (job.get("spec") or {}):
            p(f"{jname}: no backoffLimit")
        jcs = jpod.get("containers") or []
        if len(jcs) != 1:
            p(f"{jname}: expected one container")
            continue
        jc = jcs[0]
        jwhere = f"{jname} container {jc.get('name')}"
        if "--migrate-only" not in (jc.get("command") or []) + (jc.get("args") or []):
            p(f"{jwhere}: does not run --migrate-only")
        if jc.get("image") != image:
            p(f"{jwhere}: image {jc.get('image')} is not the Deployment's {image}: it would "
              "migrate to another schema version")
        jenv = container_env(jc, configmaps, settings, jwhere, p)
        if jenv.get("CRMSYNC_STORE") != env.get("CRMSYNC_STORE"):
            p(f"{jwhere}: CRMSYNC_STORE differs from the Deployment's")
        jmounts = secret_mounts(jpod, jc, jwhere, p)
        for name in MIGRATE_FILE_SETTINGS:
            if jenv.get(name):
                check_file(jenv[name], jmounts, name, jwhere, p)
        check_pod_security(jpod, jc, jwhere, p)

    # Every Secret and ConfigMap a pod spec names.
    for owner in deployments + jobs:
        spec = get(owner, "spec.template.spec") or {}
        owner_name = f"{owner['kind']} {owner['metadata']['name']}"
        for v in spec.get("volumes", []):
            refs = [("secret", get(v, "secret.secretName")), ("configMap", get(v, "configMap.name"))]
            for src in get(v, "projected.sources") or []:
                refs += [("secret", get(src, "secret.name")), ("configMap", get(src, "configMap.name"))]
            for kind, name in refs:
                if name is None:
                    continue
                if kind == "secret" and name not in EXTERNAL_SECRETS:
                    p(f"{owner_name}: Secret {name} is not one of the expected external Secrets "
                      f"({', '.join(sorted(EXTERNAL_SECRETS))})")
                if kind == "configMap" and name not in configmaps:
                    p(f"{owner_name}: ConfigMap {name} is not in the base")
    return problems


# ----------------------------------------------------------------- compose
def duration_seconds(text):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text or ""))
    if not m or not any(m.groups()):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def read_toml(path):
    with open(path, "rb") as f:
        if tomllib:
            return tomllib.load(f)
        return dict(re.findall(r'^\s*([a-z-]+)\s*=\s*"([^"]*)"', f.read().decode(), re.M))


def check_compose(doc, settings, compose_dir):
    problems = []
    p = problems.append
    services = doc.get("services") or {}
    declared = doc.get("secrets") or {}
    for name, s in declared.items():
        if "file" not in (s or {}):
            p(f"secret {name} has no file")

    def secret_paths(s):
        return {f"/run/secrets/{x}": x for x in s.get("secrets") or []}

    def depends(s):
        d = s.get("depends_on") or {}
        return {k: {} for k in d} if isinstance(d, list) else {k: (v or {}) for k, v in d.items()}

    def volume_targets(s):
        out = {}
        for v in s.get("volumes") or []:
            if isinstance(v, str) and ":" in v:
                src, target = v.split(":")[:2]
                out[target] = src
        return out

    for name, s in services.items():
        for sec in s.get("secrets") or []:
            if sec not in declared:
                p(f"{name}: uses undeclared secret {sec}")
        for dep in depends(s):
            if dep not in services:
                p(f"{name}: depends on unknown service {dep}")
        for target, src in volume_targets(s).items():
            if src.startswith(".") and not os.path.exists(os.path.join(compose_dir, src)):
                p(f"{name}: mounts {src}, which does not exist")

    postgres = [n for n, s in services.items() if re.search(r"(^|/)postgres:15", str(s.get("image")))]
    syncds = [n for n, s in services.items() if "crmsync/crm-syncd:" in str(s.get("image"))]
    if len(postgres) != 1:
        p(f"{len(postgres)} PostgreSQL 15 services, want 1")
    if len(syncds) != 3:
        p(f"{len(syncds)} crm-syncd services, want 3")
    if "haproxy" not in services:
        p("no haproxy service")
    pg = services.get(postgres[0]) if len(postgres) == 1 else {}
    pg_env = pg.get("environment") or {}
    if pg and "healthcheck" not in pg:
        p(f"{postgres[0]}: no health check")

    subnets = [ipaddress.ip_network(c["subnet"]) for net in (doc.get("networks") or {}).values()
               for c in get(net or {}, "ipam.config", []) if "subnet" in c]
    instance = {}  # "address:port" -> service
    for name in syncds:
        s = services[name]
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        for var, value in env.items():
            problem = settings.value_problem(var, str(value) if value is not None else "")
            if problem:
                p(f"{name}: {problem}")
            secret = inlined_secret(str(value))
            if secret:
                p(f"{name}: {var} holds {secret} inline")
        if "postgres" not in depends(s) or depends(s)["postgres"].get("condition") != \
                "service_healthy":
            p(f"{name}: does not wait for a healthy postgres (depends_on condition "
              "service_healthy)")
        paths = secret_paths(s)
        for var in FILE_SETTINGS:
            if env.get(var) and env[var] not in paths:
                p(f"{name}: {var} {env[var]} is not one of its secrets")
        store = str(env.get("CRMSYNC_STORE", ""))
        info = store_conninfo(store)
        if not store.startswith("postgres:"):
            p(f"{name}: CRMSYNC_STORE is not PostgreSQL")
        elif pg:
            if info.get("host") not in postgres:
                p(f"{name}: CRMSYNC_STORE host {info.get('host')!r} is not the postgres service")
            if info.get("user") != pg_env.get("POSTGRES_USER") or \
                    info.get("dbname") != pg_env.get("POSTGRES_DB"):
                p(f"{name}: CRMSYNC_STORE user/dbname differ from the postgres service's")
            pw = env.get("CRMSYNC_STORE_PASSWORD_FILE")
            if not pw or pw != pg_env.get("POSTGRES_PASSWORD_FILE"):
                p(f"{name}: CRMSYNC_STORE_PASSWORD_FILE is not the postgres service's password")
        lhost, lport = host_port(str(env.get("CRMSYNC_LISTEN", settings.default("CRMSYNC_LISTEN"))))
        if lhost in LOOPBACK:
            p(f"{name}: CRMSYNC_LISTEN is loopback: the balancer cannot reach it")
        test = get(s, "healthcheck.test") or []
        if "crmctl" not in test or "health" not in test:
            p(f"{name}: no health check through grpc.health.v1 (crmctl health)")
        else:
            server = test[test.index("--server") + 1] if "--server" in test else ""
            if host_port(server) != ("localhost", lport) and host_port(server) != ("127.0.0.1", lport):
                p(f"{name}: health check asks {server!r}, not its own port {lport}")
            if "--ca" in test and test[test.index("--ca") + 1] not in paths:
                p(f"{name}: health check --ca is not one of its secrets")
        grace = int(env.get("CRMSYNC_SHUTDOWN_GRACE_SECONDS")
                    or settings.default("CRMSYNC_SHUTDOWN_GRACE_SECONDS") or 0)
        stop = duration_seconds(s.get("stop_grace_period", "10s"))
        if stop is None or stop <= grace:
            p(f"{name}: stop_grace_period {s.get('stop_grace_period', '10s')} is not above "
              f"--shutdown-grace-seconds ({grace})")
        addresses = [name] + [get(n, "ipv4_address") for n in (s.get("networks") or {}).values()
                              if isinstance(n, dict) and get(n, "ipv4_address")]
        for a in addresses[1:]:
            if subnets and not any(ipaddress.ip_address(a) in net for net in subnets):
                p(f"{name}: address {a} is outside the network's subnet")
        for a in addresses:
            instance[f"{a}:{lport}"] = name

    lb = services.get("haproxy")
    if lb:
        env = lb.get("environment") or {}
        targets = volume_targets(lb)
        cfg_target = next((t for t, src in targets.items() if src.endswith("haproxy/haproxy.cfg")),
                          None)
        if cfg_target is None:
            p("haproxy: deploy/haproxy/haproxy.cfg is not mounted")
            cfg_vars = set()
        else:
            with open(os.path.join(compose_dir, targets[cfg_target])) as f:
                cfg = f.read()
            cfg_vars = set(re.findall(r"\$\{(CRMSYNC_[A-Z0-9_]+)\}", cfg)) | set(
                re.findall(r"defined\((CRMSYNC_[A-Z0-9_]+)\)", cfg))
            command = lb.get("command") or []
            if "-f" not in command or command[command.index("-f") + 1] != cfg_target:
                p(f"haproxy: command does not load the mounted {cfg_target}")
            for var in sorted(v for v in cfg_vars if re.fullmatch(r"CRMSYNC_BACKEND_\d+", v)):
                if var not in env:
                    p(f"haproxy: {var} not set (haproxy.cfg would use its loopback default)")
        for var in env:
            if var.startswith("CRMSYNC_") and var not in cfg_vars:
                p(f"haproxy: sets {var}, which haproxy.cfg does not read")
        backends = {}
        for var, value in env.items():
            if re.fullmatch(r"CRMSYNC_BACKEND_\d+", var):
                if value not in instance:
                    p(f"haproxy: {var}={value} is not a crm-syncd instance's address and port")
                    continue
                backends[instance[value]] = var
                # HAProxy hands its external check the address a name resolved
                # to, and crmctl verifies the certificate against it: over TLS
                # the certificate must name a fixed address.
                if "CRMSYNC_BACKEND_CA" in env:
                    try:
                        ipaddress.ip_address(host_port(value)[0])
                    except ValueError:
                        p(f"haproxy: {var}={value} is a name: the health check connects to the "
                          "address it resolves to, which the certificate must name (use the "
                          "instance's fixed ipv4_address)")
        for name in syncds:
            if name not in backends:
                p(f"haproxy: {name} is not one of its backends")
            if name not in depends(lb):
                p(f"haproxy: does not depend on {name}")
        paths = secret_paths(lb)
        for var in ("CRMSYNC_LB_CERT", "CRMSYNC_BACKEND_CA"):
            if var in env and env[var] not in paths:
                p(f"haproxy: {var} {env[var]} is not one of its secrets")
        check = env.get("CRMSYNC_CHECK_COMMAND")
        if not check or not str(targets.get(check, "")).endswith("haproxy/crmsync-health-check"):
            p(f"haproxy: CRMSYNC_CHECK_COMMAND {check!r} is not where crmsync-health-check is "
              "mounted")
        else:
            toml_target = os.path.join(os.path.dirname(check), "crmsync-check.toml")
            if toml_target not in targets:
                p("haproxy: no crmsync-check.toml beside the check script (crmctl's settings)")
            else:
                ca = read_toml(os.path.join(compose_dir, targets[toml_target])).get("ca")
                if ca not in paths:
                    p(f"haproxy: crmsync-check.toml ca {ca!r} is not one of its secrets")
        bind_port = host_port(str(env.get("CRMSYNC_LB_BIND", "")))[1]
        published = {str(x).rsplit(":", 1)[-1] for x in lb.get("ports") or []}
        if str(bind_port) not in published:
            p(f"haproxy: the balancer's port {bind_port} is not published")
        if "healthcheck" not in lb:
            p("haproxy: no health check")
        build = lb.get("build")
        if isinstance(build, dict):
            dockerfile = os.path.join(compose_dir, build.get("context", "."),
                                      build.get("dockerfile", "Dockerfile"))
            if not os.path.exists(dockerfile):
                p(f"haproxy: build file {dockerfile} does not exist")
    return problems


# --------------------------------------------------------------- self-test
def find(objs, kind, name=None):
    return next(o for o in objs if o.get("kind") == kind and
                (name is None or o["metadata"]["name"] == name))


def dep_c(objs):
    return find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def job_c(objs):
    return find(objs, "Job")["spec"]["template"]["spec"]["containers"][0]


def cm_data(objs):
    return find(objs, "ConfigMap")["data"]


def headless(objs):
    return next(o for o in objs if o.get("kind") == "Service" and
                get(o, "spec.clusterIP") == "None")


def _set(d, **kw):
    d.update(kw)


def _pop(d, key):
    d.pop(key)


def _remove(objs, kind):
    objs.remove(find(objs, kind))


MANIFEST_BREAKS = [
    # (what is broken, how, a problem the checker must report)
    ("Service selects other pods",
     lambda o: _set(find(o, "Service")["spec"], selector={"app.kubernetes.io/name": "other"}),
     "does not match the crm-syncd pods"),
    ("PDB selects other pods",
     lambda o: _set(find(o, "PodDisruptionBudget")["spec"]["selector"],
                    matchLabels={"app": "crm-syncd"}),
     "PodDisruptionBudget crm-syncd: selector"),
    ("Service selects the migration pods too",
     lambda o: _set(find(o, "Service")["spec"], selector={"app.kubernetes.io/name": "crm-syncd"}),
     "also matches the migration Job's pods"),
    ("unknown setting in the ConfigMap",
     lambda o: _set(cm_data(o), CRMSYNC_NO_SUCH_SETTING="1"),
     "CRMSYNC_NO_SUCH_SETTING is not a crm-syncd setting"),
    ("misspelt setting in env",
     lambda o: dep_c(o).setdefault("env", []).append({"name": "CRMSYNC_LISTEN_ADDRESS",
                                                      "value": "0.0.0.0:50051"}),
     "CRMSYNC_LISTEN_ADDRESS is not a crm-syncd setting"),
    ("setting out of range",
     lambda o: _set(cm_data(o), CRMSYNC_HEALTH_CHECK_SECONDS="0"),
     "CRMSYNC_HEALTH_CHECK_SECONDS=0 is outside"),
    ("ConfigMap value not a string",
     lambda o: _set(cm_data(o), CRMSYNC_WORKER_THREADS=8), "not a string"),
    ("no readiness probe", lambda o: _pop(dep_c(o), "readinessProbe"), "no readinessProbe"),
    ("no liveness probe", lambda o: _pop(dep_c(o), "livenessProbe"), "no livenessProbe"),
    ("no startup probe", lambda o: _pop(dep_c(o), "startupProbe"), "no startupProbe"),
    ("readiness on TCP only",
     lambda o: _set(dep_c(o), readinessProbe={"tcpSocket": {"port": "grpc"}}),
     "readinessProbe does not ask grpc.health.v1"),
    ("readiness on an undeclared port",
     lambda o: _set(dep_c(o), readinessProbe={"exec": {"command": [
         "crmctl", "--server", "localhost:50052", "--ca", "/run/secrets/crmsync/tls/ca.crt",
         "health"]}}),
     "port 50052, not a declared containerPort"),
    ("native gRPC probe on an undeclared port",
     lambda o: _set(dep_c(o), startupProbe={"grpc": {"port": 50052}}),
     "startupProbe asks grpc.health.v1 on 50052"),
    ("strict liveness on health",
     lambda o: _set(dep_c(o), livenessProbe={"grpc": {"port": 50051}, "periodSeconds": 10,
                                             "failureThreshold": 3}),
     "restarts every pod after a 30 s database outage"),
    ("liveness on an undeclared port",
     lambda o: _set(dep_c(o)["livenessProbe"], tcpSocket={"port": "admin"}),
     "livenessProbe on port 'admin'"),
    ("ConfigMap not in the base",
     lambda o: _set(dep_c(o)["envFrom"][0], configMapRef={"name": "crm-syncd-extra"}),
     "ConfigMap crm-syncd-extra is not in the base"),
    ("unexpected Secret",
     lambda o: _set(find(o, "Deployment")["spec"]["template"]["spec"]["volumes"][0],
                    secret={"secretName": "tls-other", "defaultMode": 0o440}),
     "Secret tls-other is not one of the expected"),
    ("Secret as environment",
     lambda o: dep_c(o)["envFrom"].append({"secretRef": {"name": "crm-syncd-db"}}),
     "as environment"),
    ("private key inlined",
     lambda o: dep_c(o).setdefault("env", []).append(
         {"name": "CRMSYNC_TOKEN_KEY", "value": "-----BEGIN PRIVATE KEY-----"}),
     "holds a PEM block inline"),
    ("password in the store URI",
     lambda o: _set(cm_data(o), CRMSYNC_STORE="postgres:postgresql://crmsync:hunter2@db/crmsync"),
     "a password in a URI"),
    ("Secret defined in the base",
     lambda o: o.append({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "crm-syncd-db"}, "stringData": {"password": "x"}}),
     "Secret crm-syncd-db is defined in the base"),
    ("TLS certificate path not mounted",
     lambda o: _set(cm_data(o), CRMSYNC_TLS_CERT="/etc/crmsync/tls/server.pem"),
     "CRMSYNC_TLS_CERT /etc/crmsync/tls/server.pem is not on a mounted volume"),
    ("key missing from the mounted Secret",
     lambda o: _set(cm_data(o), CRMSYNC_TOKEN_KEY="/run/secrets/crmsync/token/signing.pem"),
     "holds no signing.pem"),
    ("listens on loopback",
     lambda o: _set(cm_data(o), CRMSYNC_LISTEN="127.0.0.1:50051"), "is loopback"),
    ("scrape annotation on the wrong port",
     lambda o: _set(find(o, "Deployment")["spec"]["template"]["metadata"]["annotations"],
                    **{"prometheus.io/port": "50051"}),
     "prometheus.io/port '50051'"),
    ("writable root filesystem",
     lambda o: _set(dep_c(o)["securityContext"], readOnlyRootFilesystem=False),
     "root filesystem writable"),
    ("capabilities kept",
     lambda o: _set(dep_c(o)["securityContext"], capabilities={"drop": ["NET_RAW"]}),
     "capabilities not dropped"),
    ("no seccomp profile",
     lambda o: _pop(find(o, "Deployment")["spec"]["template"]["spec"]["securityContext"],
                    "seccompProfile"),
     "seccompProfile is not RuntimeDefault"),
    ("may run as root",
     lambda o: _pop(find(o, "Deployment")["spec"]["template"]["spec"]["securityContext"],
                    "runAsNonRoot"),
     "runAsNonRoot not set"),
    ("image's user name against runAsNonRoot",
     lambda o: _pop(find(o, "Deployment")["spec"]["template"]["spec"]["securityContext"],
                    "runAsUser"),
     "no numeric non-root runAsUser"),
    ("Secrets unreadable without fsGroup",
     lambda o: _pop(find(o, "Deployment")["spec"]["template"]["spec"]["securityContext"],
                    "fsGroup"),
     "without fsGroup"),
    ("image entrypoint with its config file",
     lambda o: _pop(dep_c(o), "command"), "no command"),
    ("no resources", lambda o: _pop(dep_c(o), "resources"), "no memory limit"),
    ("grace period too short",
     lambda o: _set(find(o, "Deployment")["spec"]["template"]["spec"],
                    terminationGracePeriodSeconds=20),
     "terminationGracePeriodSeconds 20 is not above"),
    ("no headless Service",
     lambda o: _pop(headless(o)["spec"], "clusterIP"), "no headless Service"),
    ("Service on an undeclared port",
     lambda o: _set(find(o, "Service")["spec"]["ports"][0], targetPort="grpc-tls"),
     "targetPort 'grpc-tls'"),
    ("no PodDisruptionBudget", lambda o: _remove(o, "PodDisruptionBudget"),
     "no PodDisruptionBudget"),
    ("PDB blocks drains",
     lambda o: _set(find(o, "PodDisruptionBudget")["spec"], minAvailable=3),
     "blocks every drain"),
    ("no migration Job", lambda o: _remove(o, "Job"), "no migration Job"),
    ("Job does not migrate",
     lambda o: _set(job_c(o), args=[]), "does not run --migrate-only"),
    ("Job on another image",
     lambda o: _set(job_c(o), image="localhost/crmsync/crm-syncd:0.0.9"),
     "is not the Deployment's"),
    ("Job without the password file",
     lambda o: _set(job_c(o), volumeMounts=[]),
     "CRMSYNC_STORE_PASSWORD_FILE /run/secrets/crmsync/db/password is not on a mounted volume"),
    ("namespace in the base",
     lambda o: _set(find(o, "ConfigMap")["metadata"], namespace="crmsync"),
     "sets a namespace"),
]

# Variants that are fine and must stay accepted.
MANIFEST_ACCEPTS = [
    ("native gRPC readiness probe",
     lambda o: _set(dep_c(o), readinessProbe={"grpc": {"port": 50051}, "periodSeconds": 5})),
    ("PDB with minAvailable 2",
     lambda o: (_pop(find(o, "PodDisruptionBudget")["spec"], "maxUnavailable"),
                _set(find(o, "PodDisruptionBudget")["spec"], minAvailable=2))),
    ("lenient liveness on health",
     lambda o: _set(dep_c(o), livenessProbe={"grpc": {"port": 50051}, "periodSeconds": 30,
                                             "failureThreshold": 10})),
]


def compose_syncd(doc, n=1):
    return doc["services"][f"crm-syncd-{n}"]


COMPOSE_BREAKS = [
    ("unknown setting",
     lambda d: _set(compose_syncd(d)["environment"], CRMSYNC_LISTEN_ADDR="0.0.0.0:50051"),
     "CRMSYNC_LISTEN_ADDR is not a crm-syncd setting"),
    ("invalid setting value",
     lambda d: _set(compose_syncd(d)["environment"], CRMSYNC_LOG_FORMAT="logfmt"),
     "CRMSYNC_LOG_FORMAT='logfmt' is not one of"),
    ("only two instances", lambda d: d["services"].pop("crm-syncd-3"), "2 crm-syncd services"),
    ("starts before PostgreSQL is healthy",
     lambda d: _set(compose_syncd(d, 2), depends_on=["postgres"]),
     "does not wait for a healthy postgres"),
    ("no health check", lambda d: _pop(compose_syncd(d, 3), "healthcheck"),
     "crm-syncd-3: no health check"),
    ("backend that is no instance",
     lambda d: _set(d["services"]["haproxy"]["environment"], CRMSYNC_BACKEND_2="172.28.5.99:50051"),
     "CRMSYNC_BACKEND_2=172.28.5.99:50051 is not a crm-syncd instance"),
    ("variable haproxy.cfg does not read",
     lambda d: _set(d["services"]["haproxy"]["environment"], CRMSYNC_LB_MAXCONN="1000"),
     "CRMSYNC_LB_MAXCONN, which haproxy.cfg does not read"),
    ("undeclared secret",
     lambda d: _set(compose_syncd(d), secrets=compose_syncd(d)["secrets"] + ["tls.pem"]),
     "undeclared secret tls.pem"),
    ("TLS key not a secret",
     lambda d: _set(compose_syncd(d)["environment"], CRMSYNC_TLS_KEY="/etc/crmsync/tls/server.key"),
     "CRMSYNC_TLS_KEY /etc/crmsync/tls/server.key is not one of its secrets"),
    ("check script not mounted",
     lambda d: _set(d["services"]["haproxy"]["environment"],
                    CRMSYNC_CHECK_COMMAND="/usr/local/bin/crmsync-health-check"),
     "is not where crmsync-health-check is mounted"),
    ("backend by name over TLS",
     lambda d: _set(d["services"]["haproxy"]["environment"], CRMSYNC_BACKEND_1="crm-syncd-1:50051"),
     "CRMSYNC_BACKEND_1=crm-syncd-1:50051 is a name"),
    ("stop grace too short",
     lambda d: _set(compose_syncd(d), stop_grace_period="10s"), "stop_grace_period 10s"),
    ("store on another host",
     lambda d: _set(compose_syncd(d)["environment"],
                    CRMSYNC_STORE="postgres:host=db port=5432 dbname=crmsync user=crmsync"),
     "is not the postgres service"),
]


def run_variants(base, check, breaks, accepts, label):
    failures = []
    for what, breaker, expected in breaks:
        broken = copy.deepcopy(base)
        breaker(broken)
        found = check(broken)
        if not any(expected in pr for pr in found):
            failures.append(f"{label} self-test: broken variant not caught: {what} "
                            f"(expected {expected!r}; got {found})")
    for what, change in accepts:
        variant = copy.deepcopy(base)
        change(variant)
        found = check(variant)
        if found:
            failures.append(f"{label} self-test: acceptable variant refused: {what}: {found}")
    return failures


# -------------------------------------------------------------------- main
def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--syncd", required=True, help="the crm-syncd binary (its --help)")
    ap.add_argument("--manifests", help="rendered Kubernetes YAML (kubectl kustomize)")
    ap.add_argument("--compose", help="the compose file")
    ap.add_argument("--self-test", action="store_true",
                    help="also check that broken variants are caught")
    args = ap.parse_args(argv[1:])
    if not args.manifests and not args.compose:
        ap.error("give --manifests, --compose or both")
    settings = Settings.of_binary(args.syncd)
    failed = False
    if args.manifests:
        with open(args.manifests) as f:
            objs = [o for o in yaml.safe_load_all(f) if o]
        problems = check_manifests(objs, settings)
        for pr in problems:
            print("k8s-check: " + pr)
        failed |= bool(problems)
        if not problems:
            print(f"k8s-check: {len(objs)} objects ok")
            if args.self_test:
                fails = run_variants(objs, lambda o: check_manifests(o, settings),
                                        MANIFEST_BREAKS, MANIFEST_ACCEPTS, "k8s-check")
                for x in fails:
                    print(x)
                failed |= bool(fails)
                if not fails:
                    print(f"k8s-check: self-test: {len(MANIFEST_BREAKS)} broken variants caught, "
                          f"{len(MANIFEST_ACCEPTS)} acceptable ones accepted")
    if args.compose:
        with open(args.compose) as f:
            doc = yaml.safe_load(f)
        compose_dir = os.path.dirname(os.path.abspath(args.compose))
        problems = check_compose(doc, settings, compose_dir)
        for pr in problems:
            print("compose-check: " + pr)
        failed |= bool(problems)
        if not problems:
            print(f"compose-check: {len(doc.get('services') or {})} services ok")
            if args.self_test:
                fails = run_variants(doc, lambda d: check_compose(d, settings, compose_dir),
                                        COMPOSE_BREAKS, [], "compose-check")
                for x in fails:
                    print(x)
                failed |= bool(fails)
                if not fails:
                    print(f"compose-check: self-test: {len(COMPOSE_BREAKS)} broken variants "
                          "caught")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
