// Tests of TrfLsmr (trf_lsmr.h) against scipy 1.10's
// least_squares(method='trf', tr_solver='lsmr') with a LinearOperator
// Jacobian, as tests/data/gen_scipy_trf_lsmr.py recorded it in
// tests/data/scipy_trf_lsmr_1.10.txt (evaluation counts, status, cost,
// active_mask, J^T u products); a problem too large for a dense Jacobian;
// bad options and tells; failed evaluations; SaveState/RestoreState.
#include "solvers/least_squares/trf_lsmr.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/least_squares/robust_loss.h"
#include "solvers/testing/mgh_least_squares.h"

namespace optd {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One line of scipy_trf_lsmr_1.10.txt (see its header).
struct ScipyTrfLsmr {
  std::string run, problem, loss;
  double f_scale = 1;
  int nfev = 0, njev = 0, status = 0;
  double cost = 0, optimality = 0;
  int matvec = 0, rmatvec = 0;
  std::vector<int> active_mask;
  std::vector<double> x, lb, ub, x0;
};

std::vector<double> ParseVector(const std::string& s) {
  std::vector<double> out;
  if (s == "-") return out;
  std::istringstream in(s);
  std::string v;
  while (std::getline(in, v, ',')) out.push_back(std::stod(v));
  return out;
}

std::vector<ScipyTrfLsmr> LoadScipyTrfLsmr() {
  std::ifstream in(OPTD_TEST_DATA_DIR "/scipy_trf_lsmr_1.10.txt");
  std::vector<ScipyTrfLsmr> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    ScipyTrfLsmr e;
    std::string mask, x, lb, ub, x0;
    s >> e.run >> e.problem >> e.loss >> e.f_scale >> e.nfev >> e.njev >>
        e.status >> e.cost >> e.optimality >> e.matvec >> e.rmatvec >> mask >>
        x >> lb >> ub >> x0;
    for (double v : ParseVector(mask)) e.active_mask.push_back(int(v));
    e.x = ParseVector(x);
    e.lb = ParseVector(lb);
    e.ub = ParseVector(ub);
    e.x0 = ParseVector(x0);
    out.push_back(e);
  }
  return out;
}

// Answers every trial of `trf` from p's dense residuals and Jacobian (the
// Jacobian only inside the products, as gen_scipy_trf_lsmr.py's
// LinearOperator).
void Answer(const problems::ResidualProblem& p, TrfLsmr* trf) {
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  if (trf->wants_residuals()) {
    p.evaluate(trf->trial_point(), &r, nullptr);
    EXPECT_TRUE(trf->Tell(r, Eigen::MatrixXd()).ok());
    return;
  }
  p.evaluate(trf->trial_point(), &r, &jac);
  if (trf->wants_jacobian_vector()) {
    EXPECT_TRUE(trf->TellProduct(jac * trf->trial_vector()).ok());
  } else {
    ASSERT_TRUE(trf->wants_jacobian_transpose_vector());
    EXPECT_TRUE(trf->TellProduct(jac.transpose() * trf->trial_vector()).ok());
  }
}

std::unique_ptr<TrfLsmr> RunToEnd(const problems::ResidualProblem& p,
                                  const Eigen::VectorXd& x0,
                                  const TrfLsmrOptions& o) {
  auto trf = TrfLsmr::Create(o, x0, p.m);
  EXPECT_TRUE(trf.ok()) << trf.status();
  if (!trf.ok()) return nullptr;
  while (!(*trf)->finished()) Answer(p, trf->get());
  return *std::move(trf);
}

problems::ResidualProblem ProblemFor(const std::string& name) {
  if (name == "rational_outliers") return problems::RationalOutliers();
  auto found = problems::FindResidualProblem(name);
  EXPECT_TRUE(found.ok()) << found.status();
  return *found;
}

