#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) into
# build-fuzz/ and runs each of them: first every committed regression input
# once (fuzz/regressions/<target>/: inputs that once crashed), then the
# fuzzer itself for FUZZ_SECONDS from the seed corpus (fuzz/corpus/<target>/,
# copied to a temporary directory so the committed one stays as it is).
# Exits non-zero on any crash, sanitizer report, leak or timeout; the input
# is kept in $FUZZ_ARTIFACTS (default build-fuzz/artifacts/<target>/).
#   scripts/fuzz.sh                          # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh stored_session
#   scripts/fuzz.sh --build-only
#   FUZZ_KEEP_CORPUS=dir scripts/fuzz.sh     # keep the grown corpora in dir/
# To reproduce a crash: build-fuzz/fuzz/<target>_fuzzer <input>; with
# OPTD_FUZZ_LOG=1 the server's logs are shown.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(session_requests stored_session slice_ops vector_codec)
build_only=0
selected=()
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    *) selected+=("$arg") ;;
  esac
done
[ ${#selected[@]} -gt 0 ] && targets=("${selected[@]}")

seconds=${FUZZ_SECONDS:-20}
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
artifacts=${FUZZ_ARTIFACTS:-$build_dir/artifacts}

echo "== build (clang, libFuzzer + ASan + UBSan): ${targets[*]} =="
# -O1 with line tables: the usual fuzzing trade-off between speed and
# build time; no NDEBUG, so Eigen's bounds assertions are on too.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DOPTD_FUZZ=ON -DOPTD_BUILD_TESTS=OFF \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" >/dev/null
ninja_targets=()
for t in "${targets[@]}"; do ninja_targets+=("${t}_fuzzer"); done
[ "$build_only" = 1 ] && ninja_targets+=(gen_corpus)
cmake --build "$build_dir" -- ${NINJA_ARGS:-} "${ninja_targets[@]}"
[ "$build_only" = 1 ] && exit 0

# Leaks are bugs; so is any UBSan report. The stored-session target writes a
# data directory per input: on tmpfs it runs ~50x faster than on a disk.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Largest input per target: a stored-session input holds whole files, the
# others a few requests (bigger inputs only slow the fuzzer down).
max_len() {
  case "$1" in
    stored_session) echo 16384 ;;
    vector_codec) echo 1024 ;;
    *) echo 4096 ;;
  esac
}

failed=()
for t in "${targets[@]}"; do
  fuzzer="$build_dir/fuzz/${t}_fuzzer"
  mkdir -p "$artifacts/$t"
  regressions=(fuzz/regressions/"$t"/*)
  if [ -e "${regressions[0]}" ]; then
    echo "== $t: ${#regressions[@]} regression inputs =="
    if ! "$fuzzer" -rss_limit_mb=2048 -timeout=60 "${regressions[@]}" \
        >"$work/$t-regressions.log" 2>&1; then
      tail -n 60 "$work/$t-regressions.log"
      failed+=("$t (regressions)")
      continue
    fi
  fi
  echo "== $t: fuzzing for ${seconds} s =="
  corpus="$work/corpus-$t"
  mkdir -p "$corpus"
  cp fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  if ! "$fuzzer" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
      -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t/" "$corpus" >"$work/$t.log" 2>&1; then
    tail -n 80 "$work/$t.log"
    echo "$t: crash input kept in $artifacts/$t/"
    failed+=("$t")
    continue
  fi
  # One line: executions, their rate, coverage reached.
  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec" \
    "$work/$t.log" | tr '\n' ' '
  grep -E "DONE" "$work/$t.log" | tail -n 1 || true
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$t"
    cp "$corpus"/* "$FUZZ_KEEP_CORPUS/$t"/
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: OK (${targets[*]})"
