#include "solvers/trust_region/trust_region_obs.h"

#include <cmath>
#include <random>
#include <string>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "solvers/testing/trust_region_reference.h"

namespace optd {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

struct Pairs {
  MatrixXd s, y;  // n x k, oldest first
};

PairGram GramOf(const Pairs& p, const VectorXd& g) {
  PairGram gram;
  gram.ss = p.s.transpose() * p.s;
  gram.sy = p.s.transpose() * p.y;
  gram.yy = p.y.transpose() * p.y;
  gram.sg = p.s.transpose() * g;
  gram.yg = p.y.transpose() * g;
  gram.gg = g.squaredNorm();
  return gram;
}

// B from gamma I by the pairs' updates one at a time, the textbook way
// (Nocedal & Wright eqs. 6.19 and 6.24): an independent check of the compact
// forms.
MatrixXd Recursive(QuasiNewtonUpdate update, const Pairs& p, double gamma) {
  const int n = static_cast<int>(p.s.rows());
  MatrixXd b = gamma * MatrixXd::Identity(n, n);
  for (int i = 0; i < p.s.cols(); ++i) {
    const VectorXd s = p.s.col(i), y = p.y.col(i), bs = b * s;
    if (update == QuasiNewtonUpdate::kLbfgs) {
      b += -bs * bs.transpose() / s.dot(bs) + y * y.transpose() / y.dot(s);
    } else {
      const VectorXd r = y - bs;
      b += r * r.transpose() / r.dot(s);
    }
  }
  return b;
}

VectorXd Combine(const Pairs& p, const VectorXd& g, const VectorXd& c) {
  const int k = static_cast<int>(p.s.cols());
  return p.s * c.head(k) + p.y * c.segment(k, k) + c(2 * k) * g;
}

Pairs RandomPairs(std::mt19937& rng, int n, int k, const MatrixXd& a) {
  std::normal_distribution<double> normal;
  Pairs p{MatrixXd(n, k), MatrixXd(n, k)};
  for (int i = 0; i < n * k; ++i) p.s(i) = normal(rng);
  p.y = a * p.s;
  return p;
}

MatrixXd RandomSymmetric(std::mt19937& rng, int n, bool definite) {
  std::normal_distribution<double> normal;
  MatrixXd a(n, n);
  for (int i = 0; i < n * n; ++i) a(i) = normal(rng);
  if (definite) return a * a.transpose() + MatrixXd::Identity(n, n);
  return 0.5 * (a + a.transpose());
}

// The model equals the recursive matrix, and its step is the global
// minimizer found from the dense matrix.
void CheckAgainstDense(QuasiNewtonUpdate update, const Pairs& p,
                       const VectorXd& g, double radius) {
  const int n = static_cast<int>(g.size());
  const PairGram gram = GramOf(p, g);
  const LimitedMemoryModel model = LimitedMemoryModel::Build(update, gram, n);
  ASSERT_EQ(model.used_pairs(), p.s.cols());
  const MatrixXd b = Recursive(update, p, model.gamma());
  // Eigenvalues: gamma + lambda_i on span(P), gamma on the rest.
  VectorXd expected(n);
  expected << model.eigenvalues(),
      VectorXd::Constant(n - model.rank(), model.gamma());
  std::sort(expected.data(), expected.data() + n);
  const VectorXd dense =
      Eigen::SelfAdjointEigenSolver<MatrixXd>(b).eigenvalues();
  EXPECT_LE((dense - expected).norm(), 1e-8 * (1 + dense.norm()))
      << "dense " << dense.transpose() << "\nmodel " << expected.transpose();

  const LimitedMemoryModel::Step step =
      model.Solve(gram.sg, gram.yg, gram.gg, radius);
  const VectorXd x = Combine(p, g, step.coefficients);
  const testing::ReferenceStep ref =
      testing::SolveTrustRegionSubproblem(b, g, radius);
  if (ref.hard_case) {
    // The component along the eigenvector has either sign.
    EXPECT_NEAR(x.norm(), radius, 1e-9 * radius);
    EXPECT_NEAR(x.cwiseAbs().maxCoeff(), ref.p.cwiseAbs().maxCoeff(),
                1e-7 * radius);
  } else {
    EXPECT_LE((x - ref.p).norm(), 1e-7 * radius);
  }
  EXPECT_NEAR(step.model_change, g.dot(x) + 0.5 * x.dot(b * x),
              1e-9 * std::fabs(ref.model_change));
  EXPECT_NEAR(step.norm, x.norm(), 1e-9 * radius);
  EXPECT_EQ(step.hard_case, ref.hard_case);
}

TEST(LimitedMemoryModel, WithoutPairsIsTheIdentity) {
  PairGram gram;
  gram.gg = 4.0;
  const LimitedMemoryModel model =
      LimitedMemoryModel::Build(QuasiNewtonUpdate::kLsr1, gram, 5);
  EXPECT_EQ(model.gamma(), 1.0);
  EXPECT_EQ(model.rank(), 0);
  // p = -g inside a large region, -radius g/|g| on the boundary.
  LimitedMemoryModel::Step step =
      model.Solve(VectorXd(), VectorXd(), gram.gg, 10.0);
  EXPECT_FALSE(step.on_boundary);
  EXPECT_DOUBLE_EQ(step.coefficients(0), -1.0);
  EXPECT_DOUBLE_EQ(step.model_change, -2.0);
  step = model.Solve(VectorXd(), VectorXd(), gram.gg, 0.5);
  EXPECT_TRUE(step.on_boundary);
  EXPECT_NEAR(step.coefficients(0), -0.25, 1e-12);
  EXPECT_NEAR(step.norm, 0.5, 1e-12);
}

TEST(LimitedMemoryModel, LbfgsMatchesTheRecursiveUpdateAndItsStep) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 6 + trial % 5, k = 1 + trial % 4;
    const MatrixXd a = RandomSymmetric(rng, n, /*definite=*/true);
    const Pairs p = RandomPairs(rng, n, k, a);
    VectorXd g(n);
    for (int i = 0; i < n; ++i) g(i) = normal(rng);
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    for (double radius : {0.01, 0.3, 100.0}) {
      CheckAgainstDense(QuasiNewtonUpdate::kLbfgs, p, g, radius);
    }
  }
}

