#include "solvers/trust_region/trust_region.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "Eigen/SparseCore"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/testing/trust_region_fixtures.h"

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

TEST(TrustRegionOptions, ValidateNamesTheFieldAndTheRange) {
  struct Case {
    std::function<void(TrustRegionOptions&)> mutate;
    const char* message;
  };
  const Case cases[] = {
      {[](TrustRegionOptions& o) {
         o.subproblem = static_cast<TrustRegionSubproblem>(9);
       },
       "trust_region.subproblem is 9; it must be one of exact, newton_cg"},
      {[](TrustRegionOptions& o) {
         o.quasi_newton_update = static_cast<QuasiNewtonUpdate>(-1);
       },
       "trust_region.quasi_newton_update is -1; it must be one of lsr1"},
      {[](TrustRegionOptions& o) { o.memory = 0; },
       "trust_region.memory is 0; it must be in [1, 1000]"},
      {[](TrustRegionOptions& o) { o.memory = 1001; },
       "trust_region.memory is 1001"},
      {[](TrustRegionOptions& o) { o.max_radius = 0; },
       "trust_region.max_radius is 0; it must be in (0, inf)"},
      {[](TrustRegionOptions& o) { o.max_radius = INFINITY; },
       "trust_region.max_radius is inf"},
      {[](TrustRegionOptions& o) { o.initial_radius = 0; },
       "trust_region.initial_radius is 0; it must be in (0, max_radius = "
       "1000]"},
      {[](TrustRegionOptions& o) { o.initial_radius = 2000; },
       "trust_region.initial_radius is 2000"},
      {[](TrustRegionOptions& o) { o.initial_radius = NAN; },
       "trust_region.initial_radius is nan"},
      {[](TrustRegionOptions& o) { o.eta = 0.3; },
       "trust_region.eta is 0.3; it must be in [0, 0.25)"},
      {[](TrustRegionOptions& o) { o.eta = 0.25; }, "trust_region.eta is 0.25"},
      {[](TrustRegionOptions& o) { o.eta = -0.1; }, "trust_region.eta is -0.1"},
      {[](TrustRegionOptions& o) { o.gtol = -1; },
       "trust_region.gtol is -1; it must be in [0, inf)"},
      {[](TrustRegionOptions& o) { o.gtol = NAN; }, "trust_region.gtol is nan"},
      {[](TrustRegionOptions& o) { o.max_iterations = -1; },
       "trust_region.max_iterations is -1; it must be in [0, 2^53] (0: 200 n)"},
      {[](TrustRegionOptions& o) { o.max_iterations = (int64_t{1} << 53) + 1; },
       "trust_region.max_iterations is 9.0072e+15"},
      {[](TrustRegionOptions& o) { o.max_evaluations = -3; },
       "trust_region.max_evaluations is -3; it must be in [0, 2^53] (0: no "
       "limit)"},
      {[](TrustRegionOptions& o) {
         o.max_evaluations = (int64_t{1} << 53) + 1;
       },
       "trust_region.max_evaluations is 9.0072e+15"},
      {[](TrustRegionOptions& o) { o.ftol = -1e-9; },
       "trust_region.ftol is -1e-09; it must be in [0, 1)"},
      {[](TrustRegionOptions& o) { o.ftol = 1; }, "trust_region.ftol is 1"},
      {[](TrustRegionOptions& o) { o.ftol = NAN; }, "trust_region.ftol is nan"},
      {[](TrustRegionOptions& o) { o.ftol_steps = 0; },
       "trust_region.ftol_steps is 0; it must be in [1, 2^31)"},
  };
  for (const Case& c : cases) {
    TrustRegionOptions o;
    c.mutate(o);
    EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr(c.message)));
  }
  TrustRegionOptions edge;
  edge.initial_radius = edge.max_radius;  // (0, max_radius] is closed above
  edge.eta = 0;
  edge.gtol = 0;
  edge.ftol = 0;
  edge.ftol_steps = 1;
  EXPECT_OK(edge.Validate());
  EXPECT_OK(TrustRegionOptions().Validate());
}

