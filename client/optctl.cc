// optctl: the command-line client of an optd server.
//
//   optctl --server=localhost:50051 health
//   optctl list
//   optctl get rosen-1 --json
//   optctl watch rosen-1 --interval=2s
//   optctl demo --n=100
//
// Exit status 0 on success; 1 on any error, printed on stderr as
// "CODE: message" (e.g. "NOT_FOUND: session \"x\" not found").
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "httplib.h"
#include "optd/v1/shard.grpc.pb.h"

ABSL_FLAG(std::string, server, "localhost:50051",
          "Address of the optd server, host:port.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates to verify a TLS server with; setting any "
          "--tls_* flag connects with TLS (system roots when empty).");
ABSL_FLAG(bool, tls, false,
          "Connect with TLS, verified by the system roots "
          "(implied by any other --tls_* flag).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate, for a server with mutual TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name the server's certificate must carry, when it is not the "
          "host of --server.");
ABSL_FLAG(std::string, token_file, "",
          "File holding the bearer token (for a server with --tokens_file). "
          "Default: the OPTD_TOKEN environment variable, if set.");
ABSL_FLAG(std::string, metrics, "",
          "stats: address (host:port) of the server's metrics endpoint, "
          "optd --metrics_port.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "Deadline of each call to the server.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5),
          "How long to wait for the server to accept the connection.");
ABSL_FLAG(bool, json, false,
          "get: print the Session message as JSON (protobuf's JSON mapping).");
ABSL_FLAG(bool, include_x, false, "get: include the best point so far.");
ABSL_FLAG(std::string, format, "csv",
          "history: csv (one row per trial, a header first) or json (one "
          "optd.v1.TrialRecord object per line).");
ABSL_FLAG(uint64_t, after, 0,
          "history: only trials with a greater id (follow a running session "
          "by passing the last id printed).");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1),
          "watch: time between two polls of the session.");
ABSL_FLAG(
    std::string, out, "",
    "export: file to write the snapshot to (binary optd.v1.SessionSnapshot);"
    " default ID.optd-snapshot.");
ABSL_FLAG(std::string, id, "",
          "import: id for the imported session; default the snapshot's own.");
ABSL_FLAG(int, shards, 0,
          "import: shards for the imported session (resharding); default the "
          "snapshot's own.");
ABSL_FLAG(int, n, 2,
          "demo: dimension of the extended Rosenbrock function (even, >= 2).");

namespace optd::client {
namespace {

constexpr char kUsage[] = R"(command-line client of an optd optimization server.

Usage: optctl [--server=HOST:PORT] COMMAND [ARG] [FLAGS]

Commands:
  health      Checks the server with grpc.health.v1 and prints its status
              (SERVING). Fails unless the server is SERVING.
  list        Lists every session as a table: id, solver, state, dimension n,
              iterations, evaluations and best value.
  get ID      Prints session ID: state, counters, best value, options, recent
              history and, once ended, the summary. --json prints the
              optd.v1.Session message in protobuf's JSON mapping instead;
              --include_x adds the best point.
  delete ID   Deletes session ID (ending it if it runs) and frees it, its
              journal included.
  export ID   Writes session ID as a versioned snapshot (its creation request
              and every tell; binary optd.v1.SessionSnapshot) to --out
              (default ID.optd-snapshot): an archive, or a way to move it.
  import FILE Recreates the session of snapshot FILE on the server (under
              --id if set) by replaying its tells, and prints its outstanding
              trial: bitwise the one the exporting server would hand out.
              --shards=K reshards it over K replicas (same bits for any K).
  shards ID   Prints where sharded session ID lives: each shard's replica,
              address and range, the bytes of state it holds there, and each
              replica's total slice bytes and resident memory.
  history ID  Prints the trial log of session ID, one trial per line: id,
              time, worker, what was wanted, value, max |g|, failed, weight,
              note and the point (n <= 100). --format=csv (default; a header
              line, x as x0..x{n-1} columns) or json (one optd.v1.TrialRecord
              per line); --after=ID prints only later trials.
  watch ID    Polls session ID every --interval and prints a progress line
              whenever it advances, until the session ends; then prints the
              summary.
  stats       Reads the server's Prometheus metrics (--metrics=HOST:PORT,
              optd --metrics_port) and prints them as tables: sessions by
              state and by tenant, steps, evaluations and step latency
              (p50/p99) per solver, calls and errors per method.
  demo        Minimizes the Rosenbrock function from (-1.2, 1) with L-BFGS
              through the server's Optimize stream and prints the brief
              report and the final x; --n=N runs the extended Rosenbrock
              function in N (even) dimensions from (-1.2, 1, -1.2, 1, ...).
              Exits 0 when the session converges. The session is kept (see
              optctl get/delete).

Exit status: 0 on success, 1 on error; errors are printed on stderr as
"CODE: message", CODE being the gRPC status code (e.g. NOT_FOUND).)";

