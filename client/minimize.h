// optd C++ client: whole optimizations on the Optimize stream.
//
// RunStream() opens an Optimize stream (DESIGN §2: one bidirectional stream,
// one round trip per evaluation), evaluates every trial the server hands out
// with the caller's Objective, tells the result, and returns when the summary
// arrives. Minimize() is the scipy.optimize.minimize of optd: connect, run,
// delete the session, return the Result.
//
//   using namespace optd::client;
//   Objective rosenbrock = [](const std::vector<double>& x, Wants wants) {
//     Evaluation e;
//     const double a = 1 - x[0], b = x[1] - x[0] * x[0];
//     e.value = a * a + 100 * b * b;
//     if (WantsGradient(wants)) e.gradient = {-2 * a - 400 * x[0] * b, 200 *
//     b}; return e;
//   };
//   absl::StatusOr<Result> r = Minimize("localhost:50051", rosenbrock,
//                                       {-1.2, 1.0});
//   if (r.ok()) std::cout << r->brief_report << "\n";   // r->x ~ (1, 1)
//
// A session that does not converge is a Result with success == false; only
// failures to talk to the server, or tells the server refused, are errors.
//
// Thread-safety: the functions are thread-safe; each call runs its own stream
// and calls `objective` from the calling thread only, one trial at a time.
#ifndef OPTD_CLIENT_MINIMIZE_H_
#define OPTD_CLIENT_MINIMIZE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "client/session.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::client {

// The function being optimized: evaluates what `wants` asks for at `x`.
using Objective =
    std::function<Evaluation(const std::vector<double>& x, Wants wants)>;
// The same with the whole trial: what a Hessian-vector trial needs, whose
// product H(x) v is for the trial's `vector` v.
using TrialObjective = std::function<Evaluation(const Trial& trial)>;

// RunStream()
//
// Runs the session opened by `open` (its `create` or `attach_session_id`) to
// its end over one Optimize stream. Returns the server's refusal of a tell
// (carried in OptimizeResponse.error_code) or the stream's error status;
// the session then stays on the server as it was.
absl::StatusOr<Result> RunStream(const Client& client,
                                 const v1::OptimizeRequest& open,
                                 const Objective& objective);
absl::StatusOr<Result> RunStream(const Client& client,
                                 const v1::OptimizeRequest& open,
                                 const TrialObjective& objective);
// Opens a new session from x0, solver and options; see
// MakeCreateSessionRequest().
absl::StatusOr<Result> RunStream(
    const Client& client, absl::Span<const double> x0, const SolverSpec& solver,
    const Objective& objective,
    const SessionOptions& options = SessionOptions());
absl::StatusOr<Result> RunStream(
    const Client& client, absl::Span<const double> x0, const SolverSpec& solver,
    const TrialObjective& objective,
    const SessionOptions& options = SessionOptions());

struct MinimizeOptions {
  // Default L-BFGS with the scipy L-BFGS-B defaults.
  SolverSpec solver = SolverSpec::Lbfgs();
  // Session id, labels, vector encoding. Default: server-chosen id, f64 bytes.
  SessionOptions session;
  // How Minimize(address, ...) connects. Default ClientOptions().
  ClientOptions client;
  // Delete the session once it has ended, so a one-shot minimization leaves
  // nothing on the server. Default true.
  bool delete_session = true;
};

// Minimize()
//
// Minimizes `objective` from `x0` with options.solver over the Optimize
// stream, on the server at `address` or through `client`.
absl::StatusOr<Result> Minimize(const std::string& address,
                                const Objective& objective,
                                absl::Span<const double> x0,
                                const MinimizeOptions& options = {});
absl::StatusOr<Result> Minimize(const Client& client,
                                const Objective& objective,
                                absl::Span<const double> x0,
                                const MinimizeOptions& options = {});

}  // namespace optd::client

#endif  // OPTD_CLIENT_MINIMIZE_H_
