#!/usr/bin/env bash
# Checks the Kubernetes manifests and the compose file offline: renders
# deploy/kubernetes with kubectl's built-in Kustomize (`kubectl kustomize`;
# the base is kept simple enough for kubectl 1.20, Debian 12's
# kubernetes-client, as well as current ones), then runs
# tests/deploy/k8s_check.py on the result and on deploy/compose/compose.yaml,
# each with --self-test (broken variants must be caught). Settings are
# compared with `BUILD_DIR/server/crm-syncd --help`. No cluster and no
# container engine is contacted.
#   tests/deploy/k8s-check.sh BUILD_DIR
# KUBECTL=/path/to/kubectl picks another kubectl. Installs what is missing
# (kubectl, python3-yaml) through deploy/install-deps.sh --offline-checks.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,12p' "$0"
  exit 0
fi
if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR (see --help)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
syncd="$build/server/crm-syncd"
[[ -x "$syncd" ]] || { echo "k8s-check: no $syncd (build first)" >&2; exit 1; }

kubectl_bin="${KUBECTL:-}"
if [[ -z "$kubectl_bin" ]] || ! python3 -c 'import yaml' 2>/dev/null; then
  "$root/deploy/install-deps.sh" --offline-checks
fi
kubectl_bin="${kubectl_bin:-kubectl}"
echo "k8s-check: $("$kubectl_bin" version --client 2>/dev/null | head -1)"

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
"$kubectl_bin" kustomize "$root/deploy/kubernetes" >"$rendered"
python3 "$root/tests/deploy/k8s_check.py" --self-test --syncd "$syncd" \
  --manifests "$rendered" --compose "$root/deploy/compose/compose.yaml"
