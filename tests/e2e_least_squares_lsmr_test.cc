// End to end: matrix-free least squares (LeastSquaresOptions.tr_solver
// TR_SOLVER_LSMR) on a real optd process through the C++ client. Trials ask
// for residuals, J v and J^T u; runs reach exactly what TrfLsmr reaches in
// process; bad products change nothing; options scipy refuses are
// INVALID_ARGUMENT naming the field; a session survives SIGKILL bitwise.
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
#include "solvers/least_squares/trf_lsmr.h"
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

using LsmrEndToEnd = OptdServerTest;

problems::ResidualProblem Problem(const std::string& name) {
  absl::StatusOr<problems::ResidualProblem> p =
      problems::FindResidualProblem(name);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

std::vector<double> ToVector(const Eigen::VectorXd& v) {
  return std::vector<double>(v.data(), v.data() + v.size());
}

// What the trial wants of `p`: r(x), J(x) v or J(x)^T u (J only inside the
// product, as a client with a LinearOperator would).
Evaluation EvaluateTrial(const problems::ResidualProblem& p,
                         const Trial& trial) {
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  const Eigen::Map<const Eigen::VectorXd> x(trial.x.data(), p.n);
  Evaluation e;
  if (trial.wants == Wants::kResiduals) {
    p.evaluate(x, &r, nullptr);
    e.residuals = ToVector(r);
    return e;
  }
  p.evaluate(x, &r, &jac);
  const Eigen::Map<const Eigen::VectorXd> v(trial.vector.data(),
                                            trial.vector.size());
  if (trial.wants == Wants::kJacobianVector) {
    e.jacobian_vector = ToVector(jac * v);
  } else {
    e.jacobian_transpose_vector = ToVector(jac.transpose() * v);
  }
  return e;
}

v1::LeastSquaresOptions LsmrOptions(const problems::ResidualProblem& p) {
  v1::LeastSquaresOptions options;
  options.set_residuals(p.m);
  options.set_tr_solver(v1::LeastSquaresOptions::TR_SOLVER_LSMR);
  return options;
}

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

std::unique_ptr<TrfLsmr> RunInProcess(const problems::ResidualProblem& p,
                                      const TrfLsmrOptions& o) {
  auto trf = TrfLsmr::Create(o, p.x0, p.m);
  EXPECT_TRUE(trf.ok()) << trf.status();
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*trf)->finished()) {
    TrfLsmr& t = **trf;
    if (t.wants_residuals()) {
      p.evaluate(t.trial_point(), &r, nullptr);
      EXPECT_TRUE(t.Tell(r, {}).ok());
      continue;
    }
    p.evaluate(t.trial_point(), &r, &jac);
    EXPECT_TRUE(
        t.TellProduct(t.wants_jacobian_vector()
                          ? Eigen::VectorXd(jac * t.trial_vector())
                          : Eigen::VectorXd(jac.transpose() * t.trial_vector()))
            .ok());
  }
  return *std::move(trf);
}

TEST_F(LsmrEndToEnd, RunsReachTheLibrarysResult) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  struct Case {
    std::string id;
    std::vector<double> lower, upper;
    v1::LeastSquaresOptions::Loss loss;
  };
  const Case cases[] = {
      {"lsmr-plain", {}, {}, v1::LeastSquaresOptions::LOSS_UNSPECIFIED},
      {"lsmr-box-cauchy",
       {-2.0, -2.0},
       {0.5, 2.0},
       v1::LeastSquaresOptions::LOSS_CAUCHY},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    SessionOptions options;
    options.session_id = c.id;
    options.lower = c.lower;
    options.upper = c.upper;
    v1::LeastSquaresOptions lsq = LsmrOptions(p);
    lsq.set_loss(c.loss);
    absl::StatusOr<Session> session = Session::Create(
        client(), ToVector(p.x0), SolverSpec::LeastSquares(lsq), options);
    ASSERT_OK(session);
    // x0 wants its residuals only; then J^T r.
    ASSERT_EQ(session->first_trials().size(), 1u);
    EXPECT_EQ(session->first_trials()[0].wants, Wants::kResiduals);
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p, 1);
    ASSERT_OK(answer);
    ASSERT_EQ(answer->trials.size(), 1u);
    EXPECT_EQ(answer->trials[0].wants, Wants::kJacobianTransposeVector);
    EXPECT_EQ(answer->trials[0].vector.size(), static_cast<size_t>(p.m));
    answer = Drive(*session, answer, p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());

    TrfLsmrOptions o;
    o.trf.lower = c.lower;
    o.trf.upper = c.upper;
    o.trf.loss = c.loss == v1::LeastSquaresOptions::LOSS_CAUCHY
                     ? RobustLoss::kCauchy
                     : RobustLoss::kLinear;
    const std::unique_ptr<TrfLsmr> local = RunInProcess(p, o);
    const LeastSquaresSummary& want = local->summary();
    const client::LeastSquaresResult& got = *answer->summary->least_squares;
    EXPECT_EQ(got.method, "trf");
    EXPECT_EQ(got.nfev, want.nfev);
    EXPECT_EQ(got.njev, want.njev);
    EXPECT_EQ(got.status, want.status);
    EXPECT_EQ(got.cost, want.cost);
    EXPECT_EQ(got.jacobian_vector_products, want.jacobian_vector_products);
    EXPECT_EQ(got.jacobian_transpose_vector_products,
              want.jacobian_transpose_vector_products);
    EXPECT_EQ(got.lsmr_iterations, want.lsmr_iterations);
    EXPECT_GT(got.lsmr_iterations, 0);
    EXPECT_EQ(answer->summary->x, ToVector(want.x));
    EXPECT_EQ(got.grad, ToVector(want.grad));
    EXPECT_TRUE(got.jac.empty());
    EXPECT_TRUE(got.covariance.empty());
    absl::StatusOr<v1::Session> s = client().GetSession(c.id);
    ASSERT_OK(s);
    EXPECT_EQ(s->least_squares().method(), v1::LeastSquaresOptions::METHOD_TRF);
    EXPECT_EQ(s->least_squares().tr_solver(),
              v1::LeastSquaresOptions::TR_SOLVER_LSMR);
    EXPECT_EQ(s->least_squares().lsmr_tol(), 1e-6);
    EXPECT_EQ(s->least_squares().lsmr_maxiter(), 0);
    EXPECT_TRUE(s->least_squares().regularize());
  }
}

