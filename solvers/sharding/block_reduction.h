// Reproducible reductions over sliced vectors (DESIGN §3).
//
// A slice computes, for each of its reduction blocks (kReductionBlock elements,
// see shard_layout.h), the partial sums of several quantities at once (e.g. the
// dot products of a trial gradient with every stored curvature vector). The
// controller adds the partials of all slices in global block order. Because
// slice boundaries are block boundaries, the same numbers are added in the same
// order for any number of slices: the sums are bitwise independent of K.
//
//   BlockPartials p(range.first_block(), range.num_blocks(), /*quantities=*/3);
//   for (int64_t b = 0; b < range.num_blocks(); ++b) {
//     p.at(b, 0) = BlockDot(g + b * kReductionBlock, d + ..., len);
//   }
//   std::vector<double> sums = SumInBlockOrder({&p0, &p1});
//
// Thread-safety: plain values.
#ifndef OPTD_SOLVERS_SHARDING_BLOCK_REDUCTION_H_
#define OPTD_SOLVERS_SHARDING_BLOCK_REDUCTION_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace optd {

// The per-block partial sums of `quantities` numbers for blocks
// [first_block, first_block + num_blocks), plus the largest absolute value of
// one vector seen in those blocks (max is exact in any order).
class BlockPartials {
 public:
  BlockPartials() = default;
  BlockPartials(int64_t first_block, int64_t num_blocks, int quantities)
      : first_block_(first_block),
        num_blocks_(num_blocks),
        quantities_(quantities),
        sums_(static_cast<size_t>(num_blocks * quantities), 0.0) {}

  int64_t first_block() const { return first_block_; }
  int64_t num_blocks() const { return num_blocks_; }
  int quantities() const { return quantities_; }
  double& at(int64_t local_block, int quantity) {
    return sums_[static_cast<size_t>(local_block * quantities_ + quantity)];
  }
  double at(int64_t local_block, int quantity) const {
    return sums_[static_cast<size_t>(local_block * quantities_ + quantity)];
  }
  double max_abs() const { return max_abs_; }
  void set_max_abs(double v) { max_abs_ = v; }
  // The raw row-major [num_blocks x quantities] sums, for transport.
  const std::vector<double>& sums() const { return sums_; }

 private:
  int64_t first_block_ = 0;
  int64_t num_blocks_ = 0;
  int quantities_ = 0;
  std::vector<double> sums_;
  double max_abs_ = 0.0;
};

// The result of combining the partials of every slice.
struct Reduction {
  std::vector<double> sums;  // one per quantity
  double max_abs = 0.0;
};

// Adds the partials in global block order, starting each sum at +0.0.
// REQUIRES: every part has the same number of quantities; taken together (in
// any order) the parts cover blocks 0..B-1 exactly once. Empty parts are
// allowed.
Reduction SumInBlockOrder(absl::Span<const BlockPartials* const> parts);

// Sum of a[i]*b[i] for i in [0, len), with a fixed association: eight running
// lanes (lane j takes elements i ≡ j mod 8), then the lanes combined pairwise.
// The result depends only on the len values, never on alignment or on which
// slice computes it, and the lanes let the compiler vectorize.
double BlockDot(const double* a, const double* b, int64_t len);

// Largest |a[i]| for i in [0, len) (0 for len == 0; NaN propagates).
double MaxAbs(const double* a, int64_t len);

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_BLOCK_REDUCTION_H_
