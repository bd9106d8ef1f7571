// Stencil geometry (bounds, float32 steps) and the fallbacks for failed
// stencil values (finite_difference_stencil.h), through the finite-difference
// adapter that hands the stencil out.
#include "solvers/adapters/finite_difference_stencil.h"

#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/core/bounds.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/testing/batch_fixtures.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::Eigen::VectorXd;
using ::optd::testing::BatchRun;
using ::optd::testing::DriveBatches;
using ::optd::testing::Evaluate;
using ::optd::testing::FiniteDifferenceGradients;
using ::optd::testing::LbfgsAt;
using ::optd::testing::Outcome;
using ::optd::testing::Problem;
using ::optd::testing::Quadratic;
using ::optd::testing::ScaledError;
using ::optd::testing::ScriptedSolver;
using ::optd::testing::Told;
using ::optd::testing::WorkerFn;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(FiniteDifferences, StencilAtAnActiveBoundIsOneSidedAndStaysInTheBox) {
  const Quadratic q;
  // x_0 on its lower bound, x_1 on its upper bound, x_2 in a box narrower
  // than 2h, x_3 free.
  const VectorXd x = (VectorXd(4) << -1.0, 2.0, 0.3, 5.0).finished();
  const std::vector<double> lower = {-1.0, -kInf, 0.3 - 4e-6, -kInf};
  const std::vector<double> upper = {kInf, 2.0, 0.3 + 1e-6, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, {}, *box, &run);
  ASSERT_EQ(run.batch_sizes, std::vector<int>{9});
  for (const VectorXd& point : run.points) {
    EXPECT_TRUE(box->Contains(point.data())) << point.transpose();
  }
  const double h = std::cbrt(std::numeric_limits<double>::epsilon());
  // Coordinate 0: x + h, x + 2h (scipy's one-sided 3-point formula).
  EXPECT_DOUBLE_EQ(run.points[1][0], -1.0 + h);
  EXPECT_DOUBLE_EQ(run.points[2][0], -1.0 + 2 * h);
  // Coordinate 1: x - h, x - 2h, h = cbrt(eps) * 2.
  EXPECT_DOUBLE_EQ(run.points[3][1], 2.0 - 2 * h);
  EXPECT_DOUBLE_EQ(run.points[4][1], 2.0 - 4 * h);
  // Coordinate 2: the box is narrower than h on both sides; scipy takes the
  // larger side, h = min(h, dist / 2) = 2e-6, one-sided toward the lower
  // bound ... unless the nearer side allows a central stencil of that size.
  EXPECT_NEAR(run.points[5][2], 0.3 - 2e-6, 1e-15);
  EXPECT_NEAR(run.points[6][2], 0.3 - 4e-6, 1e-15);
  // The one-sided 3-point formula is exact for a quadratic too.
  VectorXd g;
  q(x, &g);
  EXPECT_LT(ScaledError(fd[0], g), 1e-8);
}

TEST(FiniteDifferences, NarrowBoxShrinksToACentralStencilOfTheDistance) {
  const Quadratic q;
  // Both sides 3e-6 < h: scipy's `adjusted_central` uses h = 3e-6 both ways.
  const VectorXd x = (VectorXd(4) << 1.0, 0.0, 0.0, 0.0).finished();
  const std::vector<double> lower = {1.0 - 3e-6, -kInf, 0.0, -kInf};
  const std::vector<double> upper = {1.0 + 3e-6, kInf, 0.0, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, {}, *box, &run);
  // Coordinate 2 has a box of zero width: no points, derivative 0.
  ASSERT_EQ(run.batch_sizes, std::vector<int>{7});
  EXPECT_NEAR(run.points[1][0], 1.0 - 3e-6, 1e-15);
  EXPECT_NEAR(run.points[2][0], 1.0 + 3e-6, 1e-15);
  for (const VectorXd& point : run.points) {
    EXPECT_TRUE(box->Contains(point.data())) << point.transpose();
  }
  VectorXd g;
  q(x, &g);
  EXPECT_NEAR(fd[0][0], g[0], 1e-8);
  EXPECT_EQ(fd[0][2], 0.0);
  EXPECT_NEAR(fd[0][3], g[3], 1e-8);
}

TEST(FiniteDifferences, ForwardStepAtAnUpperBoundGoesBackward) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 1.0, 0.0, 0.0, 0.0).finished();
  const std::vector<double> lower = {-kInf, -kInf, -kInf, -kInf};
  const std::vector<double> upper = {1.0, kInf, kInf, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  FiniteDifferenceOptions options;
  options.scheme = FiniteDifferenceScheme::kForward;
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, options, *box, &run);
  EXPECT_LT(run.points[1][0], 1.0);
  EXPECT_DOUBLE_EQ(run.points[1][0],
                   1.0 - std::sqrt(std::numeric_limits<double>::epsilon()));
  VectorXd g;
  q(x, &g);
  EXPECT_NEAR(fd[0][0], g[0], 1e-6);
}

