// optd: the optimization server binary. Parses flags, starts an OptdServer
// (server.h) — recovering the sessions in --data_dir —, prints `optd
// listening on HOST:PORT` once it accepts calls, and on SIGTERM or SIGINT
// drains in-flight calls and streams for up to --shutdown_grace_seconds,
// syncs every journal, and exits 0. A second signal exits at once. SIGHUP
// reloads --tokens_file.
//
//   optd --port=0 --port_file=/tmp/optd.port --data_dir=/var/lib/optd
//
// Signals are taken by a thread blocked in sigwait() rather than by an async
// handler, so the shutdown runs as ordinary code (it may lock and log).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/rpc/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "Address to listen on. 127.0.0.1 (the default) accepts local clients "
          "only; 0.0.0.0 or :: accepts every interface (e.g. in a container).");
ABSL_FLAG(int, port, 50051,
          "TCP port to listen on. 0 picks a free port; combine it with "
          "--port_file to learn which.");
ABSL_FLAG(
    std::string, port_file, "",
    "If set, the bound port is written to this file (as decimal text and "
    "a newline) once the server accepts calls. Tests that start optd with "
    "--port=0 wait for this file.");
ABSL_FLAG(int64_t, max_sessions, 10000,
          "Most sessions held at once (finished ones count until deleted). "
          "CreateSession beyond it fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_dimension, int64_t{1} << 27,
          "Largest dimension n of a session; default 2^27 = 134217728 (a 1 GiB "
          "float64 vector). Larger x0 fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_message_bytes, (int64_t{1} << 30) + (int64_t{1} << 20),
          "Largest gRPC message received or sent, in bytes; default 1 GiB + 1 "
          "MiB, enough for a 2^27-element vector. At most 2147483647.");
ABSL_FLAG(std::string, log_level, "info",
          "Log verbosity on stderr: debug (one line per tell), info (one per "
          "session created, finished or deleted), warn or error.");
ABSL_FLAG(std::string, data_dir, "optd-data",
          "Directory for durable sessions (created if missing; relative to the "
          "working directory). Every session is journaled there and recovered "
          "on start. Empty (--data_dir=) keeps sessions in memory only: a "
          "restart loses them.");
ABSL_FLAG(int64_t, durable_tell_max_dimension, int64_t{1} << 20,
          "Sessions up to this dimension make every tell durable (fsynced) "
          "before answering it, unless their request says otherwise; larger "
          "ones default to --default_checkpoint_interval.");
ABSL_FLAG(int64_t, default_checkpoint_interval, 100,
          "For sessions above --durable_tell_max_dimension that set no "
          "durability: every this many tells, Adam/AdamW sessions write a "
          "checkpoint of their state and other sessions sync their journal "
          "(answers do not wait; Session.durable_step says how far it is).");
ABSL_FLAG(double, session_ttl_seconds, 7 * 24 * 3600.0,
          "Idle time (no tell or ask) after which a session expires and its "
          "storage is removed, for sessions that set no ttl_seconds. Default 7 "
          "days.");
ABSL_FLAG(double, lease_seconds, 600,
          "How long an Ask with a worker_id leases a trial to that worker, for "
          "sessions that set no lease_seconds. An expired lease lets another "
          "worker take the trial.");
ABSL_FLAG(int64_t, wal_max_dimension, int64_t{1} << 14,
          "Sessions up to this dimension with per-tell durability go through "
          "the shared write-ahead log: the tells of all of them that arrive "
          "together share one write and one fsync. Larger ones fsync their own "
          "journal.");
ABSL_FLAG(int64_t, wal_segment_bytes, int64_t{64} << 20,
          "Size at which the write-ahead log starts a new file; the journals "
          "are synced and the old file removed (kept while a journal cannot "
          "be synced). Range [2^16, 2^40].");
ABSL_FLAG(double, storage_retry_seconds, 1,
          "After a write or sync of the data directory fails (a full disk, "
          "an I/O error), the session concerned refuses tells with "
          "UNAVAILABLE and optd tries to write its journal again this often; "
          "once that succeeds the session takes tells again, nothing "
          "acknowledged lost. Range (0, 3600].");
ABSL_FLAG(int, commit_threads, 8,
          "Threads that write and fsync the journals of sessions outside the "
          "write-ahead log (large or checkpointing ones). Range [1, 256].");