TEST(LimitedMemoryModel, Lsr1MatchesTheRecursiveUpdateIncludingIndefinite) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal;
  int indefinite = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 6 + trial % 5, k = 1 + trial % 4;
    const MatrixXd a = RandomSymmetric(rng, n, /*definite=*/false);
    const Pairs p = RandomPairs(rng, n, k, a);
    VectorXd g(n);
    for (int i = 0; i < n; ++i) g(i) = normal(rng);
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    const LimitedMemoryModel model =
        LimitedMemoryModel::Build(QuasiNewtonUpdate::kLsr1, GramOf(p, g), n);
    // gamma > 0: the directions no pair explored stay convex.
    EXPECT_GT(model.gamma(), 0.0);
    if (model.eigenvalues().minCoeff() < 0) ++indefinite;
    for (double radius : {0.01, 0.3, 100.0}) {
      CheckAgainstDense(QuasiNewtonUpdate::kLsr1, p, g, radius);
    }
  }
  EXPECT_GT(indefinite, 10);
}

TEST(LimitedMemoryModel, Lsr1SolvesTheHardCase) {
  // y = A s with A = diag(-1, 2, 3, 4, 5, 6); the pairs span e_1..e_3, so B
  // has the eigenvalue -1 along e_1. g has no e_1 component: the step needs
  // one, of length sqrt(radius^2 - ||p(1)||^2).
  const int n = 6;
  const MatrixXd a = VectorXd::LinSpaced(n, 1, 6).asDiagonal();
  MatrixXd a_neg = a;
  a_neg(0, 0) = -1;
  Pairs p{MatrixXd::Zero(n, 3), MatrixXd()};
  p.s(0, 0) = 1;
  p.s(1, 1) = 1;
  p.s(2, 2) = 1;
  p.s(0, 2) = 0.5;
  p.y = a_neg * p.s;
  VectorXd g = VectorXd::Zero(n);
  g(1) = 0.3;
  g(4) = 0.2;
  CheckAgainstDense(QuasiNewtonUpdate::kLsr1, p, g, 3.0);
  const PairGram gram = GramOf(p, g);
  const LimitedMemoryModel model =
      LimitedMemoryModel::Build(QuasiNewtonUpdate::kLsr1, gram, n);
  const LimitedMemoryModel::Step step =
      model.Solve(gram.sg, gram.yg, gram.gg, 3.0);
  EXPECT_TRUE(step.hard_case);
  EXPECT_TRUE(step.on_boundary);
  EXPECT_GT(std::fabs(Combine(p, g, step.coefficients)(0)), 2.9);
}

