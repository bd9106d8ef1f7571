#include "server/metrics/metrics_http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// Opens a connection to `server` that sends nothing, and checks that Stop()
// returns within the idle timeout's bound all the same.
void ExpectPromptStopWithASilentConnection(MetricsHttpServer& server) {
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      connect(silent, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
      0);
  const auto start = std::chrono::steady_clock::now();
  server.Stop();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  close(silent);
  EXPECT_LT(seconds, 3 * MetricsHttpServer::kIdleConnectionSeconds + 1);
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  MetricsHttpServerTest() {
    registry_.RegisterCounter("optd_steps_total", "Steps.", {"solver"})
        ->Add({"lbfgs"}, 3);
  }

  httplib::Client Client(int port) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(5, 0);
    return client;
  }

  MetricsRegistry registry_;
};

// Self-signed certificates for 127.0.0.1 made with the openssl CLI in a
// directory removed at the end of the test: "a" and "b" (.pem, .key).
class SelfSigned {
 public:
  SelfSigned() {
    char pattern[] = "/tmp/optd_https_XXXXXX";
    dir_ = mkdtemp(pattern);
    for (const char* name : {"a", "b"}) {
      const std::string command = absl::StrCat(
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
          "-nodes -days 2 -subj /CN=127.0.0.1 "
          "-addext subjectAltName=IP:127.0.0.1 -keyout ",
          dir_, "/", name, ".key -out ", dir_, "/", name, ".pem >", dir_,
          "/openssl.log 2>&1");
      ok_ = ok_ && std::system(command.c_str()) == 0;
    }
  }
  ~SelfSigned() { std::filesystem::remove_all(dir_); }
  bool ok() const { return ok_; }
  HttpTls Tls(const std::string& name) const {
    return {.cert_file = Path(name + ".pem"), .key_file = Path(name + ".key")};
  }
  std::string Path(const std::string& file) const {
    return absl::StrCat(dir_, "/", file);
  }

 private:
  std::string dir_;
  bool ok_ = true;
};

// Makes `client` (of 127.0.0.1) trust only `ca_file`.
void TrustOnly(httplib::SSLClient& client, const std::string& ca_file) {
  client.set_ca_cert_path(ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
}

TEST_F(MetricsHttpServerTest, ServesMetricsOverLoopback) {
  MetricsHttpServer server(&registry_);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  ASSERT_GT(server.port(), 0);
  httplib::Client client = Client(server.port());
  httplib::Result result = client.Get("/metrics");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(result->body, registry_.ExpositionText());
  EXPECT_THAT(result->body,
              HasSubstr("optd_steps_total{solver=\"lbfgs\"} 3\n"));

  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
}

TEST_F(MetricsHttpServerTest, UnknownPathIs404) {
  MetricsHttpServer server(&registry_);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  httplib::Client client = Client(server.port());
  for (const char* path : {"/", "/metricsx", "/metrics/x", "/favicon.ico"}) {
    httplib::Result result = client.Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 404) << path;
    EXPECT_THAT(result->body, HasSubstr("not found")) << path;
  }
}

TEST_F(MetricsHttpServerTest, OtherMethodsOnMetricsAre405) {
  MetricsHttpServer server(&registry_);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  httplib::Client client = Client(server.port());
  const httplib::Result results[] = {
      client.Post("/metrics", "x", "text/plain"),
      client.Put("/metrics", "x", "text/plain"),
      client.Patch("/metrics", "x", "text/plain"),
      client.Delete("/metrics"),
      client.Options("/metrics"),
  };
  for (const httplib::Result& result : results) {
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 405);
    EXPECT_EQ(result->get_header_value("Allow"), "GET, HEAD");
    EXPECT_THAT(result->body, HasSubstr("only GET is allowed"));
  }
  httplib::Result head = client.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
}

TEST_F(MetricsHttpServerTest, PortInUseIsUnavailable) {
  MetricsHttpServer first(&registry_);
  ASSERT_TRUE(first.Start("127.0.0.1", 0).ok());
  MetricsHttpServer second(&registry_);
  EXPECT_THAT(second.Start("127.0.0.1", first.port()),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot listen for metrics on 127.0.0.1:" +
                                 std::to_string(first.port()))));
  EXPECT_EQ(second.port(), 0);
  second.Stop();  // nothing to stop
  // The first one still answers alone.
  httplib::Result result = Client(first.port()).Get("/metrics");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
}

