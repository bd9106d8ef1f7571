// Tests of Client, Session, RunStream and Minimize against an in-process fake
// of optd.v1.Optimizer: what goes on the wire, how answers and errors come
// back. The real server is exercised end to end in tests/.
#include "client/client.h"

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/minimize.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace optd::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Each session runs gradient descent x <- x - g / 4 for kSteps tells.
constexpr int kSteps = 3;

class FakeOptimizer final : public v1::Optimizer::Service {
 public:
  grpc::Status CreateSession(grpc::ServerContext*,
                             const v1::CreateSessionRequest* request,
                             v1::CreateSessionResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    grpc::Status status = Create(*request, response);
    return status;
  }

  grpc::Status Tell(grpc::ServerContext*, const v1::TellRequest* request,
                    v1::TellResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    return ApplyTell(*request, response);
  }

  grpc::Status GetSession(grpc::ServerContext*,
                          const v1::GetSessionRequest* request,
                          v1::Session* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sessions_.find(request->session_id());
    if (it == sessions_.end()) return NotFound(request->session_id());
    response->set_session_id(it->first);
    response->set_evaluations(it->second.tells);
    return grpc::Status::OK;
  }

  grpc::Status DeleteSession(grpc::ServerContext*,
                             const v1::DeleteSessionRequest* request,
                             v1::DeleteSessionResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (sessions_.erase(request->session_id()) == 0) {
      return NotFound(request->session_id());
    }
    return grpc::Status::OK;
  }

  // One session per page; the token is the index of the next one.
  grpc::Status ListSessions(grpc::ServerContext*,
                            const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t start =
        request->page_token().empty() ? 0 : std::stoul(request->page_token());
    auto it = sessions_.begin();
    std::advance(it, std::min(start, sessions_.size()));
    if (it == sessions_.end()) return grpc::Status::OK;
    response->add_sessions()->set_session_id(it->first);
    if (start + 1 < sessions_.size()) {
      response->set_next_page_token(absl::StrCat(start + 1));
    }
    return grpc::Status::OK;
  }

