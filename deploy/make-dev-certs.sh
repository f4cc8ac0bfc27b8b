#!/usr/bin/env bash
# Makes development TLS material with OpenSSL: a private CA, a server
# certificate for localhost/127.0.0.1/::1 and a client certificate for a
# store terminal (mTLS), and an Ed25519 access-token signing key
# (token.key, via make-token-key.sh). NOT for production: use your PKI there.
#   deploy/make-dev-certs.sh [OUT_DIR]     (default: deploy/dev-certs)
# Existing files are kept; delete the directory to make new ones.
set -euo pipefail

OUT="${1:-$(cd "$(dirname "$0")" && pwd)/dev-certs}"
mkdir -p "$OUT"
"$(dirname "$0")/make-token-key.sh" "$OUT/token.key" >/dev/null
cd "$OUT"

if [[ -f ca.pem && -f server.pem && -f server.key && -f terminal.pem && -f terminal.key ]]; then
  echo "make-dev-certs: certificates already in $OUT"
  exit 0
fi

umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -subj "/CN=crmsync development CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

make_cert() {  # name subject extensions
  local name=$1 subject=$2 ext=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf '%s\n' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

make_cert server "/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
make_cert terminal "/CN=store-terminal" \
  "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
chmod 644 ca.pem server.pem terminal.pem
echo "make-dev-certs: wrote CA, server and terminal certificates to $OUT"
