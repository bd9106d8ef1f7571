// The unary RPCs of optd.v1.Optimizer against a real server on loopback.
#include "server/rpc/optimizer_service.h"

#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "server/testing/server_fixture.h"
#include "server/testing/trial_points.h"

namespace optd::server {
namespace {

using ::optd::server::testing::F32;
using ::optd::server::testing::F64;
using ::optd::server::testing::GrpcStatusIs;
using ::optd::server::testing::ServerFixture;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::server::testing::WithPoints;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class OptimizerServiceTest : public ServerFixture {};

TEST_F(OptimizerServiceTest, CreateSessionReturnsTheFirstTrial) {
  const v1::CreateSessionResponse created = CreateLbfgs("rosen-1");
  EXPECT_EQ(created.session_id(), "rosen-1");
  ASSERT_EQ(created.trials_size(), 1);
  EXPECT_EQ(created.trials(0).trial_id(), 1u);
  EXPECT_EQ(created.trials(0).wants(), v1::EVALUATION_VALUE_AND_GRADIENT);
  EXPECT_THAT(created.trials(0).x().values(), ElementsAre(-1.2, 1.0));
}

TEST_F(OptimizerServiceTest, CreateSessionErrorsAreStatuses) {
  grpc::ClientContext context;
  v1::CreateSessionRequest request = LbfgsRequest("bad");
  request.mutable_lbfgs()->set_memory(2000);
  v1::CreateSessionResponse response;
  EXPECT_THAT(stub_->CreateSession(&context, request, &response),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                           HasSubstr("lbfgs.memory is 2000")));
  CreateLbfgs("taken");
  grpc::ClientContext again;
  EXPECT_THAT(stub_->CreateSession(&again, LbfgsRequest("taken"), &response),
              GrpcStatusIs(grpc::StatusCode::ALREADY_EXISTS,
                           HasSubstr("already exists")));
  grpc::ClientContext sharded;
  request = LbfgsRequest("sharded");
  request.set_shards(2);
  EXPECT_THAT(stub_->CreateSession(&sharded, request, &response),
              GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                           HasSubstr("this server has one replica")));
}

TEST_F(OptimizerServiceTest, AskIsIdempotent) {
  CreateLbfgs("ask");
  v1::AskRequest request;
  request.set_session_id("ask");
  v1::AskResponse first, second;
  grpc::ClientContext c1, c2;
  ASSERT_GRPC_OK(stub_->Ask(&c1, request, &first));
  ASSERT_GRPC_OK(stub_->Ask(&c2, request, &second));
  EXPECT_EQ(first.SerializeAsString(), second.SerializeAsString());
  EXPECT_EQ(first.state(), v1::SESSION_STATE_RUNNING);
  EXPECT_FALSE(first.has_summary());
  EXPECT_EQ(Get("ask").evaluations(), 0);
}

