// Adafactor against transformers' semantics (tests/data/gen_adafactor.py's
// numpy re-implementation), bitwise reproducibility over shard counts, its
// checkpoints, and every validation error.
#include "solvers/adafactor/adafactor.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// One reference run (the file layout is gen_adafactor.py's).
struct Reference {
  std::string name;
  AdafactorOptions options;
  int64_t steps = 0;
  std::vector<double> a, b, x0;
  std::map<int64_t, std::vector<double>> x;  // by step
};

std::vector<double> ReadValues(std::istringstream& in) {
  std::vector<double> values;
  double v;
  while (in >> v) values.push_back(v);
  return values;
}

Reference LoadReference(const std::string& file) {
  std::ifstream in(std::string(OPTD_TEST_DATA_DIR) + "/adafactor/" + file);
  EXPECT_TRUE(in.good()) << file;
  Reference ref;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "name") {
      fields >> ref.name;
    } else if (key == "dtype") {
      std::string dtype;
      fields >> dtype;
      ref.options.dtype =
          dtype == "float32" ? ScalarType::kFloat32 : ScalarType::kFloat64;
    } else if (key == "option") {
      std::string option, value;
      fields >> option >> value;
      AdafactorOptions& o = ref.options;
      const double number = value == "none" ? 0.0 : std::stod(value);
      if (option == "lr") {
        if (value != "none") o.lr = number;
      } else if (option == "beta1") {
        if (value != "none") o.beta1 = number;
      } else if (option == "clip_threshold") {
        o.clip_threshold = number;
      } else if (option == "decay_rate") {
        o.decay_rate = number;
      } else if (option == "weight_decay") {
        o.weight_decay = number;
      } else if (option == "scale_parameter") {
        o.scale_parameter = number != 0;
      } else if (option == "relative_step") {
        o.relative_step = number != 0;
      } else if (option == "warmup_init") {
        o.warmup_init = number != 0;
      } else if (option == "eps1") {
        o.eps1 = number;
      } else if (option == "eps2") {
        o.eps2 = number;
      } else {
        ADD_FAILURE() << "unknown option " << option;
      }
    } else if (key == "layers") {
      std::string shape;
      while (fields >> shape) {
        const size_t cross = shape.find('x');
        ref.options.layers.push_back({std::stoll(shape.substr(0, cross)),
                                      std::stoll(shape.substr(cross + 1))});
      }
    } else if (key == "steps") {
      fields >> ref.steps;
    } else if (key == "a") {
      ref.a = ReadValues(fields);
    } else if (key == "b") {
      ref.b = ReadValues(fields);
    } else if (key == "x0") {
      ref.x0 = ReadValues(fields);
    } else if (key == "x") {
      int64_t step;
      fields >> step;
      ref.x[step] = ReadValues(fields);
    }
  }
  return ref;
}

// gen_adafactor.py's gradient at step t: a * (x - s_t b), in double.
std::vector<double> DriftingGradient(const Reference& ref,
                                     const std::vector<double>& x,
                                     int64_t step) {
  const double s = 1.0 + 0.5 * (static_cast<double>((step % 7) - 3) / 3.0);
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = ref.a[i] * (x[i] - ref.b[i] * s);
  }
  return g;
}

std::vector<double> Point(const Solver& solver) {
  std::vector<double> x(static_cast<size_t>(solver.dimension()));
  EXPECT_TRUE(solver
                  .ReadTrialPoint(MutableVectorView::Float64(
                      x.data(), static_cast<int64_t>(x.size())))
                  .ok());
  return x;
}

void TellGradient(Solver& solver, const std::vector<double>& g) {
  ASSERT_TRUE(solver
                  .SetTrialGradient(ConstVectorView::Float64(
                      g.data(), static_cast<int64_t>(g.size())))
                  .ok());
  TrialResult result;
  result.has_gradient = true;
  ASSERT_TRUE(solver.Tell(result).ok());
}

