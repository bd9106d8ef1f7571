#include "server/session_manager.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solvers/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

constexpr size_t kMaxIdLength = 63;
constexpr size_t kMaxLabels = 64;
constexpr size_t kMaxLabelKeyLength = 63;
constexpr size_t kMaxLabelValueLength = 256;

bool IsIdChar(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
}

bool IsLabelKeyChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
}

bool LabelsMatch(
    const Labels& labels,
    const google::protobuf::Map<std::string, std::string>& wanted) {
  for (const auto& [key, value] : wanted) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateSessionId(absl::string_view id, absl::string_view field) {
  bool ok = !id.empty() && id.size() <= kMaxIdLength && id[0] != '-';
  for (char c : id) ok = ok && IsIdChar(c);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " \"", absl::CHexEscape(id),
                     "\" is not a valid session id; use 1-63 characters of "
                     "[a-z0-9-] starting "
                     "with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(absl::StrCat("labels has ", labels.size(),
                                                   " entries; at most ",
                                                   kMaxLabels, " are allowed"));
  }
  for (const auto& [key, value] : labels) {
    bool ok = !key.empty() && key.size() <= kMaxLabelKeyLength;
    for (char c : key) ok = ok && IsLabelKeyChar(c);
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels key \"", absl::CHexEscape(key),
          "\" is not valid; keys are 1-63 characters of [a-zA-Z0-9_.-]"));
    }
    if (value.size() > kMaxLabelValueLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels[\"", key, "\"] has ", value.size(), " characters; at most ",
          kMaxLabelValueLength, " are allowed"));
    }
  }
  return absl::OkStatus();
}

SessionManager::SessionManager(SessionLimits limits) : limits_(limits) {}

absl::Status SessionManager::CheckSessionLimit(size_t count) const {
  if (static_cast<int64_t>(count) >= limits_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this server holds ", count,
        " sessions, its limit (--max_sessions=", limits_.max_sessions,
        "); delete finished sessions or start the server with a larger "
        "--max_sessions"));
  }
  return absl::OkStatus();
}

std::string SessionManager::RandomId() {
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(bitgen_),
                         absl::Uniform<uint64_t>(bitgen_));
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Create(
    const v1::CreateSessionRequest& request) {
  // Everything that is cheap and needs no lock first, then the solver (which
  // allocates n-sized state), then the insert.
  if (request.shards() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shards is ", request.shards(), "; use 0 or 1 (one replica)"));
  }
  if (request.shards() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shards is ", request.shards(),
        " but this server has one replica; use shards 0 or 1, or a deployment "
        "with --peers"));
  }
  if (!request.session_id().empty()) {
    OPTD_RETURN_IF_ERROR(ValidateSessionId(request.session_id(), "session_id"));
  }
  OPTD_RETURN_IF_ERROR(ValidateLabels(request.labels()));
  OPTD_RETURN_IF_ERROR(
      ValidateEncoding(request.vector_encoding(), "vector_encoding"));
  OPTD_ASSIGN_OR_RETURN(ConstVectorView x0, DecodeVector(request.x0(), "x0"));
  if (x0.size() == 0) {
    return absl::InvalidArgumentError(
        "x0 is empty; it is the starting point and sets the dimension (at "
        "least 1)");
  }
  if (x0.size() > limits_.max_dimension) {
    return absl::ResourceExhaustedError(
        absl::StrCat("x0 has ", x0.size(), " elements; this server's limit is ",
                     limits_.max_dimension, " (--max_dimension)"));
  }
  {
    // Fail fast before allocating the solver; rechecked at the insert.
    absl::ReaderMutexLock lock(&mu_);
    if (!request.session_id().empty() &&
        sessions_.count(request.session_id()) > 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "session \"", request.session_id(),
          "\" already exists; pick another id or leave session_id empty"));
    }
    OPTD_RETURN_IF_ERROR(CheckSessionLimit(sessions_.size()));
  }
  OPTD_ASSIGN_OR_RETURN(SolverSetup setup, CreateSolver(request, x0));
  Labels labels(request.labels().begin(), request.labels().end());

  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    OPTD_RETURN_IF_ERROR(CheckSessionLimit(sessions_.size()));
    std::string id = request.session_id();
    if (id.empty()) {
      do {
        id = RandomId();
      } while (sessions_.count(id) > 0);
    } else if (sessions_.count(id) > 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "session \"", id,
          "\" already exists; pick another id or leave session_id empty"));
    }
    session = std::make_shared<Session>(id, std::move(setup), std::move(labels),
                                        request.vector_encoding());
    sessions_.emplace(std::move(id), session);
  }
  spdlog::info("session \"{}\" created: {} n={}", session->id(),
               session->solver_name(), session->dimension());
  return session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Find(
    absl::string_view session_id) const {
  if (session_id.empty()) {
    return absl::InvalidArgumentError("session_id is empty; name a session");
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "session \"", absl::CHexEscape(session_id), "\" not found"));
  }
  return it->second;
}

absl::Status SessionManager::Delete(absl::string_view session_id) {
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) {
      return absl::NotFoundError(absl::StrCat(
          "session \"", absl::CHexEscape(session_id), "\" not found"));
    }
    session = std::move(it->second);
    sessions_.erase(it);
  }
  // Outside the map's lock: this waits for a tell in progress on the session.
  session->Delete();
  spdlog::info("session \"{}\" deleted", session->id());
  return absl::OkStatus();
}

absl::Status SessionManager::List(const v1::ListSessionsRequest& request,
                                  v1::ListSessionsResponse* response) const {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size is ", request.page_size(), "; it must be in [0, ",
        kMaxPageSize, "] (0: ", kDefaultPageSize, ")"));
  }
  if (!v1::SessionState_IsValid(request.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("state is ", static_cast<int>(request.state()),
                     "; use a SessionState value or SESSION_STATE_UNSPECIFIED "
                     "for every state"));
  }
  // The token is the last id of the previous page: stable under inserts and
  // deletes, and opaque to clients because it is base64.
  std::string after;
  if (!request.page_token().empty() &&
      (!absl::WebSafeBase64Unescape(request.page_token(), &after) ||
       !ValidateSessionId(after, "page_token").ok())) {
    return absl::InvalidArgumentError(
        "page_token is not one that ListSessions returned; pass "
        "next_page_token "
        "unchanged, or an empty token for the first page");
  }
  const int page_size =
      request.page_size() == 0 ? kDefaultPageSize : request.page_size();

  // Labels are immutable, so they filter under the map's lock; the state needs
  // each session's own lock and is checked after the map's is released.
  std::vector<std::shared_ptr<Session>> candidates;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = after.empty() ? sessions_.begin() : sessions_.upper_bound(after);
    for (; it != sessions_.end(); ++it) {
      if (LabelsMatch(it->second->labels(), request.labels())) {
        candidates.push_back(it->second);
      }
    }
  }
  std::string last_id;
  for (const std::shared_ptr<Session>& session : candidates) {
    if (request.state() != v1::SESSION_STATE_UNSPECIFIED &&
        session->state() != request.state()) {
      continue;
    }
    if (response->sessions_size() == page_size) {
      // One more match exists: the page is not the last.
      response->set_next_page_token(absl::WebSafeBase64Escape(last_id));
      break;
    }
    v1::Session brief;
    if (!session->DescribeBrief(&brief)) continue;  // deleted meanwhile
    last_id = session->id();
    *response->add_sessions() = std::move(brief);
  }
  return absl::OkStatus();
}

int64_t SessionManager::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>(sessions_.size());
}

}  // namespace optd::server
