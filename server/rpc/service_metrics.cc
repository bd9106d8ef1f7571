#include "server/rpc/service_metrics.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "optd/v1/optimizer.pb.h"
#include "server/rpc/shard_service.h"

namespace optd::server {
namespace {

// "INVALID_ARGUMENT", as gRPC names the codes.
std::string CodeName(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

// "RUNNING" for SESSION_STATE_RUNNING.
std::string StateName(v1::SessionState state) {
  std::string name = v1::SessionState_Name(state);
  constexpr absl::string_view kPrefix = "SESSION_STATE_";
  if (absl::StartsWith(name, kPrefix)) name = name.substr(kPrefix.size());
  return name;
}

}  // namespace

ServiceMetrics::ServiceMetrics(MetricsRegistry* registry)
    : registry_(registry),
      handled_(registry->RegisterCounter(
          "optd_rpc_handled_total",
          "Calls to optd.v1.Optimizer completed, by method and final gRPC "
          "code (OK included).",
          {"method", "code"})),
      received_bytes_(registry->RegisterCounter(
          "optd_rpc_received_bytes_total",
          "Bytes of request messages received, by method.", {"method"})),
      sent_bytes_(registry->RegisterCounter(
          "optd_rpc_sent_bytes_total",
          "Bytes of response messages sent, by method.", {"method"})),
      rpc_duration_(registry->RegisterHistogram(
          "optd_rpc_duration_seconds",
          "Server time of unary calls to optd.v1.Optimizer, from the start "
          "of the handler to the answer (a tell's wait for its journal "
          "included), by method.",
          {"method"}, DefaultLatencyBuckets())),
      created_(registry->RegisterCounter(
          "optd_sessions_created_total",
          "Sessions created or imported, by solver.", {"solver"})),
      steps_(registry->RegisterCounter(
          "optd_steps_total",
          "Solver iterations (accepted steps) made by tells, by solver.",
          {"solver"})),
      evaluations_(registry->RegisterCounter(
          "optd_evaluations_total",
          "Evaluations told (value, gradient, Hessian or Hessian-vector "
          "product), by solver.",
          {"solver"})),
      step_duration_(registry->RegisterHistogram(
          "optd_step_duration_seconds",
          "Server time of one tell (decode, solver step, journal record; "
          "not the wait for fsync), by solver.",
          {"solver"}, DefaultLatencyBuckets())) {
  registry->RegisterGaugeCallback(
      "optd_process_resident_memory_bytes",
      "Resident set size of the optd process.", {}, [] {
        return std::vector<LabeledValue>{
            {{}, static_cast<double>(ResidentSetBytes())}};
      });
}

void ServiceMetrics::ObserveSessions(const SessionManager* sessions,
                                     std::function<int64_t()> open_streams) {
  registry_->RegisterGaugeCallback(
      "optd_sessions", "Sessions held, by state.", {"state"}, [sessions] {
        std::vector<LabeledValue> samples;
        for (const auto& [state, count] : sessions->CountByState()) {
          samples.push_back({{StateName(state)}, static_cast<double>(count)});
        }
        return samples;
      });
  auto by_tenant = [sessions](int64_t TenantUsage::*field) {
    std::vector<LabeledValue> samples;
    for (const auto& [tenant, usage] : sessions->UsageByTenant()) {
      samples.push_back({{tenant.empty() ? std::string("-") : tenant},
                         static_cast<double>(usage.*field)});
    }
    return samples;
  };
  registry_->RegisterGaugeCallback(
      "optd_tenant_sessions", "Sessions held, by tenant.", {"tenant"},
      [by_tenant] { return by_tenant(&TenantUsage::sessions); });
  registry_->RegisterGaugeCallback(
      "optd_tenant_memory_bytes",
      "Estimated solver state and batch buffers of the sessions held, by "
      "tenant (with optd_tenant_trial_log_bytes, what --tenant_memory_bytes "
      "limits).",
      {"tenant"}, [by_tenant] { return by_tenant(&TenantUsage::state_bytes); });
  registry_->RegisterGaugeCallback(
      "optd_tenant_trial_log_bytes",
      "Memory of the trial logs of the sessions held, by tenant (with "
      "optd_tenant_memory_bytes, what --tenant_memory_bytes limits).",
      {"tenant"},
      [by_tenant] { return by_tenant(&TenantUsage::trial_log_bytes); });
  registry_->RegisterGaugeCallback(
      "optd_optimize_streams", "Optimize streams open.", {},
      [open_streams = std::move(open_streams)] {
        return std::vector<LabeledValue>{
            {{}, static_cast<double>(open_streams())}};
      });
}

void ServiceMetrics::Handled(absl::string_view method, absl::StatusCode code,
                             int64_t received_bytes, int64_t sent_bytes) {
  const std::string name(method);
  handled_->Add({name, CodeName(code)});
  if (received_bytes > 0) received_bytes_->Add({name}, received_bytes);
  if (sent_bytes > 0) sent_bytes_->Add({name}, sent_bytes);
}

void ServiceMetrics::UnaryDuration(absl::string_view method,
                                   absl::Duration elapsed) {
  rpc_duration_->Observe({std::string(method)}, absl::ToDoubleSeconds(elapsed));
}

void ServiceMetrics::Created(absl::string_view solver) {
  created_->Add({std::string(solver)});
}

void ServiceMetrics::Told(absl::string_view solver, absl::Duration latency,
                          const Session::TellStats& stats) {
  const std::string name(solver);
  step_duration_->WithLabels({name}).Observe(absl::ToDoubleSeconds(latency));
  if (stats.iterations > 0) steps_->Add({name}, stats.iterations);
  if (stats.evaluations > 0) evaluations_->Add({name}, stats.evaluations);
}

}  // namespace optd::server
