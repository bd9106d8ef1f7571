// AdafactorVectors: the state of one Adafactor session (adafactor.h) as the
// controller sees it: the slices of x, the gradient, the first moment m (with
// beta1) and the unfactored second moment v of the vector layers, plus the
// factored statistics of the matrix layers (R: one per row, C: one per
// column, Shazeer & Stern 2018, Algorithm 4).
//
// Where things live. x, g, m and v are cut into K contiguous slices of whole
// reduction blocks (shard_layout.h), like Adam's; a shard boundary may cut a
// matrix anywhere, even inside a row. R and C are tiny (rows + cols per
// matrix, against rows * cols) and live with the controller, which updates
// them and hands each slice the row and column factors of the layers it
// touches. Every step is three passes over the slices, in slice order:
//
//   1. statistics: per layer sum x^2 (for scale_parameter's RMS(x)); per
//      matrix the sums over each row and each column of g^2 + eps1; then
//      (apart, as it changes the slice) the vector layers'
//      v <- beta2_t v + (1 - beta2_t)(g^2 + eps1) in place.
//   2. clipping: per layer sum u^2 of the unclipped update u (for RMS(u)).
//   3. the update itself, with each layer's lr and clipping divisor.
//
// Reproducibility for any K. Each sum is accumulated in one fixed order
// whatever the slicing. The per-layer sums of squares (x^2, u^2) are summed
// per reduction block (BlockDot over the block's part of the layer, in
// double) and the block sums added in global block order, as gradient
// clipping's norm is (block_reduction.h). A row or column sum is a chain of
// additions in global element order (row-major: a row's elements left to
// right, a column's top to bottom); a slice continues the running sums the
// slices before it left (the controller carries them from slice to slice),
// so a cut row or column is summed exactly as an uncut one. Per-block
// partials would do for rows, but a column's would need one partial per
// block and column: O(n / 4) doubles for 1024-wide matrices, not O(rows +
// cols). The results, and hence the iterates, are bitwise the same for
// K = 1, 2, 3, 4, ...
//
// LocalAdafactorVectors<T> holds the K slices in this process, with state of
// type T (float or double); the controller's part of a step is
// AdafactorStatistics<T> (adafactor_statistics.h), which the vectors over
// slices on other replicas share.
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_VECTORS_H_
#define OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_VECTORS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/adafactor/adafactor_options.h"
#include "solvers/adafactor/adafactor_statistics.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

class AdafactorVectors {
 public:
  virtual ~AdafactorVectors() = default;
  virtual int64_t dimension() const = 0;
  virtual ScalarType type() const = 0;
  // x <- full, rounded to the state type; m, v, R, C <- 0.
  virtual absl::Status SetPoint(const ConstVectorView& full) = 0;
  // The told gradient, rounded to the state type. INVALID_ARGUMENT naming
  // the first element that is not finite in the state type; the state is
  // unchanged. On success returns max_i |g_i|.
  virtual absl::StatusOr<double> SetGradient(const ConstVectorView& full) = 0;
  // Step `step` (1 for the first) with the last gradient.
  virtual absl::StatusOr<AdafactorStepInfo> Step(int64_t step) = 0;
  virtual absl::Status ReadPoint(const MutableVectorView& full) const = 0;
  // Appends x, m (with beta1), the vector layers' v, then every matrix's R
  // and C, each in global order, in the state type's native bytes; LoadState
  // reads them back (INVALID_ARGUMENT for a wrong size, or for an x, v, R or
  // C that is not finite, or a v, R or C below 0; state unchanged).
  // Independent of the slicing.
  virtual absl::Status SaveState(std::string* out) const = 0;
  virtual absl::Status LoadState(std::string_view in) = 0;
  virtual int64_t StateBytes() const = 0;
};

