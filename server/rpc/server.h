// OptdServer: a running optd gRPC server — the Optimizer service, gRPC health
// checking and server reflection — on a listening port, in this process. The
// `optd` binary (main.cc) is a flag parser around it; tests and benchmarks
// start one on 127.0.0.1:0 and talk to it over loopback or in-process.
//
//   ServerOptions options;             // 127.0.0.1, any free port
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<OptdServer> server,
//                         OptdServer::Start(options));
//   auto stub = v1::Optimizer::NewStub(grpc::CreateChannel(
//       server->address(), grpc::InsecureChannelCredentials()));
//   ...
//   server->Shutdown(absl::Now() + absl::Seconds(10));
//
// Thread-safety: thread-safe; Shutdown() may be called from any thread (a
// signal-handling thread) while another waits in Wait().
#ifndef OPTD_SERVER_RPC_SERVER_H_
#define OPTD_SERVER_RPC_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_http_server.h"
#include "server/rpc/auth.h"
#include "server/rpc/optimizer_service.h"
#include "server/rpc/service_metrics.h"
#include "server/rpc/shard_service.h"
#include "server/session/session_manager.h"
#include "server/sharding/session_id_arbiter.h"
#include "server/sharding/shard_group.h"
#include "server/sharding/slice_host.h"
#include "server/storage/env.h"

namespace optd::server {

class JsonApi;  // server/http/json_api.h

// Transport security (docs/security.md). Files are PEM.
struct TlsOptions {
  // The server's certificate chain and private key (--tls_cert, --tls_key).
  // Both empty: plaintext; both set: TLS only.
  std::string cert_file;
  std::string key_file;
  // CA certificates that client certificates must chain to
  // (--tls_client_ca). Set: mutual TLS, a client without a valid
  // certificate cannot connect. Needs cert_file.
  std::string client_ca_file;
  // Calls to the other replicas: the CA their server certificates chain to
  // (--peer_tls_ca; set: TLS to peers, required when cert_file is set and
  // there are peers), the certificate and key this replica presents to them
  // (--peer_tls_cert, --peer_tls_key; default cert_file and key_file), and the
  // name their certificates must carry when it is not the host of --peers
  // (--peer_tls_server_name).
  std::string peer_ca_file;
  std::string peer_cert_file;
  std::string peer_key_file;
  std::string peer_server_name;
};

struct ServerOptions {
  // Address to listen on: an IPv4/IPv6 literal or a host name. Default
  // loopback only; "0.0.0.0" or "::" for every interface.
  std::string host = "127.0.0.1";
  // TCP port; 0 picks a free one (see OptdServer::port()). Range [0, 65535].
  int port = 0;
  // Session count and dimension limits.
  SessionLimits limits;
  // What sessions get when their request leaves TTL, lease, durability unset.
  SessionDefaults session_defaults;
  // Data directory for durable sessions (--data_dir); empty: sessions live
  // in memory only and a restart loses them.
  std::string data_dir;
  // The other replicas, for sharded sessions (--peers, --replica_index).
  ReplicaOptions replicas;
  // Commit threads of the store (--commit_threads).
  int commit_threads = 8;
  // Return the buffers of large messages to the OS (--release_freed_memory).
  bool release_freed_memory = true;
  // Write-ahead log file size (--wal_segment_bytes).
  int64_t wal_segment_bytes = int64_t{64} << 20;
  // How often a journal that could not be written is tried again
  // (--storage_retry_seconds; StoreOptions::retry_interval).
  absl::Duration storage_retry_interval = absl::Seconds(1);
  // The file system of the data directory (env.h); null: the POSIX one.
  // Tests pass a FaultInjectionEnv. Must outlive the server.
  Env* env = nullptr;
  // How often idle sessions are looked for and expired.
  absl::Duration expiry_check_interval = absl::Seconds(1);
  // Largest message received or sent, in bytes. Default 1 GiB + 1 MiB: a
  // 2^27-element float64 vector plus the rest of the message. Range
  // [1 MiB, 2^31 - 1] (gRPC's int).
  int64_t max_message_bytes = (int64_t{1} << 30) + (int64_t{1} << 20);
  // TLS and mutual TLS; default plaintext.
  TlsOptions tls;
  // Bearer tokens of the tenants and of the replicas (--tokens_file, auth.h);
  // empty: authentication off.
  std::string tokens_file;
  // Optimize streams open at once (--max_concurrent_streams).
  int64_t max_streams = 10000;
  // Prometheus metrics over HTTP on this port (--metrics_port; GET /metrics,
  // service_metrics.h): -1 none, 0 any free port (see metrics_port()). On
  // `metrics_host`, default `host`.
  int metrics_port = -1;
  std::string metrics_host;
  // Serve the JSON API (/api/v1 on the metrics port, server/http/json_api.h)
  // on a `metrics_host` that is not a loopback address without
  // authentication (--http_api_allow_unauthenticated). False: it answers
  // every request there 403, and the start logs why.
  bool http_api_allow_unauthenticated = false;
  // Serve the dashboard's pages (/dashboard/ on the metrics port,
  // server/http/dashboard.h) beside the JSON API.
  bool dashboard = true;
  // grpc.health.v1.Health, serving while the server runs.
  bool enable_health_check = true;
  // grpc.reflection, so that grpcurl can list and call the service.
  bool enable_reflection = true;
};

class OptdServer {
 public:
  // OptdServer::Start()
  //
  // Builds and starts the server. INVALID_ARGUMENT for out-of-range options;
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<OptdServer>> Start(
      const ServerOptions& options);

