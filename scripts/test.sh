#!/usr/bin/env bash
# The README's second command (and CI's): installs what is missing, builds, and
# runs every test: the links of the Markdown files (scripts/check_docs.py),
# the unit tests (label `unit`) on an AddressSanitizer +
# UndefinedBehaviorSanitizer build, then the fuzz gate (scripts/fuzz.sh: the
# committed regression inputs and a fixed-seed, fixed-count run of each
# target, so the same code always gets the same answer), then the whole
# suite (unit, end-to-end with
# real optd processes, deploy manifests) on the RelWithDebInfo build that
# scripts/run.sh uses, a short soak against the sanitized optd, then the
# container image (deploy/container-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

# Every relative link and #anchor of README.md and docs/ resolves
# (milliseconds, so before the builds).
echo "== documentation links =="
/usr/bin/python3 scripts/check_docs.py
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== build (ASan + UBSan): unit tests =="
BUILD_DIR=build-asan CMAKE_ARGS="-DOPTD_SANITIZE=ON" \
  NINJA_ARGS="solvers_test server_test client_test optd" scripts/build.sh
echo "== unit tests under ASan + UBSan =="
ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit

# The libFuzzer targets (fuzz/, clang, ASan + UBSan): the committed
# regression inputs once, then each target from its seed corpus with
# -seed=1 and a fixed -runs (scripts/fuzz.sh), no time limit: random
# fuzzing that could fail on unrelated changes is scripts/fuzz-long.sh's job,
# never the gate's. OPTD_SKIP_FUZZ=1 skips it.
if [ "${OPTD_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh
fi

echo "== build (RelWithDebInfo) =="
scripts/build.sh
echo "== all tests =="
ctest --test-dir build --output-on-failure -j "$jobs"

# A short soak (bench/soak) against the sanitized optd: concurrent clients,
# cancellations and expired deadlines, no lost tell, no leak (LeakSanitizer
# at exit), optd exits 0. RSS is not judged: ASan's quarantine holds freed
# memory.
echo "== soak under ASan + UBSan =="
build/bench/soak --optd=build-asan/server/optd --clients=16 --sessions=200 \
  --rss_growth_limit_mb=1e9

# The container image end to end: one container, then three replicas with a
# sharded session and a replica killed (deploy/container-test.sh; minutes,
# most of them the image build). OPTD_SKIP_CONTAINER_TEST=1 skips it.
if [ "${OPTD_SKIP_CONTAINER_TEST:-0}" != 1 ]; then
  echo "== container test =="
  deploy/container-test.sh
fi
