// Session plumbing for second-order trials (trust-region sessions): dense
// Hessians (EVALUATION_HESSIAN) and Hessian-vector products
// (EVALUATION_HESSIAN_VECTOR with Trial.vector), their validation, and runs
// that reproduce the solver driven in-process.
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/session.h"
#include "server/testing/rosenbrock.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"

namespace optd::server {
namespace {

using ::optd::server::testing::MatVec;
using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::RosenbrockHessian;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

std::shared_ptr<Session> MakeTrustRegion(
    const std::string& id, const std::vector<double>& x0,
    v1::TrustRegionOptions::Subproblem subproblem) {
  v1::CreateSessionRequest request;
  request.mutable_trust_region()->set_subproblem(subproblem);
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x0.data(), x0.size()));
  EXPECT_TRUE(setup.ok()) << setup.status();
  return std::make_shared<Session>(id, std::move(*setup), Labels{},
                                   v1::VECTOR_ENCODING_UNSPECIFIED);
}

// What a correct client tells for `trial` on Rosenbrock, whatever it wants.
v1::TellRequest SecondOrderTell(const v1::Trial& trial) {
  const std::vector<double> x = ToDoubles(trial.x());
  v1::TellRequest tell;
  tell.set_trial_id(trial.trial_id());
  std::vector<double> g;
  const double f = Rosenbrock(x, &g);
  switch (trial.wants()) {
    case v1::EVALUATION_HESSIAN_VECTOR:
      *tell.mutable_hessian_vector() =
          Values(MatVec(RosenbrockHessian(x), ToDoubles(trial.vector())));
      break;
    case v1::EVALUATION_HESSIAN:
      *tell.mutable_hessian() = Values(RosenbrockHessian(x));
      [[fallthrough]];
    default:
      tell.set_value(f);
      *tell.mutable_gradient() = Values(g);
  }
  return tell;
}

std::string Snapshot(Session& session) {
  v1::Session out;
  EXPECT_OK(session.Describe(true, v1::VECTOR_ENCODING_F64, &out));
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_F64, &ask));
  return out.SerializeAsString() + ask.SerializeAsString();
}

v1::Trial Outstanding(Session& session) {
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  return ask.trials_size() > 0 ? ask.trials(0) : v1::Trial();
}

// Runs `session` to its end; returns the last answer and counts the trials
// that wanted `counted`.
v1::TellResponse RunToEnd(Session& session, v1::Evaluation counted,
                          int* counted_trials) {
  v1::TellResponse answer;
  v1::Trial trial = Outstanding(session);
  for (int i = 0; i < 5000; ++i) {
    if (trial.wants() == counted) ++*counted_trials;
    // Trial.vector is there exactly when a product is wanted.
    EXPECT_EQ(trial.has_vector(),
              trial.wants() == v1::EVALUATION_HESSIAN_VECTOR);
    EXPECT_OK(session.Tell(SecondOrderTell(trial), &answer));
    if (answer.trials_size() == 0) break;
    trial = answer.trials(0);
  }
  return answer;
}