// "RUNNING" for SESSION_STATE_RUNNING.
std::string StateName(v1::SessionState state) {
  return std::string(
      absl::StripPrefix(v1::SessionState_Name(state), "SESSION_STATE_"));
}

std::string FormatNumber(double x) {
  return std::isnan(x) ? "-" : absl::StrFormat("%.6g", x);
}

// "[1, 1]", or the first and last few elements of a long vector.
std::string FormatVector(const std::vector<double>& x) {
  constexpr size_t kShown = 6;
  auto format = [](std::string* out, double v) {
    absl::StrAppend(out, absl::StrFormat("%.10g", v));
  };
  if (x.size() <= 2 * kShown) {
    return absl::StrCat("[", absl::StrJoin(x, ", ", format), "]");
  }
  return absl::StrCat(
      "[", absl::StrJoin(x.begin(), x.begin() + kShown, ", ", format),
      ", ... (", x.size() - 2 * kShown, " more) ..., ",
      absl::StrJoin(x.end() - kShown, x.end(), ", ", format), "]");
}

absl::StatusOr<Client> ConnectFromFlags() {
  ClientOptions options;
  options.call_timeout = absl::GetFlag(FLAGS_timeout);
  options.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  const TlsFiles tls{.ca_file = absl::GetFlag(FLAGS_tls_ca),
                     .cert_file = absl::GetFlag(FLAGS_tls_cert),
                     .key_file = absl::GetFlag(FLAGS_tls_key)};
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (absl::GetFlag(FLAGS_tls) || !tls.ca_file.empty() ||
      !tls.cert_file.empty() || !options.tls_server_name.empty()) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        TlsCredentials(tls);
    if (!credentials.ok()) return credentials.status();
    options.credentials = *std::move(credentials);
  }
  const std::string token_file = absl::GetFlag(FLAGS_token_file);
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::string token;
    if (!(in >> token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read a token from --token_file=", token_file));
    }
    options.bearer_token = token;
  } else if (const char* token = std::getenv("OPTD_TOKEN"); token != nullptr) {
    options.bearer_token = token;
  }
  return Client::Connect(absl::GetFlag(FLAGS_server), options);
}

absl::Status Health(const Client& client, const std::string&) {
  absl::StatusOr<ServingStatus> status = client.Health();
  if (!status.ok()) return status.status();
  std::cout << ServingStatusName(*status) << "\n";
  if (*status != ServingStatus::kServing) {
    return absl::UnavailableError(
        absl::StrCat("optd at ", absl::GetFlag(FLAGS_server), " is ",
                     ServingStatusName(*status)));
  }
  return absl::OkStatus();
}

