#include "server/session/session.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/rosenbrock.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::F32;
using ::optd::server::testing::F64;
using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::shared_ptr<Session> MakeSession(const std::string& id,
                                     const std::vector<double>& x0,
                                     v1::CreateSessionRequest request) {
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x0.data(), x0.size()));
  EXPECT_TRUE(setup.ok()) << setup.status();
  return std::make_shared<Session>(id, std::move(*setup), Labels{{"team", "a"}},
                                   v1::VECTOR_ENCODING_UNSPECIFIED);
}

std::shared_ptr<Session> MakeLbfgs(const std::string& id,
                                   const std::vector<double>& x0) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  return MakeSession(id, x0, request);
}

std::shared_ptr<Session> MakeAdam(const std::string& id,
                                  const std::vector<double>& x0,
                                  int64_t max_steps) {
  v1::CreateSessionRequest request;
  request.mutable_adam()->set_max_steps(max_steps);
  return MakeSession(id, x0, request);
}

// The tell a correct client sends for `trial` on Rosenbrock.
v1::TellRequest RosenbrockTell(const v1::Trial& trial) {
  std::vector<double> g;
  const double f = Rosenbrock(ToDoubles(trial.x()), &g);
  v1::TellRequest tell;
  tell.set_trial_id(trial.trial_id());
  tell.set_value(f);
  *tell.mutable_gradient() = Values(g);
  return tell;
}

v1::Trial Outstanding(Session& session) {
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  EXPECT_EQ(ask.trials_size(), 1);
  return ask.trials_size() > 0 ? ask.trials(0) : v1::Trial();
}

// Everything GetSession shows, to check that a refused tell changed nothing.
std::string Snapshot(Session& session) {
  v1::Session out;
  EXPECT_OK(
      session.Describe(/*include_x=*/true, v1::VECTOR_ENCODING_F64, &out));
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_F64, &ask));
  return out.SerializeAsString() + ask.SerializeAsString();
}

TEST(Session, RosenbrockRunMatchesTheSolverInProcess) {
  const std::vector<double> x0 = {-1.2, 1.0};
  // The reference: the solver driven directly, recording every trial point.
  auto reference =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 2));
  ASSERT_OK(reference);
  std::vector<std::vector<double>> points;
  while (!(*reference)->finished()) {
    std::vector<double> x(2), g;
    ASSERT_OK(
        (*reference)->ReadTrialPoint(MutableVectorView::Float64(x.data(), 2)));
    points.push_back(x);
    const double f = Rosenbrock(x, &g);
    ASSERT_OK(
        (*reference)->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)));
    ASSERT_OK((*reference)->Tell({.value = f, .has_gradient = true}));
  }
  const Summary& expected = (*reference)->summary();

  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", x0);
  v1::Trial trial = Outstanding(*session);
  v1::TellResponse answer;
  size_t told = 0;
  for (;;) {
    ASSERT_LT(told, points.size());
    EXPECT_EQ(trial.trial_id(), told + 1);
    EXPECT_EQ(trial.wants(), v1::EVALUATION_VALUE_AND_GRADIENT);
    EXPECT_EQ(ToDoubles(trial.x()), points[told]) << "trial " << told + 1;
    ASSERT_OK(session->Tell(RosenbrockTell(trial), &answer));
    ++told;
    EXPECT_FALSE(answer.duplicate());
    if (answer.state() != v1::SESSION_STATE_RUNNING) break;
    ASSERT_EQ(answer.trials_size(), 1);
    trial = answer.trials(0);
  }
  EXPECT_EQ(told, points.size());
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(answer.trials_size(), 0);
  const v1::Summary& summary = answer.summary();
  EXPECT_EQ(summary.iterations(), expected.iterations);
  EXPECT_EQ(summary.evaluations(), expected.evaluations);
  EXPECT_EQ(summary.reason(), TerminationReasonToProto(expected.reason));
  EXPECT_TRUE(summary.success());
  EXPECT_GT(summary.wall_seconds(), 0);
  EXPECT_LT(summary.value(), 1e-10);
  const std::vector<double> x = ToDoubles(summary.x());
  ASSERT_EQ(x.size(), 2u);
  EXPECT_NEAR(x[0], 1.0, 1e-4);
  EXPECT_NEAR(x[1], 1.0, 1e-4);
  // scipy 1.10 gets 36 iterations here; the solver's own tests pin its counts.
  EXPECT_NEAR(summary.iterations(), 36, 3);

  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_EQ(described.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(described.pending_trial_ids_size(), 0);
  EXPECT_EQ(described.history_size(), expected.iterations);
  EXPECT_EQ(described.history(0).iteration(), 1);
  EXPECT_EQ(described.summary().wall_seconds(), summary.wall_seconds());
}

