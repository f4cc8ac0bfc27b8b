#!/usr/bin/env bash
# End-to-end benchmark of crm-syncd, as a user gets it: real crm-syncd
# processes on SQLite and on a throwaway PostgreSQL 15 cluster (TLS, bearer
# tokens, every other setting at its default), client processes over gRPC
# and through the client SDK, the raw PostgreSQL baseline measured in the
# same run. Prints a Markdown table; docs/benchmarks-e2e.md explains it.
#
#   bench/e2e/run.sh [--build-dir DIR] [--max-minutes M] [bench_e2e options]
#
#   --quick            smoke-test sizes (10,000 records, 2,000 streams);
#                      about 2 minutes on 2 cores
#   --records N        leads pushed and bootstrapped (default 100,000)
#   --streams K        idle Subscribe streams (default 10,000)
#   --stores LIST      sqlite,postgres (default both)
#   --phases LIST      push1,push4,pull,sdk,latency,streams (default all)
#   --out FILE         every figure as JSON; --markdown FILE: the table
#   --keep             keep the scratch directory with every process's log
#   --server-arg FLAG  extra crm-syncd flag (repeatable)
#   --build-dir DIR    build tree holding bench/e2e/bench_e2e (default build/)
#   --max-minutes M    stop everything after M minutes (default 10 with
#                      --quick, else 90)
# Everything listens on 127.0.0.1 only. Processes, the PostgreSQL cluster
# and scratch files are removed on exit, also on failure or Ctrl-C.
# Build first: cmake --build build --target bench_e2e crm-syncd
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$ROOT/build"
MAX_MINUTES=""
QUICK=0
KEEP=0
args=()
while (($#)); do
  case "$1" in
    --build-dir) [[ $# -ge 2 ]] || { echo "run.sh: --build-dir needs a directory" >&2; exit 2; }
                 BUILD="$2"; shift 2 ;;
    --max-minutes) [[ $# -ge 2 ]] || { echo "run.sh: --max-minutes needs a number" >&2; exit 2; }
                   MAX_MINUTES="$2"; shift 2 ;;
    -h|--help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      if [[ -x "$BUILD/bench/e2e/bench_e2e" ]]; then
        echo; "$BUILD/bench/e2e/bench_e2e" --help
      fi
      exit 0 ;;
    --quick) QUICK=1; args+=("$1"); shift ;;
    --keep) KEEP=1; shift ;;
    --work-dir) echo "run.sh: --work-dir is chosen by run.sh" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
BIN="$BUILD/bench/e2e/bench_e2e"
if [[ ! -x "$BIN" ]]; then
  echo "run.sh: $BIN not found; build it with:" >&2
  echo "  cmake --preset default && cmake --build build --target bench_e2e crm-syncd" >&2
  exit 2
fi
if [[ -z "$MAX_MINUTES" ]]; then
  if ((QUICK)); then MAX_MINUTES=10; else MAX_MINUTES=90; fi
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/crmsync-e2e-XXXXXX")"
# crm-syncd's scratch directories land in the work directory too.
export TMPDIR="$WORK"
OWN_PG_ROOT=0
if [[ -z "${CRMSYNC_TEST_PG_ROOT:-}" ]]; then
  # Short (unix socket paths) and reachable by the postgres user.
  export CRMSYNC_TEST_PG_ROOT="/tmp/crmsync-e2e-pg-$$"
  OWN_PG_ROOT=1
fi
pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Clusters whose owner (the orchestrator) is gone: stopped and deleted.
  "$ROOT/tests/support/pg-test-cluster.sh" sweep "$CRMSYNC_TEST_PG_ROOT" >/dev/null 2>&1 || true
  # crm-syncd and client processes share the orchestrator's process group.
  if [[ -n "$pid" ]]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  if ((rc != 0)); then
    for log in "$WORK"/run/*.log; do
      [[ -s "$log" ]] || continue
      echo "--- last lines of $(basename "$log")" >&2
      tail -n 15 "$log" >&2
    done
  fi
  if ((KEEP)); then
    echo "run.sh: scratch directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  if ((OWN_PG_ROOT)); then rmdir "$CRMSYNC_TEST_PG_ROOT" 2>/dev/null || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Own process group (setsid), so that cleanup reaches every process it starts.
setsid "$BIN" --work-dir "$WORK/run" "${args[@]}" &
pid=$!
limit=$((MAX_MINUTES * 60))
while kill -0 "$pid" 2>/dev/null; do
  if ((SECONDS > limit)); then
    echo "run.sh: stopped after $MAX_MINUTES minutes (--max-minutes)" >&2
    exit 124
  fi
  sleep 1
done
set +e
wait "$pid"
status=$?
set -e
exit "$status"