// Runs whose counts differ from scipy's, and why (MatchesScipy prints the
// numbers). LSMR stops at a relative 1e-6 (atol, btol), so its Gauss-Newton
// direction carries the rounding of every product and norm (BLAS there,
// Eigen here), and the 2-D subspace's quartic is solved by np.roots
// (LAPACK's balanced dgeev) against Eigen's EigenSolver. On these runs scipy
// itself is that sensitive: multiplying each of its LinearOperator's
// products by (1 + 1e-16 e), e standard normal, changes its counts (meyer
// 24/23 status 4 becomes 300/299 status 0, optd's result; biggs_exp6 15/14
// becomes 93/82; the robust-loss fits' counts move by 20-50%; measured with
// gen_scipy_trf_lsmr.py's runs and numpy's default_rng(0)). For them optd
// must end no worse than scipy: a cost within 1% of scipy's, or below.
const std::set<std::string>& CountExceptions() {
  static const auto* const s =
      new std::set<std::string>{"meyer",
                                "osborne_1",
                                "biggs_exp6",
                                "watson_9",
                                "penalty_1_10",
                                "osborne_1_box",
                                "watson_6_box",
                                "trigonometric_10_box",
                                "rational_outliers+huber+1.0",
                                "rational_outliers+huber+0.1",
                                "rational_outliers+cauchy+1.0",
                                "rational_outliers+cauchy+0.1",
                                "rational_outliers+arctan+1.0",
                                "rational_outliers+arctan+0.1",
                                "rational_outliers_box+huber",
                                "rational_outliers_box+cauchy",
                                "rational_outliers_box+arctan"};
  return *s;
}

TEST(TrfLsmrTest, MatchesScipy) {
  const std::vector<ScipyTrfLsmr> refs = LoadScipyTrfLsmr();
  ASSERT_GE(refs.size(), 60u);
  int count_matches = 0;
  for (const ScipyTrfLsmr& ref : refs) {
    SCOPED_TRACE(ref.run);
    const problems::ResidualProblem p = ProblemFor(ref.problem);
    TrfLsmrOptions o;
    o.trf.loss = *RobustLossFromName(ref.loss);
    o.trf.f_scale = ref.f_scale;
    o.trf.lower = ref.lb;
    o.trf.upper = ref.ub;
    const Eigen::VectorXd x0 =
        Eigen::Map<const Eigen::VectorXd>(ref.x0.data(), ref.x0.size());
    auto trf = RunToEnd(p, x0, o);
    ASSERT_NE(trf, nullptr);
    const LeastSquaresSummary& s = trf->summary();
    const bool equal =
        s.nfev == ref.nfev && s.njev == ref.njev && s.status == ref.status;
    count_matches += equal;
    std::printf(
        "%-36s %s optd nfev %3d njev %3d status %d cost %.9e J^Tu %4d | scipy "
        "nfev %3d njev %3d status %d cost %.9e J^Tu %4d\n",
        ref.run.c_str(), equal ? "  " : "!=", static_cast<int>(s.nfev),
        static_cast<int>(s.njev), s.status, s.cost,
        static_cast<int>(s.jacobian_transpose_vector_products), ref.nfev,
        ref.njev, ref.status, ref.cost, ref.rmatvec);
    if (CountExceptions().count(ref.run) == 0) {
      EXPECT_EQ(s.nfev, ref.nfev);
      EXPECT_EQ(s.njev, ref.njev);
      EXPECT_EQ(s.status, ref.status);
      EXPECT_EQ(s.active_mask, ref.active_mask);
      EXPECT_NEAR(s.cost, ref.cost, 1e-6 * ref.cost + 1e-10);
      EXPECT_EQ(s.success, ref.status > 0);
      // LSMR's own iteration counts move with rounding near its atol: the
      // J^T u products (one per LSMR iteration, one per gradient) agree
      // within 5% (rosenbrock 69 against 68, extended_powell_100 82
      // against 79). optd asks for fewer J v than scipy computes, as it
      // reuses J S, up to the LSMR iterations it ran more.
      const int64_t extra = s.jacobian_transpose_vector_products - ref.rmatvec;
      EXPECT_LE(std::abs(extra), 0.05 * ref.rmatvec + 2);
      EXPECT_LE(s.jacobian_vector_products,
                ref.matvec + std::max<int64_t>(extra, 0));
    } else {
      EXPECT_LE(s.cost, 1.01 * ref.cost + 1e-10);
    }
    EXPECT_EQ(s.jac.size(), 0);
    EXPECT_EQ(s.covariance.size(), 0);
  }
  std::printf("counts equal on %d of %d runs\n", count_matches,
              static_cast<int>(refs.size()));
}