TEST_F(LsmrEndToEnd, BadProductsChangeNothingAndAFailedOneEndsTheRun) {
  const problems::ResidualProblem p = Problem("beale");  // n = 2, m = 3
  SessionOptions options;
  options.session_id = "lsmr-bad";
  absl::StatusOr<Session> session =
      Session::Create(client(), ToVector(p.x0),
                      SolverSpec::LeastSquares(LsmrOptions(p)), options);
  ASSERT_OK(session);
  absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p, 2);
  ASSERT_OK(answer);
  const Trial trial = answer->trials[0];
  ASSERT_EQ(trial.wants, Wants::kJacobianVector);  // the regularization
  const Evaluation good = EvaluateTrial(p, trial);

  Evaluation none;
  EXPECT_THAT(session->Tell(trial.id, none),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("wants JACOBIAN_VECTOR and the tell has no "
                                 "jacobian_vector")));
  Evaluation few = good;
  few.jacobian_vector.pop_back();
  EXPECT_THAT(session->Tell(trial.id, few),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("jacobian_vector has 2 elements; session "
                                 "\"lsmr-bad\" has m = 3 residuals")));
  // J^T u of the wrong length, at the trial before (J^T f at x0) in a
  // second session.
  SessionOptions other_options;
  other_options.session_id = "lsmr-bad-transpose";
  absl::StatusOr<Session> other =
      Session::Create(client(), ToVector(p.x0),
                      SolverSpec::LeastSquares(LsmrOptions(p)), other_options);
  ASSERT_OK(other);
  absl::StatusOr<Answer> at_gradient = Drive(*other, other->Ask(), p, 1);
  ASSERT_OK(at_gradient);
  ASSERT_EQ(at_gradient->trials[0].wants, Wants::kJacobianTransposeVector);
  Evaluation three;
  three.jacobian_transpose_vector = {1.0, 2.0, 3.0};
  EXPECT_THAT(other->Tell(at_gradient->trials[0].id, three),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("jacobian_transpose_vector has 3 elements; "
                                 "session \"lsmr-bad-transpose\" has "
                                 "dimension n = 2 (J^T u has n elements)")));
  Evaluation transposed;
  transposed.jacobian_transpose_vector = {1.0, 2.0};
  EXPECT_THAT(session->Tell(trial.id, transposed),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the tell has no jacobian_vector")));
  // Nothing changed: the same trial is outstanding and the good tell goes on.
  absl::StatusOr<Answer> again = session->Ask();
  ASSERT_OK(again);
  ASSERT_EQ(again->trials.size(), 1u);
  EXPECT_EQ(again->trials[0].id, trial.id);
  EXPECT_EQ(again->trials[0].vector, trial.vector);
  answer = session->Tell(trial.id, good);
  ASSERT_OK(answer);
  ASSERT_FALSE(answer->finished());
  // A product that could not be evaluated ends the run.
  answer = session->Tell(answer->trials[0].id, Evaluation::Failed());
  ASSERT_OK(answer);
  ASSERT_TRUE(answer->finished());
  EXPECT_EQ(answer->summary->least_squares->status, -2);
  EXPECT_EQ(answer->summary->message,
            "A Jacobian product could not be evaluated at an accepted point.");
}

