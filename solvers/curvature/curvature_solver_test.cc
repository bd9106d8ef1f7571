// CurvatureSolver through the Solver interface: Hessian-vector trials and
// gradient-difference batches against dense eigenvalues, the summary, and
// the error paths.
#include "solvers/curvature/curvature_solver.h"

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;

ConstVectorView View(const Eigen::VectorXd& v) {
  return ConstVectorView::Float64(v.data(), v.size());
}

// A fixed symmetric positive definite A = B B^T + I of order n.
Eigen::MatrixXd FixedSpd(int n) {
  Eigen::MatrixXd b(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) b(i, j) = std::sin(1.0 + i * n + j);
  return b * b.transpose() + Eigen::MatrixXd::Identity(n, n);
}

Eigen::VectorXd DenseEigenvalues(const Eigen::MatrixXd& h) {
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(h,
                                                        Eigen::EigenvaluesOnly)
      .eigenvalues();
}

TEST(CurvatureSolver, HessianVectorTrialsMatchDenseEigenvalues) {
  const int n = 15;
  const Eigen::MatrixXd h = FixedSpd(n);
  const Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(n, -1.0, 1.0);
  auto solver = CurvatureSolver::Create(CurvatureOptions{}, View(x));
  ASSERT_TRUE(solver.ok()) << solver.status();
  CurvatureSolver& s = **solver;
  EXPECT_EQ(s.name(), "curvature");
  EXPECT_EQ(s.batch_size(), 1);
  while (!s.finished()) {
    ASSERT_EQ(s.wants(), Evaluation::kHessianVector);
    Eigen::VectorXd point(n), v(n);
    ASSERT_TRUE(
        s.ReadTrialPoint(MutableVectorView::Float64(point.data(), n)).ok());
    EXPECT_EQ(point, x);
    ASSERT_TRUE(
        s.ReadTrialVector(MutableVectorView::Float64(v.data(), n)).ok());
    const Eigen::VectorXd hv = h * v;
    ASSERT_TRUE(s.SetTrialHessianVector(View(hv)).ok());
    TrialResult result;
    result.has_hessian_vector = true;
    ASSERT_TRUE(s.Tell(result).ok());
  }
  const SpectrumEstimate* e = s.curvature_estimate();
  ASSERT_NE(e, nullptr);
  const Eigen::VectorXd lambda = DenseEigenvalues(h);
  EXPECT_NEAR(e->smallest[0], lambda(0), 1e-6 * lambda(0));
  EXPECT_NEAR(e->largest[0], lambda(n - 1), 1e-6 * lambda(n - 1));
  EXPECT_EQ(s.summary().reason, TerminationReason::kGradientTolerance);
  EXPECT_EQ(s.summary().message, "CONVERGENCE: RITZ_RESIDUALS_<=_TOL");
  EXPECT_EQ(s.summary().evaluations, e->products);
  EXPECT_TRUE(s.summary().success());
}

// Drives a gradient-difference diagnosis, telling each batch's second trial
// first; `gradient` is grad f.
const SpectrumEstimate* RunGradientDifference(
    CurvatureSolver& s,
    const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& gradient) {
  const int64_t n = s.dimension();
  while (!s.finished()) {
    EXPECT_EQ(s.batch_size(), 2);
    EXPECT_EQ(s.wants(), Evaluation::kGradient);
    for (int k : {1, 0}) {
      Eigen::VectorXd point(n);
      EXPECT_TRUE(
          s.ReadBatchPoint(k, MutableVectorView::Float64(point.data(), n))
              .ok());
      const Eigen::VectorXd g = gradient(point);
      EXPECT_TRUE(s.SetBatchGradient(k, View(g)).ok());
      TrialResult result;
      result.has_gradient = true;
      EXPECT_TRUE(s.TellBatch(k, result).ok());
      if (k == 1) EXPECT_TRUE(s.batch_told(1));
    }
  }
  return s.curvature_estimate();
}

TEST(CurvatureSolver, GradientDifferencesOfAQuadraticAreItsHessian) {
  const int n = 12;
  const Eigen::MatrixXd a = FixedSpd(n);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(n, 0.0, 3.0);
  const Eigen::VectorXd x = Eigen::VectorXd::Constant(n, 2.0);
  CurvatureOptions options;
  options.source = ProductSource::kGradientDifference;
  auto solver = CurvatureSolver::Create(options, View(x));
  ASSERT_TRUE(solver.ok());
  // h = cbrt(eps) max(1, |x|_2).
  EXPECT_DOUBLE_EQ(
      (*solver)->step(),
      std::cbrt(std::numeric_limits<double>::epsilon()) * x.norm());
  const SpectrumEstimate* e = RunGradientDifference(
      **solver,
      [&](const Eigen::VectorXd& p) -> Eigen::VectorXd { return a * p - b; });
  ASSERT_NE(e, nullptr);
  const Eigen::VectorXd lambda = DenseEigenvalues(a);
  EXPECT_NEAR(e->smallest[0], lambda(0), 1e-6 * lambda(0));
  EXPECT_NEAR(e->largest[0], lambda(n - 1), 1e-6 * lambda(n - 1));
  EXPECT_EQ((*solver)->summary().evaluations, 2 * e->products);
}

