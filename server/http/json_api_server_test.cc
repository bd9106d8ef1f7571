// The JSON API as OptdServer serves it: on the metrics port, beside gRPC, and
// off on a non-loopback address without tokens unless the option says so.
#include <string>
#include <thread>

// First: it includes Eigen (solvers/lbfgs), whose headers fail to compile
// after httplib.h.
#include "server/testing/server_fixture.h"
// The rest.
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace optd::server {
namespace {

using ::testing::HasSubstr;

class JsonApiServerTest : public testing::ServerFixture {
 protected:
  void StartWithMetrics(const std::string& metrics_host,
                        bool allow_unauthenticated = false) {
    ServerOptions options;
    options.metrics_port = 0;
    options.metrics_host = metrics_host;
    options.http_api_allow_unauthenticated = allow_unauthenticated;
    StartServer(options);
  }

  httplib::Result HttpGet(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->metrics_port());
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(5, 0);
    return client.Get(path.c_str());
  }
};

TEST_F(JsonApiServerTest, ServesWhatGetSessionAnswers) {
  StartWithMetrics("127.0.0.1");
  CreateLbfgs("rosen-1");
  httplib::Result result = HttpGet("/api/v1/sessions/rosen-1");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  ASSERT_EQ(result->status, 200) << result->body;
  v1::Session served;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(result->body, &served).ok());
  const v1::Session described = Get("rosen-1");
  EXPECT_EQ(served.session_id(), "rosen-1");
  EXPECT_EQ(served.state(), described.state());
  EXPECT_EQ(served.create_time().seconds(), described.create_time().seconds());
  EXPECT_EQ(served.pending_trial_ids_size(), 1);
  // /metrics is still there.
  httplib::Result metrics = HttpGet("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
}

TEST_F(JsonApiServerTest, OffOnAnyAddressWithoutTokensUnlessAllowed) {
  StartWithMetrics("0.0.0.0");
  CreateLbfgs("rosen-1");
  httplib::Result refused = HttpGet("/api/v1/sessions");
  ASSERT_TRUE(refused) << httplib::to_string(refused.error());
  EXPECT_EQ(refused->status, 403);
  EXPECT_THAT(refused->body, HasSubstr("--http_api_allow_unauthenticated"));
  httplib::Result metrics = HttpGet("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);

  StartWithMetrics("0.0.0.0", /*allow_unauthenticated=*/true);
  CreateLbfgs("rosen-1");
  httplib::Result allowed = HttpGet("/api/v1/sessions");
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200);
  EXPECT_THAT(allowed->body, HasSubstr("\"sessionId\":\"rosen-1\""));
}

TEST_F(JsonApiServerTest, ShutdownEndsALongPollAtOnce) {
  StartWithMetrics("127.0.0.1");
  CreateLbfgs("rosen-1");
  int status = 0;
  std::string body;
  std::thread poller([&] {
    httplib::Client client("127.0.0.1", server_->metrics_port());
    client.set_read_timeout(40, 0);
    httplib::Result polled = client.Get(
        "/api/v1/sessions/rosen-1/history?since_tells=0&wait_seconds=30");
    if (polled) {
      status = polled->status;
      body = polled->body;
    }
  });
  // Time for the request to start waiting (json_api_poll_test.cc watches
  // the wait itself).
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Now() + absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  poller.join();
  EXPECT_EQ(status, 200);
  EXPECT_THAT(body, HasSubstr("\"tells\":\"0\""));
}

}  // namespace
}  // namespace optd::server