TEST(TrustRegionOptions, DefaultsAreScipysAndTheProtosContract) {
  const TrustRegionOptions o;
  EXPECT_EQ(o.subproblem, TrustRegionSubproblem::kQuasiNewton);
  EXPECT_EQ(o.quasi_newton_update, QuasiNewtonUpdate::kLsr1);
  EXPECT_EQ(o.memory, 10);
  EXPECT_EQ(o.initial_radius, 1.0);
  EXPECT_EQ(o.max_radius, 1000.0);
  EXPECT_EQ(o.eta, 0.15);
  EXPECT_EQ(o.gtol, 1e-4);
  EXPECT_EQ(o.max_iterations, 0);
  EXPECT_EQ(o.max_evaluations, 0);
  EXPECT_EQ(o.ftol, 2.220446049250313e-09);  // L-BFGS-B's factr * eps
  EXPECT_EQ(o.ftol_steps, 20);
  // max_iterations 0 resolves to scipy's 200 n.
  auto solver = MakeTrustRegion(o, VectorXd::Zero(3));
  EXPECT_EQ(solver->options().max_iterations, 600);
  EXPECT_EQ(solver->name(), "trust_region");
  EXPECT_THAT(solver->OptionsReport(),
              HasSubstr("subproblem quasi_newton (lsr1, memory 10)"));
  EXPECT_THAT(solver->OptionsReport(), HasSubstr("max_iterations 600"));
}

TEST(TrustRegion, RejectsBadStartsAndTooLargeExactProblems) {
  VectorXd x0(3);
  x0 << 1, INFINITY, 0;
  EXPECT_THAT(
      TrustRegion::Create(TrustRegionOptions(),
                          ConstVectorView::Float64(x0.data(), 3)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x0[1] is inf")));
  const VectorXd big = VectorXd::Zero(kMaxExactDimension + 1);
  EXPECT_THAT(
      TrustRegion::Create(WithSubproblem(TrustRegionSubproblem::kExact),
                          ConstVectorView::Float64(big.data(), big.size())),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("is above the limit 5000")));
  TrustRegionOptions bad;
  bad.eta = 1;
  EXPECT_THAT(TrustRegion::Create(bad, ConstVectorView::Float64(x0.data(), 3)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_region.eta is 1")));
}

TEST(TrustRegion, AsksForWhatEachSubproblemNeeds) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  const testing::Objective rosen = RosenbrockObjective();
  VectorXd g;
  rosen.evaluate(x0, &g);
  VectorXd point(2), vector(2);
  for (TrustRegionSubproblem s : kAllSubproblems) {
    auto solver = MakeTrustRegion(WithSubproblem(s), x0);
    const Evaluation point_wants = s == TrustRegionSubproblem::kExact
                                       ? Evaluation::kHessian
                                       : Evaluation::kValueAndGradient;
    EXPECT_EQ(solver->wants(), point_wants);
    TellOne(*solver, rosen);
    ASSERT_OK(
        solver->ReadTrialPoint(MutableVectorView::Float64(point.data(), 2)));
    if (s == TrustRegionSubproblem::kNewtonCg) {
      // H(x0) d at x0 itself, d = -g: the first CG direction.
      EXPECT_EQ(solver->wants(), Evaluation::kHessianVector);
      EXPECT_EQ(point, x0);
      ASSERT_OK(solver->ReadTrialVector(
          MutableVectorView::Float64(vector.data(), 2)));
      EXPECT_EQ(vector, -g);
    } else if (s == TrustRegionSubproblem::kNewtonCgFiniteDifference) {
      // g(x0 + h d) with h = sqrt(eps) (1 + |x0|) / |d|.
      EXPECT_EQ(solver->wants(), Evaluation::kGradient);
      const double h =
          std::sqrt(2.220446049250313e-16) * (1 + x0.norm()) / g.norm();
      EXPECT_LE((point - (x0 - h * g)).norm(), 1e-15);
    } else if (s == TrustRegionSubproblem::kExact) {
      EXPECT_EQ(solver->wants(), Evaluation::kHessian);
      EXPECT_LE((point - x0).norm(), 1.0);
    } else {
      // B = I before any pair: -g cut at the boundary.
      EXPECT_EQ(solver->wants(), Evaluation::kValueAndGradient);
      EXPECT_LE((point - (x0 - g / g.norm())).norm(), 1e-12);
    }
    // Only a Hessian-vector trial has a vector.
    if (s != TrustRegionSubproblem::kNewtonCg) {
      EXPECT_THAT(
          solver->ReadTrialVector(MutableVectorView::Float64(vector.data(), 2)),
          StatusIs(absl::StatusCode::kFailedPrecondition,
                   HasSubstr("wants no Hessian-vector product")));
    }
  }
}

TEST(TrustRegion, EveryVariantConvergesOnRosenbrockWithDefaultOptions) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  for (TrustRegionSubproblem s : kAllSubproblems) {
    for (QuasiNewtonUpdate u :
         {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
      if (u == QuasiNewtonUpdate::kLbfgs &&
          s != TrustRegionSubproblem::kQuasiNewton) {
        continue;
      }
      auto solver = MakeTrustRegion(WithSubproblem(s, u), x0);
      const testing::DriveResult run =
          testing::Drive(*solver, RosenbrockObjective());
      SCOPED_TRACE(run.summary.FullReport());
      EXPECT_EQ(run.summary.reason, TerminationReason::kGradientTolerance);
      EXPECT_EQ(run.summary.message, "Optimization terminated successfully.");
      EXPECT_NEAR(run.x(0), 1.0, 1e-4);
      EXPECT_NEAR(run.x(1), 1.0, 1e-4);
      EXPECT_EQ(run.summary.solver, "trust_region");
      EXPECT_NEAR(run.summary.initial_value, 24.2, 1e-12);
    }
  }
}

// Progress reports the radius (HistoryEntry.trust_radius on the dashboard)
// and the accepted iterate's value as the current one.
TEST(TrustRegion, ProgressReportsTheRadiusAndTheCurrentValue) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  auto solver =
      MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kQuasiNewton,
                                     QuasiNewtonUpdate::kLsr1),
                      x0);
  EXPECT_TRUE(std::isnan(solver->progress().current_value));
  const testing::DriveResult run =
      testing::Drive(*solver, RosenbrockObjective());
  const Progress p = solver->progress();
  EXPECT_EQ(p.trust_radius, solver->radius());
  EXPECT_GT(p.trust_radius, 0.0);
  EXPECT_EQ(p.current_value, p.best_value);
  EXPECT_EQ(p.current_value, run.summary.value);
}

