#!/usr/bin/env bash
# Installs what the server needs (deploy/install-deps.sh --server: compilers
# and libraries, no PostgreSQL server, no test toolchain), builds crm-syncd,
# crmctl and crm-device, makes development TLS certificates and a token
# signing key, and runs crm-syncd in the foreground on the embedded SQLite
# store with the demo tenant, on 127.0.0.1:50051. Stop it with Ctrl-C.
# Extra arguments are passed to crm-syncd, e.g. --listen 127.0.0.1:50052
# when 50051 is taken (see build/server/crm-syncd --help).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
"$ROOT/deploy/install-deps.sh" --server
cmake --preset quickstart >/dev/null
cmake --build build -j "${CRMSYNC_JOBS:-$(nproc)}" --target crm-syncd crmctl crm-device
"$ROOT/deploy/make-dev-certs.sh" "$ROOT/deploy/dev-certs"
mkdir -p "$ROOT/var"
exec "$ROOT/build/server/crm-syncd" \
  --store "sqlite:$ROOT/var/crmsync.db" \
  --tls-cert "$ROOT/deploy/dev-certs/server.pem" \
  --tls-key "$ROOT/deploy/dev-certs/server.key" \
  --token-key "$ROOT/deploy/dev-certs/token.key" \
  --demo-tenant "$@"
