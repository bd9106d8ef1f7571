// optd C++ client: a connection to one optd server.
//
// A Client is a handle on a gRPC channel to an optd server (service
// optd.v1.Optimizer, see proto/optd/v1/optimizer.proto). It offers the
// session-management calls; Session (session.h) runs the ask-tell protocol on
// one session, and RunStream()/Minimize() (minimize.h) run a whole
// optimization over the Optimize stream.
//
//   absl::StatusOr<optd::client::Client> client =
//       optd::client::Client::Connect("localhost:50051");
//   if (!client.ok()) return client.status();   // e.g. UNAVAILABLE
//   absl::StatusOr<std::vector<optd::v1::Session>> sessions =
//       client->ListSessions();
//   for (const optd::v1::Session& s : *sessions) std::cout << s.session_id();
//
// Every call returns absl::Status / absl::StatusOr carrying the gRPC code and
// the server's message unchanged (absl::StatusCode values are gRPC codes):
// INVALID_ARGUMENT for bad input, NOT_FOUND for unknown sessions,
// FAILED_PRECONDITION for stale tells, RESOURCE_EXHAUSTED for limits,
// UNAVAILABLE when the server cannot be reached, DEADLINE_EXCEEDED when a
// call outlives ClientOptions::call_timeout.
//
// Thread-safety: a Client is thread-safe, and copies are cheap handles that
// share one channel.
#ifndef OPTD_CLIENT_CLIENT_H_
#define OPTD_CLIENT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "optd/v1/optimizer.grpc.pb.h"
#include "optd/v1/optimizer.pb.h"

namespace optd::client {

// Options for Client::Connect().
struct ClientOptions {
  // Deadline of each unary call (Health, ListSessions, GetSession, Ask, Tell,
  // ...). absl::InfiniteDuration() for none. Default 30 s.
  absl::Duration call_timeout = absl::Seconds(30);

  // Deadline of a whole Optimize stream (RunStream, Minimize). Default none:
  // an optimization may run for days.
  absl::Duration stream_timeout = absl::InfiniteDuration();

  // How long Connect() waits for the channel to become ready before it
  // returns UNAVAILABLE. absl::ZeroDuration(): do not wait; gRPC connects
  // lazily on the first call. Default 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);

  // Largest message sent or received on the channel, in bytes. The default,
  // 1 GiB + 1 MiB, lets a 1 GiB vector (DESIGN §2) travel with room for the
  // rest of its message; gRPC's own default (4 MiB) would stop a gradient at
  // about 500,000 doubles. Range [1, 2^31 - 1].
  int max_message_bytes = (1 << 30) + (1 << 20);

  // Sent as "authorization: Bearer <token>" on every call. Default empty:
  // no authorization header.
  std::string bearer_token;

  // Transport security. Default nullptr: plaintext
  // (grpc::InsecureChannelCredentials()), as for a server on loopback.
  // TlsCredentials() makes TLS and mutual-TLS credentials from PEM files.
  std::shared_ptr<grpc::ChannelCredentials> credentials;

  // With TLS: the name the server's certificate must carry, when it is not
  // the host of the address (e.g. an IP address). Default: the host.
  std::string tls_server_name;
};

// PEM files of a TLS connection.
struct TlsFiles {
  // CA certificates the server's certificate must chain to. Empty: the
  // system's roots.
  std::string ca_file;
  // The client's certificate chain and key, for a server with mutual TLS
  // (optd --tls_client_ca). Both empty: none is presented.
  std::string cert_file;
  std::string key_file;
};

// TlsCredentials()
//
// Channel credentials for ClientOptions::credentials from `files`.
// INVALID_ARGUMENT naming the file that cannot be read or is not PEM, or when
// only one of cert_file and key_file is set.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TlsCredentials(
    const TlsFiles& files);

// The answer of the standard health service (grpc.health.v1.Health/Check).
enum class ServingStatus { kUnknown, kServing, kNotServing, kServiceUnknown };

// ServingStatusName(): "SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN".
absl::string_view ServingStatusName(ServingStatus status);

class Client {
 public:
  // Client::Connect()
  //
  // Opens a channel to `address` ("host:port", or any gRPC target such as
  // "dns:///optd.example:50051") and waits up to options.connect_timeout for
  // it to become ready. INVALID_ARGUMENT for an empty address or bad options;
  // UNAVAILABLE, naming the address, when nothing answers in time.
  static absl::StatusOr<Client> Connect(
      const std::string& address,
      const ClientOptions& options = ClientOptions());

