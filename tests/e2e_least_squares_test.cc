// End to end: least-squares (Levenberg-Marquardt) sessions on a real optd
// process through the C++ client. Moré-Garbow-Hillstrom residual problems
// run through the server reach exactly what LevenbergMarquardt reaches in
// process (nfev, njev, status, cost, x); bad residuals and Jacobians, and
// layers least squares does not take, are INVALID_ARGUMENT and change
// nothing; a session survives SIGKILL and export/import bitwise.
#include <algorithm>
#include <csignal>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/least_squares/trust_region_reflective.h"
#include "solvers/testing/mgh_least_squares.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::Evaluation;
using ::optd::client::Result;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::optd::client::Wants;
using ::testing::HasSubstr;

using LeastSquaresEndToEnd = OptdServerTest;

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

// r and J (row-major) of `p` at the trial's point, as the trial wants them.
Evaluation EvaluateTrial(const problems::ResidualProblem& p,
                         const Trial& trial) {
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  p.evaluate(Eigen::Map<const Eigen::VectorXd>(trial.x.data(), p.n), &r, &jac);
  Evaluation e;
  if (client::WantsResiduals(trial.wants)) e.residuals = ToVector(r);
  if (client::WantsJacobian(trial.wants)) {
    for (int i = 0; i < p.m; ++i)
      for (int j = 0; j < p.n; ++j) e.jacobian.push_back(jac(i, j));
  }
  return e;
}

v1::LeastSquaresOptions Options(const problems::ResidualProblem& p) {
  v1::LeastSquaresOptions options;
  options.set_residuals(p.m);
  return options;
}

// The library run in process on `p`.
std::unique_ptr<LevenbergMarquardt> RunInProcess(
    const problems::ResidualProblem& p) {
  auto lm = LevenbergMarquardt::Create({}, p.x0, p.m);
  EXPECT_TRUE(lm.ok()) << lm.status();
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*lm)->finished()) {
    p.evaluate((*lm)->trial_point(), &r, &jac);
    EXPECT_TRUE((*lm)->Tell(r, jac).ok());
  }
  return *std::move(lm);
}

// Tells trials of `session` from `answer` on until it ends (or `max_tells`).
absl::StatusOr<Answer> Drive(const Session& session,
                             absl::StatusOr<Answer> answer,
                             const problems::ResidualProblem& p,
                             int max_tells = 1 << 20) {
  for (int tells = 0; answer.ok() && !answer->finished() && tells < max_tells;
       ++tells) {
    if (answer->trials.size() != 1) {
      return absl::InternalError("expected exactly one outstanding trial");
    }
    const Trial& trial = answer->trials[0];
    answer = session.Tell(trial.id, EvaluateTrial(p, trial));
  }
  return answer;
}

