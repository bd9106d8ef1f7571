// The vector operations of proto/optd/v1/shard.proto applied to one slice's
// solver state (solvers/sharding: LbfgsSlice, LbfgsbSlice,
// TrustRegionSlice, LanczosSlice, AdamSlice<T>, AdafactorSlice<T>); Adam's step
// scalars on the wire are in adam_step_wire.h.
//
// Owns the op -> handler tables, one per slice kind (slice_op_rows.h; the
// Lanczos and L-BFGS-B tables are in slice_ops_lanczos.cc and
// slice_ops_lbfgsb.cc): a row names the
// SliceOp, the handler that decodes the op's arguments, calls the slice and
// writes its answer, and whether it needs the trust region's CG vectors.
// Adding an operation to a solver's slice is one row here. SliceHost owns
// the registry, sequence numbers, staged vectors and checkpoints files.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<SliceSolver> solver,
//                         SliceSolver::Create(create_request));
//   v1::SliceOpResponse answer;
//   OPTD_RETURN_IF_ERROR(solver->Apply(op, &answer));
//
// Thread-safety: not thread-safe; SliceHost holds the slice's lock.
#ifndef OPTD_SERVER_SHARDING_SLICE_OPS_H_
#define OPTD_SERVER_SHARDING_SLICE_OPS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "optd/v1/shard.pb.h"
#include "server/sharding/adam_step_wire.h"
#include "solvers/adafactor/adafactor_vectors.h"
#include "solvers/adam/adam_kernel.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/sharding/lanczos_slice.h"
#include "solvers/sharding/lbfgs_slice.h"
#include "solvers/sharding/lbfgsb_slice.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/sharding/trust_region_slice.h"

namespace optd::server {

// INVALID_ARGUMENT "slice operation <OP>: <why>".
absl::Status SliceOpError(const v1::SliceOpRequest& op, absl::string_view why);

// The operations that read a vector of the slice (GetSlice may serve them).
bool IsReadOp(v1::SliceOp op);

// An Adafactor slice and the session's layers (which size the running sums).
template <typename T>
struct AdafactorSliceState {
  std::vector<AdafactorLayer> layers;
  AdafactorSlice<T> slice;
};

class SliceSolver {
 public:
  // SliceSolver::Create()
  //
  // The state of a slice of kind request.kind() over [begin, end).
  // INVALID_ARGUMENT for an unknown kind, or Adafactor layers that do not
  // cover the dimension (AdafactorOptions::ValidateLayers). REQUIRES: the
  // request validated (SliceHost::Create).
  static absl::StatusOr<std::unique_ptr<SliceSolver>> Create(
      const v1::CreateSliceRequest& request);
  ~SliceSolver();

  // What the state holds in memory (GetReplicaStatus).
  int64_t bytes() const { return bytes_; }
  // Applies one operation. INVALID_ARGUMENT for an operation the kind does
  // not have or arguments that do not fit the slice.
  absl::Status Apply(const v1::SliceOpRequest& op, v1::SliceOpResponse* out);
  // The whole state as a slice checkpoint keeps it: the L-BFGS or trust-
  // region slice's SaveState, or Adam's or Adafactor's state vectors
  // (SLICE_OP_READ_STATE). FAILED_PRECONDITION for the kinds whose sessions
  // are rebuilt by replaying their tells (Lanczos, L-BFGS-B).
  absl::Status SaveState(std::string* out);
  absl::Status LoadState(std::string state);

 private:
  SliceSolver() = default;

  int64_t bytes_ = 0;
  std::unique_ptr<LbfgsSlice> lbfgs_;
  std::unique_ptr<LbfgsbSlice> lbfgsb_;
  std::unique_ptr<TrustRegionSlice> trust_region_;
  std::unique_ptr<LanczosSlice> lanczos_;
  std::unique_ptr<AdamSlice<float>> adam32_;
  std::unique_ptr<AdamSlice<double>> adam64_;
  std::unique_ptr<AdafactorSliceState<float>> adafactor32_;
  std::unique_ptr<AdafactorSliceState<double>> adafactor64_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SLICE_OPS_H_
