#include "solvers/adam/adam_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/kernel_replay.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/torch_adam_data.h"

namespace optd {
namespace {

using ::optd::testing::Gradient;
using ::optd::testing::HashUniform;
using ::optd::testing::KernelState;
using ::optd::testing::LoadTorchRun;
using ::optd::testing::ReplayStats;
using ::optd::testing::RunNames;
using ::optd::testing::StatusIs;
using ::optd::testing::TorchRun;
using ::optd::testing::UlpDistance;
using ::testing::HasSubstr;

// All three slots, as amsgrad keeps them.
constexpr int kAllSlots = 0b111;

// Replays `run` through ApplyAdamUpdate and compares every recorded step.
// Also checks, bitwise, that a float gradient (float32 runs) and the portable
// loop give the same states as the double gradient on the SIMD loop.
template <typename T>
ReplayStats Replay(const TorchRun& run) {
  ReplayStats stats;
  KernelState<T> simd(run.records[0], kAllSlots);
  KernelState<T> portable = simd;
  KernelState<T> float_grad = simd;
  for (int t = 1; t <= run.num_steps; ++t) {
    const std::vector<double> g = Gradient(t, run.n);
    const AdamStepScalars scalars =
        ComputeAdamStepScalars(run.hyper, t, run.lr);
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
      stats.Compare(got, want);
      if constexpr (std::is_same_v<T, float>) {
        EXPECT_LE(UlpDistance(got, want), 1)
            << "step " << t << " element " << i << ": " << got << " vs torch "
            << want;
      } else {
        EXPECT_LE(std::abs(got - want), 1e-12 * std::abs(want))
            << "step " << t << " element " << i << ": " << got << " vs torch "
            << want;
      }
    }
  }
  return stats;
}

class AdamKernelTorchReplay : public ::testing::TestWithParam<std::string> {};

TEST_P(AdamKernelTorchReplay, MatchesTorchAtEveryRecordedStep) {
  const std::string& name = GetParam();
  absl::StatusOr<TorchRun> run = LoadTorchRun(
      absl::StrCat(OPTD_TEST_DATA_DIR, "/torch_adam/", name, ".bin"));
  ASSERT_TRUE(run.ok()) << run.status();
  // The file's header agrees with its name.
  EXPECT_EQ(run->hyper.decoupled_weight_decay, name.rfind("adamw_", 0) == 0);
  EXPECT_EQ(run->hyper.amsgrad, name.find("_ams_") != std::string::npos);
  EXPECT_EQ(run->hyper.weight_decay != 0.0,
            name.find("_wd0.1_") != std::string::npos);
  EXPECT_EQ(run->scalar_bytes, name.find("_f32") != std::string::npos ? 4 : 8);
  ASSERT_EQ(run->num_steps, 1000);
  ASSERT_TRUE(run->hyper.Validate().ok());
  for (int i = 0; i < run->n; ++i) {
    const double p0 = 2.0 * HashUniform(0, i);
    ASSERT_EQ(run->records[0][i],
              run->scalar_bytes == 4 ? static_cast<float>(p0) : p0)
        << i;
  }

  const ReplayStats stats =
      run->scalar_bytes == 4 ? Replay<float>(*run) : Replay<double>(*run);
  std::cout << name << ": " << stats.bitwise_equal << "/" << stats.compared
            << " bitwise equal, max ulp " << stats.max_ulp << ", max relative "
            << stats.max_relative << " (AVX2+FMA loop: "
            << (adam_kernel_internal::HasSimdPath() ? "yes" : "no") << ")\n";
  RecordProperty("bitwise_equal", static_cast<int>(stats.bitwise_equal));
  RecordProperty("compared", static_cast<int>(stats.compared));
}

INSTANTIATE_TEST_SUITE_P(AllRuns, AdamKernelTorchReplay,
                         ::testing::ValuesIn(RunNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return absl::StrReplaceAll(info.param, {{".", "p"}});
                         });

TEST(AdamKernel, ComputeStepScalarsMatchesTorchPythonArithmetic) {
  // Expected values printed by CPython 3.11 (e.g. (1e-3/(1-0.9**1.0)).hex()).
  AdamHyper hyper;
  AdamStepScalars s = ComputeAdamStepScalars(hyper, 1, 1e-3);
  EXPECT_EQ(s.step_size, 0x1.47ae147ae147cp-7);  // 0.010000000000000002
  EXPECT_EQ(s.bias_correction2_sqrt, 0x1.030dc4ea03a74p-5);
  EXPECT_EQ(s.one_minus_beta1, 0x1.9999999999998p-4);  // 0.09999999999999998
  EXPECT_EQ(s.one_minus_beta2, 0x1.0624dd2f1aa00p-10);
  EXPECT_EQ(s.l2_weight_decay, 0.0);
  EXPECT_EQ(s.param_decay, 1.0);
  EXPECT_EQ(s.grad_scale, 1.0);
  EXPECT_FALSE(s.amsgrad);

  s = ComputeAdamStepScalars(hyper, 10, 1e-3);
  EXPECT_EQ(s.step_size, 0x1.927aeb32c15a5p-10);
  EXPECT_EQ(s.bias_correction2_sqrt, 0x1.98ae08a9e2688p-4);

  hyper.beta1 = 0.8;
  hyper.beta2 = 0.95;
  hyper.amsgrad = true;
  s = ComputeAdamStepScalars(hyper, 2, 1e-3);
  EXPECT_EQ(s.step_size, 0x1.6c16c16c16c19p-9);
  EXPECT_EQ(s.bias_correction2_sqrt, 0x1.3fbe701157609p-2);
  EXPECT_TRUE(s.amsgrad);
}

TEST(AdamKernel, ComputeStepScalarsUsesWeightDecayPerVariant) {
  AdamHyper hyper;
  hyper.weight_decay = 0.01;
  AdamStepScalars adam = ComputeAdamStepScalars(hyper, 3, 2.5e-4);
  EXPECT_EQ(adam.l2_weight_decay, 0.01);
  EXPECT_EQ(adam.param_decay, 1.0);
  EXPECT_EQ(adam.step_size, 0x1.e3a9179dc1a76p-11);
  EXPECT_EQ(adam.bias_correction2_sqrt, 0x1.c078514eb6c08p-5);

  hyper.decoupled_weight_decay = true;
  AdamStepScalars adamw = ComputeAdamStepScalars(hyper, 3, 2.5e-4);
  EXPECT_EQ(adamw.l2_weight_decay, 0.0);
  EXPECT_EQ(adamw.param_decay, 0x1.ffffac1d29dc7p-1);  // 1 - 2.5e-4 * 0.01
  EXPECT_EQ(adamw.step_size, adam.step_size);
}

TEST(AdamKernel, ComputeStepScalarsSaturatesStepLikeTorchsFloat32Counter) {
  AdamHyper hyper;
  hyper.beta2 = 0.9999999;  // beta2^(2^24) ~ 0.19: the step still matters
  const int64_t limit = int64_t{1} << 24;
  const AdamStepScalars at_limit = ComputeAdamStepScalars(hyper, limit, 1e-3);
  EXPECT_EQ(at_limit.bias_correction2_sqrt, 0x1.cdb5a774dfd0bp-1);
  EXPECT_EQ(at_limit.step_size, 0x1.0624dd2f1a9fcp-10);
  // CPython would give 0x1.cdc666cc1cf21p-1 for 2^24 + 12345, but torch's
  // float32 step_t never gets there.
  const AdamStepScalars beyond =
      ComputeAdamStepScalars(hyper, limit + 12345, 1e-3);
  EXPECT_EQ(beyond.bias_correction2_sqrt, at_limit.bias_correction2_sqrt);
}

TEST(AdamKernel, ValidateAcceptsDefaultsAndRejectsEachFieldOutOfRange) {
  EXPECT_TRUE(AdamHyper().Validate().ok());
  AdamHyper edge;
  edge.beta1 = 0.0;
  edge.beta2 = 0.0;
  edge.eps = 0.0;
  edge.weight_decay = 0.0;
  EXPECT_TRUE(edge.Validate().ok());

  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    double AdamHyper::*field;
    double value;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {&AdamHyper::beta1, 1.0, "beta1 is 1; it must be in [0, 1)"},
           {&AdamHyper::beta1, -0.1, "beta1 is -0.1"},
           {&AdamHyper::beta1, nan, "beta1 is nan"},
           {&AdamHyper::beta2, 1.0, "beta2 is 1; it must be in [0, 1)"},
           {&AdamHyper::beta2, -1e-9, "beta2"},
           {&AdamHyper::eps, -1e-8, "eps is -1e-08; it must be in"},
           {&AdamHyper::eps, inf, "eps is inf"},
           {&AdamHyper::weight_decay, -0.5,
            "weight_decay is -0.5; it must be in [0, inf)"},
           {&AdamHyper::weight_decay, nan, "weight_decay is nan"},
       }) {
    AdamHyper hyper;
    hyper.*c.field = c.value;
    EXPECT_THAT(hyper.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr(c.message)));
  }
}

