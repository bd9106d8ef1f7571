#include "server/http/json_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_http_server.h"
#include "server/testing/rosenbrock.h"
#include "server/testing/session_steps.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::NextRosenbrockTell;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-token-0123456789";
constexpr char kBobToken[] = "bob-token-0123456789ab";
constexpr char kReplicaToken[] = "replica-token-01234567";

v1::CreateSessionRequest LbfgsRequest(const std::string& id) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  *request.mutable_x0() = Values({-1.2, 1.0});
  request.mutable_lbfgs();
  return request;
}

// What the API prints for `message`.
std::string Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(message, &json, options)
          .ok());
  return json + "\n";
}

google::protobuf::Struct ParseObject(const std::string& body) {
  google::protobuf::Struct object;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(body, &object).ok())
      << body;
  return object;
}

// Serves a SessionManager's JSON API on a loopback port of its own, and
// calls it with a real HTTP client.
class JsonApiTest : public ::testing::Test {
 protected:
  // Authentication off unless `tokens` (a tokens file's text).
  void Serve(const std::string& tokens = "") {
    if (!tokens.empty()) {
      tokens_path_ = absl::StrCat(
          ::testing::TempDir(), "/json_api_tokens_",
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
      std::ofstream(tokens_path_, std::ios::trunc) << tokens;
    }
    absl::StatusOr<std::unique_ptr<Authenticator>> auth =
        Authenticator::Create(tokens_path_);
    ASSERT_OK(auth);
    auth_ = *std::move(auth);
    api_ = std::make_unique<JsonApi>(&sessions_, auth_.get(), absl::OkStatus(),
                                     &registry_);
    http_ = std::make_unique<MetricsHttpServer>(&registry_);
    http_->Route(JsonApi::kPrefix,
                 [api = api_.get()](const HttpRequest& request) {
                   return api->Handle(request);
                 });
    ASSERT_OK(http_->Start("127.0.0.1", 0));
  }

  void TearDown() override {
    if (http_ != nullptr) http_->Stop();
    if (!tokens_path_.empty()) std::remove(tokens_path_.c_str());
  }

  // Creates `id` and tells it `tells` Rosenbrock evaluations.
  void CreateSession(const std::string& id, int tells = 0,
                     std::map<std::string, std::string> labels = {}) {
    v1::CreateSessionRequest request = LbfgsRequest(id);
    request.mutable_labels()->insert(labels.begin(), labels.end());
    absl::StatusOr<std::shared_ptr<Session>> session =
        sessions_.Create(request);
    ASSERT_OK(session);
    for (int i = 0; i < tells; ++i) {
      v1::TellResponse answer;
      ASSERT_OK((*session)->Tell(NextRosenbrockTell(**session), &answer));
    }
  }

  httplib::Result Get(const std::string& path, const std::string& token = "") {
    httplib::Client client("127.0.0.1", http_->port());
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(5, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return client.Get(path.c_str(), headers);
  }

  // GETs `path` and expects the error `code` with `status`.
  void ExpectError(const std::string& path, int status, const std::string& code,
                   const std::string& message_part,
                   const std::string& token = "") {
    httplib::Result result = Get(path, token);
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, status) << path << ": " << result->body;
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
    const google::protobuf::Struct body = ParseObject(result->body);
    const google::protobuf::Struct& error =
        body.fields().at("error").struct_value();
    EXPECT_EQ(error.fields().at("code").string_value(), code) << path;
    EXPECT_THAT(error.fields().at("message").string_value(),
                HasSubstr(message_part))
        << path;
  }

  v1::Session Describe(const std::string& id, bool include_trials = false) {
    v1::GetSessionRequest request;
    request.set_session_id(id);
    request.set_include_trials(include_trials);
    v1::Session session;
    EXPECT_OK(sessions_.Get(request, &session));
    return session;
  }

  SessionManager sessions_;
  MetricsRegistry registry_;
  std::string tokens_path_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<JsonApi> api_;
  std::unique_ptr<MetricsHttpServer> http_;
};

TEST_F(JsonApiTest, GetSessionIsGetSessionsMessage) {
  CreateSession("rosen-1", 6);
  Serve();
  httplib::Result result = Get("/api/v1/sessions/rosen-1");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(result->body, Json(Describe("rosen-1")));
  // No x of the session without asking for it.
  EXPECT_THAT(result->body, ::testing::Not(HasSubstr("bestX\":{\"values")));
}

TEST_F(JsonApiTest, ListsInPagesAsListSessions) {
  for (const char* id : {"a", "b", "c", "d", "e"}) {
    CreateSession(id, 0, {{"team", id[0] <= 'b' ? "red" : "blue"}});
  }
  v1::TellResponse answer;
  v1::TellRequest stop;
  stop.set_stop(true);
  ASSERT_OK((*sessions_.Find("e"))->Tell(stop, &answer));
  Serve();

  std::vector<std::string> ids;
  std::string token;
  for (int page = 0; page < 5; ++page) {
    httplib::Result result =
        Get(absl::StrCat("/api/v1/sessions?page_size=2&page_token=", token));
    ASSERT_TRUE(result);
    ASSERT_EQ(result->status, 200) << result->body;
    v1::ListSessionsRequest request;
    request.set_page_size(2);
    request.set_page_token(token);
    v1::ListSessionsResponse expected;
    ASSERT_OK(sessions_.List(request, &expected));
    EXPECT_EQ(result->body, Json(expected));
    for (const v1::Session& s : expected.sessions()) {
      ids.push_back(s.session_id());
    }
    token = expected.next_page_token();
    if (token.empty()) break;
  }
  EXPECT_EQ(ids, std::vector<std::string>({"a", "b", "c", "d", "e"}));

  v1::ListSessionsResponse filtered;
  httplib::Result red = Get("/api/v1/sessions?label=team:red");
  ASSERT_TRUE(red);
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(red->body, &filtered).ok());
  ASSERT_EQ(filtered.sessions_size(), 2);
  EXPECT_EQ(filtered.sessions(1).session_id(), "b");