TEST_F(LeastSquaresEndToEnd, MghProblemsReachTheLibrarysResult) {
  for (const std::string name :
       {"rosenbrock", "beale", "bard", "osborne_1", "penalty_2_10"}) {
    SCOPED_TRACE(name);
    const problems::ResidualProblem p = Problem(name);
    SessionOptions options;
    options.session_id = "lsq-" + name;
    std::replace(options.session_id.begin(), options.session_id.end(), '_',
                 '-');
    absl::StatusOr<Session> session =
        Session::Create(client(), ToVector(p.x0),
                        SolverSpec::LeastSquares(Options(p)), options);
    ASSERT_OK(session);
    ASSERT_EQ(session->first_trials().size(), 1u);
    EXPECT_EQ(session->first_trials()[0].wants, Wants::kResidualsAndJacobian);
    absl::StatusOr<Answer> answer = session->Ask();
    int64_t tells = 0;
    while (answer.ok() && !answer->finished()) {
      ASSERT_EQ(answer->trials.size(), 1u);
      const Trial& trial = answer->trials[0];
      if (tells > 0) {
        EXPECT_NE(trial.wants, Wants::kResidualsAndJacobian);
      }
      answer = session->Tell(trial.id, EvaluateTrial(p, trial));
      ++tells;
    }
    ASSERT_OK(answer);
    const Result& r = *answer->summary;
    const std::unique_ptr<LevenbergMarquardt> local = RunInProcess(p);
    const LeastSquaresSummary& want = local->summary();
    ASSERT_TRUE(r.least_squares.has_value()) << r.brief_report;
    const client::LeastSquaresResult& got = *r.least_squares;
    EXPECT_EQ(got.nfev, want.nfev);
    EXPECT_EQ(got.njev, want.njev);
    EXPECT_EQ(got.status, want.status);
    EXPECT_EQ(got.cost, want.cost);
    EXPECT_EQ(got.optimality, want.optimality);
    EXPECT_EQ(r.x, ToVector(want.x));
    EXPECT_EQ(got.fun, ToVector(want.fun));
    EXPECT_EQ(got.grad, ToVector(want.grad));
    ASSERT_EQ(got.jac.size(), static_cast<size_t>(p.m * p.n));
    EXPECT_EQ(got.jac[1], want.jac(0, 1));  // row-major
    ASSERT_EQ(got.covariance.size(), static_cast<size_t>(p.n * p.n));
    EXPECT_EQ(got.covariance[1], want.covariance(0, 1));
    EXPECT_EQ(r.value, want.cost);
    EXPECT_EQ(r.message, want.message);
    EXPECT_EQ(r.evaluations, tells);
    EXPECT_TRUE(r.success) << r.brief_report;
    EXPECT_THAT(r.brief_report, HasSubstr("least_squares"));

    absl::StatusOr<v1::Session> s = client().GetSession(options.session_id);
    ASSERT_OK(s);
    EXPECT_EQ(s->solver(), "least_squares");
    EXPECT_EQ(s->state(), v1::SESSION_STATE_CONVERGED);
    EXPECT_EQ(s->least_squares().residuals(), p.m);
    EXPECT_EQ(s->least_squares().max_nfev(), 100 * p.n);  // resolved
    EXPECT_EQ(s->least_squares().ftol(), 1e-8);
    EXPECT_EQ(s->summary().least_squares().nfev(), want.nfev);
  }
}

TEST_F(LeastSquaresEndToEnd, BadResidualsAndJacobiansChangeNothing) {
  const problems::ResidualProblem p = Problem("beale");  // n = 2, m = 3
  SessionOptions options;
  options.session_id = "lsq-bad";
  absl::StatusOr<Session> session = Session::Create(
      client(), ToVector(p.x0), SolverSpec::LeastSquares(Options(p)), options);
  ASSERT_OK(session);
  const Trial trial = session->first_trials()[0];
  const Evaluation good = EvaluateTrial(p, trial);
  absl::StatusOr<v1::Session> before = session->Get();
  ASSERT_OK(before);

  Evaluation few = good;
  few.residuals.pop_back();
  EXPECT_THAT(session->Tell(trial.id, few),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("residuals has 2 elements; session "
                                 "\"lsq-bad\" has m = 3 residuals")));
  Evaluation no_jacobian = good;
  no_jacobian.jacobian.clear();
  EXPECT_THAT(session->Tell(trial.id, no_jacobian),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the tell has no jacobian")));
  Evaluation short_jacobian = good;
  short_jacobian.jacobian.pop_back();
  EXPECT_THAT(session->Tell(trial.id, short_jacobian),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("jacobian has 5 elements; session \"lsq-bad\" "
                                 "has m = 3 residuals of dimension n = 2, so "
                                 "it needs m*n = 6 (row-major)")));
  Evaluation nan_jacobian = good;
  nan_jacobian.jacobian[4] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(session->Tell(trial.id, nan_jacobian),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("jacobian[4] (row 2, column 0) is nan")));
  Evaluation gradient_only;
  gradient_only.value = 1.0;
  gradient_only.gradient = {1.0, 2.0};
  EXPECT_THAT(session->Tell(trial.id, gradient_only),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("RESIDUALS_AND_JACOBIAN and the tell has no "
                                 "residuals")));

  absl::StatusOr<v1::Session> after = session->Get();
  ASSERT_OK(after);
  EXPECT_EQ(after->evaluations(), before->evaluations());
  EXPECT_EQ(after->tells(), before->tells());
  EXPECT_EQ(after->state(), v1::SESSION_STATE_RUNNING);
  absl::StatusOr<Answer> answer = session->Ask();
  ASSERT_OK(answer);
  ASSERT_EQ(answer->trials.size(), 1u);
  EXPECT_EQ(answer->trials[0].id, trial.id);
  EXPECT_EQ(answer->trials[0].wants, Wants::kResidualsAndJacobian);

  // The good tell is then taken, and the run ends as in process.
  answer = Drive(*session, session->Tell(trial.id, good), p);
  ASSERT_OK(answer);
  ASSERT_TRUE(answer->finished());
  EXPECT_EQ(answer->summary->least_squares->nfev,
            RunInProcess(p)->summary().nfev);
}

