// L-BFGS-B (lbfgsb.h) against scipy 1.10's L-BFGS-B on the bound-constrained
// problems of solvers/testing/bounded_problems.h (recorded by
// tests/data/gen_scipy_lbfgsb_bounded.py), on the unbounded MGH problems
// (tests/data/scipy_lbfgsb_1.10.txt), and through the Solver interface.
#include "solvers/lbfgsb/lbfgsb.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/bounded_problems.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/scipy_reference.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::problems::BoundedProblem;
using ::optd::testing::BoundedReference;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::unique_ptr<LbfgsB> MakeSolver(const Eigen::VectorXd& x0,
                                   const Bounds& bounds,
                                   const LbfgsOptions& options = {}) {
  auto solver = LbfgsB::Create(
      options, ConstVectorView::Float64(x0.data(), x0.size()), bounds);
  EXPECT_OK(solver);
  return solver.ok() ? *std::move(solver) : nullptr;
}

testing::DriveResult Minimize(const BoundedProblem& p,
                              const testing::DriveOptions& drive = {},
                              const LbfgsOptions& options = {}) {
  auto solver = MakeSolver(p.problem.x0, p.bounds(), options);
  return testing::Drive(*solver, {p.problem.evaluate, nullptr}, drive);
}

// Variables at a bound, -1 at the lower, +1 at the upper, 0 inside. Within
// 1e-10 (scaled) of the bound: L-BFGS-B puts active variables exactly on it,
// but a variable whose minimizer is at the bound may stop just inside.
std::vector<int> ActiveSet(const BoundedProblem& p, const Eigen::VectorXd& x) {
  std::vector<int> active(p.problem.n, 0);
  for (int i = 0; i < p.problem.n; ++i) {
    const double tol = 1e-10 * std::max(1.0, std::fabs(x[i]));
    if (x[i] - p.lower[i] <= tol) active[i] = -1;
    if (p.upper[i] - x[i] <= tol) active[i] = 1;
  }
  return active;
}

std::vector<BoundedReference> References() {
  auto refs = testing::LoadBoundedReferences(OPTD_TEST_DATA_DIR
                                             "/scipy_lbfgsb_bounded_1.10.txt");
  EXPECT_OK(refs);
  return refs.ok() ? *refs : std::vector<BoundedReference>{};
}

TEST(LbfgsbProblems, MatchTheirNumpyTwinsAtTheProjectedStart) {
  const std::vector<BoundedReference> refs = References();
  ASSERT_EQ(refs.size(), problems::BoundedProblems().size());
  for (const BoundedReference& ref : refs) {
    auto p = problems::FindBoundedProblem(ref.name);
    ASSERT_OK(p);
    ASSERT_EQ(p->problem.n, ref.n) << ref.name;
    Eigen::VectorXd x0 = p->problem.x0;
    p->bounds().Project(x0.data());
    EXPECT_NEAR(p->problem.evaluate(x0, nullptr), ref.f_x0,
                1e-12 * std::max(1.0, std::fabs(ref.f_x0)))
        << ref.name;
  }
}

