#!/usr/bin/env bash
# The crm-syncd image (deploy/container/Containerfile), built and run with
# podman on this machine: no registry is reachable, so the debian:12-slim
# base is imported from a debootstrapped root (tests/deploy/base-root.sh)
# and the image is built from the Debian package of BUILD_DIR
# (DEB_STAGE=prebuilt; the from-source stage is the same Containerfile's
# default and is not built here). Checks: every shared library the binaries
# need is in the image (ldd), no compiler is, it runs as crmsync; then it
# serves with the embedded store on a volume (health checked through the
# image's own HEALTHCHECK and from outside; the data outlives the
# container), and with PostgreSQL through a URL (a throwaway cluster).
# Host networking, everything on 127.0.0.1.
#   tests/deploy/container-test.sh [BUILD_DIR]     (default: build)
# Needs root (or sudo) to install podman/runc when missing.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,14p' "$0"; exit 0; fi
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
die() { echo "container-test: $*" >&2; exit 1; }
step() { printf '\n--- %s\n' "$*"; }

for tool in podman runc; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q podman runc >&2
done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/crmsync-ctr.XXXXXX")"
chmod 0711 "$WORK"  # the PostgreSQL cluster below runs as postgres
IMAGE="localhost/crmsync/crm-syncd:test"
NAME="crmsync-ctr-$$"
VOLUME="crmsync-ctr-$$"
PG_DIR=""
cleanup() {
  # One name per call, missing ones ignored: a call naming a container
  # already removed would fail before removing the others.
  for name in "$NAME" "$NAME-pg"; do
    podman rm -f -v --ignore -t 5 "$name" >/dev/null 2>&1 || true
  done
  podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  [[ -z "$PG_DIR" ]] || "$ROOT/tests/support/pg-test-cluster.sh" stop "$PG_DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# crun (podman's default) refuses this machine kind's cgroup layout; raising
# ulimits is not permitted here.
cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$WORK/containers.conf"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

step "base image debian:12-slim from a debootstrapped root"
if ! podman image exists docker.io/library/debian:12-slim; then
  TARBALL="$("$ROOT/tests/deploy/base-root.sh" | tail -1)"
  podman import "$TARBALL" localhost/bookworm-min:12 >/dev/null
  podman tag localhost/bookworm-min:12 docker.io/library/debian:12-slim
fi

step "podman build (DEB_STAGE=prebuilt)"
DEB="$(ls -t "$BUILD"/crmsync-server_*_*.deb 2>/dev/null | head -1 || true)"
if [[ -z "$DEB" || "$DEB" -ot "$BUILD/server/crm-syncd" ]]; then
  (cd "$BUILD" && cpack -G DEB >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log"; die "cpack"; }
  DEB="$(ls -t "$BUILD"/crmsync-server_*_*.deb | head -1)"
fi
mkdir -p "$WORK/ctx"
cp "$DEB" "$WORK/ctx/"
podman build --pull=never --network=host --format docker --build-arg DEB_STAGE=prebuilt \
  -f "$ROOT/deploy/container/Containerfile" -t "$IMAGE" "$WORK/ctx" >"$WORK/build.log" 2>&1 ||
  { tail -40 "$WORK/build.log"; die "podman build failed"; }
echo "image $(podman image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-12), $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"

step "what is in the image"
in_image() { podman run --rm --network=host --entrypoint /bin/sh "$IMAGE" -c "$1" 2>>"$WORK/podman.log"; }
missing="$(in_image 'ldd /usr/bin/crm-syncd /usr/bin/crmctl /usr/bin/crm-device | grep "not found" || true')"
[[ -z "$missing" ]] || die "libraries missing from the image: $missing"
[[ "$(in_image 'id -un')" == "crmsync" ]] || die "the image does not run as crmsync"
compilers="$(in_image 'ls /usr/bin/gcc* /usr/bin/g++* /usr/bin/cc /usr/bin/c++ /usr/bin/cmake 2>/dev/null || true')"
[[ -z "$compilers" ]] || die "build tools in the image: $compilers"
echo "ldd: every library found; user crmsync; no compiler"

step "TLS material and token key (mounted read-only)"
"$ROOT/deploy/make-dev-certs.sh" "$WORK/certs" >/dev/null
mkdir -p "$WORK/secrets/tls"
cp "$WORK/certs/server.pem" "$WORK/certs/server.key" "$WORK/certs/ca.pem" "$WORK/secrets/tls/"
cp "$WORK/certs/token.key" "$WORK/secrets/token.key"
chmod -R a+rX "$WORK/secrets"
chmod 0644 "$WORK/secrets/tls/server.key" "$WORK/secrets/token.key"  # readable by crmsync in the container
wait_healthy() {  # container, port
  for _ in $(seq 1 150); do
    if "$BUILD/tools/crmctl/crmctl" --server "localhost:$2" --ca "$WORK/certs/ca.pem" health \
        >/dev/null 2>&1; then
      return 0
    fi
    [[ "$(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" == "true" ]] ||
      { podman logs "$1" | tail -20; die "$1 exited"; }
    sleep 0.2
  done
  podman logs "$1" | tail -20
  die "$1 did not become SERVING"
}
run_image() {  # name, port, extra podman args...
  local name=$1 port=$2
  shift 2
  podman run -d --name "$name" --network=host \
    -v "$WORK/secrets/tls:/etc/crmsync/tls:ro" -v "$WORK/secrets/token.key:/etc/crmsync/token.key:ro" \
    -e CRMSYNC_LISTEN="127.0.0.1:$port" -e CRMSYNC_METRICS_LISTEN=127.0.0.1:0 \
    -e CRMSYNC_HEALTH_ADDRESS="localhost:$port" "$@" "$IMAGE" >/dev/null 2>>"$WORK/podman.log"
  # (podman schedules HEALTHCHECK through systemd timers; without systemd it
  # logs that and the check runs on demand: podman healthcheck run.)
}

step "embedded store on a volume"
PORT="$(free_port)"
run_image "$NAME" "$PORT" -v "$VOLUME:/var/lib/crmsync" -e CRMSYNC_DEMO_TENANT=true
wait_healthy "$NAME" "$PORT"
echo "SERVING on 127.0.0.1:$PORT"
podman healthcheck run "$NAME" || die "the image's HEALTHCHECK reports unhealthy"
echo "HEALTHCHECK: healthy"
podman stop -t 20 "$NAME" >/dev/null 2>>"$WORK/podman.log"
[[ "$(podman inspect --format '{{.State.ExitCode}}' "$NAME")" == "0" ]] || die "unclean stop"
podman rm -v "$NAME" >/dev/null 2>>"$WORK/podman.log"
# A new container on the same volume finds the store (and its demo tenant).
PORT="$(free_port)"
run_image "$NAME" "$PORT" -v "$VOLUME:/var/lib/crmsync"
wait_healthy "$NAME" "$PORT"
podman exec "$NAME" test -s /var/lib/crmsync/crmsync.db || die "the store is not on the volume"
podman rm -f -v "$NAME" >/dev/null 2>>"$WORK/podman.log"
echo "restarted on the same volume: SERVING, store kept"

step "PostgreSQL through a URL"
PG_DIR="$WORK/pg"
CONNINFO="$("$ROOT/tests/support/pg-test-cluster.sh" start "$PG_DIR" 2>"$WORK/pg.log" | tail -1)" ||
  { cat "$WORK/pg.log"; die "could not start PostgreSQL"; }
PORT="$(free_port)"
run_image "$NAME-pg" "$PORT" -e CRMSYNC_STORE="postgres:$CONNINFO"
wait_healthy "$NAME-pg" "$PORT"
# Read the whole log first: with pipefail, `podman logs | grep -q` fails
# when grep exits on the first match and podman is still writing.
PG_LOG="$(podman logs "$NAME-pg" 2>&1)"
grep -q 'store postgres ready' <<<"$PG_LOG" || { tail <<<"$PG_LOG"; die "not on PostgreSQL"; }
echo "SERVING on PostgreSQL ($CONNINFO)"

echo
echo "container-test: all checks passed"
