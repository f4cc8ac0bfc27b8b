#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for tests.
#
#   pg-test-cluster.sh start DIR   start a cluster in DIR (must not exist or be
#                                  empty); prints its libpq connection string
#                                  and writes it to DIR/conninfo
#   pg-test-cluster.sh stop DIR    stop the cluster in DIR and delete DIR
#   pg-test-cluster.sh sweep ROOT  stop and delete every ROOT/cluster-* whose
#                                  owner process (ROOT/cluster-*/owner.pid) is
#                                  gone: what a crashed test binary left;
#                                  then ROOT itself if nothing is left in it
#
# The server listens on 127.0.0.1 (a free port) and a unix socket in DIR,
# with fsync on. As root, DIR is handed to the postgres user and the server
# runs as postgres (initdb refuses root). A role and database named
# crmsync_test are created. The CTest fixture crmsync_pg_clusters runs
# `sweep` before and after the tests (tests/support/CMakeLists.txt).
# PG_TEST_SERVER_OPTS adds server options to `start` (e.g. "-c
# shared_preload_libraries=citus"; tests/support/citus-test-cluster.sh);
# `start` records the full option string in DIR/server.opts.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_dir() {
  local dir=$1
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf -- "$dir"
}

cmd=${1:-}
target=${2:-}
if [[ -z "$cmd" || -z "$target" ]]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi

case "$cmd" in
  start)
    [[ -x "$PG_BIN/initdb" ]] || { echo "pg-test-cluster: $PG_BIN/initdb not found (install postgresql-15)" >&2; exit 1; }
    mkdir -p "$target"
    if [[ -n "$(ls -A "$target")" ]]; then
      echo "pg-test-cluster: $target is not empty" >&2
      exit 1
    fi
    dir=$(cd "$target" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
      chown postgres:postgres "$dir"
      chmod 0700 "$dir"
    fi
    # --no-sync only skips flushing initdb's own files; the server runs with fsync=on.
    as_pg "$PG_BIN/initdb" -A trust -U postgres -E UTF8 --locale=C --no-sync -D "$dir/data" \
      >"$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; exit 1; }
    started=0
    for _ in 1 2 3; do
      port=$(free_port)
      if as_pg "$PG_BIN/pg_ctl" -w -t 60 -D "$dir/data" -l "$dir/data/server.log" \
          -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on ${PG_TEST_SERVER_OPTS:-}" \
          start >>"$dir/setup.log" 2>&1; then
        started=1
        echo "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on ${PG_TEST_SERVER_OPTS:-}" \
          >"$dir/server.opts"
        break
      fi
    done
    if ((!started)); then
      cat "$dir/setup.log" "$dir/data/server.log" >&2 || true
      exit 1
    fi
    as_pg "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
      -c "CREATE ROLE crmsync_test LOGIN" -c "CREATE DATABASE crmsync_test OWNER crmsync_test" \
      >>"$dir/setup.log" 2>&1 || { cat "$dir/setup.log" >&2; exit 1; }
    conninfo="host=127.0.0.1 port=$port user=crmsync_test dbname=crmsync_test"
    echo "$conninfo" >"$dir/conninfo"
    echo "$conninfo"
    ;;
  stop)
    [[ -d "$target" ]] && stop_dir "$target"
    ;;
  sweep)
    [[ -d "$target" ]] || exit 0
    removed=0
    for dir in "$target"/cluster-*; do
      [[ -d "$dir" ]] || continue
      pid=$(cat "$dir/owner.pid" 2>/dev/null || echo 0)
      if [[ "$pid" =~ ^[0-9]+$ && "$pid" -gt 0 ]]; then
        if kill -0 "$pid" 2>/dev/null; then
          continue  # its test binary is still running
        fi
      elif [[ -n "$(find "$dir" -maxdepth 0 -newermt '-120 seconds' 2>/dev/null)" ]]; then
        continue  # just created, owner not recorded yet
      fi
      stop_dir "$dir"
      removed=$((removed + 1))
    done
    echo "pg-test-cluster: swept $removed abandoned cluster(s) under $target"
    # Nothing left (the sweep after a test run): the root goes too.
    rmdir "$target" 2>/dev/null || true
    ;;
  *)
    echo "pg-test-cluster: unknown command $cmd (start|stop|sweep)" >&2
    exit 2
    ;;
esac
