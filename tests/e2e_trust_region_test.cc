// End to end: trust-region sessions on a real optd process through the C++
// client, one per subproblem (exact with dense Hessians, Newton-CG with
// Hessian-vector trials, Newton-CG by finite differences, L-SR1 and L-BFGS
// quasi-Newton), each checked against the same solver run in process; and
// malformed Hessians refused without changing the session.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "Eigen/SparseCore"
#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/core/vector_view.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"
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

using TrustRegionEndToEnd = OptdServerTest;

// Rosenbrock's f, gradient and Hessian (row-major) at x = (x0, x1).
double Rosenbrock2(const std::vector<double>& x, std::vector<double>* g,
                   std::vector<double>* h) {
  const double a = 1.0 - x[0];
  const double b = x[1] - x[0] * x[0];
  if (g != nullptr) *g = {-2.0 * a - 400.0 * x[0] * b, 200.0 * b};
  if (h != nullptr) {
    const double off = -400.0 * x[0];
    *h = {2.0 - 400.0 * b + 800.0 * x[0] * x[0], off, off, 200.0};
  }
  return a * a + 100.0 * b * b;
}

// Calls of the client-side objective by what the trial wanted.
struct Calls {
  int64_t value_and_gradient = 0, gradient = 0, hessian = 0, product = 0;
};

// Evaluates `trial` as it asks, counting into `calls`.
Evaluation EvaluateTrial(const Trial& trial, Calls* calls) {
  Evaluation e;
  std::vector<double> g, h;
  const double f = Rosenbrock2(trial.x, &g, &h);
  switch (trial.wants) {
    case Wants::kValue:
    case Wants::kValueAndGradient:
      ++calls->value_and_gradient;
      e.value = f;
      if (client::WantsGradient(trial.wants)) e.gradient = g;
      break;
    case Wants::kGradient:
      ++calls->gradient;
      e.gradient = g;
      break;
    case Wants::kHessian:
      ++calls->hessian;
      e.value = f;
      e.gradient = g;
      e.hessian = h;
      break;
    case Wants::kHessianVector:
      ++calls->product;
      EXPECT_EQ(trial.vector.size(), 2u) << "trial " << trial.id;
      if (trial.vector.size() != 2) return Evaluation::Failed();
      e.hessian_vector = {h[0] * trial.vector[0] + h[1] * trial.vector[1],
                          h[2] * trial.vector[0] + h[3] * trial.vector[1]};
      break;
    default:  // least squares: never asked of a trust region
      ADD_FAILURE() << "trial " << trial.id << " wants "
                    << client::WantsName(trial.wants);
      return Evaluation::Failed();
  }
  return e;
}

// The same solver in process (solvers/testing/ask_tell_driver.h).
DriveResult RunInProcess(const TrustRegionOptions& options) {
  const std::vector<double> x0 = {-1.2, 1.0};
  auto solver =
      TrustRegion::Create(options, ConstVectorView::Float64(x0.data(), 2));
  EXPECT_TRUE(solver.ok()) << solver.status();
  Objective objective;
  objective.evaluate = [](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
    std::vector<double> gv;
    const double f =
        Rosenbrock2({x[0], x[1]}, g == nullptr ? nullptr : &gv, nullptr);
    if (g != nullptr) *g = Eigen::Vector2d(gv[0], gv[1]);
    return f;
  };
  objective.hessian = [](const Eigen::VectorXd& x) {
    std::vector<double> h;
    Rosenbrock2({x[0], x[1]}, nullptr, &h);
    Eigen::SparseMatrix<double> m(2, 2);
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) m.insert(i, j) = h[2 * i + j];
    }
    return m;
  };
  return Drive(**solver, objective);
}

struct Variant {
  std::string name;
  v1::TrustRegionOptions proto;
  TrustRegionOptions options;
};

