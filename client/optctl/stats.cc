// optctl stats: a summary of the server's Prometheus metrics.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/optctl/commands.h"
#include "httplib.h"

namespace optd::client::optctl {
namespace {

// One sample of the Prometheus text format: name{labels} value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The samples of an exposition (format 0.0.4); comments are skipped.
std::vector<Sample> ParseExposition(absl::string_view text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    Sample sample;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    sample.name = std::string(line.substr(0, std::min(brace, space)));
    if (brace != absl::string_view::npos && brace < space) {
      // key="value",key="value" (values escape \\, \" and \n).
      size_t i = brace + 1;
      while (i < line.size() && line[i] != '}') {
        const size_t eq = line.find('=', i);
        if (eq == absl::string_view::npos || eq + 1 >= line.size()) break;
        std::string key(line.substr(i, eq - i)), value;
        size_t j = eq + 2;  // past ="
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        sample.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
    const absl::string_view number = line.substr(space + 1);
    if (number == "+Inf") {
      sample.value = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(number, &sample.value)) {
      continue;
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The q-quantile of a histogram's cumulative buckets (upper bound -> count),
// interpolated linearly within the bucket, as Prometheus'
// histogram_quantile() does. NaN when empty.
double HistogramQuantile(const std::map<double, double>& buckets, double q) {
  if (buckets.empty() || buckets.rbegin()->second <= 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double rank = q * buckets.rbegin()->second;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(bound)) return lower;
      return lower +
             (bound - lower) * (rank - below) / std::max(count - below, 1e-300);
    }
    lower = bound;
    below = count;
  }
  return lower;
}

}  // namespace

absl::Status Stats() {
  const std::string address = absl::GetFlag(FLAGS_metrics);
  const size_t colon = address.rfind(':');
  int port = 0;
  if (address.empty() || colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        "stats needs --metrics=HOST:PORT, the server's metrics endpoint "
        "(optd --metrics_port)");
  }
  httplib::Client http(address.substr(0, colon), port);
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  http.set_connection_timeout(absl::ToChronoSeconds(timeout));
  http.set_read_timeout(absl::ToChronoSeconds(timeout));
  httplib::Result result = http.Get("/metrics");
  if (!result) {
    return absl::UnavailableError(
        absl::StrCat("cannot read http://", address,
                     "/metrics: ", httplib::to_string(result.error())));
  }
  if (result->status != 200) {
    return absl::UnavailableError(absl::StrCat(
        "http://", address, "/metrics answered HTTP ", result->status));
  }
  const std::vector<Sample> samples = ParseExposition(result->body);
  auto value = [&](absl::string_view name) {
    for (const Sample& s : samples) {
      if (s.name == name) return s.value;
    }
    return 0.0;
  };
  std::cout << absl::StrFormat(
      "process   resident memory %.1f MB, %d Optimize streams open\n",
      value("optd_process_resident_memory_bytes") / 1048576.0,
      static_cast<int>(value("optd_optimize_streams")));
  std::cout << "sessions ";
  for (const Sample& s : samples) {
    if (s.name == "optd_sessions" && s.value > 0) {
      std::cout << " " << s.labels.at("state") << " " << s.value;
    }
  }
  std::cout << "\n\n";

  std::map<std::string, std::pair<double, double>> tenants;
  for (const Sample& s : samples) {
    if (s.name == "optd_tenant_sessions") {
      tenants[s.labels.at("tenant")].first = s.value;
    } else if (s.name == "optd_tenant_memory_bytes") {
      tenants[s.labels.at("tenant")].second = s.value;
    }
  }
  if (!tenants.empty()) {
    std::cout << absl::StrFormat("%-32s %10s %12s\n", "TENANT", "SESSIONS",
                                 "STATE MB");
    for (const auto& [tenant, usage] : tenants) {
      std::cout << absl::StrFormat("%-32s %10.0f %12.1f\n", tenant, usage.first,
                                   usage.second / 1048576.0);
    }
    std::cout << "\n";
  }

  struct SolverRow {
    double created = 0, steps = 0, evaluations = 0;
    std::map<double, double> buckets;
  };
  std::map<std::string, SolverRow> solvers;
  for (const Sample& s : samples) {
    auto solver = s.labels.find("solver");
    if (solver == s.labels.end()) continue;
    SolverRow& row = solvers[solver->second];
    if (s.name == "optd_sessions_created_total") row.created = s.value;
    if (s.name == "optd_steps_total") row.steps = s.value;
    if (s.name == "optd_evaluations_total") row.evaluations = s.value;
    if (s.name == "optd_step_duration_seconds_bucket") {
      double bound = std::numeric_limits<double>::infinity();
      if (s.labels.at("le") != "+Inf") {
        absl::SimpleAtod(s.labels.at("le"), &bound);
      }
      row.buckets[bound] = s.value;
    }
  }
  if (!solvers.empty()) {
    std::cout << absl::StrFormat("%-14s %10s %12s %12s %12s %12s\n", "SOLVER",
                                 "CREATED", "STEPS", "EVALUATIONS",
                                 "TELL p50 ms", "TELL p99 ms");
    for (const auto& [solver, row] : solvers) {
      std::cout << absl::StrFormat(
          "%-14s %10.0f %12.0f %12.0f %12.3f %12.3f\n", solver, row.created,
          row.steps, row.evaluations, 1e3 * HistogramQuantile(row.buckets, 0.5),
          1e3 * HistogramQuantile(row.buckets, 0.99));
    }
    std::cout << "\n";
  }

  std::map<std::string, std::map<std::string, double>> calls;
  for (const Sample& s : samples) {
    if (s.name == "optd_rpc_handled_total") {
      calls[s.labels.at("method")][s.labels.at("code")] = s.value;
    }
  }
  std::cout << absl::StrFormat("%-14s %10s  %s\n", "METHOD", "OK",
                               "ERRORS BY CODE");
  for (const auto& [method, codes] : calls) {
    std::vector<std::string> errors;
    double ok = 0;
    for (const auto& [code, count] : codes) {
      if (code == "OK") {
        ok = count;
      } else {
        errors.push_back(absl::StrFormat("%s %.0f", code, count));
      }
    }
    std::cout << absl::StrFormat(
        "%-14s %10.0f  %s\n", method, ok,
        errors.empty() ? std::string("-") : absl::StrJoin(errors, ", "));
  }
  return absl::OkStatus();
}

}  // namespace optd::client::optctl
