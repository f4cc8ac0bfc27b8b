#!/usr/bin/env bash
# Checks that C and C++ files match .clang-format (clang-format 14, as in
# Debian 12). Prints each file that differs and how to fix it.
#   tests/check-format.sh                 every tracked .h/.cc/.c file
#   tests/check-format.sh --changed REV   only files changed since REV
#                                         (committed, staged or not)
#   tests/check-format.sh --fix [...]     rewrite the files instead
# Exit status: 0 when every checked file is formatted, 1 when one is not,
# 2 on bad usage.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
FORMAT="${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}"
if [[ -z "$FORMAT" ]]; then
  echo "check-format: clang-format not found (deploy/install-deps.sh installs clang-format-14)" >&2
  exit 2
fi

base=""
fix=0
while (($#)); do
  case "$1" in
    --changed) [[ $# -ge 2 ]] || { echo "check-format: --changed needs a revision" >&2; exit 2; }
               base="$2"; shift 2 ;;
    --fix) fix=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "check-format: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -n "$base" ]]; then
  mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$base" -- '*.h' '*.cc' '*.c')
else
  mapfile -t files < <(git ls-files -- '*.h' '*.cc' '*.c')
fi
if ((${#files[@]} == 0)); then
  echo "check-format: no C/C++ files to check"
  exit 0
fi

if ((fix)); then
  "$FORMAT" -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi

# One clang-format call for all files; --dry-run names each file that differs.
mapfile -t bad < <("$FORMAT" --dry-run --Werror "${files[@]}" 2>&1 |
  sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if ((${#bad[@]})); then
  printf 'check-format: not formatted: %s\n' "${bad[@]}" >&2
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format;" \
    "fix with: tests/check-format.sh --fix ${base:+--changed $base}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
