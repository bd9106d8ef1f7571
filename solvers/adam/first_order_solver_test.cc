// The elementwise first-order family beside Adam (SGD, RMSprop, Adagrad,
// Adamax, NAdam, RAdam, Lion) through the Solver interface: what the session
// machinery promises for each method and option set (the slots kept,
// sharding, checkpoints, bounds, groups, validation). The per-element
// arithmetic against torch is first_order_kernel_test.cc's.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/core/bounds.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/testing/solver_steps.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

struct Config {
  std::string name;
  AdamOptions options;
  int slots;  // AdamSlots::count()
};

std::vector<Config> Configs() {
  std::vector<Config> configs;
  auto add = [&](std::string name, ElementwiseMethod method, int slots,
                 auto&& tweak) {
    AdamOptions options = AdamOptions::For(method);
    tweak(options);
    configs.push_back({std::move(name), options, slots});
  };
  add("sgd", ElementwiseMethod::kSgd, 0, [](AdamOptions& o) { o.lr = 1e-2; });
  add("sgd_nesterov", ElementwiseMethod::kSgd, 1, [](AdamOptions& o) {
    o.lr = 1e-2;
    o.hyper.momentum = 0.9;
    o.hyper.nesterov = true;
    o.hyper.weight_decay = 1e-2;
  });
  add("sgd_dampened_maximize", ElementwiseMethod::kSgd, 1, [](AdamOptions& o) {
    o.lr = 1e-2;
    o.hyper.momentum = 0.5;
    o.hyper.dampening = 0.3;
    o.hyper.maximize = true;
  });
  add("rmsprop", ElementwiseMethod::kRmsprop, 1, [](AdamOptions&) {});
  add("rmsprop_centered_momentum", ElementwiseMethod::kRmsprop, 3,
      [](AdamOptions& o) {
        o.hyper.centered = true;
        o.hyper.momentum = 0.9;
        o.hyper.weight_decay = 1e-3;
      });
  add("adagrad", ElementwiseMethod::kAdagrad, 1, [](AdamOptions& o) {
    o.hyper.lr_decay = 1e-2;
    o.hyper.initial_accumulator_value = 0.1;
  });
  add("adamax", ElementwiseMethod::kAdamax, 2,
      [](AdamOptions& o) { o.hyper.weight_decay = 1e-2; });
  add("nadam", ElementwiseMethod::kNadam, 2,
      [](AdamOptions& o) { o.hyper.momentum_decay = 4e-2; });
  add("radam", ElementwiseMethod::kRadam, 2, [](AdamOptions&) {});
  add("lion", ElementwiseMethod::kLion, 1,
      [](AdamOptions& o) { o.hyper.weight_decay = 0.1; });
  return configs;
}

using ::optd::testing::ReadPoint;
using ::optd::testing::TellGradient;

std::vector<double> Gradient(const std::vector<double>& x, int t) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = x[i] * (1 + 0.01 * static_cast<double>(i % 5)) - 1e-2 * t +
           (i % 7 == 0 ? 0.0 : 1e-3 * std::sin(static_cast<double>(i)));
  }
  return g;
}

std::vector<double> StartPoint(int64_t n) {
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = std::cos(0.03 * i);
  return x0;
}

class FirstOrderSolver : public ::testing::TestWithParam<Config> {};

TEST_P(FirstOrderSolver, NamesItselfAndKeepsItsSlots) {
  const Config& c = GetParam();
  const AdamSlots slots = AdamSlots::For(c.options.hyper);
  EXPECT_EQ(slots.count(), c.slots);
  const int64_t n = 10;
  std::vector<double> x0 = StartPoint(n);
  auto solver = Adam::Create(c.options, ConstVectorView::Float64(x0.data(), n));
  ASSERT_OK(solver);
  EXPECT_EQ((*solver)->name(), c.options.name());
  // x and the slots, 8 bytes per element each.
  std::vector<double> x1 = StartPoint(n + 1);
  auto longer =
      Adam::Create(c.options, ConstVectorView::Float64(x1.data(), n + 1));
  ASSERT_OK(longer);
  EXPECT_EQ((*longer)->StateBytes() - (*solver)->StateBytes(),
            8 * (1 + c.slots));
  std::string state;
  ASSERT_OK((*solver)->SaveState(&state));
  EXPECT_EQ(static_cast<int64_t>(state.size()), (*solver)->StateBytes());
  EXPECT_THAT((*solver)->OptionsReport(), HasSubstr("lr "));
}