TEST(FiniteDifferences, StencilAtTheLargestDoublesStepsInward) {
  // Unbounded, and bounded on the far side only: x +- h would be +-inf
  // (bounds_edge_test.cc; the session_requests fuzzer's dbl-max inputs).
  const double max = std::numeric_limits<double>::max();
  const VectorXd x = (VectorXd(4) << max, -max, max, 1.0).finished();
  const std::vector<double> lower = {-max, -kInf, -kInf, -kInf};
  const std::vector<double> upper = {kInf, max, kInf, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  for (FiniteDifferenceScheme scheme :
       {FiniteDifferenceScheme::kCentral, FiniteDifferenceScheme::kForward}) {
    for (const Bounds& bounds : {*box, Bounds::Unbounded(4)}) {
      FiniteDifferenceOptions options;
      options.scheme = scheme;
      BatchRun run;
      FiniteDifferenceGradients({x}, Quadratic(), options, bounds, &run);
      ASSERT_GE(run.points.size(), 5u);
      for (const VectorXd& point : run.points) {
        EXPECT_TRUE(point.allFinite()) << point.transpose();
      }
      // Coordinate 0 steps down from max, coordinate 1 up from -max.
      EXPECT_LT(run.points[1][0], max);
      const int first_of_1 = scheme == FiniteDifferenceScheme::kCentral ? 3 : 2;
      EXPECT_GT(run.points[first_of_1][1], -max);
      // Coordinate 3, far from the largest doubles, keeps scipy's stencil.
      const double h = scheme == FiniteDifferenceScheme::kCentral
                           ? std::cbrt(std::numeric_limits<double>::epsilon())
                           : std::sqrt(std::numeric_limits<double>::epsilon());
      EXPECT_EQ(run.points.back()[3], 1.0 + h);
    }
  }
}

// Drives one FD batch at x of the quadratic, failing the trials in `fail`;
// returns what the inner solver was told.
ScriptedSolver::Told FailingStencil(const VectorXd& x, std::vector<int> fail,
                                    BatchRun* run) {
  const Quadratic q;
  auto inner = std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x},
                                                Evaluation::kValueAndGradient);
  ScriptedSolver* scripted = inner.get();
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(x.size()));
  EXPECT_TRUE(solver.ok());
  const WorkerFn values = Evaluate(q);
  *run = DriveBatches(**solver, [&](int k, const VectorXd& p, Evaluation w) {
    Outcome o = values(k, p, w);
    if (std::find(fail.begin(), fail.end(), k) != fail.end()) {
      o.failed = k % 2 == 0;  // a failed tell, or a non-finite value
      o.value = k % 2 == 0 ? 1.0 : kInf;
    }
    return o;
  });
  EXPECT_EQ(scripted->told().size(), 1u);
  return scripted->told()[0];
}

TEST(FiniteDifferences, FailedStencilPointFallsBackToTheOtherSide) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  VectorXd g;
  const double f0 = q(x, &g);
  BatchRun run;
  // Trial 4 is x + h e_1, trial 5 is x - h e_2.
  const ScriptedSolver::Told told = FailingStencil(x, {4, 5}, &run);
  ASSERT_TRUE(told.result.has_gradient);
  EXPECT_FALSE(told.result.failed);
  EXPECT_EQ(told.result.value, f0);
  // Coordinate 1 backward: (f0 - f(x - h)) / h = g_1 - h A_11 / 2.
  const double h1 = x[1] - run.points[3][1];
  EXPECT_NEAR(told.gradient[1], g[1] - 0.5 * h1 * q.a(1, 1), 1e-8);
  // Coordinate 2 forward: g_2 + h A_22 / 2.
  const double h2 = run.points[6][2] - x[2];
  EXPECT_NEAR(told.gradient[2], g[2] + 0.5 * h2 * q.a(2, 2), 1e-8);
  // The others central, exact.
  EXPECT_NEAR(told.gradient[0], g[0], 1e-9);
  EXPECT_NEAR(told.gradient[3], g[3], 1e-9);
}

TEST(FiniteDifferences, BothSidesFailedOrTheCenterFailedFailsTheEvaluation) {
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  BatchRun run;
  const ScriptedSolver::Told both = FailingStencil(x, {5, 6}, &run);
  EXPECT_TRUE(both.result.failed);
  EXPECT_FALSE(both.result.has_gradient);
  const ScriptedSolver::Told center = FailingStencil(x, {0}, &run);
  EXPECT_TRUE(center.result.failed);
  EXPECT_FALSE(center.result.has_gradient);

  // L-BFGS treats it as a failed evaluation: the line search backtracks.
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Solver> inner = LbfgsAt(p.x0);
  const Solver* lbfgs = inner.get();
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  int batch = 0;
  const WorkerFn values = Evaluate(p.evaluate);
  const BatchRun failing =
      DriveBatches(**solver, [&](int k, const VectorXd& pt, Evaluation w) {
        if (k == 0) ++batch;
        Outcome o = values(k, pt, w);
        if (batch == 3 && k == 0) o.failed = true;
        return o;
      });
  ASSERT_TRUE(failing.finished);
  EXPECT_TRUE(failing.summary.success());
  EXPECT_EQ(lbfgs->summary().failed_evaluations, 1);
}

TEST(FiniteDifferences, Float32StatePointsAreFloat32WithFloat32Steps) {
  AdamOptions options;
  options.dtype = ScalarType::kFloat32;
  options.max_steps = 3;
  options.lr = 0.1;
  const VectorXd x0 = (VectorXd(2) << 0.7, -3.0).finished();
  auto adam = Adam::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_TRUE(adam.ok());
  auto solver =
      WithFiniteDifferences(std::move(*adam), {}, Bounds::Unbounded(2));
  ASSERT_TRUE(solver.ok());
  const double rel = std::cbrt(double{std::numeric_limits<float>::epsilon()});
  const BatchRun run =
      DriveBatches(**solver, Evaluate([](const VectorXd& v, VectorXd* g) {
        if (g != nullptr) *g = 2 * v;
        return v.squaredNorm();
      }));
  ASSERT_TRUE(run.finished);
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{5, 5, 5}));
  for (const VectorXd& point : run.points) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(point[i], static_cast<double>(static_cast<float>(point[i])));
    }
  }
  EXPECT_NEAR(run.points[2][0] - run.points[0][0], rel, 1e-3 * rel);
}

}  // namespace
}  // namespace optd
