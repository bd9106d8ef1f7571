#include "solvers/adam/adam.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/core/bounds.h"
#include "solvers/testing/solver_steps.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/torch_adam_data.h"

namespace optd {
namespace {

using ::optd::testing::Gradient;
using ::optd::testing::LoadTorchRun;
using ::optd::testing::RunNames;
using ::optd::testing::StatusIs;
using ::optd::testing::TorchRun;
using ::optd::testing::TorchRunPath;
using ::optd::testing::UlpDistance;
using ::testing::HasSubstr;

AdamOptions OptionsFor(const TorchRun& run) {
  AdamOptions options;
  options.hyper = run.hyper;
  options.lr = run.lr;
  options.dtype =
      run.scalar_bytes == 4 ? ScalarType::kFloat32 : ScalarType::kFloat64;
  return options;
}

using ::optd::testing::ReadPoint;
using ::optd::testing::TellGradient;

class AdamTorchReplay : public ::testing::TestWithParam<std::string> {};

// The solver (controller + slices) reproduces torch at every recorded step,
// with 1, 2 and 3 slices (n = 37 is one block, so slices 2 and 3 are empty:
// the point is that the controller's path is the same; block-spanning
// reproducibility is tested below).
TEST_P(AdamTorchReplay, MatchesTorchThroughTheSolverInterface) {
  auto run = LoadTorchRun(TorchRunPath(OPTD_TEST_DATA_DIR, GetParam()));
  ASSERT_OK(run);
  for (int shards = 1; shards <= 3; ++shards) {
    auto solver = Adam::Create(
        OptionsFor(*run),
        ConstVectorView::Float64(run->records[0].data(), run->n), shards);
    ASSERT_OK(solver);
    int64_t max_ulp = 0;
    double max_rel = 0;
    for (int t = 1; t <= run->num_steps; ++t) {
      std::vector<double> g = Gradient(t, run->n);
      if (run->scalar_bytes == 4) {
        for (double& v : g)
          v = static_cast<float>(v);  // torch saw float32 grads
      }
      ASSERT_OK(TellGradient(**solver, g));
      if (t % run->record_stride != 0) continue;
      const std::vector<double> x = ReadPoint(**solver);
      const std::vector<double>& want = run->records[t / run->record_stride];
      for (int i = 0; i < run->n; ++i) {
        if (run->scalar_bytes == 4) {
          max_ulp = std::max(max_ulp, UlpDistance(static_cast<float>(x[i]),
                                                  static_cast<float>(want[i])));
        } else {
          max_rel = std::max(max_rel, std::fabs(x[i] - want[i]) /
                                          std::max(std::fabs(want[i]), 1e-300));
        }
      }
    }
    EXPECT_EQ(max_ulp, 0) << GetParam() << " shards=" << shards;
    // Bitwise: the kernel reproduces torch 1.13 exactly (adam_kernel.h); the
    // issue asks for 1e-12 relative, this test holds the stronger result.
    EXPECT_EQ(max_rel, 0.0) << GetParam() << " shards=" << shards;
    EXPECT_EQ((*solver)->step(), run->num_steps);
  }
}

INSTANTIATE_TEST_SUITE_P(AllRuns, AdamTorchReplay,
                         ::testing::ValuesIn(RunNames()), [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '.') c = '_';
                           }
                           return name;
                         });

// Progress: the current value is the latest tell's (Adam's values need not
// decrease), the best the least; no trust radius.
TEST(Adam, ProgressReportsTheLatestValueAsTheCurrentOne) {
  const std::vector<double> x0 = {1.0, -2.0};
  auto solver =
      Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 2), 1);
  ASSERT_TRUE(solver.ok());
  EXPECT_TRUE(std::isnan((*solver)->progress().current_value));
  ASSERT_TRUE(TellGradient(**solver, {1.0, 1.0}, 5.0).ok());
  ASSERT_TRUE(TellGradient(**solver, {1.0, 1.0}, 3.0).ok());
  ASSERT_TRUE(TellGradient(**solver, {1.0, 1.0}, 4.0).ok());
  const Progress p = (*solver)->progress();
  EXPECT_EQ(p.current_value, 4.0);
  EXPECT_EQ(p.best_value, 3.0);
  EXPECT_TRUE(std::isnan(p.trust_radius));
}

