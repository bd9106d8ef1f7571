// Shared by the fuzz targets that drive sessions (session_requests_fuzzer,
// stored_session_fuzzer): runs one optd.fuzz.Step against a SessionManager
// the way OptimizerService does for the matching RPC, and checks what must
// hold whatever the input:
//   - every refusal is a clean absl::Status with a message and a code a
//     client may get for a bad request (DESIGN §6); INTERNAL or UNKNOWN means
//     a bug (Session says "solver refused a validated tell") and aborts;
//   - a refused tell changes nothing: the session answers Ask and GetSession
//     (trial log, pending trials, leases included) exactly as before, bit for
//     bit;
//   - an applied tell told again is a duplicate: same answer, nothing changed;
//   - every trial point handed out is finite and inside the session's box.
// A violated property aborts with a message, which libFuzzer reports as a
// crash and saves the input.
//
//   ScriptRunner runner(&manager);
//   for (const Step& step : script.steps()) runner.Run(step);
//
// Thread-safety: not thread-safe (one per fuzz input).
#ifndef OPTD_FUZZ_HARNESS_H_
#define OPTD_FUZZ_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fuzz_input.pb.h"
#include "server/session/session.h"
#include "server/session/session_manager.h"

namespace optd::fuzz {

// Aborts (a fuzzer crash) with `what` and `status` unless `status` is OK or
// a clean refusal: a non-empty message and one of INVALID_ARGUMENT,
// NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, RESOURCE_EXHAUSTED,
// DATA_LOSS (a damaged stored session) or UNIMPLEMENTED.
void CheckClean(const absl::Status& status, absl::string_view what);

// Aborts with a message when `condition` is false.
void Require(bool condition, absl::string_view what);

// What a refused tell, a retried tell or a restart must leave as it is: the
// session's Ask answer and its GetSession (best x, history, gradient checks,
// pending trials, trial log and, with `with_leases`, who holds which trial),
// without what moves on its own (journal sync, lease expiry times). "error
// ..." for a session that cannot answer.
std::string SessionFingerprint(server::Session& session,
                               bool with_leases = true);

// Turns spdlog off unless OPTD_FUZZ_LOG is set (logging every session
// created would dominate the time per input).
void QuietLogs();

class ScriptRunner {
 public:
  explicit ScriptRunner(server::SessionManager* manager) : manager_(manager) {}

  // A session a later step may address by index (recovered ones, say).
  void Adopt(std::shared_ptr<server::Session> session);

  // ScriptRunner::Run()
  //
  // Runs `step`; see the file comment for what it checks.
  void Run(const Step& step);

 private:
  // The session a step with an empty session_id means, or "" when none.
  std::string SessionFor(const Step& step) const;
  // "fuzz-1", "fuzz-2", ...: the id of a create or import that names none.
  // The server would draw a random one (getrandom), and the same input would
  // then run differently from one run to the next: the fixed-seed gate of
  // scripts/fuzz.sh wants it to run the same, and a crash file to replay
  // exactly.
  std::string NextId();
  void Tell(const Step& step);
  void Evaluate(const Step& step);
  // session->Tell as OptimizerService::Tell, with the checks above.
  void TellAndCheck(const std::shared_ptr<server::Session>& session,
                    const v1::TellRequest& request);

  server::SessionManager* const manager_;
  std::vector<std::shared_ptr<server::Session>> sessions_;
  int ids_given_ = 0;
};

}  // namespace optd::fuzz

#endif  // OPTD_FUZZ_HARNESS_H_