std::vector<Variant> Variants() {
  std::vector<Variant> variants;
  auto add = [&](std::string name, v1::TrustRegionOptions::Subproblem p,
                 TrustRegionSubproblem s,
                 v1::TrustRegionOptions::QuasiNewtonUpdate pu,
                 QuasiNewtonUpdate u) {
    Variant v;
    v.name = std::move(name);
    v.proto.set_subproblem(p);
    v.proto.set_quasi_newton_update(pu);
    v.options.subproblem = s;
    v.options.quasi_newton_update = u;
    variants.push_back(std::move(v));
  };
  add("exact", v1::TrustRegionOptions::SUBPROBLEM_EXACT,
      TrustRegionSubproblem::kExact,
      v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_UNSPECIFIED,
      QuasiNewtonUpdate::kLsr1);
  add("newton-cg", v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG,
      TrustRegionSubproblem::kNewtonCg,
      v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_UNSPECIFIED,
      QuasiNewtonUpdate::kLsr1);
  add("newton-cg-fd", v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD,
      TrustRegionSubproblem::kNewtonCgFiniteDifference,
      v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_UNSPECIFIED,
      QuasiNewtonUpdate::kLsr1);
  add("lsr1", v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON,
      TrustRegionSubproblem::kQuasiNewton,
      v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1,
      QuasiNewtonUpdate::kLsr1);
  add("lbfgs", v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON,
      TrustRegionSubproblem::kQuasiNewton,
      v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS,
      QuasiNewtonUpdate::kLbfgs);
  return variants;
}

TEST_F(TrustRegionEndToEnd, EverySubproblemSolvesRosenbrockLikeInProcess) {
  for (const Variant& v : Variants()) {
    SCOPED_TRACE(v.name);
    // Unary Ask/Tell, checking what each kind of trial carries.
    SessionOptions options;
    options.session_id = "tr-" + v.name;
    absl::StatusOr<Session> session = Session::Create(
        client(), {-1.2, 1.0}, SolverSpec::TrustRegion(v.proto), options);
    ASSERT_OK(session);
    Calls calls;
    absl::StatusOr<Answer> answer = session->Ask();
    while (answer.ok() && !answer->finished()) {
      ASSERT_EQ(answer->trials.size(), 1u);
      const Trial& trial = answer->trials[0];
      const Wants wants = trial.wants;
      switch (v.proto.subproblem()) {
        case v1::TrustRegionOptions::SUBPROBLEM_EXACT:
          EXPECT_EQ(wants, Wants::kHessian);
          break;
        case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG:
          EXPECT_THAT(wants, ::testing::AnyOf(Wants::kValueAndGradient,
                                              Wants::kHessianVector));
          break;
        case v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD:
          EXPECT_THAT(wants, ::testing::AnyOf(Wants::kValueAndGradient,
                                              Wants::kGradient));
          break;
        default:
          EXPECT_EQ(wants, Wants::kValueAndGradient);
      }
      if (wants != Wants::kHessianVector) EXPECT_TRUE(trial.vector.empty());
      answer = session->Tell(trial.id, EvaluateTrial(trial, &calls));
    }
    ASSERT_OK(answer);
    const Result& r = *answer->summary;
    EXPECT_TRUE(r.success) << r.brief_report;
    EXPECT_EQ(r.reason, v1::TERMINATION_REASON_GRADIENT_TOLERANCE);
    ASSERT_EQ(r.x.size(), 2u);
    EXPECT_NEAR(r.x[0], 1.0, 1e-4);
    EXPECT_NEAR(r.x[1], 1.0, 1e-4);
    EXPECT_LT(r.value, 1e-8);
    EXPECT_THAT(r.brief_report, HasSubstr("trust_region"));
    if (v.proto.subproblem() == v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG) {
      EXPECT_GT(calls.product, 0);
    } else {
      EXPECT_EQ(calls.product, 0);
    }
    if (v.proto.subproblem() ==
        v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD) {
      EXPECT_GT(calls.gradient, 0);
    }

    // The same solver in process: the same iterations, evaluations, and
    // objective calls of each kind.
    const DriveResult local = RunInProcess(v.options);
    ASSERT_TRUE(local.finished);
    EXPECT_EQ(r.iterations, local.summary.iterations);
    EXPECT_EQ(r.evaluations, local.summary.evaluations);
    EXPECT_EQ(calls.value_and_gradient + calls.hessian, local.value_calls);
    EXPECT_EQ(calls.gradient, local.gradient_calls);
    EXPECT_EQ(calls.hessian, local.hessian_calls);
    EXPECT_EQ(calls.product, local.product_calls);
    EXPECT_NEAR(r.x[0], local.x[0], 1e-12);
    EXPECT_NEAR(r.x[1], local.x[1], 1e-12);

    absl::StatusOr<v1::Session> s = client().GetSession(options.session_id);
    ASSERT_OK(s);
    EXPECT_EQ(s->state(), v1::SESSION_STATE_CONVERGED);
    EXPECT_EQ(s->solver(), "trust_region");
    EXPECT_EQ(s->evaluations(), r.evaluations);

    // The Optimize stream, with a TrialObjective: the same path.
    Calls stream_calls;
    absl::StatusOr<Result> stream = client::RunStream(
        client(), {-1.2, 1.0}, SolverSpec::TrustRegion(v.proto),
        [&](const Trial& trial) {
          return EvaluateTrial(trial, &stream_calls);
        });
    ASSERT_OK(stream);
    EXPECT_TRUE(stream->success) << stream->brief_report;
    EXPECT_EQ(stream->iterations, r.iterations);
    EXPECT_EQ(stream->evaluations, r.evaluations);
    EXPECT_EQ(stream->x, r.x);
    EXPECT_EQ(stream_calls.product, calls.product);
    EXPECT_EQ(stream_calls.hessian, calls.hessian);
  }
}