  for (const char* state : {"stopped", "SESSION_STATE_STOPPED"}) {
    httplib::Result stopped =
        Get(absl::StrCat("/api/v1/sessions?label=team:blue&state=", state));
    ASSERT_TRUE(stopped);
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(stopped->body, &filtered)
            .ok());
    ASSERT_EQ(filtered.sessions_size(), 1) << state;
    EXPECT_EQ(filtered.sessions(0).session_id(), "e");
  }
}

TEST_F(JsonApiTest, HistoryKeepsFirstLastAndBestWithinMaxPoints) {
  CreateSession("rosen-1", 30);
  Serve();
  const v1::Session session = Describe("rosen-1");
  const int total = session.history_size();
  ASSERT_GT(total, 5);

  httplib::Result all = Get("/api/v1/sessions/rosen-1/history");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  google::protobuf::Struct body = ParseObject(all->body);
  EXPECT_EQ(body.fields().at("sessionId").string_value(), "rosen-1");
  EXPECT_EQ(body.fields().at("totalPoints").number_value(),
            session.iterations());
  EXPECT_EQ(body.fields().at("history").list_value().values_size(), total);

  for (int max_points : {3, 4, total - 1}) {
    httplib::Result few = Get(absl::StrCat(
        "/api/v1/sessions/rosen-1/history?max_points=", max_points));
    ASSERT_TRUE(few);
    ASSERT_EQ(few->status, 200) << few->body;
    body = ParseObject(few->body);
    const auto& points = body.fields().at("history").list_value().values();
    ASSERT_LE(points.size(), max_points);
    ASSERT_GE(points.size(), 2);
    auto iteration = [&](int i) {
      return static_cast<int64_t>(std::stod(
          points[i].struct_value().fields().at("iteration").string_value()));
    };
    EXPECT_EQ(iteration(0), session.history(0).iteration());
    EXPECT_EQ(iteration(points.size() - 1),
              session.history(total - 1).iteration());
    // The best value is among them.
    double best = session.history(0).value();
    for (const v1::HistoryEntry& e : session.history()) {
      best = std::min(best, e.value());
    }
    bool has_best = false;
    for (const auto& point : points) {
      has_best |=
          point.struct_value().fields().at("value").number_value() == best;
    }
    EXPECT_TRUE(has_best) << max_points;
  }
}

