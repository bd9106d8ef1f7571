// End to end: least-squares sessions with gradient_source FINITE_DIFFERENCE
// on a real optd process. The client tells residuals only; each Jacobian is
// a batch of residual trials (MINPACK's forward differences by default)
// told in any order, and the run reaches exactly what the library reaches
// in process (LeastSquaresSolver behind WithFiniteDifferenceJacobian) and
// scipy's lm with jac='2-point' counts (tests/data/scipy_lm_2point_1.10.txt);
// in a box, method TRF with approx_derivative's bounded steps reaches scipy's
// trf counts (tests/data/scipy_trf_2point_1.10.txt), and TRF refuses
// lmdif's rule and tr_solver LSMR.
// Bad options and tells are INVALID_ARGUMENT and change nothing; a session
// killed mid-batch resumes with the batch's untold trials, exactly once.
#include <algorithm>
#include <csignal>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adapters/finite_difference_jacobian.h"
#include "solvers/core/bounds.h"
#include "solvers/least_squares/least_squares_solver.h"
#include "solvers/least_squares/trust_region_reflective.h"
#include "solvers/testing/mgh_least_squares.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::Evaluation;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::optd::client::Wants;
using ::testing::HasSubstr;

using LeastSquaresFiniteDifferenceEndToEnd = OptdServerTest;

constexpr double kInf = std::numeric_limits<double>::infinity();

problems::ResidualProblem Problem(const std::string& name) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem(name);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

std::vector<double> ToVector(const Eigen::VectorXd& v) {
  return std::vector<double>(v.data(), v.data() + v.size());
}

Evaluation Residuals(const problems::ResidualProblem& p, const Trial& trial) {
  EXPECT_EQ(trial.wants, Wants::kResiduals);
  Eigen::VectorXd r;
  p.evaluate(Eigen::Map<const Eigen::VectorXd>(trial.x.data(), p.n), &r,
             nullptr);
  Evaluation e;
  e.residuals = ToVector(r);
  return e;
}

v1::CreateSessionRequest FdRequest(
    const problems::ResidualProblem& p, const std::string& id,
    std::optional<v1::FiniteDifferenceOptions> fd = std::nullopt) {
  SessionOptions options;
  options.session_id = id;
  options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  v1::LeastSquaresOptions lsq;
  lsq.set_residuals(p.m);
  v1::CreateSessionRequest request = client::MakeCreateSessionRequest(
      ToVector(p.x0), SolverSpec::LeastSquares(lsq), options);
  if (fd.has_value()) *request.mutable_finite_difference() = *fd;
  return request;
}

// The library in process: what the session must reach.
std::unique_ptr<Solver> RunInProcess(const problems::ResidualProblem& p) {
  LevenbergMarquardtOptions lm;
  lm.jacobian_nfev = p.n;
  auto inner = LeastSquaresSolver::Create(
      lm, ConstVectorView::Float64(p.x0.data(), p.n), p.m);
  EXPECT_TRUE(inner.ok()) << inner.status();
  auto solver = WithFiniteDifferenceJacobian(
      *std::move(inner), FiniteDifferenceJacobianOptions(), Bounds());
  EXPECT_TRUE(solver.ok()) << solver.status();
  Eigen::VectorXd x(p.n), r;
  while (!(*solver)->finished()) {
    // In order (the server's clients tell in any order); a Jacobian batch's
    // x may be told from the start.
    int k = 0;
    while ((*solver)->batch_told(k)) ++k;
    EXPECT_TRUE(
        (*solver)
            ->ReadBatchPoint(k, MutableVectorView::Float64(x.data(), p.n))
            .ok());
    p.evaluate(x, &r, nullptr);
    EXPECT_TRUE(
        (*solver)
            ->SetBatchResiduals(k, ConstVectorView::Float64(r.data(), r.size()))
            .ok());
    TrialResult result;
    result.has_residuals = true;
    EXPECT_TRUE((*solver)->TellBatch(k, result).ok());
  }
  return *std::move(solver);
}

