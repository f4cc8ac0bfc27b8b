#!/usr/bin/env bash
# A throwaway Citus cluster for tests: a coordinator and two workers, each a
# PostgreSQL 15 cluster started by pg-test-cluster.sh (127.0.0.1, free
# ports, fsync on) with shared_preload_libraries=citus.
#
#   citus-test-cluster.sh start DIR            start the three in DIR/coordinator,
#                                              DIR/worker1, DIR/worker2 (DIR must not
#                                              exist or be empty); prints the
#                                              coordinator's connection string and
#                                              writes it to DIR/conninfo
#   citus-test-cluster.sh stop DIR             stop all three and delete DIR
#   citus-test-cluster.sh stop-node DIR NODE   stop one (fast shutdown), keep its data
#   citus-test-cluster.sh start-node DIR NODE  start it again on the same port
#
# NODE is coordinator, worker1 or worker2. The database crmsync_test (owner
# crmsync_test) has the citus extension on every node; the coordinator knows
# both workers (citus_add_node) and itself (citus_set_coordinator_host, so
# shards can be moved with logical replication). New distributed tables get
# CITUS_TEST_SHARD_COUNT shards (default 8): enough for tenants to land on
# both workers, few enough that creating the schema per test stays quick.
# Needs Citus installed for PostgreSQL 15 (third_party/citus/build-citus.sh).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
NODES=(coordinator worker1 worker2)

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

port_of() { sed -n 's/.*port=\([0-9]*\).*/\1/p' "$1/conninfo"; }

# psql as the superuser on NODE's crmsync_test database.
sql() {
  local dir=$1 node=$2
  shift 2
  as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of "$dir/$node")" \
    -U postgres -d crmsync_test "$@"
}

cmd=${1:-}
target=${2:-}
if [[ -z "$cmd" || -z "$target" ]]; then
  sed -n '2,20p' "$0" >&2
  exit 2
fi

case "$cmd" in
  start)
    [[ -f /usr/lib/postgresql/15/lib/citus.so ]] || {
      echo "citus-test-cluster: Citus is not installed for PostgreSQL 15 (third_party/citus/build-citus.sh)" >&2
      exit 1
    }
    mkdir -p "$target"
    if [[ -n "$(ls -A "$target")" ]]; then
      echo "citus-test-cluster: $target is not empty" >&2
      exit 1
    fi
    dir=$(cd "$target" && pwd)
    chmod 0755 "$dir"
    trap '"$0" stop "$dir" >/dev/null 2>&1 || true' ERR
    shards=${CITUS_TEST_SHARD_COUNT:-8}
    for node in "${NODES[@]}"; do
      # max_prepared_transactions: Citus commits a transaction that wrote to
      # several nodes with two-phase commit. wal_level=logical: shard moves.
      PG_TEST_SERVER_OPTS="-c shared_preload_libraries=citus -c max_prepared_transactions=100 \
-c wal_level=logical -c citus.shard_count=$shards" \
        "$HERE/pg-test-cluster.sh" start "$dir/$node" >/dev/null
      sql "$dir" "$node" -c "CREATE EXTENSION citus"
    done
    coordinator_port=$(port_of "$dir/coordinator")
    sql "$dir" coordinator -c "SELECT citus_set_coordinator_host('127.0.0.1', $coordinator_port)" \
      -c "SELECT citus_add_node('127.0.0.1', $(port_of "$dir/worker1"))" \
      -c "SELECT citus_add_node('127.0.0.1', $(port_of "$dir/worker2"))" >/dev/null
    cp "$dir/coordinator/conninfo" "$dir/conninfo"
    cat "$dir/conninfo"
    ;;
  stop)
    for node in "${NODES[@]}"; do
      [[ -d "$target/$node" ]] && "$HERE/pg-test-cluster.sh" stop "$target/$node"
    done
    rm -rf -- "$target"
    ;;
  stop-node | start-node)
    node=${3:-}
    [[ -f "$target/$node/server.opts" ]] || { echo "citus-test-cluster: no node $node in $target" >&2; exit 2; }
    if [[ $cmd == stop-node ]]; then
      # After the whole Citus suite a worker's fast shutdown takes 20 to
      # 30 s under load (alone, 1 s), and once took longer than pg_ctl's
      # default 60 s wait: the restart test then failed on the wait.
      as_pg "$PG_BIN/pg_ctl" -D "$target/$node/data" -m fast -w -t 300 stop >/dev/null
    else
      as_pg "$PG_BIN/pg_ctl" -w -t 60 -D "$target/$node/data" -l "$target/$node/data/server.log" \
        -o "$(cat "$target/$node/server.opts")" start >/dev/null
    fi
    ;;
  *)
    echo "citus-test-cluster: unknown command $cmd (start|stop|stop-node|start-node)" >&2
    exit 2
    ;;
esac
