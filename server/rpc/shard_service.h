// ShardService: the internal optd.v1.Shard service (proto/optd/v1/shard.proto)
// through which other replicas' sessions drive the slices this replica holds
// (SliceHost). Synchronous handlers: each call is short, CPU-bound work on
// one slice.
//
// With authentication on (auth.h), only the replicas' token may call it,
// except GetReplicaStatus, which a tenant may call (optctl shards) and which
// then lists only that tenant's slices.
//
// Thread-safety: thread-safe (SliceHost is).
#ifndef OPTD_SERVER_RPC_SHARD_SERVICE_H_
#define OPTD_SERVER_RPC_SHARD_SERVICE_H_

#include <functional>

#include "absl/strings/string_view.h"
#include "optd/v1/shard.grpc.pb.h"
#include "server/rpc/auth.h"
#include "server/sharding/session_id_arbiter.h"
#include "server/sharding/slice_host.h"

namespace optd::server {

class ShardService final : public v1::Shard::Service {
 public:
  // `host`, `auth` (null: authentication off) and `arbiter` (null: named
  // session ids are not arbitrated here) must outlive the service.
  explicit ShardService(SliceHost* host, const Authenticator* auth = nullptr,
                        SessionIdArbiter* arbiter = nullptr,
                        SessionIdArbiter::Holds holds = nullptr)
      : host_(host), auth_(auth), arbiter_(arbiter), holds_(std::move(holds)) {}

  grpc::Status CreateSlice(grpc::ServerContext* context,
                           const v1::CreateSliceRequest* request,
                           v1::CreateSliceResponse* response) override;
  grpc::Status ApplySliceOps(grpc::ServerContext* context,
                             const v1::SliceOpBatch* request,
                             v1::SliceOpResponse* response) override;
  grpc::Status DeleteSlice(grpc::ServerContext* context,
                           const v1::DeleteSliceRequest* request,
                           v1::DeleteSliceResponse* response) override;
  grpc::Status GetReplicaStatus(
      grpc::ServerContext* context, const v1::GetReplicaStatusRequest* request,
      v1::GetReplicaStatusResponse* response) override;
  grpc::Status HoldsSession(grpc::ServerContext* context,
                            const v1::HoldsSessionRequest* request,
                            v1::HoldsSessionResponse* response) override;
  grpc::Status ClaimSessionId(grpc::ServerContext* context,
                              const v1::ClaimSessionIdRequest* request,
                              v1::ClaimSessionIdResponse* response) override;

 private:
  // OK, or why the caller may not call the replicas-only methods.
  grpc::Status AuthorizeReplica(const grpc::ServerContext& context) const;

  SliceHost* const host_;
  const Authenticator* const auth_;
  SessionIdArbiter* const arbiter_;
  const SessionIdArbiter::Holds holds_;
};

// Resident set size of this process in bytes (Linux /proc/self/statm), or 0.
int64_t ResidentSetBytes();

}  // namespace optd::server

#endif  // OPTD_SERVER_RPC_SHARD_SERVICE_H_
