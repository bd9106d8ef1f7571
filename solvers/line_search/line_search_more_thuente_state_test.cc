// MoreThuenteLineSearch::SaveState / RestoreState: a search in flight as
// bytes, continued bitwise, and every refusal.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/line_search/line_search_more_thuente.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// phi(t) = (t - 3)^2 + sin(5 t) / 5: from t = 0.01, extrapolation and then
// interpolation steps before the strong Wolfe conditions with gtol 0.1 hold.
double Phi(double t, double* g) {
  *g = 2 * (t - 3) + std::cos(5 * t);
  return (t - 3) * (t - 3) + std::sin(5 * t) / 5;
}

TEST(MoreThuenteLineSearchState, ContinuesBitwiseFromEverySavedStep) {
  std::vector<double> reference;
  MoreThuenteLineSearch search;
  double g0;
  const double f0 = Phi(0, &g0);
  MoreThuenteOptions options;
  options.gtol = 0.1;
  ASSERT_OK(search.Start(f0, g0, 0.01, options));
  std::vector<std::string> states;
  while (search.state() == LineSearchState::kEvaluate) {
    std::string& state = states.emplace_back();
    search.SaveState(&state);
    ASSERT_EQ(state.size(), MoreThuenteLineSearch::kStateBytes);
    reference.push_back(search.step());
    double g;
    const double f = Phi(search.step(), &g);
    // One failure on the way: the bisection backtrack is state too.
    if (reference.size() == 2) {
      search.TellFailed();
    } else {
      search.Tell(f, g);
    }
  }
  ASSERT_GT(reference.size(), 3u);
  for (size_t cut = 0; cut < states.size(); ++cut) {
    MoreThuenteLineSearch restored;
    ASSERT_OK(restored.RestoreState(states[cut]));
    std::string again;
    restored.SaveState(&again);
    EXPECT_TRUE(again == states[cut]);
    for (size_t i = cut; restored.state() == LineSearchState::kEvaluate; ++i) {
      ASSERT_LT(i, reference.size());
      const double step = restored.step();
      EXPECT_EQ(std::memcmp(&reference[i], &step, 8), 0) << "cut " << cut;
      double g;
      const double f = Phi(restored.step(), &g);
      if (i + 1 == 2) {
        restored.TellFailed();
      } else {
        restored.Tell(f, g);
      }
    }
    EXPECT_EQ(restored.message(), search.message());
    EXPECT_EQ(restored.step(), search.step());
  }
}

TEST(MoreThuenteLineSearchState, RefusesBytesThatDoNotFit) {
  MoreThuenteLineSearch search;
  ASSERT_OK(search.Start(0, -1, 1, MoreThuenteOptions()));
  std::string state;
  search.SaveState(&state);
  auto with_word = [&](int word, int64_t value) {
    std::string bad = state;
    std::memcpy(bad.data() + 8 * word, &value, 8);
    return bad;
  };
  MoreThuenteLineSearch other;
  EXPECT_THAT(other.RestoreState(state.substr(0, 100)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has 100 bytes; it must have 224")));
  EXPECT_THAT(
      other.RestoreState(with_word(5, 99)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task = 99")));
  EXPECT_THAT(
      other.RestoreState(with_word(6, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("brackt = 2")));
  EXPECT_THAT(
      other.RestoreState(with_word(7, 3)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stage = 3")));
  EXPECT_THAT(other.RestoreState(with_word(8, -1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("evaluations = -1")));
  EXPECT_THAT(
      other.RestoreState(with_word(9, 5)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("failures = 5")));
  const double bad_gtol = 2.0;
  std::string bad = state;
  std::memcpy(bad.data() + 8, &bad_gtol, 8);
  EXPECT_THAT(
      other.RestoreState(bad),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gtol = 2")));
  EXPECT_EQ(other.task(), MoreThuenteTask::kNotStarted);  // unchanged
}

}  // namespace
}  // namespace optd