TEST(TrustRegion, TrialsAreBitwiseIdenticalForOneToThreeShards) {
  auto problem = problems::ScalableProblem("extended_rosenbrock",
                                           2 * kReductionBlock + 1000);
  ASSERT_OK(problem);
  const testing::Objective objective{problem->evaluate,
                                     *problems::HessianOf(problem->name)};
  struct Variant {
    TrustRegionSubproblem s;
    QuasiNewtonUpdate u;
  };
  for (const Variant v :
       {Variant{TrustRegionSubproblem::kNewtonCg, QuasiNewtonUpdate::kLsr1},
        Variant{TrustRegionSubproblem::kNewtonCgFiniteDifference,
                QuasiNewtonUpdate::kLsr1},
        Variant{TrustRegionSubproblem::kQuasiNewton, QuasiNewtonUpdate::kLsr1},
        Variant{TrustRegionSubproblem::kQuasiNewton,
                QuasiNewtonUpdate::kLbfgs}}) {
    TrustRegionOptions options = WithSubproblem(v.s, v.u);
    options.max_evaluations = 120;
    SCOPED_TRACE(options.subproblem == TrustRegionSubproblem::kQuasiNewton
                     ? UpdateName(v.u)
                     : SubproblemName(v.s));
    testing::DriveOptions record;
    record.record_trials = true;
    std::vector<testing::DriveResult> runs;
    for (int shards = 1; shards <= 3; ++shards) {
      auto solver = MakeTrustRegion(options, problem->x0, shards);
      runs.push_back(testing::Drive(*solver, objective, record));
    }
    EXPECT_GT(runs[0].trials.size(), 40u);
    for (int k = 1; k < 3; ++k) {
      ASSERT_EQ(runs[k].trials.size(), runs[0].trials.size());
      for (size_t t = 0; t < runs[0].trials.size(); ++t) {
        ASSERT_EQ(
            0, std::memcmp(runs[k].trials[t].data(), runs[0].trials[t].data(),
                           sizeof(double) * problem->n))
            << "trial " << t << " differs with " << k + 1 << " shards";
      }
      EXPECT_EQ(0, std::memcmp(&runs[k].summary.value, &runs[0].summary.value,
                               sizeof(double)));
    }
  }
}