// The core check: on at least 25 bounded problems optd reaches scipy's
// minimum (value and point, same active set) with a similar number of
// evaluations: at most 1.5 scipy's + 5 on each problem.
TEST(LbfgsbAgainstScipy, ReachesScipysBoundedMinimaWithSimilarEvaluations) {
  const std::vector<BoundedReference> refs = References();
  ASSERT_GE(refs.size(), 20u);
  int64_t optd_total = 0, scipy_total = 0;
  int same_message = 0, same_nfev = 0;
  std::printf("%-32s %5s %6s %6s %5s %5s  %-16s %-16s\n", "problem", "n",
              "nfev", "scipy", "nit", "scipy", "f", "scipy f");
  for (const BoundedReference& ref : refs) {
    auto p = problems::FindBoundedProblem(ref.name);
    ASSERT_OK(p);
    const testing::DriveResult run = Minimize(*p);
    const Summary& s = run.summary;
    std::printf("%-32s %5d %6lld %6d %5lld %5d  %-16.10g %-16.10g\n",
                ref.name.c_str(), ref.n, static_cast<long long>(s.evaluations),
                ref.nfev, static_cast<long long>(s.iterations), ref.nit,
                s.value, ref.fun);
    ASSERT_TRUE(run.finished) << ref.name;
    EXPECT_EQ(s.success(), ref.status == 0) << ref.name << s.FullReport();
    if (absl::StrReplaceAll(s.message, {{" ", "_"}}) == ref.message) {
      ++same_message;
    }
    // The same minimum: the value within what the stopping rules allow, or
    // lower when scipy stopped short of f_ref.
    const double tol = std::max(1e-8, 1e-6 * std::fabs(ref.fun));
    EXPECT_LE(s.value, ref.fun + tol) << ref.name;
    EXPECT_GE(s.value, ref.f_ref - std::max(1e-8, 1e-6 * std::fabs(ref.f_ref)))
        << ref.name;
    const Eigen::VectorXd scipy_x =
        Eigen::Map<const Eigen::VectorXd>(ref.x.data(), ref.n);
    if (std::fabs(s.value - ref.fun) <= tol) {
      EXPECT_LE((run.x - scipy_x).lpNorm<Eigen::Infinity>(),
                1e-3 * std::max(1.0, scipy_x.lpNorm<Eigen::Infinity>()))
          << ref.name;
      EXPECT_EQ(ActiveSet(*p, run.x), ActiveSet(*p, scipy_x)) << ref.name;
    }
    EXPECT_LE(s.evaluations, 1.5 * ref.nfev + 5) << ref.name;
    optd_total += s.evaluations;
    scipy_total += ref.nfev;
    same_nfev += s.evaluations == ref.nfev;
  }
  std::printf(
      "evaluations: optd %lld, scipy %lld; %d of %zu with scipy's "
      "message, %d with scipy's nfev exactly\n",
      static_cast<long long>(optd_total), static_cast<long long>(scipy_total),
      same_message, refs.size(), same_nfev);
  EXPECT_LE(optd_total, scipy_total * 11 / 10);
  EXPECT_GE(same_message, static_cast<int>(refs.size()) * 3 / 4);
  // Same algorithm, same order of operations: most runs are scipy's to the
  // evaluation (rounding in BLAS sums aside).
  EXPECT_GE(same_nfev, static_cast<int>(refs.size()) * 3 / 4);
}

TEST(LbfgsbAgainstScipy, WithoutBoundsFollowsScipyOnTheMghProblems) {
  auto refs =
      testing::LoadScipyReferences(OPTD_TEST_DATA_DIR "/scipy_lbfgsb_1.10.txt");
  ASSERT_OK(refs);
  int same_count = 0, compared = 0;
  for (const testing::ScipyReference& ref : *refs) {
    // Parts ways with scipy for the reason lbfgs_scipy_test.cc gives.
    if (ref.name == "jennrich_sampson") continue;
    auto p = problems::FindProblem(ref.name);
    ASSERT_OK(p);
    auto solver = MakeSolver(p->x0, Bounds::Unbounded(p->n));
    const testing::DriveResult run =
        testing::Drive(*solver, {p->evaluate, nullptr});
    ++compared;
    EXPECT_EQ(run.summary.success(), ref.status == 0) << ref.name;
    EXPECT_NEAR(run.summary.value, ref.fun,
                std::max(1e-6 * std::fabs(ref.fun), 1e-8))
        << ref.name;
    EXPECT_LE(std::abs(run.summary.evaluations - ref.nfev),
              std::max(4, ref.nfev / 4))
        << ref.name;
    if (run.summary.evaluations == ref.nfev) ++same_count;
  }
  std::printf("%d of %d problems with scipy's nfev exactly\n", same_count,
              compared);
  EXPECT_GE(same_count, compared / 2);
}

