#!/usr/bin/env bash
# Cross-builds the client SDK for arm64 (aarch64) Linux on an amd64 Debian 12
# host and checks what it produced:
#   1. installs what is missing: the cross compiler, the arm64 development
#      packages (libgrpc++-dev, libprotobuf-dev, libssl-dev, libsqlcipher0),
#      the host's protoc and grpc_cpp_plugin; adds the arm64 architecture and
#      runs apt-get update only when needed (root, or sudo)
#   2. unpacks libsqlcipher-dev:arm64 into BUILD_DIR/sqlcipher-dev, reused by
#      later runs. It is never installed: it is not co-installable with the
#      host's libsqlcipher-dev, which installing it would remove
#   3. configures with cmake/toolchains/aarch64-linux-gnu.cmake (Ninja,
#      CRMSYNC_BUILD_SERVER=OFF, RelWithDebInfo; pkg-config sees only arm64
#      and architecture-independent .pc files), builds (-j CRMSYNC_JOBS,
#      default nproc), installs the sdk component into BUILD_DIR/prefix
#   4. checks libcrmsync-client.so.0: an AArch64 ELF, SONAME
#      libcrmsync-client.so.0, exports crmsync_* symbols only, links
#      SQLCipher, gRPC and protobuf dynamically; libcrmsync-client.a: AArch64
#   5. cross-compiles a C program against the installed SDK with
#      `pkg-config --cflags --libs crmsync-client`, links it, checks it is AArch64
# Usage: tests/client/cross-build.sh [BUILD_DIR]   (default: build-arm64 in the repo root)
# Exit status: 0 only if every step passed; the last line is a one-line summary.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
case "${1:-}" in
  -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
  -*) echo "cross-build: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
