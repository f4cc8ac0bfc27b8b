#!/usr/bin/env bash
# Runs clang-tidy (14, as in Debian 12) with the checks of .clang-tidy over
# the tree's C++ sources, with clang's -Wthread-safety on, so that the
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations are checked.
# Every warning is an error (WarningsAsErrors in .clang-tidy). A file found
# clean before with the same inputs is not checked again
# (tests/clang_tidy_cached.py says what the inputs are and where the cache
# is; CRMSYNC_TIDY_CACHE=off checks every file).
#   tests/run-clang-tidy.sh [BUILD_DIR]            every source file
#   tests/run-clang-tidy.sh [BUILD_DIR] --changed REV
#                                                  only .cc files changed since REV
# BUILD_DIR (default: build) must hold compile_commands.json and the
# generated protobuf headers, i.e. a configured and built tree.
# Exit status: 0 when clean, 1 on findings, 2 on bad usage.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BUILD="build"
base=""
while (($#)); do
  case "$1" in
    --changed) [[ $# -ge 2 ]] || { echo "run-clang-tidy: --changed needs a revision" >&2; exit 2; }
               base="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "run-clang-tidy: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) BUILD="$1"; shift ;;
  esac
done
TIDY="$(command -v clang-tidy-14 || command -v clang-tidy || true)"
if [[ -z "$TIDY" ]]; then
  echo "run-clang-tidy: clang-tidy not found (deploy/install-deps.sh installs clang-tidy-14)" >&2
  exit 2
fi
if [[ ! -f "$BUILD/compile_commands.json" ]]; then
  echo "run-clang-tidy: $BUILD/compile_commands.json missing; configure and build first" \
    "(cmake --preset default && cmake --build build)" >&2
  exit 2
fi

# Our sources only: not the generated protobuf code.
dirs='(server|sync|client-sdk|tools|bench|tests)'
if [[ -n "$base" ]]; then
  mapfile -t changed < <(git diff --name-only --diff-filter=ACMR "$base" -- '*.cc')
  if ((${#changed[@]} == 0)); then
    echo "run-clang-tidy: no changed .cc files"
    exit 0
  fi
  regex="$ROOT/($(printf '%s|' "${changed[@]}" | sed 's/[.]/[.]/g; s/|$//'))\$"
else
  regex="$ROOT/$dirs/.*[.]cc\$"
fi

JOBS="${CRMSYNC_JOBS:-$(nproc)}"
# One clang-tidy per file; a file found clean before with exactly the same
# inputs (its source, every header it includes, its flags, clang-tidy and
# .clang-tidy, the installed packages) is not checked again
# (tests/clang_tidy_cached.py; CRMSYNC_TIDY_CACHE=off checks every file).
cache_flag=()
[[ "${CRMSYNC_TIDY_CACHE:-}" == off ]] && cache_flag=(--no-cache)
if ! python3 "$ROOT/tests/clang_tidy_cached.py" \
    --build "$BUILD" --tidy "$TIDY" --jobs "$JOBS" "${cache_flag[@]}" \
    --extra-arg=-Wthread-safety --extra-arg=-Wno-unknown-warning-option "$regex"; then
  echo "run-clang-tidy: findings above (checks in .clang-tidy; fix the code, or NOLINT(check) with a reason)" >&2
  exit 1
fi
echo "run-clang-tidy: clean"