// Tells every trial of each batch, last first, until the session ends or
// `max_tells` were told.
absl::StatusOr<Answer> Drive(const Session& session,
                             absl::StatusOr<Answer> answer,
                             const problems::ResidualProblem& p,
                             int max_tells = 1 << 20) {
  int tells = 0;
  while (answer.ok() && !answer->finished() && tells < max_tells) {
    const std::vector<Trial> batch = answer->trials;
    for (auto it = batch.rbegin(); it != batch.rend() && tells < max_tells;
         ++it, ++tells) {
      answer = session.Tell(it->id, Residuals(p, *it));
      if (!answer.ok()) return answer;
    }
  }
  return answer;
}

// scipy 1.10 least_squares(method='lm', jac='2-point') as
// scipy_lm_2point_1.10.txt recorded it: name, nfev, status.
struct Scipy {
  const char* name;
  int64_t nfev;
  int status;
};

TEST_F(LeastSquaresFiniteDifferenceEndToEnd, ReachesTheLibraryAndScipy) {
  for (const Scipy& want : {Scipy{"rosenbrock", 54, 3}, Scipy{"bard", 21, 2},
                            Scipy{"osborne_1", 100, 2}}) {
    SCOPED_TRACE(want.name);
    const problems::ResidualProblem p = Problem(want.name);
    std::string id = absl::StrCat("lsq-fd-", want.name);
    std::replace(id.begin(), id.end(), '_', '-');
    absl::StatusOr<Session> session =
        Session::Create(client(), FdRequest(p, id));
    ASSERT_OK(session);
    // x0 and its n forward-difference points, one batch.
    ASSERT_EQ(session->first_trials().size(), static_cast<size_t>(p.n + 1));
    for (const Trial& t : session->first_trials()) {
      EXPECT_EQ(t.wants, Wants::kResiduals);
      EXPECT_EQ(t.batch_size, p.n + 1);
    }
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    const std::unique_ptr<Solver> local = RunInProcess(p);
    const LeastSquaresSummary& lib = *local->least_squares_summary();
    const client::LeastSquaresResult& got = *answer->summary->least_squares;
    EXPECT_EQ(got.nfev, lib.nfev);
    EXPECT_EQ(got.nfev, want.nfev);
    EXPECT_EQ(got.status, want.status);
    EXPECT_EQ(got.cost, lib.cost);
    EXPECT_EQ(answer->summary->x, ToVector(lib.x));
    EXPECT_EQ(answer->summary->evaluations, local->summary().evaluations);

    absl::StatusOr<v1::Session> s = client().GetSession(id);
    ASSERT_OK(s);
    EXPECT_EQ(s->gradient_source(), v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
    // lmdif's default: 100 n (n + 1), the differences counted.
    EXPECT_EQ(s->least_squares().max_nfev(), 100 * p.n * (p.n + 1));
  }
}

TEST_F(LeastSquaresFiniteDifferenceEndToEnd, CentralSchemeTakesTwoNPoints) {
  const problems::ResidualProblem p = Problem("bard");
  v1::FiniteDifferenceOptions fd;
  fd.set_scheme(v1::FiniteDifferenceOptions::SCHEME_CENTRAL);
  absl::StatusOr<Session> session =
      Session::Create(client(), FdRequest(p, "lsq-fd-central", fd));
  ASSERT_OK(session);
  ASSERT_EQ(session->first_trials().size(), static_cast<size_t>(2 * p.n + 1));
  absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p);
  ASSERT_OK(answer);
  ASSERT_TRUE(answer->finished());
  EXPECT_TRUE(answer->summary->success) << answer->summary->brief_report;
  // bard's minimum (scipy_lm_1.10.txt's cost with an exact Jacobian).
  EXPECT_NEAR(answer->summary->least_squares->cost, 0.004107438653290507,
              1e-12);
  absl::StatusOr<v1::Session> s = client().GetSession("lsq-fd-central");
  ASSERT_OK(s);
  EXPECT_EQ(s->least_squares().max_nfev(), 100 * p.n * (2 * p.n + 1));
}

