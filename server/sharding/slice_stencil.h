// SliceStencil: one slice's part of a finite-difference gradient of a
// sharded session (docs/sharding.md "Finite differences"): the stencil of
// the slice's range planned around its trial point (StencilSlice,
// solvers/sharding/stencil_slice.h), the points handed out from it, and the
// range of the gradient formed from the told values the home sends on. The
// plan is a cache of the slice's trial point, planned again at every
// gradient (SLICE_OP_STENCIL_PLAN), so it is no part of the slice's
// checkpointed state: a rebuilt slice is planned again when the home
// replays its tells.
//
//   SliceStencil stencil;
//   OPTD_RETURN_IF_ERROR(stencil.Apply(*solver, spec, range, op, &answer));
//   OPTD_ASSIGN_OR_RETURN(std::string gradient, stencil.Gradient(op));
//
// Thread-safety: not thread-safe; SliceHost calls it under the slice's lock.
#ifndef OPTD_SERVER_SHARDING_SLICE_STENCIL_H_
#define OPTD_SERVER_SHARDING_SLICE_STENCIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "optd/v1/shard.pb.h"
#include "server/sharding/slice_ops.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/sharding/stencil_slice.h"

namespace optd::server {

// The most points one SLICE_OP_STENCIL_POINTS answers (16 bytes each).
inline constexpr int64_t kMaxStencilPointsRead = 65536;

class SliceStencil {
 public:
  // SliceStencil::IsStencilOp()
  //
  // SLICE_OP_STENCIL_PLAN, _POINTS and _CHECK: the operations Apply serves.
  static bool IsStencilOp(v1::SliceOp op);

  // SliceStencil::Apply()
  //
  // One of the stencil operations (shard.proto). PLAN reads the slice's
  // trial point from `solver` and plans around it in the state type of
  // `spec` (float32 or float64). INVALID_ARGUMENT naming the field and the
  // limit for arguments that do not fit; FAILED_PRECONDITION for POINTS or
  // CHECK before a PLAN. Changes nothing on an error.
  absl::Status Apply(SliceSolver& solver, const v1::CreateSliceRequest& spec,
                     const ShardRange& range, const v1::SliceOpRequest& op,
                     v1::SliceOpResponse* answer);

  // SliceStencil::Gradient()
  //
  // SET_TRIAL_GRADIENT with stencil_values: the range's derivatives as
  // float64 bytes (the slice's data for the operation). The errors of
  // CHECK's values.
  absl::StatusOr<std::string> Gradient(const v1::SliceOpRequest& op) const;

  // What the plan holds in memory (GetReplicaStatus).
  int64_t bytes() const {
    return stencil_.planned() ? StencilSlice::Bytes(size_, stencil_.points())
                              : 0;
  }

 private:
  absl::Status Plan(SliceSolver& solver, const v1::CreateSliceRequest& spec,
                    const ShardRange& range, const v1::SliceOpRequest& op,
                    v1::SliceOpResponse* answer);
  absl::Status Points(const v1::SliceOpRequest& op,
                      v1::SliceOpResponse* answer) const;
  // The derivatives into `out` (size_ elements); the first refused index.
  absl::StatusOr<int64_t> Differentiate(const v1::SliceOpRequest& op,
                                        double* out) const;

  StencilSlice stencil_;
  int64_t size_ = 0;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SLICE_STENCIL_H_