TEST(TrustRegion, ExactEscapesASaddleFromItsStableManifold) {
  VectorXd x0(2);
  x0 << 1, 0;
  // A gradient method converges to the saddle: y stays 0.
  auto lbfgs =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(lbfgs);
  const testing::DriveResult stalled =
      testing::Drive(**lbfgs, SaddleObjective());
  EXPECT_NEAR(stalled.summary.value, 0.0, 1e-9);
  EXPECT_EQ(stalled.x(1), 0.0);
  // trust-exact's hard case (g orthogonal to the eigenvector of -2) steps off
  // the line and reaches a minimum.
  auto exact =
      MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kExact), x0);
  const testing::DriveResult run = testing::Drive(*exact, SaddleObjective());
  EXPECT_TRUE(run.summary.success()) << run.summary.FullReport();
  EXPECT_NEAR(run.summary.value, -1.0, 1e-8);
  EXPECT_NEAR(std::fabs(run.x(1)), std::sqrt(2.0), 1e-4);
}

TEST(TrustRegion, NewtonCgAndLsr1FollowNegativeCurvatureNearASaddle) {
  // From exactly y = 0, Krylov (Newton-CG) and secant (L-SR1) models see
  // curvature only along directions the gradient has touched, so they stay
  // on the line, as scipy's trust-ncg does. From (1, 1e-7) the first step
  // lands next to the saddle, where the gradient (about 4e-7) points along y:
  // L-BFGS with its default gtol stops there; asked for a gradient below
  // 1e-7, the trust-region variants see d.Bd < 0 along y (Newton-CG) or
  // learn it from a pair (L-SR1), leave along the negative curvature and
  // reach a minimum.
  VectorXd x0(2);
  x0 << 1, 1e-7;
  auto lbfgs =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(lbfgs);
  EXPECT_NEAR(testing::Drive(**lbfgs, SaddleObjective()).summary.value, 0.0,
              1e-9);
  for (TrustRegionSubproblem s : {TrustRegionSubproblem::kNewtonCg,
                                  TrustRegionSubproblem::kQuasiNewton}) {
    TrustRegionOptions options = WithSubproblem(s);
    options.gtol = 1e-7;
    auto solver = MakeTrustRegion(options, x0);
    const testing::DriveResult run = testing::Drive(*solver, SaddleObjective());
    SCOPED_TRACE(run.summary.FullReport());
    EXPECT_TRUE(run.summary.success());
    EXPECT_NEAR(run.summary.value, -1.0, 1e-8);
    EXPECT_NEAR(std::fabs(run.x(1)), std::sqrt(2.0), 1e-4);
  }
}

// f = 1e15 + x - drop [x < -100]: every step downhill is accepted (the
// model's prediction is the linear decrease) and lowers f by at most 1e3, a
// relative 1e-12, except the one that crosses x = -100 and gains `drop`.
testing::Objective LinearOnAPlateau(double drop) {
  return {
      [drop](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
        if (g != nullptr) *g = VectorXd::Ones(1);
        return 1e15 + x(0) - (x(0) < -100 ? drop : 0.0);
      },
      [](const Eigen::VectorXd&) { return Eigen::SparseMatrix<double>(1, 1); }};
}

// The accepted steps of a run: trials whose value is below the best before.
std::vector<int> AcceptedTrials(const testing::DriveResult& run,
                                const testing::Objective& objective) {
  std::vector<int> accepted;
  double best = INFINITY;
  for (int i = 0; i < static_cast<int>(run.trials.size()); ++i) {
    const double f = objective.evaluate(run.trials[i], nullptr);
    if (f < best) {
      if (i > 0) accepted.push_back(i);
      best = f;
    }
  }
  return accepted;
}

TEST(TrustRegion, StopsAfterFtolStepsAcceptedStepsThatBarelyLowerF) {
  const VectorXd x0 = VectorXd::Zero(1);
  const testing::Objective plateau = LinearOnAPlateau(0.0);
  testing::DriveOptions record;
  record.record_trials = true;
  for (TrustRegionSubproblem s : kAllSubproblems) {
    for (int steps : {20, 3}) {
      TrustRegionOptions options = WithSubproblem(s);
      options.ftol_steps = steps;
      options.max_iterations = 100;
      auto solver = MakeTrustRegion(options, x0);
      const testing::DriveResult run = testing::Drive(*solver, plateau, record);
      SCOPED_TRACE(run.summary.FullReport());
      EXPECT_EQ(run.summary.reason, TerminationReason::kFunctionTolerance);
      EXPECT_EQ(run.summary.message,
                "The relative reduction of f was at most ftol for ftol_steps "
                "accepted steps in a row.");
      EXPECT_TRUE(run.summary.success());
      // |g| = 1 throughout: only the new test can end the run, and it ends
      // it at the steps-th accepted step.
      EXPECT_EQ(AcceptedTrials(run, plateau).size(), steps);
      EXPECT_THAT(
          solver->OptionsReport(),
          HasSubstr(absl::StrCat("ftol 2.22045e-09 over ", steps, " steps")));
    }
  }
  // ftol = 0 turns the test off (scipy's semantics): the cap ends the run.
  TrustRegionOptions off;
  off.ftol = 0;
  off.max_iterations = 60;
  auto solver = MakeTrustRegion(off, x0);
  const testing::DriveResult run = testing::Drive(*solver, plateau);
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxIterations);
}

