#include "server/rpc/server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/http/dashboard.h"
#include "server/http/json_api.h"
#include "server/session/memory_release.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {
// The full name of the public service, as health checks name it.
constexpr char kOptimizerServiceName[] = "optd.v1.Optimizer";

constexpr int64_t kMinMessageBytes = int64_t{1} << 20;

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.host.empty()) {
    return absl::InvalidArgumentError(
        "host is empty; use e.g. 127.0.0.1 or 0.0.0.0");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port is ", options.port, "; it must be in [0, 65535]"));
  }
  if (options.limits.max_sessions < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_sessions is ",
                                                   options.limits.max_sessions,
                                                   "; it must be at least 1"));
  }
  if (options.session_defaults.ttl <= absl::ZeroDuration() ||
      options.session_defaults.lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "session_ttl_seconds and lease_seconds must be positive");
  }
  if (options.session_defaults.durable_tell_max_dimension < 0 ||
      options.session_defaults.checkpoint_interval < 1) {
    return absl::InvalidArgumentError(
        "durable_tell_max_dimension must be >= 0 and "
        "default_checkpoint_interval >= 1");
  }
  if (options.limits.max_dimension < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_dimension is ",
                                                   options.limits.max_dimension,
                                                   "; it must be at least 1"));
  }
  if (options.metrics_port < -1 || options.metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_port is ", options.metrics_port,
                     "; it must be in [0, 65535] (or -1: no metrics)"));
  }
  if (options.max_streams < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_concurrent_streams is ",
                                                   options.max_streams,
                                                   "; it must be at least 1"));
  }
  if (options.limits.max_sessions_per_tenant < 1 ||
      options.limits.tenant_memory_bytes < 1) {
    return absl::InvalidArgumentError(
        "max_sessions_per_tenant and tenant_memory_bytes must be at least 1");
  }
  if (options.limits.server_memory_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server_memory_bytes is ", options.limits.server_memory_bytes,
        "; it must be at least 0 (0: no limit)"));
  }
  if (options.max_message_bytes < kMinMessageBytes ||
      options.max_message_bytes > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes is ", options.max_message_bytes, "; it must be in [",
        kMinMessageBytes, ", ", std::numeric_limits<int>::max(), "]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read --", flag, "=", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", path, " is not a PEM file (no -----BEGIN line)"));
  }
  return text.str();
}

// The listening port's credentials: TLS (and mutual TLS) or plaintext.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const TlsOptions& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key go together: set both for TLS, or neither");
  }
  if (tls.cert_file.empty()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca (mutual TLS) needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  OPTD_ASSIGN_OR_RETURN(pair.private_key, ReadPem(tls.key_file, "tls_key"));
  OPTD_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(tls.cert_file, "tls_cert"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!tls.client_ca_file.empty()) {
    OPTD_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                          ReadPem(tls.client_ca_file, "tls_client_ca"));
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// The credentials of calls to the other replicas (null: plaintext).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> PeerCredentials(
    const TlsOptions& tls, bool has_peers) {
  if (tls.peer_ca_file.empty()) {
    if (has_peers && !tls.cert_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_cert makes every replica speak TLS only: set --peer_tls_ca "
          "to the CA of the replicas' certificates");
    }
    return std::shared_ptr<grpc::ChannelCredentials>();
  }
  grpc::SslCredentialsOptions ssl;
  OPTD_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                        ReadPem(tls.peer_ca_file, "peer_tls_ca"));
  const std::string& cert =
      tls.peer_cert_file.empty() ? tls.cert_file : tls.peer_cert_file;
  const std::string& key =
      tls.peer_key_file.empty() ? tls.key_file : tls.peer_key_file;
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        "--peer_tls_cert and --peer_tls_key go together");
  }
  if (!cert.empty()) {
    OPTD_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem(cert, "peer_tls_cert"));
    OPTD_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem(key, "peer_tls_key"));
  }
  return grpc::SslCredentials(ssl);
}

