// Tests of WithFiniteDifferenceJacobian (finite_difference_jacobian.h): the
// Moré, Garbow & Hillstrom problems against scipy 1.10's
// least_squares(method='lm', jac='2-point') as
// tests/data/gen_scipy_lm_2point.py recorded them (nfev with the forward
// differences counted, status, cost); behind TrustRegionReflective in the
// boxes of tests/data/bounded_problems.py against scipy's trf with jac=
// '2-point' and '3-point' (tests/data/gen_scipy_trf_2point.py: nfev, njev,
// status, cost); the batches' shape, points and steps (fdjac2's and
// approx_derivative's, bounded steps included); failed trials; and every
// error path.
#include "solvers/adapters/finite_difference_jacobian.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/core/bounds.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/least_squares/least_squares_solver.h"
#include "solvers/least_squares/robust_loss.h"
#include "solvers/least_squares/trust_region_reflective.h"
#include "solvers/testing/mgh_least_squares.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::Eigen::MatrixXd;
using ::Eigen::VectorXd;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kEps = std::numeric_limits<double>::epsilon();
// fdjac2's default eps: sqrt of MINPACK dpmpar(1), 2.22044604926d-16.
const double kMinpackEps = std::sqrt(2.22044604926e-16);
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// One line of scipy_lm_2point_1.10.txt (see its header).
struct ScipyLm2Point {
  std::string name;
  int n = 0, m = 0, nfev = 0, status = 0;
  double cost = 0;
};

std::vector<ScipyLm2Point> LoadScipyLm2Point() {
  std::ifstream in(OPTD_TEST_DATA_DIR "/scipy_lm_2point_1.10.txt");
  std::vector<ScipyLm2Point> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    ScipyLm2Point e;
    s >> e.name >> e.n >> e.m >> e.nfev >> e.status >> e.cost;
    out.push_back(e);
  }
  return out;
}

using ResidualFn = std::function<void(const VectorXd&, VectorXd*)>;

std::unique_ptr<Solver> MakeLm(const VectorXd& x0, int m, JacobianStepRule rule,
                               LevenbergMarquardtOptions lm = {}) {
  lm.jacobian_nfev = JacobianEvaluations(x0.size(), rule);
  auto inner = LeastSquaresSolver::Create(
      lm, ConstVectorView::Float64(x0.data(), x0.size()), m);
  EXPECT_TRUE(inner.ok()) << inner.status();
  FiniteDifferenceJacobianOptions options;
  options.rule = rule;
  auto solver =
      WithFiniteDifferenceJacobian(*std::move(inner), options, Bounds());
  EXPECT_TRUE(solver.ok()) << solver.status();
  return *std::move(solver);
}

VectorXd ReadPoint(const Solver& solver, int k) {
  VectorXd x(solver.dimension());
  EXPECT_TRUE(
      solver.ReadBatchPoint(k, MutableVectorView::Float64(x.data(), x.size()))
          .ok());
  return x;
}

// Tells trial k its residuals at its point (failed when `fun` gives a
// non-finite one or the trial is listed in `fail`).
void TellResiduals(Solver& solver, int k, const ResidualFn& fun,
                   bool fail = false) {
  ASSERT_EQ(solver.batch_wants(k), Evaluation::kResiduals);
  VectorXd r;
  fun(ReadPoint(solver, k), &r);
  TrialResult result;
  if (fail) {
    result.failed = true;
  } else {
    ASSERT_TRUE(
        solver
            .SetBatchResiduals(k, ConstVectorView::Float64(r.data(), r.size()))
            .ok());
    result.has_residuals = true;
  }
  ASSERT_TRUE(solver.TellBatch(k, result).ok());
}

// Runs to the end, telling each batch back to front (any order works).
int64_t RunToEnd(Solver& solver, const ResidualFn& fun) {
  int64_t trials = 0;
  while (!solver.finished()) {
    for (int k = solver.batch_size() - 1; k >= 0; --k) {
      if (solver.finished()) break;
      if (solver.batch_told(k)) continue;
      TellResiduals(solver, k, fun);
      ++trials;
    }
  }
  return trials;
}

