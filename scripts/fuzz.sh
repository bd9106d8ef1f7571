#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) into
# build-fuzz/ and runs each of them, first every committed regression input
# once (fuzz/regressions/<target>/: inputs that once crashed), then the fuzzer
# itself from the seed corpus (fuzz/corpus/<target>/; new inputs go to a
# temporary directory, so the committed corpus stays as it is). Two modes:
#
#   The gate (default; scripts/test.sh and so CI run it): a fixed seed and a
#   fixed number of inputs per target (libFuzzer -seed=FUZZ_SEED -runs=N),
#   no time limit that a slower machine or an unrelated change could move,
#   the seed corpus fed in a fixed order, address randomization off: the
#   same code gets the same answer. slice_ops and vector_codec replay the
#   same inputs bit for bit; session_requests and stored_session read the
#   clock (leases, wall times) and sync journals on a thread, so their
#   coverage, and the inputs mutated from it, can drift within the first few
#   hundred inputs (the regression inputs and seeds run the same every
#   time). 25 to 40 s for the four targets on two cores; FUZZ_SEED and
#   FUZZ_RUNS (every target's N) override.
#
#   Open-ended (--for=SECONDS; scripts/fuzz-long.sh): each target for that
#   long with a fresh random seed (printed as "INFO: Seed:"). It looks for
#   new bugs and gates nothing.
#
# Exits non-zero on any crash, sanitizer report, leak or timeout; the input
# is kept in $FUZZ_ARTIFACTS (default build-fuzz/artifacts/<target>/).
#   scripts/fuzz.sh                          # the gate, every target
#   scripts/fuzz.sh session_requests         # the gate, one target
#   scripts/fuzz.sh --for=600 stored_session # open-ended, 10 minutes
#   scripts/fuzz.sh --build-only
#   FUZZ_KEEP_CORPUS=dir scripts/fuzz.sh     # keep the grown corpora in dir/
# To reproduce a crash: build-fuzz/fuzz/<target>_fuzzer <input>; with
# OPTD_FUZZ_LOG=1 the server's logs are shown. A crash becomes a committed
# regression input and a unit test (scripts/fuzz-long.sh says how).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(session_requests stored_session slice_ops vector_codec)
build_only=0
seconds=0
selected=()
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    --for=*) seconds=${arg#--for=} ;;
    -*)
      echo "fuzz.sh: unknown option $arg" >&2
      exit 2
      ;;
    *) selected+=("$arg") ;;
  esac
done
[ ${#selected[@]} -gt 0 ] && targets=("${selected[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: --for takes whole seconds, not '$seconds'" >&2
  exit 2
fi

build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
artifacts=${FUZZ_ARTIFACTS:-$build_dir/artifacts}

echo "== build (clang, libFuzzer + ASan + UBSan): ${targets[*]} =="
# -O1 with line tables: the usual fuzzing trade-off between speed and
# build time; no NDEBUG, so Eigen's bounds assertions are on too.
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DOPTD_FUZZ=ON -DOPTD_BUILD_TESTS=ON \
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

# The gate's inputs per target (seed corpus included): 25 to 40 s for all
# four on this project's two-core development machine, depending on its load
# (the step took 4 x 20 s before it had a fixed count). Change them together
# with the time docs/development.md gives.
gate_runs() {
  case "$1" in
    session_requests) echo 20000 ;;
    stored_session) echo 10000 ;;
    slice_ops) echo 200000 ;;
    vector_codec) echo 500000 ;;
  esac
}
seed=${FUZZ_SEED:-1}
# Without address randomization (setarch -R, where the kernel allows it)
# heap addresses, and so hash-table orders and the operands of pointer
# comparisons that steer libFuzzer's mutations, are the same on every run.
no_aslr=()
if setarch -R true 2>/dev/null; then no_aslr=(setarch -R); fi

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
  # The seed corpus goes in by name (-seed_inputs, in the glob's sorted
  # order), not as a directory, whose listing order is the file system's, so
  # the seeds run in the same order wherever the gate runs. -reload=0: no
  # rereading of the output directory on a timer.
  seeds=(fuzz/corpus/"$t"/*)
  seed_list="$work/$t-seeds"
  if [ -e "${seeds[0]}" ]; then
    (IFS=,; printf '%s' "${seeds[*]}") >"$seed_list"
  else
    : >"$seed_list"
  fi
  if [ "$seconds" -gt 0 ]; then
    how=(-max_total_time="$seconds")
    echo "== $t: fuzzing for ${seconds} s (a fresh random seed) =="
  else
    runs=${FUZZ_RUNS:-$(gate_runs "$t")}
    how=(-seed="$seed" -runs="$runs")
    echo "== $t: $runs inputs from seed $seed =="
  fi
  corpus="$work/corpus-$t"
  mkdir -p "$corpus"
  if ! "${no_aslr[@]}" "$fuzzer" "${how[@]}" -seed_inputs=@"$seed_list" \
      -reload=0 -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$t/" "$corpus" \
      >"$work/$t.log" 2>&1; then
    tail -n 80 "$work/$t.log"
    # The seed is on the log's first lines, which the tail leaves out.
    grep -m 1 -E "^INFO: Seed:" "$work/$t.log" || true
    echo "$t: crash input kept in $artifacts/$t/"
    failed+=("$t")
    continue
  fi
  # One line: the seed, executions, their rate, coverage reached (in the
  # gate the same on every run for slice_ops and vector_codec).
  grep -E "^INFO: Seed:" "$work/$t.log" | tr '\n' ' '
  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec" \
    "$work/$t.log" | tr '\n' ' '
  grep -E "DONE" "$work/$t.log" | tail -n 1 || true
  if [ -n "${FUZZ_KEEP_CORPUS:-}" ]; then
    mkdir -p "$FUZZ_KEEP_CORPUS/$t"
    cp "$corpus"/* "$FUZZ_KEEP_CORPUS/$t"/ 2>/dev/null || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: OK (${targets[*]})"