TEST_F(OptimizerServiceTest, UnaryAskTellRunSolvesRosenbrock) {
  const std::vector<double> x0 = {-1.2, 1.0};
  const Summary expected = ReferenceRun(x0);
  v1::CreateSessionResponse created = CreateLbfgs("rosen-1", x0);
  v1::Trial trial = created.trials(0);
  v1::TellResponse answer;
  int tells = 0;
  while (true) {
    ASSERT_LT(tells, 1000);
    ASSERT_GRPC_OK(Tell(RosenbrockTell("rosen-1", trial), &answer));
    ++tells;
    if (answer.trials_size() == 0) break;
    trial = answer.trials(0);
  }
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_CONVERGED);
  const v1::Summary& summary = answer.summary();
  EXPECT_EQ(summary.iterations(), expected.iterations);
  EXPECT_EQ(summary.evaluations(), expected.evaluations);
  EXPECT_EQ(tells, expected.evaluations);
  EXPECT_EQ(summary.value(), expected.value);
  EXPECT_TRUE(summary.success());
  EXPECT_EQ(summary.message(), expected.message);
  EXPECT_THAT(summary.brief_report(), HasSubstr("lbfgs n=2"));
  const std::vector<double> x = ToDoubles(summary.x());
  EXPECT_NEAR(x[0], 1.0, 1e-4);
  EXPECT_NEAR(x[1], 1.0, 1e-4);

  const v1::Session session = Get("rosen-1", /*include_x=*/true);
  EXPECT_EQ(session.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(session.iterations(), expected.iterations);
  EXPECT_EQ(session.evaluations(), expected.evaluations);
  EXPECT_EQ(ToDoubles(session.best_x()), x);
  EXPECT_EQ(session.pending_trial_ids_size(), 0);
  EXPECT_EQ(session.history_size(), expected.iterations);
  EXPECT_EQ(session.summary().iterations(), expected.iterations);

  v1::AskRequest ask;
  ask.set_session_id("rosen-1");
  v1::AskResponse asked;
  grpc::ClientContext context;
  ASSERT_GRPC_OK(stub_->Ask(&context, ask, &asked));
  EXPECT_EQ(asked.trials_size(), 0);
  EXPECT_EQ(asked.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(asked.summary().evaluations(), expected.evaluations);
}

TEST_F(OptimizerServiceTest, EveryEncodingInAndOut) {
  for (v1::VectorEncoding encoding :
       {v1::VECTOR_ENCODING_VALUES, v1::VECTOR_ENCODING_F64,
        v1::VECTOR_ENCODING_F32}) {
    SCOPED_TRACE(v1::VectorEncoding_Name(encoding));
    const std::string id = absl::StrCat("enc-", static_cast<int>(encoding));
    grpc::ClientContext context;
    v1::CreateSessionRequest request = LbfgsRequest(id);
    auto encode = encoding == v1::VECTOR_ENCODING_VALUES ? &Values
                  : encoding == v1::VECTOR_ENCODING_F64  ? &F64
                                                         : &F32;
    *request.mutable_x0() = encode({-1.2, 1.0});
    request.set_vector_encoding(encoding);
    v1::CreateSessionResponse created;
    ASSERT_GRPC_OK(stub_->CreateSession(&context, request, &created));
    const v1::Vector& x = created.trials(0).x();
    EXPECT_EQ(x.values_size() > 0, encoding == v1::VECTOR_ENCODING_VALUES);
    EXPECT_EQ(!x.f64().empty(), encoding == v1::VECTOR_ENCODING_F64);
    EXPECT_EQ(!x.f32().empty(), encoding == v1::VECTOR_ENCODING_F32);
    // f32 x0 is (-1.2f, 1): widened exactly.
    EXPECT_EQ(ToDoubles(x)[0], encoding == v1::VECTOR_ENCODING_F32
                                   ? static_cast<double>(-1.2f)
                                   : -1.2);

    v1::Trial trial = created.trials(0);
    v1::TellResponse answer;
    for (int i = 0; i < 300; ++i) {
      v1::TellRequest tell = RosenbrockTell(id, trial);
      *tell.mutable_gradient() = encode(ToDoubles(tell.gradient()));
      ASSERT_GRPC_OK(Tell(tell, &answer));
      if (answer.trials_size() == 0) break;
      trial = answer.trials(0);
    }
    EXPECT_NE(answer.state(), v1::SESSION_STATE_RUNNING);
    EXPECT_NEAR(ToDoubles(answer.summary().x())[0], 1.0, 1e-3);
    EXPECT_EQ(Get(id).vector_encoding(), encoding);

    // A request may ask for another encoding than the session's.
    v1::GetSessionRequest get;
    get.set_session_id(id);
    get.set_include_x(true);
    get.set_encoding(v1::VECTOR_ENCODING_F64);
    v1::Session session;
    grpc::ClientContext get_context;
    ASSERT_GRPC_OK(stub_->GetSession(&get_context, get, &session));
    EXPECT_EQ(session.best_x().f64().size(), 16u);
    EXPECT_EQ(session.summary().x().f64().size(), 16u);
  }
}

TEST_F(OptimizerServiceTest, AdamwSessionStepsOnFloat32Gradients) {
  grpc::ClientContext context;
  v1::CreateSessionRequest request;
  request.set_session_id("adamw");
  *request.mutable_x0() = F32({1.0, -2.0, 3.0});
  request.mutable_adamw()->set_lr(0.1);
  request.mutable_adamw()->set_dtype(v1::STATE_DTYPE_FLOAT32);
  request.mutable_adamw()->set_max_steps(3);
  request.set_vector_encoding(v1::VECTOR_ENCODING_F32);
  v1::CreateSessionResponse created;
  ASSERT_GRPC_OK(stub_->CreateSession(&context, request, &created));
  ASSERT_EQ(created.trials_size(), 1);
  EXPECT_EQ(created.trials(0).wants(), v1::EVALUATION_GRADIENT);
  v1::Trial trial = created.trials(0);
  v1::TellResponse answer;
  for (int step = 0; step < 3; ++step) {
    v1::TellRequest tell;
    tell.set_session_id("adamw");
    tell.set_trial_id(trial.trial_id());
    *tell.mutable_gradient() = F32(ToDoubles(trial.x()));  // f = |x|^2 / 2
    ASSERT_GRPC_OK(Tell(tell, &answer));
    if (answer.trials_size() == 0) break;
    trial = answer.trials(0);
  }
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_LIMIT_REACHED);
  EXPECT_EQ(answer.summary().reason(), v1::TERMINATION_REASON_MAX_STEPS);
  EXPECT_EQ(answer.summary().iterations(), 3);
  const std::vector<double> x = ToDoubles(answer.summary().x());
  EXPECT_LT(std::abs(x[0]), 1.0);  // every coordinate moved towards 0
  EXPECT_LT(std::abs(x[1]), 2.0);
  const v1::Session session = Get("adamw");
  EXPECT_EQ(session.solver(), "adamw");
  EXPECT_EQ(session.adamw().weight_decay(), 1e-2);  // torch AdamW default
  EXPECT_EQ(session.adamw().dtype(), v1::STATE_DTYPE_FLOAT32);
  EXPECT_EQ(session.history_size(), 3);
}

