// The SGD, RMSprop, Adagrad, Adamax, NAdam, RAdam and Lion updates of
// ApplyAdamUpdate (first_order_kernel.h) against torch 1.13
// (tests/data/torch_first_order), bitwise, and their scalars, checks and
// slots.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam_kernel.h"
#include "solvers/testing/kernel_replay.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/torch_adam_data.h"
#include "solvers/testing/torch_first_order_data.h"

namespace optd {
namespace {

using ::optd::testing::FirstOrderRunNames;
using ::optd::testing::Gradient;
using ::optd::testing::HashUniform;
using ::optd::testing::KernelState;
using ::optd::testing::LoadTorchFirstOrderRun;
using ::optd::testing::ReplayStats;
using ::optd::testing::StatusIs;
using ::optd::testing::TorchFirstOrderRunPath;
using ::optd::testing::TorchRun;
using ::testing::HasSubstr;

// Replays `run` through ApplyAdamUpdate (SIMD loop where the CPU has it),
// requiring torch's bits at every recorded step; also that the portable loop
// and (float32 runs) a float gradient give the same state bitwise.
template <typename T>
ReplayStats Replay(const TorchRun& run) {
  ReplayStats stats;
  const int mask = AdamSlotMask(run.hyper);
  KernelState<T> simd(run.records[0], mask);
  KernelState<T> portable = simd;
  KernelState<T> float_grad = simd;
  NadamMuProduct mu_product;
  int reported = 0;
  for (int t = 1; t <= run.num_steps; ++t) {
    const std::vector<double> g = Gradient(t, run.n);
    const AdamStepScalars scalars =
        ComputeAdamStepScalars(run.hyper, t, run.lr, &mu_product);
    simd.Step(scalars, g);
    portable.Step(scalars, g, /*portable=*/true);
    EXPECT_TRUE(simd == portable) << "step " << t;
    if constexpr (std::is_same_v<T, float>) {
      float_grad.Step(scalars, std::vector<float>(g.begin(), g.end()));
      EXPECT_TRUE(simd == float_grad) << "step " << t;
    }
    if (t % run.record_stride != 0) continue;
    const std::vector<double>& expected = run.records[t / run.record_stride];
    for (int i = 0; i < run.n; ++i) {
      const T want = static_cast<T>(expected[i]);
      const T got = simd.param[i];
      const bool same = stats.Compare(got, want);
      // Bitwise, as the data promises; only the first few misses are listed.
      if (!same && ++reported <= 5) {
        ADD_FAILURE() << "step " << t << " element " << i << ": "
                      << static_cast<double>(got) << " vs torch "
                      << static_cast<double>(want);
      }
    }
  }
  return stats;
}

class FirstOrderKernelTorchReplay
    : public ::testing::TestWithParam<std::string> {};

TEST_P(FirstOrderKernelTorchReplay, MatchesTorchBitwiseAtEveryRecordedStep) {
  const std::string& name = GetParam();
  absl::StatusOr<TorchRun> run =
      LoadTorchFirstOrderRun(TorchFirstOrderRunPath(OPTD_TEST_DATA_DIR, name));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->scalar_bytes, name.find("_f32") != std::string::npos ? 4 : 8);
  ASSERT_EQ(run->num_steps, 1000);
  ASSERT_EQ(run->n, 37);
  ASSERT_TRUE(run->hyper.Validate().ok()) << run->hyper.Validate();
  for (int i = 0; i < run->n; ++i) {
    const double p0 = 2.0 * HashUniform(0, i);
    ASSERT_EQ(run->records[0][i],
              run->scalar_bytes == 4 ? static_cast<float>(p0) : p0)
        << i;
  }
  const ReplayStats stats =
      run->scalar_bytes == 4 ? Replay<float>(*run) : Replay<double>(*run);
  EXPECT_EQ(stats.bitwise_equal, stats.compared);
  std::cout << name << ": " << stats.bitwise_equal << "/" << stats.compared
            << " bitwise equal, max ulp " << stats.max_ulp << ", max relative "
            << stats.max_relative << " (AVX2+FMA loop: "
            << (adam_kernel_internal::HasSimdPath() ? "yes" : "no") << ")\n";
}

INSTANTIATE_TEST_SUITE_P(AllRuns, FirstOrderKernelTorchReplay,
                         ::testing::ValuesIn(FirstOrderRunNames()));

AdamHyper Hyper(ElementwiseMethod method) {
  AdamHyper hyper;
  hyper.method = method;
  return hyper;
}

TEST(FirstOrderKernel, ValidateChecksEachMethodsFields) {
  for (int m = 0; m < kElementwiseMethods; ++m) {
    EXPECT_TRUE(Hyper(static_cast<ElementwiseMethod>(m)).Validate().ok()) << m;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    ElementwiseMethod method;
    double AdamHyper::*field;
    double value;
    const char* message;
  };
  using M = ElementwiseMethod;
  for (const Case& c : std::vector<Case>{
           {M::kSgd, &AdamHyper::momentum, -0.1,
            "momentum is -0.1; it must be in [0, inf)"},
           {M::kSgd, &AdamHyper::dampening, 1.5,
            "dampening is 1.5; it must be in [0, 1]"},
           {M::kSgd, &AdamHyper::weight_decay, nan, "weight_decay is nan"},
           {M::kRmsprop, &AdamHyper::alpha, 1.01,
            "alpha is 1.01; it must be in [0, 1]"},
           {M::kRmsprop, &AdamHyper::momentum, inf, "momentum is inf"},
           {M::kRmsprop, &AdamHyper::eps, -1e-8, "eps is -1e-08"},
           {M::kAdagrad, &AdamHyper::lr_decay, -1.0,
            "lr_decay is -1; it must be in [0, inf)"},
           {M::kAdagrad, &AdamHyper::initial_accumulator_value, -0.5,
            "initial_accumulator_value is -0.5; it must be in [0, inf)"},
           {M::kAdamax, &AdamHyper::beta2, 1.0,
            "beta2 is 1; it must be in [0, 1)"},
           {M::kNadam, &AdamHyper::momentum_decay, -4e-3,
            "momentum_decay is -0.004; it must be in [0, inf)"},
           {M::kRadam, &AdamHyper::beta1, -0.1, "beta1 is -0.1"},
           {M::kLion, &AdamHyper::beta1, 1.0,
            "beta1 is 1; it must be in [0, 1)"},
           {M::kLion, &AdamHyper::weight_decay, -1.0, "weight_decay is -1"},
       }) {
    AdamHyper hyper = Hyper(c.method);
    hyper.*c.field = c.value;
    EXPECT_THAT(hyper.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr(c.message)))
        << static_cast<int>(c.method);
  }
  // Fields a method does not use are not checked.
  AdamHyper sgd = Hyper(M::kSgd);
  sgd.beta1 = 2.0;
  sgd.eps = -1.0;
  EXPECT_TRUE(sgd.Validate().ok());
  AdamHyper lion = Hyper(M::kLion);
  lion.eps = nan;
  EXPECT_TRUE(lion.Validate().ok());