  grpc::Status Optimize(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::OptimizeResponse, v1::OptimizeRequest>*
          stream) override {
    v1::OptimizeRequest request;
    if (!stream->Read(&request) || !request.has_create()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no create");
    }
    std::string id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      v1::CreateSessionResponse created;
      grpc::Status status = Create(request.create(), &created);
      if (!status.ok()) return status;
      id = created.session_id();
      v1::OptimizeResponse response;
      response.set_session_id(id);
      *response.mutable_trials() = created.trials();
      response.set_state(v1::SESSION_STATE_RUNNING);
      stream->Write(response);
    }
    while (stream->Read(&request)) {
      v1::TellRequest tell = request.tell();
      tell.set_session_id(id);
      v1::TellResponse told;
      grpc::Status status;
      {
        std::lock_guard<std::mutex> lock(mu_);
        status = ApplyTell(tell, &told);
      }
      v1::OptimizeResponse response;
      response.set_session_id(id);
      if (!status.ok()) {
        response.set_error_code(status.error_code());
        response.set_error_message(status.error_message());
      } else {
        *response.mutable_trials() = told.trials();
        response.set_state(told.state());
        if (told.has_summary()) *response.mutable_summary() = told.summary();
      }
      stream->Write(response);
    }
    return grpc::Status::OK;
  }

  v1::TellRequest last_tell() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_tell_;
  }
  v1::CreateSessionRequest last_create() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_create_;
  }

 private:
  struct FakeSession {
    std::vector<double> x;
    v1::VectorEncoding encoding;
    uint64_t trial_id = 1;
    int tells = 0;
  };

  static grpc::Status NotFound(const std::string& id) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("session \"", id, "\" not found"));
  }

  static v1::Vector Send(const std::vector<double>& x,
                         v1::VectorEncoding encoding) {
    return Encode(x, encoding);
  }

  grpc::Status Create(const v1::CreateSessionRequest& request,
                      v1::CreateSessionResponse* response) {
    last_create_ = request;
    absl::StatusOr<std::vector<double>> x0 = DecodeVector(request.x0());
    if (!x0.ok() || x0->empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "x0 has 0 elements; it needs at least 1");
    }
    const std::string id = request.session_id().empty()
                               ? absl::StrCat("fake-", ++created_)
                               : request.session_id();
    FakeSession& s = sessions_[id];
    s.x = *x0;
    s.encoding = request.vector_encoding();
    response->set_session_id(id);
    v1::Trial* trial = response->add_trials();
    trial->set_trial_id(1);
    *trial->mutable_x() = Send(s.x, s.encoding);
    trial->set_wants(v1::EVALUATION_VALUE_AND_GRADIENT);
    return grpc::Status::OK;
  }

  grpc::Status ApplyTell(const v1::TellRequest& request,
                         v1::TellResponse* response) {
    last_tell_ = request;
    auto it = sessions_.find(request.session_id());
    if (it == sessions_.end()) return NotFound(request.session_id());
    FakeSession& s = it->second;
    if (request.trial_id() != s.trial_id) {
      return grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          absl::StrCat("trial ", request.trial_id(), " is not outstanding"));
    }
    absl::StatusOr<std::vector<double>> g = DecodeVector(request.gradient());
    if (!g.ok() || g->size() != s.x.size()) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("gradient has ", g.ok() ? g->size() : 0,
                       " elements; session \"", request.session_id(),
                       "\" has dimension ", s.x.size()));
    }
    for (size_t i = 0; i < s.x.size(); ++i) s.x[i] -= (*g)[i] / 4;
    ++s.tells;
    const v1::VectorEncoding encoding = request.encoding();
    if (s.tells == kSteps) {
      response->set_state(v1::SESSION_STATE_CONVERGED);
      v1::Summary* summary = response->mutable_summary();
      *summary->mutable_x() = Send(s.x, encoding);
      summary->set_value(request.value());
      summary->set_iterations(s.tells);
      summary->set_evaluations(s.tells);
      summary->set_success(true);
      summary->set_reason(v1::TERMINATION_REASON_GRADIENT_TOLERANCE);
      summary->set_brief_report("fake: done");
      return grpc::Status::OK;
    }
    response->set_state(v1::SESSION_STATE_RUNNING);
    v1::Trial* trial = response->add_trials();
    trial->set_trial_id(++s.trial_id);
    *trial->mutable_x() = Send(s.x, encoding);
    trial->set_wants(v1::EVALUATION_VALUE_AND_GRADIENT);
    return grpc::Status::OK;
  }

  std::mutex mu_;
  std::map<std::string, FakeSession> sessions_;
  int created_ = 0;
  v1::TellRequest last_tell_;
  v1::CreateSessionRequest last_create_;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    client_ = std::make_unique<Client>(Client::FromChannel(
        server_->InProcessChannel(grpc::ChannelArguments())));
  }
  void TearDown() override { server_->Shutdown(); }

  FakeOptimizer service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
};

// f(x) = |x|^2 / 2, gradient x: the fake's step x - x/4 shrinks x by 3/4.
Evaluation HalfSquaredNorm(const std::vector<double>& x, Wants wants) {
  Evaluation e;
  double f = 0;
  for (double xi : x) f += xi * xi / 2;
  if (WantsValue(wants)) e.value = f;
  if (WantsGradient(wants)) e.gradient = x;
  return e;
}

TEST_F(ClientTest, HealthReportsServing) {
  absl::StatusOr<ServingStatus> status = client_->Health();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ServingStatus::kServing);
  EXPECT_EQ(ServingStatusName(*status), "SERVING");
}

TEST_F(ClientTest, ConnectRejectsAnEmptyAddressAndTimesOut) {
  EXPECT_EQ(Client::Connect("").status().code(),
            absl::StatusCode::kInvalidArgument);
  ClientOptions options;
  options.connect_timeout = absl::Milliseconds(200);
  // Port 1 on loopback: nothing listens there.
  absl::StatusOr<Client> client = Client::Connect("127.0.0.1:1", options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(client.status().message()), HasSubstr("127.0.0.1:1"));
}

