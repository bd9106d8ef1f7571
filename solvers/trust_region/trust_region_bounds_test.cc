// Box bounds for the trust-region solver's quasi-Newton subproblem
// (trust_region.h, "Box bounds"): the reduced model, the projected step, and
// the constrained minima that scipy's L-BFGS-B reaches on the same boxes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/core/bounds.h"
#include "solvers/sharding/trust_region_slice.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/bounds_testing.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/trust_region_reference.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

using ::optd::testing::kInf;
using ::optd::testing::MakeBounds;

// --- The reduced model (trust_region_obs.h, Build with free_gram) ---------

// B by the textbook recursions (Nocedal & Wright eqs. 6.19 and 6.24).
MatrixXd Recursive(QuasiNewtonUpdate update, const MatrixXd& s,
                   const MatrixXd& y, double gamma) {
  const int n = static_cast<int>(s.rows());
  MatrixXd b = gamma * MatrixXd::Identity(n, n);
  for (int i = 0; i < s.cols(); ++i) {
    const VectorXd si = s.col(i), yi = y.col(i), bs = b * si;
    if (update == QuasiNewtonUpdate::kLbfgs) {
      b += -bs * bs.transpose() / si.dot(bs) + yi * yi.transpose() / yi.dot(si);
    } else {
      const VectorXd r = yi - bs;
      b += r * r.transpose() / r.dot(si);
    }
  }
  return b;
}

PairGram GramOf(const MatrixXd& s, const MatrixXd& y, const VectorXd& g) {
  PairGram gram;
  gram.ss = s.transpose() * s;
  gram.sy = s.transpose() * y;
  gram.yy = y.transpose() * y;
  gram.sg = s.transpose() * g;
  gram.yg = y.transpose() * g;
  gram.gg = g.squaredNorm();
  return gram;
}

// The reduced model's step is the dense subproblem's on the free variables
// (min g_F.p + p.B_FF.p/2, ||p|| <= radius), zero on the others, and
// ModelChange of any p supported on the free variables is g.p + p.B.p/2.
TEST(ReducedLimitedMemoryModel, SolvesTheSubproblemOfTheFreeVariables) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal;
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLbfgs, QuasiNewtonUpdate::kLsr1}) {
    for (int trial = 0; trial < 20; ++trial) {
      const int n = 7 + trial % 4, k = 1 + trial % 4;
      MatrixXd a(n, n);
      for (int i = 0; i < n * n; ++i) a(i) = normal(rng);
      a = update == QuasiNewtonUpdate::kLbfgs
              ? MatrixXd(a * a.transpose() + MatrixXd::Identity(n, n))
              : MatrixXd(0.5 * (a + a.transpose()));
      MatrixXd s(n, k);
      for (int i = 0; i < n * k; ++i) s(i) = normal(rng);
      const MatrixXd y = a * s;
      VectorXd g(n);
      for (int i = 0; i < n; ++i) g(i) = normal(rng);
      // Z: variables 0, 3, 6, ... are held.
      VectorXd z = VectorXd::Ones(n);
      for (int i = 0; i < n; i += 3) z(i) = 0.0;
      const int free = static_cast<int>(z.sum());
      const PairGram gram = GramOf(s, y, g);
      const PairGram free_gram =
          GramOf(z.asDiagonal() * s, z.asDiagonal() * y, z.cwiseProduct(g));
      const LimitedMemoryModel model =
          LimitedMemoryModel::Build(update, gram, free, &free_gram);
      ASSERT_EQ(model.used_pairs(), k);
      const MatrixXd b = Recursive(update, s, y, model.gamma());
      std::vector<int> f;
      for (int i = 0; i < n; ++i) {
        if (z(i) != 0) f.push_back(i);
      }
      MatrixXd b_ff(free, free);
      VectorXd g_f(free);
      for (int r = 0; r < free; ++r) {
        g_f(r) = g(f[r]);
        for (int c = 0; c < free; ++c) b_ff(r, c) = b(f[r], f[c]);
      }
      SCOPED_TRACE(::testing::Message() << "trial " << trial);
      for (double radius : {0.05, 0.5, 50.0}) {
        const LimitedMemoryModel::Step step =
            model.Solve(free_gram.sg, free_gram.yg, free_gram.gg, radius);
        // The slices' p = Z (S c_s + Y c_y) + c_g Z g.
        const VectorXd p = z.cwiseProduct(s * step.coefficients.head(k) +
                                          y * step.coefficients.segment(k, k) +
                                          step.coefficients(2 * k) * g);
        const testing::ReferenceStep ref =
            testing::SolveTrustRegionSubproblem(b_ff, g_f, radius);
        VectorXd p_f(free);
        for (int r = 0; r < free; ++r) p_f(r) = p(f[r]);
        if (!ref.hard_case) {
          EXPECT_LE((p_f - ref.p).norm(), 1e-7 * radius);
        }
        const double dense_change = g.dot(p) + 0.5 * p.dot(b * p);
        EXPECT_NEAR(step.model_change, dense_change,
                    1e-9 * std::fabs(ref.model_change));
        EXPECT_NEAR(model.ModelChange(g.dot(p), p.squaredNorm(),
                                      s.transpose() * p, y.transpose() * p),
                    dense_change, 1e-9 * (1 + std::fabs(dense_change)));
      }
    }
  }
}

