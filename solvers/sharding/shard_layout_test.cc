#include "solvers/sharding/shard_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ShardLayout, OneShardCoversEverything) {
  auto layout = ShardLayout::Make(10, 1);
  ASSERT_OK(layout);
  EXPECT_EQ(layout->shards(), 1);
  EXPECT_EQ(layout->range(0), (ShardRange{0, 10}));
  EXPECT_EQ(layout->num_blocks(), 1);
}

TEST(ShardLayout, BoundariesFallOnBlocksAndFirstShardsGetTheExtraBlock) {
  const int64_t n = 5 * kReductionBlock + 7;  // 6 blocks, the last one short
  auto layout = ShardLayout::Make(n, 4);
  ASSERT_OK(layout);
  EXPECT_EQ(layout->range(0), (ShardRange{0, 2 * kReductionBlock}));
  EXPECT_EQ(layout->range(1),
            (ShardRange{2 * kReductionBlock, 4 * kReductionBlock}));
  EXPECT_EQ(layout->range(2),
            (ShardRange{4 * kReductionBlock, 5 * kReductionBlock}));
  EXPECT_EQ(layout->range(3), (ShardRange{5 * kReductionBlock, n}));
  int64_t covered = 0;
  for (const ShardRange& r : layout->ranges()) {
    EXPECT_EQ(r.begin % kReductionBlock, 0);
    EXPECT_EQ(r.begin, covered);
    covered = r.end;
  }
  EXPECT_EQ(covered, n);
}

TEST(ShardLayout, MoreShardsThanBlocksLeavesEmptyRanges) {
  auto layout = ShardLayout::Make(100, 3);
  ASSERT_OK(layout);
  EXPECT_EQ(layout->range(0), (ShardRange{0, 100}));
  EXPECT_EQ(layout->range(1).size(), 0);
  EXPECT_EQ(layout->range(2).size(), 0);
}

TEST(ShardLayout, RejectsBadArguments) {
  EXPECT_THAT(ShardLayout::Make(0, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dimension is 0")));
  EXPECT_THAT(
      ShardLayout::Make(10, 0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shards is 0")));
}

}  // namespace
}  // namespace optd
