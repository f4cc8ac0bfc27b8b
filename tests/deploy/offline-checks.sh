#!/usr/bin/env bash
# Checks, offline, the deployment files that cannot run on this machine kind
# (no cluster, no image registry, no Prometheus server); a few seconds:
#   1. deploy/haproxy/haproxy.cfg with `haproxy -c`: with its defaults (the
#      HA test also runs it), and with deploy/compose/compose.yaml's
#      environment (TLS to devices and to the instances; development
#      certificates made in a temporary directory);
#   2. deploy/prometheus/crmsync-alerts.yml with `promtool check rules`, its
#      unit tests with `promtool test rules` (series in, alerts expected
#      out), and proof that those tests can fail: copies of the rules with a
#      threshold, a duration or an exclusion changed must fail them;
#   3. the Kubernetes manifests and the compose file
#      (tests/deploy/k8s-check.sh: kubectl kustomize, then
#      tests/deploy/k8s_check.py with its self-test of broken variants).
# Needs BUILD_DIR/server/crm-syncd (its --help lists the settings) but no
# package or container engine, so tests/run-all.sh runs it even with
# --no-package. Installs what is missing (haproxy, promtool, python3-yaml,
# kubectl) through deploy/install-deps.sh --offline-checks (root or sudo).
#   tests/deploy/offline-checks.sh BUILD_DIR
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,19p' "$0"
  exit 0
fi
if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR (see --help)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deploy/install-deps.sh" --offline-checks
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
work=$(mktemp -d "${TMPDIR:-/tmp}/crmsync-offline.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== haproxy -c deploy/haproxy/haproxy.cfg (defaults)"
CRMSYNC_LB_STATS="$work/stats.sock" "$haproxy" -c -f "$root/deploy/haproxy/haproxy.cfg"

echo "== haproxy -c deploy/haproxy/haproxy.cfg (compose.yaml's environment)"
"$root/deploy/make-dev-certs.sh" "$work/secrets" >/dev/null
cat "$work/secrets/server.pem" "$work/secrets/server.key" >"$work/secrets/lb.pem"
# The haproxy service's variables, its /run/secrets/NAME files taken from
# $work/secrets, its stats socket in $work.
mapfile -t lb_env < <(python3 - "$root/deploy/compose/compose.yaml" "$work" <<'EOF'
import sys, yaml
env = yaml.safe_load(open(sys.argv[1]))["services"]["haproxy"]["environment"]
for k, v in env.items():
    v = str(v).replace("/run/secrets/", sys.argv[2] + "/secrets/")
    print(f"{k}={sys.argv[2]}/stats.sock" if k == "CRMSYNC_LB_STATS" else f"{k}={v}")
EOF
)
((${#lb_env[@]} > 3)) || { echo "offline-checks: no haproxy environment in compose.yaml" >&2; exit 1; }
env "${lb_env[@]}" "$haproxy" -c -f "$root/deploy/haproxy/haproxy.cfg"

echo "== promtool check rules / test rules deploy/prometheus/"
promtool check rules "$root/deploy/prometheus/crmsync-alerts.yml"
promtool test rules "$root/deploy/prometheus/crmsync-alerts.test.yml"

echo "== the alert tests catch broken rules"
# Each mutant is a copy of the rules with one rule changed (the tests beside
# it); promtool test rules must fail on every one.
python3 - "$root/deploy/prometheus" "$work" <<'EOF'
import os, shutil, sys
src, work = sys.argv[1:]
mutants = [
    ("CrmSyncdRpcErrors with a threshold of 50%",
     "(rate(crmsync_rpc_total[5m])) > 0.05", "(rate(crmsync_rpc_total[5m])) > 0.5"),
    ("CrmSyncdRpcErrors counting Subscribe deadlines as errors",
     'unless rate(crmsync_rpc_total{code="DEADLINE_EXCEEDED",method=~".*/Subscribe"}[5m])',
     'unless rate(crmsync_rpc_total{code="NO_SUCH_CODE"}[5m])'),
    ("CrmSyncdNotServing without its 2 minutes",
     "expr: crmsync_serving == 0\n        for: 2m", "expr: crmsync_serving == 0\n        for: 0m"),
    ("CrmSyncdStorePoolSaturated on idle connections", '{state="in_use"}', '{state="idle"}'),
    ("CrmSyncdAuthFailureBurst counting expired tokens",
     'kind=~"password|api_key|throttled"', 'kind=~"password|api_key|throttled|token"'),
    ("CrmSyncdMixedBuilds counting instances instead of builds",
     "count by (version, revision)", "count by (instance)"),
    ("CrmSyncdDown after 5 minutes", "expr: up{job=\"crm-syncd\"} == 0\n        for: 1m",
     "expr: up{job=\"crm-syncd\"} == 0\n        for: 5m"),
    ("CrmSyncdFileDescriptorsNearLimit at 90%", "process_max_fds{job=\"crm-syncd\"} > 0.8",
     "process_max_fds{job=\"crm-syncd\"} > 0.9"),
    ("CrmSyncdDevicesFarBehind at 50,000 changes", "[30m]))) > 10000", "[30m]))) > 50000"),
    ("CrmSyncdPushSlow after 1 minute", "[5m]))) > 1\n        for: 10m", "[5m]))) > 1\n        for: 1m"),
    ("CrmSyncdAuthFailureBurst at 100 a minute", "* 60 > 30", "* 60 > 100"),
    ("CrmSyncdWorkQueueRejects at once", "[5m]) > 0\n        for: 5m", "[5m]) > 0\n        for: 0m"),
]
rules = open(os.path.join(src, "crmsync-alerts.yml")).read()
for i, (name, old, new) in enumerate(mutants):
    if rules.count(old) != 1:
        sys.exit(f"offline-checks: mutant no longer applies ({name}): {old!r}")
    d = os.path.join(work, f"mutant-{i:02d}")
    os.makedirs(d)
    open(os.path.join(d, "crmsync-alerts.yml"), "w").write(rules.replace(old, new))
    shutil.copy(os.path.join(src, "crmsync-alerts.test.yml"), d)
    open(os.path.join(d, "name"), "w").write(name)
EOF
n=0
for d in "$work"/mutant-*; do
  # A valid rule file, so that its failure below is the tests' doing.
  promtool check rules "$d/crmsync-alerts.yml" >"$d/log" 2>&1 ||
    { cat "$d/log"; echo "offline-checks: mutant is not a valid rule file: $(cat "$d/name")" >&2; exit 1; }
  if promtool test rules "$d/crmsync-alerts.test.yml" >"$d/log" 2>&1; then
    echo "offline-checks: the alert tests pass with a broken rule: $(cat "$d/name")" >&2
    exit 1
  fi
  echo "caught: $(cat "$d/name")"
  n=$((n + 1))
done
echo "$n broken rules caught by promtool test rules"

echo "== Kubernetes manifests and compose file"
"$root/tests/deploy/k8s-check.sh" "$build"
echo "offline-checks: passed"
