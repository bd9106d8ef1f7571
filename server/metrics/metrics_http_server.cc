#include "server/metrics/metrics_http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace optd::server {
namespace {

// cpp-httplib's default socket options set SO_REUSEPORT, with which a second
// server binds a port in use and silently shares it; SO_REUSEADDR alone lets
// a restarted server bind over connections in TIME_WAIT, and nothing else.
void ReuseAddressOnly(socket_t socket) {
  int yes = 1;
  setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

void MethodNotAllowed(const httplib::Request& request,
                      httplib::Response& response) {
  response.status = 405;
  response.set_header("Allow", "GET, HEAD");
  response.set_content(absl::StrCat(request.method, " ", request.path,
                                    ": only GET is allowed\n"),
                       "text/plain; charset=utf-8");
}

// Every method but GET (and the HEAD httplib derives from it) on `pattern`
// answers 405.
void AllowOnlyGet(httplib::Server& http, const std::string& pattern) {
  http.Post(pattern, MethodNotAllowed);
  http.Put(pattern, MethodNotAllowed);
  http.Patch(pattern, MethodNotAllowed);
  http.Delete(pattern, MethodNotAllowed);
  http.Options(pattern, MethodNotAllowed);
}

// An HTTPS server with the certificate and key of `tls`, or a plain HTTP one
// when `tls` names neither.
absl::StatusOr<std::unique_ptr<httplib::Server>> NewServer(const HttpTls& tls) {
  if (tls.cert_file.empty() && tls.key_file.empty()) {
    return std::make_unique<httplib::Server>();
  }
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "HTTPS needs both a certificate and its key; got only one");
  }
  auto https = std::make_unique<httplib::SSLServer>(tls.cert_file.c_str(),
                                                    tls.key_file.c_str());
  if (!https->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot serve HTTPS with the certificate ", tls.cert_file,
        " and the key ", tls.key_file,
        ": unreadable, not PEM, or a key that is not the certificate's"));
  }
  return std::unique_ptr<httplib::Server>(std::move(https));
}

}  // namespace

MetricsHttpServer::MetricsHttpServer(const MetricsRegistry* registry)
    : registry_(registry) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Route(std::string prefix, HttpRoute route,
                              std::function<void()> stop) {
  absl::MutexLock lock(&mu_);
  routes_.emplace_back(std::move(prefix), std::move(route));
  if (stop != nullptr) stops_.push_back(std::move(stop));
}

absl::Status MetricsHttpServer::Start(const std::string& host, int port,
                                      const HttpTls& tls) {
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the metrics HTTP server was started before (port ",
                     port_.load(), "); a server starts once"));
  }
  absl::StatusOr<std::unique_ptr<httplib::Server>> made = NewServer(tls);
  if (!made.ok()) return made.status();
  std::unique_ptr<httplib::Server> http = *std::move(made);
  http->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  http->set_socket_options(ReuseAddressOnly);
  http->set_keep_alive_timeout(kIdleConnectionSeconds);
  http->set_read_timeout(kIdleConnectionSeconds, 0);
  http->set_write_timeout(kIdleConnectionSeconds, 0);
  const MetricsRegistry* registry = registry_;
  http->Get("/metrics", [registry](const httplib::Request&,
                                   httplib::Response& response) {
    response.set_content(registry->ExpositionText(), kExpositionContentType);
  });
  AllowOnlyGet(*http, "/metrics");
  for (const auto& [prefix, route] : routes_) {
    // httplib matches the whole path against the pattern (std::regex);
    // Route() admits no regex characters in `prefix`.
    const std::string pattern = absl::StrCat(prefix, "(/.*)?");
    http->Get(pattern, [route = route](const httplib::Request& request,
                                       httplib::Response& response) {
      HttpRequest in;
      in.method = request.method;
      in.path = request.path;
      in.params = request.params;
      if (request.has_header("Authorization")) {
        in.authorization = request.get_header_value("Authorization");
      }
      HttpResponse out = route(in);
      response.status = out.status;
      for (auto& [name, value] : out.headers) {
        response.set_header(name, std::move(value));
      }
      response.set_content(std::move(out.body), out.content_type);
    });
    AllowOnlyGet(*http, pattern);
  }
  http->Get("/healthz",
            [](const httplib::Request&, httplib::Response& response) {
              response.set_content("ok\n", "text/plain; charset=utf-8");
            });
  http->set_error_handler(
      [](const httplib::Request& request, httplib::Response& response) {
        if (response.status == 404 && response.body.empty()) {
          response.set_content(
              absl::StrCat(request.path, ": not found; try /metrics\n"),
              "text/plain; charset=utf-8");
        }
      });

  errno = 0;
  const int bound = port == 0 ? http->bind_to_any_port(host)
                              : (http->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for metrics on ", host, ":", port,
        " (the port is in use, or the host is not an address of this "
        "machine)",
        errno != 0 ? absl::StrCat(": ", std::strerror(errno)) : ""));
  }
  started_ = true;
  port_ = bound;
  http_ = std::move(http);
  httplib::Server* server = http_.get();
  auto done = std::make_shared<std::atomic<bool>>(false);
  listener_ = std::thread([server, done] {
    server->listen_after_bind();
    *done = true;
  });
  // httplib::Server::stop() does nothing until the listener runs: wait for
  // it, so that a Stop() right after Start() is not lost.
  while (!server->is_running() && !*done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

void MetricsHttpServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (http_ == nullptr) return;
  for (const auto& stop : stops_) stop();
  http_->stop();
  listener_.join();
  http_.reset();
}

}  // namespace optd::server