ResidualFn ResidualsOf(const problems::ResidualProblem& p) {
  return [p](const VectorXd& x, VectorXd* r) { p.evaluate(x, r, nullptr); };
}

// Problems whose counts or status differ from scipy's: those whose C++
// residuals (mgh_residuals.cc, on jets) round otherwise than numpy's, as
// levenberg_marquardt_test.cc says for biggs_exp6, gaussian and
// powell_singular; extended_powell_100 is powell_singular's residuals 25
// times. Forward differences divide such last-bit differences by h, so the
// paths part. With the same numpy residuals on both sides
// (tests/python/test_least_squares.py) the counts are equal on these too.
// The costs agree on all of them (to the zero-residual noise floor).
const std::set<std::string>& CountExceptions() {
  static const auto* const s = new std::set<std::string>{
      "biggs_exp6", "extended_powell_100", "gaussian", "powell_singular"};
  return *s;
}

TEST(FiniteDifferenceJacobianTest, MatchesScipyLmTwoPointOnMgh) {
  const std::vector<ScipyLm2Point> refs = LoadScipyLm2Point();
  ASSERT_GE(refs.size(), 30u);
  int count_matches = 0;
  for (const ScipyLm2Point& ref : refs) {
    SCOPED_TRACE(ref.name);
    auto p = problems::FindResidualProblem(ref.name);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->n, ref.n);
    std::unique_ptr<Solver> solver =
        MakeLm(p->x0, p->m, JacobianStepRule::kMinpackForward);
    const int64_t trials = RunToEnd(*solver, ResidualsOf(*p));
    const LeastSquaresSummary* s = solver->least_squares_summary();
    ASSERT_NE(s, nullptr);
    const bool equal = s->nfev == ref.nfev && s->status == ref.status;
    count_matches += equal;
    std::printf(
        "%-30s optd nfev %4d status %d cost %.6e | scipy nfev %4d "
        "status %d cost %.6e\n",
        ref.name.c_str(), static_cast<int>(s->nfev), s->status, s->cost,
        ref.nfev, ref.status, ref.cost);
    if (CountExceptions().count(ref.name) == 0) {
      EXPECT_EQ(s->nfev, ref.nfev);
      EXPECT_EQ(s->status, ref.status);
    }
    EXPECT_NEAR(s->cost, ref.cost, 1e-8 * ref.cost + 1e-20);
    // Every trial the adapter handed out is one of lmdif's evaluations,
    // but for the last Jacobian (scipy's own is an uncounted
    // approx_derivative call): n more when x moved after the last J.
    EXPECT_TRUE(trials == s->nfev || trials == s->nfev + p->n)
        << trials << " trials, nfev " << s->nfev;
    EXPECT_EQ(solver->summary().evaluations, trials);
  }
  std::printf("nfev and status equal on %d of %d problems\n", count_matches,
              static_cast<int>(refs.size()));
}

// r(x) = (x0^2 - 2, x0 x1 - 3, x1 + 1): m = 3, n = 2.
void Small(const VectorXd& x, VectorXd* r) {
  r->resize(3);
  *r << x(0) * x(0) - 2.0, x(0) * x(1) - 3.0, x(1) + 1.0;
}

TEST(FiniteDifferenceJacobianTest, FirstBatchIsFdjac2sStencil) {
  const VectorXd x0 = Eigen::Vector2d(3.0, 0.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward);
  ASSERT_EQ(solver->batch_size(), 3);
  EXPECT_EQ(solver->residual_count(), 3);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(solver->batch_wants(k), Evaluation::kResiduals);
  }
  const double eps = kMinpackEps;
  EXPECT_EQ(ReadPoint(*solver, 0), x0);
  // fdjac2: h = eps |x_j|, or eps when x_j = 0.
  EXPECT_EQ(ReadPoint(*solver, 1), Eigen::Vector2d(3.0 + eps * 3.0, 0.0));
  EXPECT_EQ(ReadPoint(*solver, 2), Eigen::Vector2d(3.0, eps));
  EXPECT_FALSE(solver->BatchPointDelta(0).has_value());
  const std::optional<PointDelta> d = solver->BatchPointDelta(2);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->base, 0);
  EXPECT_EQ(d->coordinate, 1);
  EXPECT_EQ(d->value, eps);
}

