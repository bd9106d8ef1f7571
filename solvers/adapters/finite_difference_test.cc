#include "solvers/adapters/finite_difference.h"

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/core/bounds.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/batch_fixtures.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::Eigen::VectorXd;
using ::optd::testing::BatchRun;
using ::optd::testing::DriveBatches;
using ::optd::testing::Evaluate;
using ::optd::testing::ExpectBitwiseEqual;
using ::optd::testing::FiniteDifferenceGradients;
using ::optd::testing::LbfgsAt;
using ::optd::testing::ObjectiveFn;
using ::optd::testing::Problem;
using ::optd::testing::Quadratic;
using ::optd::testing::Result;
using ::optd::testing::ScaledError;
using ::optd::testing::ScriptedSolver;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(FiniteDifferences, CentralGradientMatchesAnalyticOnMghAndQuadratics) {
  for (const std::string name :
       {"rosenbrock", "beale", "helical_valley", "wood", "powell_singular"}) {
    const problems::TestProblem p = Problem(name);
    // The standard start, and a point scaled away from it (|x_i| > 1 and < 1).
    const std::vector<VectorXd> points = {p.x0, 0.37 * p.x0,
                                          p.x0 + VectorXd::Constant(p.n, 2.5)};
    const std::vector<VectorXd> fd =
        FiniteDifferenceGradients(points, p.evaluate);
    ASSERT_EQ(fd.size(), points.size());
    for (size_t t = 0; t < points.size(); ++t) {
      VectorXd g;
      p.evaluate(points[t], &g);
      EXPECT_LT(ScaledError(fd[t], g), 1e-9) << name << " point " << t;
    }
  }
  // Central differences of a quadratic have no truncation error.
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.3, -1.7, 12.0, 0.0).finished();
  const std::vector<VectorXd> fd = FiniteDifferenceGradients({x}, q);
  VectorXd g;
  q(x, &g);
  EXPECT_LT(ScaledError(fd[0], g), 1e-9);
}

TEST(FiniteDifferences, BatchIsTheCenterThenTwoPointsPerCoordinate) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  BatchRun run;
  FiniteDifferenceGradients({x}, q, {}, Bounds::Unbounded(4), &run);
  ASSERT_EQ(run.batch_sizes, std::vector<int>{9});
  EXPECT_EQ(run.points[0], x);
  // scipy's default step cbrt(eps) * max(1, |x_i|), x - h then x + h.
  const double rel = std::cbrt(std::numeric_limits<double>::epsilon());
  for (int i = 0; i < 4; ++i) {
    const double h = rel * std::max(1.0, std::abs(x[i]));
    const VectorXd& minus = run.points[1 + 2 * i];
    const VectorXd& plus = run.points[2 + 2 * i];
    EXPECT_DOUBLE_EQ(minus[i], x[i] - h);
    EXPECT_DOUBLE_EQ(plus[i], x[i] + h);
    for (int j = 0; j < 4; ++j) {
      if (j == i) continue;
      EXPECT_EQ(minus[j], x[j]);
      EXPECT_EQ(plus[j], x[j]);
    }
  }
}

TEST(FiniteDifferences,
     LbfgsReachesMghMinimaWithAboutTwoNPlusOneTimesTheTells) {
  for (const std::string name :
       {"rosenbrock", "beale", "helical_valley", "wood", "powell_singular",
        "box_3d", "brown_dennis"}) {
    const problems::TestProblem p = Problem(name);
    std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
    const testing::DriveResult reference =
        testing::Drive(*plain, {p.evaluate, nullptr});
    ASSERT_TRUE(reference.finished);

    std::unique_ptr<Solver> inner = LbfgsAt(p.x0);
    const Solver* lbfgs = inner.get();
    auto solver =
        WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(p.n));
    ASSERT_TRUE(solver.ok()) << solver.status();
    const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
    ASSERT_TRUE(run.finished) << name;
    EXPECT_TRUE(run.summary.success()) << name << ": " << run.summary.message;
    // Where L-BFGS with exact gradients reaches the known minimum, so does
    // it with central differences; where it stops short (wood at the
    // stationary value 7.87697, powell_singular, as scipy 1.10 does), both
    // stop at the same value.
    const double tolerance =
        std::max(p.f_tolerance, 1e-6 * std::abs(reference.summary.value));
    EXPECT_NEAR(run.summary.value, reference.summary.value, tolerance) << name;
    if (std::abs(reference.summary.value - p.f_min) <= p.f_tolerance) {
      EXPECT_NEAR(run.summary.value, p.f_min, p.f_tolerance) << name;
    }
    // Every inner evaluation was one batch of 2n + 1 values.
    const int64_t inner_evaluations = lbfgs->summary().evaluations;
    EXPECT_EQ(run.summary.evaluations, (2 * p.n + 1) * inner_evaluations);
    EXPECT_EQ((*solver)->progress().evaluations, run.summary.evaluations);
    EXPECT_EQ(run.summary.iterations, lbfgs->summary().iterations);
    // ... and the run took about as many iterations as with exact gradients.
    const double ratio = static_cast<double>(inner_evaluations) /
                         static_cast<double>(reference.summary.evaluations);
    EXPECT_GT(ratio, 0.7) << name;
    EXPECT_LT(ratio, 1.4) << name;
  }
}

