// Every solver that takes bounds, on boxes at the edges of double: bounds in
// or near the subnormal range, widths as large as double allows, widths of
// zero and of one ulp, x0 on a bound and outside it by a subnormal amount.
// Whatever the box, every trial point must be finite and inside it, and the
// run must end with a summary. (session_requests_fuzzer checks the same
// through the server; a mutated seed with a subnormal lower bound is what
// first showed a NaN trial point, issue 17.)
#include <cfloat>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/core/bounds.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/lbfgsb/lbfgsb.h"
#include "common/status_macros.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/bounds_testing.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

using ::optd::testing::kInf;
using ::optd::testing::MakeBounds;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kTrueMin = 4.9406564584124654e-324;  // smallest subnormal
constexpr double kMinNormal = DBL_MIN;                // 2.2250738585072014e-308

// The same interval on every coordinate; x0 mixes points on the bounds,
// inside, and outside (projected by the solver).
struct EdgeBox {
  std::string name;
  double lower, upper;
  std::vector<double> x0;
};

std::vector<EdgeBox> EdgeBoxes() {
  const double next_max = std::nextafter(DBL_MAX, 0.0);
  return {
      {"subnormal_lower_5.6e-317", 5.6e-317, 0.5, {1.0, 5.6e-317, 0.0, 0.25}},
      {"true_min_lower", kTrueMin, 0.5, {1.0, kTrueMin, 0.0, 0.25}},
      {"plus_minus_true_min", -kTrueMin, kTrueMin, {1.0, kTrueMin, -kTrueMin}},
      {"min_normal_lower", kMinNormal, 1.0, {kMinNormal, 0.0, 0.5, 2.0}},
      {"plus_minus_min_normal", -kMinNormal, kMinNormal, {0.0, 1.0, -1.0}},
      {"plus_minus_1e308", -1e308, 1e308, {0.0, 1e308, -1e308, 1.0}},
      {"plus_minus_dbl_max",
       -DBL_MAX,
       DBL_MAX,
       {0.0, DBL_MAX, -DBL_MAX, 1e300}},
      {"lower_dbl_max_only", -DBL_MAX, kInf, {-DBL_MAX, 0.0, DBL_MAX}},
      {"upper_dbl_max_only", -kInf, DBL_MAX, {DBL_MAX, 0.0, -DBL_MAX}},
      {"fixed_at_0.3", 0.3, 0.3, {0.3, 0.0, 1.0}},
      {"fixed_at_true_min", kTrueMin, kTrueMin, {kTrueMin, 0.0, 1.0}},
      {"fixed_at_dbl_max", DBL_MAX, DBL_MAX, {DBL_MAX, 0.0}},
      {"one_ulp_at_0.3", 0.3, std::nextafter(0.3, 1.0), {0.3, 0.0, 1.0}},
      {"one_ulp_at_true_min", kTrueMin, 2 * kTrueMin, {kTrueMin, 0.0, 1.0}},
      {"one_ulp_at_zero", 0.0, kTrueMin, {0.0, -1.0, 1.0}},
      {"one_ulp_at_1e300", 1e300, std::nextafter(1e300, kInf), {1e300, 0.0}},
      {"one_ulp_below_dbl_max", next_max, DBL_MAX, {DBL_MAX, 0.0}},
      {"one_ulp_above_minus_dbl_max", -DBL_MAX, -next_max, {-DBL_MAX, 0.0}},
      {"x0_below_by_true_min", kTrueMin, 1.0, {0.0, -kTrueMin}},
      {"x0_above_by_true_min", -1.0, -kTrueMin, {0.0, kTrueMin}},
  };
}

// f(x) = scale sum_i (x_i - center)^2 + wave sum_i sin(x_i): the fuzz
// harness's objective. Non-finite values are told as failed evaluations.
struct EdgeObjective {
  std::string name;
  double scale, center, wave;
};

std::vector<EdgeObjective> EdgeObjectives() {
  return {
      {"quadratic_beyond_upper", 1.0, 3.0, 0.5},
      {"quadratic_beyond_lower", 1.0, -3.0, 0.5},
      {"quadratic_at_zero", 1.0, 0.0, 0.0},
      {"tiny_gradients", 1e-300, 0.25, 0.0},
      {"huge_gradients", 1e300, 0.0, 0.0},
      {"center_1e150", 1.0, 1e150, 0.0},
      {"center_1e308", 0.25, 1e308, 0.0},
  };
}

