#include "solvers/sharding/shard_layout.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace optd {

absl::StatusOr<ShardLayout> ShardLayout::Make(int64_t dimension, int shards) {
  if (dimension < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dimension is ", dimension, "; it must be at least 1"));
  }
  if (shards < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shards is ", shards, "; it must be at least 1"));
  }
  ShardLayout layout;
  layout.dimension_ = dimension;
  const int64_t blocks = layout.num_blocks();
  const int64_t base = blocks / shards;
  const int64_t extra = blocks % shards;
  int64_t block = 0;
  for (int k = 0; k < shards; ++k) {
    const int64_t count = base + (k < extra ? 1 : 0);
    ShardRange r;
    r.begin = std::min(block * kReductionBlock, dimension);
    r.end = std::min((block + count) * kReductionBlock, dimension);
    layout.ranges_.push_back(r);
    block += count;
  }
  return layout;
}

absl::Status ShardLayout::CheckDimension(int64_t size,
                                         absl::string_view what) const {
  if (size == dimension_) return absl::OkStatus();
  return DimensionError(what, size, dimension_);
}

absl::Status DimensionError(absl::string_view what, int64_t size,
                            int64_t dimension) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, " has ", size, " elements; the session has dimension ", dimension));
}

absl::Status NonFiniteElementError(absl::string_view what, int64_t index,
                                   double value) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, "[", index, "] is ", value, "; every ", what,
                   " element must be finite (report a failed evaluation "
                   "instead)"));
}

}  // namespace optd