TEST_F(LeastSquaresEndToEnd, LayersAndBadOptionsAreRefused) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  auto create = [&](const v1::LeastSquaresOptions& lsq,
                    const SessionOptions& options) {
    return Session::Create(client(), ToVector(p.x0),
                           SolverSpec::LeastSquares(lsq), options);
  };
  auto plain_options = [] {
    SessionOptions o;
    o.session_id = "lsq-options";
    return o;
  };
  SessionOptions sharded;
  sharded.session_id = "lsq-sharded";
  sharded.shards = 2;
  EXPECT_THAT(create(Options(p), sharded),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares sessions are not sharded "
                                 "(shards = 2); use shards 0 or 1")));
  SessionOptions bounded;
  bounded.session_id = "lsq-bounded";
  bounded.lower = {-10.0, -10.0};
  v1::LeastSquaresOptions lm = Options(p);
  lm.set_method(v1::LeastSquaresOptions::METHOD_LM);
  EXPECT_THAT(create(lm, bounded),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "bounds are not supported by least_squares method LM "
                       "(scipy: Method 'lm' doesn't support bounds); use "
                       "method TRF or leave bounds unset"));
  v1::LeastSquaresOptions lm_loss = lm;
  lm_loss.set_loss(v1::LeastSquaresOptions::LOSS_SOFT_L1);
  EXPECT_THAT(create(lm_loss, plain_options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.loss is LOSS_SOFT_L1; method LM "
                       "supports only the linear loss (scipy: method='lm' "
                       "supports only 'linear' loss function); use method "
                       "TRF"));
  // rosenbrock's x0 is (-1.2, 1): outside [0, 2] in x0[0].
  SessionOptions infeasible;
  infeasible.session_id = "lsq-infeasible";
  infeasible.lower = {0.0, 0.0};
  infeasible.upper = {2.0, 2.0};
  EXPECT_THAT(create(Options(p), infeasible),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares: x0[0] = -1.2 is outside the bounds [0, "
                       "2] (scipy: `x0` is infeasible)"));
  SessionOptions pinned;
  pinned.session_id = "lsq-pinned";
  pinned.lower = {-2.0, 1.0};
  pinned.upper = {2.0, 1.0};
  EXPECT_THAT(create(Options(p), pinned),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares: lower[1] = 1 is not below upper[1] = "
                       "1; each lower bound must be strictly less than its "
                       "upper bound"));
  v1::LeastSquaresOptions trf_factor = Options(p);
  trf_factor.set_method(v1::LeastSquaresOptions::METHOD_TRF);
  trf_factor.set_factor(10.0);
  EXPECT_THAT(create(trf_factor, plain_options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.factor applies to method LM "
                                 "only")));
  v1::LeastSquaresOptions f_scale = Options(p);
  f_scale.set_loss(v1::LeastSquaresOptions::LOSS_HUBER);
  f_scale.set_f_scale(0.0);
  EXPECT_THAT(create(f_scale, plain_options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.f_scale is 0; it must be in (0, inf)"));
  v1::LeastSquaresOptions bad_loss = Options(p);
  bad_loss.set_loss(static_cast<v1::LeastSquaresOptions::Loss>(9));
  EXPECT_THAT(create(bad_loss, plain_options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.loss is 9; it is LINEAR (1), SOFT_L1 "
                       "(2), HUBER (3), CAUCHY (4) or ARCTAN (5)"));
  v1::LeastSquaresOptions bad_method = Options(p);
  bad_method.set_method(static_cast<v1::LeastSquaresOptions::Method>(7));
  EXPECT_THAT(create(bad_method, plain_options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.method is 7; it is UNSPECIFIED (0), LM "
                       "(1) or TRF (2)"));
  v1::LeastSquaresOptions trf_tols = Options(p);
  trf_tols.set_method(v1::LeastSquaresOptions::METHOD_TRF);
  trf_tols.set_ftol(0.0);
  trf_tols.set_xtol(0.0);
  trf_tols.set_gtol(0.0);
  EXPECT_THAT(create(trf_tols, plain_options()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares: at least one of ftol, xtol, "
                                 "gtol must be >= machine epsilon")));
  // TRF differences as scipy's approx_derivative: lmdif's rule (the
  // default scheme) is refused with it.
  SessionOptions fd_trf;
  fd_trf.session_id = "lsq-fd-trf";
  fd_trf.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  v1::LeastSquaresOptions trf = Options(p);
  trf.set_method(v1::LeastSquaresOptions::METHOD_TRF);
  EXPECT_THAT(create(trf, fd_trf),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("finite_difference.scheme is unset "
                                 "(MINPACK_FORWARD, lmdif's rule); "
                                 "least_squares with method TRF")));
  SessionOptions parallel;
  parallel.session_id = "lsq-fd";
  parallel.data_parallel_workers = 2;
  EXPECT_THAT(create(Options(p), parallel),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data_parallel.workers is 2; least_squares "
                                 "sessions take 0 or 1")));
  SessionOptions plain;
  plain.session_id = "lsq-options";
  v1::LeastSquaresOptions few;
  few.set_residuals(1);
  EXPECT_THAT(create(few, plain),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.residuals is 1; it must be in "
                                 "[n, 2^24] = [2, 16777216]")));
  v1::LeastSquaresOptions tol = Options(p);
  tol.set_xtol(0.0);
  EXPECT_THAT(create(tol, plain),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.xtol is 0")));
  for (const char* id : {"lsq-sharded", "lsq-bounded", "lsq-fd", "lsq-options",
                         "lsq-infeasible", "lsq-pinned", "lsq-fd-trf"}) {
    EXPECT_THAT(client().GetSession(id),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  }
}

// The library's trf run in process on `p` with `options`.
std::unique_ptr<TrustRegionReflective> RunTrfInProcess(
    const problems::ResidualProblem& p,
    const TrustRegionReflectiveOptions& options) {
  auto trf = TrustRegionReflective::Create(options, p.x0, p.m);
  EXPECT_TRUE(trf.ok()) << trf.status();
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*trf)->finished()) {
    p.evaluate((*trf)->trial_point(), &r, &jac);
    EXPECT_TRUE((*trf)->Tell(r, jac).ok());
  }
  return *std::move(trf);
}

