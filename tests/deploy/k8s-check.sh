#!/usr/bin/env bash
# Renders deploy/kubernetes with kubectl's built-in Kustomize (Debian's
# kubernetes-client is installed when no kubectl is on PATH) and checks the
# result offline with tests/deploy/k8s_check.py, which must also catch a set
# of broken variants (--self-test); then checks deploy/compose/compose.yaml
# the same way (--compose). No cluster or container engine is contacted.
#   tests/deploy/k8s-check.sh BUILD_DIR
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -ne 1 ]]; then
  sed -n '2,7p' "$0"
  [[ $# -eq 1 ]] && exit 0 || exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
need=()
command -v kubectl >/dev/null || need+=(kubernetes-client)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
if ((${#need[@]})); then
  echo "k8s-check: installing ${need[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
kubectl kustomize "$root/deploy/kubernetes" > "$rendered"
python3 "$root/tests/deploy/k8s_check.py" --self-test "$build/server/crm-syncd" "$rendered"
python3 "$root/tests/deploy/k8s_check.py" --compose "$build/server/crm-syncd" \
  "$root/deploy/compose/compose.yaml"