TEST(LimitedMemoryModel, HardCaseStepsAgainstGradientsRoundingComponent) {
  // As above, with g(0) = +-1e-10: below the hard case's threshold (a_min^2
  // <= eps g.g), but not zero. Of the two boundary steps +-tau e_1 the one
  // against g(0) has the lower model value; the other raised the model by
  // 2 tau |g(0)| over it.
  const int n = 6;
  MatrixXd a_neg = VectorXd::LinSpaced(n, 1, 6).asDiagonal();
  a_neg(0, 0) = -1;
  Pairs p{MatrixXd::Zero(n, 3), MatrixXd()};
  p.s(0, 0) = 1;
  p.s(1, 1) = 1;
  p.s(2, 2) = 1;
  p.s(0, 2) = 0.5;
  p.y = a_neg * p.s;
  for (double g0 : {1e-10, -1e-10}) {
    SCOPED_TRACE(::testing::Message() << "g(0) = " << g0);
    VectorXd g = VectorXd::Zero(n);
    g(0) = g0;
    g(1) = 0.3;
    g(4) = 0.2;
    const PairGram gram = GramOf(p, g);
    const LimitedMemoryModel model =
        LimitedMemoryModel::Build(QuasiNewtonUpdate::kLsr1, gram, n);
    const LimitedMemoryModel::Step step =
        model.Solve(gram.sg, gram.yg, gram.gg, 3.0);
    ASSERT_TRUE(step.hard_case);
    const VectorXd x = Combine(p, g, step.coefficients);
    EXPECT_GT(std::fabs(x(0)), 2.9);
    EXPECT_LT(g0 * x(0), 0.0) << x.transpose();
    const MatrixXd b = Recursive(QuasiNewtonUpdate::kLsr1, p, model.gamma());
    VectorXd mirrored = x;
    mirrored(0) = -x(0);
    EXPECT_LT(step.model_change,
              g.dot(mirrored) + 0.5 * mirrored.dot(b * mirrored));
  }
}

TEST(LimitedMemoryModel, LbfgsEigenvaluesStayPositiveWhenGammaIsHuge) {
  // Four pairs from an L-BFGS run on Meyer's problem (n = 3, curvatures
  // from ~1 to ~1e12; gamma = 2.26e12). B is positive definite, but its
  // smallest eigenvalue, gamma + lambda with lambda ~ -gamma, came out as
  // -3.4e-3: rounding noise that the subproblem took for negative curvature.
  PairGram gram;
  gram.ss.resize(4, 4);
  gram.sy.resize(4, 4);
  gram.yy.resize(4, 4);
  gram.sg.resize(4);
  gram.yg.resize(4);
  gram.ss << 1.0000000000000002, 0.038708731693748638, -5.6038041451720157e-05,
      -1.3458511010919215e-08, 0.038708731693748638, 0.0015007765429218244,
      -2.1718088248704919e-06, 1.8050644965042464e-10, -5.6038041451720157e-05,
      -2.1718088248704919e-06, 3.1431696088755986e-09, -1.586366734812032e-14,
      -1.3458511010919215e-08, 1.8050644965042464e-10, -1.586366734812032e-14,
      2.0458798049168552e-13;
  gram.sy << 2258348085758.9346, 87403274893.214844, -126518480.0742542,
      -32049.100173452207, 87276693259.761108, 3383268008.7555823,
      -4897049.3985577021, -1240.498891619897, -126398453.65013543,
      -4897906.2465365762, 7089.4958634467766, 1.7958797109555242,
      -71451.666062326825, -1176.8738640162774, 1.7960135677573734,
      0.00045494079727902387;
  gram.yy << 5.108394620959558e+24, 1.9738713023545182e+23,
      -2.8574152653832939e+20, -72382772533482944, 1.9738713023545182e+23,
      7.639332463570896e+21, -1.1058129746710112e+19, -2801196376761370,
      -2.8574152653832939e+20, -1.1058129746710112e+19, 16006968411859508,
      4054814227906.1792, -72382772533482944, -2801196376761370,
      4054814227906.1792, 1027147552.2293612;
  gram.sg << 31104.279228773259, -383.65156211247404, -0.00013385680154019176,
      -0.46305827460810872;
  gram.yg << 1.6317158966855206e+17, 2719874112328024.5, -4146352136366.1724,
      -1050296164.5614476;
  gram.gg = 1048072579889.3975;
  const LimitedMemoryModel model =
      LimitedMemoryModel::Build(QuasiNewtonUpdate::kLbfgs, gram, 3);
  ASSERT_GT(model.rank(), 0);
  EXPECT_GT(model.eigenvalues().minCoeff(), 0.0)
      << model.eigenvalues().transpose();
  const LimitedMemoryModel::Step step =
      model.Solve(gram.sg, gram.yg, gram.gg, 0.25);
  EXPECT_FALSE(step.hard_case);
  EXPECT_LT(step.model_change, 0.0);
}