TEST(LbfgsB, WithoutBoundsTakesLbfgssStepsUpToRounding) {
  for (const char* name : {"rosenbrock", "wood", "extended_powell_100"}) {
    auto p = problems::FindProblem(name);
    ASSERT_OK(p);
    auto bounded = MakeSolver(p->x0, Bounds::Unbounded(p->n));
    auto plain = *Lbfgs::Create(LbfgsOptions(),
                                ConstVectorView::Float64(p->x0.data(), p->n));
    testing::DriveOptions record;
    record.record_trials = true;
    const auto a = testing::Drive(*bounded, {p->evaluate, nullptr}, record);
    const auto b = testing::Drive(*plain, {p->evaluate, nullptr}, record);
    // Compact form and two-loop recursion round differently; the first
    // iterations agree closely before the paths drift apart.
    const size_t k =
        std::min<size_t>(12, std::min(a.trials.size(), b.trials.size()));
    for (size_t i = 0; i < k; ++i) {
      EXPECT_LE((a.trials[i] - b.trials[i]).lpNorm<Eigen::Infinity>(),
                1e-6 * std::max(1.0, b.trials[i].lpNorm<Eigen::Infinity>()))
          << name << " trial " << i;
    }
    EXPECT_NEAR(a.summary.value, b.summary.value,
                std::max(1e-8, 1e-6 * std::fabs(b.summary.value)))
        << name;
  }
}

TEST(LbfgsB, EveryTrialPointLiesInTheBox) {
  for (const BoundedProblem& p : problems::BoundedProblems()) {
    if (p.problem.n > 100) continue;
    testing::DriveOptions record;
    record.record_trials = true;
    const testing::DriveResult run = Minimize(p, record);
    const Bounds box = p.bounds();
    for (const Eigen::VectorXd& x : run.trials) {
      ASSERT_TRUE(box.Contains(x.data())) << p.name;
    }
  }
}

TEST(LbfgsB, AStepToABoundDoesNotRoundPastIt) {
  // session_requests_fuzzer (regression fuzz/regressions/session_requests/
  // lbfgsb-step-rounds-past-bound), replayed: L-BFGS-B behind two
  // data-parallel workers whose gradients carry the harness's jitter
  // 0.54 ((trial id mod 7) - 3). x[1] goes from about 1 to its lower bound
  // -7.5e-155 at the largest feasible step, and stp d + x rounded to
  // -5.6e-17 (trial 7), half an ulp of 1 below the bound.
  const std::vector<double> lower = {-1.0, -7.458340731200207e-155, -1.0};
  const std::vector<double> upper = {3.70163287101258e-304, 1.0,
                                     3.2067298889160156e-05};
  const Bounds box =
      *Bounds::Create(ConstVectorView::Float64(lower.data(), 3),
                      ConstVectorView::Float64(upper.data(), 3), 3);
  Eigen::VectorXd x0(3);
  x0 << -1.45, 1.000000000000055, 0.5;
  LbfgsOptions options;
  options.memory = 3;
  auto solver = WithDataParallel(MakeSolver(x0, box, options), 2);
  ASSERT_OK(solver);
  Solver& s = **solver;
  uint64_t trial_id = 0;
  Eigen::VectorXd x(3), g(3);
  for (int tell = 0; tell < 40 && !s.finished(); ++tell) {
    ++trial_id;
    ASSERT_OK(s.ReadTrialPoint(MutableVectorView::Float64(x.data(), 3)));
    ASSERT_TRUE(box.Contains(x.data()))
        << "trial " << trial_id << ": " << x.transpose();
    double f = 3.0;
    for (int i = 0; i < 3; ++i) {
      f += 1.0000000000000002 * (x[i] - 0.3) * (x[i] - 0.3) +
           6.879105134148699e-136 * std::sin(x[i]);
      g[i] = 2 * 1.0000000000000002 * (x[i] - 0.3) +
             6.879105134148699e-136 * std::cos(x[i]) +
             0.5400000000014552 * (static_cast<double>(trial_id % 7) - 3);
    }
    ASSERT_OK(s.SetTrialGradient(ConstVectorView::Float64(g.data(), 3)));
    TrialResult result;
    result.value = f;
    result.has_gradient = true;
    result.weight = 4.0;
    ASSERT_OK(s.Tell(result));
  }
}