TEST(Adam, ClippedStepsAreBitwiseIdenticalForOneToFourShards) {
  const int64_t n = 2 * kReductionBlock + 123;  // three blocks
  std::vector<double> x0(n);
  for (int64_t i = 0; i < n; ++i) x0[i] = std::sin(0.1 * i);
  AdamOptions options = AdamOptions::AdamW();
  options.max_grad_norm = 0.5;  // clipping needs the reduction
  options.hyper.amsgrad = true;
  std::vector<std::vector<double>> finals;
  for (int shards = 1; shards <= 4; ++shards) {
    auto solver =
        Adam::Create(options, ConstVectorView::Float64(x0.data(), n), shards);
    ASSERT_OK(solver);
    for (int t = 1; t <= 20; ++t) {
      std::vector<double> x = ReadPoint(**solver);
      std::vector<double> g(n);
      for (int64_t i = 0; i < n; ++i)
        g[i] = x[i] * (1 + 0.001 * (i % 17)) + 1e-3 * t;
      ASSERT_OK(TellGradient(**solver, g));
    }
    finals.push_back(ReadPoint(**solver));
  }
  for (int k = 1; k < 4; ++k) {
    EXPECT_EQ(
        0, std::memcmp(finals[k].data(), finals[0].data(), sizeof(double) * n))
        << k + 1 << " shards";
  }
}

// A state saved mid-run and restored into a fresh solver (with another
// number of slices, float32 and float64, amsgrad on and off) continues bit
// for bit: what a server checkpoint of a large session relies on.
TEST(Adam, SavedStateContinuesBitwiseOnAnyNumberOfSlices) {
  const int64_t n = kReductionBlock + 77;  // two blocks
  std::vector<double> x0(n);
  for (int64_t i = 0; i < n; ++i) x0[i] = std::cos(0.03 * i);
  auto gradient = [n](const std::vector<double>& x, int t) {
    std::vector<double> g(n);
    for (int64_t i = 0; i < n; ++i)
      g[i] = x[i] * (1 + 0.01 * (i % 5)) - 1e-2 * t;
    return g;
  };
  for (ScalarType dtype : {ScalarType::kFloat64, ScalarType::kFloat32}) {
    for (bool amsgrad : {false, true}) {
      AdamOptions options = AdamOptions::AdamW();
      options.dtype = dtype;
      options.hyper.amsgrad = amsgrad;
      options.max_grad_norm = 1.0;
      options.max_steps = 30;
      auto reference =
          Adam::Create(options, ConstVectorView::Float64(x0.data(), n), 1);
      ASSERT_OK(reference);
      std::string state;
      for (int t = 1; t <= 30; ++t) {
        if (t == 13) {
          ASSERT_OK((*reference)->SaveState(&state));
          EXPECT_EQ(static_cast<int64_t>(state.size()),
                    (*reference)->StateBytes());
        }
        ASSERT_OK(TellGradient(**reference, gradient(ReadPoint(**reference), t),
                               0.5 * t));
      }
      ASSERT_TRUE((*reference)->finished());
      for (int shards = 1; shards <= 3; ++shards) {
        auto restored = Adam::Create(
            options, ConstVectorView::Float64(x0.data(), n), shards);
        ASSERT_OK(restored);
        ASSERT_OK((*restored)->RestoreState(state));
        EXPECT_EQ((*restored)->step(), 12);
        EXPECT_EQ((*restored)->progress().best_value, 0.5);
        for (int t = 13; t <= 30; ++t) {
          ASSERT_OK(TellGradient(**restored, gradient(ReadPoint(**restored), t),
                                 0.5 * t));
        }
        ASSERT_TRUE((*restored)->finished());
        const std::vector<double> a = ReadPoint(**reference);
        const std::vector<double> b = ReadPoint(**restored);
        EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(double) * n))
            << shards << " shards, amsgrad " << amsgrad;
        EXPECT_EQ((*restored)->summary().BriefReport(),
                  (*reference)->summary().BriefReport());
      }
      // A finished solver's state restores finished.
      ASSERT_OK((*reference)->SaveState(&state));
      auto finished =
          Adam::Create(options, ConstVectorView::Float64(x0.data(), n), 2);
      ASSERT_OK(finished);
      ASSERT_OK((*finished)->RestoreState(state));
      EXPECT_TRUE((*finished)->finished());
      EXPECT_EQ((*finished)->summary().reason, TerminationReason::kMaxSteps);
    }
  }
}

