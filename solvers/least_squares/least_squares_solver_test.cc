// Tests of LeastSquaresSolver (least_squares_solver.h): driven through the
// Solver interface it makes exactly the trials and reaches exactly the
// result LevenbergMarquardt does on its own; refused vectors leave it
// unchanged; failures, stops and the Summary mapping.
#include "solvers/least_squares/least_squares_solver.h"

#include <cmath>
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
  auto few =
      LeastSquaresSolver::Create({}, ConstVectorView::Float64(x0.data(), 2), 1);
  EXPECT_EQ(few.status().code(), absl::StatusCode::kInvalidArgument);
  LevenbergMarquardtOptions o;
  o.ftol = 0;
  auto tol =
      LeastSquaresSolver::Create(o, ConstVectorView::Float64(x0.data(), 2), 2);
  EXPECT_THAT(tol.status().message(), HasSubstr("ftol"));
  x0[1] = std::numeric_limits<double>::infinity();
  auto inf =
      LeastSquaresSolver::Create({}, ConstVectorView::Float64(x0.data(), 2), 2);
  EXPECT_THAT(inf.status().message(), HasSubstr("x0[1] is inf"));
}

}  // namespace
}  // namespace optd
