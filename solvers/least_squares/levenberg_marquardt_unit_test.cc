// Unit tests of LevenbergMarquardt (levenberg_marquardt.h): options,
// x_scale and max_nfev against scipy 1.10, failed evaluations, the
// covariance, misuse, and SaveState/RestoreState. The scipy comparison on
// all MGH problems is levenberg_marquardt_test.cc.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/testing/mgh_least_squares.h"

namespace optd {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

problems::ResidualProblem Problem(const std::string& name) {
  auto p = problems::FindResidualProblem(name);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

std::unique_ptr<LevenbergMarquardt> Make(const problems::ResidualProblem& p,
                                         const LevenbergMarquardtOptions& o) {
  auto lm = LevenbergMarquardt::Create(o, p.x0, p.m);
  EXPECT_TRUE(lm.ok()) << lm.status();
  return lm.ok() ? *std::move(lm) : nullptr;
}

void Finish(const problems::ResidualProblem& p, LevenbergMarquardt& lm) {
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!lm.finished()) {
    p.evaluate(lm.trial_point(), &r, &jac);
    ASSERT_TRUE(lm.Tell(r, jac).ok());
  }
}

std::string CreateError(const LevenbergMarquardtOptions& o, int n = 2,
                        int m = 3) {
  auto lm = LevenbergMarquardt::Create(o, Eigen::VectorXd::Zero(n), m);
  EXPECT_FALSE(lm.ok());
  EXPECT_EQ(lm.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(lm.status().message());
}

TEST(LevenbergMarquardtOptionsTest, BadOptionsNameFieldAndRange) {
  LevenbergMarquardtOptions o;
  o.ftol = 0.0;
  EXPECT_EQ(CreateError(o),
            "levenberg_marquardt.ftol is 0; it must be in [2.22045e-16, inf)");
  o = {};
  o.xtol = kNaN;
  EXPECT_THAT(CreateError(o), HasSubstr("levenberg_marquardt.xtol is nan"));
  o = {};
  o.gtol = 1e-20;
  EXPECT_THAT(CreateError(o), HasSubstr("levenberg_marquardt.gtol is 1e-20"));
  o = {};
  o.factor = 0.0;
  EXPECT_EQ(CreateError(o),
            "levenberg_marquardt.factor is 0; it must be in (0, 1e10]");
  o = {};
  o.max_nfev = -1;
  EXPECT_THAT(CreateError(o), HasSubstr("levenberg_marquardt.max_nfev is -1"));
  o = {};
  o.x_scale = {1.0};
  EXPECT_THAT(CreateError(o), HasSubstr("x_scale has 1 entries"));
  o.x_scale = {1.0, 0.0};
  EXPECT_EQ(CreateError(o),
            "levenberg_marquardt.x_scale[1] is 0; it must be in (0, inf)");
  o.x_scale_jac = true;
  EXPECT_THAT(CreateError(o), HasSubstr("must be empty when x_scale_jac"));
  EXPECT_THAT(CreateError({}, 3, 2), HasSubstr("m = 2 residuals is fewer"));
  EXPECT_THAT(CreateError({}, 0, 2), HasSubstr("at least 1"));
}

// x_scale='jac' (lmder mode 1), x_scale=2.0 and max_nfev=5, against
// scipy 1.10's least_squares(method='lm') on the same problems.
TEST(LevenbergMarquardtTest, XScaleAndMaxNfevMatchScipy) {
  struct Case {
    const char* name;
    int kind;  // 0: x_scale='jac', 1: x_scale=2.0, 2: max_nfev=5
    int nfev, njev, status;
    double cost;
  };
  const Case cases[] = {
      {"rosenbrock", 0, 21, 16, 1, 0.0},
      {"osborne_1", 0, 18, 15, 2, 2.732447348741952e-05},
      {"kowalik_osborne", 0, 18, 16, 2, 0.0001537528022908842},
      {"osborne_1", 1, 20, 16, 2, 2.7324473487421313e-05},
      {"kowalik_osborne", 1, 23, 19, 2, 0.000153752802215178},
      {"rosenbrock", 2, 5, 2, 0, 1.4375182581300394},
      {"bard", 2, 5, 4, 0, 0.004107438675947444},
      {"osborne_1", 2, 5, 3, 0, 4.2652475072705815e-05},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.name, " kind ", c.kind));
    const problems::ResidualProblem p = Problem(c.name);
    LevenbergMarquardtOptions o;
    if (c.kind == 0) o.x_scale_jac = true;
    if (c.kind == 1) o.x_scale.assign(p.n, 2.0);
    if (c.kind == 2) o.max_nfev = 5;
    auto lm = Make(p, o);
    Finish(p, *lm);
    EXPECT_EQ(lm->summary().nfev, c.nfev);
    EXPECT_EQ(lm->summary().njev, c.njev);
    EXPECT_EQ(lm->summary().status, c.status);
    EXPECT_NEAR(lm->summary().cost, c.cost, 1e-9 * c.cost);
  }
}

