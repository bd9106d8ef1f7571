// End to end: every row of DESIGN §6's error table that this server has, on a
// real optd process. Each case checks the gRPC code, the message (it names
// the field, the value and what to do) and that the session did not change.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Each test runs on a fresh server with one L-BFGS Rosenbrock session,
// "rosen", whose first trial has been answered: trial 2 is outstanding.
class ErrorsEndToEnd : public OptdServerTest {
 protected:
  void SetUp() override {
    OptdServerTest::SetUp();
    if (HasFatalFailure()) return;
    SessionOptions options;
    options.session_id = "rosen";
    absl::StatusOr<Session> session =
        Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
    ASSERT_OK(session);
    session_ = std::make_unique<Session>(*session);
    const Trial& first = session_->first_trials().at(0);
    absl::StatusOr<Answer> answer =
        session_->Tell(first.id, Rosenbrock(first.x, first.wants));
    ASSERT_OK(answer);
    trial_ = answer->trials.at(0);
    ASSERT_EQ(trial_.id, 2u);
    before_ = Snapshot();
  }

  void TearDown() override {
    // Drop the session's handle on the channel before optd gets SIGTERM.
    session_.reset();
    OptdServerTest::TearDown();
  }

  // GetSession with best_x.
  v1::Session Snapshot() {
    absl::StatusOr<v1::Session> s = session_->Get(/*include_x=*/true);
    EXPECT_OK(s);
    return s.ok() ? *s : v1::Session();
  }

  // The session is exactly as SetUp left it (NaN equal to NaN).
  void ExpectUnchanged() {
    google::protobuf::util::DefaultFieldComparator comparator;
    comparator.set_treat_nan_as_equal(true);
    google::protobuf::util::MessageDifferencer differencer;
    differencer.set_field_comparator(&comparator);
    std::string differences;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(before_, Snapshot())) << differences;
  }

  const Session& session() const { return *session_; }
  const Trial& trial() const { return trial_; }
  std::string Quoted() const { return "session \"" + session_->id() + "\""; }

 private:
  std::unique_ptr<Session> session_;
  Trial trial_;
  v1::Session before_;
};

// ---------------------------------------------------------------------------
// INVALID_ARGUMENT

TEST_F(ErrorsEndToEnd, MalformedOptionsAreInvalidArgumentAndCreateNothing) {
  struct Case {
    const char* name;
    v1::CreateSessionRequest request;
    const char* message;
  };
  std::vector<Case> cases;
  auto add = [&](const char* name, const char* message) -> auto& {
    v1::CreateSessionRequest request;
    request.set_session_id(name);
    *request.mutable_x0() = client::EncodeF64({-1.2, 1.0});
    cases.push_back({name, request, message});
    return cases.back().request;
  };
  add("memory-zero", "lbfgs.memory is 0; it must be in [1, 1000]")
      .mutable_lbfgs()
      ->set_memory(0);
  add("gtol-negative", "lbfgs.gtol is -1").mutable_lbfgs()->set_gtol(-1);
  add("lr-zero", "lr is 0").mutable_adam()->set_lr(0);
  add("beta2-one", "beta2").mutable_adamw()->set_beta2(1.0);
  add("no-solver",
      "solver is not set; set exactly one of lbfgs, trust_region, adam,");
  // The rest of the first-order family: torch's required lr and checks,
  // and group fields a method does not have.
  add("sgd-no-lr", "sgd.lr is unset; SGD needs a learning rate")
      .mutable_sgd()
      ->set_momentum(0.9);
  {
    v1::SgdOptions& sgd = *add("sgd-nesterov-dampening", "sgd.").mutable_sgd();
    sgd.set_lr(0.1);
    sgd.set_momentum(0.9);
    sgd.set_dampening(0.5);
    sgd.set_nesterov(true);
  }
  add("rmsprop-alpha", "rmsprop.alpha is 2").mutable_rmsprop()->set_alpha(2.0);
  add("adagrad-lr-decay", "adagrad.lr_decay is -1")
      .mutable_adagrad()
      ->set_lr_decay(-1);
  {
    v1::AdamGroup& g =
        *add("lion-group-eps", "lion.groups[0].eps is set; lion has no eps")
             .mutable_lion()
             ->add_groups();
    g.set_end(2);
    g.set_eps(1e-6);
  }
  v1::CreateSessionRequest& nan_x0 = add("nan-x0", "x0");
  nan_x0.mutable_lbfgs();
  *nan_x0.mutable_x0() = client::EncodeF64({1.0, kNaN});
  v1::CreateSessionRequest& empty_x0 = add("empty-x0", "x0");
  empty_x0.mutable_lbfgs();
  empty_x0.clear_x0();
  {
    v1::CreateSessionRequest& r =
        add("bounds-crossed",
            "bounds.lower[1] = 2 is greater than bounds.upper[1] = 1");
    r.mutable_lbfgs();
    *r.mutable_bounds()->mutable_lower() = client::EncodeF64({0.0, 2.0});
    *r.mutable_bounds()->mutable_upper() = client::EncodeF64({1.0, 1.0});
  }
  {
    v1::CreateSessionRequest& r =
        add("bounds-short", "bounds.upper has 1 elements; x0 has 2");
    r.mutable_adam();
    *r.mutable_bounds()->mutable_upper() = client::EncodeF64({1.0});
  }
  {
    v1::CreateSessionRequest& r =
        add("fd-exact",
            "gradient_source FINITE_DIFFERENCE needs a solver that takes "
            "gradients");
    r.mutable_trust_region()->set_subproblem(
        v1::TrustRegionOptions::SUBPROBLEM_EXACT);
    r.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  }
  add("tr-ftol", "trust_region.ftol is 2; it must be in [0, 1)")
      .mutable_trust_region()
      ->set_ftol(2.0);
  add("tr-ftol-steps", "trust_region.ftol_steps is -1; it must be in [1, 2^31)")
      .mutable_trust_region()
      ->set_ftol_steps(-1);
  {
    v1::CreateSessionRequest& r = add(
        "dp-workers", "data_parallel.workers is -3; the range is [0, 1024]");
    r.mutable_adam();
    r.mutable_data_parallel()->set_workers(-3);
  }

  for (const Case& c : cases) {
    EXPECT_THAT(
        Session::Create(client(), c.request),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.name;
    EXPECT_THAT(client().GetSession(c.name),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr(c.name)));
  }
  absl::StatusOr<std::vector<v1::Session>> sessions = client().ListSessions();
  ASSERT_OK(sessions);
  EXPECT_EQ(sessions->size(), 1u);
  ExpectUnchanged();
}

