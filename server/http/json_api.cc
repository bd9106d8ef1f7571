#include "server/http/json_api.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "server/http/history_sampling.h"
#include "server/http/server_api.h"

namespace optd::server {
namespace {

// Every field, zeros and empty lists included, so that the page need not
// know the proto's defaults.
google::protobuf::util::JsonPrintOptions PrintOptions() {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  return options;
}

absl::Status AppendJson(const google::protobuf::Message& message,
                        std::string* out) {
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(
      message, &json, PrintOptions());
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("JSON: ", status.ToString()));
  }
  absl::StrAppend(out, json);
  return absl::OkStatus();
}

// `text` as a JSON string literal, quoted and escaped.
std::string JsonString(absl::string_view text) {
  std::string json;
  AppendJsonString(&json, text);
  return json;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse response;
  response.status = HttpStatusCode(status.code());
  response.body =
      absl::StrCat("{\"error\":{\"code\":",
                   JsonString(absl::StatusCodeToString(status.code())),
                   ",\"message\":", JsonString(status.message()), "}}\n");
  return response;
}

// The query of one endpoint: refuses parameters it does not take, and single
// ones given twice, so that a typo is an error rather than ignored.
class Query {
 public:
  static absl::StatusOr<Query> Parse(
      const HttpRequest& request, std::vector<absl::string_view> names,
      std::vector<absl::string_view> repeatable = {}) {
    for (const auto& [name, value] : request.params) {
      const bool single = absl::c_linear_search(names, name);
      if (!single && !absl::c_linear_search(repeatable, name)) {
        std::vector<absl::string_view> all = names;
        all.insert(all.end(), repeatable.begin(), repeatable.end());
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown query parameter \"", name, "\"; ", request.path,
            all.empty() ? " takes none"
                        : absl::StrCat(" takes ", absl::StrJoin(all, ", "))));
      }
      if (single && request.params.count(name) > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter \"", name, "\" is given ",
                         request.params.count(name), " times; give it once"));
      }
    }
    return Query(&request.params);
  }

  const std::string* Get(const std::string& name) const {
    auto it = params_->find(name);
    return it == params_->end() ? nullptr : &it->second;
  }

  // The integer `name` in [lo, hi], `fallback` when absent.
  template <typename Int>
  absl::StatusOr<Int> Integer(const std::string& name, Int fallback, Int lo,
                              Int hi) const {
    const std::string* text = Get(name);
    if (text == nullptr) return fallback;
    Int value;
    if (!absl::SimpleAtoi(*text, &value) || value < lo || value > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " is \"", *text, "\"; it must be an integer in [",
                       lo, ", ", hi, "]"));
    }
    return value;
  }

  auto Range(const std::string& name) const {
    return params_->equal_range(name);
  }

 private:
  explicit Query(const std::multimap<std::string, std::string>* params)
      : params_(params) {}
  const std::multimap<std::string, std::string>* params_;
};

// "RUNNING", "running" or "SESSION_STATE_RUNNING".
absl::StatusOr<v1::SessionState> ParseState(absl::string_view text) {
  std::string name = absl::AsciiStrToUpper(text);
  if (!absl::StartsWith(name, "SESSION_STATE_")) {
    name = absl::StrCat("SESSION_STATE_", name);
  }
  v1::SessionState state;
  if (!v1::SessionState_Parse(name, &state)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state is \"", text,
        "\"; use RUNNING, CONVERGED, LIMIT_REACHED, FAILED, STOPPED or "
        "DAMAGED"));
  }
  return state;
}

// A long poll's parameters: wait up to `wait` for the session to pass
// `since_tells` tells (no wait when neither parameter is given).
struct PollParams {
  int64_t since_tells = 0;
  absl::Duration wait = absl::ZeroDuration();
};

absl::StatusOr<PollParams> ParsePoll(const Query& query) {
  const std::string* since = query.Get("since_tells");
  const std::string* wait = query.Get("wait_seconds");
  PollParams poll;
  if (since == nullptr && wait == nullptr) return poll;
  if (since == nullptr) {
    return absl::InvalidArgumentError(
        "since_tells is missing; wait_seconds waits only with since_tells, "
        "the session's tells count the caller last saw");
  }
  if (wait == nullptr) {
    return absl::InvalidArgumentError(
        "wait_seconds is missing; since_tells needs it, the seconds to wait "
        "for more tells");
  }
  OPTD_ASSIGN_OR_RETURN(poll.since_tells,
                        query.Integer<int64_t>("since_tells", 0, 0, INT64_MAX));
  double seconds;
  // Written so that NaN fails too.
  if (!absl::SimpleAtod(*wait, &seconds) ||
      !(seconds >= 0 && seconds <= JsonApi::kMaxWaitSeconds)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wait_seconds is \"", *wait, "\"; it must be a number in [0, ",
        JsonApi::kMaxWaitSeconds, "]"));
  }
  poll.wait = absl::Seconds(seconds);
  return poll;
}