ABSL_FLAG(std::vector<std::string>, peers, {},
          "Every replica's address (host:port), comma-separated, in replica "
          "order, this one included, for sessions sharded across replicas "
          "(CreateSessionRequest.shards). Every replica gets the same list. "
          "Empty: this server is the only replica.");
ABSL_FLAG(int, replica_index, 0,
          "This replica's position in --peers (0-based).");
ABSL_FLAG(bool, replica_index_from_hostname, false,
          "Take --replica_index from the host name's trailing -N, as a "
          "Kubernetes StatefulSet names its pods (optd-2 is replica 2).");
ABSL_FLAG(double, shard_call_timeout_seconds, 10,
          "How long a call to another replica's slice may take, retries "
          "included, before the session reports UNAVAILABLE and is rebuilt "
          "from its journal on the next call. Range (0, 3600].");
ABSL_FLAG(bool, release_freed_memory, true,
          "Return the buffers of large messages (a gradient, a point) to the "
          "operating system once they are freed, so that a replica's memory "
          "stays at its state (bench/sharding). On 2 cores it costs a sixth to "
          "a third of a 40 MB Adam step (bench/latency); false keeps them in "
          "malloc's free lists for reuse.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of this server. With --tls_key, the port "
          "speaks TLS only, and --metrics_port serves HTTPS only "
          "(docs/security.md). Empty: plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates for mutual TLS: every client (and replica) "
          "of the gRPC port must present a certificate that chains to one "
          "of them (the HTTPS --metrics_port asks none). Needs --tls_cert.");
ABSL_FLAG(std::string, peer_tls_ca, "",
          "PEM CA certificates the other replicas' server certificates chain "
          "to; set, calls to --peers use TLS. Required with --tls_cert when "
          "there are peers.");
ABSL_FLAG(std::string, peer_tls_cert, "",
          "PEM certificate this replica presents to the others (mutual TLS "
          "between replicas). Default: --tls_cert.");
ABSL_FLAG(std::string, peer_tls_key, "",
          "PEM private key of --peer_tls_cert. Default: --tls_key.");
ABSL_FLAG(std::string, peer_tls_server_name, "",
          "The name the other replicas' certificates must carry, when it is "
          "not the host in --peers. Default: the host in --peers.");
ABSL_FLAG(
    std::string, tokens_file, "",
    "File of bearer tokens, one \"<token> <tenant>\" per line "
    "(docs/security.md); every call must then send \"authorization: Bearer "
    "<token>\", and each tenant sees only its own sessions. Tenant "
    "@replicas is the replicas' own token. Reloaded on SIGHUP. Empty: "
    "no authentication.");
ABSL_FLAG(int64_t, max_sessions_per_tenant, 1000,
          "With --tokens_file: most sessions one tenant holds at once. "
          "CreateSession beyond it fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, tenant_memory_bytes, int64_t{32} << 30,
          "With --tokens_file: the memory one tenant's sessions may hold "
          "together, in bytes: each session's solver state and batch buffers "
          "(estimated from its dimension and options) and its trial log; "
          "default 32 GiB. CreateSession or ImportSession beyond it, or an "
          "ExportSession whose snapshot does not fit what is left, fails with "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, server_memory_bytes, 0,
          "The memory all sessions may hold together, in bytes, counted as "
          "--tenant_memory_bytes counts a tenant's (with or without "
          "--tokens_file). 0: no limit. Set it to the memory optd may use, so "
          "that a request too large for it is refused with "
          "RESOURCE_EXHAUSTED rather than taking the machine's memory.");
ABSL_FLAG(int64_t, max_concurrent_streams, 10000,
          "Most Optimize streams open at once; one more is refused with "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, metrics_port, 0,
          "Port of the Prometheus metrics endpoint (HTTP GET /metrics, and "
          "/healthz), on --metrics_host. 0: no endpoint. The metrics are "
          "listed in docs/operations.md. The JSON API of the sessions "
          "(/api/v1, docs/dashboard.md) and the dashboard (/dashboard/, "
          "--dashboard) are served there too. With --tls_cert the port "
          "serves HTTPS only, with the same certificate (no client "
          "certificate asked).");
