#!/usr/bin/env bash
# crm-syncd on Citus: starts a coordinator and two workers on 127.0.0.1
# (tests/support/citus-test-cluster.sh), then runs against the coordinator:
#   - the store conformance suite (the PostgreSQL cases) and the request
#     handler suites on PostgreSQL;
#   - the cross-instance test (two crm-syncd, LISTEN/NOTIFY) and the crash
#     tests (crm-syncd and devices SIGKILLed mid-sync);
#   - citus_test: tables distributed and co-located, tenants on both
#     workers, a tenant's shard group moved while devices sync, its worker
#     restarted while devices sync.
# Every session of the test role runs with citus.multi_task_query_log_level
# = error: a statement that would run on more than one shard fails the test
# that issued it. The one lookup that must ask every shard (a refresh token
# from before tokens named their tenant) is run once more on its own,
# without that setting. Builds and installs Citus first when it is missing
# (third_party/citus/build-citus.sh, as root, about 10 minutes).
# Usage: tests/citus/run-citus-suite.sh BUILD_DIR
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:?usage: run-citus-suite.sh BUILD_DIR}"
BUILD="$(cd "$BUILD" && pwd)"
case "${1:-}" in -h|--help) sed -n '2,17p' "$0"; exit 0 ;; esac

if ! "$ROOT/third_party/citus/build-citus.sh" --check; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "run-citus-suite: Citus is not installed; run third_party/citus/build-citus.sh as root" >&2
    exit 1
  fi
  "$ROOT/third_party/citus/build-citus.sh"
fi

dir=$(mktemp -d /tmp/crmsync-citus-XXXXXX)
rmdir "$dir"
trap '"$ROOT/tests/support/citus-test-cluster.sh" stop "$dir" >/dev/null 2>&1 || true' EXIT
"$ROOT/tests/support/citus-test-cluster.sh" start "$dir" >/dev/null
port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$dir/conninfo")
superuser() {
  local q=$1
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
      -U postgres -d crmsync_test -c "$q")
  else
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d crmsync_test -c "$q"
  fi
}
superuser "ALTER ROLE crmsync_test SET citus.multi_task_query_log_level = 'error'"
export CRMSYNC_TEST_PG_URI
CRMSYNC_TEST_PG_URI="$(cat "$dir/conninfo")"
export CRMSYNC_TEST_CITUS_DIR="$dir"

failed=()
run() {
  local name=$1
  shift
  local start=$SECONDS
  if "$@" --gtest_color=no >"$dir.$name.log" 2>&1; then
    printf '  passed  %-26s %4d s  %s\n' "$name" $((SECONDS - start)) \
      "$(grep -E '^\[  PASSED  \]' "$dir.$name.log" | head -1)"
  else
    printf '  FAILED  %-26s %4d s\n' "$name" $((SECONDS - start))
    cat "$dir.$name.log"
    failed+=("$name")
  fi
  grep -h '^\[figures\]' "$dir.$name.log" || true
  rm -f "$dir.$name.log"
}
# Not *StaleStatistics*: it checks plain PostgreSQL's generic plans of the
# record index's statements; on Citus the coordinator's plan is the
# distributed one, and each worker plans the shard's statement with the
# parameters' values. Not *IndexStatistics*: on Citus the shards are
# analysed by the workers' autovacuum, the coordinator's table stays empty
# and the store leaves it alone.
run store_conformance "$BUILD/tests/store/store_conformance_test" \
  --gtest_filter='Postgres/*:Postgres*:Pg*:-*ByHashAlone*:*StaleStatistics*:*IndexStatistics*'
run server_handlers "$BUILD/tests/server/server_handler_test" --gtest_filter='*/postgres'
run admin_handlers "$BUILD/tests/server/admin_handler_test" --gtest_filter='*/postgres:*Postgres*'
run cross_instance "$BUILD/tests/integration/cross_instance_test"
run crash_recovery "$BUILD/tests/integration/crash_recovery_test"
run citus "$BUILD/tests/integration/citus_test"
superuser "ALTER ROLE crmsync_test RESET citus.multi_task_query_log_level"
run refresh_by_hash "$BUILD/tests/store/store_conformance_test" --gtest_filter='Postgres/*ByHashAlone*'

if ((${#failed[@]})); then
  echo "run-citus-suite: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-citus-suite: every suite passed on a coordinator with two workers"