TEST(LimitedMemoryModel, DropsDependentPairsAndRankDeficientDirections) {
  // n = 2 with five pairs: at most two independent s's, Psi of rank <= 2.
  std::mt19937 rng(2);
  const MatrixXd a = RandomSymmetric(rng, 2, /*definite=*/true);
  const Pairs p = RandomPairs(rng, 2, 5, a);
  const Pairs newest{p.s.rightCols(2), p.y.rightCols(2)};
  VectorXd g(2);
  g << 0.7, -0.4;
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLbfgs, QuasiNewtonUpdate::kLsr1}) {
    const PairGram gram = GramOf(p, g);
    const LimitedMemoryModel model = LimitedMemoryModel::Build(update, gram, 2);
    EXPECT_EQ(model.used_pairs(), 2);
    EXPECT_LE(model.rank(), 2);
    // The model of the two newest pairs.
    const MatrixXd b = Recursive(update, newest, model.gamma());
    for (double radius : {0.1, 100.0}) {
      const LimitedMemoryModel::Step step =
          model.Solve(gram.sg, gram.yg, gram.gg, radius);
      const VectorXd x = Combine(p, g, step.coefficients);
      const testing::ReferenceStep ref =
          testing::SolveTrustRegionSubproblem(b, g, radius);
      EXPECT_LE((x - ref.p).norm(), 1e-8 * radius) << x.transpose();
    }
    // SR1 is hereditary on a quadratic: two independent pairs give B = A and
    // the Newton step.
    if (update == QuasiNewtonUpdate::kLsr1) {
      const LimitedMemoryModel::Step step =
          model.Solve(gram.sg, gram.yg, gram.gg, 100.0);
      EXPECT_LE((Combine(p, g, step.coefficients) + a.ldlt().solve(g)).norm(),
                1e-8);
    }
  }
}

TEST(LimitedMemoryModel, RankAndStepDoNotDependOnTheUnitsOfX) {
  // x' = alpha x turns s into alpha s, y and g into y / alpha and g / alpha:
  // the same model in other units. With two pairs in R^5, L-BFGS's Psi =
  // [S Y] has rank 4 and L-SR1's Psi = Y - gamma S rank 2 whatever alpha, and
  // the step for radius alpha * r is alpha times the step for r.
  // (Measured against its longest column, L-BFGS's Psi at alpha = 1e-6 lost
  // its s directions: ||s||^2 / ||y||^2 ~ 1e-24.)
  std::mt19937 rng(5);
  const int n = 5;
  const MatrixXd a = RandomSymmetric(rng, n, /*definite=*/true);
  const Pairs p = RandomPairs(rng, n, 2, a);
  std::normal_distribution<double> normal;
  VectorXd g(n);
  for (int i = 0; i < n; ++i) g(i) = normal(rng);
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLbfgs, QuasiNewtonUpdate::kLsr1}) {
    VectorXd unit_step;
    for (double alpha : {1.0, 1e-6, 1e6}) {
      SCOPED_TRACE(
          std::string(update == QuasiNewtonUpdate::kLbfgs ? "lbfgs" : "lsr1") +
          " alpha " + std::to_string(alpha));
      const Pairs scaled{alpha * p.s, p.y / alpha};
      const PairGram gram = GramOf(scaled, g / alpha);
      const LimitedMemoryModel model =
          LimitedMemoryModel::Build(update, gram, n);
      EXPECT_EQ(model.rank(), update == QuasiNewtonUpdate::kLbfgs ? 4 : 2);
      const LimitedMemoryModel::Step step =
          model.Solve(gram.sg, gram.yg, gram.gg, alpha * 0.3);
      const VectorXd x = Combine(scaled, g / alpha, step.coefficients) / alpha;
      if (alpha == 1.0) {
        unit_step = x;
      } else {
        EXPECT_LE((x - unit_step).norm(), 1e-8 * unit_step.norm())
            << x.transpose() << "\n"
            << unit_step.transpose();
      }
    }
  }
}

