// gen_corpus: writes the seed corpus of every fuzz target, small valid inputs
// the fuzzer mutates from (fuzz/corpus/<target>/seed-*), so that it starts
// deep in the code instead of at the parsers. Run by hand after a change to
// fuzz_input.proto or to what a valid request or journal looks like:
//
//   scripts/fuzz.sh --build-only && build-fuzz/fuzz/gen_corpus fuzz/corpus
//
// The stored_session seeds are real data directories: sessions run by a
// SessionManager with a SessionStore in a temporary directory, their
// journals and write-ahead log read back as written (version 2, sync
// marks and salts of their own) and rebuilt from their records as version
// 1 and as version 2 with marks, damaged after the last mark (a torn tail)
// and before one (damage); and slices of each kind run by a SliceHost with
// a data directory, their staged-vector file and a checkpoint
// (SLICE_OP_SAVE_CHECKPOINT) read back and rebuilt the same way. The
// version 2 files read back hold random salts, so the seeds differ from one
// run of gen_corpus to the next.
#include "fuzz/gen_corpus.h"

#include <cstdio>

#include "fuzz/harness.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  optd::fuzz::QuietLogs();
  optd::fuzz::corpus::SetCorpusDir(argv[1]);
  optd::fuzz::corpus::SessionRequests();
  optd::fuzz::corpus::BatchSessionRequests();
  optd::fuzz::corpus::StoredSession();
  optd::fuzz::corpus::SliceOps();
  optd::fuzz::corpus::VectorCodec();
  return 0;
}