TEST(Session, EachTellIssuesTheNextId) {
  std::shared_ptr<Session> session = MakeLbfgs("ids", {-1.2, 1.0});
  v1::TellResponse answer;
  v1::Trial trial = Outstanding(*session);
  for (uint64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(trial.trial_id(), id);
    ASSERT_OK(session->Tell(RosenbrockTell(trial), &answer));
    trial = answer.trials(0);
  }
}

TEST(Session, RetryWithTheSamePayloadIsADuplicateAndChangesNothing) {
  std::shared_ptr<Session> session = MakeLbfgs("retry", {-1.2, 1.0});
  const v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  v1::TellResponse first, again;
  ASSERT_OK(session->Tell(tell, &first));
  EXPECT_FALSE(first.duplicate());
  const std::string before = Snapshot(*session);
  ASSERT_OK(session->Tell(tell, &again));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(Snapshot(*session), before);
  // The same answer: the trials outstanding now, which are the first answer's.
  ASSERT_EQ(again.trials_size(), 1);
  EXPECT_EQ(again.trials(0).SerializeAsString(),
            first.trials(0).SerializeAsString());
  EXPECT_EQ(again.state(), v1::SESSION_STATE_RUNNING);
}

TEST(Session, RetryInAnotherEncodingIsStillTheSamePayload) {
  std::shared_ptr<Session> session = MakeLbfgs("retry-enc", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  *tell.mutable_gradient() = F64(ToDoubles(tell.gradient()));
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_TRUE(answer.duplicate());
}

TEST(Session, RetryOfAnOlderTrialReturnsTheTrialsOutstandingNow) {
  std::shared_ptr<Session> session = MakeLbfgs("older", {-1.2, 1.0});
  const v1::TellRequest first = RosenbrockTell(Outstanding(*session));
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(first, &answer));
  ASSERT_OK(session->Tell(RosenbrockTell(answer.trials(0)), &answer));
  const std::string before = Snapshot(*session);
  v1::TellResponse retried;
  ASSERT_OK(session->Tell(first, &retried));
  EXPECT_TRUE(retried.duplicate());
  ASSERT_EQ(retried.trials_size(), 1);
  EXPECT_EQ(retried.trials(0).trial_id(), 3u);
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, RetryWithADifferentPayloadIsRefused) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  const std::string before = Snapshot(*session);
  tell.set_value(tell.value() + 1);
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "trial 1 of session \"rosen-1\" was already answered with a "
               "different payload; a retry must repeat the original tell "
               "exactly (the outstanding trial is 2)"));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, UnknownTrialIsRefusedNamingTheOutstandingOne) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.set_trial_id(42);
  v1::TellResponse answer;
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "trial 42 was never issued by session \"rosen-1\"; the "
                       "outstanding trial is 1"));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, TrialZeroWithoutStopIsRefused) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.set_trial_id(0);
  v1::TellResponse answer;
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "trial_id is 0; name an outstanding trial (the outstanding "
               "trial is 1) or set stop to "
               "end session \"rosen-1\""));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, MissingValueIsRefused) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.clear_value();
  v1::TellResponse answer;
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          "trial 1 wants VALUE_AND_GRADIENT and the tell has no value; set "
          "value, or failed if the evaluation did not succeed"));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, MissingGradientIsRefused) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.clear_gradient();
  v1::TellResponse answer;
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "trial 1 wants VALUE_AND_GRADIENT and the tell has no gradient; "
               "set gradient, or failed if the evaluation did not succeed"));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, WrongGradientLengthIsRefusedWithBothNumbers) {
  std::vector<double> x0(100, -1.2);
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", x0);
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.mutable_gradient()->mutable_values()->RemoveLast();
  v1::TellResponse answer;
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          "gradient has 99 elements; session \"rosen-1\" has dimension 100"));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, NonFiniteGradientIsRefusedNamingTheIndex) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0, 0.5});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.mutable_gradient()->set_values(1,
                                      std::numeric_limits<double>::infinity());
  v1::TellResponse answer;
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[1]")));
  EXPECT_EQ(Snapshot(*session), before);
  // The refused tell left no trace: the correct one is applied, not a retry.
  ASSERT_OK(session->Tell(RosenbrockTell(Outstanding(*session)), &answer));
  EXPECT_FALSE(answer.duplicate());
}