TEST_F(ClientTest, SessionSendsRawF64AndDecodesAnswers) {
  absl::StatusOr<Session> session =
      Session::Create(*client_, {4.0, -8.0}, SolverSpec::Lbfgs());
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->id(), "fake-1");
  EXPECT_TRUE(service_.last_create().has_lbfgs());
  EXPECT_EQ(service_.last_create().x0().f64().size(), 16u);
  ASSERT_EQ(session->first_trials().size(), 1u);
  const Trial& first = session->first_trials()[0];
  EXPECT_EQ(first.id, 1u);
  EXPECT_EQ(first.wants, Wants::kValueAndGradient);
  EXPECT_THAT(first.x, ElementsAre(4.0, -8.0));

  absl::StatusOr<Answer> answer = session->Tell(1, 40.0, first.x);
  ASSERT_TRUE(answer.ok()) << answer.status();
  const v1::TellRequest sent = service_.last_tell();
  EXPECT_EQ(sent.session_id(), "fake-1");
  EXPECT_EQ(sent.value(), 40.0);
  EXPECT_EQ(sent.gradient().f64().size(), 16u);
  EXPECT_EQ(sent.gradient().values_size(), 0);
  EXPECT_FALSE(answer->finished());
  ASSERT_EQ(answer->trials.size(), 1u);
  EXPECT_EQ(answer->trials[0].id, 2u);
  EXPECT_THAT(answer->trials[0].x, ElementsAre(3.0, -6.0));

  // A float gradient travels as f32 bytes.
  const std::vector<float> g = {3.0f, -6.0f};
  answer = session->TellF32(2, std::nullopt, g);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(service_.last_tell().gradient().f32().size(), 8u);
  EXPECT_FALSE(service_.last_tell().has_value());

  answer = session->Tell(
      3, HalfSquaredNorm(answer->trials[0].x, Wants::kValueAndGradient));
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->finished());
  EXPECT_TRUE(answer->trials.empty());
  EXPECT_EQ(answer->state, v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(answer->summary->session_id, "fake-1");
  EXPECT_THAT(answer->summary->x, ElementsAre(4.0 * 27 / 64, -8.0 * 27 / 64));
  EXPECT_EQ(answer->summary->brief_report, "fake: done");
  EXPECT_TRUE(answer->summary->success);
}

TEST(DecodeTrials, DecodesHessianWantsAndTheHessianVectorTrialsVector) {
  google::protobuf::RepeatedPtrField<v1::Trial> trials;
  v1::Trial* hessian = trials.Add();
  hessian->set_trial_id(1);
  *hessian->mutable_x() = EncodeF64(std::vector<double>{1.0, 2.0});
  hessian->set_wants(v1::EVALUATION_HESSIAN);
  v1::Trial* hvp = trials.Add();
  hvp->set_trial_id(2);
  *hvp->mutable_x() = EncodeF64(std::vector<double>{1.0, 2.0});
  hvp->set_wants(v1::EVALUATION_HESSIAN_VECTOR);
  *hvp->mutable_vector() = EncodeF64(std::vector<double>{0.5, -0.25});

  absl::StatusOr<std::vector<Trial>> decoded = DecodeTrials(trials);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].wants, Wants::kHessian);
  EXPECT_TRUE(WantsValue(Wants::kHessian));
  EXPECT_TRUE(WantsGradient(Wants::kHessian));
  EXPECT_TRUE(WantsHessian(Wants::kHessian));
  EXPECT_TRUE((*decoded)[0].vector.empty());
  EXPECT_EQ((*decoded)[1].wants, Wants::kHessianVector);
  EXPECT_FALSE(WantsValue(Wants::kHessianVector));
  EXPECT_FALSE(WantsGradient(Wants::kHessianVector));
  EXPECT_TRUE(WantsHessianVector(Wants::kHessianVector));
  EXPECT_THAT((*decoded)[1].vector, ElementsAre(0.5, -0.25));
  EXPECT_EQ(WantsName(Wants::kHessian), "hessian");
  EXPECT_EQ(WantsName(Wants::kHessianVector), "hessian-vector product");

  // A malformed vector is DATA_LOSS.
  hvp->mutable_vector()->set_f64("abc");
  EXPECT_EQ(DecodeTrials(trials).status().code(), absl::StatusCode::kDataLoss);
}

