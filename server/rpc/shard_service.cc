#include "server/rpc/shard_service.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "common/grpc_status.h"
#include "server/session/memory_release.h"

namespace optd::server {

grpc::Status ShardService::AuthorizeReplica(
    const grpc::ServerContext& context) const {
  if (auth_ == nullptr) return grpc::Status::OK;
  return ToGrpcStatus(auth_->AuthenticateReplica(context).status());
}

grpc::Status ShardService::CreateSlice(grpc::ServerContext* context,
                                       const v1::CreateSliceRequest* request,
                                       v1::CreateSliceResponse*) {
  if (grpc::Status s = AuthorizeReplica(*context); !s.ok()) return s;
  return ToGrpcStatus(host_->Create(*request));
}

grpc::Status ShardService::ApplySliceOps(grpc::ServerContext* context,
                                         const v1::SliceOpBatch* request,
                                         v1::SliceOpResponse* response) {
  if (grpc::Status s = AuthorizeReplica(*context); !s.ok()) return s;
  size_t bytes = 0;
  for (const v1::SliceOpRequest& op : request->ops()) bytes += op.data().size();
  NoteMessageBytes(bytes);
  grpc::Status status = ToGrpcStatus(host_->Apply(*request, response));
  NoteMessageBytes(response->data().size());
  return status;
}

grpc::Status ShardService::DeleteSlice(grpc::ServerContext* context,
                                       const v1::DeleteSliceRequest* request,
                                       v1::DeleteSliceResponse*) {
  if (grpc::Status s = AuthorizeReplica(*context); !s.ok()) return s;
  host_->Delete(request->key(), request->purge());
  return grpc::Status::OK;
}

grpc::Status ShardService::HoldsSession(grpc::ServerContext* context,
                                        const v1::HoldsSessionRequest* request,
                                        v1::HoldsSessionResponse* response) {
  if (grpc::Status s = AuthorizeReplica(*context); !s.ok()) return s;
  response->set_holds(holds_ != nullptr && holds_(request->session_id()));
  return grpc::Status::OK;
}

grpc::Status ShardService::ClaimSessionId(
    grpc::ServerContext* context, const v1::ClaimSessionIdRequest* request,
    v1::ClaimSessionIdResponse*) {
  if (grpc::Status s = AuthorizeReplica(*context); !s.ok()) return s;
  if (arbiter_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this replica arbitrates no session ids");
  }
  return ToGrpcStatus(arbiter_->Arbitrate(
      request->session_id(), request->replica(), request->release()));
}

grpc::Status ShardService::GetReplicaStatus(
    grpc::ServerContext* context, const v1::GetReplicaStatusRequest*,
    v1::GetReplicaStatusResponse* response) {
  Caller caller;
  if (auth_ != nullptr) {
    absl::StatusOr<Caller> authenticated = auth_->Authenticate(*context);
    if (!authenticated.ok()) return ToGrpcStatus(authenticated.status());
    caller = *std::move(authenticated);
  }
  host_->Describe(response);
  if (!caller.tenant.empty() && !caller.replica()) {
    // A tenant sees its own slices only, named as it names its sessions.
    const std::string prefix = caller.ScopePrefix();
    auto* slices = response->mutable_slices();
    slices->erase(std::remove_if(slices->begin(), slices->end(),
                                 [&](const v1::ReplicaSlice& slice) {
                                   return !absl::StartsWith(
                                       slice.key().session_id(), prefix);
                                 }),
                  slices->end());
    for (v1::ReplicaSlice& slice : *slices) {
      slice.mutable_key()->set_session_id(
          caller.Unscope(slice.key().session_id()));
    }
  }
  response->set_rss_bytes(ResidentSetBytes());
  const struct mallinfo2 info = mallinfo2();
  response->set_malloc_in_use_bytes(
      static_cast<int64_t>(info.uordblks + info.hblkhd));
  response->set_malloc_free_bytes(static_cast<int64_t>(info.fordblks));
  return grpc::Status::OK;
}

int64_t ResidentSetBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace optd::server