// The largest |x_i - ref_i| / max(|ref_i|, 1) over a record.
double MaxError(const std::vector<double>& x, const std::vector<double>& ref) {
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(
        worst, std::fabs(x[i] - ref[i]) / std::max(std::fabs(ref[i]), 1.0));
  }
  return worst;
}

class AdafactorReference : public ::testing::TestWithParam<std::string> {};

// 500 steps of each option set against the numpy re-implementation of
// transformers' Adafactor. Not bitwise (gen_adafactor.py: numpy's pairwise
// means and twice-rounded add_(alpha) against optd's double sums and fmas).
// Measured on this machine, the largest relative difference over the five
// records of a run is 2 ulps of float32 (2.4e-7) and 3 ulps of float64
// (6.2e-16); the tolerance is 16 ulps of the dtype. Changing decay_rate by
// 0.01 or clip_threshold by 1% moves the runs by 5.7e-5 to 2.6e-2, so the
// comparison sees any change of the algorithm.
TEST_P(AdafactorReference, FollowsTransformersTrajectory) {
  const Reference ref = LoadReference(GetParam());
  ASSERT_EQ(ref.a.size(), ref.x0.size());
  ASSERT_EQ(ref.x.size(), 5u);
  const bool f32 = ref.options.dtype == ScalarType::kFloat32;
  const double tolerance = f32 ? 16 * 0x1p-23 : 16 * 0x1p-52;
  auto solver = Adafactor::Create(
      ref.options, ConstVectorView::Float64(
                       ref.x0.data(), static_cast<int64_t>(ref.x0.size())));
  ASSERT_TRUE(solver.ok()) << solver.status();
  double worst = 0.0;
  for (int64_t step = 1; step <= ref.steps; ++step) {
    TellGradient(**solver, DriftingGradient(ref, Point(**solver), step));
    auto record = ref.x.find(step);
    if (record == ref.x.end()) continue;
    const double error = MaxError(Point(**solver), record->second);
    worst = std::max(worst, error);
    EXPECT_LE(error, tolerance) << ref.name << " step " << step;
  }
  EXPECT_EQ((*solver)->step(), ref.steps);
  std::printf("%s: max relative difference to numpy %.3g (tolerance %.3g)\n",
              ref.name.c_str(), worst, tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Runs, AdafactorReference,
    ::testing::Values("defaults_f64.txt", "defaults_f32.txt",
                      "beta1_wd_lr_f64.txt", "beta1_wd_lr_f32.txt",
                      "warmup_clip_f64.txt", "warmup_clip_f32.txt",
                      "vector_only_f64.txt", "vector_only_f32.txt"));

// Layers over 36,124 elements (9 reduction blocks), so that K = 2, 3, 4 cut
// matrices inside rows: 12,288 = 93 * 131 + 105 (K = 3, 4) cuts row 93 of
// the first, 20,480 = 13,177 + 143 * 51 + 10 (K = 2, 4) row 143 of the
// third.
std::vector<AdafactorLayer> ShardedLayers() {
  return {{100, 131}, {77, 0}, {333, 51}, {1, 900}, {5000, 0}, {64, 1}};
}

int64_t Size(const std::vector<AdafactorLayer>& layers) {
  int64_t n = 0;
  for (const AdafactorLayer& layer : layers) n += layer.size();
  return n;
}

std::vector<double> Start(int64_t n) {
  std::vector<double> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = std::sin(0.37 * i) + 0.1;
  return x;
}

// A gradient with rows and columns of very different scales, so that the
// factored statistics matter.
std::vector<double> TestGradient(const std::vector<double>& x, int64_t step) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = (x[i] - std::cos(0.01 * i)) * (1.0 + (i % 97) * 0.3) +
           1e-3 * static_cast<double>((i * 7 + step) % 13);
  }
  return g;
}

std::vector<double> RunSteps(const AdafactorOptions& options, int shards,
                             int steps) {
  const std::vector<double> x0 = Start(Size(options.layers));
  auto solver = Adafactor::Create(
      options,
      ConstVectorView::Float64(x0.data(), static_cast<int64_t>(x0.size())),
      shards);
  EXPECT_TRUE(solver.ok()) << solver.status();
  for (int step = 1; step <= steps; ++step) {
    TellGradient(**solver, TestGradient(Point(**solver), step));
  }
  return Point(**solver);
}

