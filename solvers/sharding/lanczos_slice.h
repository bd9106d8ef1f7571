// The Lanczos state vectors of one contiguous range of a curvature
// diagnosis's dimension (one shard's slice, DESIGN §3), and the vector
// operations the Lanczos controller (solvers/curvature/lanczos.h) issues to
// it. The controller keeps alpha, beta, T and the run bookkeeping (O(steps));
// the O(n) vectors live here. Reductions come back as per-block partial sums
// that the controller adds in global block order (block_reduction.h), and
// every other operation is elementwise, so the estimates are bitwise the same
// for any number of slices (the unsharded diagnosis is this slice over the
// whole range).
//
// Named vectors, all of length range.size():
//   x        the point diagnosed
//   q        the unit vector whose product H q is wanted next
//   w        the working vector: the told product H q, then the residual r
//            of a Lanczos step, or a start vector being orthogonalized
//   g_0, g_1 gradient differences: the told g(x + h q) and g(x - h q)
//   Q        the current run's basis, one column per step, oldest first
//
//   LanczosSlice slice(range, /*dimension=*/n, /*gradients=*/false);
//   slice.SetPoint(x_view);
//   BlockPartials p = slice.Rademacher(/*clear_basis=*/true, /*draws=*/0);
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_SHARDING_LANCZOS_SLICE_H_
#define OPTD_SOLVERS_SHARDING_LANCZOS_SLICE_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// The seed of the Rademacher vectors (a fixed constant, so that estimates
// are deterministic).
inline constexpr uint64_t kLanczosSeed = 20170811;

// Draws of std::mt19937_64 one Rademacher vector of `n` elements consumes
// (one 64-bit draw per 64 elements, element i from bit i % 64 of draw
// i / 64).
inline uint64_t RademacherDraws(int64_t n) {
  return static_cast<uint64_t>((n + 63) / 64);
}

// The least-covered coordinate of a range (LanczosSlice::LeastCovered): the
// smallest |Q(i, :)|^2 and its global index i (the lowest on ties); index
// -1 for an empty range.
struct LeastCovered {
  double value = 0.0;
  int64_t index = -1;
};

// Combines the slices' answers (in shard order, hence index order): the
// smallest value, the lowest index among equals.
LeastCovered CombineLeastCovered(absl::Span<const LeastCovered> parts);

class LanczosSlice {
 public:
  // A slice for `range` of a diagnosis of dimension `dimension`, holding
  // g_0 and g_1 when `gradients` (ProductSource::kGradientDifference).
  LanczosSlice(ShardRange range, int64_t dimension, bool gradients);

  const ShardRange& range() const { return range_; }
  bool gradients() const { return gradients_; }
  // Columns of the basis held.
  int steps() const { return static_cast<int>(basis_.size()); }
  // Bytes of the vectors held now.
  int64_t bytes() const;

  // Transport. The setters return the global index of the first non-finite
  // element of the range, or -1.
  int64_t SetPoint(const ConstVectorView& full);            // x
  int64_t SetProduct(const ConstVectorView& full);          // w <- H q
  int64_t SetGradient(int k, const ConstVectorView& full);  // g_k
  void ReadPoint(const MutableVectorView& full) const;      // x
  void ReadVector(const MutableVectorView& full) const;     // q
  // x + h q, each element x_i + h q_i.
  void ReadShiftedPoint(double h, const MutableVectorView& full) const;

  // Partial sums of x.x (for the gradient differences' step h).
  BlockPartials PointSquares() const;
  // w <- (g_0 - g_1) / (2h), each element (g_0i - g_1i) / (2h): the central
  // difference. Returns the global index of the first non-finite element
  // of w, or -1.
  int64_t DifferenceProduct(double h);

  // The operations of a Lanczos step and of a start vector. Each of those
  // that answers returns the partial sums of steps() + 1 quantities: Q_j.w
  // for each column j of the basis, then w.w (the OrthogonalDots).
  //
  // w <- the Rademacher vector of the stream position `draws` (the draws of
  // std::mt19937_64(kLanczosSeed) the controller consumed before it), each
  // element +-1 / sqrt(dimension); with `clear_basis`, the basis is emptied
  // first (a new run).
  BlockPartials Rademacher(bool clear_basis, uint64_t draws);
  // The smallest |Q(i, :)|^2 = sum_j Q_ji^2 (summed over j in order) of the
  // range and its global index (the lowest on ties).
  LeastCovered LeastCoveredCoordinate() const;
  // w <- e_index (the coordinate vector; zero here unless index is in the
  // range).
  BlockPartials Coordinate(int64_t index);
  // w <- w - sum_j c_j Q_j, column after column (j ascending, each element
  // w_i - c_j Q_ji rounded). REQUIRES: c.size() == steps().
  BlockPartials Orthogonalize(absl::Span<const double> c);
  // Q gains the column q; returns the partial sums of q.w (one quantity).
  BlockPartials PushBasis();
  // w <- w - alpha q, then with steps() > 1, w <- w - beta Q_{steps-2} (the
  // Lanczos three-term recurrence, each element rounded after each term).
  BlockPartials Residual(double alpha, double beta);
  // q <- w / scale, each element w_i / scale.
  void NextVector(double scale);
  // Frees the basis (the diagnosis has finished).
  void ClearBasis();

 private:
  BlockPartials OrthogonalDots() const;

  ShardRange range_;
  int64_t dimension_;
  bool gradients_;
  std::vector<double> x_, q_, w_, g_[2];
  std::vector<std::vector<double>> basis_;
  // The stream of the Rademacher vectors at position rng_position_.
  std::mt19937_64 rng_;
  uint64_t rng_position_ = 0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_LANCZOS_SLICE_H_
