// The solver factory: a CreateSessionRequest -> the solver it selects, with
// the session layers (finite differences, gradient check, data parallel)
// around it, and the memory a session of it holds. One row per solver kind
// (solver_factory.cc) says how to build it plain, in a box, or over the
// slices of a sharded session.
//
//   OPTD_ASSIGN_OR_RETURN(SolverSetup setup, CreateSolver(request, x0));
//
// Thread-safety: stateless functions; `make_shards` is called on the
// caller's thread.
#ifndef OPTD_SERVER_SESSION_SOLVER_FACTORY_H_
#define OPTD_SERVER_SESSION_SOLVER_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/codecs.h"
#include "server/session/solver_revision.h"
#include "server/sharding/shard_group.h"
#include "solvers/core/solver.h"
#include "solvers/core/vector_view.h"

namespace optd::server {

// A freshly created solver and the options it resolved.
struct SolverSetup {
  std::unique_ptr<Solver> solver;
  SolverOptions options;
  // The slices on other replicas, for a sharded session; null otherwise.
  std::shared_ptr<ShardGroup> shards;
};

// Builds the slices of a sharded session from `base` (kind and solver fields
// set; SessionManager knows the replicas, the id and the layout).
using ShardMaker =
    absl::AnyInvocable<absl::StatusOr<std::shared_ptr<ShardGroup>>(
        const v1::CreateSliceRequest& base)>;

// CreateSolver()
//
// The solver `request` selects (exactly one of lbfgs, adam, adamw or
// trust_region), starting at `x0`, with one in-process slice, or, given a
// `make_shards`, with its vectors in the slices that makes (DESIGN §3), with
// the arithmetic of `solver_revision`.
// INVALID_ARGUMENT when no solver is set, an option is out of range, x0 is
// not finite, or solver_revision is newer than kSolverRevision; UNAVAILABLE
// when a replica for the slices is unreachable.
absl::StatusOr<SolverSetup> CreateSolver(
    const v1::CreateSessionRequest& request, const ConstVectorView& x0,
    ShardMaker* make_shards = nullptr,
    uint32_t solver_revision = kSolverRevision);

// CheckSolverLayers()
//
// INVALID_ARGUMENT naming the field when the solver `request` selects does
// not go with its shards, bounds, gradient_source, finite_difference,
// gradient_check or data_parallel (least_squares and curvature take none of
// them). OK
// otherwise. SessionFactory asks before it checks shards against the
// replicas, so that a solver that is never sharded is a bad argument
// whatever the deployment.
absl::Status CheckSolverLayers(const v1::CreateSessionRequest& request);

// EstimateSessionBytes(), EstimateStateBytes()
//
// The bytes a session of dimension `n` created by `request` holds, all of
// its shards together, from its options (what --tenant_memory_bytes and
// --server_memory_bytes count; within a few vectors of the real figure):
//   solver  the solver state: L-BFGS (2m + 6)n doubles, the quasi-Newton
//           trust region (2m + 8)n, Newton-CG 8n, the exact trust region
//           n^2 + 8n, Adam 3n (4n with amsgrad) of its state type plus the
//           point in float64, curvature (min(max(max_steps,
//           density_steps), n) + 8)n (the Lanczos basis);
//   layers  the session layers: bounds (2n doubles in the solver and 2n in
//           the creation echo, 2n more in a finite-difference adapter), the
//           finite-difference, gradient-check or data-parallel adapter
//           (FiniteDifferenceBytes, GradientCheckBytes, DataParallelBytes),
//           and a lease for every trial of their batches (kLeaseBytes), which
//           workers may all hold at once.
// EstimateStateBytes is their sum.
struct SessionBytes {
  int64_t solver = 0;
  int64_t layers = 0;
  // The largest batch: 2n + 1 for central differences and gradient checks,
  // n + 1 forward, the data-parallel workers; 1 without layers.
  int64_t batch_trials = 1;
  // What the layers are, for messages: "finite-difference stencil", ...;
  // empty without layers.
  std::string layers_name;
  int64_t total() const { return solver + layers; }
};
SessionBytes EstimateSessionBytes(const v1::CreateSessionRequest& request,
                                  int64_t n);
int64_t EstimateStateBytes(const v1::CreateSessionRequest& request, int64_t n);

// A lease on a trial as Session keeps it: its map entry (96 bytes) and a
// worker id of up to 128 characters on the heap (144).
inline constexpr int64_t kLeaseBytes = 240;

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SOLVER_FACTORY_H_