TEST(Adam, RestoreStateRefusesStateThatDoesNotFit) {
  std::vector<double> x0 = {1.0, 2.0, 3.0};
  AdamOptions options;
  auto a = Adam::Create(options, ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(a);
  std::string state;
  ASSERT_OK((*a)->SaveState(&state));
  options.hyper.amsgrad = true;  // one more vector expected
  auto b = Adam::Create(options, ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(b);
  EXPECT_THAT((*b)->RestoreState(state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the state has 72 bytes; this session "
                                 "needs 96")));
  EXPECT_THAT((*b)->RestoreState("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not an optd.adam.v1 state")));
  // A point that is not finite (found by fuzz/stored_session_fuzzer: a
  // checkpoint whose x[0] was all ones bytes, NaN, became trial 6; regression
  // fuzz/regressions/stored_session/adam-checkpoint-x-not-finite), and with
  // bounds a point outside the box. The state is unchanged.
  const size_t x_at = std::strlen("optd.adam.v1") + 8 * 8;
  std::string nan_x = state;
  std::memset(&nan_x[x_at + 8], 0xff, 8);
  auto c = Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(c);
  EXPECT_THAT((*c)->RestoreState(nan_x),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the state has x[1] = nan, which is not "
                                 "finite or outside the session's box")));
  EXPECT_EQ(ReadPoint(**c), x0);
  const std::vector<double> lower = {0.0, 0.0, 0.0}, upper = {2.0, 2.0, 2.0};
  const Bounds box =
      *Bounds::Create(ConstVectorView::Float64(lower.data(), 3),
                      ConstVectorView::Float64(upper.data(), 3), 3);
  auto boxed =
      Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 3), box);
  ASSERT_OK(boxed);
  EXPECT_THAT((*boxed)->RestoreState(state),  // x[2] = 3 > 2
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x[2] = 3, which is not finite or outside")));
  EXPECT_EQ(ReadPoint(**boxed), (std::vector<double>{1.0, 2.0, 2.0}));
  ASSERT_OK(TellGradient(**a, {1.0, 1.0, 1.0}));
  EXPECT_THAT((*a)->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("told nothing yet")));
}

// Found by fuzz/stored_session_fuzzer (regression
// fuzz/regressions/stored_session/adam-state-step-overflows): a stored step
// count of 2^63 - 1 overflowed on the next tell.
TEST(Adam, RestoreStateRefusesCountersOutOfRange) {
  std::vector<double> x0 = {1.0, 2.0};
  auto a = Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(a);
  std::string state;
  ASSERT_OK((*a)->SaveState(&state));
  // The words after the tag "optd.adam.v1": step, evaluations, failed.
  constexpr size_t kStep = 12, kEvaluations = 20, kFailed = 28;
  const auto with = [&](size_t at, int64_t value) {
    std::string changed = state;
    std::memcpy(changed.data() + at, &value, 8);
    return changed;
  };
  for (const std::string& bad :
       {with(kStep, std::numeric_limits<int64_t>::max()), with(kStep, -1),
        with(kFailed, 1), with(kEvaluations, -1),
        with(kEvaluations, std::numeric_limits<int64_t>::max())}) {
    auto b =
        Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 2));
    ASSERT_OK(b);
    EXPECT_THAT((*b)->RestoreState(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("each is in [0, evaluations]")));
  }
  auto c = Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(c);
  std::string counted = with(kEvaluations, 5);
  const int64_t steps = 4;
  std::memcpy(counted.data() + kStep, &steps, 8);
  EXPECT_OK((*c)->RestoreState(counted));
  EXPECT_EQ((*c)->progress().iterations, 4);
}

