// LanczosVectors: every slice of one curvature diagnosis's O(n) state, as
// seen by the Lanczos controller (lanczos.h) and CurvatureSolver
// (curvature_solver.h). Each operation is applied to all slices; reductions
// come back combined in global block order (block_reduction.h), so the
// estimates are bitwise the same for any number of slices. See
// solvers/sharding/lanczos_slice.h for the named vectors and the operations.
//
// LocalLanczosVectors holds K slices in this process (K = 1 is the unsharded
// diagnosis). server/sharding/remote_lanczos_vectors.h sends
// the same operations to slices on other replicas; the controller does not
// change.
//
//   auto layout = ShardLayout::Make(n, /*shards=*/3);
//   LocalLanczosVectors v(*layout, /*gradients=*/false);
//   OPTD_RETURN_IF_ERROR(v.SetPoint(x));
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_CURVATURE_LANCZOS_VECTORS_H_
#define OPTD_SOLVERS_CURVATURE_LANCZOS_VECTORS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/lanczos_slice.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

class LanczosVectors {
 public:
  virtual ~LanczosVectors() = default;

  virtual int64_t dimension() const = 0;

  // Whole-vector transport. The setters answer INVALID_ARGUMENT for a
  // length other than dimension(), and SetProduct and SetGradient for a
  // non-finite element (NonFiniteElementError naming `what` and the first
  // bad index); then the vector written is unspecified, nothing else
  // changed. SetPoint does not check finiteness (CurvatureSolver::Create
  // does, or the point comes from another session's slices).
  virtual absl::Status SetPoint(const ConstVectorView& full) = 0;
  virtual absl::Status SetProduct(const ConstVectorView& full,
                                  const char* what) = 0;
  virtual absl::Status SetGradient(int k, const ConstVectorView& full,
                                   const char* what) = 0;
  virtual absl::Status ReadPoint(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadVector(const MutableVectorView& full) const = 0;
  virtual absl::Status ReadShiftedPoint(
      double h, const MutableVectorView& full) const = 0;

  // The operations of LanczosSlice, on every slice. DifferenceProduct
  // answers the global index of the first non-finite element of the
  // product, or -1.
  virtual absl::StatusOr<Reduction> PointSquares() = 0;
  virtual absl::StatusOr<int64_t> DifferenceProduct(double h) = 0;
  virtual absl::StatusOr<Reduction> Rademacher(bool clear_basis,
                                               uint64_t draws) = 0;
  virtual absl::StatusOr<LeastCovered> LeastCoveredCoordinate() = 0;
  virtual absl::StatusOr<Reduction> Coordinate(int64_t index) = 0;
  virtual absl::StatusOr<Reduction> Orthogonalize(
      absl::Span<const double> c) = 0;
  virtual absl::StatusOr<Reduction> PushBasis() = 0;
  virtual absl::StatusOr<Reduction> Residual(double alpha, double beta) = 0;
  virtual absl::Status NextVector(double scale) = 0;
  virtual absl::Status ClearBasis() = 0;
};

class LocalLanczosVectors : public LanczosVectors {
 public:
  // One slice per range of `layout`, each with g_0 and g_1 when
  // `gradients`.
  LocalLanczosVectors(const ShardLayout& layout, bool gradients);

  int64_t dimension() const override { return layout_.dimension(); }
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
  template <typename Reduce>
  Reduction Combine(Reduce reduce);

  ShardLayout layout_;
  std::vector<LanczosSlice> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CURVATURE_LANCZOS_VECTORS_H_