// Extended Rosenbrock with n = 200000 (m = n): a dense Jacobian would take
// 320 GB; the machine holds O(m + n).
TEST(TrfLsmrTest, SolvesAProblemTooLargeForADenseJacobian) {
  const int n = 200000;
  TrfLsmrOptions o;
  Eigen::VectorXd x0(n);
  for (int i = 0; i < n; i += 2) {
    x0(i) = -1.2;
    x0(i + 1) = 1.0;
  }
  auto made = TrfLsmr::Create(o, x0, n);
  ASSERT_TRUE(made.ok()) << made.status();
  TrfLsmr& trf = **made;
  int64_t trials = 0;
  int64_t most_bytes = 0;
  while (!trf.finished() && trials < 20000) {
    ++trials;
    most_bytes = std::max(most_bytes, trf.StateBytes());
    const Eigen::VectorXd& x = trf.trial_point();
    const Eigen::VectorXd& v = trf.trial_vector();
    Eigen::VectorXd out;
    if (trf.wants_residuals()) {
      out.resize(n);
      for (int i = 0; i < n; i += 2) {
        out(i) = 10 * (x(i + 1) - x(i) * x(i));
        out(i + 1) = 1 - x(i);
      }
      ASSERT_TRUE(trf.Tell(out, Eigen::MatrixXd()).ok());
      continue;
    }
    // Rows 2k: (-20 x_2k, 10) on (2k, 2k+1); rows 2k+1: (-1, 0).
    out.resize(n);
    for (int i = 0; i < n; i += 2) {
      if (trf.wants_jacobian_vector()) {
        out(i) = -20 * x(i) * v(i) + 10 * v(i + 1);
        out(i + 1) = -v(i);
      } else {
        out(i) = -20 * x(i) * v(i) - v(i + 1);
        out(i + 1) = 10 * v(i);
      }
    }
    ASSERT_TRUE(trf.TellProduct(out).ok());
  }
  ASSERT_TRUE(trf.finished());
  const LeastSquaresSummary& s = trf.summary();
  EXPECT_TRUE(s.success) << s.message;
  EXPECT_LT(s.cost, 1e-10);
  EXPECT_LT((s.x.array() - 1.0).abs().maxCoeff(), 1e-5);
  EXPECT_GT(s.lsmr_iterations, 0);
  EXPECT_LT(most_bytes, int64_t{40} * 8 * n);
}

TEST(TrfLsmrTest, RefusesBadOptionsNamingTheField) {
  struct Case {
    std::function<void(TrfLsmrOptions*)> set;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto* o) { o->trf.f_scale = 0; },
       "trust_region_reflective.f_scale is 0; it must be in (0, inf)"},
      {[](auto* o) { o->trf.x_scale_jac = true; },
       "trust_region_reflective.x_scale_jac cannot be used with tr_solver "
       "lsmr (scipy: x_scale='jac' can't be used when `jac` returns "
       "LinearOperator.)"},
      {[](auto* o) { o->lsmr_tol = 1; },
       "trust_region_reflective.lsmr_tol is 1; it must be in [0, 1)"},
      {[](auto* o) { o->lsmr_tol = std::nan(""); },
       "trust_region_reflective.lsmr_tol is nan; it must be in [0, 1)"},
      {[](auto* o) { o->lsmr_maxiter = -1; },
       "trust_region_reflective.lsmr_maxiter is -1; it must be in [0, "
       "2147483647] (0: min(m, n))"},
  };
  for (const Case& c : cases) {
    TrfLsmrOptions o;
    c.set(&o);
    auto trf = TrfLsmr::Create(o, Eigen::Vector2d(0.0, 0.0), 3);
    ASSERT_FALSE(trf.ok()) << c.message;
    EXPECT_EQ(trf.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(trf.status().message(), c.message);
  }
  auto one = TrfLsmr::Create(TrfLsmrOptions(), Eigen::VectorXd::Ones(1), 3);
  EXPECT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(one.status().message(),
            "trust_region_reflective: x0 has 1 variable; tr_solver lsmr needs "
            "at least 2 (its subspace is 2-D)");
  TrfLsmrOptions boxed;
  boxed.trf.lower = {-1.0, -1.0};
  boxed.trf.upper = {1.0, 2.0};
  auto outside = TrfLsmr::Create(boxed, Eigen::Vector2d(0, 3), 2);
  EXPECT_EQ(outside.status().message(),
            "trust_region_reflective: x0[1] = 3 is outside the bounds [-1, "
            "2] (scipy: `x0` is infeasible)");
}