  // torch.optim.SGD: "Nesterov momentum requires a momentum and zero
  // dampening".
  AdamHyper nesterov = Hyper(M::kSgd);
  nesterov.nesterov = true;
  EXPECT_THAT(nesterov.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nesterov needs momentum > 0 and dampening "
                                 "0; momentum is 0, dampening is 0")));
  nesterov.momentum = 0.9;
  EXPECT_TRUE(nesterov.Validate().ok());
  nesterov.dampening = 0.1;
  EXPECT_THAT(nesterov.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("dampening is 0.1")));

  AdamHyper bad_method;
  bad_method.method = static_cast<ElementwiseMethod>(8);
  EXPECT_THAT(bad_method.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("method is 8; it must be in [0, 7]")));
}

TEST(FirstOrderKernel, SlotMaskFollowsTheTable) {
  using M = ElementwiseMethod;
  AdamHyper h = Hyper(M::kAdam);
  EXPECT_EQ(AdamSlotMask(h), 0b011);
  h.amsgrad = true;
  EXPECT_EQ(AdamSlotMask(h), 0b111);
  h = Hyper(M::kSgd);
  EXPECT_EQ(AdamSlotMask(h), 0);
  h.momentum = 0.9;
  EXPECT_EQ(AdamSlotMask(h), 0b001);
  h = Hyper(M::kRmsprop);
  EXPECT_EQ(AdamSlotMask(h), 0b001);
  h.centered = true;
  EXPECT_EQ(AdamSlotMask(h), 0b011);
  h.momentum = 0.5;
  EXPECT_EQ(AdamSlotMask(h), 0b111);
  h.centered = false;
  EXPECT_EQ(AdamSlotMask(h), 0b101);
  EXPECT_EQ(AdamSlotMask(Hyper(M::kAdagrad)), 0b001);
  EXPECT_EQ(AdamSlotMask(Hyper(M::kAdamax)), 0b011);
  EXPECT_EQ(AdamSlotMask(Hyper(M::kNadam)), 0b011);
  EXPECT_EQ(AdamSlotMask(Hyper(M::kRadam)), 0b011);
  EXPECT_EQ(AdamSlotMask(Hyper(M::kLion)), 0b001);
}