TEST(LbfgsB, ProjectsAStartOutsideTheBox) {
  auto p = problems::FindBoundedProblem("rosenbrock_x0_outside");
  ASSERT_OK(p);
  auto solver = MakeSolver(p->problem.x0, p->bounds());
  EXPECT_TRUE(solver->x0_projected());
  Eigen::VectorXd x(2);
  ASSERT_OK(solver->ReadTrialPoint(MutableVectorView::Float64(x.data(), 2)));
  EXPECT_EQ(x, Eigen::Vector2d(-1.0, 0.2));  // x0 = (-1.2, 1) clipped

  auto inside = MakeSolver(Eigen::Vector2d(0.0, 0.0), p->bounds());
  EXPECT_FALSE(inside->x0_projected());
}

TEST(LbfgsB, ConvergesOnTheProjectedGradientWithScipysMessage) {
  auto p = problems::FindBoundedProblem("rosenbrock_box");
  ASSERT_OK(p);
  const testing::DriveResult run = Minimize(*p);
  EXPECT_EQ(run.summary.reason, TerminationReason::kGradientTolerance);
  EXPECT_EQ(run.summary.message,
            "CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL");
  EXPECT_NEAR(run.x[0], 0.5, 0.0);  // exactly on the bound
  EXPECT_NEAR(run.x[1], 0.25, 1e-6);
  // The gradient there is not small (df/dx1 = -1 at the bound); its
  // projection is.
  Eigen::VectorXd g;
  p->problem.evaluate(run.x, &g);
  EXPECT_GT(std::fabs(g[0]), 0.9);
  EXPECT_LE(run.summary.gradient_max_norm, 1e-5);
}

TEST(LbfgsB, ReportsTheProjectedGradientInProgress) {
  // f = (x - 2)^2 on [0, 1] from x0 = 1: g = -2 at the bound, projected 0.
  const Eigen::VectorXd x0 = Eigen::VectorXd::Constant(1, 1.0);
  const double lower = 0.0, upper = 1.0;
  auto box = Bounds::Create(ConstVectorView::Float64(&lower, 1),
                            ConstVectorView::Float64(&upper, 1), 1);
  ASSERT_OK(box);
  auto solver = MakeSolver(x0, *box);
  const double g = -2.0;
  ASSERT_OK(solver->SetTrialGradient(ConstVectorView::Float64(&g, 1)));
  ASSERT_OK(solver->Tell({.value = 1.0, .has_gradient = true}));
  EXPECT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kGradientTolerance);
  EXPECT_EQ(solver->progress().gradient_max_norm, 0.0);
  EXPECT_EQ(solver->summary().iterations, 0);
}

TEST(LbfgsB, HoldsFixedVariablesWhereLowerEqualsUpper) {
  auto p = problems::FindProblem("rosenbrock");
  ASSERT_OK(p);
  const std::vector<double> lower = {0.3, -kInf}, upper = {0.3, kInf};
  auto box = Bounds::Create(ConstVectorView::Float64(lower.data(), 2),
                            ConstVectorView::Float64(upper.data(), 2), 2);
  ASSERT_OK(box);
  auto solver = MakeSolver(p->x0, *box);
  const auto run = testing::Drive(*solver, {p->evaluate, nullptr});
  EXPECT_TRUE(run.summary.success()) << run.summary.FullReport();
  EXPECT_EQ(run.x[0], 0.3);
  EXPECT_NEAR(run.x[1], 0.09, 1e-6);
}

