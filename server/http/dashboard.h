// Dashboard: the browser pages of a server's sessions, served on the HTTP
// port of /metrics beside the JSON API they read (json_api.h). The pages are
// static files embedded in the binary (dashboard_assets.h); everything they
// show comes from /api/v1 with the caller's bearer token, so serving them
// needs no authentication and reveals nothing (docs/dashboard.md).
//
//   GET /                    302 to /dashboard/
//   GET /dashboard           302 to /dashboard/
//   GET /dashboard/          index.html (the pages route on the URL fragment:
//                            #/sessions, #/session/<id>, #/server)
//   GET /dashboard/<file>    an embedded file (app.js, style.css, ...)
//   anything else under it   404
//
// Every answer carries a Content-Security-Policy that lets the pages load
// only their own scripts and styles and talk only to this origin.
//
// Thread-safety: stateless; thread-safe.
#ifndef OPTD_SERVER_HTTP_DASHBOARD_H_
#define OPTD_SERVER_HTTP_DASHBOARD_H_

#include "absl/strings/string_view.h"
#include "server/metrics/metrics_http_server.h"

namespace optd::server {

class Dashboard {
 public:
  // Where the pages are served (MetricsHttpServer::Route()).
  static constexpr char kPrefix[] = "/dashboard";
  // The policy every answer carries.
  static constexpr char kContentSecurityPolicy[] =
      "default-src 'none'; script-src 'self'; style-src 'self'; "
      "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
      "form-action 'none'; frame-ancestors 'none'";

  // Dashboard::Handle()
  //
  // The answer to a GET of `request.path` ("/", kPrefix or under it).
  static HttpResponse Handle(const HttpRequest& request);

  // Dashboard::ContentType()
  //
  // The media type a file is served as, by its extension.
  static absl::string_view ContentType(absl::string_view name);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_HTTP_DASHBOARD_H_