absl::Status List(const Client& client, const std::string&) {
  absl::StatusOr<std::vector<v1::Session>> sessions = client.ListSessions();
  if (!sessions.ok()) return sessions.status();
  size_t id_width = 2;
  for (const v1::Session& s : *sessions) {
    id_width = std::max(id_width, s.session_id().size());
  }
  const std::string row =
      absl::StrCat("%-", id_width, "s  %-6s  %-13s  %8s  %10s  %11s  %s\n");
  const auto format =
      absl::ParsedFormat<'s', 's', 's', 's', 's', 's', 's'>::New(row);
  std::cout << absl::StrFormat(*format, "ID", "SOLVER", "STATE", "N",
                               "ITERATIONS", "EVALUATIONS", "BEST VALUE");
  for (const v1::Session& s : *sessions) {
    std::cout << absl::StrFormat(
        *format, s.session_id(), s.solver(), StateName(s.state()),
        absl::StrCat(s.dimension()), absl::StrCat(s.iterations()),
        absl::StrCat(s.evaluations()), FormatNumber(s.best_value()));
  }
  return absl::OkStatus();
}

void PrintSession(const v1::Session& s) {
  using google::protobuf::util::TimeUtil;
  auto line = [](absl::string_view key, absl::string_view value) {
    std::cout << absl::StrFormat("%-13s %s\n", key, value);
  };
  line("session", s.session_id());
  line("solver", s.solver());
  line("state", StateName(s.state()));
  if (s.state() == v1::SESSION_STATE_DAMAGED) {
    line("damage", s.damage());
    return;
  }
  line("dimension", absl::StrCat(s.dimension()));
  if (!s.labels().empty()) {
    const std::map<std::string, std::string> labels(s.labels().begin(),
                                                    s.labels().end());
    line("labels", absl::StrJoin(labels, ", ", absl::PairFormatter("=")));
  }
  line("created", TimeUtil::ToString(s.create_time()));
  line("updated", TimeUtil::ToString(s.update_time()));
  line("iterations", absl::StrCat(s.iterations()));
  line("evaluations", absl::StrCat(s.evaluations()));
  line("tells",
       absl::StrCat(s.tells(), " (", s.durable_step(), " durable",
                    s.durability().checkpoint_interval() > 0
                        ? absl::StrCat(", synced every ",
                                       s.durability().checkpoint_interval())
                        : std::string(", each before its answer"),
                    ")"));
  line("best value", FormatNumber(s.best_value()));
  line("max |g|", FormatNumber(s.gradient_max_norm()));
  if (s.pending_trial_ids_size() > 0) {
    line("pending",
         absl::StrCat("trial ", absl::StrJoin(s.pending_trial_ids(), ", ")));
  }
  for (const v1::Lease& lease : s.leases()) {
    line("lease", absl::StrCat("trial ", lease.trial_id(), " held by \"",
                               lease.worker_id(), "\" until ",
                               TimeUtil::ToString(lease.expire_time())));
  }
  line("ttl", absl::StrFormat("%.0f s idle", s.ttl_seconds()));
  for (const v1::ShardInfo& shard : s.shard_map()) {
    line(shard.shard() == 0 ? "shards" : "",
         absl::StrFormat("%d: replica %d (%s) elements [%d, %d)", shard.shard(),
                         shard.replica(), shard.address(), shard.begin(),
                         shard.end()));
  }
  if (s.shard_map_size() > 0) {
    line("round trips",
         absl::StrCat(s.shard_round_trips(), " to the shards, ",
                      s.shard_reductions(), " of them reductions"));
  }
  switch (s.options_case()) {
    case v1::Session::kLbfgs:
      line("options", s.lbfgs().ShortDebugString());
      break;
    case v1::Session::kAdam:
      line("options", s.adam().ShortDebugString());
      break;
    case v1::Session::kAdamw:
      line("options", s.adamw().ShortDebugString());
      break;
    default:
      break;
  }
  if (s.has_best_x()) {
    absl::StatusOr<std::vector<double>> x = DecodeVector(s.best_x());
    line("best x", x.ok() ? FormatVector(*x) : x.status().ToString());
  }
  const int kHistoryShown = 5;
  for (int i = std::max(0, s.history_size() - kHistoryShown);
       i < s.history_size(); ++i) {
    const v1::HistoryEntry& h = s.history(i);
    line(
        i == std::max(0, s.history_size() - kHistoryShown) ? "history" : "",
        absl::StrFormat("iteration %d, %d evaluations, f=%s, max|g|=%s, "
                        "step %s",
                        h.iteration(), h.evaluations(), FormatNumber(h.value()),
                        FormatNumber(h.gradient_max_norm()),
                        FormatNumber(h.step_length())));
  }
  for (const v1::GradientCheck& check : s.gradient_checks()) {
    int worst = 0;
    for (int i = 1; i < check.relative_error_size(); ++i) {
      if (!(check.relative_error(i) <= check.relative_error(worst))) worst = i;
    }
    line("gradient check",
         absl::StrFormat(
             "iteration %d: max relative error %s (coordinate %d: "
             "told %s, central difference %s)",
             check.iteration(), FormatNumber(check.max_relative_error()), worst,
             FormatNumber(check.told_size() > worst ? check.told(worst)
                                                    : std::nan("")),
             FormatNumber(check.finite_difference_size() > worst
                              ? check.finite_difference(worst)
                              : std::nan(""))));
  }
  if (s.has_summary()) line("summary", s.summary().brief_report());
}

