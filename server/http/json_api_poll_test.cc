// The JSON API's long polls (since_tells, wait_seconds): what wakes a waiting
// request, what it answers, the 400s, the cap on waiting requests, and that
// stopping the HTTP server ends the waits.
#include <memory>
#include <string>
#include <thread>
#include <vector>

// First: they include Eigen (solvers/), whose headers fail to compile after
// httplib.h.
#include "server/http/json_api.h"
#include "server/testing/rosenbrock.h"
#include "server/testing/session_steps.h"
// The rest.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_http_server.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::NextRosenbrockTell;
using ::optd::server::testing::Values;
using ::testing::HasSubstr;

constexpr char kHistory[] = "/api/v1/sessions/rosen-1/history";

// A GET's answer and how long it took.
struct Timed {
  int status = 0;
  std::string body;
  absl::Duration took;
};

// Serves a SessionManager's JSON API as OptdServer does (StopWaiting() on
// Stop()), with one session "rosen-1" told twice.
class JsonApiPollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::CreateSessionRequest request;
    request.set_session_id("rosen-1");
    *request.mutable_x0() = Values({-1.2, 1.0});
    request.mutable_lbfgs();
    absl::StatusOr<std::shared_ptr<Session>> session =
        sessions_.Create(request);
    ASSERT_OK(session);
    session_ = *session;
    Tell();
    Tell();
    api_ = std::make_unique<JsonApi>(&sessions_, nullptr);
    http_ = std::make_unique<MetricsHttpServer>(&registry_);
    http_->Route(
        JsonApi::kPrefix,
        [api = api_.get()](const HttpRequest& r) { return api->Handle(r); },
        [api = api_.get()] { api->StopWaiting(); });
    ASSERT_OK(http_->Start("127.0.0.1", 0));
  }

  void TearDown() override { http_->Stop(); }

  void Tell() {
    v1::TellResponse answer;
    ASSERT_OK(session_->Tell(NextRosenbrockTell(*session_), &answer));
  }

  Timed Get(const std::string& path) {
    httplib::Client client("127.0.0.1", http_->port());
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(40, 0);
    const absl::Time start = absl::Now();
    httplib::Result result = client.Get(path.c_str());
    Timed timed;
    timed.took = absl::Now() - start;
    if (result) {
      timed.status = result->status;
      timed.body = result->body;
    }
    return timed;
  }

  // Until `n` requests wait (or 5 s pass).
  bool AwaitWaiting(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (api_->waiting_requests() != n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }

  SessionManager sessions_;
  std::shared_ptr<Session> session_;
  MetricsRegistry registry_;
  std::unique_ptr<JsonApi> api_;
  std::unique_ptr<MetricsHttpServer> http_;
};

TEST_F(JsonApiPollTest, ATellWakesEachEndpointWithTheNewBody) {
  for (const std::string endpoint :
       {"/api/v1/sessions/rosen-1", "/api/v1/sessions/rosen-1/history",
        "/api/v1/sessions/rosen-1/trials"}) {
    const int64_t tells = session_->tells();
    Timed polled;
    std::thread poller([&] {
      polled = Get(
          absl::StrCat(endpoint, "?since_tells=", tells, "&wait_seconds=20"));
    });
    ASSERT_TRUE(AwaitWaiting(1)) << endpoint;
    Tell();
    poller.join();
    EXPECT_EQ(polled.status, 200) << polled.body;
    EXPECT_LT(polled.took, absl::Seconds(10)) << endpoint;
    EXPECT_THAT(polled.body,
                HasSubstr(absl::StrCat("\"tells\":\"", tells + 1, "\"")));
    // Exactly the answer without the parameters (the session's own has
    // clocks that move).
    if (endpoint != "/api/v1/sessions/rosen-1") {
      EXPECT_EQ(polled.body, Get(endpoint).body) << endpoint;
    }
    EXPECT_EQ(api_->waiting_requests(), 0);
  }
}