// A stencil batch as the server sends it: trial 1 whole, trials 2..4 as
// deltas from it (a moved coordinate, or the point itself).
google::protobuf::RepeatedPtrField<v1::Trial> StencilTrials(
    const v1::Vector& x, std::vector<double> moved) {
  google::protobuf::RepeatedPtrField<v1::Trial> trials;
  v1::Trial* base = trials.Add();
  base->set_trial_id(1);
  base->set_wants(v1::EVALUATION_VALUE);
  *base->mutable_x() = x;
  for (int k = 1; k <= 3; ++k) {
    v1::Trial* trial = trials.Add();
    trial->set_trial_id(1 + k);
    trial->set_wants(v1::EVALUATION_VALUE);
    trial->set_batch_index(k);
    trial->set_batch_size(4);
    trial->mutable_delta()->set_base_trial_id(1);
    if (k <= 2) {
      trial->mutable_delta()->set_coordinate(k - 1);
      trial->mutable_delta()->set_value(moved[k - 1]);
    }
  }
  return trials;
}

std::vector<uint64_t> Bits(const std::vector<double>& x) {
  std::vector<uint64_t> bits(x.size());
  std::memcpy(bits.data(), x.data(), 8 * x.size());
  return bits;
}

TEST(DecodeTrials, BuildsDeltaTrialsFromTheBasePointBitwise) {
  const std::vector<double> x = {-1.2, 1.0 / 3.0, 0.0};
  // Values that no arithmetic on x would give: they are copied, not formed.
  const std::vector<double> moved = {-1.2000072669, 0.33333334326744080};
  absl::StatusOr<std::vector<Trial>> decoded =
      DecodeTrials(StencilTrials(EncodeF64(x), moved));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 4u);
  EXPECT_EQ(Bits((*decoded)[0].x), Bits(x));
  EXPECT_EQ(Bits((*decoded)[1].x), Bits({moved[0], x[1], x[2]}));
  EXPECT_EQ(Bits((*decoded)[2].x), Bits({x[0], moved[1], x[2]}));
  EXPECT_EQ(Bits((*decoded)[3].x), Bits(x));
  EXPECT_EQ((*decoded)[2].batch_index, 2);
  EXPECT_EQ((*decoded)[2].batch_size, 4);

  // A float32 answer: the base widened exactly, the value already a float.
  const std::vector<float> x32 = {-1.2f, 1.0f / 3.0f, 0.0f};
  v1::Vector f32;
  f32.set_f32(std::string(reinterpret_cast<const char*>(x32.data()), 12));
  decoded = DecodeTrials(
      StencilTrials(f32, {static_cast<float>(-1.2000072669), 0.5f}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[1].x,
            std::vector<double>({static_cast<float>(-1.2000072669),
                                 static_cast<double>(x32[1]), 0.0}));

  // A worker that holds only stencil trials: the base comes in base_points.
  google::protobuf::RepeatedPtrField<v1::Trial> stencil =
      StencilTrials(EncodeF64(x), moved);
  stencil.DeleteSubrange(0, 1);
  google::protobuf::RepeatedPtrField<v1::BasePoint> bases;
  v1::BasePoint* base = bases.Add();
  base->set_trial_id(1);
  *base->mutable_x() = EncodeF64(x);
  decoded = DecodeTrials(stencil, bases);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 3u);
  EXPECT_EQ(Bits((*decoded)[0].x), Bits({moved[0], x[1], x[2]}));
  absl::StatusOr<Trial> one = DecodeTrial(1, stencil, bases);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->id, 3u);
  EXPECT_EQ(Bits(one->x), Bits({x[0], moved[1], x[2]}));
}

