#!/usr/bin/env bash
# Open-ended fuzzing: each libFuzzer target (fuzz/) for SECONDS (default 600)
# from its seed corpus, with a fresh random seed each time, one target after
# the other (run it where nothing else needs the cores). It looks for new
# bugs and gates nothing: CI runs scripts/test.sh, whose fuzz step
# (scripts/fuzz.sh) replays the committed regression inputs and a fixed-seed,
# fixed-count run, so that the same code always gets the same answer.
#
#   scripts/fuzz-long.sh                        # every target, 10 minutes each
#   scripts/fuzz-long.sh 3600 session_requests  # one target for an hour
#   FUZZ_KEEP_CORPUS=dir scripts/fuzz-long.sh   # keep the grown corpora
#
# Every crash it finds becomes, in the same change as its fix:
#   1. a committed regression input: the crash file from
#      build-fuzz/artifacts/<target>/ (minimized with
#      `build-fuzz/fuzz/<target>_fuzzer -minimize_crash=1 -runs=10000 <crash>`
#      when that keeps the failure), copied to fuzz/regressions/<target>/ under
#      a name that says what broke; the gate runs it on every CI run;
#   2. a unit test beside the code it fixes that fails without the fix.
# Reproduce with build-fuzz/fuzz/<target>_fuzzer <crash> (OPTD_FUZZ_LOG=1
# shows the server's logs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
exec scripts/fuzz.sh --for="$seconds" "$@"