TEST_F(ErrorsEndToEnd, BadNotesWorkersAndWeightsAreInvalidArgument) {
  client::Evaluation evaluation;
  evaluation.value = 1.0;
  evaluation.gradient = {1.0, 1.0};
  evaluation.note = std::string(5000, 'n');
  EXPECT_THAT(session().Tell(client::MakeTellRequest(trial().id, evaluation,
                                                     v1::VECTOR_ENCODING_F64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "note has 5000 bytes; at most 4096 are allowed"));
  evaluation.note.clear();
  evaluation.weight = 2.0;
  EXPECT_THAT(session().Tell(client::MakeTellRequest(trial().id, evaluation,
                                                     v1::VECTOR_ENCODING_F64)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("weight is set but session \"rosen\" is not "
                                 "data-parallel")));
  evaluation.weight.reset();
  v1::TellRequest long_worker =
      client::MakeTellRequest(trial().id, evaluation, v1::VECTOR_ENCODING_F64);
  long_worker.set_worker_id(std::string(200, 'w'));
  EXPECT_THAT(session().Tell(long_worker),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "worker_id has 200 characters; at most 128 are "
                       "allowed"));
  ExpectUnchanged();
}

TEST_F(ErrorsEndToEnd, WrongGradientLengthIsInvalidArgument) {
  const std::vector<double> three = {1.0, 2.0, 3.0};
  EXPECT_THAT(session().Tell(trial().id, 1.0, three),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient has 3 elements; session \"rosen\" "
                                 "has dimension 2")));
  const std::vector<double> one = {1.0};
  EXPECT_THAT(session().Tell(trial().id, 1.0, one),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient has 1 elements")));
  // A trial that wants a gradient told without one.
  EXPECT_THAT(session().Tell(trial().id, 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the tell has no gradient")));
  ExpectUnchanged();
}

TEST_F(ErrorsEndToEnd, NonFiniteGradientIsInvalidArgumentNamingTheIndex) {
  const std::vector<double> nan_at_1 = {0.5, kNaN};
  EXPECT_THAT(session().Tell(trial().id, 1.0, nan_at_1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient[1] is nan")));
  const std::vector<double> inf_at_0 = {-kInf, 0.5};
  EXPECT_THAT(session().Tell(trial().id, 1.0, inf_at_0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient[0] is -inf")));
  ExpectUnchanged();
  // A NaN *value* is a failed evaluation, not an error (DESIGN §2): it is
  // accepted and the line search backtracks.
  absl::StatusOr<Answer> failed =
      session().Tell(trial().id, kNaN, std::vector<double>{0.5, 0.5});
  ASSERT_OK(failed);
  EXPECT_EQ(failed->state, v1::SESSION_STATE_RUNNING);
}

TEST_F(ErrorsEndToEnd, TwoEncodingsAtOnceAreInvalidArgument) {
  v1::TellRequest request;
  request.set_trial_id(trial().id);
  request.set_value(1.0);
  *request.mutable_gradient() = client::EncodeF64({0.5, 0.5});
  request.mutable_gradient()->add_values(0.5);
  request.mutable_gradient()->add_values(0.5);
  EXPECT_THAT(session().Tell(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient sets both values and f64; set "
                                 "exactly one encoding")));
  request.mutable_gradient()->clear_values();
  request.mutable_gradient()->set_f32(std::string(8, '\0'));
  EXPECT_THAT(session().Tell(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient sets both f64 and f32")));
  // A ragged byte string is refused too.
  request.mutable_gradient()->clear_f32();
  request.mutable_gradient()->set_f64(std::string(12, '\0'));
  EXPECT_THAT(session().Tell(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient.f64 has 12 bytes")));
  ExpectUnchanged();
}

TEST_F(ErrorsEndToEnd, StreamRefusesABadTellAndStaysOpen) {
  grpc::ClientContext context;
  client().PrepareStreamContext(&context);
  auto stream = client().stub().Optimize(&context);
  v1::OptimizeRequest request;
  request.set_attach_session_id("rosen");
  ASSERT_TRUE(stream->Write(request));
  v1::OptimizeResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.error_code(), 0) << response.error_message();
  ASSERT_EQ(response.trials_size(), 1);
  EXPECT_EQ(response.trials(0).trial_id(), trial().id);

  request.Clear();
  request.mutable_tell()->set_trial_id(trial().id);
  request.mutable_tell()->set_value(1.0);
  *request.mutable_tell()->mutable_gradient() = client::EncodeF64({1, 2, 3});
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.error_message(),
              HasSubstr("gradient has 3 elements; session \"rosen\" has "
                        "dimension 2"));
  ExpectUnchanged();

  // The same stream takes the correct tell.
  const client::Evaluation e = Rosenbrock(trial().x, trial().wants);
  request.Clear();
  request.mutable_tell()->set_trial_id(trial().id);
  request.mutable_tell()->set_value(*e.value);
  *request.mutable_tell()->mutable_gradient() = client::EncodeF64(e.gradient);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error_code(), 0) << response.error_message();
  EXPECT_EQ(response.trials(0).trial_id(), trial().id + 1);
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ErrorsEndToEnd, SessionIdInUseIsAlreadyExists) {
  SessionOptions options;
  options.session_id = "rosen";
  EXPECT_THAT(Session::Create(client(), {5.0}, SolverSpec::Adam(), options),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("session \"rosen\" already exists")));
  ExpectUnchanged();
}

// ---------------------------------------------------------------------------
// NOT_FOUND

TEST_F(ErrorsEndToEnd, UnknownSessionIsNotFound) {
  const auto not_found = StatusIs(absl::StatusCode::kNotFound,
                                  HasSubstr("session \"no-such\" not found"));
  EXPECT_THAT(client().GetSession("no-such"), not_found);
  EXPECT_THAT(client().DeleteSession("no-such"), not_found);
  const Session ghost = Session::Attach(client(), "no-such");
  EXPECT_THAT(ghost.Ask(), not_found);
  EXPECT_THAT(ghost.Tell(1, 1.0, std::vector<double>{1.0, 1.0}), not_found);
  ExpectUnchanged();
}

TEST_F(ErrorsEndToEnd, DeletedSessionIsNotFound) {
  ASSERT_OK(session().Delete());
  const auto not_found =
      StatusIs(absl::StatusCode::kNotFound, HasSubstr(Quoted() + " not found"));
  EXPECT_THAT(session().Get(), not_found);
  EXPECT_THAT(session().Ask(), not_found);
  const client::Evaluation e = Rosenbrock(trial().x, trial().wants);
  EXPECT_THAT(session().Tell(trial().id, e), not_found);
  EXPECT_THAT(session().Delete(), not_found);
  absl::StatusOr<std::vector<v1::Session>> sessions = client().ListSessions();
  ASSERT_OK(sessions);
  EXPECT_TRUE(sessions->empty());
}

// ---------------------------------------------------------------------------
// FAILED_PRECONDITION

TEST_F(ErrorsEndToEnd, StaleOrUnissuedTrialIsFailedPrecondition) {
  // Trial 1 was answered in SetUp; a different payload for it is refused.
  EXPECT_THAT(session().Tell(1, 123.0, std::vector<double>{1.0, 1.0}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 1 of " + Quoted() +
                                 " was already answered with a different "
                                 "payload")));
  // A trial the session never issued.
  EXPECT_THAT(session().Tell(99, 1.0, std::vector<double>{1.0, 1.0}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 99 was never issued by " + Quoted() +
                                 "; the outstanding trial is 2")));
  ExpectUnchanged();
}

TEST_F(ErrorsEndToEnd, FinishedSessionIsFailedPrecondition) {
  absl::StatusOr<client::Result> result = RunUnary(session(), Rosenbrock);
  ASSERT_OK(result);
  ASSERT_TRUE(result->success);
  absl::StatusOr<v1::Session> finished = session().Get(/*include_x=*/true);
  ASSERT_OK(finished);
  const uint64_t next_id = static_cast<uint64_t>(finished->evaluations()) + 1;
  EXPECT_THAT(session().Tell(next_id, 1.0, std::vector<double>{1.0, 1.0}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(Quoted() + " has already finished")));
  absl::StatusOr<v1::Session> after = session().Get(/*include_x=*/true);
  ASSERT_OK(after);
  EXPECT_EQ(after->DebugString(), finished->DebugString());
  // Stopping a finished session is refused the same way.
  EXPECT_THAT(session().Stop(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("has already finished")));
}

}  // namespace
}  // namespace optd::testing