// The Jacobian the adapter forms, read back from the summary of a run that
// ends at x0 (gtol met at once: r(x0) = 0 makes gnorm 0).
MatrixXd JacobianAtSolution(JacobianStepRule rule, const VectorXd& x0,
                            const ResidualFn& fun, int m) {
  std::unique_ptr<Solver> solver = MakeLm(x0, m, rule);
  RunToEnd(*solver, fun);
  const LeastSquaresSummary* s = solver->least_squares_summary();
  EXPECT_NE(s, nullptr);
  return s == nullptr ? MatrixXd() : s->jac;
}

void Zero(const VectorXd& x, VectorXd* r) {
  r->resize(2);
  *r << x(0) * x(0) - 4.0, x(0) * x(1) - 2.0;  // zero at (2, 1)
}

TEST(FiniteDifferenceJacobianTest, ColumnsAreFdjac2Quotients) {
  const VectorXd x0 = Eigen::Vector2d(2.0, 1.0);
  const MatrixXd jac =
      JacobianAtSolution(JacobianStepRule::kMinpackForward, x0, Zero, 2);
  ASSERT_EQ(jac.rows(), 2);
  // fjac(i,j) = (r_i(x + h e_j) - r_i(x)) / h, divided by h itself.
  const double eps = kMinpackEps;
  for (int j = 0; j < 2; ++j) {
    const double h = eps * std::fabs(x0(j));
    VectorXd xh = x0;
    xh(j) = x0(j) + h;
    VectorXd r0, rh;
    Zero(x0, &r0);
    Zero(xh, &rh);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(jac(i, j), (rh(i) - r0(i)) / h) << i << "," << j;
    }
  }
}

