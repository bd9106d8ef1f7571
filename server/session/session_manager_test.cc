#include "server/session/session_manager.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/rosenbrock.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

v1::CreateSessionRequest LbfgsRequest(const std::string& id,
                                      std::vector<double> x0 = {-1.2, 1.0}) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  *request.mutable_x0() = Values(x0);
  request.mutable_lbfgs();
  return request;
}

std::vector<std::string> Ids(const v1::ListSessionsResponse& response) {
  std::vector<std::string> ids;
  for (const v1::Session& s : response.sessions())
    ids.push_back(s.session_id());
  return ids;
}

TEST(SessionManager, CreatesAndFindsBySessionId) {
  SessionManager manager;
  absl::StatusOr<std::shared_ptr<Session>> created =
      manager.Create(LbfgsRequest("rosen-1"));
  ASSERT_OK(created);
  EXPECT_EQ((*created)->id(), "rosen-1");
  absl::StatusOr<std::shared_ptr<Session>> found = manager.Find("rosen-1");
  ASSERT_OK(found);
  EXPECT_EQ(found->get(), created->get());
  EXPECT_EQ(manager.size(), 1);
}

TEST(SessionManager, PicksRandomHexIds) {
  SessionManager manager;
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::shared_ptr<Session>> created =
        manager.Create(LbfgsRequest(""));
    ASSERT_OK(created);
    EXPECT_THAT((*created)->id(), MatchesRegex("[0-9a-f]{32}"));
    ids.insert((*created)->id());
  }
  EXPECT_EQ(ids.size(), 20u);
}

TEST(SessionManager, TakenIdIsAlreadyExists) {
  SessionManager manager;
  ASSERT_OK(manager.Create(LbfgsRequest("taken")));
  EXPECT_THAT(
      manager.Create(LbfgsRequest("taken")),
      StatusIs(absl::StatusCode::kAlreadyExists,
               "session \"taken\" already exists; pick another id or leave "
               "session_id empty"));
  EXPECT_EQ(manager.size(), 1);
}

TEST(SessionManager, MalformedIdsAreRefused) {
  SessionManager manager;
  for (const std::string& id :
       std::vector<std::string>{"Upper", "-dash-first", "under_score", "dot.s.",
                                "sp ace", std::string(64, 'a')}) {
    EXPECT_THAT(
        manager.Create(LbfgsRequest(id)),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 HasSubstr("is not a valid session id; use 1-63 characters of "
                           "[a-z0-9-] starting with a letter or digit")))
        << id;
  }
  EXPECT_OK(manager.Create(LbfgsRequest(std::string(63, 'a'))));
  EXPECT_OK(manager.Create(LbfgsRequest("0-starts-with-digit")));
  EXPECT_EQ(manager.size(), 2);
}

TEST(SessionManager, LabelsAreValidated) {
  SessionManager manager;
  v1::CreateSessionRequest bad_key = LbfgsRequest("a");
  (*bad_key.mutable_labels())["bad key"] = "v";
  EXPECT_THAT(
      manager.Create(bad_key),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "labels key \"bad key\" is not valid; keys are 1-63 characters "
               "of [a-zA-Z0-9_.-]"));
  v1::CreateSessionRequest empty_key = LbfgsRequest("a");
  (*empty_key.mutable_labels())[""] = "v";
  EXPECT_THAT(manager.Create(empty_key),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("labels key \"\"")));
  v1::CreateSessionRequest long_value = LbfgsRequest("a");
  (*long_value.mutable_labels())["k"] = std::string(257, 'v');
  EXPECT_THAT(
      manager.Create(long_value),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "labels[\"k\"] has 257 characters; at most 256 are allowed"));
  v1::CreateSessionRequest too_many = LbfgsRequest("a");
  for (int i = 0; i < 65; ++i)
    (*too_many.mutable_labels())[absl::StrCat("k", i)] = "v";
  EXPECT_THAT(manager.Create(too_many),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "labels has 65 entries; at most 64 are allowed"));
  v1::CreateSessionRequest fine = LbfgsRequest("a");
  (*fine.mutable_labels())["Team.Name_1-x"] = std::string(256, 'v');
  EXPECT_OK(manager.Create(fine));
}

TEST(SessionManager, ShardsAboveOneNeedMoreReplicas) {
  SessionManager manager;
  v1::CreateSessionRequest request = LbfgsRequest("sharded");
  request.set_shards(4);
  EXPECT_THAT(
      manager.Create(request),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("shards is 4 but this server has one replica")));
  request.set_shards(-1);
  EXPECT_THAT(
      manager.Create(request),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shards is -1")));
  request.set_shards(1);
  EXPECT_OK(manager.Create(request));
}

