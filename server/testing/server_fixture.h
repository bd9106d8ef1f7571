// ServerFixture: a GoogleTest fixture that runs a real OptdServer on
// 127.0.0.1:<free port> and hands tests a stub over loopback, plus the small
// client loops the service tests share (create an L-BFGS session, answer a
// trial with the Rosenbrock function, read a session back).
//
//   class MyTest : public ServerFixture {};
//   TEST_F(MyTest, Works) { v1::CreateSessionResponse r = CreateLbfgs("a"); ...
//   }
//
// Thread-safety: a fixture belongs to one test thread; the server it starts is
// thread-safe.
#ifndef OPTD_SERVER_TESTING_SERVER_FIXTURE_H_
#define OPTD_SERVER_TESTING_SERVER_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "optd/v1/optimizer.grpc.pb.h"
#include "server/rpc/server.h"
#include "server/testing/grpc_matchers.h"
#include "server/testing/rosenbrock.h"
#include "solvers/lbfgs/lbfgs.h"

namespace optd::server::testing {

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions()); }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(5));
  }

  // (Re)starts the server with `options` on a free loopback port.
  void StartServer(ServerOptions options) {
    if (server_ != nullptr) server_->Shutdown(absl::Now());
    options.host = "127.0.0.1";
    options.port = 0;
    absl::StatusOr<std::unique_ptr<OptdServer>> server =
        OptdServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
    args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
    channel_ = grpc::CreateCustomChannel(
        server_->address(), grpc::InsecureChannelCredentials(), args);
    stub_ = v1::Optimizer::NewStub(channel_);
  }

  static v1::CreateSessionRequest LbfgsRequest(const std::string& id,
                                               const std::vector<double>& x0 = {
                                                   -1.2, 1.0}) {
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    *request.mutable_x0() = Values(x0);
    request.mutable_lbfgs();
    return request;
  }

  v1::CreateSessionResponse CreateLbfgs(const std::string& id,
                                        const std::vector<double>& x0 = {-1.2,
                                                                         1.0}) {
    grpc::ClientContext context;
    v1::CreateSessionResponse response;
    EXPECT_GRPC_OK(
        stub_->CreateSession(&context, LbfgsRequest(id, x0), &response));
    return response;
  }

  grpc::Status Tell(const v1::TellRequest& request,
                    v1::TellResponse* response) {
    grpc::ClientContext context;
    return stub_->Tell(&context, request, response);
  }

  v1::Session Get(const std::string& id, bool include_x = false) {
    grpc::ClientContext context;
    v1::GetSessionRequest request;
    request.set_session_id(id);
    request.set_include_x(include_x);
    v1::Session session;
    EXPECT_GRPC_OK(stub_->GetSession(&context, request, &session));
    return session;
  }

  // The tell a correct client sends for `trial` of `session_id` (Rosenbrock).
  static v1::TellRequest RosenbrockTell(const std::string& session_id,
                                        const v1::Trial& trial) {
    std::vector<double> g;
    const double f = Rosenbrock(ToDoubles(trial.x()), &g);
    v1::TellRequest tell;
    tell.set_session_id(session_id);
    tell.set_trial_id(trial.trial_id());
    tell.set_value(f);
    *tell.mutable_gradient() = Values(g);
    return tell;
  }

  // The L-BFGS solver run in-process on Rosenbrock from x0, for the counts a
  // session must reproduce.
  static Summary ReferenceRun(const std::vector<double>& x0) {
    auto solver = Lbfgs::Create(LbfgsOptions(),
                                ConstVectorView::Float64(x0.data(), x0.size()));
    EXPECT_TRUE(solver.ok());
    while (!(*solver)->finished()) {
      std::vector<double> x(x0.size()), g;
      EXPECT_TRUE(
          (*solver)
              ->ReadTrialPoint(MutableVectorView::Float64(x.data(), x.size()))
              .ok());
      const double f = Rosenbrock(x, &g);
      EXPECT_TRUE(
          (*solver)
              ->SetTrialGradient(ConstVectorView::Float64(g.data(), g.size()))
              .ok());
      EXPECT_TRUE((*solver)->Tell({.value = f, .has_gradient = true}).ok());
    }
    return (*solver)->summary();
  }

  std::unique_ptr<OptdServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Optimizer::Stub> stub_;
};

}  // namespace optd::server::testing

#endif  // OPTD_SERVER_TESTING_SERVER_FIXTURE_H_