TEST(Adam, ClippingScalesTheGradientLikeClipGradNorm) {
  // One step of plain Adam moves each coordinate by about lr * sign(g) whatever
  // the scale, so test clipping through the first moment instead: with beta1
  // = 0 and beta2 = 0 the step is lr * g / (|g| + eps'), identical; use
  // weight decay (Adam's L2 term is added after clipping) to expose the scale.
  AdamOptions clipped;
  clipped.lr = 0.1;
  clipped.hyper.weight_decay = 1.0;
  clipped.max_grad_norm = 1.0;
  AdamOptions prescaled = clipped;
  prescaled.max_grad_norm = 0;
  const std::vector<double> x0 = {1.0, 1.0};
  const std::vector<double> g = {30.0, 40.0};  // norm 50 -> coef 1/(50 + 1e-6)
  const double coef = 1.0 / (50.0 + 1e-6);
  auto a = Adam::Create(clipped, ConstVectorView::Float64(x0.data(), 2));
  auto b = Adam::Create(prescaled, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(TellGradient(**a, g));
  ASSERT_OK(TellGradient(**b, {g[0] * coef, g[1] * coef}));
  EXPECT_EQ(ReadPoint(**a), ReadPoint(**b));
}

TEST(Adam, FailedTellSkipsTheStepAndHandsOutTheSamePoint) {
  const std::vector<double> x0 = {1.0, -2.0};
  auto solver =
      Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  TrialResult failed;
  failed.failed = true;
  ASSERT_OK((*solver)->Tell(failed));
  EXPECT_EQ(ReadPoint(**solver), x0);
  EXPECT_EQ((*solver)->step(), 0);
  EXPECT_EQ((*solver)->progress().evaluations, 1);
  ASSERT_OK(TellGradient(**solver, {1.0, 1.0}, /*value=*/3.0));
  EXPECT_EQ((*solver)->step(), 1);
  EXPECT_NE(ReadPoint(**solver), x0);
  EXPECT_EQ((*solver)->progress().best_value, 3.0);
}

TEST(Adam, FinishesAfterMaxStepsAndOnStop) {
  const std::vector<double> x0 = {0.5};
  AdamOptions options;
  options.max_steps = 3;
  auto solver = Adam::Create(options, ConstVectorView::Float64(x0.data(), 1));
  ASSERT_OK(solver);
  for (int i = 0; i < 3; ++i) ASSERT_OK(TellGradient(**solver, {1.0}, 2.0 - i));
  EXPECT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kMaxSteps);
  EXPECT_EQ((*solver)->summary().iterations, 3);
  EXPECT_EQ((*solver)->summary().value, 0.0);
  EXPECT_TRUE((*solver)->summary().success());
  EXPECT_THAT(
      TellGradient(**solver, {1.0}),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("finished")));

  auto other =
      Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 1));
  ASSERT_OK(other);
  (*other)->Stop();
  EXPECT_EQ((*other)->summary().reason, TerminationReason::kStoppedByClient);
}

