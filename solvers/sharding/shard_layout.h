// How a session's vectors of dimension n are cut into K contiguous slices
// (ZeRO stage 1, DESIGN §3), and the fixed blocks every reduction is made of.
//
// Reductions (dot products, norms) are computed as one partial sum per block of
// kReductionBlock elements, each block summed left to right, and the block sums
// are then added in global block order. Slice boundaries fall on block
// boundaries, so the additions and their order are the same for every K: the
// iterates are bitwise identical for K = 1, 2, 3, 4, ...
//
//   ShardLayout layout = ShardLayout::Make(/*dimension=*/10'000'000,
//   /*shards=*/3); ShardRange r = layout.range(1);   // [r.begin, r.end)
//
// Thread-safety: immutable after Make(); safe to share.
#ifndef OPTD_SOLVERS_SHARDING_SHARD_LAYOUT_H_
#define OPTD_SOLVERS_SHARDING_SHARD_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace optd {

// Elements per reduction block. A power of two large enough that a block's sum
// is dominated by its arithmetic, small enough that many blocks balance K
// slices.
inline constexpr int64_t kReductionBlock = 4096;

// A contiguous range [begin, end) of vector elements.
struct ShardRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  // Index of the first block of this range (begin is a multiple of
  // kReductionBlock).
  int64_t first_block() const { return begin / kReductionBlock; }
  // Number of blocks the range covers (the last one may be short).
  int64_t num_blocks() const {
    return (size() + kReductionBlock - 1) / kReductionBlock;
  }
  friend bool operator==(const ShardRange& a, const ShardRange& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

// INVALID_ARGUMENT "<what> has <size> elements; the session has dimension
// <dimension>", for a told or requested vector of the wrong length.
absl::Status DimensionError(absl::string_view what, int64_t size,
                            int64_t dimension);

// INVALID_ARGUMENT "<what>[<index>] is <value>; every <what> element must be
// finite (report a failed evaluation instead)", for a told vector.
absl::Status NonFiniteElementError(absl::string_view what, int64_t index,
                                   double value);

class ShardLayout {
 public:
  // Splits [0, dimension) into `shards` ranges of whole blocks, as evenly as
  // blocks allow: the first (blocks % shards) ranges get one block more, as
  // DeepSpeed's partitioning gives the first ranks one element more. A range
  // may be empty when there are fewer blocks than shards. REQUIRES: dimension
  // >= 1, shards >= 1 (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<ShardLayout> Make(int64_t dimension, int shards);

  int64_t dimension() const { return dimension_; }
  // INVALID_ARGUMENT "<what> has <size> elements; the session has dimension
  // <n>" unless size == dimension().
  absl::Status CheckDimension(int64_t size, absl::string_view what) const;
  int shards() const { return static_cast<int>(ranges_.size()); }
  const ShardRange& range(int shard) const { return ranges_[shard]; }
  const std::vector<ShardRange>& ranges() const { return ranges_; }
  // Total number of reduction blocks of a vector of this dimension.
  int64_t num_blocks() const {
    return (dimension_ + kReductionBlock - 1) / kReductionBlock;
  }

 private:
  int64_t dimension_ = 0;
  std::vector<ShardRange> ranges_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_SHARD_LAYOUT_H_