testing::Objective MakeObjective(const EdgeObjective& o) {
  return {[o](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
            double f = 0.0;
            for (Eigen::Index i = 0; i < x.size(); ++i) {
              f += o.scale * (x[i] - o.center) * (x[i] - o.center) +
                   o.wave * std::sin(x[i]);
              if (g != nullptr) {
                (*g)[i] =
                    2 * o.scale * (x[i] - o.center) + o.wave * std::cos(x[i]);
              }
            }
            return f;
          },
          nullptr};
}

using SolverFactory = std::function<absl::StatusOr<std::unique_ptr<Solver>>(
    const std::vector<double>& x0, const Bounds& box)>;

struct NamedSolver {
  std::string name;
  SolverFactory make;
};

ConstVectorView View(const std::vector<double>& x) {
  return ConstVectorView::Float64(x.data(), static_cast<int64_t>(x.size()));
}

absl::StatusOr<std::unique_ptr<Solver>> MakeLbfgsB(
    const std::vector<double>& x0, const Bounds& box, double gtol) {
  LbfgsOptions options;
  options.gtol = gtol;
  options.max_iterations = 40;
  OPTD_ASSIGN_OR_RETURN(auto solver, LbfgsB::Create(options, View(x0), box));
  return std::unique_ptr<Solver>(std::move(solver));
}

absl::StatusOr<std::unique_ptr<Solver>> MakeAdam(const std::vector<double>& x0,
                                                 const Bounds& box, bool adamw,
                                                 ScalarType dtype,
                                                 double lr = 0.1,
                                                 double eps = 1e-8) {
  AdamOptions options = adamw ? AdamOptions::AdamW() : AdamOptions();
  options.lr = lr;
  options.hyper.eps = eps;
  options.dtype = dtype;
  options.max_steps = 40;
  OPTD_ASSIGN_OR_RETURN(auto solver, Adam::Create(options, View(x0), box));
  return std::unique_ptr<Solver>(std::move(solver));
}

absl::StatusOr<std::unique_ptr<Solver>> MakeTrustRegion(
    const std::vector<double>& x0, const Bounds& box,
    QuasiNewtonUpdate update) {
  TrustRegionOptions options;
  options.quasi_newton_update = update;
  options.memory = 4;
  options.max_iterations = 40;
  OPTD_ASSIGN_OR_RETURN(auto solver,
                        TrustRegion::Create(options, View(x0), box));
  return std::unique_ptr<Solver>(std::move(solver));
}

std::vector<NamedSolver> BoundedSolvers() {
  std::vector<NamedSolver> out = {
      {"lbfgsb", [](auto& x0, auto& box) { return MakeLbfgsB(x0, box, 1e-5); }},
      {"lbfgsb_gtol_0",
       [](auto& x0, auto& box) { return MakeLbfgsB(x0, box, 0.0); }},
      {"tr_lsr1",
       [](auto& x0, auto& box) {
         return MakeTrustRegion(x0, box, QuasiNewtonUpdate::kLsr1);
       }},
      {"tr_lbfgs",
       [](auto& x0, auto& box) {
         return MakeTrustRegion(x0, box, QuasiNewtonUpdate::kLbfgs);
       }},
  };
  for (bool adamw : {false, true}) {
    for (ScalarType dtype : {ScalarType::kFloat64, ScalarType::kFloat32}) {
      out.push_back(
          {absl::StrCat(adamw ? "adamw" : "adam",
                        dtype == ScalarType::kFloat32 ? "_float32" : ""),
           [adamw, dtype](auto& x0, auto& box) {
             return MakeAdam(x0, box, adamw, dtype);
           }});
    }
  }
  // Steps that are not finite: issue 17's lr (1 - lr * wd = -inf in
  // float32), and eps = 0 (0 / 0 where a gradient is 0).
  out.push_back({"adamw_float32_lr_4.7e49", [](auto& x0, auto& box) {
                   return MakeAdam(x0, box, true, ScalarType::kFloat32,
                                   4.658537807036965e+49);
                 }});
  out.push_back({"adam_eps_0", [](auto& x0, auto& box) {
                   return MakeAdam(x0, box, false, ScalarType::kFloat64, 0.1,
                                   0.0);
                 }});
  // The batch adapters around the solvers above.
  const std::vector<NamedSolver> plain = out;
  for (const NamedSolver& inner : plain) {
    if (inner.name.rfind("adam", 0) != 0) {
      for (FiniteDifferenceScheme scheme : {FiniteDifferenceScheme::kCentral,
                                            FiniteDifferenceScheme::kForward}) {
        out.push_back(
            {absl::StrCat(inner.name, "+fd_",
                          scheme == FiniteDifferenceScheme::kCentral
                              ? "central"
                              : "forward"),
             [inner, scheme](auto& x0, auto& box)
                 -> absl::StatusOr<std::unique_ptr<Solver>> {
               OPTD_ASSIGN_OR_RETURN(auto solver, inner.make(x0, box));
               FiniteDifferenceOptions options;
               options.scheme = scheme;
               return WithFiniteDifferences(std::move(solver), options, box);
             }});
      }
    }
    out.push_back({absl::StrCat(inner.name, "+data_parallel"),
                   [inner](auto& x0, auto& box)
                       -> absl::StatusOr<std::unique_ptr<Solver>> {
                     OPTD_ASSIGN_OR_RETURN(auto solver, inner.make(x0, box));
                     return WithDataParallel(std::move(solver), 3);
                   }});
  }
  return out;
}

