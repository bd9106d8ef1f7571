// CreateSessionRequest.warm_start (optimizer.proto WarmStart): the state one
// solver hands the next when a session switches solvers (docs/api.md
// "Switch"), checked and put into a freshly built solver, and the creation
// request a switch writes.
//
//   OPTD_ASSIGN_OR_RETURN(SolverSetup setup, ...);
//   OPTD_RETURN_IF_ERROR(ApplyWarmStart(request, setup.solver.get()));
//
// Thread-safety: stateless functions.
#ifndef OPTD_SERVER_SESSION_WARM_START_H_
#define OPTD_SERVER_SESSION_WARM_START_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optd/v1/optimizer.pb.h"
#include "solvers/core/solver.h"

namespace optd::server {

// ApplyWarmStart()
//
// No-op without request.warm_start. Otherwise INVALID_ARGUMENT naming the
// field when the solver takes no warm start (only lbfgs and trust_region
// with the quasi_newton subproblem do, without bounds), value and gradient are
// not set together, a vector is not of the dimension or not finite, or a pair
// fails the curvature condition (CheckCurvaturePairs); else the pairs start
// `solver`'s memory. REQUIRES: `solver` was built from `request` and told
// nothing.
absl::Status ApplyWarmStart(const v1::CreateSessionRequest& request,
                            Solver* solver);

// What a session's solver hands over in a switch, read from a replay of
// its snapshot (SessionManager::SwitchedCreate).
struct SolverHandover {
  // The point of its outstanding trial: the new solver's x0.
  std::vector<double> x;
  // Tells it had applied, and the last trial id it issued.
  int64_t tells = 0;
  uint64_t last_trial_id = 0;
  // Curvature pairs for the new solver, oldest first.
  std::vector<std::vector<double>> s, y;
};

// SwitchedCreateRequest()
//
// The creation request of the session that continues `source` (its
// creation request) under the solver `target` sets (its solver field;
// layers dropped): x0 is handover.x (f64), warm_start carries the pairs,
// `from_solver` (source's solver field name), the tells and the last trial
// id.
v1::CreateSessionRequest SwitchedCreateRequest(
    const v1::CreateSessionRequest& source,
    const v1::CreateSessionRequest& target, const SolverHandover& handover);

// The name of `request`'s solver field ("adam", "lbfgs"), or "none".
std::string SolverFieldName(const v1::CreateSessionRequest& request);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_WARM_START_H_