TEST(LevenbergMarquardtTest, FailedInitialPointEndsTheRun) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  auto lm = Make(p, {});
  EXPECT_TRUE(lm->wants_residuals());
  EXPECT_TRUE(lm->wants_jacobian());
  ASSERT_TRUE(lm->TellFailed().ok());
  ASSERT_TRUE(lm->finished());
  EXPECT_EQ(lm->summary().status, kLeastSquaresEvaluationFailed);
  EXPECT_FALSE(lm->summary().success);
  EXPECT_EQ(lm->summary().nfev, 1);
  EXPECT_EQ(lm->summary().njev, 0);
  EXPECT_TRUE(std::isnan(lm->summary().cost));
  EXPECT_EQ(lm->summary().x, p.x0);
  EXPECT_EQ(lm->TellFailed().code(), absl::StatusCode::kFailedPrecondition);
}

// A failed step (TellFailed, or residuals that are not finite) is lmder with
// |r| = inf: refused, the bound shrinks tenfold, and the run goes on.
TEST(LevenbergMarquardtTest, FailedStepShrinksAndRecovers) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  auto a = Make(p, {});
  auto b = Make(p, {});
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  p.evaluate(p.x0, &r, &jac);
  ASSERT_TRUE(a->Tell(r, jac).ok());
  ASSERT_TRUE(b->Tell(r, jac).ok());
  ASSERT_TRUE(a->wants_residuals());
  ASSERT_FALSE(a->wants_jacobian());
  const double first = (a->trial_point() - p.x0).norm();
  ASSERT_TRUE(a->TellFailed().ok());
  const Eigen::VectorXd nan_r = Eigen::VectorXd::Constant(p.m, kNaN);
  ASSERT_TRUE(b->Tell(nan_r, Eigen::MatrixXd()).ok());
  ASSERT_FALSE(a->finished());
  EXPECT_EQ(a->progress().nfev, 2);
  EXPECT_EQ(a->trial_point(), b->trial_point());  // bitwise the same
  EXPECT_LE((a->trial_point() - p.x0).norm(), 0.11 * first);
  Finish(p, *a);
  EXPECT_EQ(a->summary().status, kLeastSquaresGtol);
  EXPECT_NEAR(a->summary().cost, 0.0, 1e-20);
}

TEST(LevenbergMarquardtTest, FailedJacobianEndsTheRun) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  auto lm = Make(p, {});
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  p.evaluate(p.x0, &r, &jac);
  jac(0, 0) = kNaN;
  ASSERT_TRUE(lm->Tell(r, jac).ok());
  ASSERT_TRUE(lm->finished());
  EXPECT_EQ(lm->summary().status, kLeastSquaresEvaluationFailed);
  EXPECT_THAT(lm->summary().message, HasSubstr("Jacobian is not finite"));
  EXPECT_DOUBLE_EQ(lm->summary().cost, 0.5 * r.squaredNorm());
  EXPECT_TRUE(std::isnan(lm->summary().optimality));
}