// A run longer than the recent history: the history endpoint plots the
// whole run from the overview (GetSession include_history_overview) joined
// with the recent iterates, and totalPoints counts every iterate.
TEST_F(JsonApiTest, HistorySpansALongRunThroughTheOverview) {
  constexpr int kTells = 5000;
  v1::CreateSessionRequest create = LbfgsRequest("long");
  create.mutable_adam();
  absl::StatusOr<std::shared_ptr<Session>> created = sessions_.Create(create);
  ASSERT_OK(created);
  for (int i = 0; i < kTells; ++i) {
    v1::TellResponse answer;
    ASSERT_OK((*created)->Tell(NextRosenbrockTell(**created), &answer));
  }
  Serve();
  v1::GetSessionRequest get;
  get.set_session_id("long");
  get.set_include_history_overview(true);
  v1::Session session;
  ASSERT_OK(sessions_.Get(get, &session));
  ASSERT_EQ(session.iterations(), kTells);
  ASSERT_EQ(session.history_size(), 100);
  // 5000 iterates at stride 16 (512 * 16 > 5000 > 512 * 8): 313, and the
  // best when it fell between them.
  ASSERT_GE(session.history_overview_size(), 313);
  ASSERT_LE(session.history_overview_size(), 314);
  std::set<int64_t> expected;
  for (const v1::HistoryEntry& e : session.history_overview()) {
    expected.insert(e.iteration());
  }
  for (const v1::HistoryEntry& e : session.history()) {
    expected.insert(e.iteration());
  }
  // ListSessions and a plain GetSession leave it out.
  EXPECT_EQ(Describe("long").history_overview_size(), 0);

  const auto iterations = [](const google::protobuf::Struct& body) {
    std::vector<int64_t> out;
    for (const auto& point :
         body.fields().at("history").list_value().values()) {
      out.push_back(static_cast<int64_t>(std::stod(
          point.struct_value().fields().at("iteration").string_value())));
    }
    return out;
  };
  httplib::Result all = Get("/api/v1/sessions/long/history?max_points=10000");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  google::protobuf::Struct body = ParseObject(all->body);
  EXPECT_EQ(body.fields().at("totalPoints").number_value(), kTells);
  EXPECT_EQ(iterations(body),
            std::vector<int64_t>(expected.begin(), expected.end()));

  httplib::Result few = Get("/api/v1/sessions/long/history?max_points=50");
  ASSERT_TRUE(few);
  ASSERT_EQ(few->status, 200) << few->body;
  body = ParseObject(few->body);
  EXPECT_EQ(body.fields().at("totalPoints").number_value(), kTells);
  const std::vector<int64_t> kept = iterations(body);
  ASSERT_LE(kept.size(), 50u);
  ASSERT_GE(kept.size(), 40u);
  EXPECT_EQ(kept.front(), 1);
  EXPECT_EQ(kept.back(), kTells);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_EQ(std::adjacent_find(kept.begin(), kept.end()), kept.end());
  // Spread over the whole run, not just its recent end.
  EXPECT_LT(kept[kept.size() / 2], 3 * kTells / 4);
  bool has_best = false;
  for (const auto& point : body.fields().at("history").list_value().values()) {
    has_best |= point.struct_value().fields().at("value").number_value() ==
                session.best_value();
  }
  EXPECT_TRUE(has_best);
}

TEST_F(JsonApiTest, TrialsComeInPagesAfterAnId) {
  CreateSession("rosen-1", 9);
  Serve();
  const v1::Session session = Describe("rosen-1", /*include_trials=*/true);
  ASSERT_EQ(session.trial_log_size(), 9);

  std::vector<std::string> ids;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    httplib::Result result = Get(
        absl::StrCat("/api/v1/sessions/rosen-1/trials?limit=4",
                     after.empty() ? "" : absl::StrCat("&after_id=", after)));
    ASSERT_TRUE(result);
    ASSERT_EQ(result->status, 200) << result->body;
    const google::protobuf::Struct body = ParseObject(result->body);
    const auto& trials = body.fields().at("trials").list_value().values();
    EXPECT_LE(trials.size(), 4);
    for (const auto& trial : trials) {
      ids.push_back(trial.struct_value().fields().at("trialId").string_value());
    }
    EXPECT_EQ(body.fields().at("trialLogDropped").string_value(), "0");
    after = body.fields().at("nextAfterId").string_value();
    if (after.empty()) break;
    EXPECT_EQ(after, ids.back());
  }
  std::vector<std::string> expected;
  for (const v1::TrialRecord& r : session.trial_log()) {
    expected.push_back(absl::StrCat(r.trial_id()));
  }
  EXPECT_EQ(ids, expected);

  // One record as the proto's JSON prints it.
  httplib::Result first = Get("/api/v1/sessions/rosen-1/trials?limit=1");
  ASSERT_TRUE(first);
  EXPECT_THAT(first->body,
              HasSubstr(absl::StrCat(
                  "\"trials\":[",
                  Json(session.trial_log(0))
                      .substr(0, Json(session.trial_log(0)).size() - 1),
                  "]")));
}