// The state of one contiguous range of x and what the passes do on it.
template <typename T>
class AdafactorSlice {
 public:
  // `offsets[l]` is where layer l begins along x (offsets.size() ==
  // layers.size() + 1).
  AdafactorSlice(ShardRange range, const std::vector<AdafactorLayer>& layers,
                 const std::vector<int64_t>& offsets, bool first_moment);

  const ShardRange& range() const { return range_; }
  void SetPoint(const ConstVectorView& full);
  // As AdafactorVectors::SetGradient for this range: the first non-finite
  // element's global index, or -1; *max_abs <- max |g_i|.
  int64_t SetGradient(const ConstVectorView& full, double* max_abs);
  // Pass 1 (see the top of this file): the sums, continued; then the vector
  // layers' v, with `beta2t` beta2_t.
  void AccumulateStatistics(double eps1, AdafactorSums* sums) const;
  void UpdateSecondMoment(double eps1, double beta2t);
  // Pass 2.
  void AccumulateUpdateSquares(const AdafactorFactors<T>& factors,
                               AdafactorSums* sums) const;
  // Pass 3. beta1 < 0: no first moment.
  void ApplyUpdate(const AdafactorFactors<T>& factors, double beta1,
                   double weight_decay);
  void ReadPoint(const MutableVectorView& full) const;
  // This range's x, m (with the first moment) and v, in the native bytes of
  // T; LoadState reads them back: INVALID_ARGUMENT for a wrong size, an x or
  // m that is not finite or a v that is not finite and >= 0, naming the
  // global index (the slice unchanged).
  void SaveState(std::string* out) const;
  absl::Status LoadState(std::string_view in);

  // The state vectors, for saving: x, m (empty without beta1), and v (the
  // vector layers' elements of this range, in order).
  std::vector<T>& x() { return x_; }
  std::vector<T>& m() { return m_; }
  std::vector<T>& v() { return v_; }
  const std::vector<T>& x() const { return x_; }
  const std::vector<T>& m() const { return m_; }
  const std::vector<T>& v() const { return v_; }

 private:
  // A layer's part of this range: elements [begin, end) of the range
  // (local indices), layer `layer` starting at local index `layer_begin`
  // (negative when it starts in an earlier slice); `v_begin` is where its
  // part of v starts (vectors only).
  struct Piece {
    int layer = 0;
    int64_t layer_begin = 0;
    int64_t begin = 0;
    int64_t end = 0;
    int64_t cols = 0;
    int64_t v_begin = 0;
  };
  // Calls visit(e, u) with the unclipped update u of each local element e
  // in [lo, hi) of `piece`, in order.
  template <typename Visit>
  void ForEachUnclipped(const Piece& piece, const AdafactorFactors<T>& factors,
                        int64_t lo, int64_t hi, Visit visit) const;
  // Calls visit(piece, lo, hi) for each block of the range and each piece
  // within it, in order.
  template <typename Visit>
  void ForEachBlockPiece(Visit visit) const;

  ShardRange range_;
  std::vector<Piece> pieces_;
  std::vector<T> x_, g_, m_, v_;
};

template <typename T>
class LocalAdafactorVectors : public AdafactorVectors {
 public:
  // REQUIRES: options.Validate() and options.ValidateLayers(
  // layout.dimension()) are OK.
  LocalAdafactorVectors(const AdafactorOptions& options,
                        const ShardLayout& layout);

  int64_t dimension() const override { return layout_.dimension(); }
  ScalarType type() const override;
  absl::Status SetPoint(const ConstVectorView& full) override;
  absl::StatusOr<double> SetGradient(const ConstVectorView& full) override;
  absl::StatusOr<AdafactorStepInfo> Step(int64_t step) override;
  absl::Status ReadPoint(const MutableVectorView& full) const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view in) override;
  int64_t StateBytes() const override;

 private:
  AdafactorOptions options_;
  ShardLayout layout_;
  // R and C of each matrix layer, and the step's scalars.
  AdafactorStatistics<T> stats_;
  std::vector<AdafactorSlice<T>> slices_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_VECTORS_H_