TEST_F(JsonApiPollTest, TimesOutAfterWaitSeconds) {
  const Timed polled =
      Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=0.2"));
  EXPECT_EQ(polled.status, 200) << polled.body;
  EXPECT_GE(polled.took, absl::Milliseconds(200));
  EXPECT_LT(polled.took, absl::Milliseconds(200) + absl::Seconds(2));
  EXPECT_EQ(polled.body, Get(kHistory).body);
  EXPECT_THAT(polled.body, HasSubstr("\"state\":\"SESSION_STATE_RUNNING\","
                                     "\"tells\":\"2\""));
  // An integer works too.
  EXPECT_EQ(Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=0")).status,
            200);
}

TEST_F(JsonApiPollTest, AnswersAtOnceWhenTellsArePast) {
  for (const char* query :
       {"?since_tells=1&wait_seconds=20", "?since_tells=0&wait_seconds=30"}) {
    const Timed polled = Get(absl::StrCat(kHistory, query));
    EXPECT_EQ(polled.status, 200) << polled.body;
    EXPECT_LT(polled.took, absl::Seconds(5)) << query;
  }
}

TEST_F(JsonApiPollTest, AFinishedSessionAnswersAtOnce) {
  v1::TellRequest stop;
  stop.set_stop(true);
  v1::TellResponse answer;
  ASSERT_OK(session_->Tell(stop, &answer));
  const Timed polled = Get(absl::StrCat(
      kHistory, "?since_tells=", session_->tells(), "&wait_seconds=20"));
  EXPECT_EQ(polled.status, 200);
  EXPECT_LT(polled.took, absl::Seconds(5));
  EXPECT_THAT(polled.body, HasSubstr("\"state\":\"SESSION_STATE_STOPPED\""));
}

TEST_F(JsonApiPollTest, AStopWakesTheWait) {
  Timed polled;
  std::thread poller([&] {
    polled = Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=20"));
  });
  ASSERT_TRUE(AwaitWaiting(1));
  v1::TellRequest stop;
  stop.set_stop(true);
  v1::TellResponse answer;
  ASSERT_OK(session_->Tell(stop, &answer));
  poller.join();
  EXPECT_EQ(polled.status, 200) << polled.body;
  EXPECT_LT(polled.took, absl::Seconds(10));
  EXPECT_THAT(polled.body, HasSubstr("\"state\":\"SESSION_STATE_STOPPED\""));
}

TEST_F(JsonApiPollTest, ADeleteWakesTheWaitWith404) {
  Timed polled;
  std::thread poller([&] {
    polled = Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=20"));
  });
  ASSERT_TRUE(AwaitWaiting(1));
  ASSERT_OK(sessions_.Delete("rosen-1"));
  poller.join();
  EXPECT_EQ(polled.status, 404) << polled.body;
  EXPECT_LT(polled.took, absl::Seconds(10));
}

TEST_F(JsonApiPollTest, ParametersComeTogetherAndInRange) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/api/v1/sessions/rosen-1?wait_seconds=5", "since_tells is missing"},
      {"/api/v1/sessions/rosen-1?since_tells=2", "wait_seconds is missing"},
      {"/api/v1/sessions/rosen-1/history?wait_seconds=5",
       "since_tells is missing"},
      {"/api/v1/sessions/rosen-1/history?since_tells=2",
       "wait_seconds is missing"},
      {"/api/v1/sessions/rosen-1/trials?wait_seconds=5",
       "since_tells is missing"},
      {"/api/v1/sessions/rosen-1/trials?since_tells=2",
       "wait_seconds is missing"},
      {"/api/v1/sessions/rosen-1?since_tells=-1&wait_seconds=1",
       "since_tells is \"-1\"; it must be an integer in [0, "
       "9223372036854775807]"},
      {"/api/v1/sessions/rosen-1?since_tells=two&wait_seconds=1",
       "since_tells is \"two\""},
      {"/api/v1/sessions/rosen-1?since_tells=2&wait_seconds=30.5",
       "wait_seconds is \"30.5\"; it must be a number in [0, 30]"},
      {"/api/v1/sessions/rosen-1?since_tells=2&wait_seconds=-0.1",
       "wait_seconds is \"-0.1\""},
      {"/api/v1/sessions/rosen-1?since_tells=2&wait_seconds=nan",
       "wait_seconds is \"nan\""},
      {"/api/v1/sessions/rosen-1?since_tells=2&wait_seconds=soon",
       "wait_seconds is \"soon\""},
      {"/api/v1/sessions/rosen-1?since_tells=2&since_tells=3&wait_seconds=1",
       "given 2 times"},
      // The list polls plainly.
      {"/api/v1/sessions?since_tells=2&wait_seconds=1",
       "unknown query parameter"},
  };
  for (const auto& [path, message] : cases) {
    const Timed answer = Get(path);
    EXPECT_EQ(answer.status, 400) << path;
    google::protobuf::Struct body;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(answer.body, &body).ok())
        << answer.body;
    const google::protobuf::Struct& error =
        body.fields().at("error").struct_value();
    EXPECT_EQ(error.fields().at("code").string_value(), "INVALID_ARGUMENT");
    EXPECT_THAT(error.fields().at("message").string_value(), HasSubstr(message))
        << path;
  }
}