TEST_F(LeastSquaresFiniteDifferenceEndToEnd, BadOptionsAndTellsAreRefused) {
  const problems::ResidualProblem p = Problem("beale");  // n = 2, m = 3
  v1::FiniteDifferenceOptions bad_scheme;
  bad_scheme.set_scheme(static_cast<v1::FiniteDifferenceOptions::Scheme>(7));
  EXPECT_THAT(
      Session::Create(client(), FdRequest(p, "lsq-fd-scheme", bad_scheme)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("finite_difference.scheme is 7; it is CENTRAL (1), "
                         "FORWARD (2) or MINPACK_FORWARD (3)")));
  v1::FiniteDifferenceOptions big_step;
  big_step.set_relative_step(0.5);
  EXPECT_THAT(
      Session::Create(client(), FdRequest(p, "lsq-fd-step", big_step)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("finite_difference.relative_step is 0.5; it must be "
                         "in (0, 0.1]")));
  // MINPACK's rule differences residuals: not for a gradient session.
  SessionOptions lbfgs_options;
  lbfgs_options.session_id = "lsq-fd-lbfgs";
  lbfgs_options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  v1::CreateSessionRequest lbfgs = client::MakeCreateSessionRequest(
      {1.0, 2.0}, SolverSpec::Lbfgs(), lbfgs_options);
  lbfgs.mutable_finite_difference()->set_scheme(
      v1::FiniteDifferenceOptions::SCHEME_MINPACK_FORWARD);
  EXPECT_THAT(Session::Create(client(), lbfgs),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("finite_difference.scheme is MINPACK_FORWARD "
                                 "(3), which differences the residuals of "
                                 "least_squares sessions only")));
  v1::CreateSessionRequest checked = FdRequest(p, "lsq-fd-check");
  checked.mutable_gradient_check();
  EXPECT_THAT(Session::Create(client(), checked),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check is not supported by "
                                 "least_squares")));
  for (const char* id :
       {"lsq-fd-scheme", "lsq-fd-step", "lsq-fd-lbfgs", "lsq-fd-check"}) {
    EXPECT_THAT(client().GetSession(id),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  }

  absl::StatusOr<Session> session =
      Session::Create(client(), FdRequest(p, "lsq-fd-tells"));
  ASSERT_OK(session);
  const Trial trial = session->first_trials()[1];  // a stencil point
  Evaluation few = Residuals(p, trial);
  few.residuals.pop_back();
  EXPECT_THAT(session->Tell(trial.id, few),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("residuals has 2 elements; session "
                                 "\"lsq-fd-tells\" has m = 3 residuals")));
  Evaluation value_only;
  value_only.value = 1.0;
  EXPECT_THAT(session->Tell(trial.id, value_only),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("RESIDUALS and the tell has no residuals")));
  absl::StatusOr<v1::Session> after = session->Get();
  ASSERT_OK(after);
  EXPECT_EQ(after->tells(), 0);
  // A failed stencil point fails the Jacobian at x0: the run ends there.
  Evaluation failed;
  failed.failed = true;
  absl::StatusOr<Answer> answer = session->Tell(trial.id, failed);
  for (const Trial& t : session->first_trials()) {
    if (t.id != trial.id) answer = session->Tell(t.id, Residuals(p, t));
  }
  ASSERT_OK(answer);
  ASSERT_TRUE(answer->finished());
  EXPECT_EQ(answer->summary->least_squares->status,
            kLeastSquaresEvaluationFailed);
}

// scipy 1.10 least_squares(method='trf', jac='2-point' or '3-point',
// bounds=box) as scipy_trf_2point_1.10.txt recorded it: nfev counts only
// trf's own residual evaluations, njev the Jacobians.
struct ScipyTrf {
  const char* name;
  v1::FiniteDifferenceOptions::Scheme scheme;
  std::vector<double> lower, upper;
  int64_t nfev, njev;
  int status;
};

