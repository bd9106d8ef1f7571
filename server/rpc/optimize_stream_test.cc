// The Optimize stream of optd.v1.Optimizer against a real server on loopback.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codec/vectors.h"
#include "server/session/solver_factory.h"
#include "server/testing/server_fixture.h"
#include "server/testing/trial_points.h"

namespace optd::server {
namespace {

using ::optd::server::testing::F32;
using ::optd::server::testing::GrpcStatusIs;
using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::ServerFixture;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::server::testing::WithPoints;
using ::testing::HasSubstr;

using Stream =
    grpc::ClientReaderWriter<v1::OptimizeRequest, v1::OptimizeResponse>;

class OptimizeStreamTest : public ServerFixture {
 protected:
  // Sends `request` and reads its one response.
  v1::OptimizeResponse RoundTrip(Stream& stream,
                                 const v1::OptimizeRequest& request) {
    v1::OptimizeResponse response;
    EXPECT_TRUE(stream.Write(request));
    EXPECT_TRUE(stream.Read(&response));
    return response;
  }
  static v1::OptimizeRequest Create(const v1::CreateSessionRequest& create) {
    v1::OptimizeRequest request;
    *request.mutable_create() = create;
    return request;
  }
  static v1::OptimizeRequest Attach(const std::string& id) {
    v1::OptimizeRequest request;
    request.set_attach_session_id(id);
    return request;
  }
  static v1::OptimizeRequest TellOf(v1::TellRequest tell) {
    v1::OptimizeRequest request;
    *request.mutable_tell() = std::move(tell);
    return request;
  }
};

TEST_F(OptimizeStreamTest, AFiniteDifferenceSessionStreamsCompactTrials) {
  // Each answer carries the batch's untold trials, its stencil points as
  // deltas and x once (base_points once trial 0 is told). Rebuilt, the points
  // are the solver's, bit for bit, and the run ends where the solver alone
  // does.
  v1::CreateSessionRequest create = LbfgsRequest("fd", {-1.2, 1.0});
  create.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  absl::StatusOr<ConstVectorView> x0 = DecodeVector(create.x0(), "x0");
  ASSERT_TRUE(x0.ok());
  absl::StatusOr<SolverSetup> alone = CreateSolver(create, *x0);
  ASSERT_TRUE(alone.ok());
  Solver& solver = *alone->solver;
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response = RoundTrip(*stream, Create(create));
  int base_points = 0;
  while (response.trials_size() > 0) {
    ASSERT_EQ(response.error_code(), 0) << response.error_message();
    base_points += response.base_points_size();
    // The first untold trial, as the solver has it.
    const v1::Trial trial = WithPoints(response)[0];
    const int k = trial.batch_index();
    std::vector<double> x(2), g;
    ASSERT_TRUE(
        solver.ReadBatchPoint(k, MutableVectorView::Float64(x.data(), 2)).ok());
    ASSERT_EQ(ToDoubles(trial.x()), x);
    const double f = Rosenbrock(x, &g);
    TrialResult result;
    result.value = f;
    ASSERT_TRUE(solver.TellBatch(k, result).ok());
    v1::TellRequest tell;
    tell.set_trial_id(trial.trial_id());
    tell.set_value(f);
    response = RoundTrip(*stream, TellOf(tell));
  }
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
  EXPECT_GT(base_points, 0);
  ASSERT_TRUE(solver.finished());
  EXPECT_EQ(response.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(response.summary().evaluations(), solver.summary().evaluations);
  std::vector<double> best(2);
  ASSERT_TRUE(
      solver.ReadBestPoint(MutableVectorView::Float64(best.data(), 2)).ok());
  EXPECT_EQ(ToDoubles(response.summary().x()), best);
}

TEST_F(OptimizeStreamTest, RunsRosenbrockToTheSolversAnswer) {
  const std::vector<double> x0 = {-1.2, 1.0};
  const Summary expected = ReferenceRun(x0);
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response =
      RoundTrip(*stream, Create(LbfgsRequest("", x0)));
  ASSERT_EQ(response.error_code(), 0) << response.error_message();
  const std::string id = response.session_id();
  EXPECT_EQ(id.size(), 32u);  // a random id
  EXPECT_EQ(response.state(), v1::SESSION_STATE_RUNNING);
  int tells = 0;
  while (response.trials_size() > 0) {
    ASSERT_LT(tells, 1000);
    v1::TellRequest tell =
        RosenbrockTell("", response.trials(0));  // id may be empty
    response = RoundTrip(*stream, TellOf(tell));
    ASSERT_EQ(response.error_code(), 0) << response.error_message();
    EXPECT_EQ(response.session_id(), id);
    ++tells;
  }
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());

  EXPECT_EQ(response.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(response.summary().iterations(), expected.iterations);
  EXPECT_EQ(response.summary().evaluations(), expected.evaluations);
  EXPECT_EQ(tells, expected.evaluations);
  EXPECT_NEAR(ToDoubles(response.summary().x())[0], 1.0, 1e-4);
  EXPECT_NEAR(ToDoubles(response.summary().x())[1], 1.0, 1e-4);
  EXPECT_EQ(Get(id).state(), v1::SESSION_STATE_CONVERGED);
}

TEST_F(OptimizeStreamTest, ManyStreamsRunAtOnce) {
  constexpr int kStreams = 8;
  const Summary expected = ReferenceRun({-1.2, 1.0});
  std::vector<v1::OptimizeResponse> last(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext context;
      std::unique_ptr<Stream> stream = stub_->Optimize(&context);
      v1::OptimizeResponse response =
          RoundTrip(*stream, Create(LbfgsRequest(absl::StrCat("many-", i))));
      while (response.trials_size() > 0 && response.error_code() == 0) {
        response =
            RoundTrip(*stream, TellOf(RosenbrockTell("", response.trials(0))));
      }
      stream->WritesDone();
      EXPECT_GRPC_OK(stream->Finish());
      last[i] = response;
    });
  }
  for (std::thread& t : threads) t.join();
  for (const v1::OptimizeResponse& response : last) {
    EXPECT_EQ(response.error_code(), 0) << response.error_message();
    EXPECT_EQ(response.summary().evaluations(), expected.evaluations);
  }
  EXPECT_EQ(server_->sessions().size(), kStreams);
}

TEST_F(OptimizeStreamTest, AttachContinuesASession) {
  v1::CreateSessionResponse created = CreateLbfgs("attached");
  v1::TellResponse answer;
  ASSERT_GRPC_OK(Tell(RosenbrockTell("attached", created.trials(0)), &answer));

  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response = RoundTrip(*stream, Attach("attached"));
  ASSERT_EQ(response.error_code(), 0) << response.error_message();
  EXPECT_EQ(response.session_id(), "attached");
  ASSERT_EQ(response.trials_size(), 1);
  EXPECT_EQ(response.trials(0).SerializeAsString(),
            answer.trials(0).SerializeAsString());
  for (int i = 0; i < 3; ++i) {
    response = RoundTrip(
        *stream, TellOf(RosenbrockTell("attached", response.trials(0))));
    ASSERT_EQ(response.error_code(), 0) << response.error_message();
  }
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
  EXPECT_EQ(Get("attached").evaluations(), 4);
}

TEST_F(OptimizeStreamTest, FirstMessageMustOpenASession) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::TellRequest tell;
  tell.set_session_id("x");
  tell.set_trial_id(1);
  stream->Write(TellOf(tell));
  v1::OptimizeResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_THAT(stream->Finish(),
              GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                           "the first OptimizeRequest must set create or "
                           "attach_session_id; tells come after it"));
}

