// RemoteLanczosVectors: LanczosVectors (solvers/curvature/lanczos_vectors.h)
// over a ShardGroup of SLICE_KIND_LANCZOS slices, for a sharded curvature
// diagnosis. The Lanczos controller and CurvatureSolver do not change: every
// operation is the in-process slice's (solvers/sharding/lanczos_slice.h) sent
// to the slices, and the reductions come back combined in global block order,
// so the estimates are bitwise those of the unsharded diagnosis for any
// number of shards. The home holds no O(n) vector except transiently when it
// serves a trial's point or vector on the gateway path.
//
// Told vectors go through the one checked scatter (ScatterChecked): the same
// INVALID_ARGUMENT for a wrong length or a non-finite element as in process,
// FAILED_PRECONDITION for a direct-path tell a replica was not sent. On the
// direct path the Hessian-vector trial's point (READ_POINT) and vector
// (READ_DIRECTION) are published for GetSlice; the gradient-difference
// points x +- h v, two per batch, go whole in the answer on either path (the
// trial writer never reads them into an on_slices() view, and
// ReadShiftedPoint refuses one with FAILED_PRECONDITION).
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SERVER_SHARDING_REMOTE_LANCZOS_VECTORS_H_
#define OPTD_SERVER_SHARDING_REMOTE_LANCZOS_VECTORS_H_

#include <memory>
#include <utility>

#include "server/sharding/shard_group.h"
#include "solvers/curvature/lanczos_vectors.h"

namespace optd::server {

class RemoteLanczosVectors : public LanczosVectors {
 public:
  explicit RemoteLanczosVectors(std::shared_ptr<ShardGroup> group)
      : group_(std::move(group)) {}

  int64_t dimension() const override { return group_->layout().dimension(); }
  absl::Status SetPoint(const ConstVectorView& full) override;
  absl::Status SetProduct(const ConstVectorView& full,
                          const char* what) override;
  absl::Status SetGradient(int k, const ConstVectorView& full,
                           const char* what) override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status ReadVector(const MutableVectorView& full) const override;
  absl::Status ReadShiftedPoint(double h,
                                const MutableVectorView& full) const override;
  absl::StatusOr<Reduction> PointSquares() override;
  absl::StatusOr<int64_t> DifferenceProduct(double h) override;
  absl::StatusOr<Reduction> Rademacher(bool clear_basis,
                                       uint64_t draws) override;
  absl::StatusOr<LeastCovered> LeastCoveredCoordinate() override;
  absl::StatusOr<Reduction> Coordinate(int64_t index) override;
  absl::StatusOr<Reduction> Orthogonalize(absl::Span<const double> c) override;
  absl::StatusOr<Reduction> PushBasis() override;
  absl::StatusOr<Reduction> Residual(double alpha, double beta) override;
  absl::Status NextVector(double scale) override;
  absl::Status ClearBasis() override;

 private:
  std::shared_ptr<ShardGroup> group_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_REMOTE_LANCZOS_VECTORS_H_