// The same run in process: TRF in the box behind the adapter.
std::unique_ptr<Solver> RunTrfInProcess(const problems::ResidualProblem& p,
                                        const ScipyTrf& want) {
  TrustRegionReflectiveOptions trf;
  trf.lower = want.lower;
  trf.upper = want.upper;
  trf.max_nfev = 100 * p.n;
  auto inner = LeastSquaresSolver::Create(
      trf, ConstVectorView::Float64(p.x0.data(), p.n), p.m);
  EXPECT_TRUE(inner.ok()) << inner.status();
  auto box =
      Bounds::Create(ConstVectorView::Float64(want.lower.data(), p.n),
                     ConstVectorView::Float64(want.upper.data(), p.n), p.n);
  EXPECT_TRUE(box.ok()) << box.status();
  FiniteDifferenceJacobianOptions options;
  options.rule = want.scheme == v1::FiniteDifferenceOptions::SCHEME_CENTRAL
                     ? JacobianStepRule::kCentral
                     : JacobianStepRule::kForward;
  auto solver =
      WithFiniteDifferenceJacobian(*std::move(inner), options, *std::move(box));
  EXPECT_TRUE(solver.ok()) << solver.status();
  Eigen::VectorXd x(p.n), r;
  while (!(*solver)->finished()) {
    int k = 0;
    while ((*solver)->batch_told(k)) ++k;
    EXPECT_TRUE(
        (*solver)
            ->ReadBatchPoint(k, MutableVectorView::Float64(x.data(), p.n))
            .ok());
    p.evaluate(x, &r, nullptr);
    EXPECT_TRUE(
        (*solver)
            ->SetBatchResiduals(k, ConstVectorView::Float64(r.data(), r.size()))
            .ok());
    TrialResult result;
    result.has_residuals = true;
    EXPECT_TRUE((*solver)->TellBatch(k, result).ok());
  }
  return *std::move(solver);
}

TEST_F(LeastSquaresFiniteDifferenceEndToEnd,
       TrfInABoxReachesTheLibraryAndScipy) {
  const ScipyTrf runs[] = {{"rosenbrock",
                            v1::FiniteDifferenceOptions::SCHEME_FORWARD,
                            {-2.0, -2.0},
                            {0.5, 2.0},
                            18,
                            16,
                            2},
                           {"bard",
                            v1::FiniteDifferenceOptions::SCHEME_CENTRAL,
                            {0.1, 0.0, 0.0},
                            {kInf, kInf, 2.0},
                            16,
                            16,
                            1}};
  for (const ScipyTrf& want : runs) {
    SCOPED_TRACE(want.name);
    const problems::ResidualProblem p = Problem(want.name);
    const std::string id = absl::StrCat("lsq-fd-trf-", want.name);
    v1::FiniteDifferenceOptions fd;
    fd.set_scheme(want.scheme);
    v1::CreateSessionRequest request = FdRequest(p, id, fd);
    *request.mutable_bounds()->mutable_lower() = client::EncodeF64(want.lower);
    *request.mutable_bounds()->mutable_upper() = client::EncodeF64(want.upper);
    absl::StatusOr<Session> session = Session::Create(client(), request);
    ASSERT_OK(session);
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    const std::unique_ptr<Solver> local = RunTrfInProcess(p, want);
    const LeastSquaresSummary& lib = *local->least_squares_summary();
    const client::LeastSquaresResult& got = *answer->summary->least_squares;
    EXPECT_EQ(got.method, "trf");
    EXPECT_EQ(got.nfev, lib.nfev);
    EXPECT_EQ(got.njev, lib.njev);
    EXPECT_EQ(got.nfev, want.nfev);
    EXPECT_EQ(got.njev, want.njev);
    EXPECT_EQ(got.status, want.status);
    EXPECT_EQ(got.cost, lib.cost);
    EXPECT_EQ(answer->summary->x, ToVector(lib.x));
    EXPECT_EQ(answer->summary->evaluations, local->summary().evaluations);
    absl::StatusOr<v1::Session> s = client().GetSession(id);
    ASSERT_OK(s);
    // scipy's trf default, 100 n: the differences are not counted.
    EXPECT_EQ(s->least_squares().max_nfev(), 100 * p.n);
  }
}

