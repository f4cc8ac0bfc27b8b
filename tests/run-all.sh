#!/usr/bin/env bash
# Installs what is missing, builds crmsync and runs every test:
#   1. RelWithDebInfo build: unit, conformance (SQLite + a throwaway
#      PostgreSQL cluster the tests start themselves), integration
#   2. Citus (distributed PostgreSQL): a coordinator and two workers on
#      127.0.0.1; the store conformance and handler suites, the
#      cross-instance and crash tests, and citus_test (distribution, a tenant
#      moved and its worker restarted under load) with multi-shard statements
#      refused (tests/citus/run-citus-suite.sh). Citus is built from
#      third_party/citus/ and installed once when missing (about 10 minutes)
#   3. deployment: the files that cannot run here checked offline
#      (tests/deploy/offline-checks.sh: haproxy -c, promtool check rules and
#      test rules with broken rules that must fail them, the Kubernetes
#      manifests rendered with kubectl kustomize and the compose file checked
#      against crm-syncd --help with broken variants that must fail; seconds,
#      no package or container engine, so it runs even with --no-package);
#      then the Debian package of the server installed with apt into a fresh
#      Debian 12 root and started as its systemd unit would
#      (tests/deploy/deb-install-test.sh), and the container image built and
#      run with podman (tests/deploy/container-test.sh); the Debian root is
#      debootstrapped once into build-deploy/ and reused (--no-package skips
#      these two)
#   4. ASan+UBSan build: the same suites under the sanitizers (not Citus)
#   5. the client SDK alone (CRMSYNC_BUILD_SERVER=OFF), cross-built for
#      arm64 with Debian's cross toolchain (tests/client/cross-build.sh)
#   6. clang libFuzzer build: each fuzz target replays its committed corpus,
#      then runs a fixed number of mutated inputs with a fixed seed (the same
#      inputs on every run of a commit; CRMSYNC_FUZZ_RUNS overrides each
#      target's default). Long, time-boxed exploration is a separate command:
#      tests/fuzz/run-fuzzers.sh build-fuzz --explore SECONDS
# Before the builds: formatting (tests/check-format.sh); after the first
# build: clang-tidy with -Wthread-safety over the sources (tests/run-clang-tidy.sh).
# Usage: tests/run-all.sh [--no-lint] [--no-citus] [--no-package] [--no-asan] [--no-cross] [--no-fuzz]
# Exit status: 0 only if every stage passed. Stage times are printed at the
# end; fuzz output and reproducers go to build-fuzz/fuzz-artifacts/.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
RUN_LINT=1
RUN_CITUS=1
RUN_ASAN=1
RUN_FUZZ=1
RUN_CROSS=1
RUN_PACKAGE=1
for arg in "$@"; do
  case "$arg" in
    --no-lint) RUN_LINT=0 ;;
    --no-citus) RUN_CITUS=0 ;;
    --no-asan) RUN_ASAN=0 ;;
    --no-fuzz) RUN_FUZZ=0 ;;
    --no-cross) RUN_CROSS=0 ;;
    --no-package) RUN_PACKAGE=0 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "run-all: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

JOBS="${CRMSYNC_JOBS:-$(nproc)}"
FUZZ_RUNS="${CRMSYNC_FUZZ_RUNS:-0}"
SECONDS=0
stage_name=""
stage_start=0
timings=()
stage() {
  if [[ -n "$stage_name" ]]; then timings+=("$(printf '%5d s  %s' $((SECONDS - stage_start)) "$stage_name")"); fi
  stage_name="$*"
  stage_start=$SECONDS
  printf '\n=== %s ===\n' "$*"
}

stage "dependencies"
"$ROOT/deploy/install-deps.sh"

stage "format (clang-format, every tracked C/C++ file)"
"$ROOT/tests/check-format.sh"

stage "build (RelWithDebInfo)"
cmake --preset default >/dev/null
cmake --build build -j "$JOBS"

if ((RUN_LINT)); then
  stage "lint (clang-tidy, -Wthread-safety)"
  "$ROOT/tests/run-clang-tidy.sh" build
fi

stage "tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900

if ((RUN_CITUS)); then
  stage "tests on Citus (coordinator + 2 workers)"
  "$ROOT/tests/citus/run-citus-suite.sh" "$ROOT/build"
fi

stage "deploy files (offline checks: haproxy -c, promtool, Kubernetes manifests, compose file)"
"$ROOT/tests/deploy/offline-checks.sh" "$ROOT/build"

if ((RUN_PACKAGE)); then
  stage "deploy (.deb into a fresh Debian 12 root, container image)"
  "$ROOT/tests/deploy/deb-install-test.sh" "$ROOT/build"
  "$ROOT/tests/deploy/container-test.sh" "$ROOT/build"
fi

if ((RUN_ASAN)); then
  stage "build (ASan+UBSan)"
  cmake --preset asan >/dev/null
  cmake --build build-asan -j "$JOBS"
  stage "tests (ASan+UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 1800
fi

if ((RUN_CROSS)); then
  stage "cross-build (client SDK alone, arm64)"
  "$ROOT/tests/client/cross-build.sh" "$ROOT/build-arm64"
fi

if ((RUN_FUZZ)); then
  if command -v clang++-14 >/dev/null; then
    stage "build (fuzz targets, clang)"
    cmake --preset fuzz >/dev/null
    # Only the fuzz targets: the rest of the tree is not built for libFuzzer.
    cmake --build build-fuzz -j "$JOBS" --target fuzz_merge fuzz_convergence fuzz_push_batch \
      fuzz_pull_apply fuzz_token
    stage "fuzzers (committed corpora, then fixed-seed runs)"
    "$ROOT/tests/fuzz/run-fuzzers.sh" "$ROOT/build-fuzz" --runs "$FUZZ_RUNS"
  else
    echo "run-all: clang++-14 not found; install-deps.sh should have installed it" >&2
    exit 1
  fi
fi

stage "all stages passed in ${SECONDS}s"
printf '%s\n' "${timings[@]}"
