// End to end: curvature diagnostics on a real optd process through the C++
// client. Curvature sessions fed Hessian-vector products (or gradients at
// x +- h v) find the extreme eigenvalues Eigen's dense solver finds; Diagnose
// opens one at another session's best or current point, labelled with it;
// its errors name the problem and create nothing.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "client/client.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Evaluation;
using ::optd::client::Result;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::optd::client::Wants;
using ::testing::HasSubstr;

using CurvatureEndToEnd = OptdServerTest;

// A fixed symmetric positive definite matrix of order n.
Eigen::MatrixXd FixedSpd(int n) {
  Eigen::MatrixXd b(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) b(i, j) = std::cos(0.5 + i * n + j);
  return b * b.transpose() + 0.1 * Eigen::MatrixXd::Identity(n, n);
}

Eigen::VectorXd Map(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), v.size());
}

std::vector<double> ToVector(const Eigen::VectorXd& v) {
  return std::vector<double>(v.data(), v.data() + v.size());
}

// Tells every trial from `answer` on: H(x) v for Hessian-vector trials, the
// gradient for gradient trials, until the session ends.
absl::StatusOr<Result> Drive(
    const Session& session, absl::StatusOr<Answer> answer,
    const std::function<Eigen::MatrixXd(const Eigen::VectorXd&)>& hessian,
    const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& gradient) {
  while (answer.ok() && !answer->finished()) {
    // Batches (gradient differences) are told last trial first.
    std::vector<Trial> trials = answer->trials;
    for (auto it = trials.rbegin(); it != trials.rend(); ++it) {
      Evaluation e;
      if (it->wants == Wants::kHessianVector) {
        e.hessian_vector = ToVector(hessian(Map(it->x)) * Map(it->vector));
      } else {
        e.gradient = ToVector(gradient(Map(it->x)));
      }
      answer = session.Tell(it->id, e);
      if (!answer.ok()) return answer.status();
    }
  }
  if (!answer.ok()) return answer.status();
  return *answer->summary;
}

void ExpectExtremes(const v1::CurvatureResult& got, const Eigen::MatrixXd& h) {
  const Eigen::VectorXd lambda =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(h, Eigen::EigenvaluesOnly)
          .eigenvalues();
  const int n = static_cast<int>(lambda.size());
  ASSERT_GE(got.smallest_size(), 1);
  ASSERT_GE(got.largest_size(), 1);
  for (int i = 0; i < got.smallest_size(); ++i) {
    EXPECT_NEAR(got.smallest(i), lambda(i), 1e-6 * std::abs(lambda(i)));
    EXPECT_NEAR(got.largest(i), lambda(n - 1 - i),
                1e-6 * std::abs(lambda(n - 1 - i)));
  }
}

TEST_F(CurvatureEndToEnd, HessianVectorAndGradientDifferenceSessions) {
  const int n = 20;
  const Eigen::MatrixXd a = FixedSpd(n);
  const Eigen::VectorXd x0 = Eigen::VectorXd::LinSpaced(n, -1.0, 1.0);
  for (auto source : {v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR,
                      v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE}) {
    SCOPED_TRACE(source);
    v1::CurvatureOptions options;
    options.set_source(source);
    absl::StatusOr<Session> session =
        Session::Create(client(), ToVector(x0), SolverSpec::Curvature(options));
    ASSERT_OK(session);
    const bool difference =
        source == v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE;
    ASSERT_EQ(session->first_trials().size(), difference ? 2u : 1u);
    EXPECT_EQ(session->first_trials()[0].wants,
              difference ? Wants::kGradient : Wants::kHessianVector);
    absl::StatusOr<Result> result = Drive(
        *session, session->Ask(),
        [&](const Eigen::VectorXd&) -> Eigen::MatrixXd { return a; },
        [&](const Eigen::VectorXd& x) -> Eigen::VectorXd { return a * x; });
    ASSERT_OK(result);
    ASSERT_TRUE(result->curvature.has_value()) << result->brief_report;
    ExpectExtremes(*result->curvature, a);
    EXPECT_TRUE(result->curvature->converged());
    EXPECT_EQ(result->reason, v1::TERMINATION_REASON_GRADIENT_TOLERANCE);
    EXPECT_EQ(result->evaluations,
              (difference ? 2 : 1) * result->curvature->products());
    double total = 0.0;
    for (double w : result->curvature->density_weights()) total += w;
    EXPECT_NEAR(total, 1.0, 1e-12);
    // GetSession echoes the resolved options and the result.
    absl::StatusOr<v1::Session> described = client().GetSession(session->id());
    ASSERT_OK(described);
    EXPECT_EQ(described->solver(), "curvature");
    EXPECT_EQ(described->curvature().max_steps(), 200);
    EXPECT_EQ(described->summary().curvature().products(),
              result->curvature->products());
  }
}