// --- The slice's box operations (trust_region_slice.h) ---------------------

TEST(TrustRegionSliceBounds, FreeGramAndProjectedStepMatchDirectFormulas) {
  const int n = 6;
  const ShardRange range{0, n};
  TrustRegionSlice slice(range, /*memory=*/2, /*cg_vectors=*/false);
  const Bounds box =
      MakeBounds({0, 0, -1, -kInf, -2, 0}, {1, 1, 1, 0, kInf, 5});
  slice.SetBounds(box);
  auto view = [](const VectorXd& v) {
    return ConstVectorView::Float64(v.data(), v.size());
  };
  VectorXd x0(n), g0(n), g1(n);
  x0 << 2.0, 0.5, 0.25, 0.5, -1.0, 1.0;  // x0(0), x0(3) are projected
  g0 << 1.0, -2.0, 0.5, -1.0, 3.0, -0.5;
  g1 << 0.5, -1.0, 0.75, -0.5, 2.0, 0.25;
  slice.SetTrialPoint(view(x0));
  ASSERT_EQ(slice.SetTrialGradient(view(g0)), -1);
  slice.Advance(false, true);
  // p = -0.1 Z g0 (x0(3) = 0 = upper with g0(3) < 0 is held), no pairs yet.
  const std::vector<double> first = {-0.1};
  slice.FormProjectedStep(first);
  ASSERT_EQ(slice.SetTrialGradient(view(g1)), -1);
  slice.Advance(/*push_pair=*/true, /*accept=*/true);
  VectorXd x(n), g(n);
  slice.ReadPoint(MutableVectorView::Float64(x.data(), n));
  slice.ReadGradient(MutableVectorView::Float64(g.data(), n));
  VectorXd x_start = x0;
  box.Project(x_start.data());
  const VectorXd s = x - x_start, y = g1 - g0;
  // Active at x: on a bound, gradient pushing out.
  VectorXd z(n);
  for (int i = 0; i < n; ++i) {
    const bool active = (x(i) <= box.lower(i) && g(i) > 0) ||
                        (x(i) >= box.upper(i) && g(i) < 0);
    z(i) = active ? 0.0 : 1.0;
  }
  ASSERT_EQ(z(3), 0.0);  // still held: x(3) = 0 = upper, g(3) < 0
  const BlockPartials box_partials = slice.ReduceBox();
  const Reduction box_dots = SumInBlockOrder({&box_partials});
  EXPECT_EQ(box_dots.sums[0], z.sum());
  VectorXd projected_gradient(n);
  for (int i = 0; i < n; ++i) {
    projected_gradient(i) = box.Project(i, x(i) - g(i)) - x(i);
  }
  EXPECT_EQ(box_dots.max_abs, projected_gradient.cwiseAbs().maxCoeff());

  const BlockPartials gram = slice.ReduceFreeGram();
  const FreeGramDots L{1};
  const VectorXd zs = z.cwiseProduct(s), zy = z.cwiseProduct(y),
                 zg = z.cwiseProduct(g);
  EXPECT_NEAR(gram.at(0, L.ss(0, 0)), zs.dot(zs), 1e-15);
  EXPECT_NEAR(gram.at(0, L.yy(0, 0)), zy.dot(zy), 1e-15);
  EXPECT_NEAR(gram.at(0, L.sy(0, 0)), zs.dot(zy), 1e-15);
  EXPECT_NEAR(gram.at(0, L.sg(0)), zs.dot(zg), 1e-15);
  EXPECT_NEAR(gram.at(0, L.yg(0)), zy.dot(zg), 1e-15);
  EXPECT_NEAR(gram.at(0, L.gg()), zg.dot(zg), 1e-15);

  const std::vector<double> c = {3.0, -2.0, -1.5};  // over [s, y, g]
  const BlockPartials step = slice.FormProjectedStep(c);
  VectorXd want = z.cwiseProduct(c[0] * s + c[1] * y + c[2] * g);
  int clipped = 0;
  for (int i = 0; i < n; ++i) {
    const double to = box.Project(i, x(i) + want(i));
    if (z(i) != 0 && to != x(i) + want(i)) {
      ++clipped;
      want(i) = to - x(i);
    }
  }
  VectorXd trial(n);
  slice.ReadTrialPoint(MutableVectorView::Float64(trial.data(), n));
  EXPECT_TRUE(box.Contains(trial.data()));
  const ProjectedStepDots P{1};
  EXPECT_GT(clipped, 0);
  EXPECT_EQ(step.at(0, P.clipped()), clipped);
  EXPECT_NEAR((trial - x - want).norm(), 0.0, 1e-15);
  EXPECT_NEAR(step.at(0, P.pp()), want.squaredNorm(), 1e-14);
  EXPECT_NEAR(step.at(0, P.pg()), want.dot(g), 1e-14);
  EXPECT_NEAR(step.at(0, P.ps(0)), want.dot(s), 1e-14);
  EXPECT_NEAR(step.at(0, P.py(0)), want.dot(y), 1e-14);
}