TEST(Session, GradientWithTwoEncodingsIsRefused) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.mutable_gradient()->set_f64(std::string(16, '\0'));
  v1::TellResponse answer;
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "gradient sets both values and f64; set exactly one encoding"));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, UnknownEncodingIsRefused) {
  std::shared_ptr<Session> session = MakeLbfgs("rosen-1", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  const std::string before = Snapshot(*session);
  tell.set_encoding(static_cast<v1::VectorEncoding>(12));
  v1::TellResponse answer;
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encoding is 12")));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, GradientsInEveryEncodingDriveTheSameRun) {
  // f32 gradients are the f32-rounded numbers, so compare values with f64 only
  // and check that f32 runs to convergence too.
  for (auto encode : {&Values, &F64, &F32}) {
    std::shared_ptr<Session> session = MakeLbfgs("enc", {-1.2, 1.0});
    v1::TellResponse answer;
    v1::Trial trial = Outstanding(*session);
    for (int i = 0; i < 200; ++i) {
      v1::TellRequest tell = RosenbrockTell(trial);
      *tell.mutable_gradient() = encode(ToDoubles(tell.gradient()));
      ASSERT_OK(session->Tell(tell, &answer));
      if (answer.state() != v1::SESSION_STATE_RUNNING) break;
      trial = answer.trials(0);
    }
    EXPECT_NE(answer.state(), v1::SESSION_STATE_RUNNING);
    EXPECT_NEAR(ToDoubles(answer.summary().x())[0], 1.0, 1e-3);
  }
}

TEST(Session, PointsGoOutInTheRequestedEncoding) {
  std::shared_ptr<Session> session = MakeLbfgs("out", {-1.2, 1.0});
  v1::AskResponse values, f64, f32;
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &values));
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_F64, &f64));
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_F32, &f32));
  EXPECT_THAT(values.trials(0).x().values(), ElementsAre(-1.2, 1.0));
  EXPECT_EQ(f64.trials(0).x().f64().size(), 16u);
  EXPECT_EQ(ToDoubles(f64.trials(0).x()), std::vector<double>({-1.2, 1.0}));
  EXPECT_EQ(f32.trials(0).x().f32().size(), 8u);
  EXPECT_THAT(ToDoubles(f32.trials(0).x()),
              ElementsAre(static_cast<float>(-1.2), 1.0f));
  v1::TellRequest tell = RosenbrockTell(values.trials(0));
  tell.set_encoding(v1::VECTOR_ENCODING_F32);
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_FALSE(answer.trials(0).x().f32().empty());
}

TEST(Session, NonFiniteValueCountsAsAFailedEvaluation) {
  std::shared_ptr<Session> session = MakeLbfgs("nan", {-1.2, 1.0});
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(RosenbrockTell(Outstanding(*session)), &answer));
  const std::vector<double> first_step = ToDoubles(answer.trials(0).x());
  v1::TellRequest tell = RosenbrockTell(answer.trials(0));
  tell.set_value(kNaN);
  tell.mutable_gradient()->set_values(0,
                                      kNaN);  // ignored: the evaluation failed
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_RUNNING);
  ASSERT_EQ(answer.trials_size(), 1);
  EXPECT_EQ(answer.trials(0).trial_id(), 3u);
  EXPECT_NE(ToDoubles(answer.trials(0).x()),
            first_step);  // the search backtracked
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_EQ(described.evaluations(), 2);
}