ABSL_FLAG(std::string, metrics_host, "",
          "Address of the metrics endpoint. Default: --host.");
ABSL_FLAG(bool, http_api_allow_unauthenticated, false,
          "Serve the JSON API (/api/v1) without --tokens_file on a "
          "--metrics_host that is not a loopback address, to anyone who can "
          "reach the port. Default: it answers 403 there (docs/dashboard.md).");
ABSL_FLAG(bool, dashboard, true,
          "Serve the dashboard (browser pages of the sessions) at /dashboard/ "
          "on --metrics_port, beside the JSON API it reads "
          "(docs/dashboard.md). --nodashboard: only /metrics, /healthz and "
          "/api/v1.");
ABSL_FLAG(double, shutdown_grace_seconds, 10,
          "On SIGTERM/SIGINT, how long in-flight calls and streams may run "
          "before they are cancelled.");

namespace {

bool SetLogLevel(const std::string& name) {
  const spdlog::level::level_enum level = spdlog::level::from_str(name);
  // from_str maps unknown names to "off"; only the four documented ones count.
  if (name != "debug" && name != "info" && name != "warn" && name != "error") {
    return false;
  }
  spdlog::set_level(level);
  return true;
}

// Writes the port to a temporary file and renames it, so that a reader never
// sees a half-written number.
bool WritePortFile(const std::string& path, int port) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "a stateful ask-tell optimization server (gRPC service "
      "optd.v1.Optimizer with L-BFGS, trust-region and Adam/AdamW "
      "sessions).\n"
      "Usage: optd [--host=127.0.0.1] [--port=50051] [--port_file=PATH] ...");
  // --help lists this file's flags (Abseil's default matches only files named
  // after the binary).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/main.cc");
  };
  usage_config.normalize_filename = [](absl::string_view file) {
    return std::string(file);
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);

  // Logs go to stderr; stdout carries only the "listening" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("optd"));
  if (!SetLogLevel(absl::GetFlag(FLAGS_log_level))) {
    std::cerr << "optd: --log_level=" << absl::GetFlag(FLAGS_log_level)
              << " is not one of debug, info, warn, error\n";
    return 2;
  }
  const double grace = absl::GetFlag(FLAGS_shutdown_grace_seconds);
  if (!(grace >= 0)) {
    std::cerr << "optd: --shutdown_grace_seconds must be >= 0\n";
    return 2;
  }

  // Block the signals before gRPC starts its threads (they inherit the mask),
  // so that only the sigwait() thread below ever receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  optd::server::ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.limits.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  options.limits.max_dimension = absl::GetFlag(FLAGS_max_dimension);
  options.limits.max_sessions_per_tenant =
      absl::GetFlag(FLAGS_max_sessions_per_tenant);
  options.limits.tenant_memory_bytes = absl::GetFlag(FLAGS_tenant_memory_bytes);
  options.limits.server_memory_bytes = absl::GetFlag(FLAGS_server_memory_bytes);
  options.max_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port) == 0
                             ? -1
                             : absl::GetFlag(FLAGS_metrics_port);
  options.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  options.http_api_allow_unauthenticated =
      absl::GetFlag(FLAGS_http_api_allow_unauthenticated);
  options.dashboard = absl::GetFlag(FLAGS_dashboard);
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.tls.peer_ca_file = absl::GetFlag(FLAGS_peer_tls_ca);
  options.tls.peer_cert_file = absl::GetFlag(FLAGS_peer_tls_cert);
  options.tls.peer_key_file = absl::GetFlag(FLAGS_peer_tls_key);
  options.tls.peer_server_name = absl::GetFlag(FLAGS_peer_tls_server_name);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.commit_threads = absl::GetFlag(FLAGS_commit_threads);
  options.wal_segment_bytes = absl::GetFlag(FLAGS_wal_segment_bytes);
  options.storage_retry_interval =
      absl::Seconds(absl::GetFlag(FLAGS_storage_retry_seconds));
  options.session_defaults.wal_max_dimension =
      absl::GetFlag(FLAGS_wal_max_dimension);
  options.session_defaults.durable_tell_max_dimension =
      absl::GetFlag(FLAGS_durable_tell_max_dimension);
  options.session_defaults.checkpoint_interval =
      absl::GetFlag(FLAGS_default_checkpoint_interval);
  for (const auto& [name, value] :
       {std::pair<const char*, double>{
            "session_ttl_seconds", absl::GetFlag(FLAGS_session_ttl_seconds)},
        {"lease_seconds", absl::GetFlag(FLAGS_lease_seconds)}}) {
    if (!(value > 0 && value <= 3.2e8)) {
      std::cerr << "optd: --" << name << " must be in (0, 3.2e8]\n";
      return 2;
    }
  }
  options.release_freed_memory = absl::GetFlag(FLAGS_release_freed_memory);
  options.replicas.peers = absl::GetFlag(FLAGS_peers);
  options.replicas.replica_index = absl::GetFlag(FLAGS_replica_index);
  if (absl::GetFlag(FLAGS_replica_index_from_hostname)) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    const absl::string_view name(host);
    const size_t dash = name.rfind('-');
    int index = -1;
    if (dash == absl::string_view::npos ||
        !absl::SimpleAtoi(name.substr(dash + 1), &index) || index < 0) {
      std::cerr << "optd: --replica_index_from_hostname: host name \"" << name
                << "\" does not end in -N\n";
      return 2;
    }
    options.replicas.replica_index = index;
  }
  const double call_timeout = absl::GetFlag(FLAGS_shard_call_timeout_seconds);
  if (!(call_timeout > 0 && call_timeout <= 3600)) {
    std::cerr << "optd: --shard_call_timeout_seconds must be in (0, 3600]\n";
    return 2;
  }
  options.replicas.call_timeout = absl::Seconds(call_timeout);
  options.session_defaults.ttl =
      absl::Seconds(absl::GetFlag(FLAGS_session_ttl_seconds));
  options.session_defaults.lease =
      absl::Seconds(absl::GetFlag(FLAGS_lease_seconds));
  absl::StatusOr<std::unique_ptr<optd::server::OptdServer>> started =
      optd::server::OptdServer::Start(options);
  if (!started.ok()) {
    spdlog::error("cannot start: {}", started.status().ToString());
    return 1;
  }
  optd::server::OptdServer& server = **started;

  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, server.port())) {
    spdlog::error("cannot write --port_file={}", port_file);
    server.Shutdown(absl::Now());
    return 1;
  }
  std::cout << "optd listening on " << server.address() << std::endl;
  spdlog::info(
      "listening on {} (max_sessions {}, max_dimension {}, max_message_bytes "
      "{})",
      server.address(), options.limits.max_sessions,
      options.limits.max_dimension, options.max_message_bytes);
  if (!options.replicas.peers.empty()) {
    spdlog::info("replica {} of {} (--peers {})",
                 options.replicas.replica_index, options.replicas.peers.size(),
                 absl::StrJoin(options.replicas.peers, ","));
  }

  std::thread signal_thread([&server, &signals, grace] {
    int signal = 0;
    // SIGHUP reloads the tokens file; SIGTERM/SIGINT stop the server.
    while (true) {
      if (sigwait(&signals, &signal) != 0) return;
      if (signal != SIGHUP) break;
      if (!server.auth().enabled()) {
        spdlog::info("received SIGHUP; no --tokens_file to reload");
        continue;
      }
      absl::Status reloaded = server.auth().Reload();
      if (reloaded.ok()) {
        spdlog::info("received SIGHUP; reloaded {}: {} tokens",
                     server.auth().tokens_file(), server.auth().size());
      } else {
        spdlog::error("received SIGHUP; kept the tokens in force: {}",
                      reloaded.ToString());
      }
    }
    spdlog::info("received {}; draining for up to {} s", strsignal(signal),
                 grace);
    // A second signal while draining means "now": exit without waiting.
    std::thread impatient([&signals] {
      int second = 0;
      while (sigwait(&signals, &second) == 0) {
        if (second == SIGHUP) continue;
        spdlog::warn("received {} again; exiting without draining",
                     strsignal(second));
        spdlog::shutdown();
        std::_Exit(1);
      }
    });
    impatient.detach();
    server.Shutdown(absl::Now() + absl::Seconds(grace));
  });
  server.Wait();
  signal_thread.join();
  spdlog::info("optd exiting");
  spdlog::shutdown();
  return 0;
}
