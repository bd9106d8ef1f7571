// End to end: L-BFGS sessions on a real optd process, through unary Ask/Tell
// and through the Optimize stream, and the exactly-once retry of a Tell.
#include <cmath>
#include <vector>

#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Result;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::optd::client::Wants;
using ::testing::HasSubstr;

using LbfgsEndToEnd = OptdServerTest;

void ExpectConvergedToOnes(const Result& r) {
  EXPECT_TRUE(r.success) << r.brief_report;
  EXPECT_THAT(r.reason,
              ::testing::AnyOf(v1::TERMINATION_REASON_GRADIENT_TOLERANCE,
                               v1::TERMINATION_REASON_FUNCTION_TOLERANCE));
  ASSERT_EQ(r.x.size(), 2u);
  EXPECT_NEAR(r.x[0], 1.0, 1e-4);
  EXPECT_NEAR(r.x[1], 1.0, 1e-4);
  EXPECT_LT(r.value, 1e-8);
  EXPECT_GT(r.iterations, 10);
  EXPECT_GE(r.evaluations, r.iterations);
  EXPECT_THAT(r.brief_report, HasSubstr("lbfgs"));
}

TEST_F(LbfgsEndToEnd, RosenbrockByUnaryAndByStreamAgree) {
  SessionOptions unary_options;
  unary_options.session_id = "rosen-unary";
  absl::StatusOr<Session> session = Session::Create(
      client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), unary_options);
  ASSERT_OK(session);
  ASSERT_EQ(session->first_trials().size(), 1u);
  EXPECT_EQ(session->first_trials()[0].id, 1u);
  EXPECT_EQ(session->first_trials()[0].x, std::vector<double>({-1.2, 1.0}));
  EXPECT_EQ(session->first_trials()[0].wants, Wants::kValueAndGradient);
  absl::StatusOr<Result> unary = RunUnary(*session, Rosenbrock);
  ASSERT_OK(unary);
  ExpectConvergedToOnes(*unary);

  SessionOptions stream_options;
  stream_options.session_id = "rosen-stream";
  absl::StatusOr<Result> stream = client::RunStream(
      client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), Rosenbrock, stream_options);
  ASSERT_OK(stream);
  ExpectConvergedToOnes(*stream);
  EXPECT_EQ(stream->session_id, "rosen-stream");

  // The same solver on the same inputs: the same path, bit for bit.
  EXPECT_EQ(unary->iterations, stream->iterations);
  EXPECT_EQ(unary->evaluations, stream->evaluations);
  EXPECT_EQ(unary->x, stream->x);
  EXPECT_EQ(unary->value, stream->value);
  EXPECT_EQ(unary->reason, stream->reason);

  // Both sessions stay, ended, with the summary.
  for (const char* id : {"rosen-unary", "rosen-stream"}) {
    absl::StatusOr<v1::Session> s = client().GetSession(id);
    ASSERT_OK(s);
    EXPECT_EQ(s->state(), v1::SESSION_STATE_CONVERGED) << id;
    EXPECT_EQ(s->evaluations(), unary->evaluations) << id;
    EXPECT_EQ(s->iterations(), unary->iterations) << id;
    EXPECT_EQ(s->solver(), "lbfgs");
    EXPECT_EQ(s->dimension(), 2);
    EXPECT_TRUE(s->pending_trial_ids().empty());
    EXPECT_EQ(s->summary().brief_report(), unary->brief_report);
  }
}

TEST_F(LbfgsEndToEnd, MinimizeConvergesAndDeletesItsSession) {
  absl::StatusOr<Result> result =
      client::Minimize(optd().address(), Rosenbrock, {-1.2, 1.0});
  ASSERT_OK(result);
  ExpectConvergedToOnes(*result);
  EXPECT_THAT(client().GetSession(result->session_id),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
}

TEST_F(LbfgsEndToEnd, ExtendedRosenbrockWithPackedValues) {
  // VECTOR_ENCODING_VALUES: packed doubles both ways instead of f64 bytes.
  std::vector<double> x0(10);
  for (size_t i = 0; i < x0.size(); ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  SessionOptions options;
  options.encoding = v1::VECTOR_ENCODING_VALUES;
  absl::StatusOr<Result> result =
      client::RunStream(client(), x0, SolverSpec::Lbfgs(), Rosenbrock, options);
  ASSERT_OK(result);
  EXPECT_TRUE(result->success) << result->brief_report;
  for (double xi : result->x) EXPECT_NEAR(xi, 1.0, 1e-3);
}

// Two answers are the same when they hand out the same trials (ids, points,
// wants) in the same state.
void ExpectSameTrials(const Answer& a, const Answer& b) {
  ASSERT_EQ(a.trials.size(), b.trials.size());
  for (size_t i = 0; i < a.trials.size(); ++i) {
    EXPECT_EQ(a.trials[i].id, b.trials[i].id);
    EXPECT_EQ(a.trials[i].x, b.trials[i].x);
    EXPECT_EQ(a.trials[i].wants, b.trials[i].wants);
  }
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.finished(), b.finished());
}

TEST_F(LbfgsEndToEnd, RetriedTellReturnsTheSameAnswerAndChangesNothing) {
  absl::StatusOr<Session> session =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs());
  ASSERT_OK(session);
  const Trial first = session->first_trials().at(0);
  const client::Evaluation e = Rosenbrock(first.x, first.wants);

  absl::StatusOr<Answer> original = session->Tell(first.id, e);
  ASSERT_OK(original);
  EXPECT_FALSE(original->duplicate);
  ASSERT_EQ(original->trials.size(), 1u);
  EXPECT_EQ(original->trials[0].id, 2u);
  absl::StatusOr<v1::Session> before = session->Get(/*include_x=*/true);
  ASSERT_OK(before);

  for (int retry = 0; retry < 3; ++retry) {
    absl::StatusOr<Answer> again = session->Tell(first.id, e);
    ASSERT_OK(again);
    EXPECT_TRUE(again->duplicate);
    ExpectSameTrials(*original, *again);
  }
  absl::StatusOr<v1::Session> after = session->Get(/*include_x=*/true);
  ASSERT_OK(after);
  EXPECT_EQ(after->evaluations(), before->evaluations());
  EXPECT_EQ(after->iterations(), before->iterations());
  EXPECT_THAT(after->pending_trial_ids(), ::testing::ElementsAre(2u));
  EXPECT_EQ(after->update_time().seconds(), before->update_time().seconds());
  EXPECT_EQ(after->update_time().nanos(), before->update_time().nanos());

  // The same trial with a different payload is refused.
  absl::StatusOr<Answer> different =
      session->Tell(first.id, *e.value + 1.0, e.gradient);
  EXPECT_THAT(different,
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 1 of session \"" + session->id() +
                                 "\" was already answered with a different "
                                 "payload")));
  absl::StatusOr<v1::Session> unchanged = session->Get(/*include_x=*/true);
  ASSERT_OK(unchanged);
  EXPECT_EQ(unchanged->evaluations(), before->evaluations());
  EXPECT_THAT(unchanged->pending_trial_ids(), ::testing::ElementsAre(2u));

  // The session carries on from trial 2 as if nothing had happened.
  const Trial& second = original->trials[0];
  absl::StatusOr<Answer> next =
      session->Tell(second.id, Rosenbrock(second.x, second.wants));
  ASSERT_OK(next);
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->trials.at(0).id, 3u);
}

}  // namespace
}  // namespace optd::testing