TEST_F(TrustRegionEndToEnd, BadHessianIsRefusedAndChangesNothing) {
  v1::TrustRegionOptions exact;
  exact.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  SessionOptions options;
  options.session_id = "tr-bad-hessian";
  absl::StatusOr<Session> session = Session::Create(
      client(), {-1.2, 1.0}, SolverSpec::TrustRegion(exact), options);
  ASSERT_OK(session);
  ASSERT_EQ(session->first_trials().size(), 1u);
  const Trial trial = session->first_trials()[0];
  ASSERT_EQ(trial.wants, Wants::kHessian);
  Calls calls;
  const Evaluation good = EvaluateTrial(trial, &calls);
  absl::StatusOr<v1::Session> before = session->Get();
  ASSERT_OK(before);

  Evaluation short_hessian = good;
  short_hessian.hessian.pop_back();
  absl::StatusOr<Answer> answer = session->Tell(trial.id, short_hessian);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(answer.status().message(), HasSubstr("hessian has 3 elements"));

  Evaluation nan_hessian = good;
  nan_hessian.hessian[2] = std::numeric_limits<double>::quiet_NaN();
  answer = session->Tell(trial.id, nan_hessian);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(answer.status().message(), HasSubstr("hessian[2]"));

  absl::StatusOr<v1::Session> after = session->Get();
  ASSERT_OK(after);
  EXPECT_EQ(after->evaluations(), before->evaluations());
  EXPECT_EQ(after->iterations(), before->iterations());
  EXPECT_EQ(after->state(), v1::SESSION_STATE_RUNNING);
  answer = session->Ask();
  ASSERT_OK(answer);
  ASSERT_EQ(answer->trials.size(), 1u);
  EXPECT_EQ(answer->trials[0].id, trial.id);

  // The right Hessian is then taken.
  answer = session->Tell(trial.id, good);
  ASSERT_OK(answer);
  after = session->Get();
  ASSERT_OK(after);
  EXPECT_EQ(after->evaluations(), before->evaluations() + 1);
}

// f = 1e15 + x: every step lowers f by a relative 1e-12 or less and |g| = 1,
// so only the ftol test ends the run: after ftol_steps accepted steps, as
// CONVERGED with FUNCTION_TOLERANCE, the options echoed by GetSession.
TEST_F(TrustRegionEndToEnd, FtolEndsAStalledRunAsConverged) {
  v1::TrustRegionOptions proto;
  proto.set_ftol_steps(5);
  SessionOptions options;
  options.session_id = "tr-ftol";
  absl::StatusOr<Session> session =
      Session::Create(client(), {0.0}, SolverSpec::TrustRegion(proto), options);
  ASSERT_OK(session);
  absl::StatusOr<Answer> answer = session->Ask();
  int tells = 0;
  while (answer.ok() && !answer->finished() && tells < 100) {
    ASSERT_EQ(answer->trials.size(), 1u);
    const Trial& trial = answer->trials[0];
    Evaluation evaluation;
    evaluation.value = 1e15 + trial.x[0];
    evaluation.gradient = {1.0};
    answer = session->Tell(trial.id, evaluation);
    ++tells;
  }
  ASSERT_OK(answer);
  ASSERT_TRUE(answer->finished());
  const Result& r = *answer->summary;
  EXPECT_TRUE(r.success) << r.brief_report;
  EXPECT_EQ(r.reason, v1::TERMINATION_REASON_FUNCTION_TOLERANCE);
  EXPECT_THAT(r.brief_report,
              HasSubstr("at most ftol for ftol_steps accepted steps"));
  EXPECT_LT(r.x[0], 0.0);
  absl::StatusOr<v1::Session> s = client().GetSession("tr-ftol");
  ASSERT_OK(s);
  EXPECT_EQ(s->state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(s->trust_region().ftol_steps(), 5);
  EXPECT_EQ(s->trust_region().ftol(), 2.220446049250313e-09);
}

}  // namespace
}  // namespace optd::testing
