// WithDataParallelOnSlices: synchronous data parallelism for a sharded
// session (docs/sharding.md "Data parallelism"). The adapter of
// solvers/adapters/data_parallel.h with the gradients kept on the slices:
// each worker's gradient is staged on the replicas under its trial id (the
// client's PutSlice on the direct path; SLICE_OP_STAGE_GRADIENT from the
// home on the gateway path), each tell is checked there
// (SLICE_OP_DATA_PARALLEL_ADD), and when the step is complete the inner
// solver's SetTrialGradient has every slice form the weighted mean of the
// workers' gradients in tell order (SET_TRIAL_GRADIENT with
// data_parallel_mean). The home keeps O(W) numbers: the told trials, their
// weights and the value sums; never an n-vector.
//
// The slices form the mean with the in-process adapter's arithmetic, element
// by element, so a sharded data-parallel session is bitwise the unsharded
// one for any number of shards. Values are averaged on the home as
// in-process; the errors are the in-process adapter's, a sliced gradient's
// element named by its index (its value is on the replica).
//
//   OPTD_ASSIGN_OR_RETURN(
//       setup.solver,
//       WithDataParallelOnSlices(std::move(setup.solver), workers, shards));
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SERVER_SHARDING_DATA_PARALLEL_SLICES_H_
#define OPTD_SERVER_SHARDING_DATA_PARALLEL_SLICES_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/sharding/shard_group.h"
#include "solvers/core/solver.h"

namespace optd::server {

// WithDataParallelOnSlices()
//
// `inner` is a solver over `group`'s slices (remote vectors); the session
// sets group->told_trial() before each tell. SaveState writes the inner
// state and the adapter's words: the step's told trials and weights, not a
// gradient sum (the slices form it again from their staged vectors, which
// are journaled and kept until a checkpoint of the home holds the step).
//
// INVALID_ARGUMENT: inner or group null, workers outside [2, 1024].
absl::StatusOr<std::unique_ptr<Solver>> WithDataParallelOnSlices(
    std::unique_ptr<Solver> inner, int workers,
    std::shared_ptr<ShardGroup> group);

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_DATA_PARALLEL_SLICES_H_
