#!/usr/bin/env bash
# Installs the Debian 12 packages crmsync needs. Idempotent: installs only
# what is missing. Needs root (or sudo).
#   deploy/install-deps.sh            build + run + test dependencies (what
#                                     tests/run-all.sh needs: adds the test
#                                     libraries, clang for the fuzzers, clang-format
#                                     and clang-tidy for the lint stage, and a
#                                     PostgreSQL 15 server)
#   deploy/install-deps.sh --server   only what building and running the
#                                     server, crmctl and crm-device needs
#                                     (deploy/quickstart.sh)
#   deploy/install-deps.sh --runtime  only what a built crm-syncd needs
#   deploy/install-deps.sh --offline-checks
#                                     only what tests/deploy/offline-checks.sh
#                                     needs: haproxy, promtool (package
#                                     prometheus), python3-yaml, kubectl
# kubectl is Debian's kubernetes-client (1.20), added only when no kubectl is
# on PATH (one from the Kubernetes or Google Cloud packages is used as is).
# Debian's prometheus package starts a Prometheus server (port 9090) when it
# is installed -- through systemd, or through its init script where systemd
# is not PID 1 and no policy-rc.d forbids it. Only promtool is used, so
# after installing it this script stops that server and keeps it from
# starting at boot.
set -euo pipefail

SERVER_PKGS=(
  build-essential cmake ninja-build pkg-config ccache
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev grpc-proto
  libpqxx-dev libsqlite3-dev libsqlcipher-dev libssl-dev libargon2-dev libsystemd-dev
  libjemalloc-dev
  libphonenumber-dev libicu-dev libre2-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  openssl python3 python3-grpcio
)
TEST_PKGS=(
  git googletest libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 sqlite3
  clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14 procps util-linux systemd
  debootstrap podman runc haproxy prometheus python3-yaml python3-protobuf
)
OFFLINE_CHECK_PKGS=(haproxy prometheus python3 python3-yaml)
RUNTIME_PKGS=(libgrpc++1.51 libprotobuf32 libpqxx-6.4 libsqlite3-0 libcpp-httplib0.11 libargon2-1 libsystemd0
  libjemalloc2
  libphonenumber8 libicu72 libre2-9
  openssl)

case "${1:-}" in
  "") pkgs=("${SERVER_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  --server) pkgs=("${SERVER_PKGS[@]}") ;;
  --runtime) pkgs=("${RUNTIME_PKGS[@]}") ;;
  --offline-checks) pkgs=("${OFFLINE_CHECK_PKGS[@]}") ;;
  -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
  *) echo "install-deps: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
if [[ "${1:-}" == "" || "${1:-}" == "--offline-checks" ]] && ! command -v kubectl >/dev/null; then
  pkgs+=(kubernetes-client)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run this as root, or install sudo (apt-get install sudo, as root)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  echo "install-deps: stopping the Prometheus server the prometheus package started (only promtool is used)"
  if [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi
