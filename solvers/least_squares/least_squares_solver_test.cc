// Tests of LeastSquaresSolver (least_squares_solver.h): driven through the
// Solver interface it makes exactly the trials and reaches exactly the
// result LevenbergMarquardt does on its own; refused vectors leave it
// unchanged; failures, stops and the Summary mapping.
#include "solvers/least_squares/least_squares_solver.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/mgh_least_squares.h"

namespace optd {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::unique_ptr<LeastSquaresSolver> Make(
    const problems::ResidualProblem& p,
    const LevenbergMarquardtOptions& o = {}) {
  auto solver = LeastSquaresSolver::Create(
      o, ConstVectorView::Float64(p.x0.data(), p.n), p.m);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return solver.ok() ? *std::move(solver) : nullptr;
}

// r and J (row-major) of `p` at the solver's trial point.
struct Told {
  std::vector<double> r, jac;
};
Told Evaluate(const problems::ResidualProblem& p, const Solver& solver) {
  Eigen::VectorXd x(p.n), r;
  Eigen::MatrixXd jac;
  EXPECT_TRUE(
      solver.ReadTrialPoint(MutableVectorView::Float64(x.data(), p.n)).ok());
  p.evaluate(x, &r, &jac);
  Told told;
  told.r.assign(r.data(), r.data() + r.size());
  for (int i = 0; i < p.m; ++i)
    for (int j = 0; j < p.n; ++j) told.jac.push_back(jac(i, j));
  return told;
}

// One tell of `told` as the trial wants it.
absl::Status TellOne(Solver* solver, const Told& told) {
  TrialResult result;
  if (WantsJacobian(solver->wants())) {
    absl::Status s = solver->SetTrialJacobian(
        ConstVectorView::Float64(told.jac.data(), told.jac.size()));
    if (!s.ok()) return s;
    result.has_jacobian = true;
  }
  if (WantsResiduals(solver->wants())) {
    absl::Status s = solver->SetTrialResiduals(
        ConstVectorView::Float64(told.r.data(), told.r.size()));
    if (!s.ok()) return s;
    result.has_residuals = true;
  }
  return solver->Tell(result);
}

class LeastSquaresSolverMgh : public ::testing::TestWithParam<std::string> {};

TEST_P(LeastSquaresSolverMgh, MakesTheLibrarysTrialsAndResult) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem(GetParam());
  ASSERT_TRUE(p.ok()) << p.status();
  std::unique_ptr<LeastSquaresSolver> solver = Make(*p);
  auto lm = LevenbergMarquardt::Create({}, p->x0, p->m);
  ASSERT_TRUE(lm.ok());
  ASSERT_EQ(solver->wants(), Evaluation::kResidualsAndJacobian);
  int64_t told = 0;
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*lm)->finished()) {
    ASSERT_FALSE(solver->finished());
    EXPECT_EQ(WantsResiduals(solver->wants()), (*lm)->wants_residuals());
    EXPECT_EQ(WantsJacobian(solver->wants()), (*lm)->wants_jacobian());
    p->evaluate((*lm)->trial_point(), &r, &jac);
    ASSERT_TRUE((*lm)->Tell(r, jac).ok());
    ASSERT_TRUE(TellOne(solver.get(), Evaluate(*p, *solver)).ok());
    ++told;
  }
  ASSERT_TRUE(solver->finished());
  const LeastSquaresSummary& want = (*lm)->summary();
  const LeastSquaresSummary* got = solver->least_squares_summary();
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->nfev, want.nfev);
  EXPECT_EQ(got->njev, want.njev);
  EXPECT_EQ(got->status, want.status);
  EXPECT_EQ(got->cost, want.cost);  // bitwise: the same arithmetic
  EXPECT_EQ(got->x, want.x);
  const Summary& s = solver->summary();
  EXPECT_EQ(s.solver, "least_squares");
  EXPECT_EQ(s.value, want.cost);
  EXPECT_EQ(s.gradient_max_norm, want.optimality);
  EXPECT_EQ(s.evaluations, told);
  EXPECT_EQ(s.message, want.message);
  EXPECT_TRUE(s.success()) << s.BriefReport();
  std::vector<double> best(p->n), grad(p->n);
  ASSERT_TRUE(
      solver->ReadBestPoint(MutableVectorView::Float64(best.data(), p->n))
          .ok());
  EXPECT_EQ(Eigen::Map<Eigen::VectorXd>(best.data(), p->n), want.x);
  ASSERT_TRUE(
      solver->ReadBestGradient(MutableVectorView::Float64(grad.data(), p->n))
          .ok());
  EXPECT_EQ(Eigen::Map<Eigen::VectorXd>(grad.data(), p->n), want.grad);
}

INSTANTIATE_TEST_SUITE_P(Problems, LeastSquaresSolverMgh,
                         ::testing::Values("rosenbrock", "beale", "bard",
                                           "osborne_1", "penalty_2_10"));

TEST(LeastSquaresSolver, RefusesBadVectorsAndStaysUnchanged) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem("rosenbrock");
  ASSERT_TRUE(p.ok());
  std::unique_ptr<LeastSquaresSolver> solver = Make(*p);
  const Told good = Evaluate(*p, *solver);
  std::vector<double> short_r = {1.0};
  EXPECT_THAT(
      solver->SetTrialResiduals(ConstVectorView::Float64(short_r.data(), 1))
          .message(),
      HasSubstr("residuals has 1 elements; m = 2"));
  std::vector<double> short_j = {1.0, 2.0, 3.0};
  absl::Status s =
      solver->SetTrialJacobian(ConstVectorView::Float64(short_j.data(), 3));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("jacobian has 3 elements"));
  Told nan = good;
  nan.jac[3] = std::numeric_limits<double>::quiet_NaN();
  s = TellOne(solver.get(), nan);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("jacobian[3] (row 1, column 1) is nan"));
  EXPECT_EQ(solver->progress().evaluations, 0);
  EXPECT_EQ(solver->wants(), Evaluation::kResidualsAndJacobian);
  std::vector<double> g(2);
  EXPECT_EQ(
      solver->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)).code(),
      absl::StatusCode::kFailedPrecondition);
  // The good tell still goes as it would have.
  ASSERT_TRUE(TellOne(solver.get(), good).ok());
  EXPECT_EQ(solver->wants(), Evaluation::kResiduals);
  EXPECT_EQ(solver
                ->SetTrialJacobian(
                    ConstVectorView::Float64(good.jac.data(), good.jac.size()))
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LeastSquaresSolver, FailedStartEndsAsEvaluationFailed) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem("rosenbrock");
  ASSERT_TRUE(p.ok());
  std::unique_ptr<LeastSquaresSolver> solver = Make(*p);
  TrialResult failed;
  failed.failed = true;
  ASSERT_TRUE(solver->Tell(failed).ok());
  ASSERT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kEvaluationFailed);
  ASSERT_NE(solver->least_squares_summary(), nullptr);
  EXPECT_EQ(solver->least_squares_summary()->status,
            kLeastSquaresEvaluationFailed);
}

TEST(LeastSquaresSolver, NonFiniteResidualsRefuseTheStep) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem("rosenbrock");
  ASSERT_TRUE(p.ok());
  std::unique_ptr<LeastSquaresSolver> solver = Make(*p);
  ASSERT_TRUE(TellOne(solver.get(), Evaluate(*p, *solver)).ok());
  const double delta = solver->progress().trust_radius;
  Told inf = Evaluate(*p, *solver);
  inf.r[0] = std::numeric_limits<double>::infinity();
  ASSERT_TRUE(TellOne(solver.get(), inf).ok());  // a failure, not an error
  EXPECT_FALSE(solver->finished());
  EXPECT_EQ(solver->wants(), Evaluation::kResiduals);
  EXPECT_LT(solver->progress().trust_radius, delta);
  EXPECT_EQ(solver->progress().evaluations, 2);
}