TEST(DecodeTrials, ADeltaWithoutItsBaseOrOutOfRangeIsDataLoss) {
  google::protobuf::RepeatedPtrField<v1::Trial> stencil =
      StencilTrials(EncodeF64({1.0, 2.0}), {1.5, 2.5});
  stencil.DeleteSubrange(0, 1);
  EXPECT_THAT(
      DecodeTrials(stencil).status(),
      ::testing::AllOf(
          ::testing::Property(&absl::Status::code, absl::StatusCode::kDataLoss),
          ::testing::Property(
              &absl::Status::message,
              HasSubstr("trial 2 is built from trial 1, whose point "
                        "the answer does not carry"))));
  google::protobuf::RepeatedPtrField<v1::Trial> wide =
      StencilTrials(EncodeF64({1.0, 2.0}), {1.5, 2.5});
  wide.Mutable(2)->mutable_delta()->set_coordinate(2);
  EXPECT_THAT(DecodeTrials(wide).status().message(),
              HasSubstr("trial 3 moves coordinate 2 of a point of 2 elements"));
}

TEST(MakeTellRequest, CarriesHessianPayloadsAsF64BytesOrValues) {
  Evaluation e;
  e.value = 3.0;
  e.gradient = {1.0, 2.0};
  e.hessian = {2.0, 0.5, 0.5, 4.0};
  v1::TellRequest tell = MakeTellRequest(7, e, v1::VECTOR_ENCODING_F64);
  EXPECT_EQ(tell.trial_id(), 7u);
  EXPECT_EQ(tell.value(), 3.0);
  EXPECT_EQ(tell.gradient().f64().size(), 16u);
  EXPECT_EQ(tell.hessian().f64().size(), 32u);
  EXPECT_EQ(tell.hessian().values_size(), 0);
  EXPECT_FALSE(tell.has_hessian_vector());
  absl::StatusOr<std::vector<double>> h = DecodeVector(tell.hessian());
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(*h, ElementsAre(2.0, 0.5, 0.5, 4.0));

  Evaluation hv;
  hv.hessian_vector = {-1.0, 0.125};
  tell = MakeTellRequest(8, hv, v1::VECTOR_ENCODING_VALUES);
  EXPECT_FALSE(tell.has_value());
  EXPECT_FALSE(tell.has_gradient());
  EXPECT_FALSE(tell.has_hessian());
  EXPECT_THAT(tell.hessian_vector().values(), ElementsAre(-1.0, 0.125));
}

TEST_F(ClientTest, TellSendsHessianAndHessianVectorAndTrustRegionOptions) {
  v1::TrustRegionOptions options;
  options.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  SolverSpec spec = SolverSpec::TrustRegion(options);
  EXPECT_EQ(spec.name(), "trust_region");
  absl::StatusOr<Session> session =
      Session::Create(*client_, {4.0, -8.0}, spec);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(service_.last_create().has_trust_region());
  EXPECT_EQ(service_.last_create().trust_region().subproblem(),
            v1::TrustRegionOptions::SUBPROBLEM_EXACT);

  Evaluation e = HalfSquaredNorm({4.0, -8.0}, Wants::kValueAndGradient);
  e.hessian = {1.0, 0.0, 0.0, 1.0};
  e.hessian_vector = {0.5, 0.5};
  ASSERT_TRUE(session->Tell(1, e).ok());
  const v1::TellRequest sent = service_.last_tell();
  EXPECT_EQ(sent.session_id(), "fake-1");
  EXPECT_EQ(sent.hessian().f64().size(), 32u);
  EXPECT_EQ(sent.hessian_vector().f64().size(), 16u);
}

TEST_F(ClientTest, RunStreamSendsTheTrialObjectivesHessian) {
  int calls = 0;
  absl::StatusOr<Result> result = RunStream(
      *client_, {4.0}, SolverSpec::TrustRegion(), [&](const Trial& trial) {
        ++calls;
        Evaluation e = HalfSquaredNorm(trial.x, trial.wants);
        e.hessian = {1.0};
        return e;
      });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(calls, kSteps);
  EXPECT_EQ(service_.last_tell().hessian().f64().size(), 8u);
}