// Bounds select trf (method unset), as does a robust loss; each session
// reaches exactly what TrustRegionReflective reaches in process, and scipy's
// counts (scipy_trf_1.10.txt: rosenbrock_box 18 16 2, active_mask 1,0).
TEST_F(LeastSquaresEndToEnd, TrfWithBoundsAndLossReachesTheLibrarysResult) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  struct Case {
    std::string id;
    std::vector<double> lower, upper;
    v1::LeastSquaresOptions::Loss loss;
    double f_scale;
  };
  const Case cases[] = {
      {"lsq-trf-box",
       {-2.0, -2.0},
       {0.5, 2.0},
       v1::LeastSquaresOptions::LOSS_UNSPECIFIED,
       1.0},
      {"lsq-trf-cauchy", {}, {}, v1::LeastSquaresOptions::LOSS_CAUCHY, 0.5},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    SessionOptions options;
    options.session_id = c.id;
    options.lower = c.lower;
    options.upper = c.upper;
    v1::LeastSquaresOptions lsq = Options(p);
    lsq.set_loss(c.loss);
    if (c.f_scale != 1.0) lsq.set_f_scale(c.f_scale);
    absl::StatusOr<Session> session = Session::Create(
        client(), ToVector(p.x0), SolverSpec::LeastSquares(lsq), options);
    ASSERT_OK(session);
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    TrustRegionReflectiveOptions o;
    o.lower = c.lower;
    o.upper = c.upper;
    o.loss = c.loss == v1::LeastSquaresOptions::LOSS_CAUCHY
                 ? RobustLoss::kCauchy
                 : RobustLoss::kLinear;
    o.f_scale = c.f_scale;
    const std::unique_ptr<TrustRegionReflective> local = RunTrfInProcess(p, o);
    const LeastSquaresSummary& want = local->summary();
    const client::LeastSquaresResult& got = *answer->summary->least_squares;
    EXPECT_EQ(got.method, "trf");
    EXPECT_EQ(got.nfev, want.nfev);
    EXPECT_EQ(got.njev, want.njev);
    EXPECT_EQ(got.status, want.status);
    EXPECT_EQ(got.cost, want.cost);
    EXPECT_EQ(got.active_mask, want.active_mask);
    EXPECT_EQ(answer->summary->x, ToVector(want.x));
    EXPECT_EQ(got.fun, ToVector(want.fun));
    absl::StatusOr<v1::Session> s = client().GetSession(c.id);
    ASSERT_OK(s);
    EXPECT_EQ(s->least_squares().method(), v1::LeastSquaresOptions::METHOD_TRF);
    EXPECT_EQ(s->least_squares().max_nfev(), 100 * p.n);
    EXPECT_EQ(s->least_squares().f_scale(), c.f_scale);
    if (!c.lower.empty()) {
      EXPECT_EQ(got.nfev, 18);
      EXPECT_EQ(got.njev, 16);
      EXPECT_EQ(got.active_mask, (std::vector<int>{1, 0}));
    }
  }
}

