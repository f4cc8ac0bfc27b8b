#!/usr/bin/env bash
# Runs the crmsync fuzz targets on their committed corpora.
#
#   tests/fuzz/run-fuzzers.sh BUILD_DIR --replay [TARGET...]
#   tests/fuzz/run-fuzzers.sh BUILD_DIR --runs N [TARGET...]
#   tests/fuzz/run-fuzzers.sh BUILD_DIR --explore SECONDS [TARGET...]
#
# BUILD_DIR is a build configured with -DCRMSYNC_BUILD_FUZZERS=ON (clang),
# e.g. `cmake --preset fuzz` (build-fuzz). Without TARGETs every target runs.
#
#   --replay     runs every committed input (tests/fuzz/corpus/<dir>) once.
#   --runs N     replays the committed inputs, then runs N more mutated inputs
#                with a fixed seed (-seed=1): a bounded amount of work that
#                does not depend on the machine's speed. N 0 = each target's
#                default (below). This is what the test command
#                (tests/run-all.sh) runs. The corpus replay is exact; the
#                mutated inputs start the same but can drift between runs,
#                because coverage feedback sees process-level randomness
#                (protobuf seeds its map hashing from the clock).
#   --explore S  explores for S seconds per target from the committed corpus,
#                with a random seed; what it learns is kept in
#                BUILD_DIR/fuzz-corpus/<target> (reused by the next
#                exploration). Not part of the test command: a finding is a
#                bug to fix, and its input goes into the committed corpus.
#
# Exits non-zero if any target found a crash, leak, sanitizer report or
# violated invariant; the reproducer (BUILD_DIR/fuzz-artifacts/<target>-*)
# and the full output (BUILD_DIR/fuzz-artifacts/<target>.log) are kept.
# Replay a reproducer with: BUILD_DIR/tests/fuzz/<target> FILE
set -euo pipefail

usage() {
  sed -n '2,6p' "$0" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
build_dir=$1
mode=$2
shift 2
value=0
case "$mode" in
  --replay) ;;
  --runs|--explore)
    [[ $# -ge 1 && "$1" =~ ^[0-9]+$ ]] || usage
    value=$1
    shift
    ;;
  *) usage ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"

# Every target, its corpus directory under tests/fuzz/corpus/, and its
# default number of mutated runs for --runs 0 (about 10-20 s each on one core
# of a 2-core machine).
declare -A corpus=(
  [fuzz_merge]=merge
  [fuzz_convergence]=convergence
  [fuzz_push_batch]=push_batch
  [fuzz_pull_apply]=pull_apply
  [fuzz_token]=token
)
declare -A default_runs=(
  [fuzz_merge]=20000
  [fuzz_convergence]=1500
  [fuzz_push_batch]=1500
  [fuzz_pull_apply]=800
  [fuzz_token]=20000
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
  seeds="$here/corpus/${corpus[$target]}"
  log="$artifacts/$target.log"
  common=(-timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$target-")
  work=""
  case "$mode" in
    --replay)
      echo "== $target: replaying $(ls "$seeds" | wc -l) committed inputs (output: $log)"
      cmd=("$bin" "${common[@]}" "$seeds"/*)
      ;;
    --runs)
      runs=$value
      ((runs > 0)) || runs=${default_runs[$target]}
      # -runs counts the replayed inputs too.
      inputs=$(ls "$seeds" | wc -l)
      work=$(mktemp -d)
      cp "$seeds"/* "$work/" 2>/dev/null || true
      echo "== $target: $inputs committed inputs, then $runs runs with seed 1 (output: $log)"
      cmd=("$bin" "${common[@]}" -seed=1 -runs=$((inputs + runs)) "$work")
      ;;
    --explore)
      learned="$build_dir/fuzz-corpus/$target"
      mkdir -p "$learned"
      echo "== $target: exploring for ${value}s (corpus kept in $learned; output: $log)"
      cmd=("$bin" "${common[@]}" -max_total_time="$value" "$learned" "$seeds")
      ;;
  esac
  started=$SECONDS
  if "${cmd[@]}" >"$log" 2>&1; then
    # Coverage (cov), features (ft) and corpus at start and end, and totals.
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units' "$log" || true
    echo "   passed in $((SECONDS - started)) s"
  else
    tail -n 40 "$log"
    echo "!! $target failed; reproducer and output in $artifacts" >&2
    status=1
  fi
  [[ -z "$work" ]] || rm -rf "$work"
done
exit $status