TEST(FirstOrderKernel, SgdMomentumBufferIsTheGradientOnTheFirstStep) {
  AdamHyper hyper = Hyper(ElementwiseMethod::kSgd);
  hyper.momentum = 0.9;
  hyper.dampening = 0.5;
  const AdamStepScalars first = ComputeAdamStepScalars(hyper, 1, 0.1);
  EXPECT_TRUE(first.first_step);
  EXPECT_FALSE(ComputeAdamStepScalars(hyper, 2, 0.1).first_step);
  // torch: buf = torch.clone(d_p), not (1 - dampening) * d_p, whatever the
  // buffer held before (the kernel never reads it on the first step).
  std::vector<double> grad = {0.3, -2.0, 0.0, 7.5, 1e-3};
  std::vector<double> param(grad.size(), 1.0), buf(grad.size(), 123.0);
  ApplyAdamUpdate<double, double>(first, grad.size(), grad.data(), param.data(),
                                  buf.data(), nullptr, nullptr);
  EXPECT_EQ(buf, grad);
  for (size_t i = 0; i < grad.size(); ++i) {
    EXPECT_EQ(param[i], std::fma(grad[i], -0.1, 1.0)) << i;
  }
  // The second step decays the buffer: 0.9 buf + 0.5 g.
  const AdamStepScalars second = ComputeAdamStepScalars(hyper, 2, 0.1);
  ApplyAdamUpdate<double, double>(second, grad.size(), grad.data(),
                                  param.data(), buf.data(), nullptr, nullptr);
  for (size_t i = 0; i < grad.size(); ++i) {
    EXPECT_EQ(buf[i], std::fma(grad[i], 0.5, grad[i] * 0.9)) << i;
  }
}

TEST(FirstOrderKernel, AdagradSumStartsFromInitialAccumulatorValue) {
  AdamHyper hyper = Hyper(ElementwiseMethod::kAdagrad);
  hyper.initial_accumulator_value = 0.25;
  const AdamStepScalars first = ComputeAdamStepScalars(hyper, 1, 0.01);
  std::vector<float> grad = {0.5f, -1.0f}, param = {0.0f, 0.0f},
                     sum = {99.0f, -3.0f};
  ApplyAdamUpdate<float, float>(first, 2, grad.data(), param.data(), sum.data(),
                                nullptr, nullptr);
  EXPECT_EQ(sum[0], 0.5f);   // 0.25 + 0.5^2
  EXPECT_EQ(sum[1], 1.25f);  // 0.25 + 1
}