absl::Status Get(const Client& client, const std::string& id) {
  v1::GetSessionRequest request;
  request.set_session_id(id);
  request.set_include_x(absl::GetFlag(FLAGS_include_x));
  // Packed doubles, so that the JSON shows numbers rather than base64.
  request.set_encoding(v1::VECTOR_ENCODING_VALUES);
  absl::StatusOr<v1::Session> session = client.GetSession(request);
  if (!session.ok()) return session.status();
  if (!absl::GetFlag(FLAGS_json)) {
    PrintSession(*session);
    return absl::OkStatus();
  }
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(*session, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("JSON: ", status.ToString()));
  }
  std::cout << json;
  return absl::OkStatus();
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(text);
  }
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

absl::Status History(const Client& client, const std::string& id) {
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "csv" && format != "json") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--format is \"", format, "\"; history prints csv or json"));
  }
  v1::GetSessionRequest request;
  request.set_session_id(id);
  request.set_include_trials(true);
  request.set_trials_after_id(absl::GetFlag(FLAGS_after));
  absl::StatusOr<v1::Session> session = client.GetSession(request);
  if (!session.ok()) return session.status();
  if (format == "json") {
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    for (const v1::TrialRecord& record : session->trial_log()) {
      std::string json;
      const auto status =
          google::protobuf::util::MessageToJsonString(record, &json, options);
      if (!status.ok()) {
        return absl::InternalError(absl::StrCat("JSON: ", status.ToString()));
      }
      std::cout << json << "\n";
    }
    return absl::OkStatus();
  }
  const bool with_x = session->dimension() <= 100;
  std::cout << "trial_id,time,worker_id,wants,value,gradient_max_norm,failed,"
               "weight,note";
  if (with_x) {
    for (int64_t i = 0; i < session->dimension(); ++i) std::cout << ",x" << i;
  }
  std::cout << "\n";
  auto number = [](double v) {
    return std::isnan(v) ? std::string() : absl::StrFormat("%.17g", v);
  };
  for (const v1::TrialRecord& r : session->trial_log()) {
    std::cout << r.trial_id() << ","
              << google::protobuf::util::TimeUtil::ToString(r.time()) << ","
              << CsvField(r.worker_id()) << ","
              << absl::StripPrefix(v1::Evaluation_Name(r.wants()),
                                   "EVALUATION_")
              << "," << number(r.value()) << ","
              << number(r.gradient_max_norm()) << ","
              << (r.failed() ? "true" : "false") << "," << number(r.weight())
              << "," << CsvField(r.note());
    if (with_x) {
      absl::StatusOr<std::vector<double>> x = DecodeVector(r.x());
      for (int64_t i = 0; i < session->dimension(); ++i) {
        std::cout << ","
                  << (x.ok() && static_cast<int64_t>(x->size()) > i
                          ? number((*x)[i])
                          : std::string());
      }
    }
    std::cout << "\n";
  }
  if (session->trial_log_dropped() > 0) {
    std::cerr << session->trial_log_dropped()
              << " older trials are no longer in the server's log (optctl "
                 "export has every tell)\n";
  }
  return absl::OkStatus();
}