// Whether some float32 lies in [lower, upper].
bool BoxHoldsAFloat(double lower, double upper) {
  float inside = static_cast<float>(lower);
  if (inside < lower) inside = std::nextafter(inside, INFINITY);
  return inside <= upper;
}

TEST(BoundsEdge, EveryTrialIsFiniteAndInTheBoxAndTheRunEndsWithASummary) {
  for (const EdgeBox& edge : EdgeBoxes()) {
    const int64_t n = static_cast<int64_t>(edge.x0.size());
    const Bounds box = MakeBounds(std::vector<double>(n, edge.lower),
                                  std::vector<double>(n, edge.upper));
    for (const NamedSolver& named : BoundedSolvers()) {
      const bool float32 = named.name.find("float32") != std::string::npos;
      const bool adam = named.name.rfind("adam", 0) == 0;
      for (const EdgeObjective& objective : EdgeObjectives()) {
        SCOPED_TRACE(
            absl::StrCat(edge.name, " ", named.name, " ", objective.name));
        absl::StatusOr<std::unique_ptr<Solver>> solver =
            named.make(edge.x0, box);
        if (!solver.ok() && float32) {
          // A finite bound beyond float32's range (adam.h).
          EXPECT_THAT(solver.status(),
                      StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("float32")));
          continue;
        }
        ASSERT_OK(solver);
        testing::DriveOptions drive;
        drive.record_trials = true;
        drive.max_tells = 5000;
        const testing::DriveResult run =
            testing::Drive(**solver, MakeObjective(objective), drive);
        // Adam has no evaluation limit: a gradient that keeps failing (it
        // overflows) keeps it at its point until the client stops it.
        if (!run.finished && adam) (*solver)->Stop();
        ASSERT_TRUE((*solver)->finished());
        const Summary& summary = (*solver)->summary();
        EXPECT_NE(summary.reason, TerminationReason::kNone);
        EXPECT_FALSE(summary.message.empty());
        for (size_t t = 0; t < run.trials.size(); ++t) {
          const Eigen::VectorXd& x = run.trials[t];
          for (int64_t i = 0; i < n; ++i) {
            ASSERT_TRUE(std::isfinite(x[i]));
            // Where the box holds no float32, a float32 Adam keeps x_i at the
            // float32 nearest the lower bound (adam.h).
            if (float32 && x[i] == static_cast<float>(edge.lower) &&
                !BoxHoldsAFloat(edge.lower, edge.upper)) {
              continue;
            }
            ASSERT_TRUE(x[i] >= edge.lower && x[i] <= edge.upper)
                << "trial " << t << ": x[" << i << "] = " << x[i];
          }
        }
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_TRUE(std::isfinite(run.x[i])) << "final x[" << i << "]";
        }
      }
    }
  }
}

}  // namespace
}  // namespace optd
