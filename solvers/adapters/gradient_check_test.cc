#include "solvers/adapters/gradient_check.h"

#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
using ::optd::testing::Failed;
using ::optd::testing::LbfgsAt;
using ::optd::testing::ObjectiveFn;
using ::optd::testing::Outcome;
using ::optd::testing::Problem;
using ::optd::testing::Quadratic;
using ::optd::testing::Result;
using ::optd::testing::ScriptedSolver;
using ::optd::testing::StatusIs;
using ::optd::testing::WorkerFn;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(GradientCheck, CorrectGradientPassesAndTheRunIsUnchanged) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
  const BatchRun reference = DriveBatches(*plain, Evaluate(p.evaluate));
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
  ASSERT_TRUE(run.finished);
  // The inner solver saw the same tells: the same best point, bitwise.
  ExpectBitwiseEqual({run.x}, {reference.x});
  EXPECT_EQ(run.summary.iterations, reference.summary.iterations);
  EXPECT_EQ(run.summary.evaluations, reference.summary.evaluations + 2 * p.n);
  EXPECT_EQ(run.batch_sizes[0], 2 * p.n + 1);

  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].iteration, 0);
  EXPECT_LT(checks[0].max_relative_error, 1e-6);
  VectorXd g;
  p.evaluate(p.x0, &g);
  for (int i = 0; i < p.n; ++i) {
    EXPECT_EQ(checks[0].told[i], g[i]);
    EXPECT_NEAR(checks[0].finite_difference[i], g[i], 1e-6 * std::abs(g[i]));
  }
}

TEST(GradientCheck, WrongCoordinateIsReportedWhereItIs) {
  const problems::TestProblem p = Problem("wood");  // n = 4
  ObjectiveFn wrong = [&p](const VectorXd& x, VectorXd* g) {
    const double f = p.evaluate(x, g);
    if (g != nullptr) (*g)[3] *= 2;
    return f;
  };
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  DriveBatches(**solver, Evaluate(wrong));
  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  // |2g - g| / |2g| = 1/2 at coordinate 3; the others are right.
  EXPECT_NEAR(checks[0].relative_error[3], 0.5, 1e-6);
  EXPECT_EQ(checks[0].max_relative_error, checks[0].relative_error[3]);
  for (int i = 0; i < 3; ++i) EXPECT_LT(checks[0].relative_error[i], 1e-6);
}

std::vector<int64_t> CheckedIterations(const GradientCheckOptions& options,
                                       int tells) {
  const VectorXd x = (VectorXd(2) << 0.5, 2.0).finished();
  auto solver = WithGradientCheck(
      std::make_unique<ScriptedSolver>(std::vector<VectorXd>(tells, x),
                                       Evaluation::kValueAndGradient),
      options);
  EXPECT_TRUE(solver.ok()) << solver.status();
  DriveBatches(**solver, Evaluate(Quadratic()(VectorXd::Zero(4), nullptr) == 0
                                      ? [](const VectorXd& v, VectorXd* g) {
                                          if (g != nullptr) *g = 2 * v;
                                          return v.squaredNorm();
                                        }
                                      : ObjectiveFn()));
  std::vector<int64_t> iterations;
  for (const auto& r : (*solver)->gradient_checks()) {
    iterations.push_back(r.iteration);
  }
  return iterations;
}

TEST(GradientCheck, ChecksAtTheChosenIterationsOnly) {
  EXPECT_EQ(CheckedIterations({}, 12), (std::vector<int64_t>{0}));
  GradientCheckOptions every;
  every.at_iterations = {0};
  every.every_iterations = 5;
  EXPECT_EQ(CheckedIterations(every, 12), (std::vector<int64_t>{0, 5, 10}));
  GradientCheckOptions at;
  at.at_iterations = {3, 7, 100};
  EXPECT_EQ(CheckedIterations(at, 12), (std::vector<int64_t>{3, 7}));
  // The newest 100 are kept.
  GradientCheckOptions all;
  all.every_iterations = 1;
  const std::vector<int64_t> kept = CheckedIterations(all, 150);
  ASSERT_EQ(kept.size(), 100u);
  EXPECT_EQ(kept.front(), 50);
  EXPECT_EQ(kept.back(), 149);

  // L-BFGS: once per iteration, at its first trial.
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver = WithGradientCheck(LbfgsAt(p.x0), every);
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
  std::vector<int64_t> expected;
  for (int64_t i = 0; i <= run.summary.iterations; i += 5) {
    expected.push_back(i);
  }
  std::vector<int64_t> got;
  for (const auto& r : (*solver)->gradient_checks()) got.push_back(r.iteration);
  // The last multiple of 5 may have had no trial (the run ended there).
  if (got.size() + 1 == expected.size()) expected.pop_back();
  EXPECT_EQ(got, expected);
  // Relative errors of a tiny gradient near the minimum are large: compare
  // absolutely there. Truncation h^2 f''' / 6 with h = 6e-6 and f''' ~ 2400
  // is ~1.5e-8.
  for (const auto& r : (*solver)->gradient_checks()) {
    for (int i = 0; i < p.n; ++i) {
      EXPECT_NEAR(r.finite_difference[i], r.told[i],
                  1e-7 * std::max(1.0, std::abs(r.told[i])))
          << r.iteration;
    }
  }
  EXPECT_LT((*solver)->gradient_checks()[0].max_relative_error, 1e-6);
}