// --- The solver ------------------------------------------------------------

struct BoxedRun {
  testing::DriveResult run;
  bool trials_inside = true;
};

BoxedRun Minimize(const problems::TestProblem& p, const Bounds& box,
                  QuasiNewtonUpdate update, double gtol = 1e-8) {
  TrustRegionOptions options;
  options.quasi_newton_update = update;
  options.gtol = gtol;
  auto solver = TrustRegion::Create(
      options, ConstVectorView::Float64(p.x0.data(), p.n), box);
  EXPECT_OK(solver);
  BoxedRun out;
  if (!solver.ok()) return out;
  testing::DriveOptions drive;
  drive.record_trials = true;
  out.run = testing::Drive(**solver, {p.evaluate, nullptr}, drive);
  for (const VectorXd& x : out.run.trials) {
    if (!box.Contains(x.data())) out.trials_inside = false;
  }
  return out;
}

struct BoxCase {
  std::string problem;  // an MGH problem, or "extended_rosenbrock" n = 100
  std::vector<double> lower, upper;
  // scipy 1.10.1 L-BFGS-B's final value on the same box from the same x0.
  double scipy_value;
  std::vector<double> scipy_x;  // leading coordinates of its solution
};

// The scipy values, from tests/data (mgh_problems.py), with
//   from scipy.optimize import minimize
//   import numpy as np, mgh_problems as m
//   p = m.find_problem(name)
//   r = minimize(p.fun, p.x0, jac=True, method='L-BFGS-B', bounds=bounds,
//                options=dict(ftol=1e-15, gtol=1e-12, maxiter=15000))
// (extended Rosenbrock n = 100: fun from m._extended_rosenbrock, x0 =
// np.tile([-1.2, 1.0], 50)), run by /usr/bin/python3 with scipy 1.10.1.
std::vector<BoxCase> Cases() {
  std::vector<BoxCase> cases = {
      // rosenbrock, bounds [(-inf, 0.5), (-inf, inf)]: x = (0.5, 0.25).
      {"rosenbrock", {-kInf, -kInf}, {0.5, kInf}, 0.25, {0.5, 0.25}},
      // beale, [(-inf, 2.5), (-inf, inf)]: the unconstrained (3, 0.5) cut.
      {"beale",
       {-kInf, -kInf},
       {2.5, kInf},
       0.07270005065353367,
       {2.5, 0.35006349472849235}},
      // beale, [(0, 2), (0.7, 1)]: a corner.
      {"beale", {0.0, 0.7}, {2.0, 1.0}, 4.041620999999999, {2.0, 0.7}},
      // wood, [(0, 0.8)] * 4 (x0 projected to 0). With lower bounds -4 the
      // box also holds a local minimum, f = 8.75394378084356 at (-0.88847,
      // 0.8, -0.88780, 0.8), where the solver stops (scipy started there
      // stays there) while scipy's path goes to the one below.
      {"wood",
       {0, 0, 0, 0},
       {0.8, 0.8, 0.8, 0.8},
       4.360371326558634,
       {0.8, 0.6994561933534745, 0.8, 0.7060477890689372}},
  };
  // extended_rosenbrock n = 100, [(-2, 0.8)] * 100: every pair at
  // (0.8, 0.64), f = 50 * 0.04.
  cases.push_back({"extended_rosenbrock",
                   std::vector<double>(100, -2.0),
                   std::vector<double>(100, 0.8),
                   2.000000000000001,
                   {0.8, 0.6400000000000001, 0.8, 0.6400000000000001}});
  // extended_rosenbrock n = 100, x_{2i-1} <= 0.5 (0-based even indices).
  BoxCase half{"extended_rosenbrock",
               std::vector<double>(100, -kInf),
               std::vector<double>(100, kInf),
               12.5,
               {0.5, 0.25, 0.5, 0.25}};
  for (int i = 0; i < 100; i += 2) half.upper[i] = 0.5;
  cases.push_back(half);
  return cases;
}