TEST_F(LsmrEndToEnd, OptionsScipyRefusesAreInvalidArgument) {
  const problems::ResidualProblem p = Problem("rosenbrock");
  int k = 0;
  auto create = [&](const v1::LeastSquaresOptions& lsq,
                    std::vector<double> x0 = {}) {
    SessionOptions options;
    options.session_id = "lsmr-refused-" + std::to_string(++k);
    return Session::Create(client(), x0.empty() ? ToVector(p.x0) : x0,
                           SolverSpec::LeastSquares(lsq), options);
  };
  v1::LeastSquaresOptions lm = LsmrOptions(p);
  lm.set_method(v1::LeastSquaresOptions::METHOD_LM);
  EXPECT_THAT(create(lm),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.tr_solver is TR_SOLVER_LSMR, which "
                       "method LM does not serve (scipy: method='lm' works "
                       "only with dense Jacobian matrices); use method TRF "
                       "or leave method unset"));
  v1::LeastSquaresOptions exact_tol;
  exact_tol.set_residuals(p.m);
  exact_tol.set_lsmr_tol(1e-8);
  EXPECT_THAT(create(exact_tol),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.lsmr_tol applies to tr_solver "
                       "TR_SOLVER_LSMR only; set tr_solver or leave it unset"));
  v1::LeastSquaresOptions exact_regularize = exact_tol;
  exact_regularize.clear_lsmr_tol();
  exact_regularize.set_tr_solver(v1::LeastSquaresOptions::TR_SOLVER_EXACT);
  exact_regularize.set_regularize(false);
  EXPECT_THAT(create(exact_regularize),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.regularize applies to "
                                 "tr_solver TR_SOLVER_LSMR only")));
  v1::LeastSquaresOptions jac_scale = LsmrOptions(p);
  jac_scale.set_x_scale_jac(true);
  EXPECT_THAT(create(jac_scale),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.x_scale_jac cannot be used with "
                       "tr_solver lsmr (scipy: x_scale='jac' can't be used "
                       "when `jac` returns LinearOperator.)"));
  v1::LeastSquaresOptions tol = LsmrOptions(p);
  tol.set_lsmr_tol(1.0);
  EXPECT_THAT(create(tol),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.lsmr_tol is 1; it must be in [0, 1)"));
  v1::LeastSquaresOptions maxiter = LsmrOptions(p);
  maxiter.set_lsmr_maxiter(-3);
  EXPECT_THAT(create(maxiter),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares.lsmr_maxiter is -3")));
  v1::LeastSquaresOptions bad = LsmrOptions(p);
  bad.set_tr_solver(static_cast<v1::LeastSquaresOptions::TrSolver>(7));
  EXPECT_THAT(create(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "least_squares.tr_solver is 7; it is UNSPECIFIED (0), "
                       "EXACT (1) or LSMR (2)"));
  v1::LeastSquaresOptions one = LsmrOptions(p);
  EXPECT_THAT(create(one, {1.0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("least_squares: x0 has 1 variable; "
                                 "tr_solver lsmr needs at least 2")));
  // No m*n limit: m = 2^22 residuals of 32 variables (m*n = 2^27) is a
  // Jacobian of 1 GiB, which exact TRF refuses.
  v1::LeastSquaresOptions big = LsmrOptions(p);
  big.set_residuals(1 << 22);
  absl::StatusOr<Session> large = create(big, std::vector<double>(32, 1.0));
  EXPECT_OK(large);
  v1::LeastSquaresOptions big_exact = big;
  big_exact.clear_tr_solver();
  big_exact.set_method(v1::LeastSquaresOptions::METHOD_TRF);
  EXPECT_THAT(create(big_exact, std::vector<double>(32, 1.0)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("with m*n <= 2^26")));
}

// Product tells are journaled: after SIGKILL the restarted server hands out
// the same trial (with its vector) and the run ends as in process.
TEST(LsmrDurability, RestartContinuesBitwise) {
  const problems::ResidualProblem p = Problem("bard");
  const std::unique_ptr<TrfLsmr> local = RunInProcess(p, TrfLsmrOptions());
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  Trial pending;
  {
    absl::StatusOr<Client> c = Client::Connect(optd.address());
    ASSERT_OK(c);
    SessionOptions options;
    options.session_id = "lsmr-durable";
    absl::StatusOr<Session> session = Session::Create(
        *c, ToVector(p.x0), SolverSpec::LeastSquares(LsmrOptions(p)), options);
    ASSERT_OK(session);
    absl::StatusOr<Answer> answer = Drive(*session, session->Ask(), p, 13);
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
    const Session session = Session::Attach(*c, "lsmr-durable");
    absl::StatusOr<Answer> answer = session.Ask();
    ASSERT_OK(answer);
    ASSERT_EQ(answer->trials.size(), 1u);
    EXPECT_EQ(answer->trials[0].id, pending.id);
    EXPECT_EQ(answer->trials[0].wants, pending.wants);
    EXPECT_EQ(answer->trials[0].vector, pending.vector);
    answer = Drive(session, answer, p);
    ASSERT_OK(answer);
    ASSERT_TRUE(answer->finished());
    const LeastSquaresSummary& want = local->summary();
    EXPECT_EQ(answer->summary->least_squares->nfev, want.nfev);
    EXPECT_EQ(answer->summary->least_squares->njev, want.njev);
    EXPECT_EQ(answer->summary->least_squares->cost, want.cost);
    EXPECT_EQ(answer->summary->x, ToVector(want.x));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (::testing::Test::HasFailure())
    std::cerr << "--- optd log ---\n" << optd.Log();
}

}  // namespace
}  // namespace optd::testing