TEST(Session, FailedTellNeedsNoValueOrGradient) {
  std::shared_ptr<Session> session = MakeLbfgs("failed", {-1.2, 1.0});
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(RosenbrockTell(Outstanding(*session)), &answer));
  v1::TellRequest tell;
  tell.set_trial_id(answer.trials(0).trial_id());
  tell.set_failed(true);
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_RUNNING);
}

TEST(Session, FailedFirstEvaluationEndsTheSessionAsFailed) {
  std::shared_ptr<Session> session = MakeLbfgs("failed-x0", {-1.2, 1.0});
  v1::TellRequest tell;
  tell.set_trial_id(1);
  tell.set_failed(true);
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_FAILED);
  EXPECT_EQ(answer.summary().reason(),
            v1::TERMINATION_REASON_EVALUATION_FAILED);
  EXPECT_FALSE(answer.summary().success());
}

TEST(Session, FinishedSessionRefusesTellsButAnswersTheFinalRetry) {
  std::shared_ptr<Session> session = MakeLbfgs("done", {-1.2, 1.0});
  v1::TellRequest final_tell;
  final_tell.set_trial_id(1);
  final_tell.set_failed(true);
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(final_tell, &answer));
  ASSERT_EQ(answer.state(), v1::SESSION_STATE_FAILED);
  const std::string before = Snapshot(*session);

  v1::TellResponse retried;
  ASSERT_OK(session->Tell(final_tell, &retried));
  EXPECT_TRUE(retried.duplicate());
  EXPECT_EQ(retried.state(), v1::SESSION_STATE_FAILED);
  EXPECT_EQ(retried.summary().SerializeAsString(),
            answer.summary().SerializeAsString());

  v1::TellRequest other;
  other.set_trial_id(2);
  other.set_value(1.0);
  EXPECT_THAT(
      session->Tell(other, &retried),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("session \"done\" has already finished (FAILED: ")));
  final_tell.set_failed(false);
  final_tell.set_value(3.0);
  EXPECT_THAT(session->Tell(final_tell, &retried),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("has already finished")));
  EXPECT_EQ(Snapshot(*session), before);
}

TEST(Session, StopWithoutATrialStopsAtOnceAndRetriesSafely) {
  std::shared_ptr<Session> session = MakeLbfgs("stop", {-1.2, 1.0});
  v1::TellRequest stop;
  stop.set_stop(true);
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(stop, &answer));
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_STOPPED);
  EXPECT_EQ(answer.summary().reason(),
            v1::TERMINATION_REASON_STOPPED_BY_CLIENT);
  EXPECT_EQ(answer.summary().evaluations(), 0);
  EXPECT_EQ(answer.trials_size(), 0);
  ASSERT_OK(session->Tell(stop, &answer));
  EXPECT_TRUE(answer.duplicate());
  EXPECT_EQ(session->state(), v1::SESSION_STATE_STOPPED);
}

TEST(Session, StopAfterATellAppliesTheTellFirst) {
  std::shared_ptr<Session> session = MakeLbfgs("stop-after", {-1.2, 1.0});
  v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  tell.set_stop(true);
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_STOPPED);
  EXPECT_EQ(answer.summary().evaluations(), 1);
  EXPECT_NEAR(answer.summary().value(), 24.2, 1e-12);  // f(-1.2, 1)
}

TEST(Session, AdamKeepsTheLastHundredIterates) {
  std::shared_ptr<Session> session = MakeAdam("adam", {-1.2, 1.0}, 150);
  v1::TellResponse answer;
  v1::Trial trial = Outstanding(*session);
  EXPECT_EQ(trial.wants(), v1::EVALUATION_GRADIENT);
  for (int step = 0; step < 150; ++step) {
    std::vector<double> g;
    Rosenbrock(ToDoubles(trial.x()), &g);
    v1::TellRequest tell;  // no value: Adam does not need one
    tell.set_trial_id(trial.trial_id());
    *tell.mutable_gradient() = Values(g);
    ASSERT_OK(session->Tell(tell, &answer));
    if (answer.trials_size() == 0) break;
    trial = answer.trials(0);
  }
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_LIMIT_REACHED);
  EXPECT_EQ(answer.summary().reason(), v1::TERMINATION_REASON_MAX_STEPS);
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_EQ(described.solver(), "adam");
  EXPECT_EQ(described.iterations(), 150);
  ASSERT_EQ(described.history_size(), 100);
  EXPECT_EQ(described.history(0).iteration(), 51);
  EXPECT_EQ(described.history(99).iteration(), 150);
  EXPECT_EQ(described.history(99).step_length(), 1e-3);  // Adam: the lr used
  EXPECT_EQ(described.adam().lr(), 1e-3);
}