TEST_F(CurvatureEndToEnd, DiagnoseAtTheBestPointOfAnLbfgsSession) {
  auto problem = problems::FindProblem("rosenbrock");
  ASSERT_OK(problem);
  auto hessian = problems::HessianOf("rosenbrock");
  ASSERT_OK(hessian);
  SessionOptions options;
  options.session_id = "rosen";
  absl::StatusOr<Session> lbfgs = Session::Create(
      client(), ToVector(problem->x0), SolverSpec::Lbfgs(), options);
  ASSERT_OK(lbfgs);
  // A few L-BFGS evaluations, so that best and current differ from x0.
  absl::StatusOr<Answer> answer = lbfgs->Ask();
  for (int t = 0; t < 5 && answer.ok() && !answer->finished(); ++t) {
    const Trial& trial = answer->trials[0];
    Eigen::VectorXd g;
    const double f = problem->evaluate(Map(trial.x), &g);
    Evaluation e;
    e.value = f;
    e.gradient = ToVector(g);
    answer = lbfgs->Tell(trial.id, e);
  }
  ASSERT_OK(answer);
  absl::StatusOr<v1::Session> source = client().GetSession("rosen", true);
  ASSERT_OK(source);

  for (auto point :
       {v1::DiagnoseRequest::POINT_BEST, v1::DiagnoseRequest::POINT_CURRENT}) {
    SCOPED_TRACE(point);
    v1::DiagnoseRequest request;
    request.set_session_id("rosen");
    request.set_point(point);
    absl::StatusOr<v1::DiagnoseResponse> diagnosis = client().Diagnose(request);
    ASSERT_OK(diagnosis);
    const std::vector<double> x(diagnosis->x().values().begin(),
                                diagnosis->x().values().end());
    if (point == v1::DiagnoseRequest::POINT_BEST) {
      absl::StatusOr<std::vector<double>> best =
          client::DecodeVector(source->best_x());
      ASSERT_OK(best);
      EXPECT_EQ(x, *best);
    } else {
      EXPECT_EQ(x, answer->trials[0].x);  // the outstanding trial's point
    }
    ASSERT_EQ(diagnosis->trials_size(), 1);
    EXPECT_EQ(diagnosis->trials(0).wants(), v1::EVALUATION_HESSIAN_VECTOR);
    absl::StatusOr<v1::Session> described =
        client().GetSession(diagnosis->session_id());
    ASSERT_OK(described);
    EXPECT_EQ(described->labels().at("optd.diagnoses"), "rosen");
    EXPECT_EQ(described->labels().at("optd.diagnosis_point"),
              point == v1::DiagnoseRequest::POINT_BEST ? "best" : "current");
    Session session = Session::Attach(client(), diagnosis->session_id());
    absl::StatusOr<Result> result = Drive(
        session, session.Ask(),
        [&](const Eigen::VectorXd& at) -> Eigen::MatrixXd {
          return Eigen::MatrixXd((*hessian)(at));
        },
        nullptr);
    ASSERT_OK(result);
    ASSERT_TRUE(result->curvature.has_value());
    ExpectExtremes(*result->curvature, Eigen::MatrixXd((*hessian)(Map(x))));
    // n = 2 steps give the exact spectrum.
    EXPECT_EQ(result->curvature->lanczos_steps(), 2);
  }
}