TEST_F(OptimizeStreamTest, EmptyFirstMessageEndsTheStream) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  stream->Write(v1::OptimizeRequest());
  v1::OptimizeResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_THAT(stream->Finish(), GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
                                             HasSubstr("must set create")));
}

TEST_F(OptimizeStreamTest, HalfCloseWithoutRequestsEndsOk) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
}

TEST_F(OptimizeStreamTest, RefusedOpenKeepsTheStreamOpen) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response = RoundTrip(*stream, Attach("missing"));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(response.error_message(), "session \"missing\" not found");
  v1::CreateSessionRequest bad = LbfgsRequest("bad");
  bad.mutable_lbfgs()->set_gtol(-1);
  response = RoundTrip(*stream, Create(bad));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.error_message(), HasSubstr("lbfgs.gtol is -1"));
  EXPECT_EQ(server_->sessions().size(), 0);
  response = RoundTrip(*stream, Create(LbfgsRequest("good")));
  EXPECT_EQ(response.error_code(), 0);
  EXPECT_EQ(response.session_id(), "good");
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
}

TEST_F(OptimizeStreamTest,
       RefusedTellKeepsTheStreamOpenAndTheSessionUnchanged) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response = RoundTrip(
      *stream, Create(LbfgsRequest("rosen-1", std::vector<double>(100, -1.2))));
  ASSERT_EQ(response.error_code(), 0);
  const v1::Trial trial = response.trials(0);
  const v1::Session before = Get("rosen-1", true);

  v1::TellRequest short_gradient = RosenbrockTell("", trial);
  short_gradient.mutable_gradient()->mutable_values()->RemoveLast();
  response = RoundTrip(*stream, TellOf(short_gradient));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.error_message(),
            "gradient has 99 elements; session \"rosen-1\" has dimension 100");
  EXPECT_EQ(response.session_id(), "rosen-1");
  EXPECT_EQ(response.trials_size(), 0);

  v1::TellRequest stale = RosenbrockTell("", trial);
  stale.set_trial_id(5);
  response = RoundTrip(*stream, TellOf(stale));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(response.error_message(),
              HasSubstr("the outstanding trial is 1"));

  v1::TellRequest other = RosenbrockTell("another", trial);
  response = RoundTrip(*stream, TellOf(other));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.error_message(),
              HasSubstr("but this stream serves \"rosen-1\""));

  response = RoundTrip(*stream, Attach("rosen-1"));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.error_message(),
              HasSubstr("already serves session \"rosen-1\""));

  response = RoundTrip(*stream, v1::OptimizeRequest());
  EXPECT_EQ(response.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(Get("rosen-1", true).SerializeAsString(),
            before.SerializeAsString());

  response = RoundTrip(*stream, TellOf(RosenbrockTell("rosen-1", trial)));
  EXPECT_EQ(response.error_code(), 0) << response.error_message();
  EXPECT_EQ(response.trials(0).trial_id(), 2u);
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
}

