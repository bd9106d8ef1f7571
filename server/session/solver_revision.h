// Solver revisions: which arithmetic a stored session replays with. The
// shims that keep an older revision's arithmetic live here, applied to the
// options the solver factory (solver_factory.h) builds with.
//
//   OPTD_RETURN_IF_ERROR(CheckSolverRevision(snapshot.solver_revision()));
//   ApplyRevisionShims(revision, &trust_region_options);
//
// Thread-safety: stateless functions.
#ifndef OPTD_SERVER_SESSION_SOLVER_REVISION_H_
#define OPTD_SERVER_SESSION_SOLVER_REVISION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "solvers/trust_region/trust_region.h"

namespace optd::server {

// The revision of the solvers' arithmetic that this build creates sessions
// with (SessionSnapshot.solver_revision). A change that would give a stored
// session's tells other trials on replay bumps it and keeps the old
// arithmetic for the older revisions:
//   0  before revisions were recorded.
//   1  trust region: the ftol test (default on) and the quasi-Newton model's
//      pair threshold kPairDependence = 1e-12; revision 0 sessions replay with
//      ftol = 0 and 1e-8.
inline constexpr uint32_t kSolverRevision = 1;

// CheckSolverRevision()
//
// INVALID_ARGUMENT when `revision` is newer than kSolverRevision (a session
// of a newer build cannot replay here).
absl::Status CheckSolverRevision(uint32_t revision);

// ApplyRevisionShims()
//
// Sets the options whose arithmetic changed since `revision` back to that
// revision's.
void ApplyRevisionShims(uint32_t revision, TrustRegionOptions* options);

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SOLVER_REVISION_H_
