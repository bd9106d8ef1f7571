#include "solvers/lbfgs/lbfgs.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

using Objective =
    std::function<double(const Eigen::VectorXd&, Eigen::VectorXd*)>;

// Extended Rosenbrock (Moré, Garbow & Hillstrom 1981, problem 21).
double ExtendedRosenbrock(const Eigen::VectorXd& x, Eigen::VectorXd* g) {
  double f = 0;
  g->setZero(x.size());
  for (int64_t i = 0; i + 1 < x.size(); i += 2) {
    const double t1 = 10 * (x[i + 1] - x[i] * x[i]);
    const double t2 = 1 - x[i];
    f += t1 * t1 + t2 * t2;
    (*g)[i] += -40 * x[i] * t1 - 2 * t2;
    (*g)[i + 1] += 20 * t1;
  }
  return f;
}

Eigen::VectorXd RosenbrockStart(int64_t n) {
  Eigen::VectorXd x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = (i % 2 == 0) ? -1.2 : 1.0;
  return x;
}

struct SolverRun {
  Summary summary;
  Eigen::VectorXd x;
  std::vector<Eigen::VectorXd> trials;  // every trial point, in order
};

// Drives a solver through the ask-tell interface until it finishes.
SolverRun Drive(Solver& solver, const Objective& objective,
                bool record_trials = false,
                const std::function<bool(int64_t)>& fail_at = nullptr) {
  SolverRun run;
  const int64_t n = solver.dimension();
  Eigen::VectorXd x(n), g(n);
  int64_t count = 0;
  while (!solver.finished()) {
    EXPECT_OK(solver.ReadTrialPoint(MutableVectorView::Float64(x.data(), n)));
    if (record_trials) run.trials.push_back(x);
    TrialResult r;
    if (fail_at && fail_at(count)) {
      r.failed = true;
    } else {
      r.value = objective(x, &g);
      r.has_gradient = true;
      EXPECT_OK(solver.SetTrialGradient(ConstVectorView::Float64(g.data(), n)));
    }
    EXPECT_OK(solver.Tell(r));
    if (++count > 100000) break;
  }
  run.summary = solver.summary();
  run.x.resize(n);
  EXPECT_OK(solver.ReadBestPoint(MutableVectorView::Float64(run.x.data(), n)));
  return run;
}

TEST(Lbfgs, ConvergesOnRosenbrockWithDefaultOptions) {
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  SolverRun run = Drive(**solver, ExtendedRosenbrock);
  // scipy 1.10 from the same start: 36 iterations, 44 evaluations,
  // f = 2.8076500164141072e-12, "CONVERGENCE:
  // REL_REDUCTION_OF_F_<=_FACTR*EPSMCH".
  EXPECT_EQ(run.summary.reason, TerminationReason::kFunctionTolerance)
      << run.summary.FullReport();
  EXPECT_TRUE(run.summary.success());
  EXPECT_NEAR(run.x[0], 1.0, 1e-4);
  EXPECT_NEAR(run.x[1], 1.0, 1e-4);
  EXPECT_NEAR(run.summary.value, 2.8076500164141072e-12, 1e-15);
  EXPECT_NEAR(run.summary.iterations, 36, 2);
  EXPECT_NEAR(run.summary.evaluations, 44, 2);
  EXPECT_THAT(run.summary.BriefReport(),
              HasSubstr("CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH"));
}

TEST(Lbfgs, IteratesAreBitwiseIdenticalForOneToFourShards) {
  // Three reduction blocks and a short one, so slices really differ.
  const int64_t n = 3 * kReductionBlock + 1000;
  const Eigen::VectorXd x0 = RosenbrockStart(n);
  LbfgsOptions options;
  std::vector<SolverRun> runs;
  for (int shards = 1; shards <= 4; ++shards) {
    auto solver =
        Lbfgs::Create(options, ConstVectorView::Float64(x0.data(), n), shards);
    ASSERT_OK(solver);
    runs.push_back(Drive(**solver, ExtendedRosenbrock, /*record_trials=*/true));
  }
  for (int k = 1; k < 4; ++k) {
    ASSERT_EQ(runs[k].trials.size(), runs[0].trials.size())
        << "shards=" << k + 1;
    for (size_t t = 0; t < runs[0].trials.size(); ++t) {
      ASSERT_EQ(0, std::memcmp(runs[k].trials[t].data(),
                               runs[0].trials[t].data(), sizeof(double) * n))
          << "trial " << t << " differs with " << k + 1 << " shards";
    }
    EXPECT_EQ(std::memcmp(&runs[k].summary.value, &runs[0].summary.value,
                          sizeof(double)),
              0);
  }
  EXPECT_TRUE(runs[0].summary.success()) << runs[0].summary.FullReport();
  EXPECT_GT(runs[0].trials.size(), 30u);
}

TEST(Lbfgs, FailedEvaluationsBacktrackAndTheRunStillConverges) {
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  // Every 7th evaluation "crashes".
  SolverRun run = Drive(**solver, ExtendedRosenbrock, false,
                        [](int64_t i) { return i > 0 && i % 7 == 0; });
  EXPECT_TRUE(run.summary.success()) << run.summary.FullReport();
  EXPECT_NEAR(run.x[0], 1.0, 1e-3);
  EXPECT_GT(run.summary.failed_evaluations, 0);
}

TEST(Lbfgs, FailedStartingPointEndsTheSession) {
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  TrialResult r;
  r.failed = true;
  ASSERT_OK((*solver)->Tell(r));
  EXPECT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kEvaluationFailed);
  EXPECT_THAT(
      (*solver)->Tell(r),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("finished")));
}

