#!/usr/bin/env bash
# The SDK as an app developer gets it: installs the "sdk" component of a
# build into a temporary prefix, checks what the shared library exports,
# builds the examples (client-sdk/examples) and the C API test programs out
# of tree twice -- with find_package(crmsync-client) and with pkg-config --
# and runs them against a real crm-syncd on 127.0.0.1.
#   tests/client/sdk-package-test.sh BUILD_DIR CRM_SYNCD
# Exit status 0 only if every check passed.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -ne 2 ]]; then
  sed -n '2,8p' "$0"
  [[ $# -eq 2 ]] || exit 2
  exit 0
fi
BUILD="$(cd "$1" && pwd)"
SYNCD="$2"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/crmsync-sdk-pkg.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n--- %s\n' "$*"; }
die() { echo "sdk-package-test: $*" >&2; exit 1; }

PREFIX="$WORK/prefix"
step "install the sdk component into $PREFIX"
cmake --install "$BUILD" --component sdk --prefix "$PREFIX" >/dev/null
LIBDIR="$(dirname "$(find "$PREFIX" -name 'libcrmsync-client.so.0' | head -1)")"
[[ -d "$LIBDIR" ]] || die "libcrmsync-client.so.0 was not installed"
for f in include/crmsync/crmsync_client.h include/crmsync/crmsync_version.h \
         include/crmsync/client/database.h include/crmsync/v1/sync.pb.h \
         include/crmsync/sync/hlc.h share/crmsync/proto/crmsync/v1/sync.proto; do
  [[ -f "$PREFIX/$f" ]] || die "$f was not installed"
done
[[ -f "$LIBDIR/libcrmsync-client.a" ]] || die "the static library was not installed"
[[ -f "$LIBDIR/cmake/crmsync-client/crmsync-client-config.cmake" ]] || die "no CMake package"
[[ -f "$LIBDIR/pkgconfig/crmsync-client.pc" ]] || die "no pkg-config file"

step "the shared library: SONAME and exported symbols"
soname="$(readelf -d "$LIBDIR/libcrmsync-client.so.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')"
[[ "$soname" == "libcrmsync-client.so.0" ]] || die "SONAME is '$soname'"
others="$(nm -D --defined-only "$LIBDIR/libcrmsync-client.so.0" | awk '$2 != "A" {print $3}' |
          grep -v '^crmsync_' || true)"
[[ -z "$others" ]] || die "exports more than the C API: $(echo "$others" | head -5 | tr '\n' ' ')"
exported="$(nm -D --defined-only "$LIBDIR/libcrmsync-client.so.0" | grep -c ' T crmsync_')"
declared="$(grep -oE '^(const )?[a-z_0-9]+\*? ?crmsync_[a-z_]+\(' \
            "$PREFIX/include/crmsync/crmsync_client.h" | grep -oE 'crmsync_[a-z_]+\($' | sort -u | wc -l)"
echo "exports $exported functions, the header declares $declared"
[[ "$exported" -eq "$declared" ]] || die "the header and the library disagree"

SRC="$ROOT/client-sdk/examples"
TESTS="$ROOT/tests/client"
step "out-of-tree build with find_package(crmsync-client)"
cmake -S "$SRC" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release \
  >"$WORK/cmake-configure.log" || { cat "$WORK/cmake-configure.log"; die "configure failed"; }
cmake --build "$WORK/cmake-build" -j "${CRMSYNC_JOBS:-2}" >"$WORK/cmake-build.log" ||
  { cat "$WORK/cmake-build.log"; die "build failed"; }
[[ -x "$WORK/cmake-build/cxx_app" ]] || die "cxx_app (crmsync::client_static) was not built"

step "out-of-tree build with pkg-config"
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
mkdir -p "$WORK/pc-build"
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$WORK/pc-build/field_app" "$SRC/field_app.c" \
  $(pkg-config --cflags --libs crmsync-client)
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$WORK/pc-build/till" "$SRC/till.c" \
  $(pkg-config --cflags --libs crmsync-client)
# shellcheck disable=SC2046
cc -Wall -Wextra -o "$WORK/pc-build/c_api_app_test" -DCRMSYNC_SYNCD_PATH="\"$SYNCD\"" \
  -I"$TESTS" "$TESTS/c_api_app_test.c" "$TESTS/c_test_support.c" \
  $(pkg-config --cflags --libs crmsync-client)
# shellcheck disable=SC2046
c++ -std=c++17 -o "$WORK/pc-build/cxx_app" "$SRC/cxx_app.cc" \
  $(pkg-config --cflags --libs crmsync-client-cxx)

step "start crm-syncd (demo tenant, real sign-in)"
"$SYNCD" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file "$WORK/ready" \
  --dev-insecure --demo-tenant --store "sqlite:$WORK/server.db" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  [[ -s "$WORK/ready" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; die "crm-syncd exited"; }
  sleep 0.1
done
[[ -s "$WORK/ready" ]] || die "crm-syncd did not become ready"
ADDR="127.0.0.1:$(head -1 "$WORK/ready")"
echo "crm-syncd on $ADDR"

run_field_app() {  # $1 = binary, $2 = device name
  local out="$WORK/$2.out"
  LD_LIBRARY_PATH="$LIBDIR" "$1" --server "$ADDR" --store "$WORK/$2.db" --key "k-$2" \
    --tenant demo --user alice --password alice-demo-password >"$out" 2>&1 ||
    { cat "$out"; die "$1 failed"; }
  grep -q '^3 open leads$' "$out" || { cat "$out"; die "$1: expected 3 open leads"; }
  grep -q ', 1 pending$' "$out" || { cat "$out"; die "$1: the offline edit was not pending"; }
  grep -q '^synced: pushed 1, 0 pending$' "$out" || { cat "$out"; die "$1: not pushed"; }
  # Again, without the password: the refresh token kept in the store signs in.
  LD_LIBRARY_PATH="$LIBDIR" "$1" --server "$ADDR" --store "$WORK/$2.db" --key "k-$2" \
    --tenant demo --user alice >"$out" 2>&1 || { cat "$out"; die "$1 (stored token) failed"; }
  grep -q '^3 open leads$' "$out" || { cat "$out"; die "$1 (stored token): expected 3 leads"; }
  echo "$1: ok"
}
run_till() {  # $1 = binary, $2 = device name, $3 = coupon
  local out="$WORK/$2.out"
  LD_LIBRARY_PATH="$LIBDIR" "$1" --server "$ADDR" --store "$WORK/$2.db" --tenant demo \
    --api-key crmk.demo-till.demo-till-secret-not-for-production --store-id store-paris \
    --coupon "$3" --customer loyalty-0001 --at 48.8606,2.3376 --points 25 >"$out" 2>&1 ||
    { cat "$out"; die "$1 failed"; }
  grep -q 'ACCEPTED$' "$out" || { cat "$out"; die "$1: redemption not accepted"; }
  echo "$1: ok"
}

step "run the programs built with find_package"
run_field_app "$WORK/cmake-build/field_app" cmake-phone
run_till "$WORK/cmake-build/till" cmake-till coupon-welcome
"$WORK/cmake-build/cxx_app" --server "$ADDR" --store "$WORK/cmake-cxx.db" --tenant demo \
  --user bob --password bob-demo-password >"$WORK/cxx.out" 2>&1 ||
  { cat "$WORK/cxx.out"; die "cxx_app failed"; }
grep -qE '^[0-9]+ leads of u-bob$' "$WORK/cxx.out" || { cat "$WORK/cxx.out"; die "cxx_app output"; }
echo "cxx_app: $(tail -1 "$WORK/cxx.out")"

step "run the programs built with pkg-config"
run_field_app "$WORK/pc-build/field_app" pc-phone
# coupon-welcome may be redeemed once in all: the second till takes the
# Louvre-area coupon.
run_till "$WORK/pc-build/till" pc-till coupon-louvre-area
"$WORK/pc-build/cxx_app" --server "$ADDR" --store "$WORK/pc-cxx.db" --tenant demo \
  --user bob --password bob-demo-password >"$WORK/cxx.out" 2>&1 ||
  { cat "$WORK/cxx.out"; die "cxx_app (pkg-config) failed"; }
echo "cxx_app (pkg-config): $(tail -1 "$WORK/cxx.out")"
step "a till over mTLS (crm-syncd --tls-client-ca)"
"$ROOT/deploy/make-dev-certs.sh" "$WORK/certs" >/dev/null
"$SYNCD" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --ready-file "$WORK/ready-tls" \
  --tls-cert "$WORK/certs/server.pem" --tls-key "$WORK/certs/server.key" \
  --tls-client-ca "$WORK/certs/ca.pem" --token-key "$WORK/certs/token.key" \
  --demo-tenant --store "sqlite:$WORK/server-tls.db" >"$WORK/server-tls.log" 2>&1 &
TLS_PID=$!
for _ in $(seq 1 300); do
  [[ -s "$WORK/ready-tls" ]] && break
  kill -0 "$TLS_PID" 2>/dev/null || { cat "$WORK/server-tls.log"; die "crm-syncd (TLS) exited"; }
  sleep 0.1
done
TLS_ADDR="127.0.0.1:$(head -1 "$WORK/ready-tls")"
till_tls() {  # extra till arguments...
  LD_LIBRARY_PATH="$LIBDIR" "$WORK/pc-build/till" --server "$TLS_ADDR" --store "$WORK/tls-till.db" \
    --tenant demo --api-key crmk.demo-till.demo-till-secret-not-for-production \
    --store-id store-paris --coupon coupon-welcome --customer loyalty-0001 --at 48.8606,2.3376 \
    --ca "$WORK/certs/ca.pem" "$@" >"$WORK/tls-till.out" 2>&1
}
# Without its certificate the till is turned away at the TLS handshake...
if till_tls; then cat "$WORK/tls-till.out"; die "a till without a client certificate got in"; fi
echo "without a certificate: $(grep -m1 "failed" "$WORK/tls-till.out")"
grep -q 'UNAVAILABLE\|status 14' "$WORK/tls-till.out" || { cat "$WORK/tls-till.out"; die "unexpected error"; }
# ... and with it, redeems.
till_tls --cert "$WORK/certs/terminal.pem" --key "$WORK/certs/terminal.key" ||
  { cat "$WORK/tls-till.out"; die "till over mTLS failed"; }
grep -q 'ACCEPTED$' "$WORK/tls-till.out" || { cat "$WORK/tls-till.out"; die "mTLS: not accepted"; }
kill "$TLS_PID"; wait "$TLS_PID" 2>/dev/null || true
echo "till over mTLS: ok"

# The whole C API test, linked against the installed shared library only
# (it starts its own crm-syncd).
LD_LIBRARY_PATH="$LIBDIR" "$WORK/pc-build/c_api_app_test"

echo
echo "sdk-package-test: all checks passed"