TEST(Adafactor, ShardedStepsAreBitwiseTheSameForEveryK) {
  for (const ScalarType dtype : {ScalarType::kFloat64, ScalarType::kFloat32}) {
    AdafactorOptions options;
    options.dtype = dtype;
    options.layers = ShardedLayers();
    options.beta1 = 0.9;
    options.weight_decay = 0.01;
    ASSERT_GT(Size(options.layers), 7 * kReductionBlock);
    const std::vector<double> one = RunSteps(options, 1, 20);
    EXPECT_NE(one, Start(Size(options.layers)));
    for (int k = 2; k <= 4; ++k) {
      const std::vector<double> sharded = RunSteps(options, k, 20);
      // Bitwise: compare the bytes, NaN or not.
      EXPECT_EQ(
          std::memcmp(one.data(), sharded.data(), one.size() * sizeof(double)),
          0)
          << "K = " << k << (dtype == ScalarType::kFloat32 ? " f32" : " f64");
    }
  }
}

TEST(Adafactor, CheckpointRestoresIntoAnyShardCount) {
  AdafactorOptions options;
  options.layers = ShardedLayers();
  options.beta1 = 0.8;
  const std::vector<double> x0 = Start(Size(options.layers));
  const ConstVectorView x0_view =
      ConstVectorView::Float64(x0.data(), static_cast<int64_t>(x0.size()));
  auto first = Adafactor::Create(options, x0_view, 3);
  ASSERT_TRUE(first.ok());
  for (int step = 1; step <= 7; ++step) {
    TellGradient(**first, TestGradient(Point(**first), step));
  }
  std::string state;
  ASSERT_TRUE((*first)->SaveState(&state).ok());
  EXPECT_EQ(static_cast<int64_t>(state.size()), (*first)->StateBytes());
  for (int step = 8; step <= 15; ++step) {
    TellGradient(**first, TestGradient(Point(**first), step));
  }
  for (int k : {1, 2, 4}) {
    auto restored = Adafactor::Create(options, x0_view, k);
    ASSERT_TRUE(restored.ok());
    ASSERT_TRUE((*restored)->RestoreState(state).ok());
    EXPECT_EQ((*restored)->step(), 7);
    for (int step = 8; step <= 15; ++step) {
      TellGradient(**restored, TestGradient(Point(**restored), step));
    }
    EXPECT_EQ(Point(**restored), Point(**first)) << "K = " << k;
  }
}

TEST(Adafactor, StateIsFactoredForMatrices) {
  // A 1024 x 1024 matrix keeps x and 2048 statistics (no beta1), where Adam
  // keeps 3n.
  AdafactorOptions options;
  options.layers = {{1024, 1024}};
  const std::vector<double> x0(1024 * 1024, 0.5);
  auto solver = Adafactor::Create(
      options,
      ConstVectorView::Float64(x0.data(), static_cast<int64_t>(x0.size())));
  ASSERT_TRUE(solver.ok());
  std::string state;
  ASSERT_TRUE((*solver)->SaveState(&state).ok());
  const int64_t head = (*solver)->StateBytes() - (1024 * 1024 + 2048) * 8;
  EXPECT_GT(head, 0);
  EXPECT_LT(head, 100);
}

TEST(Adafactor, FailedTellTakesNoStepAndMaxStepsFinishes) {
  AdafactorOptions options;
  options.max_steps = 2;
  const std::vector<double> x0 = {1.0, -2.0, 3.0};
  auto solver =
      Adafactor::Create(options, ConstVectorView::Float64(x0.data(), 3));
  ASSERT_TRUE(solver.ok());
  TrialResult failed;
  failed.failed = true;
  ASSERT_TRUE((*solver)->Tell(failed).ok());
  EXPECT_EQ((*solver)->step(), 0);
  EXPECT_EQ(Point(**solver), x0);
  TellGradient(**solver, {1.0, 1.0, 1.0});
  EXPECT_FALSE((*solver)->finished());
  TellGradient(**solver, {1.0, 1.0, 1.0});
  EXPECT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kMaxSteps);
  EXPECT_EQ((*solver)->summary().failed_evaluations, 1);
  EXPECT_THAT(
      (*solver)->SetTrialGradient(ConstVectorView::Float64(x0.data(), 3)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "the session has finished"));
}