TEST(Session, RetryOlderThanTheDigestWindowIsRefused) {
  std::shared_ptr<Session> session = MakeAdam("window", {0.5}, 0);
  v1::TellResponse answer;
  v1::TellRequest first;
  for (uint64_t id = 1; id <= Session::kAnsweredDigests + 1; ++id) {
    v1::TellRequest tell;
    tell.set_trial_id(id);
    *tell.mutable_gradient() = Values({1.0});
    if (id == 1) first = tell;
    ASSERT_OK(session->Tell(tell, &answer));
  }
  EXPECT_THAT(
      session->Tell(first, &answer),
      StatusIs(
          absl::StatusCode::kFailedPrecondition,
          HasSubstr("trial 1 of session \"window\" was answered long ago")));
}

TEST(Session, DescribeShowsTheSession) {
  std::shared_ptr<Session> session = MakeLbfgs("describe", {-1.2, 1.0});
  v1::Session out;
  ASSERT_OK(session->Describe(true, v1::VECTOR_ENCODING_UNSPECIFIED, &out));
  EXPECT_EQ(out.session_id(), "describe");
  EXPECT_EQ(out.state(), v1::SESSION_STATE_RUNNING);
  EXPECT_EQ(out.solver(), "lbfgs");
  EXPECT_EQ(out.dimension(), 2);
  EXPECT_EQ(out.labels().at("team"), "a");
  EXPECT_GT(out.create_time().seconds(), 0);
  EXPECT_EQ(out.iterations(), 0);
  EXPECT_EQ(out.evaluations(), 0);
  EXPECT_TRUE(std::isnan(out.best_value()));
  EXPECT_THAT(out.pending_trial_ids(), ElementsAre(1u));
  EXPECT_THAT(out.best_x().values(), ElementsAre(-1.2, 1.0));
  EXPECT_EQ(out.lbfgs().memory(), 10);
  EXPECT_EQ(out.vector_encoding(), v1::VECTOR_ENCODING_VALUES);
  EXPECT_FALSE(out.has_summary());

  v1::Session brief;
  ASSERT_TRUE(session->DescribeBrief(&brief));
  EXPECT_FALSE(brief.has_best_x());
  EXPECT_EQ(brief.history_size(), 0);
}

TEST(Session, ConcurrentRetriesApplyExactlyOnce) {
  std::shared_ptr<Session> session = MakeLbfgs("race", {-1.2, 1.0});
  const v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  constexpr int kThreads = 8;
  std::vector<v1::TellResponse> answers(kThreads);
  std::vector<absl::Status> statuses(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = session->Tell(tell, &answers[i]); });
  }
  for (std::thread& t : threads) t.join();
  int applied = 0;
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_OK(statuses[i]);
    if (!answers[i].duplicate()) ++applied;
    EXPECT_EQ(answers[i].trials(0).trial_id(), 2u);
  }
  EXPECT_EQ(applied, 1);
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_EQ(described.evaluations(), 1);
}

TEST(Session, DeletedSessionIsNotFound) {
  std::shared_ptr<Session> session = MakeLbfgs("gone", {-1.2, 1.0});
  const v1::TellRequest tell = RosenbrockTell(Outstanding(*session));
  session->Delete();
  v1::TellResponse answer;
  EXPECT_THAT(
      session->Tell(tell, &answer),
      StatusIs(absl::StatusCode::kNotFound, "session \"gone\" not found"));
  v1::AskResponse ask;
  EXPECT_THAT(
      session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask),
      StatusIs(absl::StatusCode::kNotFound, "session \"gone\" not found"));
  v1::Session brief;
  EXPECT_FALSE(session->DescribeBrief(&brief));
  EXPECT_EQ(session->state(), v1::SESSION_STATE_RUNNING);
}