TEST(TrustRegion, AStepThatLowersFMeasurablyRestartsTheFtolCount) {
  // The step across x = -100 lowers f by 1e9 (a relative 1e-6): the count
  // starts again after it.
  const testing::Objective cliff = LinearOnAPlateau(1e9);
  testing::DriveOptions record;
  record.record_trials = true;
  auto solver = MakeTrustRegion(TrustRegionOptions(), VectorXd::Zero(1));
  const testing::DriveResult run = testing::Drive(*solver, cliff, record);
  SCOPED_TRACE(run.summary.FullReport());
  EXPECT_EQ(run.summary.reason, TerminationReason::kFunctionTolerance);
  const std::vector<int> accepted = AcceptedTrials(run, cliff);
  int crossing = -1;
  for (int i = 0; i < static_cast<int>(accepted.size()); ++i) {
    if (run.trials[accepted[i]](0) < -100) {
      crossing = i;
      break;
    }
  }
  ASSERT_GE(crossing, 1);
  EXPECT_LT(crossing, 20);
  EXPECT_EQ(accepted.size(), crossing + 1 + 20);
}

TEST(TrustRegion, StopsAtIterationAndEvaluationLimits) {
  VectorXd x0(2);
  x0 << -1.2, 1;
  TrustRegionOptions options;
  options.max_iterations = 5;
  auto solver = MakeTrustRegion(options, x0);
  testing::DriveResult run = testing::Drive(*solver, RosenbrockObjective());
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxIterations);
  EXPECT_EQ(run.summary.message,
            "Maximum number of iterations has been exceeded.");
  EXPECT_EQ(run.summary.iterations, 5);
  EXPECT_FALSE(run.summary.success());

  options = WithSubproblem(TrustRegionSubproblem::kNewtonCg);
  options.max_evaluations = 7;
  solver = MakeTrustRegion(options, x0);
  run = testing::Drive(*solver, RosenbrockObjective());
  EXPECT_EQ(run.summary.reason, TerminationReason::kMaxEvaluations);
  EXPECT_EQ(run.summary.message,
            "Maximum number of function evaluations has been exceeded.");
  EXPECT_EQ(run.summary.evaluations, 7);
}

TEST(TrustRegion, ARejectedInteriorStepIsNotAskedForAgain) {
  // f = |x|^2 / 2 + 100 |x - x0|^3: at x0 the model is |x|^2 / 2, whose
  // Newton step p = -x0 (|p| = 0.05) is interior and rejected (f(0) = 0.0125
  // > f(x0) = 0.00125). It stays the model's minimizer while the radius is at
  // least 0.05, so the radius contracts 1 -> 0.25 -> 0.0625 -> 0.015625 (three
  // iterations, as scipy's loop with its cached f) before the next trial: the
  // boundary step 0.015625 x0 / |x0|.
  VectorXd x0(2);
  x0 << 0.03, 0.04;
  testing::Objective cubic;
  cubic.evaluate = [x0](const VectorXd& x, VectorXd* g) {
    const VectorXd d = x - x0;
    const double r = d.norm();
    if (g != nullptr) *g = x + 300.0 * r * d;
    return 0.5 * x.squaredNorm() + 100.0 * r * r * r;
  };
  cubic.hessian = [x0](const VectorXd& x) {
    const VectorXd d = x - x0;
    const double r = d.norm();
    Eigen::MatrixXd h = Eigen::MatrixXd::Identity(2, 2) * (1.0 + 300.0 * r);
    if (r > 0) h += 300.0 * d * d.transpose() / r;
    return Eigen::SparseMatrix<double>(h.sparseView());
  };
  for (TrustRegionSubproblem s :
       {TrustRegionSubproblem::kExact, TrustRegionSubproblem::kNewtonCg}) {
    SCOPED_TRACE(SubproblemName(s));
    auto solver = MakeTrustRegion(WithSubproblem(s), x0);
    auto tell_until_point = [&] {
      do {
        TellOne(*solver, cubic);
      } while (solver->wants() == Evaluation::kHessianVector);
    };
    tell_until_point();  // x0 (and the CG product)
    VectorXd trial(2);
    ASSERT_OK(
        solver->ReadTrialPoint(MutableVectorView::Float64(trial.data(), 2)));
    EXPECT_LE(trial.norm(), 1e-15);
    tell_until_point();  // rejected
    EXPECT_EQ(solver->radius(), 0.015625);
    EXPECT_EQ(solver->progress().iterations, 3);
    EXPECT_EQ(solver->progress().best_value, 0.5 * x0.squaredNorm());
    ASSERT_OK(
        solver->ReadTrialPoint(MutableVectorView::Float64(trial.data(), 2)));
    EXPECT_LE((trial - 0.6875 * x0).norm(), 1e-9 * x0.norm());
  }
}

