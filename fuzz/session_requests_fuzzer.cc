// session_requests_fuzzer: request validation, proto -> solver conversion and
// the solvers themselves, as a client reaches them.
//
// Feeds: the input bytes, parsed as optd.fuzz.SessionScript (fuzz_input.proto:
// a list of optd.v1 CreateSession/Tell/Ask/GetSession/ListSessions/
// DeleteSession/ImportSession requests and synthetic evaluations), into an
// in-process SessionManager without a store, step by step, the way
// OptimizerService calls it for each RPC. So every option validator
// (solver_factory.cc, codecs.cc), the session checks (session.cc: lengths,
// NaN/Inf, trial ids, retries) and L-BFGS, trust-region and Adam iterating on
// hostile values, gradients and Hessians are exercised. --max_dimension is
// capped at 64 so that no input allocates much.
//
// Checks (fuzz/harness.h): every error is a clean status of an expected code
// with a message; a refused tell changes nothing; a retried tell is a
// duplicate; plus ASan/UBSan/LeakSanitizer on everything.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz/harness.h"
#include "fuzz_input.pb.h"
#include "server/session/session_manager.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  optd::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  optd::fuzz::SessionScript script;
  if (!script.ParseFromArray(data, static_cast<int>(size))) return -1;
  optd::server::SessionLimits limits;
  limits.max_dimension = script.max_dimension() <= 0
                             ? 64
                             : std::min<int64_t>(script.max_dimension(), 64);
  limits.max_sessions = script.max_sessions() <= 0
                            ? 8
                            : std::min<int64_t>(script.max_sessions(), 8);
  optd::server::SessionManager manager(limits);
  optd::fuzz::ScriptRunner runner(&manager);
  for (const optd::fuzz::Step& step : script.steps()) runner.Run(step);
  return 0;
}