TEST(TrfLsmrTest, RefusesWrongTellsNamingWhatIsWanted) {
  const problems::ResidualProblem p = ProblemFor("rosenbrock");
  auto made = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  ASSERT_TRUE(made.ok());
  TrfLsmr& trf = **made;
  EXPECT_TRUE(trf.wants_residuals());
  EXPECT_FALSE(trf.wants_jacobian());
  absl::Status early = trf.TellProduct(Eigen::VectorXd::Zero(2));
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(early.message(),
            "trust_region_reflective: the trial wants residuals, not a "
            "Jacobian product");
  absl::Status short_r = trf.Tell(Eigen::VectorXd::Zero(1), {});
  EXPECT_EQ(short_r.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(short_r.message(),
            "trust_region_reflective: 1 residuals; m = 2 were expected");
  Answer(p, &trf);  // r(x0)
  ASSERT_TRUE(trf.wants_jacobian_transpose_vector());
  EXPECT_EQ(trf.trial_vector().size(), p.m);
  absl::Status residuals = trf.Tell(Eigen::VectorXd::Zero(2), {});
  EXPECT_EQ(residuals.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(residuals.message(),
            "trust_region_reflective: the trial wants a Jacobian product, "
            "not residuals");
  absl::Status wrong = trf.TellProduct(Eigen::VectorXd::Zero(3));
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong.message(),
            "trust_region_reflective: a product of 3 elements; J^T u has n = "
            "2");
  Answer(p, &trf);                           // J^T f
  ASSERT_TRUE(trf.wants_jacobian_vector());  // regularization
  EXPECT_EQ(trf.trial_vector().size(), p.n);
  absl::Status wrong_jv = trf.TellProduct(Eigen::VectorXd::Zero(3));
  EXPECT_EQ(wrong_jv.message(),
            "trust_region_reflective: a product of 3 elements; J v has m = 2");
  auto done = RunToEnd(p, p.x0, TrfLsmrOptions());
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->Tell(Eigen::VectorXd::Zero(2), {}).code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status after = done->TellProduct(Eigen::VectorXd::Zero(2));
  EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(after.message(), "trust_region_reflective: the run has finished");
  EXPECT_EQ(done->TellFailed().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(TrfLsmrTest, FailedX0OrProductEndsTheRunAndAFailedStepShrinks) {
  const problems::ResidualProblem p = ProblemFor("rosenbrock");
  auto x0_fails = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  ASSERT_TRUE((*x0_fails)->TellFailed().ok());
  EXPECT_TRUE((*x0_fails)->finished());
  EXPECT_EQ((*x0_fails)->summary().status, kLeastSquaresEvaluationFailed);
  EXPECT_EQ((*x0_fails)->summary().message,
            "Residuals are not finite in the initial point.");
  EXPECT_TRUE(std::isnan((*x0_fails)->summary().cost));

  auto product_nan = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  Answer(p, product_nan->get());
  ASSERT_TRUE(
      (*product_nan)->TellProduct(Eigen::Vector2d(1.0, std::nan(""))).ok());
  EXPECT_TRUE((*product_nan)->finished());
  EXPECT_EQ((*product_nan)->summary().message,
            "The product J^T u is not finite at an accepted point.");
  EXPECT_EQ((*product_nan)->summary().nfev, 1);
  EXPECT_EQ((*product_nan)->summary().jacobian_transpose_vector_products, 1);

  auto jv_inf = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  Answer(p, jv_inf->get());  // r(x0)
  Answer(p, jv_inf->get());  // J^T f
  ASSERT_TRUE((*jv_inf)->wants_jacobian_vector());
  ASSERT_TRUE((*jv_inf)->TellProduct(Eigen::Vector2d(kInf, 0.0)).ok());
  EXPECT_EQ((*jv_inf)->summary().message,
            "The product J v is not finite at an accepted point.");
  EXPECT_EQ((*jv_inf)->summary().status, kLeastSquaresEvaluationFailed);

  auto product_failed = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  Answer(p, product_failed->get());
  ASSERT_TRUE((*product_failed)->TellFailed().ok());
  EXPECT_EQ((*product_failed)->summary().message,
            "A Jacobian product could not be evaluated at an accepted "
            "point.");

  // A failed trial step counts in nfev and asks for a shorter one.
  auto trf = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  while (!(*trf)->wants_residuals() || (*trf)->progress().nfev == 0) {
    Answer(p, trf->get());
  }
  const Eigen::VectorXd first = (*trf)->trial_point() - p.x0;
  const double delta = (*trf)->progress().delta;
  ASSERT_TRUE((*trf)->TellFailed().ok());
  ASSERT_TRUE((*trf)->wants_residuals());
  EXPECT_EQ((*trf)->progress().nfev, 2);
  EXPECT_EQ((*trf)->progress().delta, 0.25 * first.norm());
  EXPECT_LT((*trf)->progress().delta, delta);
  EXPECT_LT(((*trf)->trial_point() - p.x0).norm(), first.norm());
}

TEST(TrfLsmrTest, MaxNfevStopsWithStatusZero) {
  const problems::ResidualProblem p = ProblemFor("rosenbrock");
  TrfLsmrOptions o;
  o.trf.max_nfev = 3;
  auto trf = RunToEnd(p, p.x0, o);
  ASSERT_NE(trf, nullptr);
  EXPECT_EQ(trf->summary().status, 0);
  EXPECT_EQ(trf->summary().nfev, 3);
  EXPECT_FALSE(trf->summary().success);
}

TEST(TrfLsmrTest, OptionsReportNamesTheSolver) {
  auto trf = TrfLsmr::Create(TrfLsmrOptions(), Eigen::Vector2d(1, 2), 3);
  ASSERT_TRUE(trf.ok());
  EXPECT_EQ((*trf)->OptionsReport(),
            "method=trf ftol=1e-08 xtol=1e-08 gtol=1e-08 max_nfev=200 "
            "x_scale=1 loss=linear f_scale=1 bounds=none tr_solver=lsmr "
            "lsmr_tol=1e-06 lsmr_maxiter=0 regularize=1");
}

// Saving at every trial of a bounded run with a loss and restoring into a
// fresh machine continues bitwise (inside LSMR, the subspace and the
// reflection as well as at residual trials).
TEST(TrfLsmrTest, SaveAndRestoreContinueBitwise) {
  const problems::ResidualProblem p = problems::RationalOutliers();
  TrfLsmrOptions o;
  o.trf.loss = RobustLoss::kSoftL1;
  o.trf.f_scale = 0.5;
  o.trf.lower = {-kInf, -kInf, 0.0};
  o.trf.upper = {kInf, 2.5, kInf};
  auto reference = RunToEnd(p, p.x0, o);
  ASSERT_NE(reference, nullptr);
  auto trf = TrfLsmr::Create(o, p.x0, p.m);
  ASSERT_TRUE(trf.ok());
  int saves = 0;
  while (!(*trf)->finished()) {
    std::string state;
    ASSERT_TRUE((*trf)->SaveState(&state).ok());
    EXPECT_EQ(static_cast<int64_t>(state.size()), (*trf)->StateBytes());
    auto copy = TrfLsmr::Create(o, p.x0, p.m);
    ASSERT_TRUE((*copy)->RestoreState(state).ok());
    ++saves;
    Answer(p, copy->get());
    *trf = std::move(*copy);
  }
  EXPECT_GT(saves, 50);
  const LeastSquaresSummary& a = (*trf)->summary();
  const LeastSquaresSummary& b = reference->summary();
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.cost, b.cost);
  EXPECT_EQ(a.nfev, b.nfev);
  EXPECT_EQ(a.njev, b.njev);
  EXPECT_EQ(a.jacobian_vector_products, b.jacobian_vector_products);
  EXPECT_EQ(a.lsmr_iterations, b.lsmr_iterations);
}

TEST(TrfLsmrTest, RestoreRefusesStatesThatDoNotFit) {
  const problems::ResidualProblem p = ProblemFor("rosenbrock");
  auto trf = TrfLsmr::Create(TrfLsmrOptions(), p.x0, p.m);
  std::string state;
  ASSERT_TRUE((*trf)->SaveState(&state).ok());
  auto other = TrfLsmr::Create(TrfLsmrOptions(), p.x0, 3);
  absl::Status size = (*other)->RestoreState(state);
  EXPECT_EQ(size.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(size.message(),
            "the optd.trf_lsmr.v1 state is for n = 2, m = 2; this solver has "
            "n = 2, m = 3");
  absl::Status tag = (*trf)->RestoreState("optd.trust_region_reflective.v1");
  EXPECT_EQ(tag.code(), absl::StatusCode::kInvalidArgument);
  absl::Status cut = (*trf)->RestoreState(state.substr(0, state.size() - 8));
  EXPECT_EQ(cut.code(), absl::StatusCode::kInvalidArgument);
  absl::Status longer = (*trf)->RestoreState(state + "12345678");
  EXPECT_EQ(longer.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(longer.message()),
              ::testing::HasSubstr("has 8 bytes after its end"));
  // Bytes whose options do not validate (lsmr_tol, word 8 after the
  // tag, set to 2; the words are little-endian, as this host).
  std::string bad_tol = state;
  const double two = 2.0;
  bad_tol.replace(std::string("optd.trf_lsmr.v1").size() + 8 * 8, 8,
                  reinterpret_cast<const char*>(&two), 8);
  absl::Status options = (*trf)->RestoreState(bad_tol);
  EXPECT_EQ(options.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(options.message(),
            "the optd.trf_lsmr.v1 state holds bad options: "
            "trust_region_reflective.lsmr_tol is 2; it must be in [0, 1)");
  // The state is unchanged by the refusals.
  std::string again;
  ASSERT_TRUE((*trf)->SaveState(&again).ok());
  EXPECT_EQ(again, state);
}

}  // namespace
}  // namespace optd