absl::Status Delete(const Client& client, const std::string& id) {
  absl::Status status = client.DeleteSession(id);
  if (status.ok()) std::cout << "deleted " << id << "\n";
  return status;
}

absl::Status Export(const Client& client, const std::string& id) {
  absl::StatusOr<v1::SessionSnapshot> snapshot = client.ExportSession(id);
  if (!snapshot.ok()) return snapshot.status();
  std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty()) path = absl::StrCat(id, ".optd-snapshot");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!snapshot->SerializeToOstream(&out) || !out.flush()) {
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
  }
  std::cout << "exported " << id << " (" << snapshot->tells_size()
            << " tells) to " << path << "\n";
  return absl::OkStatus();
}

absl::Status Import(const Client& client, const std::string& path) {
  v1::SessionSnapshot snapshot;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    if (!snapshot.ParseFromIstream(&in)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path,
          " is not an optd.v1.SessionSnapshot (optctl export writes one)"));
    }
  }
  absl::StatusOr<v1::ImportSessionResponse> imported = client.ImportSession(
      snapshot, absl::GetFlag(FLAGS_id), absl::GetFlag(FLAGS_shards));
  if (!imported.ok()) return imported.status();
  std::cout << "imported " << imported->session_id() << " ("
            << imported->tells() << " tells replayed, "
            << StateName(imported->state()) << ")";
  if (imported->trials_size() > 0) {
    std::cout << "; outstanding trial " << imported->trials(0).trial_id();
  }
  std::cout << "\n";
  return absl::OkStatus();
}

absl::Status Watch(const Client& client, const std::string& id) {
  const absl::Duration interval = absl::GetFlag(FLAGS_interval);
  int64_t last_evaluations = -1;
  while (true) {
    absl::StatusOr<v1::Session> s = client.GetSession(id);
    if (!s.ok()) return s.status();
    if (s->evaluations() != last_evaluations) {
      last_evaluations = s->evaluations();
      std::cout << absl::StrFormat(
                       "%s  %s  iteration %d  evaluations %d  best value %s  "
                       "max|g| %s",
                       absl::FormatTime("%H:%M:%S", absl::Now(),
                                        absl::LocalTimeZone()),
                       StateName(s->state()), s->iterations(), s->evaluations(),
                       FormatNumber(s->best_value()),
                       FormatNumber(s->gradient_max_norm()))
                << std::endl;
    }
    if (s->state() != v1::SESSION_STATE_RUNNING) {
      std::cout << s->summary().brief_report() << std::endl;
      return absl::OkStatus();
    }
    absl::SleepFor(interval);
  }
}

// The extended Rosenbrock function (Moré, Garbow & Hillstrom 1981, problem
// 21): sum over pairs of 100 (x_2i+1 - x_2i^2)^2 + (1 - x_2i)^2.
Evaluation ExtendedRosenbrock(const std::vector<double>& x, Wants wants) {
  Evaluation e;
  double f = 0.0;
  std::vector<double> g(x.size(), 0.0);
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    const double a = 1.0 - x[i];
    const double b = x[i + 1] - x[i] * x[i];
    f += a * a + 100.0 * b * b;
    g[i] = -2.0 * a - 400.0 * x[i] * b;
    g[i + 1] = 200.0 * b;
  }
  if (WantsValue(wants)) e.value = f;
  if (WantsGradient(wants)) e.gradient = std::move(g);
  return e;
}

absl::Status Demo(const Client& client, const std::string&) {
  const int n = absl::GetFlag(FLAGS_n);
  if (n < 2 || n % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--n=", n,
                     ": the extended Rosenbrock function needs an "
                     "even dimension >= 2"));
  }
  std::vector<double> x0(n);
  for (int i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  SessionOptions options;
  options.labels["demo"] = "rosenbrock";
  absl::StatusOr<Result> result =
      RunStream(client, x0, SolverSpec::Lbfgs(), ExtendedRosenbrock, options);
  if (!result.ok()) return result.status();
  std::cout << "session " << result->session_id << "\n"
            << result->brief_report << "\n"
            << "x = " << FormatVector(result->x) << "\n";
  if (!result->success) {
    return absl::InternalError(absl::StrCat(
        "the Rosenbrock demo did not converge: ", result->message));
  }
  return absl::OkStatus();
}