TEST(LevenbergMarquardtTest, WrongSizesAreRefused) {
  const problems::ResidualProblem p = Problem("bard");
  auto lm = Make(p, {});
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  p.evaluate(p.x0, &r, &jac);
  EXPECT_EQ(lm->Tell(r.head(3), jac).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lm->Tell(r, jac.leftCols(2)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lm->progress().nfev, 0);
  EXPECT_TRUE(lm->Tell(r, jac).ok());
}

// y = a + b t fitted to five points: the covariance is numpy's
// inv(A^T A) |r|^2 / (m - n), and scipy makes 2 evaluations of each.
TEST(LevenbergMarquardtTest, CovarianceOfALinearFit) {
  Eigen::MatrixXd a(5, 2);
  a << 1, 0, 1, 1, 1, 2, 1, 3, 1, 4;
  Eigen::VectorXd y(5);
  y << 1.1, 2.9, 5.2, 7.1, 8.8;
  problems::ResidualProblem p;
  p.n = 2;
  p.m = 5;
  p.x0 = Eigen::Vector2d::Zero();
  p.evaluate = [&](const Eigen::VectorXd& x, Eigen::VectorXd* r,
                   Eigen::MatrixXd* jac) {
    *r = a * x - y;
    if (jac != nullptr) *jac = a;
  };
  auto lm = Make(p, {});
  Finish(p, *lm);
  const LeastSquaresSummary& s = lm->summary();
  EXPECT_EQ(s.nfev, 2);
  EXPECT_EQ(s.njev, 2);
  EXPECT_EQ(s.status, kLeastSquaresGtol);
  EXPECT_NEAR(s.x(0), 1.1, 1e-13);
  EXPECT_NEAR(s.x(1), 1.96, 1e-13);
  EXPECT_NEAR(s.cost, 0.04599999999999988, 1e-15);
  // numpy: np.linalg.inv(A.T @ A) * (r @ r) / (5 - 2).
  Eigen::Matrix2d expected;
  expected << 0.01839999999999995, -0.00613333333333332, -0.00613333333333332,
      0.00306666666666666;
  EXPECT_TRUE(s.covariance.isApprox(expected, 1e-12)) << s.covariance;
  EXPECT_EQ(s.jacobian_rank, 2);
}

// A rank-1 Jacobian: the pseudo-inverse's covariance C satisfies
// (J^T J) C (J^T J) = s^2 J^T J; m == n gives +inf (no degrees of freedom).
TEST(LevenbergMarquardtTest, CovarianceRankDeficientAndSquare) {
  const problems::ResidualProblem p = Problem("linear_rank_1_10");
  auto lm = Make(p, {});
  Finish(p, *lm);
  const LeastSquaresSummary& s = lm->summary();
  EXPECT_EQ(s.jacobian_rank, 1);
  ASSERT_TRUE(s.covariance.allFinite());
  const Eigen::MatrixXd jtj = s.jac.transpose() * s.jac;
  const double s_sq = 2.0 * s.cost / (p.m - p.n);
  EXPECT_TRUE((jtj * s.covariance * jtj).isApprox(s_sq * jtj, 1e-8));

  const problems::ResidualProblem q = Problem("helical_valley");
  auto sq = Make(q, {});
  Finish(q, *sq);
  EXPECT_TRUE(std::isinf(sq->summary().covariance(0, 0)));
}

// Saving at every trial and continuing in a fresh solver ends bitwise where
// the uninterrupted run ends.
TEST(LevenbergMarquardtTest, SaveRestoreContinuesBitwise) {
  const problems::ResidualProblem p = Problem("osborne_1");
  auto whole = Make(p, {});
  Finish(p, *whole);
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  for (int cut = 0; cut < 40; cut += 3) {
    SCOPED_TRACE(cut);
    auto lm = Make(p, {});
    for (int k = 0; k < cut && !lm->finished(); ++k) {
      p.evaluate(lm->trial_point(), &r, &jac);
      ASSERT_TRUE(lm->Tell(r, jac).ok());
    }
    std::string state;
    ASSERT_TRUE(lm->SaveState(&state).ok());
    LevenbergMarquardtOptions other;
    other.ftol = 1e-3;  // the state's options win
    auto fresh = Make(p, other);
    ASSERT_TRUE(fresh->RestoreState(state).ok());
    Finish(p, *fresh);
    EXPECT_EQ(fresh->summary().x, whole->summary().x);
    EXPECT_EQ(fresh->summary().nfev, whole->summary().nfev);
    EXPECT_EQ(fresh->summary().njev, whole->summary().njev);
    EXPECT_EQ(fresh->summary().cost, whole->summary().cost);
    EXPECT_EQ(fresh->summary().covariance, whole->summary().covariance);
  }
  std::string state;
  ASSERT_TRUE(whole->SaveState(&state).ok());
  auto wrong = Make(Problem("bard"), {});
  EXPECT_THAT(std::string(wrong->RestoreState(state).message()),
              HasSubstr("is for n = 5, m = 33"));
  auto same = Make(p, {});
  EXPECT_EQ(same->RestoreState(state.substr(0, state.size() - 9)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(same->finished());  // unchanged
  ASSERT_TRUE(same->RestoreState(state).ok());
  EXPECT_TRUE(same->finished());
  EXPECT_EQ(same->summary().x, whole->summary().x);
}

}  // namespace
}  // namespace optd

namespace optd {
namespace {

TEST(XScaleReport, PrintsJacOneOrTheScales) {
  EXPECT_EQ(XScaleReport(true, {}), "jac");
  EXPECT_EQ(XScaleReport(false, {}), "1");
  EXPECT_EQ(XScaleReport(false, {2.0, 0.5}), "[2,0.5]");
}

}  // namespace
}  // namespace optd
