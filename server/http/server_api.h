// ServerSnapshotJson(): the body of GET /api/v1/server (JsonApi), the
// server's metrics as JSON for the dashboard's server page, which computes
// rates and quantiles from successive snapshots as Prometheus' rate() and
// histogram_quantile() do (docs/dashboard.md):
//
//   {"timeUnixSeconds": 1767003000.25,
//    "metrics": [
//      {"name": "optd_sessions", "type": "gauge", "help": "...",
//       "samples": [{"labels": {"state": "RUNNING"}, "value": 3}]},
//      {"name": "optd_step_duration_seconds", "type": "histogram", ...,
//       "samples": [{"labels": {"solver": "lbfgs"}, "count": 9, "sum": 0.02,
//                    "buckets": [{"le": 0.0001, "count": 0}, ...,
//                                {"le": "+Inf", "count": 9}]}]}]}
//
// Families in registration order, samples sorted by label values (as
// MetricsRegistry::ExpositionText()); a family without samples has
// "samples": []. Numbers are JSON numbers, except non-finite values, which
// are the strings "NaN", "+Inf" and "-Inf".
//
//   std::string body = ServerSnapshotJson(registry.Snapshot(), now, "alice");
//
// Thread-safety: a pure function.
#ifndef OPTD_SERVER_HTTP_SERVER_API_H_
#define OPTD_SERVER_HTTP_SERVER_API_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/metrics/metrics.h"

namespace optd::server {

// ServerSnapshotJson()
//
// `families` as the JSON above, taken at `now`. A `tenant` that is not
// empty (the caller's, with authentication on) keeps, of the samples that
// have a "tenant" label, only those of `tenant`; an empty one keeps every
// sample.
std::string ServerSnapshotJson(const std::vector<FamilySnapshot>& families,
                               absl::Time now, absl::string_view tenant);

// AppendJsonString()
//
// Appends `text` to `out` as a JSON string literal: quoted, with `"`, `\`
// and control characters escaped (RFC 8259 section 7); other bytes, UTF-8
// included, as they are. The one escaper of the JSON API's own text.
void AppendJsonString(std::string* out, absl::string_view text);

}  // namespace optd::server

#endif  // OPTD_SERVER_HTTP_SERVER_API_H_