// TellRequest.report_iterate: the answer of each tell that completes an
// iteration carries the iteration count, the accepted point, f and max |g|;
// other tells, tells that do not ask, and retries carry none.
TEST(SessionIterates, ReportedOncePerIterationInOrder) {
  auto session = MakeLbfgs("it", {-1.2, 1.0});
  v1::Trial trial = Outstanding(*session);
  int64_t expected = 1;
  std::vector<double> last_x;
  double last_value = kNaN;
  while (true) {
    v1::TellRequest tell = RosenbrockTell(trial);
    tell.set_report_iterate(true);
    v1::TellResponse response;
    ASSERT_OK(session->Tell(tell, &response));
    if (response.has_iterate()) {
      const v1::Iterate& iterate = response.iterate();
      EXPECT_EQ(iterate.iteration(), expected++);
      last_x = ToDoubles(iterate.x());
      ASSERT_EQ(last_x.size(), 2u);
      // The accepted point is the trial just told: f there is the tell's.
      EXPECT_EQ(last_x, ToDoubles(trial.x()));
      EXPECT_EQ(iterate.value(), tell.value());
      last_value = iterate.value();
      // A retry of the same tell is a duplicate and reports nothing.
      v1::TellResponse again;
      ASSERT_OK(session->Tell(tell, &again));
      EXPECT_TRUE(again.duplicate());
      EXPECT_FALSE(again.has_iterate());
    }
    if (response.trials_size() == 0) {
      ASSERT_TRUE(response.has_summary());
      EXPECT_EQ(response.summary().iterations(), expected - 1);
      EXPECT_EQ(ToDoubles(response.summary().x()), last_x);
      EXPECT_EQ(response.summary().value(), last_value);
      break;
    }
    trial = response.trials(0);
  }
  EXPECT_GT(expected, 30);
}

TEST(SessionIterates, NoneUnlessAsked) {
  auto session = MakeLbfgs("quiet", {-1.2, 1.0});
  v1::Trial trial = Outstanding(*session);
  for (int i = 0; i < 20; ++i) {
    v1::TellResponse response;
    ASSERT_OK(session->Tell(RosenbrockTell(trial), &response));
    EXPECT_FALSE(response.has_iterate());
    trial = response.trials(0);
  }
}

v1::GetSessionRequest PairsRequest() {
  v1::GetSessionRequest request;
  request.set_include_curvature_pairs(true);
  return request;
}

// Runs `session` (Rosenbrock) for `tells` tells.
void RunRosenbrock(Session& session, int tells) {
  v1::Trial trial = Outstanding(session);
  for (int i = 0; i < tells; ++i) {
    v1::TellResponse response;
    ASSERT_OK(session.Tell(RosenbrockTell(trial), &response));
    if (response.trials_size() == 0) return;
    trial = response.trials(0);
  }
}