TEST_F(JsonApiTest, ErrorsAreJsonWithTheirHttpStatus) {
  CreateSession("rosen-1", 1);
  Serve();
  ExpectError("/api/v1/sessions/nope", 404, "NOT_FOUND",
              "session \"nope\" not found");
  ExpectError("/api/v1/sessions/nope/history", 404, "NOT_FOUND", "nope");
  ExpectError("/api/v1/sessions/nope/trials", 404, "NOT_FOUND", "nope");
  ExpectError("/api/v1/sessions?page_token=garbage", 400, "INVALID_ARGUMENT",
              "page_token");
  ExpectError("/api/v1/sessions?page_size=1001", 400, "INVALID_ARGUMENT",
              "page_size");
  ExpectError("/api/v1/sessions?page_size=ten", 400, "INVALID_ARGUMENT",
              "page_size is \"ten\"");
  ExpectError("/api/v1/sessions?state=sleeping", 400, "INVALID_ARGUMENT",
              "state is \"sleeping\"");
  ExpectError("/api/v1/sessions?label=team", 400, "INVALID_ARGUMENT",
              "key:value");
  ExpectError("/api/v1/sessions?pagesize=2", 400, "INVALID_ARGUMENT",
              "unknown query parameter \"pagesize\"");
  ExpectError("/api/v1/sessions?page_size=1&page_size=2", 400,
              "INVALID_ARGUMENT", "given 2 times");
  ExpectError("/api/v1/sessions/rosen-1/history?max_points=2", 400,
              "INVALID_ARGUMENT",
              "max_points is \"2\"; it must be an integer "
              "in [3, 10000]");
  ExpectError("/api/v1/sessions/rosen-1/history?max_points=10001", 400,
              "INVALID_ARGUMENT", "[3, 10000]");
  ExpectError("/api/v1/sessions/rosen-1/trials?limit=1001", 400,
              "INVALID_ARGUMENT", "limit is \"1001\"");
  ExpectError("/api/v1/sessions/rosen-1/trials?after_id=-1", 400,
              "INVALID_ARGUMENT", "after_id");
  ExpectError("/api/v1/sessions/rosen-1/plots", 404, "NOT_FOUND",
              "no such endpoint");
  ExpectError("/api/v1", 404, "NOT_FOUND", "no such endpoint");

  httplib::Client client("127.0.0.1", http_->port());
  httplib::Result post = client.Post("/api/v1/sessions", "{}", "text/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(JsonApiTest, TokensAndTenantsAsOnTheGrpcPort) {
  CreateSession("alice.exp1", 2);
  CreateSession("alice.exp2");
  CreateSession("bob.exp1");
  Serve(absl::StrCat(kAliceToken, " alice\n", kBobToken, " bob\n",
                     kReplicaToken, " @replicas\n"));

  ExpectError("/api/v1/sessions", 401, "UNAUTHENTICATED",
              "requires a bearer token");
  ExpectError("/api/v1/sessions/exp1", 401, "UNAUTHENTICATED",
              "requires a bearer token");
  ExpectError("/api/v1/sessions", 401, "UNAUTHENTICATED", "not valid here",
              "wrong-token-0123456789");
  ExpectError("/api/v1/sessions", 403, "PERMISSION_DENIED", "@replicas",
              kReplicaToken);
  // Bob's "exp2" is his own namespace's: alice's does not show.
  ExpectError("/api/v1/sessions/exp2", 404, "NOT_FOUND",
              "session \"exp2\" not found", kBobToken);
  ExpectError("/api/v1/sessions/exp2/trials", 404, "NOT_FOUND",
              "session \"exp2\" not found", kBobToken);

  httplib::Result mine = Get("/api/v1/sessions", kAliceToken);
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->status, 200) << mine->body;
  v1::ListSessionsResponse list;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(mine->body, &list).ok());
  ASSERT_EQ(list.sessions_size(), 2);
  EXPECT_EQ(list.sessions(0).session_id(), "exp1");
  EXPECT_EQ(list.sessions(1).session_id(), "exp2");

  httplib::Result exp1 = Get("/api/v1/sessions/exp1", kAliceToken);
  ASSERT_TRUE(exp1);
  v1::Session expected = Describe("alice.exp1");
  expected.set_session_id("exp1");
  EXPECT_EQ(exp1->body, Json(expected));

  httplib::Result history = Get("/api/v1/sessions/exp1/history", kBobToken);
  ASSERT_TRUE(history);
  EXPECT_EQ(history->status, 200);
  EXPECT_EQ(
      ParseObject(history->body).fields().at("totalPoints").number_value(),
      Describe("bob.exp1").iterations());
}

