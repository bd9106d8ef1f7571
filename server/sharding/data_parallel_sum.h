// DataParallelSum: one slice's part of a data-parallel step of a sharded
// session (docs/sharding.md "Data parallelism"): the weighted sum of the
// workers' staged gradients over the slice's range, formed in the order the
// home names, with the arithmetic of the in-process adapter
// (solvers/adapters/data_parallel.cc): sum = w_0 g_0, then sum += w_k g_k in
// tell order, and the mean sum / ((w_0 + w_1) + ...). Each element depends
// only on its own index, so the mean over K slices is bitwise the mean of
// one process.
//
// The workers' gradients stay in the StagedStore (PutSlice on the direct
// path, SLICE_OP_STAGE_GRADIENT through the home), journaled as every staged
// vector is; the sum here is a cache that is formed again from them when it
// does not match the trials named (a rebuilt slice, a replayed tell), so it
// is no part of the slice's checkpointed state.
//
//   DataParallelSum sum;
//   OPTD_RETURN_IF_ERROR(sum.Add(store, staged, spec, range, op, &answer));
//   OPTD_ASSIGN_OR_RETURN(std::string mean,
//                         sum.Mean(store, staged, range, op, &missing));
//
// Thread-safety: not thread-safe; SliceHost calls it under the slice's lock.
#ifndef OPTD_SERVER_SHARDING_DATA_PARALLEL_SUM_H_
#define OPTD_SERVER_SHARDING_DATA_PARALLEL_SUM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optd/v1/shard.pb.h"
#include "server/sharding/staged_store.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {

class DataParallelSum {
 public:
  // DataParallelSum::Add()
  //
  // SLICE_OP_DATA_PARALLEL_ADD: checks adding the last of
  // op.data_parallel_trials() to the sum of the others. Answers `missing`
  // when a trial has no staged gradient here; bad_index (with
  // overflow_element) for an element a float32 slice (`spec.float32()`)
  // cannot hold; overflow_index (with overflow_element) for the first
  // element whose sum or mean is not finite. Only a clean answer keeps the
  // longer sum. INVALID_ARGUMENT when trials and weights differ in length.
  absl::Status Add(StagedStore& store, StagedVectors& staged,
                   const v1::CreateSliceRequest& spec, const ShardRange& range,
                   const v1::SliceOpRequest& op, v1::SliceOpResponse* answer);
  // DataParallelSum::Mean()
  //
  // SET_TRIAL_GRADIENT with data_parallel_mean: the mean of the named
  // trials' gradients over `range`, as float64 bytes; the gradients are
  // marked consumed. *missing (and no bytes) when a trial has no staged
  // gradient here.
  absl::StatusOr<std::string> Mean(StagedStore& store, StagedVectors& staged,
                                   const ShardRange& range,
                                   const v1::SliceOpRequest& op, bool* missing);

 private:
  // Makes sum_ the sum over the first `count` of `trials`, extending the
  // cached sum when it holds a prefix of them, else from the first.
  absl::Status SumThrough(StagedStore& store, StagedVectors& staged,
                          const ShardRange& range,
                          const std::vector<uint64_t>& trials,
                          const std::vector<double>& weights, size_t count,
                          bool* missing);
  // Adds w * g (g the staged bytes of one trial) to sum_ (first: sets it).
  void Accumulate(const std::string& bytes, bool float32, double w, bool first);

  // The trials and weights sum_ covers, in order; total_ = their weights'
  // sum in that order.
  std::vector<uint64_t> trials_;
  std::vector<double> weights_;
  std::vector<double> sum_;
  double total_ = 0.0;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_DATA_PARALLEL_SUM_H_