TEST(LbfgsB, BacktracksFromFailedEvaluationsInTheLineSearch) {
  auto p = problems::FindBoundedProblem("wood_box");
  ASSERT_OK(p);
  const testing::DriveResult clean = Minimize(*p);
  testing::DriveOptions drive;
  // Fail the first trial of a few line searches (tell 0 is x0).
  drive.fail_at = [](int64_t i) { return i == 1 || i == 7 || i == 15; };
  const testing::DriveResult run = Minimize(*p, drive);
  ASSERT_TRUE(run.finished);
  EXPECT_TRUE(run.summary.success()) << run.summary.FullReport();
  EXPECT_EQ(run.summary.failed_evaluations, 3);
  EXPECT_NEAR(run.summary.value, clean.summary.value, 1e-6);
}

TEST(LbfgsB, EndsAbnormallyWhenEveryTrialFails) {
  auto p = problems::FindBoundedProblem("rosenbrock_box");
  ASSERT_OK(p);
  testing::DriveOptions drive;
  drive.fail_at = [](int64_t i) { return i > 0; };
  const testing::DriveResult run = Minimize(*p, drive);
  ASSERT_TRUE(run.finished);
  EXPECT_EQ(run.summary.reason, TerminationReason::kLineSearchFailed);
  EXPECT_EQ(run.summary.message, "ABNORMAL_TERMINATION_IN_LNSRCH");
  // The iterate is still x0, evaluated.
  EXPECT_EQ(run.x, p->problem.x0);
  EXPECT_NEAR(run.summary.value, 24.2, 1e-12);
}

TEST(LbfgsB, AFailedStartEndsTheSession) {
  auto p = problems::FindBoundedProblem("rosenbrock_box");
  ASSERT_OK(p);
  testing::DriveOptions drive;
  drive.fail_at = [](int64_t i) { return i == 0; };
  const testing::DriveResult run = Minimize(*p, drive);
  EXPECT_EQ(run.summary.reason, TerminationReason::kEvaluationFailed);
  EXPECT_TRUE(std::isnan(run.summary.value));
}

TEST(LbfgsB, StopEndsTheSessionAtTheLastIterate) {
  auto p = problems::FindBoundedProblem("beale_box");
  ASSERT_OK(p);
  auto solver = MakeSolver(p->problem.x0, p->bounds());
  testing::DriveOptions drive;
  drive.max_tells = 5;
  testing::Drive(*solver, {p->problem.evaluate, nullptr}, drive);
  ASSERT_FALSE(solver->finished());
  const Progress before = solver->progress();
  solver->Stop();
  EXPECT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kStoppedByClient);
  EXPECT_EQ(solver->summary().value, before.best_value);
  EXPECT_THAT(solver->Tell({.value = 1.0}),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  solver->Stop();  // idempotent
  EXPECT_EQ(solver->summary().reason, TerminationReason::kStoppedByClient);
}

TEST(LbfgsB, StopsAtTheIterationAndEvaluationLimits) {
  auto p = problems::FindBoundedProblem("wood_box");
  ASSERT_OK(p);
  LbfgsOptions options;
  options.max_iterations = 3;
  testing::DriveResult run = Minimize(*p, {}, options);
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxIterations);
  EXPECT_EQ(run.summary.iterations, 3);
  options = LbfgsOptions();
  options.max_evaluations = 5;
  run = Minimize(*p, {}, options);
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxEvaluations);
  EXPECT_EQ(run.summary.message,
            "STOP: TOTAL NO. of f AND g EVALUATIONS EXCEEDS LIMIT");
}