TEST(Adam, AStepThatIsNotFiniteEndsTheSessionAtTheLastPoint) {
  // eps = 0 and a coordinate whose gradient has always been 0: m = v = 0 and
  // torch's update is 0 / 0 = NaN. The point moves as one or not at all: the
  // NaN is in the second of two slices (two blocks), and the first slice does
  // not step either.
  const int64_t n = kReductionBlock + 3;
  const std::vector<double> x0(n, 0.5);
  std::vector<double> g(n, 1.0);
  g[n - 1] = 0.0;
  for (int shards : {1, 2}) {
    AdamOptions options;
    options.hyper.eps = 0.0;
    auto solver =
        Adam::Create(options, ConstVectorView::Float64(x0.data(), n), shards);
    ASSERT_OK(solver);
    std::string before;
    ASSERT_OK((*solver)->SaveState(&before));
    ASSERT_OK(TellGradient(**solver, g, /*value=*/2.0));
    ASSERT_TRUE((*solver)->finished()) << shards << " shards";
    const Summary& summary = (*solver)->summary();
    EXPECT_EQ(summary.reason, TerminationReason::kStepNotFinite);
    EXPECT_EQ(TerminationReasonName(summary.reason), "STEP_NOT_FINITE");
    EXPECT_THAT(summary.message, HasSubstr("NOT FINITE"));
    EXPECT_FALSE(summary.success());
    EXPECT_EQ(summary.iterations, 0);
    EXPECT_EQ(summary.value, 2.0);
    EXPECT_EQ((*solver)->step(), 0);
    EXPECT_EQ(ReadPoint(**solver), x0);
    // x, m and v are as they were: the state's vectors (after the tag and
    // the 8 words of counters) have the same bytes.
    std::string state;
    ASSERT_OK((*solver)->SaveState(&state));
    const size_t head = std::strlen("optd.adam.v1") + 8 * 8;
    EXPECT_TRUE(state.substr(head) == before.substr(head));
    // It restores finished, with the same summary.
    auto restored =
        Adam::Create(options, ConstVectorView::Float64(x0.data(), n), shards);
    ASSERT_OK(restored);
    ASSERT_OK((*restored)->RestoreState(state));
    EXPECT_TRUE((*restored)->finished());
    EXPECT_EQ((*restored)->summary().BriefReport(), summary.BriefReport());
  }
  // With eps > 0 the same gradient is an ordinary step.
  auto ordinary =
      Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), n));
  ASSERT_OK(ordinary);
  ASSERT_OK(TellGradient(**ordinary, g));
  EXPECT_FALSE((*ordinary)->finished());
  EXPECT_EQ((*ordinary)->step(), 1);
}

TEST(Adam, AdamWThatDivergesEndsBeforeItsIteratesOverflow) {
  // lr * weight_decay = 3: each step multiplies x by 1 - 3 = -2, so a float32
  // x passes 3.4e38 within about 130 steps; torch would go on with inf, then
  // NaN.
  AdamOptions options = AdamOptions::AdamW();
  options.dtype = ScalarType::kFloat32;
  options.lr = 300.0;
  const std::vector<double> x0 = {1.0, -1.0};
  auto solver = Adam::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  int steps = 0;
  while (!(*solver)->finished() && steps < 1000) {
    const std::vector<double> x = ReadPoint(**solver);
    ASSERT_TRUE(std::isfinite(x[0]) && std::isfinite(x[1])) << steps;
    ASSERT_OK(TellGradient(**solver, {x[0] > 0 ? 1.0 : -1.0, 1.0}));
    ++steps;
  }
  ASSERT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kStepNotFinite);
  EXPECT_GT(steps, 100);
  EXPECT_EQ((*solver)->summary().iterations, steps - 1);
  const std::vector<double> x = ReadPoint(**solver);
  EXPECT_TRUE(std::isfinite(x[0]) && std::isfinite(x[1]));
}

TEST(Adam, ScheduleSetsTheLearningRateOfEachStep) {
  AdamOptions options;
  options.lr = 0.1;
  options.schedule.warmup_steps = 2;
  options.schedule.warmup_start_factor = 0.5;
  options.schedule.decay = LrScheduleOptions::Decay::kCosine;
  options.schedule.decay_steps = 4;
  options.schedule.min_lr = 0.01;
  // warm-up: 0.05, 0.075; cosine from 0.1 down to 0.01 over 4 steps, then 0.01.
  const double expected[] = {
      0.05,  0.075,
      0.1,   0.01 + 0.09 * (1 + std::cos(M_PI / 4)) / 2,
      0.055, 0.01 + 0.09 * (1 + std::cos(3 * M_PI / 4)) / 2,
      0.01,  0.01};
  for (int step = 1; step <= 8; ++step) {
    EXPECT_NEAR(ScheduledLearningRate(options.schedule, options.lr, step),
                expected[step - 1], 1e-15)
        << "step " << step;
  }
  const std::vector<double> x0 = {0.0};
  auto solver = Adam::Create(options, ConstVectorView::Float64(x0.data(), 1));
  ASSERT_OK(solver);
  ASSERT_OK(TellGradient(**solver, {1.0}));
  EXPECT_EQ((*solver)->progress().last_step, 0.05);
  // Adam's first step moves by lr (m / sqrt(v) = 1 after bias correction).
  EXPECT_NEAR(ReadPoint(**solver)[0], -0.05, 1e-9);
}

