#include "client/client.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace optd::client {
namespace {

// The deadline `timeout` from now, or none for an infinite timeout.
void SetTimeout(absl::Duration timeout, grpc::ClientContext* context) {
  if (timeout == absl::InfiniteDuration()) return;
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status ValidateOptions(const ClientOptions& options) {
  if (options.max_message_bytes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ClientOptions.max_message_bytes = ", options.max_message_bytes,
        " is outside [1, 2^31 - 1]"));
  }
  if (options.call_timeout <= absl::ZeroDuration() ||
      options.stream_timeout <= absl::ZeroDuration() ||
      options.connect_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "ClientOptions: call_timeout and stream_timeout must be positive, "
        "connect_timeout non-negative");
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

Client::Client(std::shared_ptr<grpc::Channel> channel,
               const ClientOptions& options)
    : channel_(std::move(channel)),
      stub_(v1::Optimizer::NewStub(channel_)),
      options_(options) {}

absl::StatusOr<Client> Client::Connect(const std::string& address,
                                       const ClientOptions& options) {
  if (address.empty()) {
    return absl::InvalidArgumentError("server address is empty");
  }
  OPTD_RETURN_IF_ERROR(ValidateOptions(options));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  if (options.credentials != nullptr && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.credentials != nullptr ? options.credentials
                                     : grpc::InsecureChannelCredentials();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, credentials, args);
  if (options.connect_timeout > absl::ZeroDuration() &&
      !channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + options.connect_timeout))) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to optd at ", address, " within ",
                     absl::FormatDuration(options.connect_timeout),
                     "; is the server running and the address right?"));
  }
  return Client(std::move(channel), options);
}

namespace {
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the ", what, " file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " file ", path, " is not PEM (no -----BEGIN line)"));
  }
  return text.str();
}
}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TlsCredentials(
    const TlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key: set both cert_file and key_file, "
        "or neither");
  }
  grpc::SslCredentialsOptions ssl;
  if (!files.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile(files.ca_file, "CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!files.cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadPemFile(files.cert_file, "certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile(files.key_file, "key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

Client Client::FromChannel(std::shared_ptr<grpc::Channel> channel,
                           const ClientOptions& options) {
  return Client(std::move(channel), options);
}

void Client::PrepareUnaryContext(grpc::ClientContext* context) const {
  SetTimeout(options_.call_timeout, context);
  if (!options_.bearer_token.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options_.bearer_token));
  }
}

void Client::PrepareStreamContext(grpc::ClientContext* context) const {
  SetTimeout(options_.stream_timeout, context);
  if (!options_.bearer_token.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options_.bearer_token));
  }
}

absl::StatusOr<ServingStatus> Client::Health(const std::string& service) const {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(health->Check(&context, request, &response)));
  switch (response.status()) {
    case grpc::health::v1::HealthCheckResponse::SERVING:
      return ServingStatus::kServing;
    case grpc::health::v1::HealthCheckResponse::NOT_SERVING:
      return ServingStatus::kNotServing;
    case grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN:
      return ServingStatus::kServiceUnknown;
    default:
      return ServingStatus::kUnknown;
  }
}

absl::StatusOr<std::vector<v1::Session>> Client::ListSessions(
    const v1::ListSessionsRequest& request) const {
  std::vector<v1::Session> sessions;
  v1::ListSessionsRequest page_request = request;
  while (true) {
    grpc::ClientContext context;
    PrepareUnaryContext(&context);
    v1::ListSessionsResponse response;
    OPTD_RETURN_IF_ERROR(
        ToAbslStatus(stub_->ListSessions(&context, page_request, &response)));
    for (v1::Session& session : *response.mutable_sessions()) {
      sessions.push_back(std::move(session));
    }
    if (response.next_page_token().empty()) break;
    page_request.set_page_token(response.next_page_token());
  }
  return sessions;
}

absl::StatusOr<v1::Session> Client::GetSession(const std::string& session_id,
                                               bool include_x) const {
  v1::GetSessionRequest request;
  request.set_session_id(session_id);
  request.set_include_x(include_x);
  return GetSession(request);
}

absl::StatusOr<v1::Session> Client::GetSession(
    const v1::GetSessionRequest& request) const {
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::Session session;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(stub_->GetSession(&context, request, &session)));
  return session;
}

absl::Status Client::DeleteSession(const std::string& session_id) const {
  v1::DeleteSessionRequest request;
  request.set_session_id(session_id);
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::DeleteSessionResponse response;
  return ToAbslStatus(stub_->DeleteSession(&context, request, &response));
}

absl::StatusOr<v1::SessionSnapshot> Client::ExportSession(
    const std::string& session_id) const {
  v1::ExportSessionRequest request;
  request.set_session_id(session_id);
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::SessionSnapshot snapshot;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(stub_->ExportSession(&context, request, &snapshot)));
  return snapshot;
}

absl::StatusOr<v1::ImportSessionResponse> Client::ImportSession(
    const v1::SessionSnapshot& snapshot, const std::string& session_id,
    int shards) const {
  v1::ImportSessionRequest request;
  *request.mutable_snapshot() = snapshot;
  request.set_session_id(session_id);
  request.set_shards(shards);
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::ImportSessionResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(stub_->ImportSession(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::ForkSessionResponse> Client::ForkSession(
    const v1::ForkSessionRequest& request) const {
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::ForkSessionResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(stub_->ForkSession(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::SwitchSolverResponse> Client::SwitchSolver(
    const v1::SwitchSolverRequest& request) const {
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::SwitchSolverResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(stub_->SwitchSolver(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::DiagnoseResponse> Client::Diagnose(
    const v1::DiagnoseRequest& request) const {
  grpc::ClientContext context;
  PrepareUnaryContext(&context);
  v1::DiagnoseResponse response;
  OPTD_RETURN_IF_ERROR(
      ToAbslStatus(stub_->Diagnose(&context, request, &response)));
  return response;
}

}  // namespace optd::client
