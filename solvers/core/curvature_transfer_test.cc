#include "solvers/core/curvature_transfer.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using Vectors = std::vector<std::vector<double>>;

TEST(CheckCurvaturePairs, AcceptsPairsWithPositiveCurvature) {
  EXPECT_OK(CheckCurvaturePairs({{1, 0}, {0, 2}}, {{3, 1}, {-1, 0.5}}, 2,
                                "warm_start"));
  EXPECT_OK(CheckCurvaturePairs({}, {}, 2, "warm_start"));
}

TEST(CheckCurvaturePairs, RefusesUnevenCounts) {
  EXPECT_THAT(CheckCurvaturePairs({{1, 0}}, {}, 2, "warm_start"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("warm_start.s has 1 vectors and "
                                 "warm_start.y has 0")));
}

TEST(CheckCurvaturePairs, RefusesAVectorOfAnotherDimension) {
  EXPECT_THAT(CheckCurvaturePairs({{1, 0}}, {{1, 0, 0}}, 2, "warm_start"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("warm_start.y[0] has 3 elements; the "
                                 "dimension is 2")));
  EXPECT_THAT(CheckCurvaturePairs({{1}}, {{1, 0}}, 2, "warm_start"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("warm_start.s[0] has 1 elements")));
}

TEST(CheckCurvaturePairs, RefusesNonFiniteElements) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(CheckCurvaturePairs({{1, 0}, {1, nan}}, {{1, 0}, {1, 0}}, 2,
                                  "warm_start"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("warm_start.s[1][1] is nan")));
}

TEST(CheckCurvaturePairs, RefusesPairsWithoutPositiveCurvature) {
  EXPECT_THAT(
      CheckCurvaturePairs({{1, 0}, {1, 1}}, {{1, 0}, {1, -1}}, 2, "warm_start"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("warm_start pair 1 has s.y = 0; a curvature "
                         "pair needs s.y > 0")));
  EXPECT_THAT(CheckCurvaturePairs({{1, 0}}, {{-2, 0}}, 2, "warm_start"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pair 0 has s.y = -2")));
}

TEST(CurvaturePairAccepted, AppliesLbfgsbSkipRuleOnDescentSteps) {
  // g.s = -1 (descent): kept when s.y > eps * 1.
  const double eps = std::numeric_limits<double>::epsilon();
  EXPECT_TRUE(CurvaturePairAccepted({1, 0}, {2 * eps, 0}, {-1, 0}));
  EXPECT_FALSE(CurvaturePairAccepted({1, 0}, {eps, 0}, {-1, 0}));
  // An ascent step needs s.y > 0 only.
  EXPECT_TRUE(CurvaturePairAccepted({1, 0}, {1e-300, 0}, {1, 0}));
  EXPECT_FALSE(CurvaturePairAccepted({1, 0}, {0, 0}, {1, 0}));
  EXPECT_FALSE(CurvaturePairAccepted({1, 0}, {-1, 0}, {1, 0}));
}

TEST(CurvaturePairsFromIterates, KeepsValidPairsNewestWithinMemory) {
  // f = x0^2 + x1^2 (g = 2x) along four points; the third step does not
  // move (s = 0), so its pair is dropped.
  const Vectors points = {
      {1, 1}, {0.5, 1}, {0.5, 0.25}, {0.5, 0.25}, {0, 0.25}};
  Vectors gradients;
  for (const auto& p : points) gradients.push_back({2 * p[0], 2 * p[1]});
  Vectors s, y;
  EXPECT_EQ(CurvaturePairsFromIterates(points, gradients, 10, &s, &y), 1);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], (std::vector<double>{-0.5, 0}));
  EXPECT_EQ(y[0], (std::vector<double>{-1, 0}));
  EXPECT_EQ(s[2], (std::vector<double>{-0.5, 0}));

  Vectors s2, y2;
  EXPECT_EQ(CurvaturePairsFromIterates(points, gradients, 2, &s2, &y2), 1);
  ASSERT_EQ(s2.size(), 2u);
  EXPECT_EQ(s2[0], (std::vector<double>{0, -0.75}));  // the newest two
  EXPECT_EQ(s2[1], s[2]);
}

TEST(CurvaturePairsFromIterates, DropsNegativeCurvature) {
  // f = -x^2 (g = -2x): s.y < 0 on every step.
  const Vectors points = {{1}, {2}, {3}};
  const Vectors gradients = {{-2}, {-4}, {-6}};
  Vectors s, y;
  EXPECT_EQ(CurvaturePairsFromIterates(points, gradients, 10, &s, &y), 2);
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(y.empty());
}

}  // namespace
}  // namespace optd
