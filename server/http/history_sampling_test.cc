#include "server/http/history_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::server {
namespace {

using ::testing::ElementsAre;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(SampleHistory, ShortHistoryIsKeptWhole) {
  EXPECT_THAT(SampleHistory({}, 3), ElementsAre());
  EXPECT_THAT(SampleHistory({5, 4, 3}, 3), ElementsAre(0, 1, 2));
}

TEST(SampleHistory, KeepsFirstLastAndBest) {
  // The best (0.5) is at 6, off the even spread.
  const std::vector<double> values = {9, 8, 7, 6, 5, 4, 0.5, 3, 2, 1, 1.5};
  EXPECT_THAT(SampleHistory(values, 3), ElementsAre(0, 6, 10));
  // One more point, in the middle: floor(1 * 10 / 2) = 5.
  EXPECT_THAT(SampleHistory(values, 4), ElementsAre(0, 5, 6, 10));
}

TEST(SampleHistory, SpreadsTheRestEvenly) {
  std::vector<double> values(101);
  for (int i = 0; i <= 100; ++i) values[i] = 100 - i;  // best is the last
  // 0, 100, and 3 at floor(j * 100 / 4): 25, 50, 75.
  EXPECT_THAT(SampleHistory(values, 5), ElementsAre(0, 25, 50, 75, 100));
}

TEST(SampleHistory, NeverMoreThanMaxPoints) {
  for (int n : {4, 10, 999, 1001, 20000}) {
    std::vector<double> values(n);
    for (int i = 0; i < n; ++i) values[i] = std::sin(i);
    for (int max_points : {3, 4, 7, 1000, 10000}) {
      const std::vector<int> kept = SampleHistory(values, max_points);
      EXPECT_LE(static_cast<int>(kept.size()), max_points);
      EXPECT_EQ(kept.front(), 0);
      EXPECT_EQ(kept.back(), n - 1);
      EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
      EXPECT_EQ(std::adjacent_find(kept.begin(), kept.end()), kept.end());
    }
  }
}

TEST(SampleHistory, NaNIsNeverTheBest) {
  EXPECT_THAT(SampleHistory({kNaN, 3, kNaN, 1, 2, kNaN}, 3),
              ElementsAre(0, 3, 5));
  // Every value unknown: first and last, and one spread point.
  EXPECT_THAT(SampleHistory({kNaN, kNaN, kNaN, kNaN, kNaN}, 3),
              ElementsAre(0, 2, 4));
}

TEST(SampleHistory, EarliestOfEqualBestValues) {
  EXPECT_THAT(SampleHistory({5, 1, 3, 1, 4, 6}, 3), ElementsAre(0, 1, 5));
}

}  // namespace
}  // namespace optd::server