// A few steps of a 37-element problem with every feature switched on.
template <typename T>
KernelState<T> RunSteps(double grad_scale, bool prescale, int64_t slice_split) {
  AdamHyper hyper;
  hyper.amsgrad = true;
  hyper.weight_decay = 0.1;
  const int n = 37;
  std::vector<double> p0(n);
  for (int i = 0; i < n; ++i) p0[i] = 2.0 * HashUniform(0, i);
  KernelState<T> s(p0, kAllSlots);
  for (int t = 1; t <= 20; ++t) {
    AdamStepScalars scalars = ComputeAdamStepScalars(hyper, t, 1e-2);
    const std::vector<double> g = Gradient(t, n);
    std::vector<T> grad(g.begin(), g.end());
    if (prescale) {
      // What torch's clip_grad_norm_ does: g.mul_(clip_coef) in g's dtype.
      for (T& x : grad) x *= static_cast<T>(grad_scale);
    } else {
      scalars.grad_scale = grad_scale;
    }
    // Two slices [0, split) and [split, n), as two shards would update them.
    s.Step(scalars, grad, /*portable=*/false, 0, slice_split);
    s.Step(scalars, grad, /*portable=*/false, slice_split, n);
  }
  return s;
}

TEST(AdamKernel, GradScaleEqualsScalingTheGradientInTheStateDtype) {
  const double clip_coef = 0.3;  // not a power of two: rounding matters
  EXPECT_TRUE(RunSteps<float>(clip_coef, /*prescale=*/false, 37) ==
              RunSteps<float>(clip_coef, /*prescale=*/true, 37));
  EXPECT_TRUE(RunSteps<double>(clip_coef, /*prescale=*/false, 37) ==
              RunSteps<double>(clip_coef, /*prescale=*/true, 37));
  EXPECT_FALSE(RunSteps<float>(clip_coef, /*prescale=*/false, 37) ==
               RunSteps<float>(1.0, /*prescale=*/false, 37));
}

