#include "solvers/trust_region/trust_region_exact.h"

#include <cmath>
#include <random>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "solvers/testing/trust_region_reference.h"

namespace optd {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

double Model(const MatrixXd& h, const VectorXd& g, const VectorXd& p) {
  return g.dot(p) + 0.5 * p.dot(h * p);
}

// Moré & Sorensen's stopping rules (k_easy = 0.1, k_hard = 0.2) allow
// ||p|| <= 1.1 radius and a model value within a fraction of the optimum.
void ExpectNearlyOptimal(const MatrixXd& h, const VectorXd& g, double radius,
                         const ExactSubproblem::Step& step) {
  const testing::ReferenceStep ref =
      testing::SolveTrustRegionSubproblem(h, g, radius);
  EXPECT_LE(step.p.norm(), 1.1 * radius * (1 + 1e-12));
  EXPECT_LE(step.model_change, 0.75 * ref.model_change)
      << "reference " << ref.model_change;
  EXPECT_NEAR(step.model_change, Model(h, g, step.p),
              1e-12 * std::fabs(step.model_change) + 1e-300);
}

TEST(BoundaryIntersections, SolvesTheQuadraticWithoutCancellation) {
  // z = (1, 0), d = (1, 1), radius 2: (1 + t)^2 + t^2 = 4.
  const auto [ta, tb] = BoundaryIntersections(1.0, 1.0, 2.0, 2.0);
  EXPECT_NEAR(ta, (-1.0 - std::sqrt(7.0)) / 2.0, 1e-15);
  EXPECT_NEAR(tb, (-1.0 + std::sqrt(7.0)) / 2.0, 1e-15);
  // From the origin the roots are +-radius/|d|.
  const auto [ua, ub] = BoundaryIntersections(0.0, 0.0, 4.0, 3.0);
  EXPECT_DOUBLE_EQ(ua, -1.5);
  EXPECT_DOUBLE_EQ(ub, 1.5);
}

TEST(ExactSubproblem, TakesTheNewtonStepInsideTheRegion) {
  MatrixXd h(2, 2);
  h << 4, 1, 1, 3;
  VectorXd g(2);
  g << 1, 2;
  ExactSubproblem sub(h, g);
  const ExactSubproblem::Step step = sub.Solve(10.0);
  EXPECT_FALSE(step.on_boundary);
  EXPECT_LE((step.p - h.ldlt().solve(-g)).norm(), 1e-14);
  EXPECT_EQ(step.factorizations, 1);
}

TEST(ExactSubproblem, StopsNearTheBoundaryForPositiveDefiniteAndIndefinite) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 2 + trial % 7;
    MatrixXd a(n, n);
    for (int i = 0; i < n * n; ++i) a(i) = normal(rng);
    MatrixXd h = 0.5 * (a + a.transpose());
    if (trial % 2 == 0) h = a * a.transpose() + 0.1 * MatrixXd::Identity(n, n);
    VectorXd g(n);
    for (int i = 0; i < n; ++i) g(i) = normal(rng);
    const double radius = 0.05 + 0.2 * (trial % 5);
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    ExactSubproblem sub(h, g);
    ExpectNearlyOptimal(h, g, radius, sub.Solve(radius));
    // A rejected step: the same iterate, a quarter of the radius.
    ExpectNearlyOptimal(h, g, radius / 4, sub.Solve(radius / 4));
  }
}

TEST(ExactSubproblem, HandlesTheHardCase) {
  // g is orthogonal to the eigenvector e_1 of the most negative eigenvalue
  // -2, and ||(H + 2 I)^+ g|| < radius: the step needs a component along e_1.
  MatrixXd h = Eigen::Vector3d(-2, 1, 3).asDiagonal();
  VectorXd g(3);
  g << 0, 1, 1;
  ExactSubproblem sub(h, g);
  const ExactSubproblem::Step step = sub.Solve(2.0);
  EXPECT_TRUE(step.on_boundary);
  EXPECT_GT(std::fabs(step.p(0)), 1.0);
  const testing::ReferenceStep ref =
      testing::SolveTrustRegionSubproblem(h, g, 2.0);
  EXPECT_TRUE(ref.hard_case);
  ExpectNearlyOptimal(h, g, 2.0, step);
}

TEST(ExactSubproblem, FollowsNegativeCurvatureFromAStationaryPoint) {
  // A saddle: g = 0, H = diag(2, -2). The step is along e_2 to the boundary.
  MatrixXd h = Eigen::Vector2d(2, -2).asDiagonal();
  ExactSubproblem sub(h, VectorXd::Zero(2));
  const ExactSubproblem::Step step = sub.Solve(0.5);
  EXPECT_TRUE(step.on_boundary);
  EXPECT_NEAR(std::fabs(step.p(1)), 0.5, 0.05);
  EXPECT_LT(step.model_change, -0.2);
  // A positive definite Hessian at a stationary point: no step at all.
  ExactSubproblem flat(MatrixXd::Identity(2, 2), VectorXd::Zero(2));
  EXPECT_EQ(flat.Solve(1.0).p.norm(), 0.0);
}

TEST(ExactSubproblem, WorksAtBlockedFactorizationSizes) {
  // n >= 32 takes Eigen's blocked Cholesky, whose failure index and partial
  // factor feed the lower bound on lambda.
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  const int n = 80;
  MatrixXd a(n, n);
  for (int i = 0; i < n * n; ++i) a(i) = normal(rng);
  const MatrixXd h = 0.5 * (a + a.transpose());
  VectorXd g(n);
  for (int i = 0; i < n; ++i) g(i) = normal(rng);
  ExactSubproblem sub(h, g);
  ExpectNearlyOptimal(h, g, 1.0, sub.Solve(1.0));
}

}  // namespace
}  // namespace optd
