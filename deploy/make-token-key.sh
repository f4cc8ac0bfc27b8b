#!/usr/bin/env bash
# Makes an Ed25519 private key for signing crm-syncd access tokens, plus its
# public key (give the public key to --token-verify-key during a rotation).
#   deploy/make-token-key.sh [OUT_FILE]   (default: deploy/dev-certs/token.key)
# An existing key is kept; delete it to make a new one. Key rotation:
# SECURITY.md, "Key rotation".
set -euo pipefail

OUT="${1:-$(cd "$(dirname "$0")" && pwd)/dev-certs/token.key}"
mkdir -p "$(dirname "$OUT")"
if [[ -f "$OUT" ]]; then
  echo "make-token-key: $OUT already exists"
  exit 0
fi
umask 077
openssl genpkey -algorithm ed25519 -out "$OUT"
openssl pkey -in "$OUT" -pubout -out "${OUT%.key}.pub"
chmod 644 "${OUT%.key}.pub"
echo "make-token-key: wrote $OUT (private, keep secret) and ${OUT%.key}.pub"