(($# <= 1)) || { echo "cross-build: at most one argument, BUILD_DIR (see --help)" >&2; exit 2; }

TRIPLET=aarch64-linux-gnu
TOOLCHAIN="$ROOT/cmake/toolchains/$TRIPLET.cmake"
JOBS="${CRMSYNC_JOBS:-$(nproc)}"
BUILD_DIR="${1:-$ROOT/build-arm64}"
mkdir -p "$BUILD_DIR"
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
PREFIX="$BUILD_DIR/prefix"
SQLC_DIR="$BUILD_DIR/sqlcipher-dev"
SMOKE_DIR="$BUILD_DIR/sdk-smoke"

SECONDS=0
step="setup"
notes=()
step() {
  step="$*"
  printf '\n=== cross-build: %s ===\n' "$*"
}
fail() {
  echo "cross-build: $*" >&2
  exit 1
}
cleanup_dir=""
finish() {
  local rc=$?
  if [[ -n "$cleanup_dir" ]]; then rm -rf "$cleanup_dir"; fi
  if ((rc == 0)); then
    return
  fi
  echo
  echo "cross-build: FAILED at step \"$step\" (exit $rc) after ${SECONDS}s; build dir $BUILD_DIR"
}
trap finish EXIT

# A native build directory is not to be reused (or clobbered) by this script.
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
   ! grep -qx "CMAKE_TOOLCHAIN_FILE:[A-Z]*=$TOOLCHAIN" "$BUILD_DIR/CMakeCache.txt"; then
  fail "$BUILD_DIR is a build directory configured without $TOOLCHAIN; give another BUILD_DIR"
fi

# ---------------------------------------------------------------------------
step "dependencies"
# Host tools (amd64) and the target's libraries (arm64). protoc and
# grpc_cpp_plugin must be the host's and of the arm64 libraries' versions.
HOST_PKGS=(cmake ninja-build pkg-config file "g++-$TRIPLET" "binutils-$TRIPLET"
           protobuf-compiler protobuf-compiler-grpc)
TARGET_PKGS=(libgrpc++-dev:arm64 libprotobuf-dev:arm64 libssl-dev:arm64 libsqlcipher0:arm64)

SUDO=""
as_root() {
  if [[ $(id -u) -ne 0 && -z "$SUDO" ]]; then
    command -v sudo >/dev/null ||
      fail "need root for: $* (run this as root, or install sudo)"
    SUDO="sudo"
  fi
  $SUDO "$@"
}
apt_updated=0
apt_update() {
  if ((!apt_updated)); then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
}

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "cross-build: adding the arm64 architecture (dpkg --add-architecture arm64)"
  as_root dpkg --add-architecture arm64
  apt_update
fi
missing=()
for p in "${HOST_PKGS[@]}" "${TARGET_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "cross-build: installing ${missing[*]}"
  apt_update
  # Never let apt remove a package to make room (libsqlcipher-dev:arm64 would
  # take the host's libsqlcipher-dev away, for one).
  removals="$(apt-get install -s -q --no-install-recommends "${missing[@]}" | grep '^Remv' || true)"
  if [[ -n "$removals" ]]; then
    echo "$removals" >&2
    fail "installing ${missing[*]} would remove the packages above; not doing it"
  fi
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "cross-build: all ${#HOST_PKGS[@]} host and ${#TARGET_PKGS[@]} arm64 packages already installed"
fi

upstream_version() {  # Debian version of an installed package without epoch and revision
  local v
  v="$(dpkg-query -W -f='${Version}' "$1")"
  v="${v#*:}"
  echo "${v%-*}"
}
pb_host="$(upstream_version protobuf-compiler)"
pb_target="$(upstream_version libprotobuf-dev:arm64)"
grpc_host="$(upstream_version protobuf-compiler-grpc)"
grpc_target="$(upstream_version libgrpc++-dev:arm64)"
[[ "$pb_host" == "$pb_target" ]] ||
  fail "protoc is protobuf $pb_host, libprotobuf-dev:arm64 is $pb_target: upgrade both to one version"
[[ "$grpc_host" == "$grpc_target" ]] ||
  fail "grpc_cpp_plugin is gRPC $grpc_host, libgrpc++-dev:arm64 is $grpc_target: upgrade both to one version"
echo "cross-build: host protoc $pb_host and grpc_cpp_plugin $grpc_host match the arm64 libraries"

# ---------------------------------------------------------------------------
step "SQLCipher headers for arm64 (private, $SQLC_DIR)"
# libsqlcipher-dev:arm64, unpacked: its headers and an adjusted sqlcipher.pc.
# Its libsqlcipher.so symlink is pointed at libsqlcipher0:arm64's library and
# its libsqlcipher.a removed (with the symlink dangling, find_library would
# take the .a and link SQLCipher statically into libcrmsync-client.so).
sqlc_version="$(dpkg-query -W -f='${Version}' libsqlcipher0:arm64)"
sqlc_lib="/usr/lib/$TRIPLET/libsqlcipher.so.0"
sqlc_pcdir="$SQLC_DIR/usr/lib/$TRIPLET/pkgconfig"
[[ -e "$sqlc_lib" ]] || fail "$sqlc_lib not found (libsqlcipher0:arm64 installed?)"
if [[ -f "$SQLC_DIR/.version" && "$(cat "$SQLC_DIR/.version")" == "$sqlc_version" &&
      -f "$sqlc_pcdir/sqlcipher.pc" ]]; then
  echo "cross-build: reusing libsqlcipher-dev:arm64 $sqlc_version unpacked earlier"
else
  tmp="$(mktemp -d)"
  cleanup_dir="$tmp"
  apt_opts=(-q)
  # As root apt downloads as user _apt, which cannot write to the temp dir.
  [[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
  download() { (cd "$tmp" && apt-get download "${apt_opts[@]}" "libsqlcipher-dev:arm64=$sqlc_version"); }
  # The package lists may predate the arm64 architecture or be stale.
  if ! download; then
    apt_update
    download || fail "cannot download libsqlcipher-dev:arm64=$sqlc_version (the version of libsqlcipher0:arm64)"
  fi
  dpkg -x "$tmp"/libsqlcipher-dev_*_arm64.deb "$tmp/root"
  libdir="$tmp/root/usr/lib/$TRIPLET"
  [[ -f "$libdir/pkgconfig/sqlcipher.pc" && -f "$tmp/root/usr/include/sqlcipher/sqlite3.h" ]] ||
    fail "libsqlcipher-dev:arm64 $sqlc_version does not have the expected layout"
  rm -f "$libdir/libsqlcipher.a" "$libdir/libsqlcipher.so"
  ln -s "$sqlc_lib" "$libdir/libsqlcipher.so"
  # prefix=/usr becomes the private tree's usr; includedir and libdir follow.
  sed -i "s|^prefix=.*|prefix=$SQLC_DIR/usr|" "$libdir/pkgconfig/sqlcipher.pc"
  echo "$sqlc_version" >"$tmp/root/.version"
  rm -rf "$SQLC_DIR"
  mv "$tmp/root" "$SQLC_DIR"
  rm -rf "$tmp"
  cleanup_dir=""
  echo "cross-build: unpacked libsqlcipher-dev:arm64 $sqlc_version"
fi

# pkg-config: the target's .pc files, the architecture-independent ones, the
# private sqlcipher.pc. Nothing of the host's (no server library has arm64
# packages installed here, so the configure also proves the client-only build
# does without them).
export PKG_CONFIG_LIBDIR="/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig:$sqlc_pcdir"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
echo "cross-build: sqlcipher: $(pkg-config --cflags --libs sqlcipher)"

# ---------------------------------------------------------------------------
step "configure ($BUILD_DIR)"
cmake_args=(-S "$ROOT" -B "$BUILD_DIR" -G Ninja
  -DCRMSYNC_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake_args+=(-DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN")
fi
cmake "${cmake_args[@]}"

step "build (-j $JOBS)"
cmake --build "$BUILD_DIR" -j "$JOBS"

step "install (component sdk, $PREFIX)"
rm -rf "$PREFIX"
cmake --install "$BUILD_DIR" --component sdk --prefix "$PREFIX"

# ---------------------------------------------------------------------------
step "check libcrmsync-client"
so="$(find "$PREFIX" -name libcrmsync-client.so.0 | head -n 1)"
[[ -n "$so" ]] || fail "libcrmsync-client.so.0 not installed under $PREFIX"
libdir="$(dirname "$so")"
echo "cross-build: installed into libdir ${libdir#"$PREFIX"/}"
READELF="$TRIPLET-readelf"
NM="$TRIPLET-nm"

file_out="$(file -bL "$so")"
echo "cross-build: $so: $file_out"
[[ "$file_out" == *"ELF 64-bit LSB shared object, ARM aarch64"* ]] ||
  fail "libcrmsync-client.so.0 is not an AArch64 shared object: $file_out"
machine="$("$READELF" -h "$so" | sed -n 's/^ *Machine: *//p')"
[[ "$machine" == "AArch64" ]] || fail "readelf -h: Machine is '$machine', not AArch64"

dynamic="$("$READELF" -d "$so")"
soname="$(sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p' <<<"$dynamic")"
[[ "$soname" == "libcrmsync-client.so.0" ]] ||
  fail "SONAME is '$soname', not libcrmsync-client.so.0"
needed="$(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dynamic")"
for lib in libsqlcipher.so.0 'libgrpc++.so.*' 'libprotobuf.so.*'; do
  grep -qx "$lib" <<<"$needed" ||
    fail "libcrmsync-client.so.0 does not link $lib dynamically; NEEDED: ${needed//$'\n'/ }"
done

# Defined dynamic symbols, without the version node (an absolute symbol
# named after crmsync_client.map's CRMSYNC_CLIENT_0) and version suffixes.
exported="$("$NM" -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)"
n_exported="$(grep -c . <<<"$exported" || true)"
((n_exported > 0)) || fail "libcrmsync-client.so.0 exports no symbols"
foreign="$(grep -v '^crmsync_' <<<"$exported" || true)"
if [[ -n "$foreign" ]]; then
  echo "$foreign" | head -n 20 >&2
  fail "libcrmsync-client.so.0 exports $(grep -c . <<<"$foreign") symbols other than crmsync_* (first ones above)"
fi
echo "cross-build: SONAME $soname, exports $n_exported crmsync_* symbols and nothing else"

archive="$libdir/libcrmsync-client.a"
[[ -f "$archive" ]] || fail "libcrmsync-client.a not installed next to the shared library"
archive_machines="$("$READELF" -h "$archive" | sed -n 's/^ *Machine: *//p' | sort -u | tr '\n' ' ')"
[[ "$archive_machines" == "AArch64 " ]] ||
  fail "libcrmsync-client.a holds objects for: $archive_machines"
echo "cross-build: libcrmsync-client.a: AArch64 objects only"

# ---------------------------------------------------------------------------
step "C program against the installed SDK (pkg-config crmsync-client)"
pc="$(find "$PREFIX" -name crmsync-client.pc | head -n 1)"
[[ -n "$pc" ]] || fail "crmsync-client.pc not installed under $PREFIX"
PKG_CONFIG_LIBDIR="$(dirname "$pc"):$PKG_CONFIG_LIBDIR"
pc_includedir="$(pkg-config --variable=includedir crmsync-client)"
[[ "$pc_includedir" == "$PREFIX"/* && -f "$pc_includedir/crmsync/crmsync_client.h" ]] ||
  fail "crmsync-client.pc's includedir $pc_includedir is not the installed headers' directory"
pc_flags="$(pkg-config --cflags --libs crmsync-client)"
echo "cross-build: pkg-config --cflags --libs crmsync-client: $pc_flags"

# crmsync_version() is called when the installed header declares it.
mkdir -p "$SMOKE_DIR"
has_version=0
if grep -Eq '\bcrmsync_version[[:space:]]*\(' "$pc_includedir/crmsync/crmsync_client.h"; then
  has_version=1
else
  notes+=("crmsync_version() is not declared in crmsync_client.h: the C program calls crmsync_last_error() only")
fi
cat >"$SMOKE_DIR/smoke.c" <<'EOF'
/* Written by tests/client/cross-build.sh: links against libcrmsync-client. */
#include <crmsync/crmsync_client.h>
#include <crmsync/crmsync_version.h>
#include <stdio.h>

int main(void) {
#if SMOKE_HAS_VERSION
  (void)crmsync_version();
#endif
  const char* error = crmsync_last_error();
  printf("crmsync client SDK %s, last error \"%s\"\n", CRMSYNC_VERSION_STRING, error ? error : "");
  return 0;
}
EOF
# shellcheck disable=SC2086  # pc_flags is a list of flags
"$TRIPLET-gcc" -std=c11 -Wall -Wextra -Werror -DSMOKE_HAS_VERSION=$has_version \
  "$SMOKE_DIR/smoke.c" -o "$SMOKE_DIR/smoke" $pc_flags
smoke_file="$(file -b "$SMOKE_DIR/smoke")"
echo "cross-build: $SMOKE_DIR/smoke: $smoke_file"
[[ "$smoke_file" == *"ELF 64-bit LSB"*"ARM aarch64"* ]] ||
  fail "the C program is not an AArch64 executable: $smoke_file"
"$READELF" -d "$SMOKE_DIR/smoke" | grep -q 'NEEDED.*\[libcrmsync-client\.so\.0\]' ||
  fail "the C program does not link libcrmsync-client.so.0"

# ---------------------------------------------------------------------------
step "summary"
for n in "${notes[@]}"; do echo "cross-build: note: $n"; done
calls="crmsync_last_error"
((has_version)) && calls="crmsync_version, $calls"
echo "cross-build: OK in ${SECONDS}s: arm64 libcrmsync-client.so.0 (SONAME ok, $n_exported crmsync_* symbols only)," \
  "libcrmsync-client.a, and a C program calling $calls link against $PREFIX"