// Tells are journaled with their residuals and Jacobians: after SIGKILL the
// restarted server hands out the same trial, and an exported session
// imported elsewhere goes on to the same end.
TEST(LeastSquaresDurability, RestartAndImportContinueBitwise) {
  const problems::ResidualProblem p = Problem("osborne_1");
  const std::unique_ptr<LevenbergMarquardt> local = RunInProcess(p);
  OptdProcess optd, target;
  ASSERT_OK(optd.Start());
  ASSERT_OK(target.Start());
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    SessionOptions options;
    options.session_id = "lsq-durable";
    absl::StatusOr<Session> session = Session::Create(
        *c, ToVector(p.x0), SolverSpec::LeastSquares(Options(p)), options);
    ASSERT_OK(session);
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p, 9);
    ASSERT_OK(answer);
    ASSERT_FALSE(answer->finished());
    const Trial pending = answer->trials[0];

    absl::StatusOr<v1::SessionSnapshot> snapshot =
        c->ExportSession("lsq-durable");
    ASSERT_OK(snapshot);
    EXPECT_EQ(snapshot->tells_size(), 9);
    EXPECT_EQ(snapshot->tells(0).tell().jacobian().f64().size(),
              8u * p.m * p.n);
    absl::StatusOr<Client> t = Client::Connect(target.address());
    ASSERT_OK(t);
    ASSERT_OK(t->ImportSession(*snapshot, "lsq-moved"));
    const Session moved = Session::Attach(*t, "lsq-moved");
    absl::StatusOr<Answer> moved_answer = moved.Ask();
    ASSERT_OK(moved_answer);
    ASSERT_EQ(moved_answer->trials.size(), 1u);
    EXPECT_EQ(moved_answer->trials[0].id, pending.id);
    EXPECT_EQ(moved_answer->trials[0].x, pending.x);
    moved_answer = Drive(moved, moved_answer, p);
    ASSERT_OK(moved_answer);
    ASSERT_TRUE(moved_answer->finished());
    EXPECT_EQ(moved_answer->summary->least_squares->nfev,
              local->summary().nfev);
    EXPECT_EQ(moved_answer->summary->x, ToVector(local->summary().x));
  }
  optd.Signal(SIGKILL);
  optd.Wait(absl::Seconds(10));
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    const Session session = Session::Attach(*c, "lsq-durable");
    absl::StatusOr<Answer> answer = session.Ask();
    ASSERT_OK(answer);
    ASSERT_EQ(answer->trials.size(), 1u);
    EXPECT_EQ(answer->trials[0].id, 10u);
    answer = Drive(session, answer, p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    const LeastSquaresSummary& want = local->summary();
    EXPECT_EQ(answer->summary->least_squares->nfev, want.nfev);
    EXPECT_EQ(answer->summary->least_squares->njev, want.njev);
    EXPECT_EQ(answer->summary->least_squares->cost, want.cost);
    EXPECT_EQ(answer->summary->x, ToVector(want.x));
  }
  for (OptdProcess* process : {&optd, &target}) {
    EXPECT_EQ(process->Terminate(absl::Seconds(10)), std::optional<int>(0));
    if (::testing::Test::HasFailure()) {
      std::cerr << "--- optd log ---\n" << process->Log();
    }
  }
}