TEST(TrustRegion, ConvergesAtTheStartWhenTheGradientIsSmall) {
  auto solver = MakeTrustRegion(TrustRegionOptions(), VectorXd::Ones(2));
  const testing::DriveResult run =
      testing::Drive(*solver, RosenbrockObjective());
  EXPECT_EQ(run.summary.reason, TerminationReason::kGradientTolerance);
  EXPECT_EQ(run.summary.evaluations, 1);
  EXPECT_EQ(run.summary.iterations, 0);
}

TEST(TrustRegion, ModelWithoutPredictedDecreaseEndsTheSession) {
  // gtol = 0 at an exact minimum: no step can be predicted to decrease f.
  TrustRegionOptions options = WithSubproblem(TrustRegionSubproblem::kExact);
  options.gtol = 0;
  auto solver = MakeTrustRegion(options, VectorXd::Ones(2));
  const testing::DriveResult run =
      testing::Drive(*solver, RosenbrockObjective());
  EXPECT_EQ(run.summary.reason, TerminationReason::kTrustRegionFailed);
  EXPECT_EQ(TerminationReasonName(run.summary.reason), "TRUST_REGION_FAILED");
  EXPECT_FALSE(run.summary.success());
  EXPECT_EQ(run.summary.message,
            "A bad approximation caused failure to predict improvement.");
  EXPECT_EQ(run.summary.evaluations, 1);
}

TEST(TrustRegion, AStepThatIsNotFiniteContractsTheRegionInsteadOfGoingOut) {
  // L-SR1 with negative curvature (sin) in a region of radius 1e50 or more:
  // sigma = -mu_min + |a_min| / radius rounds to -mu_min, so the boundary
  // step's length was 1 / 0 = inf and trial 3 was x = (-inf, NaN, -inf)
  // (found by session_requests_fuzzer's finiteness check, initial_radius
  // 1e300, max_radius DBL_MAX). Now every trial is finite and the session
  // ends with a summary.
  const testing::Objective wave{
      [](const VectorXd& x, VectorXd* g) {
        double f = 3;
        for (int i = 0; i < x.size(); ++i) {
          f += 1e-300 * (x[i] + 3) * (x[i] + 3) + 0.5 * std::sin(x[i]);
          if (g != nullptr) {
            (*g)[i] = 2e-300 * (x[i] + 3) + 0.5 * std::cos(x[i]);
          }
        }
        return f;
      },
      nullptr};
  for (double radius : {1e50, 1e300, std::numeric_limits<double>::max()}) {
    TrustRegionOptions options;
    options.initial_radius = radius;
    options.max_radius = std::numeric_limits<double>::max();
    options.gtol = 0;
    auto solver =
        MakeTrustRegion(options, (VectorXd(3) << 1.0, -1.0, 0.5).finished());
    testing::DriveOptions drive;
    drive.record_trials = true;
    drive.max_tells = 5000;
    const testing::DriveResult run = testing::Drive(*solver, wave, drive);
    ASSERT_TRUE(run.finished) << radius;
    EXPECT_NE(run.summary.reason, TerminationReason::kNone);
    for (const VectorXd& x : run.trials) {
      ASSERT_TRUE(x.allFinite()) << radius << ": " << x.transpose();
    }
  }
}

TEST(TrustRegion, StopEndsTheSessionAtOnce) {
  auto solver = MakeTrustRegion(TrustRegionOptions(), VectorXd::Ones(2));
  solver->Stop();
  EXPECT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kStoppedByClient);
  const double g[2] = {0, 0};
  EXPECT_THAT(
      solver->SetTrialGradient(ConstVectorView::Float64(g, 2)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("finished")));
}

}  // namespace
}  // namespace optd
