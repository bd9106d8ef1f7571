#include "server/shard_service.h"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

#include "server/grpc_status.h"
#include "server/memory_release.h"

namespace optd::server {

grpc::Status ShardService::CreateSlice(grpc::ServerContext*,
                                       const v1::CreateSliceRequest* request,
                                       v1::CreateSliceResponse*) {
  return ToGrpcStatus(host_->Create(*request));
}

grpc::Status ShardService::ApplySliceOps(grpc::ServerContext*,
                                         const v1::SliceOpBatch* request,
                                         v1::SliceOpResponse* response) {
  size_t bytes = 0;
  for (const v1::SliceOpRequest& op : request->ops()) bytes += op.data().size();
  NoteMessageBytes(bytes);
  grpc::Status status = ToGrpcStatus(host_->Apply(*request, response));
  NoteMessageBytes(response->data().size());
  return status;
}

grpc::Status ShardService::DeleteSlice(grpc::ServerContext*,
                                       const v1::DeleteSliceRequest* request,
                                       v1::DeleteSliceResponse*) {
  host_->Delete(request->key(), request->purge());
  return grpc::Status::OK;
}

grpc::Status ShardService::GetReplicaStatus(
    grpc::ServerContext*, const v1::GetReplicaStatusRequest*,
    v1::GetReplicaStatusResponse* response) {
  host_->Describe(response);
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