TEST(FiniteDifferenceJacobianTest, CentralRuleIsApproxDerivativeThreePoint) {
  const VectorXd x0 = Eigen::Vector2d(2.0, 1.0);
  std::unique_ptr<Solver> solver = MakeLm(x0, 2, JacobianStepRule::kCentral);
  ASSERT_EQ(solver->batch_size(), 5);
  // approx_derivative: h = cbrt(eps) max(1, |x_j|), x - h then x + h.
  const double h0 = std::cbrt(kEps) * 2.0, h1 = std::cbrt(kEps);
  EXPECT_EQ(ReadPoint(*solver, 1), Eigen::Vector2d(2.0 - h0, 1.0));
  EXPECT_EQ(ReadPoint(*solver, 2), Eigen::Vector2d(2.0 + h0, 1.0));
  EXPECT_EQ(ReadPoint(*solver, 4), Eigen::Vector2d(2.0, 1.0 + h1));
  const MatrixXd jac =
      JacobianAtSolution(JacobianStepRule::kCentral, x0, Zero, 2);
  MatrixXd exact(2, 2);
  exact << 4.0, 0.0, 1.0, 2.0;
  EXPECT_LT((jac - exact).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(FiniteDifferenceJacobianTest, ForwardRuleIsApproxDerivativeTwoPoint) {
  const VectorXd x0 = Eigen::Vector2d(-2.0, 0.5);
  std::unique_ptr<Solver> solver = MakeLm(x0, 3, JacobianStepRule::kForward);
  ASSERT_EQ(solver->batch_size(), 3);
  // h = sqrt(eps) sign(x_j) max(1, |x_j|).
  const double e = std::sqrt(kEps);
  EXPECT_EQ(ReadPoint(*solver, 1), Eigen::Vector2d(-2.0 - 2.0 * e, 0.5));
  EXPECT_EQ(ReadPoint(*solver, 2), Eigen::Vector2d(-2.0, 0.5 + e));
}

TEST(FiniteDifferenceJacobianTest, JacobianAtAcceptedStepReusesItsResiduals) {
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward);
  for (int k = 0; k < 3; ++k) TellResiduals(*solver, k, Small);
  // The step x + p: one trial passed through.
  ASSERT_EQ(solver->batch_size(), 1);
  ASSERT_EQ(solver->wants(), Evaluation::kResiduals);
  const VectorXd step = ReadPoint(*solver, 0);
  TellResiduals(*solver, 0, Small);
  // This step decreases |r|, so lmdif asks for J at it: x and n points, x
  // told already (its residuals are the step's), the points deltas from it.
  ASSERT_EQ(solver->batch_size(), 3);
  EXPECT_TRUE(solver->batch_told(0));
  EXPECT_EQ(solver->batch_untold(), 2);
  EXPECT_EQ(ReadPoint(*solver, 0), step);
  const double eps = kMinpackEps;
  VectorXd moved = step;
  moved(0) = step(0) + eps * std::fabs(step(0));
  EXPECT_EQ(ReadPoint(*solver, 1), moved);
  EXPECT_EQ(solver->wants(), Evaluation::kResiduals);
  const std::optional<PointDelta> d = solver->BatchPointDelta(2);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->base, 0);
  EXPECT_EQ(d->coordinate, 1);
  EXPECT_THAT(solver->TellBatch(0, TrialResult()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 0 of the batch was told already")));
  TellResiduals(*solver, 2, Small);
  TellResiduals(*solver, 1, Small);
  // 1 + n + 1 + n residual evaluations so far, as lmdif counts them.
  EXPECT_EQ(solver->progress().evaluations, 6);
}

TEST(FiniteDifferenceJacobianTest, FailedStencilPointFailsTheJacobian) {
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward);
  TellResiduals(*solver, 0, Small);
  TellResiduals(*solver, 1, Small, /*fail=*/true);
  TellResiduals(*solver, 2, Small);
  ASSERT_TRUE(solver->finished());
  EXPECT_EQ(solver->least_squares_summary()->status,
            kLeastSquaresEvaluationFailed);
  EXPECT_EQ(solver->summary().evaluations, 3);
}

TEST(FiniteDifferenceJacobianTest, NonFiniteResidualsAreAFailedPoint) {
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward);
  TellResiduals(*solver, 0, Small);
  TellResiduals(*solver, 1, Small);
  TellResiduals(*solver, 2, [](const VectorXd& x, VectorXd* r) {
    Small(x, r);
    (*r)(1) = kNaN;
  });
  ASSERT_TRUE(solver->finished());
  EXPECT_EQ(solver->least_squares_summary()->status,
            kLeastSquaresEvaluationFailed);
}

TEST(FiniteDifferenceJacobianTest, CentralFallsBackToOneSideWhenOneFails) {
  const VectorXd x0 = Eigen::Vector2d(2.0, 1.0);
  std::unique_ptr<Solver> solver = MakeLm(x0, 2, JacobianStepRule::kCentral);
  ASSERT_EQ(solver->batch_size(), 5);
  for (int k = 0; k < 5; ++k) TellResiduals(*solver, k, Zero, k == 1);
  // r(x0) = 0: gtol ends the run with J formed; column 0 forward only.
  ASSERT_TRUE(solver->finished());
  const LeastSquaresSummary* s = solver->least_squares_summary();
  ASSERT_EQ(s->status, kLeastSquaresGtol);
  EXPECT_NEAR(s->jac(0, 0), 4.0, 1e-4);
  EXPECT_NEAR(s->jac(1, 0), 1.0, 1e-4);
}

TEST(FiniteDifferenceJacobianTest, FailedCenterFailsTheInitialPoint) {
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward);
  for (int k = 0; k < 3; ++k) TellResiduals(*solver, k, Small, k == 0);
  ASSERT_TRUE(solver->finished());
  EXPECT_EQ(solver->least_squares_summary()->status,
            kLeastSquaresEvaluationFailed);
}

TEST(FiniteDifferenceJacobianTest, MaxNfevCountsTheDifferences) {
  // lmdif's default max_nfev is 100 n (n + 1); with 5 every Jacobian's n
  // counts, and the run stops after the first step (1 + 2 + 1 >= 4).
  LevenbergMarquardtOptions lm;
  lm.max_nfev = 4;
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward, lm);
  RunToEnd(*solver, Small);
  EXPECT_EQ(solver->least_squares_summary()->status, kLeastSquaresMaxNfev);
  EXPECT_EQ(solver->least_squares_summary()->nfev, 4);
  EXPECT_THAT(solver->OptionsReport(),
              HasSubstr("finite-difference Jacobian: minpack forward"));
}