TEST(Adafactor, RefusesGroupLearningRatesAndBadGradients) {
  AdafactorOptions options;
  const std::vector<double> x0 = {1.0, 2.0};
  auto solver =
      Adafactor::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_TRUE(solver.ok());
  TrialResult result;
  result.has_gradient = true;
  result.learning_rates = {0.1};
  EXPECT_THAT((*solver)->Tell(result),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("group_lr is not supported by adafactor")));
  const std::vector<double> bad = {1.0, NAN};
  EXPECT_THAT(
      (*solver)->SetTrialGradient(ConstVectorView::Float64(bad.data(), 2)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient[1] is nan")));
  const std::vector<double> big = {1e300, 0.0};
  options.dtype = ScalarType::kFloat32;
  auto f32 = Adafactor::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_TRUE(f32.ok());
  EXPECT_THAT((*f32)->SetTrialGradient(ConstVectorView::Float64(big.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("overflows the session's float32 state")));
  EXPECT_THAT(
      (*solver)->SetTrialGradient(ConstVectorView::Float64(bad.data(), 1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "gradient has 1 elements; the session has dimension 2"));
}

TEST(Adafactor, RestoreRefusesBadStates) {
  AdafactorOptions options;
  options.layers = {{2, 2}, {1, 0}};
  const std::vector<double> x0 = {1, 2, 3, 4, 5};
  const ConstVectorView view = ConstVectorView::Float64(x0.data(), 5);
  auto source = Adafactor::Create(options, view);
  ASSERT_TRUE(source.ok());
  TellGradient(**source, {1, 2, 3, 4, 5});
  std::string state;
  ASSERT_TRUE((*source)->SaveState(&state).ok());
  auto fresh = [&] {
    return std::move(Adafactor::Create(options, view).value());
  };
  EXPECT_THAT(fresh()->RestoreState("optd.adam.v1"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the state is not an optd.adafactor.v1 state"));
  EXPECT_THAT(fresh()->RestoreState(state.substr(0, state.size() - 8)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a session of this dimension, layers and "
                                 "options has")));
  // x (5 doubles), v (1), then R (2) and C (2): make R[0] negative.
  std::string negative = state;
  const double minus = -1.0;
  std::memcpy(&negative[state.size() - 4 * 8], &minus, 8);
  EXPECT_THAT(fresh()->RestoreState(negative),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the state's row and column statistics[0] is -1; it "
                       "is finite and >= 0"));
  std::string infinite = state;
  const double inf = INFINITY;
  std::memcpy(&infinite[state.size() - 10 * 8], &inf, 8);
  EXPECT_THAT(fresh()->RestoreState(infinite),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the state's x[0] is inf; it is finite"));
  // With beta1: x (5), m (5), v, R, C; make m[0] NaN.
  AdafactorOptions with_m = options;
  with_m.beta1 = 0.9;
  auto moment = Adafactor::Create(with_m, view);
  ASSERT_TRUE(moment.ok());
  std::string m_state;
  ASSERT_TRUE((*moment)->SaveState(&m_state).ok());
  const double nan = NAN;
  std::memcpy(&m_state[m_state.size() - 10 * 8], &nan, 8);
  EXPECT_THAT(Adafactor::Create(with_m, view).value()->RestoreState(m_state),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the state's m[0] is nan; it is finite"));
  auto told = fresh();
  TellGradient(*told, {1, 1, 1, 1, 1});
  EXPECT_THAT(told->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("told nothing yet")));
}

TEST(AdafactorOptions, ValidateNamesFieldValueAndRange) {
  auto check = [](auto tweak, const std::string& message) {
    AdafactorOptions options;
    tweak(options);
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument, message));
  };
  check(
      [](auto& o) {
        o.relative_step = false;
        o.lr = 0.0;
      },
      "adafactor.lr is 0; it must be in (0, inf)");
  check([](auto& o) { o.eps1 = 0.0; },
        "adafactor.eps1 is 0; it must be in (0, inf)");
  check([](auto& o) { o.eps2 = -1.0; },
        "adafactor.eps2 is -1; it must be in [0, inf)");
  check([](auto& o) { o.clip_threshold = 0.0; },
        "adafactor.clip_threshold is 0; it must be in (0, inf)");
  check([](auto& o) { o.decay_rate = 0.5; },
        "adafactor.decay_rate is 0.5; it must be in [-100, 0]");
  check([](auto& o) { o.beta1 = 1.0; },
        "adafactor.beta1 is 1; it must be in [0, 1)");
  check([](auto& o) { o.weight_decay = INFINITY; },
        "adafactor.weight_decay is inf; it must be in [0, inf)");
  check([](auto& o) { o.max_steps = -1; },
        "adafactor.max_steps is -1; it must be in [0, 2^53]");
  check([](auto& o) { o.lr = 0.1; },
        "adafactor.lr is set and adafactor.relative_step is true; a manual "
        "lr needs relative_step false (transformers: \"Cannot combine manual "
        "`lr` and `relative_step=True` options\")");
  check(
      [](auto& o) {
        o.relative_step = false;
        o.lr = 0.1;
        o.warmup_init = true;
      },
      "adafactor.warmup_init is true and adafactor.relative_step is false; "
      "warmup_init needs relative_step true");
  check([](auto& o) { o.relative_step = false; },
        "adafactor.lr is unset and adafactor.relative_step is false; set an "
        "lr or leave relative_step true");
  AdafactorOptions fine;
  EXPECT_TRUE(fine.Validate().ok());
}

TEST(AdafactorOptions, ValidateLayersNamesTheLayerAndLimit) {
  auto check = [](std::vector<AdafactorLayer> layers, int64_t n,
                  const std::string& message) {
    AdafactorOptions options;
    options.layers = std::move(layers);
    EXPECT_THAT(options.ValidateLayers(n),
                StatusIs(absl::StatusCode::kInvalidArgument, message));
  };
  check({{2, 3}, {0, 1}}, 7, "layers[1].rows is 0; it must be in [1, 2^53]");
  check({{2, -3}}, 6,
        "layers[0].cols is -3; it must be in [0, 2^53] (0: a vector)");
  check({{2, 3}, {4, 0}}, 7,
        "layers[1] (4 x 0) ends past the session's dimension 7 (layers before "
        "it cover 6 elements)");
  check({{int64_t{1} << 40, int64_t{1} << 40}}, 10,
        "layers[0] (1099511627776 x 1099511627776) ends past the session's "
        "dimension 10 (layers before it cover 0 elements)");
  check({{2, 3}}, 7, "layers cover 6 elements; the session has dimension 7");
  AdafactorOptions many;
  many.layers.assign(kMaxAdafactorLayers + 1, {1, 0});
  EXPECT_THAT(many.ValidateLayers(kMaxAdafactorLayers + 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "layers has 1048577 entries; at most 1048576 are "
                       "allowed"));
  AdafactorOptions fine;
  fine.layers = {{2, 3}, {1, 0}, {1, 1}};
  EXPECT_TRUE(fine.ValidateLayers(8).ok());
  EXPECT_TRUE(AdafactorOptions().ValidateLayers(5).ok());
  // Create checks both.
  const std::vector<double> x0(7, 1.0);
  fine.layers = {{2, 3}};
  EXPECT_THAT(Adafactor::Create(fine, ConstVectorView::Float64(x0.data(), 7)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "layers cover 6 elements; the session has dimension 7"));
  const std::vector<double> bad = {1.0, NAN};
  EXPECT_THAT(Adafactor::Create(AdafactorOptions(),
                                ConstVectorView::Float64(bad.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "x0[1] is nan; every element must be finite"));
}

}  // namespace
}  // namespace optd
