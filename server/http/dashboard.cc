#include "server/http/dashboard.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/http/dashboard_assets.h"

namespace optd::server {
namespace {

void AddSecurityHeaders(HttpResponse* response) {
  response->headers.emplace_back("Content-Security-Policy",
                                 Dashboard::kContentSecurityPolicy);
  response->headers.emplace_back("X-Content-Type-Options", "nosniff");
  response->headers.emplace_back("Referrer-Policy", "no-referrer");
  response->headers.emplace_back("X-Frame-Options", "DENY");
}

HttpResponse Redirect(std::string location) {
  HttpResponse response;
  response.status = 302;
  response.content_type = "text/plain; charset=utf-8";
  response.body = absl::StrCat("see ", location, "\n");
  response.headers.emplace_back("Location", std::move(location));
  AddSecurityHeaders(&response);
  return response;
}

const EmbeddedFile* Find(absl::string_view name) {
  for (int i = 0; i < kDashboardFileCount; ++i) {
    if (name == kDashboardFiles[i].name) return &kDashboardFiles[i];
  }
  return nullptr;
}

}  // namespace

absl::string_view Dashboard::ContentType(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  if (absl::EndsWith(name, ".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

HttpResponse Dashboard::Handle(const HttpRequest& request) {
  const std::string index = absl::StrCat(kPrefix, "/");
  if (request.path == "/" || request.path == kPrefix) return Redirect(index);
  absl::string_view name = request.path;
  if (!absl::ConsumePrefix(&name, index)) name = "";
  if (name.empty() && request.path == index) name = "index.html";
  HttpResponse response;
  AddSecurityHeaders(&response);
  const EmbeddedFile* file = name.empty() ? nullptr : Find(name);
  if (file == nullptr) {
    response.status = 404;
    response.content_type = "text/plain; charset=utf-8";
    response.body = absl::StrCat(
        request.path, ": not found; the dashboard is at ", index, "\n");
    return response;
  }
  response.content_type = std::string(ContentType(file->name));
  response.body.assign(reinterpret_cast<const char*>(file->data), file->size);
  // The files change only with the binary; a reload revalidates.
  response.headers.emplace_back("Cache-Control", "no-cache");
  return response;
}

}  // namespace optd::server