TEST(CurvatureSolver, GradientDifferencesOnMghRosenbrockAndWood) {
  for (const char* name : {"rosenbrock", "wood", "helical_valley"}) {
    SCOPED_TRACE(name);
    auto problem = problems::FindProblem(name);
    ASSERT_TRUE(problem.ok());
    auto hessian = problems::HessianOf(name);
    ASSERT_TRUE(hessian.ok());
    CurvatureOptions options;
    options.source = ProductSource::kGradientDifference;
    options.lanczos.probes = 1;
    auto solver = CurvatureSolver::Create(options, View(problem->x0));
    ASSERT_TRUE(solver.ok());
    const SpectrumEstimate* e = RunGradientDifference(
        **solver, [&](const Eigen::VectorXd& p) -> Eigen::VectorXd {
          Eigen::VectorXd g;
          problem->evaluate(p, &g);
          return g;
        });
    const Eigen::VectorXd lambda =
        DenseEigenvalues(Eigen::MatrixXd((*hessian)(problem->x0)));
    const int n = problem->n;
    EXPECT_NEAR(e->smallest[0], lambda(0), 1e-6 * std::abs(lambda(0)));
    EXPECT_NEAR(e->largest[0], lambda(n - 1), 1e-6 * std::abs(lambda(n - 1)));
  }
}

TEST(CurvatureSolver, FailedEvaluationEndsWithWhatWasTold) {
  const Eigen::VectorXd x = Eigen::VectorXd::Ones(4);
  auto solver = CurvatureSolver::Create(CurvatureOptions{}, View(x));
  ASSERT_TRUE(solver.ok());
  TrialResult failed;
  failed.failed = true;
  ASSERT_TRUE((*solver)->Tell(failed).ok());
  EXPECT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kEvaluationFailed);
  EXPECT_EQ((*solver)->summary().failed_evaluations, 1);
  EXPECT_TRUE((*solver)->curvature_estimate()->smallest.empty());
}

TEST(CurvatureSolver, StopEndsAsStoppedByClient) {
  const Eigen::VectorXd x = Eigen::VectorXd::Ones(4);
  auto solver = CurvatureSolver::Create(CurvatureOptions{}, View(x));
  ASSERT_TRUE(solver.ok());
  (*solver)->Stop();
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kStoppedByClient);
  EXPECT_NE((*solver)->curvature_estimate(), nullptr);
}

TEST(CurvatureSolver, ErrorPaths) {
  Eigen::VectorXd x = Eigen::VectorXd::Ones(3);
  CurvatureOptions options;
  options.relative_step = 0.5;
  EXPECT_THAT(CurvatureSolver::Create(options, View(x)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.relative_step is 0.5; it must be in "
                       "(0, 0.1]"));
  options = CurvatureOptions{};
  options.lanczos.probes = 0;
  EXPECT_THAT(CurvatureSolver::Create(options, View(x)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.probes is 0; it must be in [1, 100]"));
  EXPECT_THAT(
      CurvatureSolver::Create(CurvatureOptions{}, View(Eigen::VectorXd()))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "x0 is empty; the point to diagnose needs at least one "
               "element"));
  x(2) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(CurvatureSolver::Create(CurvatureOptions{}, View(x)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "x0[2] is not finite (nan)"));

  x(2) = 1.0;
  auto solver = CurvatureSolver::Create(CurvatureOptions{}, View(x));
  ASSERT_TRUE(solver.ok());
  CurvatureSolver& s = **solver;
  EXPECT_THAT(s.SetTrialGradient(View(x)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "the outstanding trial wants a Hessian-vector "
                       "product, not a gradient"));
  EXPECT_THAT(s.SetTrialHessianVector(View(Eigen::VectorXd::Ones(2))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the Hessian-vector product has 2 elements; the "
                       "dimension is 3"));
  Eigen::VectorXd inf = Eigen::VectorXd::Ones(3);
  inf(0) = -std::numeric_limits<double>::infinity();
  EXPECT_THAT(s.SetTrialHessianVector(View(inf)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the Hessian-vector product's element 0 is not "
                       "finite (-inf)"));
  EXPECT_THAT(s.Tell(TrialResult{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the trial wants a Hessian-vector product; none was "
                       "told"));
  EXPECT_EQ(s.progress().evaluations, 0);

  CurvatureOptions difference;
  difference.source = ProductSource::kGradientDifference;
  auto gd = CurvatureSolver::Create(difference, View(x));
  ASSERT_TRUE(gd.ok());
  EXPECT_THAT((*gd)->SetTrialHessianVector(View(x)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "the outstanding trial wants a gradient, not a "
                       "Hessian-vector product"));
  EXPECT_THAT((*gd)->TellBatch(1, TrialResult{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the trial wants a gradient; none was told"));
  EXPECT_THAT((*gd)->TellBatch(2, TrialResult{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "batch trial 2 is not in [0, 2)"));
  ASSERT_TRUE((*gd)->SetBatchGradient(1, View(x)).ok());
  TrialResult told;
  told.has_gradient = true;
  ASSERT_TRUE((*gd)->TellBatch(1, told).ok());
  EXPECT_THAT((*gd)->TellBatch(1, told),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "batch trial 1 was already told"));
  (*gd)->Stop();
  EXPECT_THAT((*gd)->TellBatch(0, told),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "the diagnosis has finished"));
}

}  // namespace
}  // namespace optd
