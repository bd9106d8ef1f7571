// Tests of LeastSquaresSolver (least_squares_solver.h) over TrfLsmr
// (trf_lsmr.h): the product trials through the Solver interface reach
// exactly the library's result, wrong or missing products are refused and
// change nothing, and a saved state continues bitwise.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "solvers/least_squares/least_squares_solver.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/testing/mgh_least_squares.h"

namespace optd {
namespace {

std::unique_ptr<LeastSquaresSolver> Make(const problems::ResidualProblem& p) {
  auto solver = LeastSquaresSolver::Create(
      TrfLsmrOptions(), ConstVectorView::Float64(p.x0.data(), p.n), p.m);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return *std::move(solver);
}

// Answers the outstanding trial of `solver` from p.
void Answer(const problems::ResidualProblem& p, LeastSquaresSolver* solver) {
  Eigen::VectorXd x(p.n), r;
  Eigen::MatrixXd jac;
  ASSERT_TRUE(
      solver->ReadTrialPoint(MutableVectorView::Float64(x.data(), p.n)).ok());
  p.evaluate(x, &r, &jac);
  TrialResult result;
  const Evaluation wants = solver->wants();
  if (wants == Evaluation::kResiduals) {
    ASSERT_TRUE(
        solver->SetTrialResiduals(ConstVectorView::Float64(r.data(), p.m))
            .ok());
    result.has_residuals = true;
  } else {
    ASSERT_TRUE(WantsJacobianProduct(wants));
    const bool jv = wants == Evaluation::kJacobianVector;
    Eigen::VectorXd v(jv ? p.n : p.m);
    ASSERT_TRUE(
        solver->ReadTrialVector(MutableVectorView::Float64(v.data(), v.size()))
            .ok());
    const Eigen::VectorXd product =
        jv ? Eigen::VectorXd(jac * v) : Eigen::VectorXd(jac.transpose() * v);
    ASSERT_TRUE(solver
                    ->SetTrialJacobianProduct(ConstVectorView::Float64(
                        product.data(), product.size()))
                    .ok());
    result.has_jacobian_product = true;
  }
  ASSERT_TRUE(solver->Tell(result).ok());
}

TEST(LeastSquaresSolverLsmr, MakesTheLibrarysResult) {
  const problems::ResidualProblem p = *problems::FindResidualProblem("bard");
  auto solver = Make(p);
  EXPECT_EQ(solver->wants(), Evaluation::kResiduals);
  int64_t tells = 0;
  while (!solver->finished()) {
    Answer(p, solver.get());
    ++tells;
  }
  auto trf = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*trf)->finished()) {
    TrfLsmr& t = **trf;
    p.evaluate(t.trial_point(), &r, &jac);
    if (t.wants_residuals()) {
      ASSERT_TRUE(t.Tell(r, {}).ok());
    } else if (t.wants_jacobian_vector()) {
      ASSERT_TRUE(t.TellProduct(jac * t.trial_vector()).ok());
    } else {
      ASSERT_TRUE(t.TellProduct(jac.transpose() * t.trial_vector()).ok());
    }
  }
  const LeastSquaresSummary* got = solver->least_squares_summary();
  ASSERT_NE(got, nullptr);
  const LeastSquaresSummary& want = (*trf)->summary();
  EXPECT_EQ(got->x, want.x);
  EXPECT_EQ(got->nfev, want.nfev);
  EXPECT_EQ(got->njev, want.njev);
  EXPECT_EQ(got->jacobian_vector_products, want.jacobian_vector_products);
  EXPECT_EQ(solver->summary().evaluations, tells);
  EXPECT_EQ(solver->summary().evaluations,
            want.nfev + want.jacobian_vector_products +
                want.jacobian_transpose_vector_products);
}

TEST(LeastSquaresSolverLsmr, RefusesWrongProductsAndStaysUnchanged) {
  const problems::ResidualProblem p = *problems::FindResidualProblem("beale");
  auto solver = Make(p);  // n = 2, m = 3
  double buffer[3] = {0, 0, 0};
  EXPECT_EQ(solver->SetTrialJacobianProduct(ConstVectorView::Float64(buffer, 2))
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      solver->ReadTrialVector(MutableVectorView::Float64(buffer, 3)).code(),
      absl::StatusCode::kFailedPrecondition);
  Answer(p, solver.get());  // r(x0)
  ASSERT_EQ(solver->wants(), Evaluation::kJacobianTransposeVector);
  absl::Status wrong =
      solver->SetTrialJacobianProduct(ConstVectorView::Float64(buffer, 3));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong.message(),
            "jacobian_transpose_vector has 3 elements; J^T u needs n = 2");
  absl::Status short_vector =
      solver->ReadTrialVector(MutableVectorView::Float64(buffer, 2));
  EXPECT_EQ(short_vector.message(),
            "the trial's vector has 3 elements; 2 were asked for");
  TrialResult nothing;
  absl::Status missing = solver->Tell(nothing);
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.message(), "the trial wants a Jacobian product");
  EXPECT_EQ(solver->wants(), Evaluation::kJacobianTransposeVector);
  Answer(p, solver.get());  // J^T f, then the regularization's J v
  ASSERT_EQ(solver->wants(), Evaluation::kJacobianVector);
  absl::Status wrong_jv =
      solver->SetTrialJacobianProduct(ConstVectorView::Float64(buffer, 2));
  EXPECT_EQ(wrong_jv.message(),
            "jacobian_vector has 2 elements; J v needs m = 3");
}

// Methods that form J want no product (least_squares_method.h's default).
TEST(LeastSquaresSolverLsmr, DenseMethodsRefuseProducts) {
  const problems::ResidualProblem p = *problems::FindResidualProblem("beale");
  auto lm = LevenbergMarquardt::Create({}, p.x0, p.m);
  ASSERT_TRUE(lm.ok());
  absl::Status product = (*lm)->TellProduct(Eigen::Vector3d::Zero());
  EXPECT_EQ(product.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(product.message(), "lm: the trial wants no Jacobian product");
  EXPECT_EQ((*lm)->trial_vector().size(), 0);
}

TEST(LeastSquaresSolverLsmr, RestoredStatesContinueBitwise) {
  const problems::ResidualProblem p =
      *problems::FindResidualProblem("rosenbrock");
  auto reference = Make(p);
  while (!reference->finished()) Answer(p, reference.get());
  auto solver = Make(p);
  for (int k = 0; k < 20; ++k) Answer(p, solver.get());
  std::string state;
  ASSERT_TRUE(solver->SaveState(&state).ok());
  EXPECT_EQ(static_cast<int64_t>(state.size()), solver->StateBytes());
  auto restored = Make(p);
  ASSERT_TRUE(restored->RestoreState(state).ok());
  while (!restored->finished()) Answer(p, restored.get());
  EXPECT_EQ(restored->least_squares_summary()->x,
            reference->least_squares_summary()->x);
  EXPECT_EQ(restored->summary().evaluations, reference->summary().evaluations);
}

}  // namespace
}  // namespace optd