TEST(Lbfgs, WrongGradientEndsInAbnormalTerminationNotALoop) {
  // A gradient of the wrong sign: no step along d decreases f, the search
  // fails, the memory is dropped, fails again along -g, and the session ends.
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  SolverRun run =
      Drive(**solver, [](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
        const double f = ExtendedRosenbrock(x, g);
        *g = -*g;
        return f;
      });
  EXPECT_EQ(run.summary.reason, TerminationReason::kLineSearchFailed);
  EXPECT_EQ(run.summary.message, "ABNORMAL_TERMINATION_IN_LNSRCH");
  EXPECT_FALSE(run.summary.success());
  EXPECT_LT(run.summary.evaluations, 50);
}

// Found by fuzz/session_requests_fuzzer: a finite gradient whose g.g
// overflows made the slope -inf, which the line search refused, so the tell
// failed with INTERNAL and the session was stuck. It ends like any search
// that cannot start.
TEST(Lbfgs, GradientWhoseSlopeOverflowsEndsTheSearch) {
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  const double g[] = {1e200, -1e200};
  ASSERT_OK((*solver)->SetTrialGradient(ConstVectorView::Float64(g, 2)));
  TrialResult r;
  r.value = 1.0;
  r.has_gradient = true;
  ASSERT_OK((*solver)->Tell(r));
  EXPECT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kLineSearchFailed);
  EXPECT_EQ((*solver)->summary().message, "ABNORMAL_TERMINATION_IN_LNSRCH");
}

TEST(Lbfgs, StopsAtIterationAndEvaluationLimits) {
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  LbfgsOptions options;
  options.max_iterations = 5;
  auto solver = Lbfgs::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  SolverRun run = Drive(**solver, ExtendedRosenbrock);
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxIterations);
  EXPECT_EQ(run.summary.iterations, 5);
  EXPECT_EQ(run.summary.message, "STOP: TOTAL NO. of ITERATIONS REACHED LIMIT");

  options = LbfgsOptions();
  options.max_evaluations = 10;
  solver = Lbfgs::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  run = Drive(**solver, ExtendedRosenbrock);
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxEvaluations);
  EXPECT_GT(run.summary.evaluations, 10);
}

TEST(Lbfgs, ConvergesAtTheStartWhenTheGradientIsSmall) {
  const Eigen::VectorXd x0 = Eigen::VectorXd::Ones(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  SolverRun run = Drive(**solver, ExtendedRosenbrock);
  EXPECT_EQ(run.summary.reason, TerminationReason::kGradientTolerance);
  EXPECT_EQ(run.summary.evaluations, 1);
  EXPECT_EQ(run.summary.iterations, 0);
}

TEST(Lbfgs, StopEndsTheSessionAtOnce) {
  const Eigen::VectorXd x0 = RosenbrockStart(2);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(solver);
  (*solver)->Stop();
  EXPECT_TRUE((*solver)->finished());
  EXPECT_EQ((*solver)->summary().reason, TerminationReason::kStoppedByClient);
}

TEST(LbfgsOptions, ValidateNamesTheFieldAndTheRange) {
  struct Case {
    std::function<void(LbfgsOptions&)> mutate;
    const char* message;
  };
  const Case cases[] = {
      {[](LbfgsOptions& o) { o.memory = 0; },
       "lbfgs.memory is 0; it must be in [1, 1000]"},
      {[](LbfgsOptions& o) { o.memory = 1001; }, "lbfgs.memory is 1001"},
      {[](LbfgsOptions& o) { o.ftol = -1; },
       "lbfgs.ftol is -1; it must be in [0, inf)"},
      {[](LbfgsOptions& o) { o.ftol = INFINITY; }, "lbfgs.ftol is inf"},
      {[](LbfgsOptions& o) { o.gtol = -1e-3; }, "lbfgs.gtol is -0.001"},
      {[](LbfgsOptions& o) { o.gtol = NAN; }, "lbfgs.gtol is nan"},
      {[](LbfgsOptions& o) { o.max_iterations = 0; },
       "lbfgs.max_iterations is 0"},
      {[](LbfgsOptions& o) { o.max_evaluations = -5; },
       "lbfgs.max_evaluations is -5"},
      {[](LbfgsOptions& o) { o.max_line_search = 0; },
       "lbfgs.max_line_search is 0"},
      {[](LbfgsOptions& o) { o.line_search.ftol = 0.5; },
       "lbfgs.line_search_ftol is 0.5"},
      {[](LbfgsOptions& o) { o.line_search.gtol = 1e-4; },
       "lbfgs.line_search_gtol is 0.0001"},
      {[](LbfgsOptions& o) { o.line_search.xtol = 1; },
       "lbfgs.line_search_xtol is 1"},
      {[](LbfgsOptions& o) { o.line_search.stpmax = 0; },
       "lbfgs.max_step is 0"},
  };
  for (const Case& c : cases) {
    LbfgsOptions o;
    c.mutate(o);
    EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr(c.message)));
  }
  EXPECT_OK(LbfgsOptions().Validate());
}

TEST(Lbfgs, RejectsNonFiniteStartAndBadGradients) {
  Eigen::VectorXd x0 = RosenbrockStart(3);
  x0[1] = INFINITY;
  EXPECT_THAT(
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x0[1] is inf")));
  x0[1] = 1;
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(solver);
  Eigen::VectorXd g(3);
  g << 1, 2, NAN;
  EXPECT_THAT(
      (*solver)->SetTrialGradient(ConstVectorView::Float64(g.data(), 3)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient[2] is nan")));
  EXPECT_THAT(
      (*solver)->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr("gradient has 2 elements; the session has dimension 3")));
  EXPECT_EQ((*solver)->progress().evaluations, 0);
}

}  // namespace
}  // namespace optd