problems::TestProblem ProblemOf(const BoxCase& c) {
  if (c.problem == "extended_rosenbrock") {
    auto p = problems::ScalableProblem("extended_rosenbrock", 100);
    EXPECT_OK(p);
    return *p;
  }
  auto p = problems::FindProblem(c.problem);
  EXPECT_OK(p);
  return *p;
}

TEST(TrustRegionBounds, ReachesTheConstrainedMinimaOfScipyLbfgsb) {
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
    for (const BoxCase& c : Cases()) {
      const problems::TestProblem p = ProblemOf(c);
      SCOPED_TRACE(c.problem + " " + UpdateName(update));
      const Bounds box = MakeBounds(c.lower, c.upper);
      const BoxedRun r = Minimize(p, box, update);
      ASSERT_TRUE(r.run.finished);
      EXPECT_EQ(r.run.summary.reason, TerminationReason::kGradientTolerance)
          << r.run.summary.message;
      EXPECT_TRUE(r.trials_inside);
      EXPECT_NEAR(r.run.summary.value, c.scipy_value,
                  1e-9 * std::max(1.0, c.scipy_value));
      for (size_t i = 0; i < c.scipy_x.size(); ++i) {
        EXPECT_NEAR(r.run.x(i), c.scipy_x[i], 1e-6) << "x[" << i << "]";
      }
      // The projected gradient, not |g|, is what converged.
      EXPECT_LE(r.run.summary.gradient_max_norm, 1e-8);
    }
  }
}

