#!/usr/bin/env bash
# Installs what is missing, builds crmsync and runs every test:
#   1. RelWithDebInfo build: unit, conformance (SQLite + a throwaway
#      PostgreSQL cluster the tests start themselves), integration
#   2. ASan+UBSan build: the same suites under the sanitizers
#   3. clang libFuzzer build: each fuzz target for a bounded time
# Usage: tests/run-all.sh [--no-asan] [--no-fuzz]
# Exit status: 0 only if every stage passed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUN_ASAN=1
RUN_FUZZ=1
for arg in "$@"; do
  case "$arg" in
    --no-asan) RUN_ASAN=0 ;;
    --no-fuzz) RUN_FUZZ=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run-all: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

JOBS="${CRMSYNC_JOBS:-$(nproc)}"
FUZZ_SECONDS="${CRMSYNC_FUZZ_SECONDS:-30}"
stage() { printf '\n=== %s ===\n' "$*"; }
SECONDS=0

stage "dependencies"
"$ROOT/deploy/install-deps.sh"

stage "build (RelWithDebInfo)"
cmake --preset default >/dev/null
cmake --build build -j "$JOBS"

stage "tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900

if ((RUN_ASAN)); then
  stage "build (ASan+UBSan)"
  cmake --preset asan >/dev/null
  cmake --build build-asan -j "$JOBS"
  stage "tests (ASan+UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 1800
fi

if ((RUN_FUZZ)); then
  if command -v clang++-14 >/dev/null; then
    stage "fuzzers (${FUZZ_SECONDS}s each)"
    cmake --preset fuzz >/dev/null
    # Only the fuzz targets: the rest of the tree is not built for libFuzzer.
    cmake --build build-fuzz -j "$JOBS" --target fuzz_merge fuzz_convergence fuzz_push_batch \
      fuzz_pull_apply fuzz_token
    "$ROOT/tests/fuzz/run-fuzzers.sh" "$ROOT/build-fuzz" "$FUZZ_SECONDS"
  else
    echo "run-all: clang++-14 not found; install-deps.sh should have installed it" >&2
    exit 1
  fi
fi

stage "all stages passed in ${SECONDS}s"