TEST(FirstOrderKernel, NadamMuProductIsFloat32AsTorchKeepsIt) {
  AdamHyper hyper = Hyper(ElementwiseMethod::kNadam);
  NadamMuProduct mu;
  // torch.optim.NAdam's state['mu_product'] after steps 1, 2, 3, 10 (defaults,
  // torch 1.13 on this machine).
  ComputeAdamStepScalars(hyper, 1, 2e-3, &mu);
  EXPECT_EQ(mu.step, 1);
  EXPECT_EQ(mu.value, 0x1.cce01p-2f);
  ComputeAdamStepScalars(hyper, 2, 2e-3, &mu);
  EXPECT_EQ(mu.value, 0x1.9eec54p-3f);
  // Recomputing a step's scalars leaves the product alone.
  const AdamStepScalars a = ComputeAdamStepScalars(hyper, 3, 2e-3, &mu);
  const AdamStepScalars b = ComputeAdamStepScalars(hyper, 3, 2e-3, &mu);
  EXPECT_EQ(mu.value, 0x1.759d1cp-4f);
  EXPECT_EQ(a.nadam_grad_coef, b.nadam_grad_coef);
  EXPECT_EQ(a.nadam_exp_avg_coef, b.nadam_exp_avg_coef);
  // Skipping ahead multiplies each step's mu in turn.
  ComputeAdamStepScalars(hyper, 10, 2e-3, &mu);
  EXPECT_EQ(mu.step, 10);
  EXPECT_EQ(mu.value, 0x1.68439ap-12f);
  // Going back restarts from step 0.
  const AdamStepScalars again = ComputeAdamStepScalars(hyper, 3, 2e-3, &mu);
  EXPECT_EQ(mu.step, 3);
  EXPECT_EQ(again.nadam_grad_coef, a.nadam_grad_coef);
  // -lr (1 - mu_3) / (1 - mu_product), mu_product.item() the float32 value.
  const double mu3 = 0.9 * (1.0 - 0.5 * std::pow(0.96, 3.0 * 4e-3));
  EXPECT_EQ(a.nadam_grad_coef,
            -2e-3 * (1.0 - mu3) / (1.0 - double{0x1.759d1cp-4f}));
}

TEST(FirstOrderKernel, RadamRectifiesFromStepSixWithDefaultBetas) {
  // rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t) first exceeds 5 at step 6
  // for beta2 0.999 and 0.95; rect printed by CPython from radam.py's formula.
  AdamHyper hyper = Hyper(ElementwiseMethod::kRadam);
  for (int t = 1; t <= 5; ++t) {
    const AdamStepScalars s = ComputeAdamStepScalars(hyper, t, 1e-3);
    EXPECT_FALSE(s.rectified) << t;
    EXPECT_EQ(s.rect, 1.0) << t;
  }
  AdamStepScalars s = ComputeAdamStepScalars(hyper, 6, 1e-3);
  EXPECT_TRUE(s.rectified);
  EXPECT_EQ(s.rect, 0x1.a70d98c1f096dp-6);
  EXPECT_EQ(ComputeAdamStepScalars(hyper, 8, 1e-3).rect, 0x1.3d580e1ce9f87p-5);
  hyper.beta2 = 0.95;
  EXPECT_FALSE(ComputeAdamStepScalars(hyper, 5, 1e-3).rectified);
  s = ComputeAdamStepScalars(hyper, 6, 1e-3);
  EXPECT_TRUE(s.rectified);
  EXPECT_EQ(s.rect, 0x1.7582f7e334078p-3);

  // Unrectified: p -= (m / bias_correction1) * lr, v not used.
  AdamHyper plain = Hyper(ElementwiseMethod::kRadam);
  s = ComputeAdamStepScalars(plain, 1, 1e-3);
  std::vector<double> g = {2.0}, p = {1.0}, m = {0.0}, v = {0.0};
  ApplyAdamUpdate<double, double>(s, 1, g.data(), p.data(), m.data(), v.data(),
                                  nullptr);
  const double m1 = std::fma(2.0, 1.0 - 0.9, 0.0);
  EXPECT_EQ(m[0], m1);
  EXPECT_EQ(p[0], 1.0 - (m1 / (1.0 - 0.9)) * 1e-3);
}

