#!/usr/bin/env bash
# Installs what is missing, builds crmsync, makes development TLS
# certificates and a token signing key, and runs crm-syncd on the embedded SQLite store with the demo
# tenant, on 127.0.0.1:50051. Stop it with Ctrl-C.
# Extra arguments are passed to crm-syncd (see build/server/crm-syncd --help).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
"$ROOT/deploy/install-deps.sh"
cmake --preset default >/dev/null
cmake --build build -j "${CRMSYNC_JOBS:-$(nproc)}" --target crm-syncd
"$ROOT/deploy/make-dev-certs.sh" "$ROOT/deploy/dev-certs"
mkdir -p "$ROOT/var"
exec "$ROOT/build/server/crm-syncd" \
  --store "sqlite:$ROOT/var/crmsync.db" \
  --tls-cert "$ROOT/deploy/dev-certs/server.pem" \
  --tls-key "$ROOT/deploy/dev-certs/server.key" \
  --token-key "$ROOT/deploy/dev-certs/token.key" \
  --demo-tenant "$@"