// The metric named `name` in a GET /api/v1/server body.
google::protobuf::Struct Metric(const google::protobuf::Struct& body,
                                const std::string& name) {
  for (const google::protobuf::Value& metric :
       body.fields().at("metrics").list_value().values()) {
    if (metric.struct_value().fields().at("name").string_value() == name) {
      return metric.struct_value();
    }
  }
  ADD_FAILURE() << "no metric " << name;
  return {};
}

TEST_F(JsonApiTest, ServerIsASnapshotOfTheMetrics) {
  registry_.RegisterCounter("optd_steps_total", "Steps.", {"solver"})
      ->Add({"lbfgs"}, 7);
  registry_.RegisterGaugeCallback("optd_sessions", "Sessions.", {"state"}, [] {
    return std::vector<LabeledValue>{{{"RUNNING"}, 3}, {{"FAILED"}, 1}};
  });
  HistogramFamily* latency = registry_.RegisterHistogram(
      "optd_rpc_duration_seconds", "Latency.", {"method"}, {0.01, 0.1});
  latency->Observe({"Tell"}, 0.005);
  latency->Observe({"Tell"}, 0.05);
  latency->Observe({"Tell"}, 3);
  registry_.RegisterGauge("optd_nan", "Not a number.")->Set({}, std::nan(""));
  Serve();
  const double before = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  httplib::Result result = Get("/api/v1/server");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  const google::protobuf::Struct body = ParseObject(result->body);
  EXPECT_GE(body.fields().at("timeUnixSeconds").number_value(), before - 1);
  EXPECT_LE(body.fields().at("timeUnixSeconds").number_value(), before + 60);
  ASSERT_EQ(body.fields().at("metrics").list_value().values_size(), 4);

  const google::protobuf::Struct steps = Metric(body, "optd_steps_total");
  EXPECT_EQ(steps.fields().at("type").string_value(), "counter");
  EXPECT_EQ(steps.fields().at("help").string_value(), "Steps.");
  // Samples in label order, labels by name.
  EXPECT_THAT(result->body,
              HasSubstr("\"samples\":[{\"labels\":{\"state\":\"FAILED\"},"
                        "\"value\":1},{\"labels\":{\"state\":\"RUNNING\"},"
                        "\"value\":3}]"));
  EXPECT_THAT(result->body,
              HasSubstr("{\"labels\":{\"solver\":\"lbfgs\"},\"value\":7}"));
  EXPECT_EQ(Metric(body, "optd_sessions").fields().at("type").string_value(),
            "gauge");
  // Histograms: cumulative buckets, the last "+Inf", the count and sum.
  EXPECT_THAT(
      result->body,
      HasSubstr("{\"labels\":{\"method\":\"Tell\"},\"count\":3,\"sum\":3.055,"
                "\"buckets\":[{\"le\":0.01,\"count\":1},{\"le\":0.1,"
                "\"count\":2},{\"le\":\"+Inf\",\"count\":3}]}"));
  // Non-finite values are strings.
  EXPECT_THAT(result->body, HasSubstr("{\"labels\":{},\"value\":\"NaN\"}"));
  ExpectError("/api/v1/server?x=1", 400, "INVALID_ARGUMENT",
              "unknown query parameter \"x\"");
}