// Clipping needs the block-ordered reduction, groups split the scalars; the
// iterates are the same bits for any number of slices.
TEST_P(FirstOrderSolver, StepsAreBitwiseIdenticalForOneToFourShards) {
  const Config& c = GetParam();
  const int64_t n = 2 * kReductionBlock + 123;  // three blocks
  const std::vector<double> x0 = StartPoint(n);
  AdamOptions options = c.options;
  options.max_grad_norm = 5.0;
  AdamGroup first{0, 5000};
  first.lr = options.lr * 0.5;
  AdamGroup second{5000, n};
  second.weight_decay = 1e-3;
  options.groups = {first, second};
  std::vector<std::vector<double>> finals;
  for (int shards = 1; shards <= 4; ++shards) {
    auto solver =
        Adam::Create(options, ConstVectorView::Float64(x0.data(), n), shards);
    ASSERT_OK(solver);
    for (int t = 1; t <= 12; ++t) {
      ASSERT_OK(TellGradient(**solver, Gradient(ReadPoint(**solver), t)));
    }
    finals.push_back(ReadPoint(**solver));
    EXPECT_NE(finals.back(), x0);
  }
  for (int k = 1; k < 4; ++k) {
    EXPECT_EQ(
        0, std::memcmp(finals[k].data(), finals[0].data(), sizeof(double) * n))
        << k + 1 << " shards";
  }
}

// A state saved mid-run (NAdam: its running product is not in the state but
// recomputed from the step) continues bit for bit, on another number of
// slices, in float32 and float64.
TEST_P(FirstOrderSolver, SavedStateContinuesBitwiseOnAnyNumberOfSlices) {
  const Config& c = GetParam();
  const int64_t n = kReductionBlock + 77;  // two blocks
  const std::vector<double> x0 = StartPoint(n);
  for (ScalarType dtype : {ScalarType::kFloat64, ScalarType::kFloat32}) {
    AdamOptions options = c.options;
    options.dtype = dtype;
    options.max_steps = 25;
    auto reference =
        Adam::Create(options, ConstVectorView::Float64(x0.data(), n), 1);
    ASSERT_OK(reference);
    std::string state;
    for (int t = 1; t <= 25; ++t) {
      if (t == 9) {
        ASSERT_OK((*reference)->SaveState(&state));
      }
      ASSERT_OK(TellGradient(**reference, Gradient(ReadPoint(**reference), t),
                             0.5 * t));
    }
    ASSERT_TRUE((*reference)->finished());
    for (int shards = 1; shards <= 3; ++shards) {
      auto restored =
          Adam::Create(options, ConstVectorView::Float64(x0.data(), n), shards);
      ASSERT_OK(restored);
      ASSERT_OK((*restored)->RestoreState(state));
      EXPECT_EQ((*restored)->step(), 8);
      for (int t = 9; t <= 25; ++t) {
        ASSERT_OK(TellGradient(**restored, Gradient(ReadPoint(**restored), t),
                               0.5 * t));
      }
      ASSERT_TRUE((*restored)->finished());
      const std::vector<double> a = ReadPoint(**reference);
      const std::vector<double> b = ReadPoint(**restored);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(double) * n))
          << shards << " shards, float32 " << (dtype == ScalarType::kFloat32);
    }
  }
}

// Projected steps (x <- clamp(step(x))): every point handed out is in the
// box, and a coordinate pushed outward sits on its bound.
TEST_P(FirstOrderSolver, BoundedStepsStayInTheBox) {
  const Config& c = GetParam();
  const int64_t n = 20;
  const std::vector<double> x0 = StartPoint(n);
  std::vector<double> lower(n, -0.2), upper(n, 0.9);
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), n),
                     ConstVectorView::Float64(upper.data(), n), n);
  ASSERT_OK(box);
  AdamOptions options = c.options;
  options.lr *= 50;  // large steps reach the bounds
  auto solver =
      Adam::Create(options, ConstVectorView::Float64(x0.data(), n), *box);
  ASSERT_OK(solver);
  // A gradient that pushes every coordinate down (up when maximizing), until
  // all of them sit on the lower bound.
  const std::vector<double> g(n, c.options.hyper.maximize ? -1.0 : 1.0);
  int steps = 0;
  for (; steps < 2000; ++steps) {
    const std::vector<double> x = ReadPoint(**solver);
    bool all_at_lower = true;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_GE(x[i], -0.2) << "step " << steps << " x[" << i << "]";
      ASSERT_LE(x[i], 0.9) << "step " << steps << " x[" << i << "]";
      all_at_lower &= x[i] == -0.2;
    }
    if (all_at_lower) break;
    ASSERT_OK(TellGradient(**solver, g));
  }
  EXPECT_LT(steps, 2000);
}