TEST(LeastSquaresSolver, StopEndsWithoutLeastSquaresSummary) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem("beale");
  ASSERT_TRUE(p.ok());
  std::unique_ptr<LeastSquaresSolver> solver = Make(*p);
  ASSERT_TRUE(TellOne(solver.get(), Evaluate(*p, *solver)).ok());
  solver->Stop();
  ASSERT_TRUE(solver->finished());
  EXPECT_EQ(solver->summary().reason, TerminationReason::kStoppedByClient);
  EXPECT_EQ(solver->least_squares_summary(), nullptr);
  std::vector<double> best(2);
  ASSERT_TRUE(
      solver->ReadBestPoint(MutableVectorView::Float64(best.data(), 2)).ok());
  EXPECT_EQ(best[0], p->x0[0]);
}

TEST(LeastSquaresSolver, CreateRefusesBadOptions) {
  std::vector<double> x0 = {1.0, 2.0};
  auto few = LeastSquaresSolver::Create(
      LevenbergMarquardtOptions(), ConstVectorView::Float64(x0.data(), 2), 1);
  EXPECT_EQ(few.status().code(), absl::StatusCode::kInvalidArgument);
  LevenbergMarquardtOptions o;
  o.ftol = 0;
  auto tol =
      LeastSquaresSolver::Create(o, ConstVectorView::Float64(x0.data(), 2), 2);
  EXPECT_THAT(tol.status().message(), HasSubstr("ftol"));
  x0[1] = std::numeric_limits<double>::infinity();
  auto inf = LeastSquaresSolver::Create(
      LevenbergMarquardtOptions(), ConstVectorView::Float64(x0.data(), 2), 2);
  EXPECT_THAT(inf.status().message(), HasSubstr("x0[1] is inf"));
}

std::unique_ptr<LeastSquaresSolver> MakeTrf(
    const problems::ResidualProblem& p, const TrustRegionReflectiveOptions& o) {
  auto solver = LeastSquaresSolver::Create(
      o, ConstVectorView::Float64(p.x0.data(), p.n), p.m);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return solver.ok() ? *std::move(solver) : nullptr;
}

// Method 'trf' in a box through the Solver interface: the library's
// result, and active_mask in the summary.
TEST(LeastSquaresSolverTrf, MakesTheLibrarysResultInABox) {
  auto p = problems::FindResidualProblem("rosenbrock");
  ASSERT_TRUE(p.ok());
  TrustRegionReflectiveOptions o;
  o.lower = {-2.0, -2.0};
  o.upper = {0.5, 2.0};
  std::unique_ptr<LeastSquaresSolver> solver = MakeTrf(*p, o);
  ASSERT_NE(solver, nullptr);
  EXPECT_EQ(solver->method(), "trf");
  auto trf = TrustRegionReflective::Create(o, p->x0, p->m);
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*trf)->finished()) {
    p->evaluate((*trf)->trial_point(), &r, &jac);
    ASSERT_TRUE((*trf)->Tell(r, jac).ok());
  }
  while (!solver->finished()) {
    ASSERT_TRUE(TellOne(solver.get(), Evaluate(*p, *solver)).ok());
  }
  const LeastSquaresSummary* s = solver->least_squares_summary();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->x, (*trf)->summary().x);
  EXPECT_EQ(s->nfev, (*trf)->summary().nfev);
  // scipy_trf_1.10.txt: rosenbrock_box 18 16 2, x1 on its upper bound.
  EXPECT_EQ(s->nfev, 18);
  EXPECT_EQ(s->njev, 16);
  EXPECT_EQ(s->active_mask, (std::vector<int>{1, 0}));
  EXPECT_EQ(solver->summary().reason, TerminationReason::kFunctionTolerance);
  EXPECT_EQ(solver->summary().evaluations, 18 + 16 - 1);
  EXPECT_THAT(solver->OptionsReport(), HasSubstr("method=trf"));
}

