#!/usr/bin/env bash
# Runs the crmsync fuzz targets for a bounded time on their committed corpora.
#   tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS [TARGET...]
# BUILD_DIR is a build configured with -DCRMSYNC_BUILD_FUZZERS=ON (clang),
# e.g. `cmake --preset fuzz` (build-fuzz). Without TARGETs every target runs.
# Each target runs SECONDS seconds (-max_total_time) on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<dir>) and prints its coverage and totals;
# exits non-zero if any target found a crash, leak, sanitizer report or
# violated invariant (the reproducer and the full output are left in
# BUILD_DIR/fuzz-artifacts/).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build_dir=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"

# Every target and its corpus directory under tests/fuzz/corpus/.
declare -A corpus=(
  [fuzz_merge]=merge
  [fuzz_convergence]=convergence
  [fuzz_push_batch]=push_batch
  [fuzz_pull_apply]=pull_apply
  [fuzz_token]=token
)
all_targets=(fuzz_merge fuzz_convergence fuzz_push_batch fuzz_pull_apply fuzz_token)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=("${all_targets[@]}")
fi

status=0
for target in "${targets[@]}"; do
  if [[ -z "${corpus[$target]:-}" ]]; then
    echo "unknown fuzz target $target (known: ${all_targets[*]})" >&2
    exit 2
  fi
  bin="$build_dir/tests/fuzz/$target"
  if [[ ! -x "$bin" ]]; then
    echo "missing $bin (configure with -DCRMSYNC_BUILD_FUZZERS=ON and build $target)" >&2
    exit 2
  fi
  work=$(mktemp -d)
  cp "$here/corpus/${corpus[$target]}"/* "$work/" 2>/dev/null || true
  log="$artifacts/$target.log"
  echo "== $target for ${seconds}s (full output: $log)"
  if "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts/$target-" "$work" >"$log" 2>&1; then
    # Coverage (cov), features (ft) and corpus at start and end, and the totals.
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' "$log" || true
  else
    tail -n 40 "$log"
    echo "!! $target failed; artifacts in $artifacts" >&2
    status=1
  fi
  rm -rf "$work"
done
exit $status