// GetSessionRequest.include_curvature_pairs: min(iterations, memory) pairs,
// oldest first, with s_i the step between successive iterates and y_i the
// change of the gradient (the newest pair against the last two iterates).
TEST(SessionCurvaturePairs, AreTheNewestStepsOldestFirst) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs()->set_memory(5);
  auto session = MakeSession("pairs", {-1.2, 1.0}, request);
  // Record the iterates as they are accepted.
  std::vector<std::vector<double>> iterates = {{-1.2, 1.0}};
  v1::Trial trial = Outstanding(*session);
  for (int i = 0; i < 12; ++i) {
    v1::TellRequest tell = RosenbrockTell(trial);
    tell.set_report_iterate(true);
    v1::TellResponse response;
    ASSERT_OK(session->Tell(tell, &response));
    if (response.has_iterate()) {
      iterates.push_back(ToDoubles(response.iterate().x()));
    }
    trial = response.trials(0);
  }
  v1::Session out;
  ASSERT_OK(session->Describe(PairsRequest(), &out));
  const int iterations = static_cast<int>(iterates.size()) - 1;
  ASSERT_GT(iterations, 5);
  ASSERT_EQ(out.curvature_pairs().s_size(), 5);
  ASSERT_EQ(out.curvature_pairs().y_size(), 5);
  for (int i = 0; i < 5; ++i) {
    const std::vector<double> s = ToDoubles(out.curvature_pairs().s(i));
    const std::vector<double>& to = iterates[iterations - 4 + i];
    const std::vector<double>& from = iterates[iterations - 5 + i];
    ASSERT_EQ(s.size(), 2u);
    for (int j = 0; j < 2; ++j) {
      EXPECT_NEAR(s[j], to[j] - from[j], 1e-12 * (1 + std::abs(to[j])))
          << "pair " << i;
    }
    std::vector<double> g_to, g_from;
    Rosenbrock(to, &g_to);
    Rosenbrock(from, &g_from);
    const std::vector<double> y = ToDoubles(out.curvature_pairs().y(i));
    for (int j = 0; j < 2; ++j) {
      EXPECT_NEAR(y[j], g_to[j] - g_from[j], 1e-9 * (1 + std::abs(g_to[j])))
          << "pair " << i;
    }
  }
  // Without the flag: no pairs.
  v1::Session plain;
  ASSERT_OK(session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &plain));
  EXPECT_FALSE(plain.has_curvature_pairs());
}

TEST(SessionCurvaturePairs, BoundedLbfgsHasThemToo) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  request.mutable_bounds()->mutable_lower()->add_values(-2);
  request.mutable_bounds()->mutable_lower()->add_values(-2);
  request.mutable_bounds()->mutable_upper()->add_values(2);
  request.mutable_bounds()->mutable_upper()->add_values(0.9);
  auto session = MakeSession("bounded", {-1.2, 1.0}, request);
  RunRosenbrock(*session, 8);
  v1::Session out;
  ASSERT_OK(session->Describe(PairsRequest(), &out));
  EXPECT_GT(out.curvature_pairs().s_size(), 0);
  EXPECT_EQ(out.curvature_pairs().s_size(), out.curvature_pairs().y_size());
  EXPECT_LE(out.curvature_pairs().s_size(), out.iterations());
}

TEST(SessionCurvaturePairs, SolversWithoutThemAreFailedPrecondition) {
  auto session = MakeAdam("adam", {1.0, 2.0}, 10);
  const std::string before = Snapshot(*session);
  v1::Session out;
  EXPECT_THAT(session->Describe(PairsRequest(), &out),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("solver adam keeps no curvature pairs")));
  v1::GetSessionRequest gradient;
  gradient.set_include_gradient(true);
  EXPECT_THAT(
      session->Describe(gradient, &out),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("solver adam holds no gradient at its point")));
  EXPECT_EQ(Snapshot(*session), before);
}

// GetSessionRequest.include_gradient: the gradient L-BFGS holds at best_x,
// which for a client-told gradient is the told one, bit for bit.
TEST(SessionBestGradient, IsTheGradientAtBestX) {
  for (bool bounded : {false, true}) {
    v1::CreateSessionRequest request;
    request.mutable_lbfgs();
    if (bounded) {
      request.mutable_bounds()->mutable_lower()->add_values(-2);
      request.mutable_bounds()->mutable_lower()->add_values(-2);
      request.mutable_bounds()->mutable_upper()->add_values(2);
      request.mutable_bounds()->mutable_upper()->add_values(2);
    }
    auto session = MakeSession("g", {-1.2, 1.0}, request);
    v1::GetSessionRequest get;
    get.set_include_x(true);
    get.set_include_gradient(true);
    v1::Session before;
    // Before x0 is evaluated there is no gradient.
    EXPECT_THAT(session->Describe(get, &before),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("holds no gradient at its point")));
    RunRosenbrock(*session, 10);
    v1::Session out;
    ASSERT_OK(session->Describe(get, &out));
    std::vector<double> g;
    Rosenbrock(ToDoubles(out.best_x()), &g);
    EXPECT_EQ(ToDoubles(out.best_gradient()), g) << "bounded " << bounded;
  }
}

}  // namespace
}  // namespace optd::server
