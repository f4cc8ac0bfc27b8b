#!/usr/bin/env bash
# Checks the deployment files that cannot run here, offline:
#   - deploy/haproxy/haproxy.cfg with `haproxy -c` (the HA test also runs it);
#   - deploy/prometheus/crmsync-alerts.yml with `promtool check rules`, and its
#     unit tests with `promtool test rules` (series in, alerts expected out);
#   - the Kubernetes manifests (tests/deploy/k8s-check.sh), when present.
# Installs haproxy and prometheus (for promtool) with apt when missing.
#   tests/deploy/offline-checks.sh BUILD_DIR
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -ne 1 ]]; then
  sed -n '2,8p' "$0"
  [[ $# -eq 1 ]] && exit 0 || exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)

need=()
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
command -v promtool >/dev/null || need+=(prometheus)
if ((${#need[@]})); then
  echo "offline-checks: installing ${need[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== haproxy -c deploy/haproxy/haproxy.cfg"
CRMSYNC_LB_STATS=/tmp/crmsync-offline-check.sock /usr/sbin/haproxy -c -f "$root/deploy/haproxy/haproxy.cfg"

echo "== promtool check rules / test rules"
promtool check rules "$root/deploy/prometheus/crmsync-alerts.yml"
promtool test rules "$root/deploy/prometheus/crmsync-alerts.test.yml"

if [[ -x "$root/tests/deploy/k8s-check.sh" ]]; then
  echo "== Kubernetes manifests"
  "$root/tests/deploy/k8s-check.sh" "$build"
fi
echo "offline-checks: passed"