TEST(FiniteDifferences, ShuffledTellOrderGivesBitwiseTheSameIterates) {
  const problems::TestProblem p = Problem("wood");
  auto in_order =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  auto shuffled =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(in_order.ok() && shuffled.ok());
  std::mt19937 rng(7);
  const BatchRun a = DriveBatches(**in_order, Evaluate(p.evaluate));
  const BatchRun b = DriveBatches(**shuffled, Evaluate(p.evaluate), &rng);
  ASSERT_TRUE(a.finished && b.finished);
  ExpectBitwiseEqual(a.points, b.points);
  ExpectBitwiseEqual({a.x}, {b.x});
  EXPECT_EQ(a.summary.evaluations, b.summary.evaluations);
}

TEST(FiniteDifferences, ForwardSchemeUsesNPlusOneTrials) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 20.0).finished();
  FiniteDifferenceOptions options;
  options.scheme = FiniteDifferenceScheme::kForward;
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, options, Bounds::Unbounded(4), &run);
  ASSERT_EQ(run.batch_sizes, std::vector<int>{5});
  // The step follows the sign of x_i (scipy's `_compute_absolute_step`).
  const double rel = std::sqrt(std::numeric_limits<double>::epsilon());
  for (int i = 0; i < 4; ++i) {
    const double h = rel * (x[i] >= 0 ? 1 : -1) * std::max(1.0, std::abs(x[i]));
    EXPECT_DOUBLE_EQ(run.points[1 + i][i], x[i] + h);
  }
  // Error O(h): the forward difference of a quadratic is g_i + h A_ii / 2,
  // with the step actually used.
  VectorXd g;
  q(x, &g);
  for (int i = 0; i < 4; ++i) {
    const double h = run.points[1 + i][i] - x[i];
    EXPECT_NEAR(fd[0][i], g[i] + 0.5 * h * q.a(i, i), 1e-6 * std::abs(g[i]));
  }
  EXPECT_GT(ScaledError(fd[0], g), 1e-12);  // not central by accident

  const problems::TestProblem p = Problem("rosenbrock");
  auto solver =
      WithFiniteDifferences(LbfgsAt(p.x0), options, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  const BatchRun rosenbrock = DriveBatches(**solver, Evaluate(p.evaluate));
  ASSERT_TRUE(rosenbrock.finished);
  EXPECT_NEAR(rosenbrock.summary.value, 0.0, 1e-6);
  for (int size : rosenbrock.batch_sizes) EXPECT_EQ(size, p.n + 1);
}

TEST(FiniteDifferences, ValueTrialsPassThroughAndHessiansAreRefused) {
  const VectorXd x = VectorXd::Ones(3);
  auto inner = std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x, x},
                                                Evaluation::kValue);
  ScriptedSolver* scripted = inner.get();
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(3));
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(
      **solver,
      Evaluate([](const VectorXd& v, VectorXd*) { return v.squaredNorm(); }));
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{1, 1}));
  ASSERT_EQ(scripted->told().size(), 2u);
  EXPECT_EQ(scripted->told()[0].result.value, 3.0);

  for (Evaluation wants : {Evaluation::kHessian, Evaluation::kHessianVector}) {
    EXPECT_THAT(
        WithFiniteDifferences(
            std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x}, wants),
            {}, Bounds::Unbounded(3)),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Hessians")));
  }
}

TEST(FiniteDifferences, ValidateNamesTheFieldAndTheRange) {
  for (double step : {0.0, -1e-3, 0.2, kInf}) {
    FiniteDifferenceOptions options;
    options.relative_step = step;
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("finite_difference.relative_step"),
                               HasSubstr("(0, 0.1]"))));
    EXPECT_THAT(WithFiniteDifferences(LbfgsAt(VectorXd::Ones(2)), options,
                                      Bounds::Unbounded(2)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  FiniteDifferenceOptions fine;
  fine.relative_step = 0.1;
  EXPECT_TRUE(fine.Validate().ok());
  EXPECT_THAT(
      WithFiniteDifferences(LbfgsAt(VectorXd::Ones(2)), {},
                            Bounds::Unbounded(3)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dimension 2")));
  EXPECT_THAT(WithFiniteDifferences(nullptr, {}, Bounds::Unbounded(3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FiniteDifferences, ForwardsCountsReportsAndIsReplayed) {
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  EXPECT_EQ(s.name(), "lbfgs");
  EXPECT_EQ(s.dimension(), 2);
  EXPECT_EQ(s.StateBytes(), 0);
  std::string state;
  EXPECT_THAT(s.SaveState(&state), StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(s.OptionsReport(), HasSubstr("finite differences: central"));
  // Trial errors: a stencil trial takes no gradient, a told trial no tell.
  const double g[2] = {1, 2};
  EXPECT_THAT(s.SetBatchGradient(1, ConstVectorView::Float64(g, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(s.TellBatch(2, Result(1.0)).ok());
  EXPECT_TRUE(s.batch_told(2));
  EXPECT_THAT(s.TellBatch(2, Result(1.0)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(s.TellBatch(5, Result(1.0)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(s.progress().evaluations, 1);
  EXPECT_EQ(s.progress().iterations, 0);
  s.Stop();
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.summary().reason, TerminationReason::kStoppedByClient);
  EXPECT_EQ(s.summary().evaluations, 1);
  EXPECT_THAT(s.summary().options_report, HasSubstr("finite differences"));
}

}  // namespace
}  // namespace optd
