#!/usr/bin/env bash
# The Debian package as an operator installs it: builds crmsync-server_*.deb
# from a build directory (cpack), installs it with apt into a fresh Debian 12
# root (tests/deploy/base-root.sh; its dependencies come from the Debian
# mirror), checks what the maintainer scripts made (the crmsync system user,
# /var/lib/crmsync owned by it, /etc/crmsync/crm-syncd.toml), starts
# crm-syncd as the systemd unit's ExecStart would -- as user crmsync, in
# /var/lib/crmsync, with --config /etc/crmsync/crm-syncd.toml and only
# --listen/--metrics-listen/--ready-file added (loopback, free ports) -- and
# asks the installed crmctl for health: SERVING. Then purges the package.
# The unit's sandboxing is not exercised: no systemd runs here (the unit is
# checked with systemd-analyze in syncd_process_test).
#   tests/deploy/deb-install-test.sh [BUILD_DIR]     (default: build)
# Needs root (or sudo): chroot and mounts.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,14p' "$0"; exit 0; fi
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
die() { echo "deb-install-test: $*" >&2; exit 1; }
step() { printf '\n--- %s\n' "$*"; }

step "package (cpack -G DEB)"
(cd "$BUILD" && cpack -G DEB >"$BUILD/cpack.log" 2>&1) || { cat "$BUILD/cpack.log"; die "cpack failed"; }
DEB="$(ls -t "$BUILD"/crmsync-server_*_*.deb | head -1)"
echo "$DEB: $(du -h "$DEB" | cut -f1)"
dpkg-deb -I "$DEB" | grep -E '^ (Package|Version|Depends):'

TARBALL="$("$ROOT/tests/deploy/base-root.sh" | tail -1)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/crmsync-deb.XXXXXX")"
CH="$WORK/root"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then $SUDO kill "$SERVER_PID" 2>/dev/null || true; fi
  for m in proc dev/pts dev; do
    if mountpoint -q "$CH/$m"; then $SUDO umount "$CH/$m" || $SUDO umount -l "$CH/$m" || true; fi
  done
  # --one-file-system: never into a mount that failed to go (the host's /dev).
  $SUDO rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
step "a fresh Debian 12 root"
mkdir -p "$CH"
$SUDO tar -C "$CH" -xf "$TARBALL"
$SUDO mount -t proc proc "$CH/proc"
$SUDO mount --bind /dev "$CH/dev"
$SUDO mount --bind /dev/pts "$CH/dev/pts"
$SUDO cp /etc/resolv.conf "$CH/etc/resolv.conf"
$SUDO cp /etc/apt/sources.list.d/*.sources "$CH/etc/apt/sources.list.d/" 2>/dev/null || true
$SUDO cp "$DEB" "$CH/tmp/crmsync-server.deb"
in_root() { $SUDO chroot "$CH" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive "$@"; }

step "apt-get install ./crmsync-server.deb (dependencies from the mirror)"
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; die "apt-get update"; }
in_root apt-get install -y -q --no-install-recommends /tmp/crmsync-server.deb >>"$WORK/apt.log" 2>&1 ||
  { tail -30 "$WORK/apt.log"; die "installing the package failed"; }
grep -E '^(Setting up|Unpacking) crmsync-server' "$WORK/apt.log" | head -2

step "what the maintainer scripts made"
in_root getent passwd crmsync | grep -q ':/var/lib/crmsync:' || die "no crmsync system user"
[[ "$(in_root stat -c '%U:%G %a' /var/lib/crmsync)" == "crmsync:crmsync 750" ]] ||
  die "/var/lib/crmsync: $(in_root stat -c '%U:%G %a' /var/lib/crmsync)"
[[ "$(in_root stat -c '%U:%G %a' /etc/crmsync/crm-syncd.toml)" == "root:crmsync 640" ]] ||
  die "/etc/crmsync/crm-syncd.toml: $(in_root stat -c '%U:%G %a' /etc/crmsync/crm-syncd.toml)"
for f in /usr/bin/crm-syncd /usr/bin/crmctl /usr/bin/crm-device /usr/lib/systemd/system/crm-syncd.service; do
  in_root test -e "$f" || die "$f not installed"
done
echo "user crmsync, /var/lib/crmsync, /etc/crmsync/crm-syncd.toml: ok"

step "TLS material and token key where the settings file expects them"
"$ROOT/deploy/make-dev-certs.sh" "$WORK/certs" >/dev/null
$SUDO install -d -o root -g root -m 0755 "$CH/etc/crmsync/tls"
for f in server.pem server.key ca.pem; do $SUDO cp "$WORK/certs/$f" "$CH/etc/crmsync/tls/$f"; done
$SUDO cp "$WORK/certs/token.key" "$CH/etc/crmsync/token.key"
in_root chgrp crmsync /etc/crmsync/tls/server.key /etc/crmsync/token.key
in_root chmod 0640 /etc/crmsync/tls/server.key /etc/crmsync/token.key

step "crm-syncd as the unit starts it"
exec_start="$(sed -n 's/^ExecStart=//p' "$CH/usr/lib/systemd/system/crm-syncd.service")"
echo "ExecStart=$exec_start"
[[ "$exec_start" == "/usr/bin/crm-syncd --config /etc/crmsync/crm-syncd.toml" ]] || die "unexpected ExecStart"
# shellcheck disable=SC2086
$SUDO chroot --userspec=crmsync:crmsync "$CH" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/crmsync \
  /bin/sh -c "cd /var/lib/crmsync && exec $exec_start --listen 127.0.0.1:0 \
    --metrics-listen 127.0.0.1:0 --ready-file /var/lib/crmsync/ready" >"$WORK/syncd.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  [[ -s "$CH/var/lib/crmsync/ready" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/syncd.log"; die "crm-syncd exited"; }
  sleep 0.1
done
[[ -s "$CH/var/lib/crmsync/ready" ]] || { cat "$WORK/syncd.log"; die "crm-syncd did not get ready"; }
PORT="$(head -1 "$CH/var/lib/crmsync/ready")"
in_root /usr/bin/crmctl --server "127.0.0.1:$PORT" --ca /etc/crmsync/tls/ca.pem health ||
  { cat "$WORK/syncd.log"; die "not SERVING"; }
[[ "$(in_root stat -c '%U' /var/lib/crmsync/crmsync.db)" == "crmsync" ]] || die "store not owned by crmsync"
$SUDO kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || die "crm-syncd did not stop cleanly on SIGTERM"
SERVER_PID=""

step "apt-get purge"
in_root apt-get purge -y -q crmsync-server >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log"; die "purge"; }
in_root getent passwd crmsync >/dev/null && die "the crmsync user is still there after purge"
in_root test -e /etc/crmsync/crm-syncd.toml && die "the settings file is still there after purge"
in_root test -e /var/lib/crmsync/crmsync.db || die "purge removed the data"
echo "purged: user and settings gone, data kept"

echo
echo "deb-install-test: all checks passed"