TEST(SessionManager, X0MustBeGiven) {
  SessionManager manager;
  v1::CreateSessionRequest request = LbfgsRequest("no-x0");
  request.clear_x0();
  EXPECT_THAT(
      manager.Create(request),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x0 is empty")));
  request = LbfgsRequest("two-encodings");
  request.mutable_x0()->set_f32(std::string(8, '\0'));
  EXPECT_THAT(
      manager.Create(request),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "x0 sets both values and f32; set exactly one encoding"));
  EXPECT_EQ(manager.size(), 0);
}

TEST(SessionManager, BadOptionsAndEncodingAreRefused) {
  SessionManager manager;
  v1::CreateSessionRequest request = LbfgsRequest("bad");
  request.mutable_lbfgs()->set_memory(0);
  EXPECT_THAT(manager.Create(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lbfgs.memory is 0")));
  request = LbfgsRequest("bad");
  request.set_vector_encoding(static_cast<v1::VectorEncoding>(8));
  EXPECT_THAT(manager.Create(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("vector_encoding is 8")));
  request = LbfgsRequest("bad");
  request.clear_lbfgs();
  EXPECT_THAT(manager.Create(request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("solver is not set")));
  EXPECT_EQ(manager.size(), 0);
}

TEST(SessionManager, SessionLimitIsResourceExhausted) {
  SessionManager manager({.max_sessions = 2});
  ASSERT_OK(manager.Create(LbfgsRequest("a")));
  ASSERT_OK(manager.Create(LbfgsRequest("b")));
  EXPECT_THAT(manager.Create(LbfgsRequest("c")),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("this server holds 2 sessions, its limit "
                                 "(--max_sessions=2)")));
  ASSERT_OK(manager.Delete("a"));
  EXPECT_OK(manager.Create(LbfgsRequest("c")));
}

TEST(SessionManager, DimensionLimitIsResourceExhausted) {
  SessionManager manager({.max_dimension = 3});
  EXPECT_THAT(
      manager.Create(LbfgsRequest("big", {1, 2, 3, 4})),
      StatusIs(
          absl::StatusCode::kResourceExhausted,
          "x0 has 4 elements; this server's limit is 3 (--max_dimension)"));
  EXPECT_OK(manager.Create(LbfgsRequest("fits", {1, 2, 3})));
}

TEST(SessionManager, DeleteThenNotFound) {
  SessionManager manager;
  absl::StatusOr<std::shared_ptr<Session>> created =
      manager.Create(LbfgsRequest("gone"));
  ASSERT_OK(created);
  ASSERT_OK(manager.Delete("gone"));
  EXPECT_THAT(manager.Find("gone"), StatusIs(absl::StatusCode::kNotFound,
                                             "session \"gone\" not found"));
  EXPECT_THAT(manager.Delete("gone"), StatusIs(absl::StatusCode::kNotFound,
                                               "session \"gone\" not found"));
  // A holder of the session (an Optimize stream) sees it gone too.
  v1::AskResponse ask;
  EXPECT_THAT(
      (*created)->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask),
      StatusIs(absl::StatusCode::kNotFound, "session \"gone\" not found"));
  EXPECT_EQ(manager.size(), 0);
}

TEST(SessionManager, EmptyIdIsInvalid) {
  SessionManager manager;
  EXPECT_THAT(manager.Find(""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "session_id is empty; name a session"));
}

TEST(SessionManager, ListPagesThroughIdsInOrder) {
  SessionManager manager;
  for (const char* id : {"e", "b", "d", "a", "c"})
    ASSERT_OK(manager.Create(LbfgsRequest(id)));
  v1::ListSessionsRequest request;
  request.set_page_size(2);
  std::vector<std::string> seen;
  int pages = 0;
  for (;;) {
    v1::ListSessionsResponse page;
    ASSERT_OK(manager.List(request, &page));
    ++pages;
    for (const std::string& id : Ids(page)) seen.push_back(id);
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, std::vector<std::string>({"a", "b", "c", "d", "e"}));
}

TEST(SessionManager, ListWithAFullLastPageHasNoToken) {
  SessionManager manager;
  for (const char* id : {"a", "b"}) ASSERT_OK(manager.Create(LbfgsRequest(id)));
  v1::ListSessionsRequest request;
  request.set_page_size(2);
  v1::ListSessionsResponse page;
  ASSERT_OK(manager.List(request, &page));
  EXPECT_EQ(page.sessions_size(), 2);
  EXPECT_TRUE(page.next_page_token().empty());
}