TEST_F(CurvatureEndToEnd, DiagnoseErrorsNameTheProblemAndCreateNothing) {
  v1::DiagnoseRequest request;
  request.set_session_id("nobody");
  EXPECT_THAT(client().Diagnose(request).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("session \"nobody\" not found")));

  SessionOptions options;
  options.session_id = "source";
  ASSERT_OK(
      Session::Create(client(), {1.0, 2.0}, SolverSpec::Lbfgs(), options));
  request.set_session_id("source");
  request.mutable_curvature()->set_max_steps(0);
  EXPECT_THAT(client().Diagnose(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("curvature.max_steps is 0; it must be in "
                                 "[1, 2000]")));
  request.mutable_curvature()->clear_max_steps();
  request.mutable_curvature()->set_relative_step(1.0);
  request.mutable_curvature()->set_source(
      v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE);
  EXPECT_THAT(client().Diagnose(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("curvature.relative_step is 1; it must be "
                                 "in (0, 0.1]")));
  request.clear_curvature();
  request.set_diagnosis_id("Bad_Id");
  EXPECT_THAT(
      client().Diagnose(request).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("diagnosis_id")));
  // Only the source session exists.
  absl::StatusOr<std::vector<v1::Session>> sessions = client().ListSessions();
  ASSERT_OK(sessions);
  EXPECT_EQ(sessions->size(), 1u);

  // Curvature sessions take none of the session layers.
  v1::CreateSessionRequest create;
  create.mutable_x0()->add_values(1.0);
  create.mutable_curvature();
  create.mutable_data_parallel()->set_workers(2);
  grpc::ClientContext context;
  client().PrepareUnaryContext(&context);
  v1::CreateSessionResponse created;
  const grpc::Status status =
      client().stub().CreateSession(&context, create, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "data_parallel.workers is 2; curvature sessions take 0 or 1 (no "
            "data parallelism)");
}

TEST_F(CurvatureEndToEnd, OptctlDiagnosesAndPrintsTheSpectrum) {
  // f = 0.5 x^T diag(1, 4, 9) x, one L-BFGS evaluation at x0.
  const Eigen::Vector3d d(1.0, 4.0, 9.0);
  SessionOptions options;
  options.session_id = "quadratic";
  absl::StatusOr<Session> lbfgs =
      Session::Create(client(), {1.0, 1.0, 1.0}, SolverSpec::Lbfgs(), options);
  ASSERT_OK(lbfgs);
  const Trial& trial = lbfgs->first_trials()[0];
  Evaluation e;
  e.value = 0.5 * Map(trial.x).dot(d.cwiseProduct(Map(trial.x)));
  e.gradient = ToVector(d.cwiseProduct(Map(trial.x)));
  ASSERT_OK(lbfgs->Tell(trial.id, e));

  CommandRun run = testing::Optctl(optd().address(),
                                   "diagnose quadratic --point=best --id=diag");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("diagnosis     diag\n"));
  EXPECT_THAT(run.output, HasSubstr("x             [1, 1, 1]\n"));
  run = testing::Optctl(optd().address(), "diagnose quadratic --point=worst");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output,
              HasSubstr("INVALID_ARGUMENT: --point is \"worst\"; diagnose "
                        "takes current or best"));

  Session session = Session::Attach(client(), "diag");
  const Eigen::MatrixXd h = d.asDiagonal();
  ASSERT_OK(Drive(
      session, session.Ask(),
      [&](const Eigen::VectorXd&) -> Eigen::MatrixXd { return h; }, nullptr));
  run = testing::Optctl(optd().address(), "get diag");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("labels        optd.diagnoses=quadratic, "
                                    "optd.diagnosis_point=best\n"));
  EXPECT_THAT(run.output, HasSubstr("smallest      [1, 4, 9]\n"));
  EXPECT_THAT(run.output, HasSubstr("largest       [9, 4, 1]\n"));
  EXPECT_THAT(run.output, HasSubstr("condition     9\n"));
}

}  // namespace
}  // namespace optd::testing
