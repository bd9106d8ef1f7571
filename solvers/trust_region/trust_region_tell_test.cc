// TrustRegion's tells: failed evaluations, and the errors of told
// gradients, Hessians and Hessian-vector products.
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "Eigen/SparseCore"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/trust_region_fixtures.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

using Eigen::VectorXd;
using ::optd::testing::kAllSubproblems;
using ::optd::testing::MakeTrustRegion;
using ::optd::testing::RosenbrockObjective;
using ::optd::testing::SaddleObjective;
using ::optd::testing::StatusIs;
using ::optd::testing::TellOne;
using ::optd::testing::WithSubproblem;
using ::testing::HasSubstr;

TEST(TrustRegion, FailedTellsContractTheRadiusAndKeepTheIterate) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  const testing::Objective rosen = RosenbrockObjective();
  for (TrustRegionSubproblem s : kAllSubproblems) {
    SCOPED_TRACE(SubproblemName(s));
    auto solver = MakeTrustRegion(WithSubproblem(s), x0);
    TellOne(*solver, rosen);  // x0
    // Newton-CG: answer products until the trial point is wanted.
    while (solver->wants() != Evaluation::kValueAndGradient &&
           solver->wants() != Evaluation::kHessian) {
      TellOne(*solver, rosen);
    }
    ASSERT_EQ(solver->radius(), 1.0);
    TrialResult failed;
    failed.failed = true;
    ASSERT_OK(solver->Tell(failed));
    EXPECT_EQ(solver->radius(), 0.25);
    EXPECT_EQ(solver->progress().iterations, 1);
    EXPECT_NEAR(solver->progress().best_value, 24.2, 1e-12);
    VectorXd best(2);
    ASSERT_OK(
        solver->ReadBestPoint(MutableVectorView::Float64(best.data(), 2)));
    EXPECT_EQ(best, x0);
    // The next trial is the subproblem's step for the smaller radius, at the
    // same iterate (x0 is not evaluated again).
    while (solver->wants() != Evaluation::kValueAndGradient &&
           solver->wants() != Evaluation::kHessian) {
      TellOne(*solver, rosen);
    }
    VectorXd trial(2);
    ASSERT_OK(
        solver->ReadTrialPoint(MutableVectorView::Float64(trial.data(), 2)));
    EXPECT_LE((trial - x0).norm(), 0.25 * 1.1);
    // A non-finite value counts as failed too.
    TrialResult nan_value;
    nan_value.value = NAN;
    ASSERT_OK(solver->Tell(nan_value));
    EXPECT_EQ(solver->radius(), 0.0625);
    // The session goes on to the minimum.
    const testing::DriveResult run = testing::Drive(*solver, rosen);
    EXPECT_TRUE(run.summary.success()) << run.summary.FullReport();
    EXPECT_EQ(run.summary.failed_evaluations, 2);
    EXPECT_NEAR(run.x(0), 1.0, 1e-4);
  }
}

TEST(TrustRegion, AFailedHessianVectorProductContractsTheRadius) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  auto solver =
      MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kNewtonCg), x0);
  TellOne(*solver, RosenbrockObjective());
  ASSERT_EQ(solver->wants(), Evaluation::kHessianVector);
  TrialResult failed;
  failed.failed = true;
  ASSERT_OK(solver->Tell(failed));
  EXPECT_EQ(solver->radius(), 0.25);
  EXPECT_EQ(solver->progress().iterations, 1);
  // CG starts over at x0: the same first direction is asked for again.
  EXPECT_EQ(solver->wants(), Evaluation::kHessianVector);
  const testing::DriveResult run =
      testing::Drive(*solver, RosenbrockObjective());
  EXPECT_TRUE(run.summary.success()) << run.summary.FullReport();
}

TEST(TrustRegion, FailedStartingPointEndsTheSession) {
  auto solver = MakeTrustRegion(TrustRegionOptions(), VectorXd::Ones(2));
  TrialResult failed;
  failed.failed = true;
  ASSERT_OK(solver->Tell(failed));
  EXPECT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kEvaluationFailed);
  EXPECT_EQ(solver->summary().message,
            "The starting point could not be evaluated.");
  EXPECT_THAT(
      solver->Tell(failed),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("finished")));
}

