#!/usr/bin/env bash
# Makes (once) a minimal Debian 12 root from Debian's own packages, for the
# package test and the container image: debootstrap --variant=minbase
# bookworm, from the mirror apt uses here. Cached as a tarball; later calls
# only print its path.
#   tests/deploy/base-root.sh [CACHE_DIR]     (default: build-deploy)
# Prints the tarball's path on its last line. Needs root (or sudo).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,8p' "$0"; exit 0; fi
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="$(mkdir -p "${1:-$ROOT/build-deploy}" && cd "${1:-$ROOT/build-deploy}" && pwd)"
TARBALL="$CACHE/bookworm-minbase.tar"
if [[ -s "$TARBALL" ]]; then
  echo "$TARBALL"
  exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q debootstrap >&2
fi
MIRROR="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/crmsync-base.XXXXXX")"
trap '$SUDO rm -rf "$WORK"' EXIT
echo "base-root: debootstrap --variant=minbase bookworm from $MIRROR" >&2
$SUDO debootstrap --variant=minbase bookworm "$WORK/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { cat "$WORK/debootstrap.log" >&2; exit 1; }
$SUDO tar -C "$WORK/root" -cf "$TARBALL.tmp" .
$SUDO mv "$TARBALL.tmp" "$TARBALL"
echo "$TARBALL"
