// Adam's parameter groups (AdamOptions.groups) and per-step learning rates
// (TrialResult.learning_rates).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<double> ReadPoint(const Solver& solver) {
  std::vector<double> x(static_cast<size_t>(solver.dimension()));
  EXPECT_OK(solver.ReadTrialPoint(
      MutableVectorView::Float64(x.data(), solver.dimension())));
  return x;
}

absl::Status TellGradient(Solver& solver, const std::vector<double>& g,
                          std::vector<double> learning_rates = {}) {
  const int64_t n = static_cast<int64_t>(g.size());
  if (absl::Status s =
          solver.SetTrialGradient(ConstVectorView::Float64(g.data(), n));
      !s.ok()) {
    return s;
  }
  TrialResult r;
  r.has_gradient = true;
  r.learning_rates = std::move(learning_rates);
  return solver.Tell(r);
}

// A smooth, step-dependent gradient with both signs.
std::vector<double> GradientAt(const std::vector<double>& x, int t) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = std::sin(0.37 * static_cast<double>(i) + 0.11 * t) +
           0.5 * x[i] * std::cos(0.05 * static_cast<double>(i * t));
  }
  return g;
}

std::vector<double> StartPoint(int64_t n) {
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = std::cos(1.3 * i) * 0.7;
  return x;
}

bool BitwiseEqual(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// Two groups as torch users write them: decay on the weights, none on the
// biases, and another lr, betas and eps for the second.
AdamOptions TwoGroups(int64_t split, int64_t n, ScalarType dtype) {
  AdamOptions options = AdamOptions::AdamW();
  options.lr = 3e-2;
  options.dtype = dtype;
  options.groups.push_back({0, split});
  AdamGroup biases{split, n};
  biases.lr = 1e-2;
  biases.beta1 = 0.8;
  biases.beta2 = 0.99;
  biases.eps = 1e-6;
  biases.weight_decay = 0.0;
  options.groups.push_back(biases);
  return options;
}

// Each group steps exactly as a session of its own with the group's values
// would (the update is elementwise and every group shares the step count),
// in float32 and float64, with 1 to 3 slices.
TEST(AdamGroups, EachGroupStepsAsItsOwnSession) {
  constexpr int64_t kN = 3000, kSplit = 1777;  // spans several blocks
  for (ScalarType dtype : {ScalarType::kFloat64, ScalarType::kFloat32}) {
    const AdamOptions options = TwoGroups(kSplit, kN, dtype);
    const std::vector<AdamOptions::ResolvedGroup> resolved =
        options.ResolvedGroups(kN);
    ASSERT_EQ(resolved.size(), 2u);
    std::vector<double> x0 = StartPoint(kN);
    // The reference: one group-free session per segment.
    std::vector<std::unique_ptr<Adam>> alone;
    for (const AdamOptions::ResolvedGroup& g : resolved) {
      AdamOptions own = options;
      own.groups.clear();
      own.lr = g.lr;
      own.hyper = g.hyper;
      auto solver = Adam::Create(
          own, ConstVectorView::Float64(x0.data() + g.begin, g.end - g.begin));
      ASSERT_OK(solver);
      alone.push_back(std::move(*solver));
    }
    std::vector<std::unique_ptr<Adam>> grouped;
    for (int shards = 1; shards <= 3; ++shards) {
      auto solver = Adam::Create(
          options, ConstVectorView::Float64(x0.data(), kN), shards);
      ASSERT_OK(solver);
      EXPECT_EQ((*solver)->groups(), 2);
      grouped.push_back(std::move(*solver));
    }
    for (int t = 1; t <= 200; ++t) {
      std::vector<double> x = ReadPoint(*alone[0]);
      const std::vector<double> tail = ReadPoint(*alone[1]);
      x.insert(x.end(), tail.begin(), tail.end());
      std::vector<double> g = GradientAt(x, t);
      for (const auto& solver : grouped) {
        ASSERT_TRUE(BitwiseEqual(ReadPoint(*solver), x)) << "step " << t;
        ASSERT_OK(TellGradient(*solver, g));
      }
      ASSERT_OK(TellGradient(
          *alone[0], std::vector<double>(g.begin(), g.begin() + kSplit)));
      ASSERT_OK(TellGradient(*alone[1],
                             std::vector<double>(g.begin() + kSplit, g.end())));
    }
  }
}

// TrialResult.learning_rates replaces the schedule's lr of that step only.
TEST(AdamGroups, LearningRatesOfATellWinForThatStep) {
  constexpr int64_t kN = 40;
  AdamOptions scheduled = TwoGroups(25, kN, ScalarType::kFloat64);
  scheduled.schedule.warmup_steps = 10;
  AdamOptions told_lr = scheduled;
  told_lr.schedule = LrScheduleOptions();
  const std::vector<double> x0 = StartPoint(kN);
  auto a = Adam::Create(scheduled, ConstVectorView::Float64(x0.data(), kN));
  auto b = Adam::Create(told_lr, ConstVectorView::Float64(x0.data(), kN));
  ASSERT_OK(a);
  ASSERT_OK(b);
  for (int t = 1; t <= 30; ++t) {
    const std::vector<double> g = GradientAt(ReadPoint(**a), t);
    // Steps 5 and 6 of `a` take an explicit lr; `b` takes the same lrs:
    // the schedule's, or the explicit ones.
    std::vector<double> lrs{ScheduledLearningRate(scheduled.schedule, 3e-2, t),
                            ScheduledLearningRate(scheduled.schedule, 1e-2, t)};
    if (t == 5 || t == 6) lrs = {0.5, 0.25};
    ASSERT_OK(
        TellGradient(**a, g, t == 5 || t == 6 ? lrs : std::vector<double>{}));
    ASSERT_OK(TellGradient(**b, g, lrs));
    ASSERT_TRUE(BitwiseEqual(ReadPoint(**a), ReadPoint(**b))) << "step " << t;
    EXPECT_EQ((*a)->progress().last_step, lrs[0]);
  }
}

TEST(AdamGroups, LearningRatesAreCheckedBeforeAnythingChanges) {
  constexpr int64_t kN = 10;
  const std::vector<double> x0 = StartPoint(kN);
  auto solver = Adam::Create(TwoGroups(4, kN, ScalarType::kFloat64),
                             ConstVectorView::Float64(x0.data(), kN));
  ASSERT_OK(solver);
  TrialResult r;
  r.has_gradient = true;
  r.learning_rates = {1e-3};
  EXPECT_THAT((*solver)->CheckBatchResult(0, r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("group_lr has 1 values; the session has 2 "
                                 "parameter groups")));
  r.learning_rates = {1e-3, -1.0};
  EXPECT_THAT((*solver)->CheckBatchResult(0, r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("group_lr[1] is -1; a learning rate is "
                                 "finite and >= 0")));
  r.learning_rates = {0.0, 0.0};  // torch allows 0 (CosineAnnealingLR's end)
  EXPECT_OK((*solver)->CheckBatchResult(0, r));
  r.learning_rates = {NAN, 1.0};
  EXPECT_THAT(
      TellGradient(**solver, std::vector<double>(kN, 1.0), r.learning_rates),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("group_lr[0] is nan")));
  EXPECT_EQ((*solver)->step(), 0);
  EXPECT_EQ((*solver)->progress().evaluations, 0);
}

