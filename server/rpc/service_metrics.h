// ServiceMetrics: what the optd service reports on /metrics
// (docs/operations.md "Metrics"), registered on a MetricsRegistry (metrics.h):
//
//   optd_rpc_handled_total{method,code}      every call, by its final code
//   optd_rpc_received_bytes_total{method}    request message bytes
//   optd_rpc_sent_bytes_total{method}        response message bytes
//   optd_rpc_duration_seconds{method}        handling time of unary calls
//   optd_sessions_created_total{solver}      CreateSession, ImportSession
//   optd_steps_total{solver}                 solver iterations (accepted steps)
//   optd_evaluations_total{solver}           evaluations told
//   optd_step_duration_seconds{solver}       server time of one tell
//   optd_sessions{state}                     (at scrape) sessions by state
//   optd_tenant_sessions{tenant}             (at scrape) sessions per tenant
//   optd_tenant_memory_bytes{tenant}         (at scrape) estimated state
//   optd_optimize_streams                    (at scrape) open Optimize streams
//   optd_process_resident_memory_bytes       (at scrape) RSS
//
// The tenant of sessions created without authentication is "-".
//
//   MetricsRegistry registry;
//   ServiceMetrics metrics(&registry);
//   metrics.ObserveSessions(&session_manager);
//   metrics.Handled("Tell", absl::StatusCode::kOk, request_bytes, 12);
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_METRICS_SERVICE_METRICS_H_
#define OPTD_SERVER_METRICS_SERVICE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/metrics/metrics.h"
#include "server/session/session_manager.h"

namespace optd::server {

class ServiceMetrics {
 public:
  // `registry` must outlive this.
  explicit ServiceMetrics(MetricsRegistry* registry);

  // ServiceMetrics::ObserveSessions()
  //
  // Registers the scrape-time gauges over `sessions` and `open_streams`
  // (both must outlive the registry's scrapes: stop the HTTP server first).
  void ObserveSessions(const SessionManager* sessions,
                       std::function<int64_t()> open_streams);

  // A call to `method` ended with `code`, having received and sent these
  // message bytes.
  void Handled(absl::string_view method, absl::StatusCode code,
               int64_t received_bytes, int64_t sent_bytes);
  // A unary call to `method` took `elapsed` from its start on the server to
  // its answer (a tell's wait for its journal included).
  void UnaryDuration(absl::string_view method, absl::Duration elapsed);
  // A session of `solver` was created (or imported).
  void Created(absl::string_view solver);
  // A tell to a `solver` session took `latency` on the server and moved its
  // counters by `stats`.
  void Told(absl::string_view solver, absl::Duration latency,
            const Session::TellStats& stats);

 private:
  MetricsRegistry* const registry_;
  CounterFamily* const handled_;
  CounterFamily* const received_bytes_;
  CounterFamily* const sent_bytes_;
  HistogramFamily* const rpc_duration_;
  CounterFamily* const created_;
  CounterFamily* const steps_;
  CounterFamily* const evaluations_;
  HistogramFamily* const step_duration_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_METRICS_SERVICE_METRICS_H_