// torch 1.13's CPU sign is (0 < x) - (x < 0) in its vector and scalar loops
// alike: sign(NaN) = 0, sign(-0) = +0 (printed by torch on this machine for
// lengths 1, 3, 17 and 37). Adamax's amax propagates NaN.
TEST(FirstOrderKernel, LionSignAndAdamaxMaxTreatNanLikeTorch) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (bool portable : {false, true}) {
    AdamHyper lion = Hyper(ElementwiseMethod::kLion);
    lion.beta1 = 0.0;  // the interpolation is the gradient itself
    const AdamStepScalars s = ComputeAdamStepScalars(lion, 1, 0.5);
    std::vector<double> p0(19, 1.0);
    KernelState<float> st(p0, AdamSlotMask(lion));
    std::vector<float> g(19, 0.25f);
    g[2] = nan;
    g[17] = nan;
    g[3] = -0.0f;
    g[18] = -2.0f;
    st.Step(s, g, portable);
    for (int i = 0; i < 19; ++i) {
      const float want = i == 2 || i == 17 || i == 3 ? 1.0f
                         : i == 18                   ? 1.5f
                                                     : 0.5f;
      EXPECT_EQ(st.param[i], want) << i << " portable " << portable;
      EXPECT_EQ(std::isnan(st.slot[0][i]), i == 2 || i == 17) << i;
    }

    AdamHyper adamax = Hyper(ElementwiseMethod::kAdamax);
    const AdamStepScalars sx = ComputeAdamStepScalars(adamax, 2, 1e-3);
    KernelState<float> ax(p0, AdamSlotMask(adamax));
    ax.slot[1].assign(19, 1.0f);
    ax.slot[1][4] = nan;
    ax.slot[1][16] = nan;
    std::vector<float> gx(19, 0.5f);
    gx[7] = nan;
    gx[18] = nan;
    ax.Step(sx, gx, portable);
    for (int i = 0; i < 19; ++i) {
      const bool want_nan = i == 4 || i == 16 || i == 7 || i == 18;
      EXPECT_EQ(std::isnan(ax.slot[1][i]), want_nan) << i;
      EXPECT_EQ(std::isnan(ax.param[i]), want_nan) << i;
    }
  }
}

// Every method, every option on: two slices updated on their own give the
// bits of the whole vector (the sharded session's guarantee), with gradient
// clipping's scale applied first.
TEST(FirstOrderKernel, SlicesUpdateBitwiseLikeTheWholeVector) {
  using M = ElementwiseMethod;
  std::vector<AdamHyper> hypers;
  for (M m : {M::kSgd, M::kRmsprop, M::kAdagrad, M::kAdamax, M::kNadam,
              M::kRadam, M::kLion}) {
    AdamHyper h = Hyper(m);
    h.weight_decay = 0.1;
    h.momentum = 0.5;
    h.nesterov = m == M::kSgd;
    h.centered = true;
    h.maximize = true;
    h.lr_decay = 0.01;
    h.initial_accumulator_value = 0.1;
    hypers.push_back(h);
  }
  const int n = 37;
  std::vector<double> p0(n);
  for (int i = 0; i < n; ++i) p0[i] = 2.0 * HashUniform(0, i);
  for (const AdamHyper& h : hypers) {
    ASSERT_TRUE(h.Validate().ok()) << h.Validate();
    auto run = [&](int64_t split) {
      KernelState<float> s(p0, AdamSlotMask(h));
      NadamMuProduct mu;
      for (int t = 1; t <= 20; ++t) {
        AdamStepScalars scalars = ComputeAdamStepScalars(h, t, 1e-2, &mu);
        scalars.grad_scale = 0.3;
        const std::vector<double> g = Gradient(t, n);
        s.Step(scalars, g, false, 0, split);
        s.Step(scalars, g, false, split, n);
      }
      return s;
    };
    const KernelState<float> whole = run(n);
    for (int64_t split : {0, 1, 5, 8, 13, 36}) {
      EXPECT_TRUE(run(split) == whole)
          << static_cast<int>(h.method) << " split " << split;
    }
    // grad_scale is not an identity here.
    KernelState<float> unscaled(p0, AdamSlotMask(h));
    NadamMuProduct mu;
    for (int t = 1; t <= 20; ++t) {
      unscaled.Step(ComputeAdamStepScalars(h, t, 1e-2, &mu), Gradient(t, n));
    }
    EXPECT_FALSE(unscaled == whole) << static_cast<int>(h.method);
  }
}

}  // namespace
}  // namespace optd