TEST(AdamGroups, GroupsMustTileTheDimensionInOrder) {
  AdamOptions options;
  auto with = [&](std::vector<std::pair<int64_t, int64_t>> ranges) {
    options.groups.clear();
    for (auto [b, e] : ranges) options.groups.push_back({b, e});
    return options.ValidateGroups(10);
  };
  EXPECT_OK(with({}));
  EXPECT_OK(with({{0, 10}}));
  EXPECT_OK(with({{0, 7}, {7, 10}}));
  EXPECT_THAT(with({{0, 7}, {5, 10}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adam.groups[1].begin is 5; it must be 7 (the end of "
                       "groups[0])"));
  EXPECT_THAT(with({{0, 7}, {8, 10}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.groups[1].begin is 8; it must be 7")));
  EXPECT_THAT(with({{1, 10}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.groups[0].begin is 1; it must be 0")));
  EXPECT_THAT(with({{0, 0}, {0, 10}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adam.groups[0].end is 0; it must be greater than its "
                       "begin, 0"));
  EXPECT_THAT(with({{0, 11}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adam.groups[0].end is 11; it must be at most the "
                       "dimension, 10"));
  EXPECT_THAT(with({{0, 4}, {4, 9}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adam.groups[1].end is 9; the last group must end at "
                       "the dimension, 10"));
  // Adam::Create checks the tiling against x0.
  const std::vector<double> x0(10, 0.5);
  options.groups = {{0, 4}, {4, 9}};
  EXPECT_THAT(Adam::Create(options, ConstVectorView::Float64(x0.data(), 10)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adam.groups[1].end is 9")));
}

TEST(AdamGroups, GroupValuesAreValidatedWithTheirIndex) {
  AdamOptions options = AdamOptions::AdamW();
  options.groups = {{0, 4}, {4, 10}};
  EXPECT_OK(options.Validate());
  options.groups[1].lr = -2.0;
  EXPECT_THAT(options.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("adamw.groups[1].lr")));
  options.groups[1].lr = 0.1;
  options.groups[0].beta2 = 1.0;
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adamw.groups[0].beta2 is 1; it must be in [0, 1)"));
  options.groups[0].beta2.reset();
  options.groups[1].weight_decay = -1.0;
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adamw.groups[1].weight_decay is -1")));
  options.groups[1].weight_decay = 0.0;
  // The schedule's floor must not exceed any group's lr.
  options.schedule.decay = LrScheduleOptions::Decay::kCosine;
  options.schedule.decay_steps = 10;
  options.schedule.min_lr = 1e-3;
  options.groups[1].lr = 1e-4;
  EXPECT_THAT(options.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("adamw.schedule.min_lr")));
}

TEST(AdamGroups, OptionsReportListsTheGroups) {
  const std::vector<double> x0(10, 0.5);
  auto solver = Adam::Create(TwoGroups(4, 10, ScalarType::kFloat64),
                             ConstVectorView::Float64(x0.data(), 10));
  ASSERT_OK(solver);
  EXPECT_THAT((*solver)->OptionsReport(),
              HasSubstr("group 1: [4, 10), lr 0.01, betas (0.8, 0.99), eps "
                        "1e-06, weight_decay 0"));
}

}  // namespace
}  // namespace optd
