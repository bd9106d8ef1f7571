// optctl's session commands: health, list, get, history, delete, export,
// import, watch and shards.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/optctl/commands.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "optd/v1/shard.grpc.pb.h"

namespace optd::client::optctl {
namespace {

// "RUNNING" for SESSION_STATE_RUNNING.
std::string StateName(v1::SessionState state) {
  return std::string(
      absl::StripPrefix(v1::SessionState_Name(state), "SESSION_STATE_"));
}

std::string FormatNumber(double x) {
  return std::isnan(x) ? "-" : absl::StrFormat("%.6g", x);
}

}  // namespace

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
  // Session.options: the resolved options of whichever solver it runs.
  if (const google::protobuf::FieldDescriptor* options =
          s.GetDescriptor()->FindFieldByNumber(s.options_case());
      options != nullptr) {
    line("options",
         s.GetReflection()->GetMessage(s, options).ShortDebugString());
  }
  // Session.layers (adafactor): rows x cols, or the length of a vector.
  if (s.layers_size() > 0) {
    constexpr int kLayersShown = 8;
    std::vector<std::string> shapes;
    for (int i = 0; i < std::min(s.layers_size(), kLayersShown); ++i) {
      const v1::Layer& layer = s.layers(i);
      shapes.push_back(layer.cols() > 0
                           ? absl::StrCat(layer.rows(), "x", layer.cols())
                           : absl::StrCat(layer.rows()));
    }
    if (s.layers_size() > kLayersShown) {
      shapes.push_back(absl::StrCat("... (", s.layers_size(), " layers)"));
    }
    line("layers", absl::StrJoin(shapes, ", "));
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
  if (s.summary().has_curvature()) {
    const v1::CurvatureResult& c = s.summary().curvature();
    const std::vector<double> smallest(c.smallest().begin(),
                                       c.smallest().end());
    const std::vector<double> largest(c.largest().begin(), c.largest().end());
    line("smallest", FormatVector(smallest));
    line("largest", FormatVector(largest));
    line("condition", FormatNumber(c.condition_number()));
    line("products",
         absl::StrCat(c.products(), " Hessian-vector products, ",
                      c.lanczos_steps(), " Lanczos steps for the extremes (",
                      c.converged() ? "converged" : "not converged", ")"));
    line("density", absl::StrCat(c.density_nodes_size(),
                                 " quadrature nodes (Summary.curvature "
                                 ".density_nodes, density_weights)"));
  }
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

absl::Status Fork(const Client& client, const std::string& id) {
  v1::ForkSessionRequest request;
  request.set_session_id(id);
  request.set_new_session_id(absl::GetFlag(FLAGS_id));
  request.set_shards(absl::GetFlag(FLAGS_shards));
  if (const int64_t step = absl::GetFlag(FLAGS_step); step >= 0) {
    request.set_step(step);
  }
  if (const std::string text = absl::GetFlag(FLAGS_options); !text.empty()) {
    // Into the source's own solver field: the Session's options field has
    // the same name as CreateSessionRequest's.
    absl::StatusOr<v1::Session> source = client.GetSession(id);
    if (!source.ok()) return source.status();
    const google::protobuf::FieldDescriptor* own =
        source->GetDescriptor()->FindFieldByNumber(source->options_case());
    const google::protobuf::FieldDescriptor* field =
        own == nullptr
            ? nullptr
            : request.overrides().GetDescriptor()->FindFieldByName(own->name());
    if (field == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "session \"", id, "\" reports no solver options to change"));
    }
    google::protobuf::Message* options =
        request.mutable_overrides()->GetReflection()->MutableMessage(
            request.mutable_overrides(), field);
    if (!google::protobuf::TextFormat::ParseFromString(text, options)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--options=", text, " is not ", options->GetTypeName(),
                       " in protobuf text format (e.g. 'lr: 0.001')"));
    }
  }
  absl::StatusOr<v1::ForkSessionResponse> forked = client.ForkSession(request);
  if (!forked.ok()) return forked.status();
  std::cout << "forked " << forked->session_id() << " from " << id
            << " at step " << forked->step() << " ("
            << StateName(forked->state()) << ")";
  if (forked->trials_size() > 0) {
    std::cout << "; outstanding trial " << forked->trials(0).trial_id();
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

}  // namespace optd::client::optctl