TEST(LbfgsB, CreateRejectsBadArguments) {
  const Eigen::VectorXd x0 = Eigen::Vector2d(1.0, 2.0);
  const ConstVectorView view = ConstVectorView::Float64(x0.data(), 2);
  EXPECT_THAT(LbfgsB::Create(LbfgsOptions(), view, Bounds::Unbounded(3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the bounds have 3 elements; x0 has 2")));
  const Eigen::VectorXd bad = Eigen::Vector2d(1.0, std::nan(""));
  EXPECT_THAT(
      LbfgsB::Create(LbfgsOptions(), ConstVectorView::Float64(bad.data(), 2),
                     Bounds::Unbounded(2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x0[1]")));
  LbfgsOptions options;
  options.memory = 0;
  EXPECT_THAT(
      LbfgsB::Create(options, view, Bounds::Unbounded(2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lbfgs.memory")));
}

TEST(LbfgsB, SetTrialGradientRejectsBadGradientsAndKeepsState) {
  const Eigen::VectorXd x0 = Eigen::Vector2d(1.0, 2.0);
  auto solver = MakeSolver(x0, Bounds::Unbounded(2));
  const double three[3] = {1, 2, 3};
  EXPECT_THAT(solver->SetTrialGradient(ConstVectorView::Float64(three, 3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient has 3 elements")));
  const double nan[2] = {1, std::nan("")};
  EXPECT_THAT(
      solver->SetTrialGradient(ConstVectorView::Float64(nan, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gradient[1]")));
  EXPECT_EQ(solver->name(), "lbfgs");
  EXPECT_EQ(solver->dimension(), 2);
  EXPECT_FALSE(solver->finished());
}

TEST(LbfgsB, NeverHandsOutANanTrialAfterHugeValues) {
  // session_requests_fuzzer (regression fuzz/regressions/session_requests/
  // lbfgsb-nan-trial-after-huge-values), replayed: the start is told a value
  // of 5.3e303, then every trial f = 6.1e-5 |x - 8.4e14|^2 + 3.
  const std::vector<double> lower = {-1.2001487731933593, 0.0, -kInf};
  const std::vector<double> upper = {kInf, kInf, kInf};
  const Bounds box =
      *Bounds::Create(ConstVectorView::Float64(lower.data(), 3),
                      ConstVectorView::Float64(upper.data(), 3), 3);
  Eigen::VectorXd x0(3);
  x0 << -1.2, 1.0, 0.5;
  LbfgsOptions options;
  options.memory = 3;
  auto solver = MakeSolver(x0, box, options);
  Eigen::VectorXd x(3), g(3);
  for (int tell = 0; tell < 21 && !solver->finished(); ++tell) {
    ASSERT_OK(solver->ReadTrialPoint(MutableVectorView::Float64(x.data(), 3)));
    ASSERT_TRUE(x.allFinite()) << "trial " << tell << ": " << x.transpose();
    ASSERT_TRUE(box.Contains(x.data()))
        << "trial " << tell << ": " << x.transpose();
    const double scale = tell == 0 ? 1.0 : 6.1012804508209229e-05;
    const double center = tell == 0 ? -3.0 : 844424930131968.0;
    double f = tell == 0 ? 5.3147664032538223e+303 : 3.0;
    for (int i = 0; i < 3; ++i) {
      f += scale * (x[i] - center) * (x[i] - center);
      g[i] = 2 * scale * (x[i] - center);
    }
    ASSERT_OK(solver->SetTrialGradient(ConstVectorView::Float64(g.data(), 3)));
    ASSERT_OK(solver->Tell({.value = f, .has_gradient = true}));
  }
}

TEST(LbfgsB, EndsWhenTheTrialPointOverflows) {
  // x + stp d overflows: the search cannot start, and no point is handed
  // out.
  const Eigen::VectorXd x0 = Eigen::Vector2d(-1e308, 1e308);
  auto solver = MakeSolver(x0, Bounds::Unbounded(2));
  const double g[2] = {1e308, -1e308};
  ASSERT_OK(solver->SetTrialGradient(ConstVectorView::Float64(g, 2)));
  ASSERT_OK(solver->Tell({.value = 1.0, .has_gradient = true}));
  Eigen::VectorXd x(2);
  ASSERT_OK(solver->ReadTrialPoint(MutableVectorView::Float64(x.data(), 2)));
  EXPECT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kLineSearchFailed);
  EXPECT_EQ(x, x0);  // The last iterate.
}

}  // namespace
}  // namespace optd