TEST(FiniteDifferenceJacobianTest, RefusesBadTells) {
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  std::unique_ptr<Solver> solver =
      MakeLm(x0, 3, JacobianStepRule::kMinpackForward);
  const VectorXd two = Eigen::Vector2d(1.0, 2.0);
  EXPECT_THAT(
      solver->SetBatchResiduals(1, ConstVectorView::Float64(two.data(), 2)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("residuals has 2 elements; m = 3")));
  const VectorXd six = VectorXd::Zero(6);
  EXPECT_THAT(
      solver->SetBatchJacobian(1, ConstVectorView::Float64(six.data(), 6)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("trial 1 of the batch wants no Jacobian")));
  EXPECT_THAT(solver->TellBatch(1, TrialResult()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trial 1 of the batch wants residuals")));
  EXPECT_THAT(solver->CheckBatchResult(1, TrialResult()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("wants residuals; set them, or failed")));
  EXPECT_THAT(
      solver->SetBatchGradient(1, ConstVectorView::Float64(two.data(), 2)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("trial 1 of the batch wants no gradient")));
  EXPECT_THAT(solver->TellBatch(3, TrialResult()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 3 is not in the current batch of 3")));
  // Nothing was told: the batch is whole.
  EXPECT_EQ(solver->batch_untold(), 3);
}

TEST(FiniteDifferenceJacobianTest, RefusesBadOptionsAndSolvers) {
  FiniteDifferenceJacobianOptions options;
  options.relative_step = 0.5;
  EXPECT_THAT(options.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("finite_difference.relative_step is 0.5; it "
                                 "must be in (0, 0.1]")));
  EXPECT_THAT(WithFiniteDifferenceJacobian(
                  nullptr, FiniteDifferenceJacobianOptions(), Bounds()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the inner solver is null")));
  const VectorXd x0 = Eigen::Vector2d(3.0, 1.0);
  auto lbfgs =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_TRUE(lbfgs.ok());
  EXPECT_THAT(
      WithFiniteDifferenceJacobian(*std::move(lbfgs),
                                   FiniteDifferenceJacobianOptions(), Bounds()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("the lbfgs solver wants no residuals")));
  auto lsq = [&] {
    return *LeastSquaresSolver::Create(
        LevenbergMarquardtOptions(), ConstVectorView::Float64(x0.data(), 2), 3);
  };
  const VectorXd lo = Eigen::Vector2d(0.0, 0.0), hi = Eigen::Vector2d(5, 5);
  auto box = Bounds::Create(ConstVectorView::Float64(lo.data(), 2),
                            ConstVectorView::Float64(hi.data(), 2), 2);
  ASSERT_TRUE(box.ok());
  EXPECT_THAT(
      WithFiniteDifferenceJacobian(lsq(), FiniteDifferenceJacobianOptions(),
                                   *box),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("MINPACK's forward differences (fdjac2) know no "
                         "bounds")));
  FiniteDifferenceJacobianOptions central;
  central.rule = JacobianStepRule::kCentral;
  EXPECT_TRUE(WithFiniteDifferenceJacobian(lsq(), central, *box).ok());
  auto box3 = Bounds::Unbounded(3);
  EXPECT_THAT(
      WithFiniteDifferenceJacobian(lsq(), central, box3),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bounds")));
}

TEST(FiniteDifferenceJacobianTest, LevenbergMarquardtRefusesNegativeCost) {
  LevenbergMarquardtOptions lm;
  lm.jacobian_nfev = -1;
  EXPECT_THAT(ValidateLevenbergMarquardtOptions(lm, 2, 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("levenberg_marquardt.jacobian_nfev is -1")));
}

TEST(FiniteDifferenceJacobianTest, DefaultMaxNfevIsScipys) {
  // call_minpack: 100 n with a callable jac, 100 n (n + 1) for lmdif.
  EXPECT_EQ(DefaultMaxNfev(3, 0), 300);
  EXPECT_EQ(DefaultMaxNfev(3, 3), 1200);
  EXPECT_EQ(DefaultMaxNfev(10, 20), 21000);  // central: 100 n (2n + 1)
  EXPECT_EQ(DefaultMaxNfev(int64_t{1} << 20, int64_t{1} << 30),
            int64_t{1} << 40);
}

TEST(FiniteDifferenceJacobianTest, CountsAndBytes) {
  EXPECT_EQ(JacobianEvaluations(10, JacobianStepRule::kMinpackForward), 10);
  EXPECT_EQ(JacobianEvaluations(10, JacobianStepRule::kForward), 10);
  EXPECT_EQ(JacobianEvaluations(10, JacobianStepRule::kCentral), 20);
  EXPECT_EQ(FiniteDifferenceJacobianTrials(10, JacobianStepRule::kCentral), 21);
  // The residuals of every trial dominate: 11 trials of m = 100 doubles.
  EXPECT_GE(
      FiniteDifferenceJacobianBytes(10, 100, JacobianStepRule::kMinpackForward),
      11 * 100 * 8 + 100 * 10 * 8);
}

// approx_derivative's bounded steps (_numdiff.py _adjust_scheme_to_bounds),
// at x0 = (1, 2, -0.5, 0) in lb = (-inf, 0, -0.5, -1e-7), ub = (1, 2 + 1e-9,
// inf, 1e-7): x0_0 on its upper bound, x0_1 1e-9 below it, x0_2 on its
// lower bound (h < 0 there, sign(-0.5)), x0_3 in a box narrower than the
// 3-point step. The residuals are zero at x0 (the run ends there, gtol, and
// the summary's J is the adapter's); only + - *, so numpy and C++ agree
// bitwise. Points and J are what scipy 1.10 computes:
//   approx_derivative(fun, x0, method=..., f0=fun(x0), bounds=(lb, ub)),
// with fun recording its arguments.
void Boxed(const VectorXd& x, VectorXd* r) {
  r->resize(4);
  *r << x(0) * x(0) - 1.0, x(0) * x(1) - 2.0, x(2) * x(2) - 0.25 + (x(1) - 2.0),
      x(3) * x(3) + x(3) * x(0);
}

std::unique_ptr<Solver> MakeBoxedLm(JacobianStepRule rule) {
  const VectorXd x0 = Eigen::Vector4d(1.0, 2.0, -0.5, 0.0);
  const std::vector<double> lo = {-kInf, 0.0, -0.5, -1e-7};
  const std::vector<double> hi = {1.0, 2.0 + 1e-9, kInf, 1e-7};
  auto box = Bounds::Create(ConstVectorView::Float64(lo.data(), 4),
                            ConstVectorView::Float64(hi.data(), 4), 4);
  EXPECT_TRUE(box.ok()) << box.status();
  LevenbergMarquardtOptions lm;
  lm.jacobian_nfev = JacobianEvaluations(4, rule);
  auto inner =
      LeastSquaresSolver::Create(lm, ConstVectorView::Float64(x0.data(), 4), 4);
  EXPECT_TRUE(inner.ok()) << inner.status();
  FiniteDifferenceJacobianOptions options;
  options.rule = rule;
  auto solver =
      WithFiniteDifferenceJacobian(*std::move(inner), options, *std::move(box));
  EXPECT_TRUE(solver.ok()) << solver.status();
  return *std::move(solver);
}

void ExpectBoxedStepsAndJacobian(JacobianStepRule rule,
                                 const std::vector<Eigen::Vector4d>& points,
                                 const Eigen::Matrix4d& scipy_jac) {
  std::unique_ptr<Solver> solver = MakeBoxedLm(rule);
  ASSERT_EQ(solver->batch_size(), static_cast<int>(points.size()) + 1);
  EXPECT_EQ(ReadPoint(*solver, 0), Eigen::Vector4d(1.0, 2.0, -0.5, 0.0));
  for (size_t k = 0; k < points.size(); ++k) {
    EXPECT_EQ(ReadPoint(*solver, static_cast<int>(k) + 1), points[k]) << k;
  }
  RunToEnd(*solver, Boxed);
  const LeastSquaresSummary* s = solver->least_squares_summary();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status, 1);  // gtol at x0: r(x0) = 0
  ASSERT_EQ(s->jac.rows(), 4);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(s->jac(i, j), scipy_jac(i, j)) << i << "," << j;
    }
  }
}

TEST(FiniteDifferenceJacobianTest, ForwardStepsFlipAtBoundsAsApproxDerivative) {
  // A step that would leave the box is taken the other way.
  const std::vector<Eigen::Vector4d> points = {
      {0.9999999850988388, 2.0, -0.5, 0.0},
      {1.0, 1.9999999701976776, -0.5, 0.0},
      {1.0, 2.0, -0.4999999850988388, 0.0},
      {1.0, 2.0, -0.5, 1.4901161193847656e-08}};
  Eigen::Matrix4d jac;
  jac << 1.9999999850988388, -0.0, 0.0, 0.0,  //
      2.0, 1.0, 0.0, 0.0,                     //
      -0.0, 1.0, -0.9999999850988388, 0.0,    //
      -0.0, -0.0, 0.0, 1.0000000149011612;
  ExpectBoxedStepsAndJacobian(JacobianStepRule::kForward, points, jac);
}

TEST(FiniteDifferenceJacobianTest, CentralStepsTurnOneSidedAtBounds) {
  // One-sided (x + h, x + 2h, h of the room's sign) where a central
  // stencil would leave the box; central on the box's half-width where
  // both sides are short.
  const std::vector<Eigen::Vector4d> points = {
      {0.9999939445455476, 2.0, -0.5, 0.0},
      {0.9999878890910953, 2.0, -0.5, 0.0},
      {1.0, 1.9999878890910952, -0.5, 0.0},
      {1.0, 1.9999757781821905, -0.5, 0.0},
      {1.0, 2.0, -0.49999394454554763, 0.0},
      {1.0, 2.0, -0.4999878890910952, 0.0},
      {1.0, 2.0, -0.5, -1e-07},
      {1.0, 2.0, -0.5, 1e-07}};
  Eigen::Matrix4d jac;
  jac << 2.0000000000275016, -0.0, 0.0, 0.0,               //
      2.0000000000366684, 1.0000000000183342, 0.0, 0.0,    //
      -0.0, 1.0000000000183342, -0.9999999999908329, 0.0,  //
      -0.0, -0.0, 0.0, 1.0;
  ExpectBoxedStepsAndJacobian(JacobianStepRule::kCentral, points, jac);
}

// One line of scipy_trf_2point_1.10.txt (see its header).
struct ScipyTrfFd {
  std::string run, problem, scheme, loss;
  double f_scale = 1;
  int nfev = 0, njev = 0, status = 0;
  double cost = 0;
  std::vector<double> x, lb, ub, x0;
};

std::vector<double> ParseVector(const std::string& s) {
  std::vector<double> out;
  std::istringstream in(s);
  std::string v;
  while (std::getline(in, v, ',')) out.push_back(std::stod(v));
  return out;
}

std::vector<ScipyTrfFd> LoadScipyTrfFd() {
  std::ifstream in(OPTD_TEST_DATA_DIR "/scipy_trf_2point_1.10.txt");
  std::vector<ScipyTrfFd> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    ScipyTrfFd e;
    std::string x, lb, ub, x0;
    s >> e.run >> e.problem >> e.scheme >> e.loss >> e.f_scale >> e.nfev >>
        e.njev >> e.status >> e.cost >> x >> lb >> ub >> x0;
    e.x = ParseVector(x);
    e.lb = ParseVector(lb);
    e.ub = ParseVector(ub);
    e.x0 = ParseVector(x0);
    out.push_back(e);
  }
  return out;
}

// Runs whose counts differ from scipy's (MatchesScipyTrfOnBoxes prints them;
// status equal on all), all with '2-point': 53/50 against 33/31
// (biggs_exp6_box), 114/92 against 109/87 (penalty_1_10_box), 80/61 against
// 75/55 (trigonometric_10_box) (nfev/njev). The cause is not established:
// the C++ residuals round otherwise than numpy's on these (exp, cos/sin,
// numpy's x @ x), but with the same numpy residuals on both sides
// (optd.least_squares against scipy) the counts still differ (39, 114 and 78
// against 33, 109 and 75), so the rounding of the SVD (Eigen's BDCSVD
// against LAPACK's gesdd), which the forward quotients' O(sqrt(eps)) noise
// makes matter more, is the next suspect. Their costs agree to 5e-6
// relative (all stop at gtol).
const std::set<std::string>& TrfCountExceptions() {
  static const auto* const s = new std::set<std::string>{
      "biggs_exp6_box/2-point", "penalty_1_10_box/2-point",
      "trigonometric_10_box/2-point"};
  return *s;
}

TEST(FiniteDifferenceJacobianTest, MatchesScipyTrfOnBoxes) {
  const std::vector<ScipyTrfFd> refs = LoadScipyTrfFd();
  ASSERT_GE(refs.size(), 40u);
  int count_matches = 0;
  for (const ScipyTrfFd& ref : refs) {
    const std::string key = ref.run + "/" + ref.scheme;
    SCOPED_TRACE(key);
    problems::ResidualProblem p;
    if (ref.problem == "rational_outliers") {
      p = problems::RationalOutliers();
    } else {
      auto found = problems::FindResidualProblem(ref.problem);
      ASSERT_TRUE(found.ok()) << found.status();
      p = *found;
    }
    const int n = static_cast<int>(ref.x0.size());
    TrustRegionReflectiveOptions trf;
    trf.loss = *RobustLossFromName(ref.loss);
    trf.f_scale = ref.f_scale;
    trf.lower = ref.lb;
    trf.upper = ref.ub;
    trf.max_nfev = 100 * n;  // scipy's default, the differences not counted
    auto inner = LeastSquaresSolver::Create(
        trf, ConstVectorView::Float64(ref.x0.data(), n), p.m);
    ASSERT_TRUE(inner.ok()) << inner.status();
    auto box = Bounds::Create(ConstVectorView::Float64(ref.lb.data(), n),
                              ConstVectorView::Float64(ref.ub.data(), n), n);
    ASSERT_TRUE(box.ok()) << box.status();
    FiniteDifferenceJacobianOptions options;
    options.rule = ref.scheme == "3-point" ? JacobianStepRule::kCentral
                                           : JacobianStepRule::kForward;
    auto solver = WithFiniteDifferenceJacobian(*std::move(inner), options,
                                               *std::move(box));
    ASSERT_TRUE(solver.ok()) << solver.status();
    RunToEnd(**solver, ResidualsOf(p));
    const LeastSquaresSummary* s = (*solver)->least_squares_summary();
    ASSERT_NE(s, nullptr);
    const bool equal =
        s->nfev == ref.nfev && s->njev == ref.njev && s->status == ref.status;
    count_matches += equal;
    std::printf(
        "%-40s %s optd nfev %3d njev %3d status %d cost %.9e | scipy nfev "
        "%3d njev %3d status %d cost %.9e\n",
        key.c_str(), equal ? "  " : "!=", static_cast<int>(s->nfev),
        static_cast<int>(s->njev), s->status, s->cost, ref.nfev, ref.njev,
        ref.status, ref.cost);
    EXPECT_EQ(s->status, ref.status);
    if (TrfCountExceptions().count(key) == 0) {
      EXPECT_EQ(s->nfev, ref.nfev);
      EXPECT_EQ(s->njev, ref.njev);
      EXPECT_NEAR(s->cost, ref.cost, 1e-6 * ref.cost + 1e-12);
    } else {
      EXPECT_NEAR(s->cost, ref.cost, 5e-6 * ref.cost + 1e-12);
    }
  }
  std::printf("counts equal on %d of %d runs\n", count_matches,
              static_cast<int>(refs.size()));
}

}  // namespace
}  // namespace optd
