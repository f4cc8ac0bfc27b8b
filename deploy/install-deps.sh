#!/usr/bin/env bash
# Installs the Debian 12 packages crmsync needs to build, run and test.
# Idempotent: installs only what is missing. Needs root (or sudo).
#   deploy/install-deps.sh            build + run + test dependencies
#   deploy/install-deps.sh --runtime  only what crm-syncd needs at run time
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config ccache git
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev grpc-proto
  libpqxx-dev libsqlite3-dev libsqlcipher-dev libssl-dev libargon2-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 openssl sqlite3 python3 python3-grpcio
  clang-14 libclang-rt-14-dev procps util-linux
)
RUNTIME_PKGS=(libgrpc++1.51 libprotobuf32 libpqxx-6.4 libsqlite3-0 libcpp-httplib0.11 libargon2-1 openssl)

pkgs=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--runtime" ]]; then pkgs=("${RUNTIME_PKGS[@]}"); fi

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
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