TEST(TrustRegionBounds, InfiniteBoundsGiveBitwiseTheUnboundedIterates) {
  auto rosenbrock = problems::FindProblem("rosenbrock");
  ASSERT_OK(rosenbrock);
  auto extended = problems::ScalableProblem("extended_rosenbrock", 100);
  ASSERT_OK(extended);
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
    for (const problems::TestProblem& p : {*rosenbrock, *extended}) {
      SCOPED_TRACE(p.name + " " + UpdateName(update));
      TrustRegionOptions options;
      options.quasi_newton_update = update;
      options.gtol = 1e-8;
      const ConstVectorView x0 = ConstVectorView::Float64(p.x0.data(), p.n);
      ASSERT_OK_AND_ASSIGN(auto plain, TrustRegion::Create(options, x0));
      ASSERT_OK_AND_ASSIGN(
          auto boxed, TrustRegion::Create(options, x0, Bounds::Unbounded(p.n),
                                          /*shards=*/2));
      testing::DriveOptions drive;
      drive.record_trials = true;
      const testing::DriveResult a =
          testing::Drive(*plain, {p.evaluate, nullptr}, drive);
      const testing::DriveResult b =
          testing::Drive(*boxed, {p.evaluate, nullptr}, drive);
      ASSERT_EQ(a.trials.size(), b.trials.size());
      for (size_t t = 0; t < a.trials.size(); ++t) {
        ASSERT_TRUE((a.trials[t].array() == b.trials[t].array()).all())
            << "trial " << t;
      }
      EXPECT_EQ(a.summary.value, b.summary.value);
      EXPECT_EQ(a.summary.gradient_max_norm, b.summary.gradient_max_norm);
      EXPECT_EQ(a.summary.iterations, b.summary.iterations);
    }
  }
}

// The box operations reduce each slice's range in global block order: the
// bounded iterates are bitwise those of one slice for K = 1..4 (slices of
// whole blocks, so n spans several), both quasi-Newton updates.
TEST(TrustRegionBounds, SlicesGiveBitwiseTheSameIteratesForAnyK) {
  const int64_t n = 3 * kReductionBlock + 77;
  std::vector<double> x0(n), c(n), w(n), lower(n), upper(n);
  for (int64_t i = 0; i < n; ++i) {
    x0[i] = std::sin(0.37 * i);
    c[i] = 2.0 * std::cos(0.11 * i);
    w[i] = 1.0 + (i % 13) * 0.25;
    lower[i] = i % 5 == 0 ? -kInf : -0.5 - 0.001 * (i % 7);
    upper[i] = i % 3 == 0 ? kInf : 0.75 + 0.003 * (i % 11);
  }
  const Bounds box = MakeBounds(lower, upper);
  const auto evaluate = [&](const VectorXd& x, VectorXd* g) {
    double f = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      f += 0.5 * w[i] * (x(i) - c[i]) * (x(i) - c[i]);
      if (g != nullptr) (*g)(i) = w[i] * (x(i) - c[i]);
    }
    return f;
  };
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
    SCOPED_TRACE(UpdateName(update));
    TrustRegionOptions options;
    options.quasi_newton_update = update;
    options.max_iterations = 15;
    std::vector<testing::DriveResult> runs;
    for (int k = 1; k <= 4; ++k) {
      ASSERT_OK_AND_ASSIGN(
          auto solver,
          TrustRegion::Create(options, ConstVectorView::Float64(x0.data(), n),
                              box, k));
      testing::DriveOptions drive;
      drive.record_trials = true;
      runs.push_back(testing::Drive(*solver, {evaluate, nullptr}, drive));
    }
    ASSERT_GT(runs[0].trials.size(), 5u);
    for (int k = 2; k <= 4; ++k) {
      ASSERT_EQ(runs[k - 1].trials.size(), runs[0].trials.size()) << k;
      for (size_t t = 0; t < runs[0].trials.size(); ++t) {
        ASSERT_TRUE(
            (runs[k - 1].trials[t].array() == runs[0].trials[t].array()).all())
            << "K = " << k << ", trial " << t;
      }
      EXPECT_EQ(runs[k - 1].summary.value, runs[0].summary.value);
    }
  }
}