  // Shuts down at once if Shutdown() was not called.
  ~OptdServer();

  OptdServer(const OptdServer&) = delete;
  OptdServer& operator=(const OptdServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  int port() const { return port_; }
  // "host:port" for grpc::CreateChannel ("[::1]:50051" for IPv6 literals).
  std::string address() const;

  // A channel to this server that bypasses the network (no serialization
  // savings, but no sockets), with the server's message size limits.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  SessionManager& sessions() { return *sessions_; }
  // The slices of sharded sessions this replica holds.
  SliceHost& slices() { return *slice_host_; }
  // The bound metrics port; 0 when metrics are off.
  int metrics_port() const {
    return metrics_http_ == nullptr ? 0 : metrics_http_->port();
  }
  MetricsRegistry& metrics() { return *metrics_registry_; }
  // Authentication (enabled() false without a tokens file).
  Authenticator& auth() { return *auth_; }
  // What Start() recovered from the data directory.
  const SessionManager::RecoveryCounts& recovered() const { return recovered_; }

  // OptdServer::Shutdown()
  //
  // Stops accepting calls, reports NOT_SERVING to health checks, lets
  // in-flight calls and streams finish until `deadline`, then cancels what
  // remains. Returns when the server has stopped. Idempotent.
  void Shutdown(absl::Time deadline);

  // Blocks until the server has shut down.
  void Wait();

 private:
  OptdServer(const ServerOptions& options, std::unique_ptr<Authenticator> auth,
             std::unique_ptr<SliceHost> slice_host,
             std::shared_ptr<const Replicas> replicas,
             std::unique_ptr<SessionStore> store,
             std::unique_ptr<SessionManager> sessions);
  void ExpiryLoop();

  const ServerOptions options_;
  const std::unique_ptr<Authenticator> auth_;
  // Declared before sessions_: sessions delete their slices when they go.
  std::unique_ptr<SliceHost> slice_host_;
  std::shared_ptr<const Replicas> replicas_;
  // Declared before sessions_: outlives it, and its destructor syncs every
  // journal after the server has stopped.
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<SessionManager> sessions_;
  // After sessions_, which it asks (and which uses it).
  std::unique_ptr<SessionIdArbiter> arbiter_;
  SessionManager::RecoveryCounts recovered_;
  absl::Mutex expiry_mu_;
  bool stop_expiry_ ABSL_GUARDED_BY(expiry_mu_) = false;
  std::thread expiry_thread_;
  // Declared before the service: scrapes read the sessions and the service,
  // and the HTTP server (declared after) stops first.
  std::unique_ptr<MetricsRegistry> metrics_registry_;
  std::unique_ptr<ServiceMetrics> service_metrics_;
  std::unique_ptr<OptimizerService> service_;
  std::unique_ptr<ShardService> shard_service_;
  std::unique_ptr<grpc::Server> server_;
  // Before the HTTP server, which calls it.
  std::unique_ptr<JsonApi> json_api_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int port_ = 0;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_RPC_SERVER_H_
