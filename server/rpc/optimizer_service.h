// OptimizerService: optd.v1.Optimizer on gRPC's callback API. It is thin, as
// TensorFlow Serving's prediction service is: each method finds the session in
// the SessionManager, lets the Session do the work in absl::Status terms, and
// turns the status into a grpc::Status once (grpc_status.h).
//
// Unary methods complete on the calling gRPC thread through DefaultReactor(),
// except a journaled Tell: the thread that synced its record (the write-ahead
// log's committer or a commit thread of the SessionStore) finishes it, so gRPC
// threads never wait on fsync. Optimize answers a tell the same way.
// `Optimize` is a bidirectional reactor that answers each request with one
// response: the first request opens (`create`) or attaches to
// (`attach_session_id`) a session, every later one is a tell. A request that
// fails validation gets a response carrying error_code/error_message and the
// stream stays open; the stream ends OK when the client half-closes.
//
//   SessionManager sessions(limits);
//   OptimizerService service(&sessions);
//   builder.RegisterService(&service);
//
// Thread-safety: thread-safe; gRPC calls the methods from many threads.
#ifndef OPTD_SERVER_RPC_OPTIMIZER_SERVICE_H_
#define OPTD_SERVER_RPC_OPTIMIZER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "grpcpp/grpcpp.h"
#include "optd/v1/optimizer.grpc.pb.h"
#include "server/rpc/auth.h"
#include "server/rpc/service_metrics.h"
#include "server/session/session_manager.h"
#include "server/sharding/session_router.h"
#include "server/sharding/slice_host.h"

namespace optd::server {

// What the service checks before a call reaches a session.
struct ServiceOptions {
  // Authenticates every call and scopes session ids to the caller's tenant
  // (auth.h). Null: authentication off. Must outlive the service.
  const Authenticator* auth = nullptr;
  // Optimize streams open at once, server-wide (--max_concurrent_streams);
  // one more is refused with RESOURCE_EXHAUSTED. Range [1, inf).
  int64_t max_streams = 10000;
  // Counts calls, bytes, steps and evaluations (service_metrics.h). Null:
  // none. Must outlive the service.
  ServiceMetrics* metrics = nullptr;
};

// PutSlice is a raw method: its request arrives as bytes and is parsed with
// the slice's bytes reserved first (presized_parse.h).
class OptimizerService final
    : public v1::Optimizer::WithRawCallbackMethod_PutSlice<
          v1::Optimizer::CallbackService> {
 public:
  // `sessions` must outlive the service.
  // `slices` (may be null: no direct data path) serves PutSlice/GetSlice;
  // with `replicas` (may be null), calls for sessions that live on another
  // replica are forwarded there (session_router.h).
  explicit OptimizerService(SessionManager* sessions,
                            SliceHost* slices = nullptr,
                            std::shared_ptr<const Replicas> replicas = nullptr,
                            ServiceOptions options = {})
      : sessions_(sessions),
        slices_(slices),
        router_(std::move(replicas)),
        options_(options) {}

  // Optimize streams open now.
  int64_t open_streams() const { return open_streams_.load(); }

  grpc::ServerUnaryReactor* CreateSession(
      grpc::CallbackServerContext* context,
      const v1::CreateSessionRequest* request,
      v1::CreateSessionResponse* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const v1::GetSessionRequest* request,
                                       v1::Session* response) override;
  grpc::ServerUnaryReactor* ListSessions(
      grpc::CallbackServerContext* context,
      const v1::ListSessionsRequest* request,
      v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSession(
      grpc::CallbackServerContext* context,
      const v1::DeleteSessionRequest* request,
      v1::DeleteSessionResponse* response) override;
  grpc::ServerUnaryReactor* Ask(grpc::CallbackServerContext* context,
                                const v1::AskRequest* request,
                                v1::AskResponse* response) override;
  grpc::ServerUnaryReactor* Tell(grpc::CallbackServerContext* context,
                                 const v1::TellRequest* request,
                                 v1::TellResponse* response) override;
  grpc::ServerBidiReactor<v1::OptimizeRequest, v1::OptimizeResponse>* Optimize(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ExportSession(
      grpc::CallbackServerContext* context,
      const v1::ExportSessionRequest* request,
      v1::SessionSnapshot* response) override;
  grpc::ServerUnaryReactor* ImportSession(
      grpc::CallbackServerContext* context,
      const v1::ImportSessionRequest* request,
      v1::ImportSessionResponse* response) override;
  grpc::ServerUnaryReactor* ForkSession(
      grpc::CallbackServerContext* context,
      const v1::ForkSessionRequest* request,
      v1::ForkSessionResponse* response) override;
  grpc::ServerUnaryReactor* SwitchSolver(
      grpc::CallbackServerContext* context,
      const v1::SwitchSolverRequest* request,
      v1::SwitchSolverResponse* response) override;

  // The request's bytes are a PutSliceRequest; the response's are written
  // a PutSliceResponse.
  grpc::ServerUnaryReactor* PutSlice(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request_bytes,
                                     grpc::ByteBuffer* response_bytes) override;
  grpc::ServerUnaryReactor* GetSlice(grpc::CallbackServerContext* context,
                                     const v1::GetSliceRequest* request,
                                     v1::GetSliceResponse* response) override;
  // A curvature session at another session's point (optimizer.proto
  // Diagnose), created as CreateSession creates one.
  grpc::ServerUnaryReactor* Diagnose(grpc::CallbackServerContext* context,
                                     const v1::DiagnoseRequest* request,
                                     v1::DiagnoseResponse* response) override;

 private:
  SessionManager* const sessions_;
  SliceHost* const slices_;
  SessionRouter router_;
  const ServiceOptions options_;
  std::atomic<int64_t> open_streams_{0};
};

}  // namespace optd::server

#endif  // OPTD_SERVER_RPC_OPTIMIZER_SERVICE_H_
