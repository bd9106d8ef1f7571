// MetricsHttpServer: serves a MetricsRegistry to Prometheus over HTTP, or
// HTTPS when given a certificate (cpp-httplib with OpenSSL), on its own port
// and threads, apart from the gRPC server:
//
//   GET /metrics   200, the registry's ExpositionText() as
//                  kExpositionContentType; other methods 405
//   GET /healthz   200 "ok" (for HTTP probes: the process serves requests)
//   GET <prefix>/… what a route added with Route() answers (the JSON API,
//                  server/http/json_api.h); other methods 405
//   anything else  404
//
//   MetricsHttpServer http(&registry);
//   OPTD_RETURN_IF_ERROR(http.Start("0.0.0.0", 9090));  // 0: any free port
//   spdlog::info("metrics on port {}", http.port());
//   // or HTTPS: http.Start("0.0.0.0", 9090, {.cert_file = "server.pem",
//   //                                        .key_file = "server.key"});
//   ...
//   http.Stop();  // or let the destructor do it
//
// Stop() is prompt: it closes the listening socket and waits for the
// requests in flight (a scrape takes what its callbacks take); a connection
// that sends nothing holds a worker for at most kIdleConnectionSeconds.
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_METRICS_METRICS_HTTP_SERVER_H_
#define OPTD_SERVER_METRICS_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace optd::server {

// HttpRequest: a request as a Route() sees it, without httplib's types (only
// this library is compiled with httplib's flags).
struct HttpRequest {
  std::string method;  // "GET" or "HEAD"
  // URL-decoded, without the query: "/api/v1/sessions/exp1".
  std::string path;
  // The URL-decoded query parameters, a name as often as it was given.
  std::multimap<std::string, std::string> params;
  // The "Authorization" header; nullopt when there is none.
  std::optional<std::string> authorization;
};

// HttpResponse: what a Route() answers.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // More headers ("Location", "Content-Security-Policy"), in order.
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpRoute = std::function<HttpResponse(const HttpRequest&)>;

// HttpTls: the certificate with which MetricsHttpServer serves HTTPS. Clients
// are not asked for certificates (browsers and Prometheus come without).
struct HttpTls {
  // PEM certificate chain and its private key (optd: --tls_cert, --tls_key).
  // Both empty: plain HTTP.
  std::string cert_file;
  std::string key_file;
};

class MetricsHttpServer {
 public:
  // Worker threads that answer requests: scrapes come one at a time, but
  // the dashboard's long polls each hold a worker for up to 30 s, and a
  // probe, a curl or a page's other requests come beside them.
  static constexpr int kWorkerThreads = 16;
  // How long an idle or slow connection may hold a worker (keep-alive wait,
  // read and write timeouts); it bounds Stop().
  static constexpr int kIdleConnectionSeconds = 1;

  // `registry` must outlive the server (or its Stop()).
  explicit MetricsHttpServer(const MetricsRegistry* registry);
  // Stop()s.
  ~MetricsHttpServer();

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // MetricsHttpServer::Start()
  //
  // Binds `host`:`port` ("0.0.0.0", "127.0.0.1", "::"; port 0 picks a free
  // one, see port()) and serves from a thread of its own: HTTPS with the
  // certificate of `tls` when it names one, else plain HTTP.
  // INVALID_ARGUMENT when `tls` names only one file or its files do not load
  // (unreadable, not PEM, a key that is not the certificate's); UNAVAILABLE
  // when the address cannot be bound (in use, unknown host);
  // FAILED_PRECONDITION when started before (a server starts once).
  absl::Status Start(const std::string& host, int port, const HttpTls& tls = {})
      ABSL_LOCKS_EXCLUDED(mu_);

  // MetricsHttpServer::Route()
  //
  // Answers GET requests for `prefix` and every path under it ("/api/v1",
  // "/api/v1/sessions") with `route`, called on a worker thread; other
  // methods there are answered 405. `prefix` starts with "/" and holds only
  // [A-Za-z0-9/_-]. A route whose requests may wait (long polls) gives
  // `stop`: Stop() calls it first, and it must end those waits.
  // REQUIRES: before Start().
  void Route(std::string prefix, HttpRoute route,
             std::function<void()> stop = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

  // MetricsHttpServer::port()
  //
  // The bound port once Start() succeeded, else 0.
  int port() const { return port_.load(); }

  // MetricsHttpServer::Stop()
  //
  // Ends the routes' waits (Route()'s `stop`), stops listening, waits for
  // the requests in flight and joins the threads. Idempotent; a no-op
  // before Start().
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const MetricsRegistry* const registry_;
  mutable absl::Mutex mu_;
  std::unique_ptr<httplib::Server> http_ ABSL_GUARDED_BY(mu_);
  std::thread listener_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<std::string, HttpRoute>> routes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> stops_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> port_{0};
};

}  // namespace optd::server

#endif  // OPTD_SERVER_METRICS_METRICS_HTTP_SERVER_H_