TEST(SessionManager, ListDefaultsToAHundredPerPage) {
  SessionManager manager;
  for (int i = 0; i < 105; ++i) {
    ASSERT_OK(manager.Create(LbfgsRequest(absl::StrCat("s", 1000 + i))));
  }
  v1::ListSessionsResponse page;
  ASSERT_OK(manager.List(v1::ListSessionsRequest(), &page));
  EXPECT_EQ(page.sessions_size(), 100);
  EXPECT_FALSE(page.next_page_token().empty());
  // Brief entries: no vectors, no history.
  EXPECT_FALSE(page.sessions(0).has_best_x());
  EXPECT_EQ(page.sessions(0).history_size(), 0);
  EXPECT_EQ(page.sessions(0).solver(), "lbfgs");
}

TEST(SessionManager, ListFiltersByStateAndLabels) {
  SessionManager manager;
  for (const char* id : {"a", "b", "c", "d"}) {
    v1::CreateSessionRequest request = LbfgsRequest(id);
    (*request.mutable_labels())["team"] =
        (id[0] == 'a' || id[0] == 'c') ? "red" : "blue";
    (*request.mutable_labels())["kind"] = "test";
    ASSERT_OK(manager.Create(request));
  }
  // Stop "c" and "d".
  for (const char* id : {"c", "d"}) {
    v1::TellRequest stop;
    stop.set_stop(true);
    v1::TellResponse answer;
    ASSERT_OK((*manager.Find(id))->Tell(stop, &answer));
  }
  v1::ListSessionsRequest request;
  (*request.mutable_labels())["team"] = "red";
  v1::ListSessionsResponse red;
  ASSERT_OK(manager.List(request, &red));
  EXPECT_EQ(Ids(red), std::vector<std::string>({"a", "c"}));

  request.set_state(v1::SESSION_STATE_STOPPED);
  v1::ListSessionsResponse red_stopped;
  ASSERT_OK(manager.List(request, &red_stopped));
  EXPECT_EQ(Ids(red_stopped), std::vector<std::string>({"c"}));
  EXPECT_EQ(red_stopped.sessions(0).summary().reason(),
            v1::TERMINATION_REASON_STOPPED_BY_CLIENT);
  EXPECT_FALSE(red_stopped.sessions(0).summary().has_x());

  v1::ListSessionsRequest running;
  running.set_state(v1::SESSION_STATE_RUNNING);
  running.set_page_size(1);
  v1::ListSessionsResponse page;
  ASSERT_OK(manager.List(running, &page));
  EXPECT_EQ(Ids(page), std::vector<std::string>({"a"}));
  running.set_page_token(page.next_page_token());
  page.Clear();
  ASSERT_OK(manager.List(running, &page));
  EXPECT_EQ(Ids(page), std::vector<std::string>({"b"}));
  EXPECT_TRUE(page.next_page_token().empty());

  v1::ListSessionsRequest both;
  (*both.mutable_labels())["team"] = "blue";
  (*both.mutable_labels())["kind"] = "other";
  v1::ListSessionsResponse none;
  ASSERT_OK(manager.List(both, &none));
  EXPECT_EQ(none.sessions_size(), 0);
}

// List reads the registry a batch at a time (about page_size + 1 entries,
// at least 256): filters that match rarely, and pages that end inside or
// at the edge of a batch, still walk every match once, in id order.
TEST(SessionManager, ListWalksEveryMatchAcrossBatches) {
  SessionManager manager;
  std::vector<std::string> all, red_stopped;
  for (int i = 0; i < 700; ++i) {
    const std::string id = absl::StrCat("s", 1000 + i);
    v1::CreateSessionRequest request = LbfgsRequest(id);
    (*request.mutable_labels())["team"] = i % 7 == 0 ? "red" : "blue";
    ASSERT_OK(manager.Create(request));
    all.push_back(id);
    if (i % 7 == 0 && i % 2 == 0) {
      v1::TellRequest stop;
      stop.set_stop(true);
      v1::TellResponse answer;
      ASSERT_OK((*manager.Find(id))->Tell(stop, &answer));
      red_stopped.push_back(id);
    }
  }
  const auto walk = [&manager](v1::ListSessionsRequest request) {
    std::vector<std::string> seen;
    for (;;) {
      v1::ListSessionsResponse page;
      EXPECT_OK(manager.List(request, &page));
      for (const std::string& id : Ids(page)) seen.push_back(id);
      if (page.next_page_token().empty()) return seen;
      request.set_page_token(page.next_page_token());
    }
  };
  for (const int page_size : {1, 7, 100, 255, 256, 257, 1000}) {
    SCOPED_TRACE(page_size);
    v1::ListSessionsRequest every;
    every.set_page_size(page_size);
    EXPECT_EQ(walk(every), all);
    v1::ListSessionsRequest filtered = every;
    (*filtered.mutable_labels())["team"] = "red";
    filtered.set_state(v1::SESSION_STATE_STOPPED);
    EXPECT_EQ(walk(filtered), red_stopped);
  }
}