TEST_F(LeastSquaresFiniteDifferenceEndToEnd, TrfRefusesLmdifsRuleAndLsmr) {
  const problems::ResidualProblem p = Problem("beale");  // n = 2, m = 3
  auto boxed = [&](const std::string& id,
                   std::optional<v1::FiniteDifferenceOptions> fd) {
    v1::CreateSessionRequest request = FdRequest(p, id, fd);
    *request.mutable_bounds()->mutable_lower() =
        client::EncodeF64({-4.5, -4.5});
    *request.mutable_bounds()->mutable_upper() = client::EncodeF64({4.5, 4.5});
    return request;
  };
  EXPECT_THAT(
      Session::Create(client(), boxed("lsq-fd-trf-unset", std::nullopt)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("finite_difference.scheme is unset (MINPACK_FORWARD, "
                         "lmdif's rule); least_squares with method TRF "
                         "(bounds or a robust loss) differences as scipy's "
                         "approx_derivative: set FORWARD (2, jac='2-point') "
                         "or CENTRAL (1, jac='3-point')")));
  v1::FiniteDifferenceOptions minpack;
  minpack.set_scheme(v1::FiniteDifferenceOptions::SCHEME_MINPACK_FORWARD);
  EXPECT_THAT(Session::Create(client(), boxed("lsq-fd-trf-minpack", minpack)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("finite_difference.scheme is MINPACK_FORWARD "
                                 "(3); least_squares with method TRF")));
  v1::FiniteDifferenceOptions forward;
  forward.set_scheme(v1::FiniteDifferenceOptions::SCHEME_FORWARD);
  v1::CreateSessionRequest lsmr = FdRequest(p, "lsq-fd-trf-lsmr", forward);
  lsmr.mutable_least_squares()->set_tr_solver(
      v1::LeastSquaresOptions::TR_SOLVER_LSMR);
  EXPECT_THAT(
      Session::Create(client(), lsmr),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient_source FINITE_DIFFERENCE does not go with "
                         "least_squares.tr_solver TR_SOLVER_LSMR (the session "
                         "never forms J); tell the products, or use tr_solver "
                         "EXACT")));
  for (const char* id :
       {"lsq-fd-trf-unset", "lsq-fd-trf-minpack", "lsq-fd-trf-lsmr"}) {
    EXPECT_THAT(client().GetSession(id),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  }
}

// Tells are journaled with their residuals: a server killed in the middle of
// a finite-difference batch hands out the batch's untold trials again (same
// ids, same points), a repeated tell changes nothing, and the run ends as in
// process.
TEST(LeastSquaresFiniteDifferenceDurability, KilledMidBatchResumesExactlyOnce) {
  const problems::ResidualProblem p = Problem("osborne_1");  // n = 5
  const std::unique_ptr<Solver> local = RunInProcess(p);
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  std::vector<Trial> untold;
  Trial told;
  Evaluation told_evaluation;
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    absl::StatusOr<Session> session =
        Session::Create(*c, FdRequest(p, "lsq-fd-durable"));
    ASSERT_OK(session);
    // Past the first batches, then to a Jacobian batch with 3 or more
    // trials untold, and one of them told.
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p, 12);
    ASSERT_OK(answer);
    absl::StatusOr<Answer> asked = session->Ask();
    for (int tells = 0; asked.ok() && asked->trials.size() < 3 && tells < 100;
         ++tells) {
      ASSERT_OK(
          session->Tell(asked->trials[0].id, Residuals(p, asked->trials[0])));
      asked = session->Ask();
    }
    ASSERT_OK(asked);
    ASSERT_GE(asked->trials.size(), 3u) << "a Jacobian batch";
    told = asked->trials.front();
    told_evaluation = Residuals(p, told);
    answer = session->Tell(told.id, told_evaluation);
    ASSERT_OK(answer);
    untold = answer->trials;
    ASSERT_EQ(untold.size(), asked->trials.size() - 1);
  }
  optd.Signal(SIGKILL);
  optd.Wait(absl::Seconds(10));
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    const Session session = Session::Attach(*c, "lsq-fd-durable");
    absl::StatusOr<Answer> answer = session.Ask();
    ASSERT_OK(answer);
    ASSERT_EQ(answer->trials.size(), untold.size());
    for (size_t k = 0; k < untold.size(); ++k) {
      EXPECT_EQ(answer->trials[k].id, untold[k].id);
      EXPECT_EQ(answer->trials[k].x, untold[k].x);
    }
    // The tell before the kill was journaled: repeating it is a duplicate.
    absl::StatusOr<Answer> again = session.Tell(told.id, told_evaluation);
    ASSERT_OK(again);
    EXPECT_TRUE(again->duplicate);
    answer = Drive(session, answer, p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    const LeastSquaresSummary& want = *local->least_squares_summary();
    EXPECT_EQ(answer->summary->least_squares->nfev, want.nfev);
    EXPECT_EQ(answer->summary->least_squares->cost, want.cost);
    EXPECT_EQ(answer->summary->x, ToVector(want.x));
    EXPECT_EQ(answer->summary->evaluations, local->summary().evaluations);
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (::testing::Test::HasFailure()) {
    std::cerr << "--- optd log ---\n" << optd.Log();
  }
}

}  // namespace
}  // namespace optd::testing