TEST(LimitedMemoryModel, ResidualIsTheSecantErrorOfTheModel) {
  std::mt19937 rng(9);
  std::normal_distribution<double> normal;
  const int n = 7;
  const MatrixXd a = RandomSymmetric(rng, n, /*definite=*/false);
  const Pairs p = RandomPairs(rng, n, 3, a);
  VectorXd g(n), s(n), y(n);
  for (int i = 0; i < n; ++i) {
    g(i) = normal(rng);
    s(i) = normal(rng);
    y(i) = normal(rng);
  }
  const LimitedMemoryModel model =
      LimitedMemoryModel::Build(QuasiNewtonUpdate::kLsr1, GramOf(p, g), n);
  const MatrixXd b = Recursive(QuasiNewtonUpdate::kLsr1, p, model.gamma());
  const LimitedMemoryModel::SecantResidual r = model.Residual(
      s.dot(s), s.dot(y), y.dot(y), p.s.transpose() * s, p.y.transpose() * s,
      p.s.transpose() * y, p.y.transpose() * y);
  EXPECT_NEAR(r.s_dot_residual, s.dot(y - b * s), 1e-10 * (y - b * s).norm());
  EXPECT_NEAR(r.residual_norm, (y - b * s).norm(), 1e-8 * (y - b * s).norm());
}

TEST(LimitedMemoryModel, ResidualBoundHoldsWhereTheGramFormulaCancels) {
  // Two L-SR1 pairs in the (e1, e2) plane of A = diag(1e14, 1, 1e14), 1e-3
  // apart in angle: gamma ~ 1e14, and B's eigenvalue near e2 is resolved
  // only to rounding. A new pair along e2: ||y - B s||^2 = y.y - 2 y.B s +
  // ||B s||^2 cancels terms of order gamma^2 |s|^2 ~ 1e20, so the computed
  // square is noise of either sign (0 after clamping, where the skipping
  // rule used to skip the pair), while s.(y - B s) cancels far less. Whatever
  // B the model holds, Cauchy-Schwarz gives ||y - B s|| >= |s.(y - B s)| /
  // ||s||: the bound must respect it, and the pair must pass N&W's rule.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> unit(0.5, 1.5);
  const int n = 3;
  VectorXd diagonal(n);
  diagonal << 1e14, 1.0, 1e14;
  int clamped = 0;
  for (int trial = 0; trial < 20; ++trial) {
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    Pairs p{MatrixXd::Zero(n, 2), MatrixXd()};
    p.s(0, 0) = p.s(0, 1) = 1.0;
    p.s(1, 0) = 1e-3 * unit(rng);
    p.s(1, 1) = -1e-3 * unit(rng);
    p.y = diagonal.asDiagonal() * p.s;
    const LimitedMemoryModel model = LimitedMemoryModel::Build(
        QuasiNewtonUpdate::kLsr1, GramOf(p, VectorXd::Ones(n)), n);
    ASSERT_GT(model.gamma(), 1e13);
    VectorXd s = VectorXd::Zero(n), y = VectorXd::Zero(n);
    s(1) = 1e-4 * unit(rng);
    y(1) = 2.0 * s(1);
    const LimitedMemoryModel::SecantResidual r = model.Residual(
        s.dot(s), s.dot(y), y.dot(y), p.s.transpose() * s, p.y.transpose() * s,
        p.s.transpose() * y, p.y.transpose() * y);
    const double sr = std::fabs(r.s_dot_residual);
    ASSERT_GT(sr, r.s_dot_residual_error);
    EXPECT_GE(r.residual_norm_bound, (sr - r.s_dot_residual_error) / s.norm());
    EXPECT_GE(sr, 1e-8 * s.norm() * r.residual_norm_bound);
    clamped += r.residual_norm < (sr - r.s_dot_residual_error) / s.norm();
  }
  // The unbounded computed norm does break Cauchy-Schwarz here.
  EXPECT_GT(clamped, 0);
}

}  // namespace
}  // namespace optd
