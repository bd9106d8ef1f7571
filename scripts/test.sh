#!/usr/bin/env bash
# The README's second command (and CI's): installs what is missing, builds, and
# runs every test: the links of the Markdown files (scripts/check_docs.py),
# the unit tests (label `unit`) on a clang AddressSanitizer +
# UndefinedBehaviorSanitizer build, the fuzz gate on the same build
# (scripts/fuzz.sh: the committed regression inputs and a fixed-seed,
# fixed-count run of each target, so the same code always gets the same
# answer), the end-to-end suite (real optd processes, the Python client,
# the dashboard, scipy's tests, deploy manifests) on the RelWithDebInfo build
# that scripts/run.sh uses, a short soak against the sanitized optd, then the
# container image around that same RelWithDebInfo build
# (deploy/container-test.sh).
#
# Each source file is compiled twice, not four times: the sanitized build
# serves the unit tests, the fuzz targets and the soak; the RelWithDebInfo
# build serves the end-to-end tests and the image. The unit tests run only
# sanitized (a leak, an overflow or undefined behaviour fails them there;
# the RelWithDebInfo build would run the same assertions without those
# checks).
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

# The sanitized build is the fuzz build (clang, -O1, ASan + UBSan, libFuzzer's
# coverage instrumentation, unused by the unit tests): one
# sanitized compile of every file instead of a gcc one for the tests and a
# clang one for the fuzzers.
echo "== build (clang, ASan + UBSan): unit tests, optd and the fuzz targets =="
NINJA_ARGS="solvers_test server_test client_test common_test optd" \
  scripts/fuzz.sh --build-only
echo "== unit tests under ASan + UBSan =="
ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L unit

# The libFuzzer targets: the committed regression inputs once, then each
# target from its seed corpus with -seed=1 and a fixed -runs
# (scripts/fuzz.sh), no time limit: random fuzzing that could fail on
# unrelated changes is scripts/fuzz-long.sh's job, never the gate's.
# OPTD_SKIP_FUZZ=1 skips it.
if [ "${OPTD_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh
fi

# What the end-to-end tests, the soak and the image need, not the unit test
# binaries (scripts/build.sh with no targets builds those too).
echo "== build (RelWithDebInfo): optd, optctl, the end-to-end tests =="
NINJA_ARGS="optd optctl e2e_test crash_consistency_test soak" scripts/build.sh
echo "== end-to-end tests =="
ctest --test-dir build --output-on-failure -j "$jobs" -L 'e2e|deploy'

# A short soak (bench/soak) against the sanitized optd: concurrent clients,
# cancellations and expired deadlines, no lost tell, no leak (LeakSanitizer
# at exit), optd exits 0. RSS is not judged: ASan's quarantine holds freed
# memory.
echo "== soak under ASan + UBSan =="
build/bench/soak --optd=build-fuzz/server/optd --clients=16 --sessions=200 \
  --rss_growth_limit_mb=1e9

# The container image end to end: one container, then three replicas with a
# sharded session and a replica killed (deploy/container-test.sh; minutes,
# the image around build/server/optd, not a third compile; `--from-source` runs
# the Dockerfile's own build stage). OPTD_SKIP_CONTAINER_TEST=1 skips it.
if [ "${OPTD_SKIP_CONTAINER_TEST:-0}" != 1 ]; then
  echo "== container test =="
  deploy/container-test.sh
fi