TEST(SessionSecondOrder, ExactTrustRegionMatchesTheSolverInProcess) {
  const std::vector<double> x0 = {-1.2, 1.0};
  TrustRegionOptions options;
  options.subproblem = TrustRegionSubproblem::kExact;
  auto reference =
      TrustRegion::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(reference);
  while (!(*reference)->finished()) {
    std::vector<double> x(2), g;
    ASSERT_OK(
        (*reference)->ReadTrialPoint(MutableVectorView::Float64(x.data(), 2)));
    const double f = Rosenbrock(x, &g);
    const std::vector<double> h = RosenbrockHessian(x);
    ASSERT_OK(
        (*reference)->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)));
    ASSERT_OK(
        (*reference)->SetTrialHessian(ConstVectorView::Float64(h.data(), 4)));
    ASSERT_OK(
        (*reference)
            ->Tell({.value = f, .has_gradient = true, .has_hessian = true}));
  }

  std::shared_ptr<Session> session =
      MakeTrustRegion("exact", x0, v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  int hessian_trials = 0;
  const v1::TellResponse answer =
      RunToEnd(*session, v1::EVALUATION_HESSIAN, &hessian_trials);
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(answer.summary().iterations(), (*reference)->summary().iterations);
  EXPECT_EQ(answer.summary().evaluations(),
            (*reference)->summary().evaluations);
  EXPECT_EQ(hessian_trials, answer.summary().evaluations());
  EXPECT_NEAR(ToDoubles(answer.summary().x())[0], 1.0, 1e-4);

  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_EQ(described.solver(), "trust_region");
  EXPECT_EQ(described.trust_region().subproblem(),
            v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  EXPECT_EQ(described.trust_region().max_iterations(), 400);  // 200 n
}

TEST(SessionSecondOrder, NewtonCgAsksForHessianVectorProducts) {
  std::shared_ptr<Session> session = MakeTrustRegion(
      "ncg", {-1.2, 1.0}, v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
  int product_trials = 0;
  const v1::TellResponse answer =
      RunToEnd(*session, v1::EVALUATION_HESSIAN_VECTOR, &product_trials);
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_GT(product_trials, 0);
  EXPECT_NEAR(ToDoubles(answer.summary().x())[0], 1.0, 1e-3);
}

TEST(SessionSecondOrder, MissingOrMisshapenHessianIsRefused) {
  std::shared_ptr<Session> session = MakeTrustRegion(
      "tr", {-1.2, 1.0}, v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  const v1::Trial trial = Outstanding(*session);
  ASSERT_EQ(trial.wants(), v1::EVALUATION_HESSIAN);
  const v1::TellRequest good = SecondOrderTell(trial);
  const std::string before = Snapshot(*session);
  v1::TellResponse answer;

  v1::TellRequest missing = good;
  missing.clear_hessian();
  EXPECT_THAT(session->Tell(missing, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "trial 1 wants HESSIAN and the tell has no hessian; set "
                       "hessian, or failed if the evaluation did not succeed"));
  v1::TellRequest short_hessian = good;
  short_hessian.mutable_hessian()->mutable_values()->RemoveLast();
  EXPECT_THAT(
      session->Tell(short_hessian, &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "hessian has 3 elements; session \"tr\" has dimension 2, so "
               "it needs 2*2 = 4 (row-major)"));
  v1::TellRequest nan_hessian = good;
  nan_hessian.mutable_hessian()->set_values(
      2, std::numeric_limits<double>::quiet_NaN());
  EXPECT_THAT(session->Tell(nan_hessian, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2")));
  v1::TellRequest no_gradient = good;
  no_gradient.clear_gradient();
  EXPECT_THAT(
      session->Tell(no_gradient, &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("wants HESSIAN and the tell has no gradient")));
  v1::TellRequest no_value = good;
  no_value.clear_value();
  EXPECT_THAT(session->Tell(no_value, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("wants HESSIAN and the tell has no value")));
  EXPECT_EQ(Snapshot(*session), before);

  ASSERT_OK(session->Tell(good, &answer));
  EXPECT_FALSE(answer.duplicate());
  // A retry that moves a Hessian element is a different payload.
  v1::TellRequest changed = good;
  changed.mutable_hessian()->set_values(1, good.hessian().values(1) + 1);
  EXPECT_THAT(session->Tell(changed, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("different payload")));
}

TEST(SessionSecondOrder, MissingOrMisshapenProductIsRefused) {
  std::shared_ptr<Session> session = MakeTrustRegion(
      "ncg", {-1.2, 1.0}, v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
  v1::TellResponse answer;
  v1::Trial trial = Outstanding(*session);
  for (int i = 0; i < 10 && trial.wants() != v1::EVALUATION_HESSIAN_VECTOR;
       ++i) {
    ASSERT_OK(session->Tell(SecondOrderTell(trial), &answer));
    trial = answer.trials(0);
  }
  ASSERT_EQ(trial.wants(), v1::EVALUATION_HESSIAN_VECTOR);
  EXPECT_EQ(ToDoubles(trial.vector()).size(), 2u);
  const v1::TellRequest good = SecondOrderTell(trial);
  const std::string before = Snapshot(*session);

  v1::TellRequest missing = good;
  missing.clear_hessian_vector();
  EXPECT_THAT(session->Tell(missing, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("wants HESSIAN_VECTOR and the tell has no "
                                 "hessian_vector")));
  v1::TellRequest short_product = good;
  short_product.mutable_hessian_vector()->mutable_values()->RemoveLast();
  EXPECT_THAT(session->Tell(short_product, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "hessian_vector has 1 elements; session \"ncg\" has "
                       "dimension 2"));
  EXPECT_EQ(Snapshot(*session), before);
  ASSERT_OK(session->Tell(good, &answer));
}

TEST(SessionSecondOrder, TrialVectorFollowsTheRequestedEncoding) {
  std::shared_ptr<Session> session = MakeTrustRegion(
      "ncg-f32", {-1.2, 1.0}, v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
  v1::TellResponse answer;
  v1::Trial trial = Outstanding(*session);
  for (int i = 0; i < 10 && trial.wants() != v1::EVALUATION_HESSIAN_VECTOR;
       ++i) {
    ASSERT_OK(session->Tell(SecondOrderTell(trial), &answer));
    trial = answer.trials(0);
  }
  ASSERT_EQ(trial.wants(), v1::EVALUATION_HESSIAN_VECTOR);
  v1::AskResponse ask;
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_F32, &ask));
  EXPECT_EQ(ask.trials(0).vector().f32().size(), 8u);
  EXPECT_EQ(ask.trials(0).x().f32().size(), 8u);
}

}  // namespace
}  // namespace optd::server