TEST(TrustRegion, HessianErrorsNameTheIndexAndChangeNothing) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  auto solver =
      MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kExact), x0);
  VectorXd g;
  const double f = RosenbrockObjective().evaluate(x0, &g);
  ASSERT_OK(solver->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)));
  const double short_h[3] = {1, 2, 3};
  EXPECT_THAT(solver->SetTrialHessian(ConstVectorView::Float64(short_h, 3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("hessian has 3 elements; the session wants "
                                 "n * n = 4")));
  const double bad_h[4] = {1, 0, NAN, 1};
  EXPECT_THAT(solver->SetTrialHessian(ConstVectorView::Float64(bad_h, 4)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("hessian[2] (row 1, column 0) is nan")));
  // No valid Hessian was given: a tell that claims one is refused.
  TrialResult r;
  r.value = f;
  r.has_gradient = true;
  r.has_hessian = true;
  EXPECT_THAT(solver->Tell(r), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("hessian that was not set")));
  EXPECT_EQ(solver->progress().evaluations, 0);
  EXPECT_EQ(solver->wants(), Evaluation::kHessian);
  const Eigen::MatrixXd h(RosenbrockObjective().hessian(x0));
  ASSERT_OK(solver->SetTrialHessian(ConstVectorView::Float64(h.data(), 4)));
  ASSERT_OK(solver->Tell(r));
  EXPECT_EQ(solver->progress().evaluations, 1);

  // The other variants take no Hessian.
  auto qn = MakeTrustRegion(TrustRegionOptions(), x0);
  EXPECT_THAT(qn->SetTrialHessian(ConstVectorView::Float64(h.data(), 4)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("wants no Hessian")));
}

TEST(TrustRegion, HessianVectorErrorsNameTheIndexAndChangeNothing) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  auto solver =
      MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kNewtonCg), x0);
  const double hv0[2] = {1, 1};
  EXPECT_THAT(solver->SetTrialHessianVector(ConstVectorView::Float64(hv0, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("wants no Hessian-vector product")));
  TellOne(*solver, RosenbrockObjective());
  ASSERT_EQ(solver->wants(), Evaluation::kHessianVector);
  const double one[1] = {1};
  EXPECT_THAT(solver->SetTrialHessianVector(ConstVectorView::Float64(one, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("hessian_vector has 1 elements; the session "
                                 "has dimension 2")));
  const double bad[2] = {1, INFINITY};
  EXPECT_THAT(solver->SetTrialHessianVector(ConstVectorView::Float64(bad, 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("hessian_vector[1] is inf")));
  EXPECT_THAT(solver->SetTrialGradient(ConstVectorView::Float64(hv0, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("wants a Hessian-vector product")));
  TrialResult r;
  r.has_hessian_vector = true;
  EXPECT_THAT(solver->Tell(r), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("hessian_vector")));
  EXPECT_EQ(solver->progress().evaluations, 1);
  EXPECT_EQ(solver->radius(), 1.0);
  // The gradient of a point trial is checked the same way.
  auto qn = MakeTrustRegion(TrustRegionOptions(), x0);
  const double nan_g[2] = {NAN, 0};
  EXPECT_THAT(qn->SetTrialGradient(ConstVectorView::Float64(nan_g, 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient[0] is nan")));
}

TEST(TrustRegion, UsesTheSymmetricPartOfTheToldHessian) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  const testing::Objective rosen = RosenbrockObjective();
  // The same Hessian plus an antisymmetric part gives the same steps.
  testing::Objective skewed = rosen;
  skewed.hessian = [&](const VectorXd& x) {
    Eigen::MatrixXd h(rosen.hessian(x));
    h(0, 1) += 5;
    h(1, 0) -= 5;
    return Eigen::SparseMatrix<double>(h.sparseView());
  };
  testing::DriveOptions record;
  record.record_trials = true;
  auto a = MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kExact), x0);
  auto b = MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kExact), x0);
  const testing::DriveResult ra = testing::Drive(*a, rosen, record);
  const testing::DriveResult rb = testing::Drive(*b, skewed, record);
  ASSERT_EQ(ra.trials.size(), rb.trials.size());
  for (size_t i = 0; i < ra.trials.size(); ++i) {
    EXPECT_EQ(ra.trials[i], rb.trials[i]) << "trial " << i;
  }
}

// Bitwise identical trials (points and vectors) for K = 1, 2, 3 slices on a
// problem of three reduction blocks and a short one.
}  // namespace
}  // namespace optd
