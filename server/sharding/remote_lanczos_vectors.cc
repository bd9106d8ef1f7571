#include "server/sharding/remote_lanczos_vectors.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sharding/remote_vectors.h"

namespace optd::server {

absl::Status RemoteLanczosVectors::SetPoint(const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(group_->layout().CheckDimension(full.size(), "x0"));
  return group_->Scatter(v1::SLICE_OP_SET_TRIAL_POINT, full).status();
}

absl::Status RemoteLanczosVectors::SetProduct(const ConstVectorView& full,
                                              const char* what) {
  return ScatterChecked(*group_, v1::SLICE_OP_SET_PRODUCT, full, what);
}

absl::Status RemoteLanczosVectors::SetGradient(int k,
                                               const ConstVectorView& full,
                                               const char* what) {
  return ScatterChecked(*group_, v1::SLICE_OP_SET_TRIAL_GRADIENT, full, what,
                        /*flag=*/k == 1);
}

absl::Status RemoteLanczosVectors::ReadPoint(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_POINT, full);
}

absl::Status RemoteLanczosVectors::ReadVector(
    const MutableVectorView& full) const {
  return group_->Gather(v1::SLICE_OP_READ_DIRECTION, full);
}

absl::Status RemoteLanczosVectors::ReadShiftedPoint(
    double h, const MutableVectorView& full) const {
  const ShardLayout& layout = group_->layout();
  OPTD_RETURN_IF_ERROR(layout.CheckDimension(full.size(), "output"));
  if (full.on_slices()) {
    // GetSlice serves one point per batch: WriteBatchTrials sends these
    // two whole.
    return absl::FailedPreconditionError(
        "the gradient-difference points x +- h v of a sharded curvature "
        "diagnosis are read whole on the home, not published to the slices");
  }
  const double scalars[] = {h};
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->Call(v1::SLICE_OP_READ_TRIAL_POINT, scalars));
  for (int shard = 0; shard < layout.shards(); ++shard) {
    const ShardRange& r = layout.range(shard);
    const std::string& data = answers[shard].data();
    if (static_cast<int64_t>(data.size()) != 8 * r.size()) {
      return absl::InternalError(absl::StrCat("shard ", shard, " answered ",
                                              data.size(), " bytes for ",
                                              r.size(), " elements"));
    }
    std::vector<double> part(static_cast<size_t>(r.size()));
    if (!part.empty()) std::memcpy(part.data(), data.data(), data.size());
    full.CopyFrom(r.begin, r.size(), part.data());
  }
  return absl::OkStatus();
}

absl::StatusOr<Reduction> RemoteLanczosVectors::PointSquares() {
  return group_->Reduce(v1::SLICE_OP_LANCZOS_POINT_SQUARES);
}

absl::StatusOr<int64_t> RemoteLanczosVectors::DifferenceProduct(double h) {
  const double scalars[] = {h};
  OPTD_ASSIGN_OR_RETURN(
      std::vector<v1::SliceOpResponse> answers,
      group_->Call(v1::SLICE_OP_LANCZOS_DIFFERENCE_PRODUCT, scalars));
  // Slices are in index order: the first bad index is the global first.
  for (const v1::SliceOpResponse& a : answers) {
    if (a.bad_index() >= 0) return a.bad_index();
  }
  return -1;
}

absl::StatusOr<Reduction> RemoteLanczosVectors::Rademacher(bool clear_basis,
                                                           uint64_t draws) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_LANCZOS_RADEMACHER);
  request.set_flag(clear_basis);
  request.set_lanczos_position(draws);
  return group_->ReduceRequest(std::move(request));
}

absl::StatusOr<LeastCovered> RemoteLanczosVectors::LeastCoveredCoordinate() {
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->Call(v1::SLICE_OP_LANCZOS_LEAST_COVERED));
  std::vector<LeastCovered> parts;
  parts.reserve(answers.size());
  for (const v1::SliceOpResponse& a : answers) {
    parts.push_back({a.sums_size() > 0 ? a.sums(0) : 0.0, a.least_index()});
  }
  return CombineLeastCovered(parts);
}

absl::StatusOr<Reduction> RemoteLanczosVectors::Coordinate(int64_t index) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_LANCZOS_COORDINATE);
  request.set_lanczos_position(static_cast<uint64_t>(index));
  return group_->ReduceRequest(std::move(request));
}

absl::StatusOr<Reduction> RemoteLanczosVectors::Orthogonalize(
    absl::Span<const double> c) {
  return group_->Reduce(v1::SLICE_OP_LANCZOS_ORTHOGONALIZE, c);
}

absl::StatusOr<Reduction> RemoteLanczosVectors::PushBasis() {
  return group_->Reduce(v1::SLICE_OP_LANCZOS_PUSH_BASIS);
}

absl::StatusOr<Reduction> RemoteLanczosVectors::Residual(double alpha,
                                                         double beta) {
  const double scalars[] = {alpha, beta};
  return group_->Reduce(v1::SLICE_OP_LANCZOS_RESIDUAL, scalars);
}

absl::Status RemoteLanczosVectors::NextVector(double scale) {
  const double scalars[] = {scale};
  group_->Post(v1::SLICE_OP_LANCZOS_NEXT_VECTOR, scalars);
  return absl::OkStatus();
}

absl::Status RemoteLanczosVectors::ClearBasis() {
  group_->Post(v1::SLICE_OP_LANCZOS_CLEAR_BASIS);
  return absl::OkStatus();
}

}  // namespace optd::server