TEST(SessionManager, ListRefusesBadPageSizeTokenAndState) {
  SessionManager manager;
  v1::ListSessionsResponse page;
  v1::ListSessionsRequest request;
  request.set_page_size(1001);
  EXPECT_THAT(manager.List(request, &page),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "page_size is 1001; it must be in [0, 1000] (0: 100)"));
  request.set_page_size(-1);
  EXPECT_THAT(manager.List(request, &page),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("page_size is -1")));
  request.set_page_size(1000);
  EXPECT_OK(manager.List(request, &page));
  request.set_page_token("not a token!");
  EXPECT_THAT(
      manager.List(request, &page),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("page_token is not one that ListSessions returned")));
  request.clear_page_token();
  request.set_state(static_cast<v1::SessionState>(42));
  EXPECT_THAT(
      manager.List(request, &page),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("state is 42")));
}

TEST(SessionManager, ListSurvivesDeletionOfTheTokensSession) {
  SessionManager manager;
  for (const char* id : {"a", "b", "c"})
    ASSERT_OK(manager.Create(LbfgsRequest(id)));
  v1::ListSessionsRequest request;
  request.set_page_size(1);
  v1::ListSessionsResponse page;
  ASSERT_OK(manager.List(request, &page));
  ASSERT_OK(manager.Delete("a"));
  request.set_page_token(page.next_page_token());
  v1::ListSessionsResponse next;
  ASSERT_OK(manager.List(request, &next));
  EXPECT_EQ(Ids(next), std::vector<std::string>({"b"}));
}

}  // namespace
}  // namespace optd::server

namespace optd::server {
namespace {

TEST(SessionManagerTenants, LimitsCountOnlyTheTenantsOwnSessions) {
  SessionManager manager({.max_sessions = 10,
                          .max_sessions_per_tenant = 2,
                          // (2 * 10 + 6) * 2 * 8 = 416 bytes per n=2 L-BFGS.
                          .tenant_memory_bytes = 1000});
  ASSERT_OK(manager.Create(LbfgsRequest("alice.a")));
  ASSERT_OK(manager.Create(LbfgsRequest("alice.b")));
  EXPECT_THAT(manager.Create(LbfgsRequest("alice.c")),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("tenant \"alice\" holds 2 sessions, its "
                                 "limit (--max_sessions_per_tenant=2)")));
  // Sessions of no tenant, and of other tenants, are not counted.
  ASSERT_OK(manager.Create(LbfgsRequest("anonymous")));
  ASSERT_OK(manager.Create(LbfgsRequest("bob.a")));
  EXPECT_EQ(manager.Usage("alice.").sessions, 2);
  EXPECT_EQ(manager.Usage("alice.").state_bytes, 832);
  EXPECT_EQ(manager.Usage("").sessions, 4);
  // 416 more bytes fit bob's 1000; 2 * 416 more would not.
  EXPECT_THAT(manager.Create(LbfgsRequest("bob.big", {1, 2, 3, 4})),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("needs about 832 bytes and tenant \"bob\" "
                                 "holds 416 of its 1000 "
                                 "(--tenant_memory_bytes)")));
  EXPECT_EQ(manager.size(), 4);
  ASSERT_OK(manager.Delete("alice.a"));
  EXPECT_OK(manager.Create(LbfgsRequest("alice.c")));
}

TEST(SessionManagerTenants, ListStaysInTheScope) {
  SessionManager manager;
  for (const char* id : {"a", "alice.x", "alice.y", "alicea.z", "bob.x", "z"}) {
    ASSERT_OK(manager.Create(LbfgsRequest(id)));
  }
  v1::ListSessionsRequest request;
  v1::ListSessionsResponse response;
  ASSERT_OK(manager.List(request, &response, "alice."));
  EXPECT_THAT(Ids(response), ::testing::ElementsAre("alice.x", "alice.y"));
  // Pages stay in the scope too, whatever the token.
  request.set_page_size(1);
  response.Clear();
  ASSERT_OK(manager.List(request, &response, "alice."));
  EXPECT_THAT(Ids(response), ::testing::ElementsAre("alice.x"));
  request.set_page_token(response.next_page_token());
  response.Clear();
  ASSERT_OK(manager.List(request, &response, "alice."));
  EXPECT_THAT(Ids(response), ::testing::ElementsAre("alice.y"));
  EXPECT_EQ(response.next_page_token(), "");
  // A token from before the scope starts at the scope's first id.
  v1::ListSessionsResponse first;
  v1::ListSessionsRequest unscoped;
  unscoped.set_page_size(1);
  ASSERT_OK(manager.List(unscoped, &first));
  request.set_page_token(first.next_page_token());
  response.Clear();
  ASSERT_OK(manager.List(request, &response, "bob."));
  EXPECT_THAT(Ids(response), ::testing::ElementsAre("bob.x"));
}

}  // namespace
}  // namespace optd::server