TEST_F(OptimizerServiceTest, RetriesAreExactlyOnce) {
  v1::CreateSessionResponse created = CreateLbfgs("retry");
  const v1::TellRequest tell = RosenbrockTell("retry", created.trials(0));
  v1::TellResponse first, again;
  ASSERT_GRPC_OK(Tell(tell, &first));
  const v1::Session before = Get("retry");
  ASSERT_GRPC_OK(Tell(tell, &again));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.trials(0).SerializeAsString(),
            first.trials(0).SerializeAsString());
  v1::Session after = Get("retry");
  EXPECT_EQ(after.evaluations(), 1);
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());

  v1::TellRequest changed = tell;
  changed.mutable_gradient()->set_values(0, 0.5);
  EXPECT_THAT(
      Tell(changed, &again),
      GrpcStatusIs(grpc::StatusCode::FAILED_PRECONDITION,
                   HasSubstr("was already answered with a different payload")));
  EXPECT_EQ(Get("retry").SerializeAsString(), before.SerializeAsString());
}

// Every refused tell: the code, the message, and a session that GetSession
// shows unchanged (evaluations, pending trial ids, everything).
TEST_F(OptimizerServiceTest, RefusedTellsChangeNothing) {
  const std::vector<double> x0(100, -1.2);
  v1::CreateSessionResponse created = CreateLbfgs("rosen-1", x0);
  v1::TellResponse answer;
  ASSERT_GRPC_OK(Tell(RosenbrockTell("rosen-1", created.trials(0)), &answer));
  const v1::TellRequest good = RosenbrockTell("rosen-1", answer.trials(0));
  const v1::Session before = Get("rosen-1", /*include_x=*/true);
  ASSERT_EQ(before.evaluations(), 1);
  ASSERT_THAT(before.pending_trial_ids(), ElementsAre(2u));

  struct Case {
    const char* name;
    std::function<void(v1::TellRequest*)> spoil;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"short gradient",
       [](v1::TellRequest* t) {
         t->mutable_gradient()->mutable_values()->RemoveLast();
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "gradient has 99 elements; session \"rosen-1\" has dimension 100"},
      {"nan gradient",
       [](v1::TellRequest* t) {
         t->mutable_gradient()->set_values(
             7, std::numeric_limits<double>::quiet_NaN());
       },
       grpc::StatusCode::INVALID_ARGUMENT, "[7]"},
      {"no value", [](v1::TellRequest* t) { t->clear_value(); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "trial 2 wants VALUE_AND_GRADIENT and the tell has no value"},
      {"no gradient", [](v1::TellRequest* t) { t->clear_gradient(); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "trial 2 wants VALUE_AND_GRADIENT and the tell has no gradient"},
      {"two encodings",
       [](v1::TellRequest* t) {
         t->mutable_gradient()->set_f32(std::string(400, '\0'));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "gradient sets both values and f32; set exactly one encoding"},
      {"ragged f64",
       [](v1::TellRequest* t) {
         t->mutable_gradient()->clear_values();
         t->mutable_gradient()->set_f64(std::string(801, '\0'));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "gradient.f64 has 801 bytes"},
      {"bad encoding",
       [](v1::TellRequest* t) {
         t->set_encoding(static_cast<v1::VectorEncoding>(5));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "encoding is 5"},
      {"future trial", [](v1::TellRequest* t) { t->set_trial_id(9); },
       grpc::StatusCode::FAILED_PRECONDITION,
       "trial 9 was never issued by session \"rosen-1\"; the outstanding trial "
       "is 2"},
      {"answered trial", [](v1::TellRequest* t) { t->set_trial_id(1); },
       grpc::StatusCode::FAILED_PRECONDITION,
       "trial 1 of session \"rosen-1\" was already answered with a different "
       "payload"},
      {"trial zero", [](v1::TellRequest* t) { t->set_trial_id(0); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "trial_id is 0; name an outstanding trial (the outstanding trial is "
       "2)"},
      {"unknown session", [](v1::TellRequest* t) { t->set_session_id("nope"); },
       grpc::StatusCode::NOT_FOUND, "session \"nope\" not found"},
      {"no session", [](v1::TellRequest* t) { t->clear_session_id(); },
       grpc::StatusCode::INVALID_ARGUMENT, "session_id is empty"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::TellRequest bad = good;
    c.spoil(&bad);
    EXPECT_THAT(Tell(bad, &answer), GrpcStatusIs(c.code, HasSubstr(c.message)));
    const v1::Session after = Get("rosen-1", /*include_x=*/true);
    EXPECT_EQ(after.evaluations(), 1);
    EXPECT_THAT(after.pending_trial_ids(), ElementsAre(2u));
    EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  }
  // After all that, the good tell is applied as the first answer to trial 2.
  ASSERT_GRPC_OK(Tell(good, &answer));
  EXPECT_FALSE(answer.duplicate());
  EXPECT_EQ(Get("rosen-1").evaluations(), 2);
}

TEST_F(OptimizerServiceTest, FinishedSessionRefusesTells) {
  v1::CreateSessionResponse created = CreateLbfgs("done");
  v1::TellRequest stop;
  stop.set_session_id("done");
  stop.set_stop(true);
  v1::TellResponse answer;
  ASSERT_GRPC_OK(Tell(stop, &answer));
  EXPECT_EQ(answer.state(), v1::SESSION_STATE_STOPPED);
  const v1::Session before = Get("done");
  EXPECT_THAT(Tell(RosenbrockTell("done", created.trials(0)), &answer),
              GrpcStatusIs(
                  grpc::StatusCode::FAILED_PRECONDITION,
                  HasSubstr("session \"done\" has already finished (STOPPED")));
  EXPECT_EQ(Get("done").SerializeAsString(), before.SerializeAsString());
}

TEST_F(OptimizerServiceTest, GetSessionShowsOptionsLabelsAndProgress) {
  grpc::ClientContext context;
  v1::CreateSessionRequest request = LbfgsRequest("shown");
  request.mutable_lbfgs()->set_memory(7);
  (*request.mutable_labels())["team"] = "opt";
  v1::CreateSessionResponse created;
  ASSERT_GRPC_OK(stub_->CreateSession(&context, request, &created));
  v1::TellResponse answer;
  ASSERT_GRPC_OK(Tell(RosenbrockTell("shown", created.trials(0)), &answer));
  const v1::Session session = Get("shown", /*include_x=*/true);
  EXPECT_EQ(session.solver(), "lbfgs");
  EXPECT_EQ(session.dimension(), 2);
  EXPECT_EQ(session.labels().at("team"), "opt");
  EXPECT_EQ(session.lbfgs().memory(), 7);
  EXPECT_EQ(session.lbfgs().gtol(), 1e-5);  // defaults resolved
  EXPECT_EQ(session.evaluations(), 1);
  EXPECT_DOUBLE_EQ(session.best_value(), 24.2);  // f(-1.2, 1)
  EXPECT_THAT(session.best_x().values(), ElementsAre(-1.2, 1.0));
  EXPECT_THAT(session.pending_trial_ids(), ElementsAre(2u));
  EXPECT_GE(session.update_time().seconds(), session.create_time().seconds());
  EXPECT_FALSE(Get("shown", /*include_x=*/false).has_best_x());
}

TEST_F(OptimizerServiceTest, UnknownSessionIsNotFoundEverywhere) {
  grpc::ClientContext c1, c2, c3;
  v1::GetSessionRequest get;
  get.set_session_id("ghost");
  v1::Session session;
  EXPECT_THAT(
      stub_->GetSession(&c1, get, &session),
      GrpcStatusIs(grpc::StatusCode::NOT_FOUND, "session \"ghost\" not found"));
  v1::AskRequest ask;
  ask.set_session_id("ghost");
  v1::AskResponse asked;
  EXPECT_THAT(
      stub_->Ask(&c2, ask, &asked),
      GrpcStatusIs(grpc::StatusCode::NOT_FOUND, "session \"ghost\" not found"));
  v1::DeleteSessionRequest del;
  del.set_session_id("ghost");
  v1::DeleteSessionResponse deleted;
  EXPECT_THAT(
      stub_->DeleteSession(&c3, del, &deleted),
      GrpcStatusIs(grpc::StatusCode::NOT_FOUND, "session \"ghost\" not found"));
}

TEST_F(OptimizerServiceTest, DeleteThenNotFound) {
  CreateLbfgs("gone");
  grpc::ClientContext c1, c2;
  v1::DeleteSessionRequest del;
  del.set_session_id("gone");
  v1::DeleteSessionResponse deleted;
  ASSERT_GRPC_OK(stub_->DeleteSession(&c1, del, &deleted));
  v1::GetSessionRequest get;
  get.set_session_id("gone");
  v1::Session session;
  EXPECT_THAT(
      stub_->GetSession(&c2, get, &session),
      GrpcStatusIs(grpc::StatusCode::NOT_FOUND, "session \"gone\" not found"));
  EXPECT_EQ(server_->sessions().size(), 0);
}

TEST_F(OptimizerServiceTest, ListSessionsPagesAndFilters) {
  for (const char* id : {"c", "a", "b"}) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request = LbfgsRequest(id);
    (*request.mutable_labels())["even"] = id[0] == 'b' ? "yes" : "no";
    v1::CreateSessionResponse created;
    ASSERT_GRPC_OK(stub_->CreateSession(&context, request, &created));
  }
  v1::ListSessionsRequest request;
  request.set_page_size(2);
  v1::ListSessionsResponse page1, page2;
  grpc::ClientContext c1, c2, c3, c4;
  ASSERT_GRPC_OK(stub_->ListSessions(&c1, request, &page1));
  ASSERT_EQ(page1.sessions_size(), 2);
  EXPECT_EQ(page1.sessions(0).session_id(), "a");
  EXPECT_EQ(page1.sessions(1).session_id(), "b");
  request.set_page_token(page1.next_page_token());
  ASSERT_GRPC_OK(stub_->ListSessions(&c2, request, &page2));
  ASSERT_EQ(page2.sessions_size(), 1);
  EXPECT_EQ(page2.sessions(0).session_id(), "c");
  EXPECT_TRUE(page2.next_page_token().empty());

  v1::ListSessionsRequest filtered;
  (*filtered.mutable_labels())["even"] = "yes";
  filtered.set_state(v1::SESSION_STATE_RUNNING);
  v1::ListSessionsResponse evens;
  ASSERT_GRPC_OK(stub_->ListSessions(&c3, filtered, &evens));
  ASSERT_EQ(evens.sessions_size(), 1);
  EXPECT_EQ(evens.sessions(0).session_id(), "b");

  v1::ListSessionsRequest too_big;
  too_big.set_page_size(5000);
  v1::ListSessionsResponse refused;
  EXPECT_THAT(stub_->ListSessions(&c4, too_big, &refused),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                           HasSubstr("page_size is 5000")));
}

TEST_F(OptimizerServiceTest, LimitsAreResourceExhaustedNamingTheFlag) {
  ServerOptions options;
  options.limits.max_sessions = 1;
  options.limits.max_dimension = 3;
  StartServer(options);
  grpc::ClientContext c1, c2;
  v1::CreateSessionResponse response;
  EXPECT_THAT(
      stub_->CreateSession(&c1, LbfgsRequest("big", {1, 2, 3, 4}), &response),
      GrpcStatusIs(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "x0 has 4 elements; this server's limit is 3 (--max_dimension)"));
  CreateLbfgs("one");
  EXPECT_THAT(stub_->CreateSession(&c2, LbfgsRequest("two"), &response),
              GrpcStatusIs(grpc::StatusCode::RESOURCE_EXHAUSTED,
                           HasSubstr("(--max_sessions=1)")));
}

TEST_F(OptimizerServiceTest, LargeVectorsPassTheDefaultMessageLimit) {
  // 2^20 doubles (8 MiB) is twice gRPC's default 4 MiB limit.
  const int64_t n = int64_t{1} << 20;
  std::vector<double> x0(n, 0.5);
  grpc::ClientContext context;
  v1::CreateSessionRequest request = LbfgsRequest("big");
  *request.mutable_x0() = F64(x0);
  request.set_vector_encoding(v1::VECTOR_ENCODING_F64);
  v1::CreateSessionResponse created;
  ASSERT_GRPC_OK(stub_->CreateSession(&context, request, &created));
  ASSERT_EQ(created.trials(0).x().f64().size(), static_cast<size_t>(8 * n));
  v1::TellRequest tell;
  tell.set_session_id("big");
  tell.set_trial_id(1);
  tell.set_value(1.0);
  *tell.mutable_gradient() = F64(std::vector<double>(n, 1e-3));
  v1::TellResponse answer;
  ASSERT_GRPC_OK(Tell(tell, &answer));
  ASSERT_EQ(answer.trials_size(), 1);
  EXPECT_EQ(ToDoubles(answer.trials(0).x()).size(), static_cast<size_t>(n));
  EXPECT_LT(ToDoubles(answer.trials(0).x())[0], 0.5);  // moved along -g
}

TEST_F(OptimizerServiceTest, FiniteDifferenceAnswersCarryOnePointEach) {
  // n = 20000: the stencil is 40001 trials; whole, their points would be
  // 6.4 GB. Compact, each answer carries x once and a delta per trial.
  const int64_t n = 20000;
  v1::CreateSessionRequest request =
      LbfgsRequest("fd", std::vector<double>(n, 0.5));
  request.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  request.set_vector_encoding(v1::VECTOR_ENCODING_F64);
  grpc::ClientContext context;
  v1::CreateSessionResponse created;
  ASSERT_GRPC_OK(stub_->CreateSession(&context, request, &created));
  ASSERT_EQ(created.trials_size(), 2 * n + 1);
  EXPECT_EQ(created.trials(0).x().f64().size(), static_cast<size_t>(8 * n));
  EXPECT_TRUE(created.trials(2 * n).has_delta());
  EXPECT_LT(created.ByteSizeLong(), static_cast<size_t>(8 * n + 64 * 40001));
  // Two workers take 1024 trials each: the second holds stencil points only,
  // and its answer carries their base point.
  for (const char* worker : {"w1", "w2"}) {
    grpc::ClientContext ask_context;
    v1::AskRequest ask;
    ask.set_session_id("fd");
    ask.set_worker_id(worker);
    ask.set_max_trials(1024);
    v1::AskResponse held;
    ASSERT_GRPC_OK(stub_->Ask(&ask_context, ask, &held));
    ASSERT_EQ(held.trials_size(), 1024);
    EXPECT_EQ(held.base_points_size(), std::string(worker) == "w1" ? 0 : 1);
    EXPECT_LT(held.ByteSizeLong(), static_cast<size_t>(8 * n + 64 * 1024));
    const std::vector<v1::Trial> points = WithPoints(held);
    const std::vector<double> last = ToDoubles(points.back().x());
    ASSERT_EQ(static_cast<int64_t>(last.size()), n);
    // Trial 2048 is x - h e_1023 (trial 2i + 2 is x - h e_i).
    if (std::string(worker) == "w2") {
      EXPECT_EQ(points.back().trial_id(), 2048u);
      EXPECT_LT(last[1023], 0.5);
      EXPECT_EQ(last[1022], 0.5);
    }
  }
}

TEST_F(OptimizerServiceTest, ImportAnswersWithTheBasePointOfItsStencil) {
  v1::ImportSessionRequest request;
  v1::SessionSnapshot* snapshot = request.mutable_snapshot();
  snapshot->set_format_version(1);
  *snapshot->mutable_create() = LbfgsRequest("fd", {-1.2, 1.0, 0.5});
  snapshot->mutable_create()->set_gradient_source(
      v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  v1::TellRequest* tell = snapshot->add_tells()->mutable_tell();
  tell->set_trial_id(1);
  tell->set_value(3.0);
  grpc::ClientContext context;
  v1::ImportSessionResponse imported;
  ASSERT_GRPC_OK(stub_->ImportSession(&context, request, &imported));
  ASSERT_EQ(imported.trials_size(), 6);  // trials 2..7 of the stencil
  EXPECT_TRUE(imported.trials(0).has_delta());
  ASSERT_EQ(imported.base_points_size(), 1);
  EXPECT_EQ(imported.base_points(0).trial_id(), 1u);
  EXPECT_THAT(ToDoubles(imported.base_points(0).x()),
              ElementsAre(-1.2, 1.0, 0.5));
}

TEST_F(OptimizerServiceTest, ExpiredDeadlineAppliesNothing) {
  v1::CreateSessionResponse created = CreateLbfgs("late");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() -
                       std::chrono::seconds(1));
  v1::TellResponse answer;
  EXPECT_THAT(
      stub_->Tell(&context, RosenbrockTell("late", created.trials(0)), &answer),
      GrpcStatusIs(grpc::StatusCode::DEADLINE_EXCEEDED, ::testing::_));
  EXPECT_EQ(Get("late").evaluations(), 0);
}

TEST_F(OptimizerServiceTest, InProcessChannelServesTheSameSessions) {
  CreateLbfgs("shared");
  auto stub = v1::Optimizer::NewStub(server_->InProcessChannel());
  grpc::ClientContext context;
  v1::GetSessionRequest get;
  get.set_session_id("shared");
  v1::Session session;
  ASSERT_GRPC_OK(stub->GetSession(&context, get, &session));
  EXPECT_EQ(session.session_id(), "shared");
}

// Calls `method` with one serialized request message and returns the one
// response message's bytes, without generated stubs (a bidi method answers a
// single request the same way).
grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method,
                     const std::string& request_bytes,
                     std::string* response_bytes) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                    [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  std::vector<grpc::Slice> slices;
  if (status.ok() && response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      response_bytes->append(reinterpret_cast<const char*>(s.begin()),
                             s.size());
    }
  }
  return status;
}

// grpc.health.v1.Health/Check: an empty HealthCheckRequest is answered with
// `status: SERVING` (field 1 = 1).
TEST_F(OptimizerServiceTest, HealthCheckReportsServing) {
  std::string response;
  ASSERT_GRPC_OK(
      RawCall(channel_, "/grpc.health.v1.Health/Check", "", &response));
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

// The service by name (HealthCheckRequest.service = "optd.v1.Optimizer", field
// 1), as Kubernetes' gRPC probes ask; an unknown name is NOT_FOUND.
TEST_F(OptimizerServiceTest, HealthCheckKnowsTheServiceByName) {
  const std::string name = "optd.v1.Optimizer";
  std::string response;
  ASSERT_GRPC_OK(RawCall(
      channel_, "/grpc.health.v1.Health/Check",
      std::string("\x0a") + static_cast<char>(name.size()) + name, &response));
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  const std::string other = "no.such.Service";
  EXPECT_EQ(
      RawCall(channel_, "/grpc.health.v1.Health/Check",
              std::string("\x0a") + static_cast<char>(other.size()) + other,
              &response)
          .error_code(),
      grpc::StatusCode::NOT_FOUND);
}

// PutSlice parses its own request (presized_parse.h): bytes that are not a
// PutSliceRequest are INVALID_ARGUMENT, as a typed method's would be refused.
TEST_F(OptimizerServiceTest, PutSliceRefusesBytesThatAreNotAPutSliceRequest) {
  std::string response;
  EXPECT_THAT(RawCall(channel_, "/optd.v1.Optimizer/PutSlice",
                      std::string("\x0a\x64\x61\x62\x63", 5), &response),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                           HasSubstr("the request (5 bytes) is not a valid "
                                     "PutSliceRequest")));
}

// A typed client's PutSlice reaches the slice host through the raw method
// (the e2e sharding tests stage real slices this way).
TEST_F(OptimizerServiceTest, PutSliceForASessionWithNoSliceHereIsNotFound) {
  v1::PutSliceRequest put;
  put.set_session_id("s");
  put.set_trial_id(1);
  put.set_field(v1::SLICE_FIELD_GRADIENT);
  put.mutable_values()->set_f32(std::string(8, '\0'));
  v1::PutSliceResponse response;
  grpc::ClientContext context;
  EXPECT_THAT(
      v1::Optimizer::NewStub(channel_)->PutSlice(&context, put, &response),
      GrpcStatusIs(grpc::StatusCode::NOT_FOUND,
                   HasSubstr("holds no shard 0 of session \"s\"")));
}

// Server reflection (what grpcurl uses): ServerReflectionRequest with
// `list_services: ""` (field 7) lists optd.v1.Optimizer.
TEST_F(OptimizerServiceTest, ReflectionListsTheService) {
  std::string response;
  ASSERT_GRPC_OK(
      RawCall(channel_,
              "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              std::string("\x3a\x00", 2), &response));
  EXPECT_THAT(response, HasSubstr("optd.v1.Optimizer"));
  EXPECT_THAT(response, HasSubstr("grpc.health.v1.Health"));
}

}  // namespace
}  // namespace optd::server