// A trf session in a box that checkpoints its state (SaveState) every tell
// instead of journaling Jacobians: after SIGKILL the restarted server
// restores the last durable checkpoint and the run ends bitwise as in
// process.
TEST(LeastSquaresDurability, TrfCheckpointsSurviveSigkill) {
  const problems::ResidualProblem p = Problem("bard");
  TrustRegionReflectiveOptions o;
  o.lower = {0.1, 0.0, 0.0};
  o.upper = {kInf, kInf, 2.0};
  o.loss = RobustLoss::kSoftL1;
  const std::unique_ptr<TrustRegionReflective> local = RunTrfInProcess(p, o);
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  Trial pending;
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    SessionOptions options;
    options.session_id = "lsq-trf-durable";
    options.lower = o.lower;
    options.upper = o.upper;
    options.checkpoint_interval = 1;
    v1::LeastSquaresOptions lsq = Options(p);
    lsq.set_loss(v1::LeastSquaresOptions::LOSS_SOFT_L1);
    absl::StatusOr<Session> session = Session::Create(
        *c, ToVector(p.x0), SolverSpec::LeastSquares(lsq), options);
    ASSERT_OK(session);
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p, 7);
    ASSERT_OK(answer);
    ASSERT_FALSE(answer->finished());
    pending = answer->trials[0];
  }
  optd.Signal(SIGKILL);
  optd.Wait(absl::Seconds(10));
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    const Session session = Session::Attach(*c, "lsq-trf-durable");
    absl::StatusOr<Answer> answer = session.Ask();
    ASSERT_OK(answer);
    ASSERT_EQ(answer->trials.size(), 1u);
    // Checkpoints are written behind the answers: the restart resumes at
    // the last durable one (Session.durable_step), at or before the trial
    // that was pending, and the restored state goes on from there.
    EXPECT_GE(answer->trials[0].id, 1u);
    EXPECT_LE(answer->trials[0].id, pending.id);
    if (answer->trials[0].id == pending.id) {
      EXPECT_EQ(answer->trials[0].x, pending.x);
    }
    answer = Drive(session, answer, p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    const LeastSquaresSummary& want = local->summary();
    EXPECT_EQ(answer->summary->least_squares->nfev, want.nfev);
    EXPECT_EQ(answer->summary->least_squares->njev, want.njev);
    EXPECT_EQ(answer->summary->least_squares->cost, want.cost);
    EXPECT_EQ(answer->summary->least_squares->active_mask, want.active_mask);
    EXPECT_EQ(answer->summary->x, ToVector(want.x));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (::testing::Test::HasFailure()) {
    std::cerr << "--- optd log ---\n" << optd.Log();
  }
}

}  // namespace
}  // namespace optd::testing