TEST_F(MetricsHttpServerTest, UnknownHostIsUnavailable) {
  MetricsHttpServer server(&registry_);
  EXPECT_THAT(server.Start("no-such-host.invalid", 0),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("no-such-host.invalid:0")));
}

TEST_F(MetricsHttpServerTest, StartsOnlyOnce) {
  MetricsHttpServer server(&registry_);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  EXPECT_THAT(server.Start("127.0.0.1", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("started before")));
  server.Stop();
  EXPECT_THAT(server.Start("127.0.0.1", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("")));
}

TEST_F(MetricsHttpServerTest, StopIsIdempotentAndClosesThePort) {
  MetricsHttpServer server(&registry_);
  server.Stop();  // before Start: a no-op
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  const int port = server.port();
  server.Stop();
  server.Stop();
  httplib::Client client = Client(port);
  client.set_connection_timeout(1, 0);
  EXPECT_FALSE(client.Get("/metrics"));
  // The port can be bound again at once.
  MetricsHttpServer again(&registry_);
  EXPECT_TRUE(again.Start("127.0.0.1", port).ok());
}

TEST_F(MetricsHttpServerTest, StopWaitsForTheScrapeInFlight) {
  absl::Notification scrape_entered;
  absl::Notification release_scrape;
  registry_.RegisterGaugeCallback("slow", "Blocks the scrape.", {}, [&] {
    scrape_entered.Notify();
    release_scrape.WaitForNotification();
    return std::vector<LabeledValue>{{{}, 1}};
  });
  MetricsHttpServer server(&registry_);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  int status = 0;
  std::string body;
  std::thread scraper([&] {
    httplib::Result scrape = Client(server.port()).Get("/metrics");
    if (scrape) {
      status = scrape->status;
      body = scrape->body;
    }
  });
  scrape_entered.WaitForNotification();
  absl::Notification stopped;
  std::thread stopper([&] {
    server.Stop();
    stopped.Notify();
  });
  EXPECT_FALSE(stopped.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  release_scrape.Notify();
  EXPECT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Seconds(10)));
  stopper.join();
  scraper.join();
  EXPECT_EQ(status, 200);
  EXPECT_THAT(body, HasSubstr("slow 1\n"));
}

TEST_F(MetricsHttpServerTest, StopIsPromptWithIdleConnectionsOpen) {
  MetricsHttpServer server(&registry_);
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  // A keep-alive client that went quiet, and a connection that never sent
  // a byte: each holds a worker.
  httplib::Client keep_alive = Client(server.port());
  keep_alive.set_keep_alive(true);
  ASSERT_TRUE(keep_alive.Get("/metrics"));
  ExpectPromptStopWithASilentConnection(server);
}

TEST_F(MetricsHttpServerTest, DestructorStops) {
  int port = 0;
  {
    MetricsHttpServer server(&registry_);
    ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
    port = server.port();
  }
  httplib::Client client = Client(port);
  client.set_connection_timeout(1, 0);
  EXPECT_FALSE(client.Get("/metrics"));
}

