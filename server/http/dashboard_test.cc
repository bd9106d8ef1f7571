#include "server/http/dashboard.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/http/dashboard_assets.h"
#include "server/metrics/metrics.h"

namespace optd::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

HttpResponse Get(const std::string& path) {
  HttpRequest request;
  request.method = "GET";
  request.path = path;
  return Dashboard::Handle(request);
}

std::string Header(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

TEST(Dashboard, RootAndPrefixRedirectToTheIndex) {
  for (const std::string path : {"/", "/dashboard"}) {
    const HttpResponse response = Get(path);
    EXPECT_EQ(response.status, 302) << path;
    EXPECT_EQ(Header(response, "Location"), "/dashboard/") << path;
  }
}

TEST(Dashboard, ServesTheIndexWithItsPolicy) {
  const HttpResponse response = Get("/dashboard/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(response.body, StartsWith("<!doctype html>"));
  EXPECT_THAT(response.body, HasSubstr("<script src=\"chart.min.js\">"));
  EXPECT_EQ(Header(response, "Content-Security-Policy"),
            Dashboard::kContentSecurityPolicy);
  EXPECT_EQ(Header(response, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(response, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(Header(response, "Cache-Control"), "no-cache");
  // No inline script or style: the policy would block it.
  EXPECT_THAT(response.body, ::testing::Not(HasSubstr("<script>")));
  EXPECT_THAT(response.body, ::testing::Not(HasSubstr("style=")));
}

TEST(Dashboard, EveryScriptTheIndexLoadsIsEmbedded) {
  const std::string index = Get("/dashboard/").body;
  for (const std::string name :
       {"chart.min.js", "common.js", "charts.js", "list.js", "session.js",
        "server.js", "app.js", "style.css", "favicon.svg"}) {
    EXPECT_THAT(index, HasSubstr(absl::StrCat("\"", name, "\""))) << name;
    const HttpResponse response = Get(absl::StrCat("/dashboard/", name));
    EXPECT_EQ(response.status, 200) << name;
    EXPECT_EQ(response.content_type, Dashboard::ContentType(name)) << name;
    EXPECT_FALSE(response.body.empty()) << name;
  }
  // Debian's Chart.js 3, whole.
  const HttpResponse chart = Get("/dashboard/chart.min.js");
  EXPECT_THAT(chart.body, HasSubstr("Chart.js v3"));
  EXPECT_GT(chart.body.size(), 100000u);
  EXPECT_EQ(chart.content_type, "text/javascript; charset=utf-8");
}

TEST(Dashboard, EveryEmbeddedFileIsServedWhole) {
  ASSERT_GT(kDashboardFileCount, 0);
  for (int i = 0; i < kDashboardFileCount; ++i) {
    const EmbeddedFile& file = kDashboardFiles[i];
    EXPECT_EQ(Get(absl::StrCat("/dashboard/", file.name)).body.size(),
              file.size)
        << file.name;
  }
}

TEST(Dashboard, UnknownFilesAre404) {
  for (const std::string path :
       {"/dashboard/nope.js", "/dashboard/../api/v1/sessions",
        "/dashboard/sub/index.html", "/dashboardx", "/dashboard//app.js"}) {
    const HttpResponse response = Get(path);
    EXPECT_EQ(response.status, 404) << path;
    EXPECT_THAT(response.body, HasSubstr("the dashboard is at /dashboard/"));
    EXPECT_EQ(Header(response, "Content-Security-Policy"),
              Dashboard::kContentSecurityPolicy);
  }
}

TEST(Dashboard, ContentTypes) {
  EXPECT_EQ(Dashboard::ContentType("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(Dashboard::ContentType("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Dashboard::ContentType("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(Dashboard::ContentType("a.svg"), "image/svg+xml");
  EXPECT_EQ(Dashboard::ContentType("a.bin"), "application/octet-stream");
}

// Through the HTTP server: the headers a route sets reach the browser.
TEST(Dashboard, ServedOverHttpWithItsHeaders) {
  MetricsRegistry registry;
  MetricsHttpServer http(&registry);
  http.Route("/", Dashboard::Handle);
  http.Route(Dashboard::kPrefix, Dashboard::Handle);
  ASSERT_TRUE(http.Start("127.0.0.1", 0).ok());
  httplib::Client client("127.0.0.1", http.port());
  client.set_read_timeout(5, 0);
  httplib::Result root = client.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 302);
  EXPECT_EQ(root->get_header_value("Location"), "/dashboard/");
  client.set_follow_location(true);
  httplib::Result index = client.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"),
            "text/html; charset=utf-8");
  EXPECT_EQ(index->get_header_value("Content-Security-Policy"),
            Dashboard::kContentSecurityPolicy);
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  httplib::Result post = client.Post("/dashboard/", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

}  // namespace
}  // namespace optd::server