  // Client::FromChannel()
  //
  // Wraps a channel made by the caller (in-process servers, custom channel
  // arguments). options.max_message_bytes, connect_timeout and credentials
  // are not used: the channel already has its own.
  static Client FromChannel(std::shared_ptr<grpc::Channel> channel,
                            const ClientOptions& options = ClientOptions());

  // Client::Health()
  //
  // grpc.health.v1.Health/Check for `service` ("" is the server as a whole,
  // "optd.v1.Optimizer" the optimizer service).
  absl::StatusOr<ServingStatus> Health(const std::string& service = "") const;

  // Client::ListSessions()
  //
  // Every session matching `request`'s filters (state, labels), in id order.
  // Follows next_page_token until the last page, starting at
  // request.page_token; request.page_size is the page size of each call.
  absl::StatusOr<std::vector<v1::Session>> ListSessions(
      const v1::ListSessionsRequest& request = v1::ListSessionsRequest()) const;

  // Client::GetSession()
  //
  // State, counters, best value, recent history and, once ended, the summary.
  // The first form includes best_x; the second takes the full request.
  absl::StatusOr<v1::Session> GetSession(const std::string& session_id,
                                         bool include_x = false) const;
  absl::StatusOr<v1::Session> GetSession(
      const v1::GetSessionRequest& request) const;

  // Client::DeleteSession()
  //
  // Ends the session if running and frees it on the server. NOT_FOUND when
  // there is no such session.
  absl::Status DeleteSession(const std::string& session_id) const;

  // Client::ExportSession()
  //
  // The session as a versioned snapshot (creation request and every tell),
  // to archive or move it. FAILED_PRECONDITION from a server without
  // --data_dir.
  absl::StatusOr<v1::SessionSnapshot> ExportSession(
      const std::string& session_id) const;

  // Client::ImportSession()
  //
  // Recreates an exported session (under `session_id`, or the snapshot's own
  // id when empty); its next trial is bitwise the exported one's. `shards`
  // > 0 reshards it over that many replicas (0: the snapshot's count).
  absl::StatusOr<v1::ImportSessionResponse> ImportSession(
      const v1::SessionSnapshot& snapshot, const std::string& session_id = "",
      int shards = 0) const;

  // Client::ForkSession()
  //
  // A new session from a durable step of `request.session_id` (optimizer.proto
  // ForkSessionRequest): its state at that step under a new id, optionally
  // resharded and with changed solver options. The source is unchanged.
  absl::StatusOr<v1::ForkSessionResponse> ForkSession(
      const v1::ForkSessionRequest& request) const;

  // Client::SwitchSolver()
  //
  // Continues `request.session_id` under another solver, with the same id
  // (optimizer.proto SwitchSolverRequest, docs/api.md "Switch"): the
  // response carries the new solver's first trial(s); the old solver's
  // trials are cancelled.
  absl::StatusOr<v1::SwitchSolverResponse> SwitchSolver(
      const v1::SwitchSolverRequest& request) const;

  // Client::Diagnose()
  //
  // Opens a curvature session at session `request.session_id`'s current or
  // best point (optimizer.proto Diagnose); drive it as any session
  // (Session::Attach) and read Summary.curvature at its end.
  absl::StatusOr<v1::DiagnoseResponse> Diagnose(
      const v1::DiagnoseRequest& request) const;

  // Client::PrepareUnaryContext(), Client::PrepareStreamContext()
  //
  // Sets the deadline (call_timeout, stream_timeout) and the authorization
  // header on `context`, for callers that use stub() directly.
  void PrepareUnaryContext(grpc::ClientContext* context) const;
  void PrepareStreamContext(grpc::ClientContext* context) const;

  // Client::stub()
  //
  // The generated stub, for requests this class has no method for. Prepare
  // each context with PrepareUnaryContext() or PrepareStreamContext().
  v1::Optimizer::Stub& stub() const { return *stub_; }

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

 private:
  Client(std::shared_ptr<grpc::Channel> channel, const ClientOptions& options);

  std::shared_ptr<grpc::Channel> channel_;
  // Shared so that copies of a Client are cheap; the stub is thread-safe.
  std::shared_ptr<v1::Optimizer::Stub> stub_;
  ClientOptions options_;
};

}  // namespace optd::client

#endif  // OPTD_CLIENT_CLIENT_H_