TEST_F(MetricsHttpServerTest, RoutesGetsUnderAPrefix) {
  MetricsHttpServer server(&registry_);
  HttpRequest seen;
  server.Route("/api/v1", [&seen](const HttpRequest& request) {
    seen = request;
    HttpResponse response;
    response.status = 418;
    response.body = "{}";
    return response;
  });
  ASSERT_TRUE(server.Start("127.0.0.1", 0).ok());
  httplib::Client client = Client(server.port());
  httplib::Result result = client.Get("/api/v1/a%20b/c?x=1&x=2&y=%3A",
                                      {{"Authorization", "Bearer t"}});
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 418);
  EXPECT_EQ(result->body, "{}");
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.path, "/api/v1/a b/c");
  EXPECT_EQ(seen.params.count("x"), 2u);
  EXPECT_EQ(seen.params.find("y")->second, ":");
  EXPECT_EQ(seen.authorization, "Bearer t");

  ASSERT_TRUE(client.Get("/api/v1"));
  EXPECT_EQ(seen.path, "/api/v1");
  EXPECT_FALSE(seen.authorization.has_value());
  // Not under the prefix: the usual 404.
  httplib::Result other = client.Get("/api/v10");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  httplib::Result post = client.Post("/api/v1/x", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(MetricsHttpServerTest, ServesHttpsWithTheCertificate) {
  SelfSigned certs;
  ASSERT_TRUE(certs.ok());
  MetricsHttpServer server(&registry_);
  server.Route("/api/v1", [](const HttpRequest& request) {
    return HttpResponse{.body = request.path};
  });
  ASSERT_OK(server.Start("127.0.0.1", 0, certs.Tls("a")));
  httplib::SSLClient client("127.0.0.1", server.port());
  TrustOnly(client, certs.Path("a.pem"));
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, registry_.ExpositionText());
  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok\n");
  httplib::Result api = client.Get("/api/v1/sessions");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 200);
  EXPECT_EQ(api->body, "/api/v1/sessions");

  // A client that trusts another certificate does not connect, and plain
  // HTTP gets no answer: the port speaks TLS only.
  httplib::SSLClient stranger("127.0.0.1", server.port());
  TrustOnly(stranger, certs.Path("b.pem"));
  EXPECT_FALSE(stranger.Get("/healthz"));
  EXPECT_FALSE(Client(server.port()).Get("/healthz"));
}

TEST_F(MetricsHttpServerTest, BadCertificateOrKeyIsInvalidArgument) {
  SelfSigned certs;
  ASSERT_TRUE(certs.ok());
  const std::vector<HttpTls> bad = {
      {.cert_file = certs.Path("missing.pem"), .key_file = certs.Path("a.key")},
      {.cert_file = certs.Path("a.key"), .key_file = certs.Path("a.key")},
      {.cert_file = certs.Path("a.pem"), .key_file = certs.Path("b.key")},
      {.cert_file = certs.Path("a.pem")},
      {.key_file = certs.Path("a.key")}};
  for (const HttpTls& tls : bad) {
    MetricsHttpServer server(&registry_);
    EXPECT_THAT(server.Start("127.0.0.1", 0, tls),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << tls.cert_file << " " << tls.key_file;
    EXPECT_EQ(server.port(), 0);
  }
}

TEST_F(MetricsHttpServerTest, HttpsStopIsPromptWithASilentConnection) {
  SelfSigned certs;
  ASSERT_TRUE(certs.ok());
  MetricsHttpServer server(&registry_);
  ASSERT_OK(server.Start("127.0.0.1", 0, certs.Tls("a")));
  // A connection that never starts its TLS handshake holds a worker.
  ExpectPromptStopWithASilentConnection(server);
}

TEST_F(MetricsHttpServerTest, ServesKWorkerThreadsRequestsAtOnce) {
  // Long polls hold their workers: kWorkerThreads of them are all in the
  // route at once.
  absl::Mutex mu;
  int inside = 0;
  MetricsHttpServer server(&registry_);
  server.Route("/api/v1", [&](const HttpRequest&) {
    absl::MutexLock lock(&mu);
    ++inside;
    mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* n) { return *n >= MetricsHttpServer::kWorkerThreads; },
            &inside),
        absl::Seconds(5));
    return HttpResponse{.body = std::to_string(inside)};
  });
  ASSERT_OK(server.Start("127.0.0.1", 0));
  std::vector<std::thread> pollers;
  std::vector<std::string> bodies(MetricsHttpServer::kWorkerThreads);
  for (int i = 0; i < MetricsHttpServer::kWorkerThreads; ++i) {
    pollers.emplace_back([&, i] {
      httplib::Client client = Client(server.port());
      client.set_read_timeout(20, 0);
      httplib::Result result = client.Get("/api/v1/poll");
      if (result) bodies[i] = result->body;
    });
  }
  for (std::thread& poller : pollers) poller.join();
  // Each saw all of them inside, not a timeout with fewer.
  for (const std::string& body : bodies) {
    EXPECT_EQ(body, std::to_string(MetricsHttpServer::kWorkerThreads));
  }
}

}  // namespace
}  // namespace optd::server