std::string HostPort(const std::string& host, int port) {
  // An IPv6 literal needs brackets to be told from its port.
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace

OptdServer::OptdServer(const ServerOptions& options,
                       std::unique_ptr<Authenticator> auth,
                       std::unique_ptr<SliceHost> slice_host,
                       std::shared_ptr<const Replicas> replicas,
                       std::unique_ptr<SessionStore> store,
                       std::unique_ptr<SessionManager> sessions)
    : options_(options),
      auth_(std::move(auth)),
      slice_host_(std::move(slice_host)),
      replicas_(std::move(replicas)),
      store_(std::move(store)),
      sessions_(std::move(sessions)) {}

void OptdServer::ExpiryLoop() {
  absl::MutexLock lock(&expiry_mu_);
  while (!expiry_mu_.AwaitWithTimeout(absl::Condition(&stop_expiry_),
                                      options_.expiry_check_interval)) {
    expiry_mu_.Unlock();
    sessions_->ExpireIdle(absl::Now());
    slice_host_->ExpireIdle(absl::Now());
    ReleaseFreedMemory();
    expiry_mu_.Lock();
  }
}

absl::StatusOr<std::unique_ptr<OptdServer>> OptdServer::Start(
    const ServerOptions& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (absl::Status s = ValidateReplicaOptions(options.replicas); !s.ok()) {
    return s;
  }
  OPTD_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                        ServerCredentials(options.tls));
  OPTD_ASSIGN_OR_RETURN(
      std::shared_ptr<grpc::ChannelCredentials> peer_credentials,
      PeerCredentials(options.tls, options.replicas.peers.size() > 1));
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Authenticator> auth,
                        Authenticator::Create(options.tokens_file));
  if (auth->enabled() && options.replicas.peers.size() > 1 &&
      auth->ReplicaToken().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tokens_file=", options.tokens_file,
        " has no token for tenant @replicas, which replicas (--peers) need "
        "to call each other"));
  }
  if (auth->enabled() && options.tls.cert_file.empty()) {
    spdlog::warn(
        "--tokens_file without --tls_cert: bearer tokens travel in "
        "plaintext; use TLS unless a proxy terminates it on this host");
  }
  // Both are process-wide switches that take effect for servers built after
  // them; setting them again is harmless.
  grpc::EnableDefaultHealthCheckService(options.enable_health_check);
  if (options.enable_reflection)
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<SessionStore> store;
  if (!options.data_dir.empty()) {
    absl::StatusOr<std::unique_ptr<SessionStore>> opened =
        SessionStore::Open({.data_dir = options.data_dir,
                            .commit_threads = options.commit_threads,
                            .wal_segment_bytes = options.wal_segment_bytes,
                            .retry_interval = options.storage_retry_interval,
                            .env = options.env});
    if (!opened.ok()) return opened.status();
    store = *std::move(opened);
  }
  SetReleaseFreedMemory(options.release_freed_memory);
  auto slice_host = std::make_unique<SliceHost>(
      options.replicas.replica_index, options.data_dir,
      options.limits.max_dimension, options.env);
  ReplicaOptions replica_options = options.replicas;
  replica_options.max_message_bytes = options.max_message_bytes;
  replica_options.credentials = peer_credentials;
  replica_options.tls_server_name = options.tls.peer_server_name;
  if (auth->enabled()) {
    replica_options.token = [a = auth.get()] { return a->ReplicaToken(); };
  }
  auto replicas =
      std::make_shared<const Replicas>(replica_options, slice_host.get());
  auto sessions = std::make_unique<SessionManager>(
      options.limits, options.session_defaults, store.get(), replicas);
  std::unique_ptr<OptdServer> server(new OptdServer(
      options, std::move(auth), std::move(slice_host), std::move(replicas),
      std::move(store), std::move(sessions)));
  if (server->store_ != nullptr) {
    const absl::Time start = absl::Now();
    absl::StatusOr<SessionManager::RecoveryCounts> counts =
        server->sessions_->Recover();
    if (!counts.ok()) return counts.status();
    server->recovered_ = *counts;
    spdlog::info(
        "data directory {}: recovered {} sessions ({} from checkpoints, {} "
        "tells replayed, {} damaged) in {:.3f} s",
        options.data_dir, counts->loaded, counts->checkpoints, counts->tells,
        counts->damaged, absl::ToDoubleSeconds(absl::Now() - start));
  } else {
    spdlog::warn(
        "no --data_dir: sessions live in memory only and a restart "
        "loses them");
  }
  server->metrics_registry_ = std::make_unique<MetricsRegistry>();
  server->service_metrics_ =
      std::make_unique<ServiceMetrics>(server->metrics_registry_.get());
  server->service_ = std::make_unique<OptimizerService>(
      server->sessions_.get(), server->slice_host_.get(), server->replicas_,
      ServiceOptions{
          .auth = server->auth_->enabled() ? server->auth_.get() : nullptr,
          .max_streams = options.max_streams,
          .metrics = server->service_metrics_.get()});
  server->service_metrics_->ObserveSessions(
      server->sessions_.get(),
      [service = server->service_.get()] { return service->open_streams(); });

  grpc::ServerBuilder builder;
  const std::string address = HostPort(options.host, options.port);
  builder.AddListeningPort(address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  const SessionIdArbiter::Holds holds =
      [sessions = server->sessions_.get()](absl::string_view id) {
        return sessions->Holds(id);
      };
  server->arbiter_ =
      std::make_unique<SessionIdArbiter>(server->replicas_, holds);
  server->sessions_->set_id_arbiter(server->arbiter_.get());
  server->shard_service_ = std::make_unique<ShardService>(
      server->slice_host_.get(),
      server->auth_->enabled() ? server->auth_.get() : nullptr,
      server->arbiter_.get(), holds);
  builder.RegisterService(server->shard_service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  // gRPC sets SO_REUSEPORT by default, so a second optd on a busy port would
  // silently share it (and its clients' sessions would land on either
  // process). A port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "could not listen on ", address,
        "; is the port in use, or the host not an address of this machine?"));
  }
  if (grpc::HealthCheckServiceInterface* health =
          server->server_->GetHealthCheckService()) {
    // The overall status ("") and the service by name, which Kubernetes'
    // gRPC probes and grpc_health_probe may ask for.
    health->SetServingStatus(true);
    health->SetServingStatus(kOptimizerServiceName, true);
  }
  if (options.metrics_port >= 0) {
    server->metrics_http_ =
        std::make_unique<MetricsHttpServer>(server->metrics_registry_.get());
    const std::string metrics_host =
        options.metrics_host.empty() ? options.host : options.metrics_host;
    const bool authenticated = server->auth_->enabled();
    absl::Status exposure = JsonApi::ExposureCheck(
        metrics_host, authenticated, options.http_api_allow_unauthenticated);
    if (!exposure.ok()) {
      spdlog::warn("{}", std::string(exposure.message()));
    } else if (!authenticated && !IsLoopbackHost(metrics_host)) {
      spdlog::warn(
          "the JSON API serves every session without authentication on {} "
          "(--http_api_allow_unauthenticated)",
          metrics_host);
    }
    const bool server_exposure_ok = exposure.ok();
    server->json_api_ = std::make_unique<JsonApi>(
        server->sessions_.get(), server->auth_.get(), std::move(exposure),
        server->metrics_registry_.get());
    server->metrics_http_->Route(
        JsonApi::kPrefix,
        [api = server->json_api_.get()](const HttpRequest& request) {
          return api->Handle(request);
        },
        [api = server->json_api_.get()] { api->StopWaiting(); });
    if (options.dashboard) {
      server->metrics_http_->Route("/", Dashboard::Handle);
      server->metrics_http_->Route(Dashboard::kPrefix, Dashboard::Handle);
    }
    // With TLS the HTTP port serves HTTPS with the gRPC port's certificate;
    // it asks no client certificate even with --tls_client_ca (browsers
    // come without one): bearer tokens guard the JSON API.
    const HttpTls http_tls{.cert_file = options.tls.cert_file,
                           .key_file = options.tls.key_file};
    if (absl::Status s = server->metrics_http_->Start(
            metrics_host, options.metrics_port, http_tls);
        !s.ok()) {
      if (absl::IsInvalidArgument(s)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--tls_cert/--tls_key on the HTTPS port (--metrics_port): ",
            s.message()));
      }
      return absl::UnavailableError(
          absl::StrCat("--metrics_port: ", s.message()));
    }
    spdlog::info("metrics on {}://{}/metrics, JSON API under {}{}",
                 options.tls.cert_file.empty() ? "http" : "https",
                 HostPort(metrics_host, server->metrics_http_->port()),
                 JsonApi::kPrefix,
                 server_exposure_ok ? "" : " (answering 403, see above)");
    if (options.dashboard) {
      spdlog::info("dashboard on {}://{}{}/",
                   options.tls.cert_file.empty() ? "http" : "https",
                   HostPort(metrics_host, server->metrics_http_->port()),
                   Dashboard::kPrefix);
    }
  }
  server->expiry_thread_ = std::thread([s = server.get()] { s->ExpiryLoop(); });
  return server;
}

OptdServer::~OptdServer() { Shutdown(absl::Now()); }

std::string OptdServer::address() const {
  return HostPort(options_.host, port_);
}

std::shared_ptr<grpc::Channel> OptdServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(options_.max_message_bytes));
  return server_->InProcessChannel(args);
}

void OptdServer::Shutdown(absl::Time deadline) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
    health->SetServingStatus(kOptimizerServiceName, false);
  }
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  spdlog::info("shutting down; draining calls for up to {:.1f} s",
               absl::ToDoubleSeconds(
                   std::max(deadline - absl::Now(), absl::ZeroDuration())));
  server_->Shutdown(absl::ToChronoTime(deadline));
  {
    absl::MutexLock expiry_lock(&expiry_mu_);
    stop_expiry_ = true;
  }
  if (expiry_thread_.joinable()) expiry_thread_.join();
  if (store_ != nullptr) {
    sessions_->FlushCheckpoints();
    store_->SyncAll();
    spdlog::info("server stopped; {} sessions synced to {}", sessions_->size(),
                 options_.data_dir);
  } else {
    spdlog::info("server stopped; {} sessions dropped from memory",
                 sessions_->size());
  }
}

void OptdServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

}  // namespace optd::server
