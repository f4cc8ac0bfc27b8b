#!/usr/bin/env bash
# Runs every crmsync fuzz target for a bounded time on its committed corpus.
#   tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS
# BUILD_DIR is a build configured with -DCRMSYNC_BUILD_FUZZERS=ON (clang).
# Each target runs SECONDS seconds (-max_total_time) on a scratch copy of its
# seed corpus; exits non-zero on the first crash, leak or sanitizer report
# (the reproducer is left in BUILD_DIR/fuzz-artifacts/).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"

declare -A corpus=( [fuzz_merge]=merge [fuzz_convergence]=convergence )
status=0
for target in fuzz_merge fuzz_convergence; do
  bin="$build_dir/tests/fuzz/$target"
  if [[ ! -x "$bin" ]]; then
    echo "missing $bin (configure with -DCRMSYNC_BUILD_FUZZERS=ON and build $target)" >&2
    exit 2
  fi
  work=$(mktemp -d)
  cp "$here/corpus/${corpus[$target]}"/* "$work/" 2>/dev/null || true
  echo "== $target for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts/$target-" "$work" 2>&1 | tail -n 25; then
    echo "!! $target failed; artifacts in $artifacts" >&2
    status=1
  fi
  rm -rf "$work"
done
exit $status