INSTANTIATE_TEST_SUITE_P(Methods, FirstOrderSolver,
                         ::testing::ValuesIn(Configs()),
                         [](const auto& info) { return info.param.name; });

// NAdam's running product is recomputed from the step count on restore; a
// state that counts 2^50 steps (torch's float32 counter stands still from
// 2^24) restores in a bounded number of multiplications, not 2^50.
TEST(FirstOrderSolverNadam, AStateOfManyStepsRestoresQuickly) {
  const std::vector<double> x0 = StartPoint(8);
  const AdamOptions options = AdamOptions::For(ElementwiseMethod::kNadam);
  auto solver = Adam::Create(options, ConstVectorView::Float64(x0.data(), 8));
  ASSERT_OK(solver);
  ASSERT_OK(TellGradient(**solver, Gradient(ReadPoint(**solver), 1)));
  std::string state;
  ASSERT_OK((*solver)->SaveState(&state));
  // The tag, then the step and evaluation counters (adam.cc's layout).
  const size_t counters = std::string("optd.adam.v1").size();
  const int64_t many = int64_t{1} << 50;
  std::memcpy(state.data() + counters, &many, 8);
  std::memcpy(state.data() + counters + 8, &many, 8);
  auto restored = Adam::Create(options, ConstVectorView::Float64(x0.data(), 8));
  ASSERT_OK(restored);
  ASSERT_OK((*restored)->RestoreState(state));
  EXPECT_EQ((*restored)->step(), many);
  ASSERT_OK(TellGradient(**restored, Gradient(ReadPoint(**restored), 2)));
  EXPECT_EQ((*restored)->step(), many + 1);
  for (double xi : ReadPoint(**restored)) EXPECT_TRUE(std::isfinite(xi));
}

TEST(FirstOrderOptions, DefaultsAreTorchsAndTheAuthors) {
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kRmsprop).lr, 1e-2);
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kRmsprop).hyper.alpha, 0.99);
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kAdagrad).hyper.eps, 1e-10);
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kAdamax).lr, 2e-3);
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kNadam).lr, 2e-3);
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kNadam).hyper.momentum_decay,
            4e-3);
  EXPECT_EQ(AdamOptions::For(ElementwiseMethod::kRadam).lr, 1e-3);
  const AdamOptions lion = AdamOptions::For(ElementwiseMethod::kLion);
  EXPECT_EQ(lion.lr, 1e-4);
  EXPECT_EQ(lion.hyper.beta1, 0.9);
  EXPECT_EQ(lion.hyper.beta2, 0.99);
  EXPECT_STREQ(lion.name(), "lion");
  EXPECT_STREQ(AdamOptions::AdamW().name(), "adamw");
}

TEST(FirstOrderOptions, AGroupMayNotSetWhatTheMethodDoesNotHave) {
  AdamOptions sgd = AdamOptions::For(ElementwiseMethod::kSgd);
  AdamGroup group{0, 4};
  group.beta1 = 0.5;
  sgd.groups = {group};
  EXPECT_THAT(sgd.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sgd.groups[0].beta1 is set; sgd has no "
                                 "beta1")));
  AdamOptions lion = AdamOptions::For(ElementwiseMethod::kLion);
  group.beta1.reset();
  group.eps = 1e-6;
  lion.groups = {group};
  EXPECT_THAT(
      lion.Validate(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("lion.groups[0].eps is set; lion has no eps")));
  // Betas are fine for Lion, eps for RMSprop.
  group.eps.reset();
  group.beta2 = 0.95;
  lion.groups = {group};
  EXPECT_OK(lion.Validate());
}

}  // namespace
}  // namespace optd