TEST(Adam, Float32StateRoundsAndRejectsOverflow) {
  const std::vector<double> x0 = {0.1, 0.2};
  AdamOptions options;
  options.dtype = ScalarType::kFloat32;
  auto solver = Adam::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  EXPECT_EQ(ReadPoint(**solver)[0], static_cast<double>(0.1f));
  EXPECT_THAT(
      TellGradient(**solver, {1.0, 1e39}),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "gradient[1] is 1e+39, which overflows the session's float32")));
  EXPECT_EQ((*solver)->step(), 0);
  EXPECT_THAT(TellGradient(**solver, {NAN, 1.0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient[0] is nan")));
  EXPECT_THAT(
      TellGradient(**solver, {1.0}),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("gradient has 1 elements; the session has dimension 2")));
  EXPECT_EQ((*solver)->progress().evaluations, 0);
}

TEST(AdamOptions, ValidateNamesTheFieldAndTheRange) {
  struct Case {
    std::function<void(AdamOptions&)> mutate;
    const char* message;
  };
  const Case cases[] = {
      {[](AdamOptions& o) { o.lr = 0; },
       "adam.lr is 0; it must be in (0, inf)"},
      {[](AdamOptions& o) { o.lr = INFINITY; }, "adam.lr is inf"},
      {[](AdamOptions& o) { o.hyper.beta1 = 1; },
       "adam.beta1 is 1; it must be in [0, 1)"},
      {[](AdamOptions& o) { o.hyper.beta2 = -1; }, "adam.beta2 is -1"},
      {[](AdamOptions& o) { o.hyper.eps = -1; }, "adam.eps is -1"},
      {[](AdamOptions& o) { o.hyper.weight_decay = -1; },
       "adam.weight_decay is -1"},
      {[](AdamOptions& o) { o.max_grad_norm = -1; },
       "adam.max_grad_norm is -1"},
      {[](AdamOptions& o) { o.max_steps = -1; }, "adam.max_steps is -1"},
      {[](AdamOptions& o) { o.schedule.warmup_steps = -1; },
       "adam.schedule.warmup_steps is -1"},
      {[](AdamOptions& o) { o.schedule.warmup_start_factor = 0; },
       "adam.schedule.warmup_start_factor is 0; it must be in (0, 1]"},
      {[](AdamOptions& o) {
         o.schedule.decay = LrScheduleOptions::Decay::kCosine;
       },
       "adam.schedule.decay_steps is 0; the cosine decay needs it in [1, "
       "2^53]"},
      {[](AdamOptions& o) { o.schedule.min_lr = 1; },
       "adam.schedule.min_lr is 1; it must be in [0, lr = 0.001]"},
  };
  for (const Case& c : cases) {
    AdamOptions o;
    c.mutate(o);
    EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr(c.message)));
  }
  EXPECT_OK(AdamOptions().Validate());
  AdamOptions w = AdamOptions::AdamW();
  EXPECT_EQ(w.hyper.weight_decay, 1e-2);
  w.lr = -1;
  EXPECT_THAT(w.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("adamw.lr")));
}

TEST(Adam, RejectsNonFiniteStart) {
  const std::vector<double> x0 = {1.0, NAN};
  EXPECT_THAT(
      Adam::Create(AdamOptions(), ConstVectorView::Float64(x0.data(), 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x0[1] is nan")));
  const std::vector<double> big = {1e300};
  AdamOptions f32;
  f32.dtype = ScalarType::kFloat32;
  EXPECT_THAT(Adam::Create(f32, ConstVectorView::Float64(big.data(), 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("finite in float32")));
}

}  // namespace
}  // namespace optd