TEST(AdamKernel, SlicesUpdateBitwiseLikeTheWholeVector) {
  const KernelState<float> whole = RunSteps<float>(1.0, false, 37);
  for (int64_t split : {0, 1, 5, 8, 13, 36}) {
    EXPECT_TRUE(RunSteps<float>(1.0, false, split) == whole) << split;
  }
  const KernelState<double> whole64 = RunSteps<double>(1.0, false, 37);
  for (int64_t split : {0, 3, 4, 21}) {
    EXPECT_TRUE(RunSteps<double>(1.0, false, split) == whole64) << split;
  }
}

TEST(AdamKernel, AmsgradMaximumPropagatesNanLikeTorchMaximum) {
  AdamHyper hyper;
  hyper.amsgrad = true;
  const AdamStepScalars scalars = ComputeAdamStepScalars(hyper, 1, 1e-3);
  for (bool portable : {false, true}) {
    const int n = 19;  // two AVX2 vectors of float plus a tail
    std::vector<float> grad(n, 0.5f), param(n, 1.0f), m(n), v(n), vmax(n);
    vmax[3] = std::numeric_limits<float>::quiet_NaN();
    vmax[17] = std::numeric_limits<float>::quiet_NaN();
    grad[5] = std::numeric_limits<float>::quiet_NaN();
    grad[18] = std::numeric_limits<float>::quiet_NaN();
    if (portable) {
      adam_kernel_internal::ApplyAdamUpdatePortable<float, float>(
          scalars, n, grad.data(), param.data(), m.data(), v.data(),
          vmax.data());
    } else {
      ApplyAdamUpdate<float, float>(scalars, n, grad.data(), param.data(),
                                    m.data(), v.data(), vmax.data());
    }
    for (int i = 0; i < n; ++i) {
      const bool nan = i == 3 || i == 5 || i == 17 || i == 18;
      EXPECT_EQ(std::isnan(vmax[i]), nan) << i << " portable " << portable;
      EXPECT_EQ(std::isnan(param[i]), nan) << i << " portable " << portable;
    }
  }
}

}  // namespace
}  // namespace optd