TEST_F(JsonApiTest, ServerShowsATenantOnlyItsOwnTenantSamples) {
  registry_.RegisterGaugeCallback(
      "optd_tenant_sessions", "Sessions by tenant.", {"tenant"}, [] {
        return std::vector<LabeledValue>{
            {{"alice"}, 2}, {{"bob"}, 1}, {{"-"}, 4}};
      });
  registry_.RegisterGauge("optd_optimize_streams", "Streams.")->Set({}, 5);
  Serve(absl::StrCat(kAliceToken, " alice\n", kBobToken, " bob\n",
                     kReplicaToken, " @replicas\n"));
  ExpectError("/api/v1/server", 401, "UNAUTHENTICATED",
              "requires a bearer token");
  ExpectError("/api/v1/server", 401, "UNAUTHENTICATED", "not valid here",
              "wrong-token-0123456789");
  ExpectError("/api/v1/server", 403, "PERMISSION_DENIED", "@replicas",
              kReplicaToken);
  httplib::Result alice = Get("/api/v1/server", kAliceToken);
  ASSERT_TRUE(alice);
  ASSERT_EQ(alice->status, 200) << alice->body;
  EXPECT_THAT(alice->body,
              HasSubstr("\"samples\":[{\"labels\":{\"tenant\":\"alice\"},"
                        "\"value\":2}]"));
  EXPECT_THAT(alice->body, Not(HasSubstr("bob")));
  EXPECT_THAT(alice->body, Not(HasSubstr("\"-\"")));
  // Samples without a tenant label are the server's, shown to every tenant.
  EXPECT_THAT(alice->body, HasSubstr("{\"labels\":{},\"value\":5}"));
}

TEST_F(JsonApiTest, ServerWithoutTokensShowsEveryTenant) {
  registry_.RegisterGaugeCallback(
      "optd_tenant_sessions", "Sessions by tenant.", {"tenant"}, [] {
        return std::vector<LabeledValue>{{{"alice"}, 2}, {{"bob"}, 1}};
      });
  Serve();
  httplib::Result all = Get("/api/v1/server");
  ASSERT_TRUE(all);
  EXPECT_THAT(all->body,
              HasSubstr("[{\"labels\":{\"tenant\":\"alice\"},\"value\":2},"
                        "{\"labels\":{\"tenant\":\"bob\"},\"value\":1}]"));
}

TEST(JsonApiExposure, NonLoopbackNeedsTokensOrTheFlag) {
  EXPECT_OK(JsonApi::ExposureCheck("127.0.0.1", false, false));
  EXPECT_OK(JsonApi::ExposureCheck("127.0.0.2", false, false));
  EXPECT_OK(JsonApi::ExposureCheck("::1", false, false));
  EXPECT_OK(JsonApi::ExposureCheck("localhost", false, false));
  EXPECT_OK(JsonApi::ExposureCheck("0.0.0.0", true, false));
  EXPECT_OK(JsonApi::ExposureCheck("0.0.0.0", false, true));
  EXPECT_THAT(JsonApi::ExposureCheck("0.0.0.0", false, false),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("--http_api_allow_unauthenticated")));
  EXPECT_THAT(JsonApi::ExposureCheck("::", false, false),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(JsonApi::ExposureCheck("10.0.0.7", false, false),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST(JsonApiExposure, ARefusedApiAnswersEveryRequest403) {
  SessionManager sessions;
  const absl::Status refusal = JsonApi::ExposureCheck("0.0.0.0", false, false);
  JsonApi api(&sessions, nullptr, refusal);
  HttpRequest request;
  request.method = "GET";
  request.path = "/api/v1/sessions";
  const HttpResponse response = api.Handle(request);
  EXPECT_EQ(response.status, 403);
  EXPECT_THAT(response.body, HasSubstr("\"code\":\"PERMISSION_DENIED\""));
  EXPECT_THAT(response.body, HasSubstr("the JSON API is off"));
}

}  // namespace
}  // namespace optd::server
