// JsonApi: the versioned read-only JSON API of a server's sessions, served
// under /api/v1 on the HTTP port of /metrics (MetricsHttpServer::Route()),
// for the dashboard (docs/dashboard.md lists the endpoints, their parameters,
// limits and errors):
//
//   GET /api/v1/sessions?state=&label=k:v&page_size=&page_token=
//   GET /api/v1/sessions/{id}
//   GET /api/v1/sessions/{id}/history?max_points=N
//   GET /api/v1/sessions/{id}/trials?after_id=&limit=
//   GET /api/v1/server    the server's metrics (server_api.h)
//
// The three per-session endpoints also long-poll: with since_tells=T and
// wait_seconds=S, a RUNNING session that has applied at most T tells is
// waited on (long_poll.h) until it applies one, changes state or is deleted,
// or S seconds pass; then the answer is the usual one. At most
// kMaxWaitingRequests wait at once; a request past them is answered at once.
//
// Bodies are the proto messages in protobuf's JSON mapping
// (MessageToJsonString: lowerCamelCase names, 64-bit integers as strings)
// through the same SessionManager calls as ListSessions and GetSession.
// Errors are {"error": {"code": "NOT_FOUND", "message": "..."}} with the HTTP
// status of the code (common/grpc_status.h: HttpStatusCode()).
//
// Callers authenticate as on the gRPC port (rpc/auth.h): with --tokens_file,
// the header "Authorization: Bearer <token>", and a tenant sees only its own
// sessions, by the ids it gave them, and of the metrics' samples labelled
// with a tenant only its own.
//
//   JsonApi api(&sessions, &auth, absl::OkStatus(), &registry);
//   http.Route(JsonApi::kPrefix,
//              [&api](const HttpRequest& r) { return api.Handle(r); });
//
// Thread-safety: thread-safe (SessionManager's and Authenticator's own).
#ifndef OPTD_SERVER_HTTP_JSON_API_H_
#define OPTD_SERVER_HTTP_JSON_API_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/http/long_poll.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_http_server.h"
#include "server/rpc/auth.h"
#include "server/session/session_manager.h"

namespace optd::server {

class JsonApi {
 public:
  // Where the API is served (MetricsHttpServer::Route()).
  static constexpr char kPrefix[] = "/api/v1";
  // GET .../history: max_points when absent, and its range.
  static constexpr int kDefaultHistoryPoints = 1000;
  static constexpr int kMaxHistoryPoints = 10000;
  // GET .../trials: limit when absent or 0, and the largest (ListSessions'
  // page sizes).
  static constexpr int kDefaultTrialsLimit = SessionManager::kDefaultPageSize;
  static constexpr int kMaxTrialsLimit = SessionManager::kMaxPageSize;
  // Long polls: the largest wait_seconds, and how many requests may wait at
  // once (of MetricsHttpServer::kWorkerThreads, so that /metrics and the
  // other requests always find a worker).
  static constexpr double kMaxWaitSeconds = 30;
  static constexpr int kMaxWaitingRequests = LongPoll::kMaxWaiters;

  // `sessions`, `auth` (null: authentication off) and `metrics` (null: no
  // /api/v1/server, a 404) must outlive the API. A `refusal` that is not OK
  // is every request's answer (ExposureCheck()).
  JsonApi(SessionManager* sessions, const Authenticator* auth,
          absl::Status refusal = absl::OkStatus(),
          const MetricsRegistry* metrics = nullptr);

  // JsonApi::Handle()
  //
  // The answer to a GET of `request.path` (under kPrefix).
  HttpResponse Handle(const HttpRequest& request) const;

  // JsonApi::StopWaiting()
  //
  // Ends the long polls that wait now, and makes later ones answer at once
  // (shutdown: MetricsHttpServer::Stop() waits for the requests in flight).
  void StopWaiting() { long_poll_.Stop(); }

  // Long polls waiting now.
  int waiting_requests() const { return long_poll_.waiting(); }

  // JsonApi::ExposureCheck()
  //
  // Whether the API may be served on `host`: OK with authentication on
  // (`authenticated`), on a loopback address ("127.0.0.1" and the rest of
  // 127.0.0.0/8, "::1", "localhost"), or with `allow_unauthenticated`
  // (--http_api_allow_unauthenticated); else PERMISSION_DENIED saying so.
  static absl::Status ExposureCheck(absl::string_view host, bool authenticated,
                                    bool allow_unauthenticated);

 private:
  absl::Status ListSessions(const Caller& caller, const HttpRequest& request,
                            std::string* body) const;
  absl::Status GetSession(const Caller& caller, const std::string& id,
                          const HttpRequest& request, std::string* body) const;
  absl::Status GetHistory(const Caller& caller, const std::string& id,
                          const HttpRequest& request, std::string* body) const;
  absl::Status GetTrials(const Caller& caller, const std::string& id,
                         const HttpRequest& request, std::string* body) const;
  absl::Status GetServer(const Caller& caller, const HttpRequest& request,
                         std::string* body) const;

  SessionManager* const sessions_;
  const Authenticator* const auth_;
  const absl::Status refusal_;
  const MetricsRegistry* const metrics_;
  // Mutable: waiting changes what it counts, not what the API answers.
  mutable LongPoll long_poll_;
};

// IsLoopbackHost()
//
// Whether `host` (an address or "localhost") is a loopback address.
bool IsLoopbackHost(absl::string_view host);

}  // namespace optd::server

#endif  // OPTD_SERVER_HTTP_JSON_API_H_