// f = sum_i w_i (x_i - c_i)^2 / 2 on [-1, 1]^n, c_i = +-3 alternating, from
// x0 = (1, -1, 1, ...) (c_i beyond the near bound for even i) and beyond
// the box (projected first).
TEST(TrustRegionBounds, HoldsActiveVariablesAndProjectsTheStart) {
  const int n = 6;
  const std::vector<double> c = {3, 0.25, -3, -0.5, 3, 0.75};
  const std::vector<double> w = {1, 2, 3, 4, 5, 6};
  problems::TestProblem q;
  q.name = "boxed_quadratic";
  q.n = n;
  q.x0 = VectorXd(n);
  q.x0 << 1.0, 7.0, -1.0, -7.0, 5.0, 0.0;
  q.evaluate = [&](const VectorXd& x, VectorXd* g) {
    double f = 0.0;
    if (g != nullptr) g->resize(n);
    for (int i = 0; i < n; ++i) {
      f += 0.5 * w[i] * (x(i) - c[i]) * (x(i) - c[i]);
      if (g != nullptr) (*g)(i) = w[i] * (x(i) - c[i]);
    }
    return f;
  };
  const Bounds box =
      MakeBounds(std::vector<double>(n, -1.0), std::vector<double>(n, 1.0));
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
    SCOPED_TRACE(UpdateName(update));
    TrustRegionOptions options;
    options.quasi_newton_update = update;
    // Not lower: at the minimum f = 18, and a decrease below half an ulp of
    // f is not measurable (the solver then stops, trust_region.h).
    options.gtol = 1e-7;
    ASSERT_OK_AND_ASSIGN(
        auto solver,
        TrustRegion::Create(options, ConstVectorView::Float64(q.x0.data(), n),
                            box));
    std::vector<double> start(n);
    ASSERT_OK(
        solver->ReadTrialPoint(MutableVectorView::Float64(start.data(), n)));
    EXPECT_EQ(start, (std::vector<double>{1, 1, -1, -1, 1, 0}));
    testing::DriveOptions drive;
    drive.record_trials = true;
    const testing::DriveResult r =
        testing::Drive(*solver, {q.evaluate, nullptr}, drive);
    EXPECT_EQ(r.summary.reason, TerminationReason::kGradientTolerance);
    // x_0, x_2 and x_4 start on the bound c pushes them against: every trial
    // leaves them there.
    for (const VectorXd& x : r.trials) {
      EXPECT_EQ(x(0), 1.0);
      EXPECT_EQ(x(2), -1.0);
      EXPECT_EQ(x(4), 1.0);
    }
    EXPECT_NEAR(r.x(1), 0.25, 1e-7);
    EXPECT_NEAR(r.x(3), -0.5, 1e-7);
    EXPECT_NEAR(r.x(5), 0.75, 1e-7);
    // Reported: the projected gradient (<= gtol), while max |g_i| = 2 * 5.
    EXPECT_LE(solver->progress().gradient_max_norm, 1e-7);
    EXPECT_LE(r.summary.gradient_max_norm, 1e-7);
    EXPECT_THAT(r.summary.options_report, HasSubstr("bounds: projected"));
  }
}

TEST(TrustRegionBounds, Errors) {
  const std::vector<double> x0 = {0.5, 0.5};
  const ConstVectorView view = ConstVectorView::Float64(x0.data(), 2);
  const Bounds box = MakeBounds({0.0, -kInf}, {1.0, kInf});
  for (TrustRegionSubproblem sub :
       {TrustRegionSubproblem::kExact, TrustRegionSubproblem::kNewtonCg,
        TrustRegionSubproblem::kNewtonCgFiniteDifference}) {
    TrustRegionOptions options;
    options.subproblem = sub;
    EXPECT_THAT(TrustRegion::Create(options, view, box),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("bounds are supported by trust_region only "
                                   "with the quasi_newton subproblem")));
    // Bounds with no finite side are no bounds.
    EXPECT_OK(TrustRegion::Create(options, view, Bounds::Unbounded(2)));
  }
  EXPECT_THAT(
      TrustRegion::Create(TrustRegionOptions(), view, MakeBounds({0.0}, {1.0})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("bounds have 1 elements; x0 has 2")));
}

}  // namespace
}  // namespace optd