absl::Status Shards(const Client& client, const std::string& id) {
  absl::StatusOr<v1::Session> s = client.GetSession(id);
  if (!s.ok()) return s.status();
  if (s->shard_map_size() == 0) {
    std::cout << "session " << id << " is not sharded: its state ("
              << s->dimension() << " elements) lives on "
              << absl::GetFlag(FLAGS_server) << "\n";
    return absl::OkStatus();
  }
  const auto format = absl::ParsedFormat<'s', 's', 's', 's', 's', 's', 's'>(
      "%-6s %-8s %-22s %-24s %12s %14s %10s\n");
  std::cout << absl::StrFormat(format, "SHARD", "REPLICA", "ADDRESS",
                               "ELEMENTS", "STATE MB", "REPLICA MB", "RSS MB");
  for (const v1::ShardInfo& shard : s->shard_map()) {
    ClientOptions options = client.options();
    absl::StatusOr<Client> replica = Client::Connect(shard.address(), options);
    v1::GetReplicaStatusResponse status;
    grpc::Status call = grpc::Status(grpc::StatusCode::UNAVAILABLE, "");
    if (replica.ok()) {
      auto stub = v1::Shard::NewStub(replica->channel());
      grpc::ClientContext context;
      replica->PrepareUnaryContext(&context);
      call = stub->GetReplicaStatus(&context, {}, &status);
    }
    int64_t bytes = -1;
    for (const v1::ReplicaSlice& slice : status.slices()) {
      if (slice.key().session_id() == id &&
          slice.key().shard() == shard.shard()) {
        bytes = slice.bytes();
      }
    }
    const auto mb = [](int64_t b) {
      return b < 0 ? std::string("?") : absl::StrFormat("%.1f", b / 1048576.0);
    };
    std::cout << absl::StrFormat(
        format, absl::StrCat(shard.shard()), absl::StrCat(shard.replica()),
        shard.address(),
        absl::StrFormat("[%d, %d)", shard.begin(), shard.end()), mb(bytes),
        call.ok() ? mb(status.slice_bytes()) : std::string("unreachable"),
        call.ok() ? mb(status.rss_bytes()) : std::string("?"));
  }
  return absl::OkStatus();
}

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

struct Command {
  bool takes_id;
  std::function<absl::Status(const Client&, const std::string&)> run;
};

absl::Status Run(const std::vector<char*>& args) {
  const std::map<std::string, Command> commands = {
      {"health", {false, Health}},  {"list", {false, List}},
      {"get", {true, Get}},         {"delete", {true, Delete}},
      {"watch", {true, Watch}},     {"demo", {false, Demo}},
      {"export", {true, Export}},   {"import", {true, Import}},
      {"shards", {true, Shards}},   {"stats", {false, nullptr}},
      {"history", {true, History}},
  };
  // args[0] is the program name.
  if (args.size() < 2) {
    return absl::InvalidArgumentError(
        "no command given; see optctl --help for the commands");
  }
  const auto it = commands.find(args[1]);
  if (it == commands.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", args[1], "\"; see optctl --help"));
  }
  const size_t expected = it->second.takes_id ? 3 : 2;
  if (args.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optctl ", args[1],
        it->second.takes_id ? " takes one argument, ID" : " takes no arguments",
        "; see optctl --help"));
  }
  if (it->second.run == nullptr) return Stats();  // HTTP, not gRPC
  absl::StatusOr<Client> client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  return it->second.run(*client, expected == 3 ? args[2] : "");
}

}  // namespace
}  // namespace optd::client

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(optd::client::kUsage);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const absl::Status status = optd::client::Run(args);
  if (!status.ok()) {
    std::cerr << absl::StatusCodeToString(status.code()) << ": "
              << status.message() << std::endl;
    return 1;
  }
  return 0;
}
