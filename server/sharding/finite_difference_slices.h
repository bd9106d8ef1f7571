// WithFiniteDifferencesOnSlices: finite-difference gradients for a sharded
// session (gradient_source FINITE_DIFFERENCE; docs/sharding.md "Finite
// differences"). The adapter of solvers/adapters/finite_difference.h with
// the stencil on the slices: at each gradient trial every slice plans the
// stencil of its range around its trial point (SLICE_OP_STENCIL_PLAN,
// scipy 1.10 approx_derivative's steps, bounded as the one-process adapter
// bounds them) and answers its number of points; a stencil point handed out
// is read from the slice that owns its coordinate (SLICE_OP_STENCIL_POINTS,
// a window of points at a time); the told values wait on the home, one
// double per point, and when the batch is complete each slice gets its
// range's values and forms its range of the gradient as the inner solver's
// told gradient (SET_TRIAL_GRADIENT with stencil_values), after a check that
// the inner solver would take it (SLICE_OP_STENCIL_CHECK). The home never
// holds x, the steps or the gradient: per stencil point one value (and the
// batch's told flag and lease), per slice its point count, and a window of
// point deltas.
//
// Every coordinate's derivative is formed by the one-process functions
// (PlanApproxDerivativeCoordinate, CoordinateDerivative) from its own x_i,
// bounds and values, so a sharded session's trials and iterates are bitwise
// the unsharded one's for any number of shards. Like the one-process adapter
// it is restored by replaying its tells (SaveState UNIMPLEMENTED,
// StateBytes 0); the slices' plans are caches planned again on replay.
//
//   OPTD_ASSIGN_OR_RETURN(
//       setup.solver,
//       WithFiniteDifferencesOnSlices(std::move(setup.solver), options,
//                                     std::move(bounds), shards));
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SERVER_SHARDING_FINITE_DIFFERENCE_SLICES_H_
#define OPTD_SERVER_SHARDING_FINITE_DIFFERENCE_SLICES_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "server/sharding/shard_group.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"

namespace optd::server {

// The most stencil points the home keeps of one slice at a time (a window
// read with one SLICE_OP_STENCIL_POINTS).
inline constexpr int64_t kStencilPointWindow = 1024;

// WithFiniteDifferencesOnSlices()
//
// `inner` is a solver over `group`'s slices (remote vectors). The batches,
// their order, the failed-value rules and the errors are those of
// WithFiniteDifferences (finite_difference.h).
//
// INVALID_ARGUMENT: options out of range, inner or group null, bounds of
// another dimension (empty: none), a first trial that wants a Hessian.
absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferencesOnSlices(
    std::unique_ptr<Solver> inner, const FiniteDifferenceOptions& options,
    Bounds bounds, std::shared_ptr<ShardGroup> group);

// FiniteDifferenceOnSlicesBytes()
//
// The bytes the home's adapter holds at most for dimension n on `shards`
// slices: a told value and a told flag per trial, each slice's first
// point, and the window of point deltas (FiniteDifferenceBytes is the
// one-process adapter's, which also holds x, each coordinate's plan and the
// gradient).
int64_t FiniteDifferenceOnSlicesBytes(int64_t n, FiniteDifferenceScheme scheme,
                                      int shards);

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_FINITE_DIFFERENCE_SLICES_H_