// Waits as `poll` asks for the session `scoped_id` (LongPoll::Wait()). A
// session that cannot be found is not waited on: the answer says why.
void AwaitChange(SessionManager* sessions, LongPoll* long_poll,
                 const std::string& scoped_id, const PollParams& poll) {
  if (poll.wait <= absl::ZeroDuration()) return;
  absl::StatusOr<std::shared_ptr<Session>> session = sessions->Find(scoped_id);
  if (!session.ok()) return;
  long_poll->Wait(*session, poll.since_tells, poll.wait);
}

}  // namespace

JsonApi::JsonApi(SessionManager* sessions, const Authenticator* auth,
                 absl::Status refusal, const MetricsRegistry* metrics)
    : sessions_(sessions),
      auth_(auth),
      refusal_(std::move(refusal)),
      metrics_(metrics) {}

HttpResponse JsonApi::Handle(const HttpRequest& request) const {
  if (!refusal_.ok()) return ErrorResponse(refusal_);
  absl::StatusOr<Caller> caller = Caller{};
  if (auth_ != nullptr) {
    caller = auth_->AuthenticateHttpTenant(
        request.authorization.has_value() ? &*request.authorization : nullptr);
  }
  if (!caller.ok()) return ErrorResponse(caller.status());

  absl::string_view rest = request.path;
  absl::Status status = absl::NotFoundError(absl::StrCat(
      request.path, ": no such endpoint; see docs/dashboard.md for ", kPrefix,
      "/sessions and the rest"));
  std::string body;
  if (rest == absl::StrCat(kPrefix, "/server")) {
    status = GetServer(*caller, request, &body);
  } else if (absl::ConsumePrefix(&rest, kPrefix) &&
             absl::ConsumePrefix(&rest, "/sessions")) {
    const std::vector<std::string> parts = absl::StrSplit(rest, '/');
    // "" -> {""}; "/exp1" -> {"", "exp1"}; "/exp1/history" -> 3 parts.
    if (parts.size() == 1 && parts[0].empty()) {
      status = ListSessions(*caller, request, &body);
    } else if (parts.size() == 2 && !parts[1].empty()) {
      status = GetSession(*caller, parts[1], request, &body);
    } else if (parts.size() == 3 && !parts[1].empty() &&
               parts[2] == "history") {
      status = GetHistory(*caller, parts[1], request, &body);
    } else if (parts.size() == 3 && !parts[1].empty() && parts[2] == "trials") {
      status = GetTrials(*caller, parts[1], request, &body);
    }
  }
  if (!status.ok()) return ErrorResponse(caller->Unscope(status));
  HttpResponse response;
  response.body = std::move(body);
  response.body.push_back('\n');
  return response;
}

absl::Status JsonApi::ListSessions(const Caller& caller,
                                   const HttpRequest& request,
                                   std::string* body) const {
  OPTD_ASSIGN_OR_RETURN(
      Query query,
      Query::Parse(request, {"state", "page_size", "page_token"}, {"label"}));
  v1::ListSessionsRequest list;
  OPTD_ASSIGN_OR_RETURN(
      const int page_size,
      query.Integer<int>("page_size", 0, 0, SessionManager::kMaxPageSize));
  list.set_page_size(page_size);
  if (const std::string* token = query.Get("page_token")) {
    list.set_page_token(*token);
  }
  if (const std::string* state = query.Get("state")) {
    OPTD_ASSIGN_OR_RETURN(v1::SessionState parsed, ParseState(*state));
    list.set_state(parsed);
  }
  for (auto [it, end] = query.Range("label"); it != end; ++it) {
    const size_t colon = it->second.find(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("label is \"", it->second, "\"; write it key:value"));
    }
    const std::string key = it->second.substr(0, colon);
    if (!list.mutable_labels()
             ->insert({key, it->second.substr(colon + 1)})
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("label \"", key,
                       "\" is given twice; a session has one value per "
                       "label"));
    }
  }
  v1::ListSessionsResponse response;
  OPTD_RETURN_IF_ERROR(sessions_->List(list, &response, caller.ScopePrefix()));
  for (v1::Session& session : *response.mutable_sessions()) {
    session.set_session_id(caller.Unscope(session.session_id()));
  }
  return AppendJson(response, body);
}

absl::Status JsonApi::GetSession(const Caller& caller, const std::string& id,
                                 const HttpRequest& request,
                                 std::string* body) const {
  OPTD_ASSIGN_OR_RETURN(Query query,
                        Query::Parse(request, {"since_tells", "wait_seconds"}));
  OPTD_ASSIGN_OR_RETURN(const PollParams poll, ParsePoll(query));
  AwaitChange(sessions_, &long_poll_, caller.Scope(id), poll);
  v1::GetSessionRequest get;
  get.set_session_id(caller.Scope(id));
  v1::Session session;
  OPTD_RETURN_IF_ERROR(sessions_->Get(get, &session));
  session.set_session_id(caller.Unscope(session.session_id()));
  return AppendJson(session, body);
}