// Checkpointing: a state saved before any tell, restored into a fresh
// solver, continues bitwise; StateBytes is SaveState's size; both methods.
void CheckSaveRestore(
    const problems::ResidualProblem& p,
    const std::function<std::unique_ptr<LeastSquaresSolver>()>& make) {
  std::unique_ptr<LeastSquaresSolver> reference = make();
  while (!reference->finished()) {
    ASSERT_TRUE(TellOne(reference.get(), Evaluate(p, *reference)).ok());
  }
  std::unique_ptr<LeastSquaresSolver> solver = make();
  int64_t tells = 0;
  while (true) {
    std::string state;
    ASSERT_TRUE(solver->SaveState(&state).ok());
    EXPECT_EQ(solver->StateBytes(), static_cast<int64_t>(state.size()));
    std::unique_ptr<LeastSquaresSolver> fresh = make();
    ASSERT_TRUE(fresh->RestoreState(state).ok());
    solver = std::move(fresh);
    if (solver->finished()) break;
    ASSERT_TRUE(TellOne(solver.get(), Evaluate(p, *solver)).ok());
    ++tells;
  }
  EXPECT_EQ(tells, reference->summary().evaluations);
  EXPECT_EQ(solver->summary().evaluations, reference->summary().evaluations);
  EXPECT_EQ(solver->summary().value, reference->summary().value);
  EXPECT_EQ(solver->summary().reason, reference->summary().reason);
  EXPECT_EQ(solver->least_squares_summary()->x,
            reference->least_squares_summary()->x);
}

TEST(LeastSquaresSolverState, RestoredStatesContinueBitwise) {
  auto p = problems::FindResidualProblem("bard");
  ASSERT_TRUE(p.ok());
  CheckSaveRestore(*p, [&] { return Make(*p); });
  LevenbergMarquardtOptions lm_scaled;
  lm_scaled.x_scale = {1.0, 2.0, 3.0};
  CheckSaveRestore(*p, [&] { return Make(*p, lm_scaled); });
  TrustRegionReflectiveOptions trf;
  trf.loss = RobustLoss::kSoftL1;
  trf.lower = {0.1, 0.0, 0.0};
  trf.upper = {kInf, kInf, 2.0};
  trf.x_scale = {1.0, 2.0, 3.0};
  CheckSaveRestore(*p, [&] { return MakeTrf(*p, trf); });
}

TEST(LeastSquaresSolverState, StoppedStateRestoresStopped) {
  auto p = problems::FindResidualProblem("bard");
  std::unique_ptr<LeastSquaresSolver> solver =
      MakeTrf(*p, TrustRegionReflectiveOptions());
  ASSERT_TRUE(TellOne(solver.get(), Evaluate(*p, *solver)).ok());
  solver->Stop();
  std::string state;
  ASSERT_TRUE(solver->SaveState(&state).ok());
  std::unique_ptr<LeastSquaresSolver> fresh =
      MakeTrf(*p, TrustRegionReflectiveOptions());
  ASSERT_TRUE(fresh->RestoreState(state).ok());
  EXPECT_TRUE(fresh->finished());
  EXPECT_EQ(fresh->summary().reason, TerminationReason::kStoppedByClient);
  EXPECT_EQ(fresh->least_squares_summary(), nullptr);
}

TEST(LeastSquaresSolverState, RefusesAnotherMethodsOrBrokenState) {
  auto p = problems::FindResidualProblem("bard");
  std::unique_ptr<LeastSquaresSolver> lm = Make(*p);
  std::unique_ptr<LeastSquaresSolver> trf =
      MakeTrf(*p, TrustRegionReflectiveOptions());
  std::string lm_state;
  ASSERT_TRUE(lm->SaveState(&lm_state).ok());
  absl::Status other = trf->RestoreState(lm_state);
  EXPECT_EQ(other.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.message(),
              HasSubstr("the optd.trust_region_reflective.v1 state"));
  absl::Status junk = trf->RestoreState("optd.least_squares_solver.v0");
  EXPECT_EQ(junk.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(junk.message(),
              HasSubstr("the optd.least_squares_solver.v1 state"));
  absl::Status cut = lm->RestoreState(lm_state.substr(0, 40));
  EXPECT_EQ(cut.code(), absl::StatusCode::kInvalidArgument);
  // Unchanged: both still run to scipy's result.
  while (!trf->finished()) {
    ASSERT_TRUE(TellOne(trf.get(), Evaluate(*p, *trf)).ok());
  }
  EXPECT_EQ(trf->least_squares_summary()->nfev, 6);
}

}  // namespace
}  // namespace optd