TEST(GradientCheck, FailedStencilValuesFallBackOrGiveNaN) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  auto solver = WithGradientCheck(
      std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x},
                                       Evaluation::kValueAndGradient),
      {});
  ASSERT_TRUE(solver.ok());
  const WorkerFn values = Evaluate(q);
  DriveBatches(**solver, [&](int k, const VectorXd& p, Evaluation w) {
    Outcome o = values(k, p, w);
    // Trial 1 is x - h e_0; 5 and 6 are x -/+ h e_2.
    if (k == 1 || k == 5 || k == 6) o.failed = true;
    return o;
  });
  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  // Coordinate 0: forward difference with trial 0's value, O(h) error.
  EXPECT_LT(checks[0].relative_error[0], 1e-4);
  EXPECT_GT(checks[0].relative_error[0], 1e-12);
  EXPECT_TRUE(std::isnan(checks[0].relative_error[2]));
  EXPECT_TRUE(std::isnan(checks[0].finite_difference[2]));
  EXPECT_LT(checks[0].relative_error[1], 1e-9);
  EXPECT_EQ(checks[0].max_relative_error, checks[0].relative_error[0]);
}

TEST(GradientCheck, FailedTrialGivesNoReportAndIsNotRetried) {
  const VectorXd x = (VectorXd(2) << 0.5, 2.0).finished();
  auto inner = std::make_unique<ScriptedSolver>(std::vector<VectorXd>(3, x),
                                                Evaluation::kValueAndGradient);
  ScriptedSolver* scripted = inner.get();
  GradientCheckOptions options;
  options.at_iterations = {0, 1};
  auto solver = WithGradientCheck(std::move(inner), options);
  ASSERT_TRUE(solver.ok());
  const WorkerFn values = Evaluate([](const VectorXd& v, VectorXd* g) {
    if (g != nullptr) *g = 2 * v;
    return v.squaredNorm();
  });
  int batch = 0;
  const BatchRun run =
      DriveBatches(**solver, [&](int k, const VectorXd& p, Evaluation w) {
        if (k == 0) ++batch;
        return batch == 1 && k == 0 ? Failed() : values(k, p, w);
      });
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{5, 5, 1}));
  ASSERT_EQ(scripted->told().size(), 3u);
  EXPECT_TRUE(scripted->told()[0].result.failed);
  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].iteration, 1);
}

TEST(GradientCheck, InvalidGradientChangesNothing) {
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  ASSERT_EQ(s.batch_size(), 5);
  EXPECT_EQ(s.batch_wants(0), Evaluation::kValueAndGradient);
  EXPECT_EQ(s.batch_wants(1), Evaluation::kValue);
  const double short_gradient[1] = {1.0};
  EXPECT_THAT(
      s.SetBatchGradient(0, ConstVectorView::Float64(short_gradient, 1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient has 1 elements")));
  const double nan_gradient[2] = {1.0, kNaN};
  EXPECT_THAT(
      s.SetBatchGradient(0, ConstVectorView::Float64(nan_gradient, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gradient[1]")));
  EXPECT_THAT(s.TellBatch(0, Result(1.0, /*has_gradient=*/true)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(s.batch_told(0));
  EXPECT_EQ(s.progress().evaluations, 0);
  // The run then goes as it would have.
  std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
  const BatchRun reference = DriveBatches(*plain, Evaluate(p.evaluate));
  const BatchRun run = DriveBatches(s, Evaluate(p.evaluate));
  ExpectBitwiseEqual({run.x}, {reference.x});
  EXPECT_EQ(s.gradient_checks().size(), 1u);
}

// On a sharded session's direct path trial 0's gradient is told on slices:
// the server hands the adapter its whole copy first (KeepBatchGradient), and
// only a check batch's trial 0 takes one.
TEST(GradientCheck, AGradientOnSlicesNeedsItsWholeCopyFirst) {
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  ASSERT_EQ(s.batch_size(), 2 * p.n + 1);
  EXPECT_TRUE(s.batch_keeps_gradient(0));
  EXPECT_FALSE(s.batch_keeps_gradient(1));
  EXPECT_THAT(s.SetBatchGradient(0, ConstVectorView::OnSlices(p.n)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "a gradient told on slices to a gradient check needs "
                       "its copy first (KeepBatchGradient)"));
  std::vector<double> g(static_cast<size_t>(p.n), 1.0);
  EXPECT_THAT(
      s.KeepBatchGradient(1, ConstVectorView::Float64(g.data(), p.n)),
      StatusIs(absl::StatusCode::kInternal,
               HasSubstr("KeepBatchGradient(1) with 2 elements: only a check "
                         "batch's trial 0 keeps its whole gradient")));
  EXPECT_THAT(s.KeepBatchGradient(0, ConstVectorView::Float64(g.data(), 1)),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("KeepBatchGradient(0) with 1 elements")));
  EXPECT_OK(s.KeepBatchGradient(0, ConstVectorView::Float64(g.data(), p.n)));
  // Solvers without a copy to keep say so.
  std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
  EXPECT_FALSE(plain->batch_keeps_gradient(0));
  EXPECT_THAT(
      plain->KeepBatchGradient(0, ConstVectorView::Float64(g.data(), p.n)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "this solver keeps no copy of a told gradient"));
}

TEST(GradientCheck, ValidateNamesTheFieldAndTheRange) {
  GradientCheckOptions negative;
  negative.at_iterations = {2, -1};
  EXPECT_THAT(negative.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check.at_iterations[1] is -1")));
  GradientCheckOptions every;
  every.every_iterations = -5;
  EXPECT_THAT(every.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check.every_iterations")));
  GradientCheckOptions step;
  step.relative_step = 0.5;
  EXPECT_THAT(WithGradientCheck(LbfgsAt(VectorXd::Ones(2)), step),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check.relative_step is 0.5")));
  EXPECT_THAT(WithGradientCheck(nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace optd