absl::Status JsonApi::GetHistory(const Caller& caller, const std::string& id,
                                 const HttpRequest& request,
                                 std::string* body) const {
  OPTD_ASSIGN_OR_RETURN(
      Query query,
      Query::Parse(request, {"max_points", "since_tells", "wait_seconds"}));
  OPTD_ASSIGN_OR_RETURN(
      const int max_points,
      query.Integer<int>("max_points", kDefaultHistoryPoints, kMinHistoryPoints,
                         kMaxHistoryPoints));
  OPTD_ASSIGN_OR_RETURN(const PollParams poll, ParsePoll(query));
  AwaitChange(sessions_, &long_poll_, caller.Scope(id), poll);
  v1::GetSessionRequest get;
  get.set_session_id(caller.Scope(id));
  get.set_include_history_overview(true);
  v1::Session session;
  OPTD_RETURN_IF_ERROR(sessions_->Get(get, &session));
  // The whole run's overview and the recent iterates, each once, in order.
  const std::vector<const v1::HistoryEntry*> history =
      MergeHistory(session.history_overview(), session.history());
  std::vector<double> values;
  values.reserve(history.size());
  for (const v1::HistoryEntry* entry : history) {
    values.push_back(entry->value());
  }
  // The state and the tells count (a string, as the proto JSON writes
  // Session.tells) tell a poller that the session finished, and what to
  // pass as since_tells next.
  absl::StrAppend(body, "{\"sessionId\":", JsonString(id), ",\"state\":",
                  JsonString(v1::SessionState_Name(session.state())),
                  ",\"tells\":\"", session.tells(), "\"",
                  ",\"totalPoints\":", session.iterations(), ",\"history\":[");
  const char* separator = "";
  for (int i : SampleHistory(values, max_points)) {
    absl::StrAppend(body, separator);
    OPTD_RETURN_IF_ERROR(AppendJson(*history[i], body));
    separator = ",";
  }
  absl::StrAppend(body, "]}");
  return absl::OkStatus();
}

absl::Status JsonApi::GetTrials(const Caller& caller, const std::string& id,
                                const HttpRequest& request,
                                std::string* body) const {
  OPTD_ASSIGN_OR_RETURN(
      Query query, Query::Parse(request, {"after_id", "limit", "since_tells",
                                          "wait_seconds"}));
  OPTD_ASSIGN_OR_RETURN(const uint64_t after_id,
                        query.Integer<uint64_t>("after_id", 0, 0, UINT64_MAX));
  OPTD_ASSIGN_OR_RETURN(int limit,
                        query.Integer<int>("limit", 0, 0, kMaxTrialsLimit));
  if (limit == 0) limit = kDefaultTrialsLimit;
  OPTD_ASSIGN_OR_RETURN(const PollParams poll, ParsePoll(query));
  AwaitChange(sessions_, &long_poll_, caller.Scope(id), poll);
  v1::GetSessionRequest get;
  get.set_session_id(caller.Scope(id));
  get.set_include_trials(true);
  get.set_trials_after_id(after_id);
  v1::Session session;
  OPTD_RETURN_IF_ERROR(sessions_->Get(get, &session));
  const int count = std::min(limit, session.trial_log_size());
  absl::StrAppend(body, "{\"sessionId\":", JsonString(id), ",\"tells\":\"",
                  session.tells(), "\",\"trials\":[");
  for (int i = 0; i < count; ++i) {
    if (i > 0) absl::StrAppend(body, ",");
    OPTD_RETURN_IF_ERROR(AppendJson(session.trial_log(i), body));
  }
  // 64-bit ids as strings, as the proto JSON writes TrialRecord.trialId.
  const std::string next =
      count < session.trial_log_size()
          ? absl::StrCat(session.trial_log(count - 1).trial_id())
          : "";
  absl::StrAppend(body, "],\"trialLogDropped\":\"", session.trial_log_dropped(),
                  "\",\"nextAfterId\":\"", next, "\"}");
  return absl::OkStatus();
}

absl::Status JsonApi::GetServer(const Caller& caller,
                                const HttpRequest& request,
                                std::string* body) const {
  OPTD_RETURN_IF_ERROR(Query::Parse(request, {}).status());
  if (metrics_ == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(request.path, ": this server keeps no metrics"));
  }
  absl::StrAppend(body, ServerSnapshotJson(metrics_->Snapshot(), absl::Now(),
                                           caller.tenant));
  return absl::OkStatus();
}

absl::Status JsonApi::ExposureCheck(absl::string_view host, bool authenticated,
                                    bool allow_unauthenticated) {
  if (authenticated || allow_unauthenticated || IsLoopbackHost(host)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "the JSON API is off: the HTTP port listens on ", host,
      ", which is not a loopback address, and there is no --tokens_file; "
      "set --tokens_file, listen on 127.0.0.1 (--metrics_host), or pass "
      "--http_api_allow_unauthenticated to serve the sessions to anyone "
      "who can reach the port"));
}

bool IsLoopbackHost(absl::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" ||
         absl::StartsWith(host, "127.");
}

}  // namespace optd::server
