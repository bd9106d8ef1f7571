// The dashboard's static files (server/http/dashboard/*.html, *.js, *.css and
// Debian's Chart.js), embedded in the binary at build time by
// cmake/embed_files.cmake, so that optd serves its pages with nothing
// installed beside it. Dashboard (dashboard.h) serves them.
#ifndef OPTD_SERVER_HTTP_DASHBOARD_ASSETS_H_
#define OPTD_SERVER_HTTP_DASHBOARD_ASSETS_H_

#include <cstddef>

namespace optd::server {

struct EmbeddedFile {
  const char* name;  // as served: "index.html", "chart.min.js"
  const unsigned char* data;
  size_t size;
};

extern const EmbeddedFile kDashboardFiles[];
extern const int kDashboardFileCount;

}  // namespace optd::server

#endif  // OPTD_SERVER_HTTP_DASHBOARD_ASSETS_H_