TEST_F(OptimizeStreamTest, RetriedTellIsADuplicate) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response =
      RoundTrip(*stream, Create(LbfgsRequest("dup")));
  const v1::OptimizeRequest tell =
      TellOf(RosenbrockTell("dup", response.trials(0)));
  v1::OptimizeResponse first = RoundTrip(*stream, tell);
  v1::OptimizeResponse again = RoundTrip(*stream, tell);
  EXPECT_FALSE(first.duplicate());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.trials(0).SerializeAsString(),
            first.trials(0).SerializeAsString());
  EXPECT_EQ(Get("dup").evaluations(), 1);
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
}

TEST_F(OptimizeStreamTest, SessionEncodingAppliesToTheStream) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::CreateSessionRequest create = LbfgsRequest("f32");
  create.set_vector_encoding(v1::VECTOR_ENCODING_F32);
  v1::OptimizeResponse response = RoundTrip(*stream, Create(create));
  EXPECT_EQ(response.trials(0).x().f32().size(), 8u);
  v1::TellRequest tell = RosenbrockTell("", response.trials(0));
  *tell.mutable_gradient() = F32(ToDoubles(tell.gradient()));
  response = RoundTrip(*stream, TellOf(tell));
  ASSERT_EQ(response.error_code(), 0) << response.error_message();
  EXPECT_EQ(response.trials(0).x().f32().size(), 8u);
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
}

TEST_F(OptimizeStreamTest, DeletedSessionAnswersNotFoundOnTheStream) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  v1::OptimizeResponse response =
      RoundTrip(*stream, Create(LbfgsRequest("doomed")));
  ASSERT_TRUE(server_->sessions().Delete("doomed").ok());
  response = RoundTrip(*stream, TellOf(RosenbrockTell("", response.trials(0))));
  EXPECT_EQ(response.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(response.error_message(), "session \"doomed\" not found");
  stream->WritesDone();
  EXPECT_GRPC_OK(stream->Finish());
}

TEST_F(OptimizeStreamTest, ShutdownEndsAnOpenStream) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->Optimize(&context);
  RoundTrip(*stream, Create(LbfgsRequest("open")));
  server_->Shutdown(absl::Now() + absl::Milliseconds(200));
  v1::OptimizeResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_FALSE(stream->Finish().ok());
}

}  // namespace
}  // namespace optd::server