TEST_F(JsonApiPollTest, PastTheCapARequestIsAnsweredAtOnce) {
  std::vector<std::thread> pollers;
  std::vector<Timed> polled(JsonApi::kMaxWaitingRequests);
  for (int i = 0; i < JsonApi::kMaxWaitingRequests; ++i) {
    pollers.emplace_back([&, i] {
      polled[i] = Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=20"));
    });
  }
  ASSERT_TRUE(AwaitWaiting(JsonApi::kMaxWaitingRequests));
  const Timed over =
      Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=20"));
  EXPECT_EQ(over.status, 200) << over.body;
  EXPECT_LT(over.took, absl::Seconds(5));
  EXPECT_THAT(over.body, HasSubstr("\"tells\":\"2\""));
  // The workers left answer the rest.
  httplib::Client client("127.0.0.1", http_->port());
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);

  Tell();
  for (std::thread& poller : pollers) poller.join();
  for (const Timed& answer : polled) {
    EXPECT_EQ(answer.status, 200);
    EXPECT_THAT(answer.body, HasSubstr("\"tells\":\"3\""));
  }
}

TEST_F(JsonApiPollTest, StopEndsTheWaitsPromptly) {
  Timed polled;
  std::thread poller([&] {
    polled = Get(absl::StrCat(kHistory, "?since_tells=2&wait_seconds=30"));
  });
  ASSERT_TRUE(AwaitWaiting(1));
  const absl::Time start = absl::Now();
  http_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  poller.join();
  EXPECT_LT(polled.took, absl::Seconds(10));
  EXPECT_EQ(api_->waiting_requests(), 0);
}

TEST(JsonApiLongPoll, StopEndsWaitsAndLaterOnesAtOnce) {
  SessionManager sessions;
  v1::CreateSessionRequest request;
  request.set_session_id("rosen-1");
  *request.mutable_x0() = Values({-1.2, 1.0});
  request.mutable_lbfgs();
  absl::StatusOr<std::shared_ptr<Session>> session = sessions.Create(request);
  ASSERT_OK(session);
  LongPoll poll(/*max_waiters=*/2);
  EXPECT_EQ(poll.Wait(*session, 0, absl::Milliseconds(50)),
            LongPoll::Outcome::kTimedOut);
  std::vector<LongPoll::Outcome> outcomes(3);
  std::vector<std::thread> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back(
        [&, i] { outcomes[i] = poll.Wait(*session, 0, absl::Seconds(30)); });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (poll.waiting() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(poll.waiting(), 2);
  EXPECT_EQ(poll.Wait(*session, 0, absl::Seconds(30)),
            LongPoll::Outcome::kBusy);
  const absl::Time start = absl::Now();
  poll.Stop();
  for (std::thread& waiter : waiters) waiter.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(outcomes[0], LongPoll::Outcome::kStopped);
  EXPECT_EQ(outcomes[1], LongPoll::Outcome::kStopped);
  EXPECT_EQ(poll.Wait(*session, 0, absl::Seconds(30)),
            LongPoll::Outcome::kStopped);
  EXPECT_EQ(poll.waiting(), 0);
}

}  // namespace
}  // namespace optd::server