TEST_F(ClientTest, ErrorsCarryTheServersCodeAndMessage) {
  absl::StatusOr<Session> session =
      Session::Create(*client_, {1.0, 2.0}, SolverSpec::Adam());
  ASSERT_TRUE(session.ok());
  const std::vector<double> wrong = {1.0, 2.0, 3.0};
  absl::StatusOr<Answer> answer = session->Tell(1, 1.0, wrong);
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(answer.status().message(),
            "gradient has 3 elements; session \"fake-1\" has dimension 2");
  answer = session->Tell(7, 1.0, {1.0, 2.0});
  EXPECT_EQ(answer.status().code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(client_->GetSession("nope").status(),
            absl::NotFoundError("session \"nope\" not found"));
  EXPECT_TRUE(session->Delete().ok());
  EXPECT_EQ(session->Delete(),
            absl::NotFoundError("session \"fake-1\" not found"));
  EXPECT_EQ(Session::Create(*client_, {}, SolverSpec::Lbfgs()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, ListSessionsFollowsEveryPage) {
  for (const char* id : {"a", "b", "c"}) {
    SessionOptions options;
    options.session_id = id;
    ASSERT_TRUE(
        Session::Create(*client_, {1.0}, SolverSpec::AdamW(), options).ok());
  }
  absl::StatusOr<std::vector<v1::Session>> sessions = client_->ListSessions();
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  ASSERT_EQ(sessions->size(), 3u);
  EXPECT_EQ((*sessions)[2].session_id(), "c");
  EXPECT_TRUE(service_.last_create().has_adamw());
}

TEST_F(ClientTest, RunStreamEvaluatesEveryTrialUntilTheSummary) {
  int calls = 0;
  SessionOptions options;
  options.labels["k"] = "v";
  options.encoding = v1::VECTOR_ENCODING_VALUES;
  absl::StatusOr<Result> result = RunStream(
      *client_, {4.0}, SolverSpec::Lbfgs(),
      [&](const std::vector<double>& x, Wants wants) {
        ++calls;
        return HalfSquaredNorm(x, wants);
      },
      options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(calls, kSteps);
  EXPECT_THAT(result->x, ElementsAre(4.0 * 27 / 64));
  EXPECT_EQ(result->iterations, kSteps);
  EXPECT_EQ(service_.last_create().labels().at("k"), "v");
  // VALUES sessions send packed doubles.
  EXPECT_EQ(service_.last_tell().gradient().values_size(), 1);
}

TEST_F(ClientTest, RunStreamReturnsARefusedTell) {
  absl::StatusOr<Result> result =
      RunStream(*client_, {4.0, 5.0}, SolverSpec::Lbfgs(),
                [](const std::vector<double>&, Wants) {
                  Evaluation e;
                  e.value = 1.0;
                  e.gradient = {1.0};  // one element short
                  return e;
                });
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("gradient has 1 elements"));
}

TEST_F(ClientTest, MinimizeDeletesTheSessionItRan) {
  absl::StatusOr<Result> result =
      Minimize(*client_, HalfSquaredNorm, {2.0, 2.0});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->success);
  EXPECT_EQ(client_->GetSession(result->session_id).status().code(),
            absl::StatusCode::kNotFound);

  MinimizeOptions keep;
  keep.delete_session = false;
  result = Minimize(*client_, HalfSquaredNorm, {2.0}, keep);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(client_->GetSession(result->session_id).ok());
}

TEST_F(ClientTest, MinimizeByAddressReportsAnUnreachableServer) {
  MinimizeOptions options;
  options.client.connect_timeout = absl::Milliseconds(100);
  EXPECT_EQ(
      Minimize("127.0.0.1:1", HalfSquaredNorm, {1.0}, options).status().code(),
      absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace optd::client
