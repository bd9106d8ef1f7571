// SliceHost: the slices of sharded sessions that this replica holds
// (DESIGN §3, proto/optd/v1/shard.proto). The home replica of a session
// creates one slice per shard on K replicas and drives them with vector
// operations; this class applies them to the slice state of solvers/
// (LbfgsSlice, TrustRegionSlice, AdamSlice<T>) and answers the partial sums.
//
// Operations that change a slice carry sequence numbers: seq = last + 1 is
// applied, seq <= last was applied before (a retried batch) and is skipped,
// and a repeat of the last seq answers the cached result. Anything else is
// FAILED_PRECONDITION, which tells the home that the slice is not the one it
// built (the replica restarted): the home rebuilds the session.
//
//   SliceHost host(/*replica_index=*/1);
//   OPTD_RETURN_IF_ERROR(host.Create(create_request));
//   v1::SliceOpResponse answer;
//   OPTD_RETURN_IF_ERROR(host.Apply(batch, &answer));
//
// Thread-safety: thread-safe; operations on different slices run in
// parallel, those on one slice one at a time.
#ifndef OPTD_SERVER_SLICE_HOST_H_
#define OPTD_SERVER_SLICE_HOST_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "optd/v1/shard.pb.h"
#include "solvers/adam_kernel.h"

namespace optd::server {

// AdamStepScalars as SliceOpRequest.scalars, in declaration order.
void AdamScalarsToProto(const AdamStepScalars& scalars,
                        google::protobuf::RepeatedField<double>* out);
absl::Status AdamScalarsFromProto(
    const google::protobuf::RepeatedField<double>& in, AdamStepScalars* out);

class SliceHost {
 public:
  explicit SliceHost(int replica_index) : replica_index_(replica_index) {}
  ~SliceHost();

  SliceHost(const SliceHost&) = delete;
  SliceHost& operator=(const SliceHost&) = delete;

  // Creates the slice, replacing one of an earlier epoch of the same session
  // and shard. INVALID_ARGUMENT for a malformed request.
  absl::Status Create(const v1::CreateSliceRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the batch in order and writes the last operation's answer.
  //   NOT_FOUND: no such slice (epoch included) on this replica.
  //   FAILED_PRECONDITION: a sequence number out of order.
  //   INVALID_ARGUMENT: an operation that does not fit the slice.
  absl::Status Apply(const v1::SliceOpBatch& batch, v1::SliceOpResponse* out)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Frees the slice if it is there with this epoch.
  void Delete(const v1::SliceKey& key) ABSL_LOCKS_EXCLUDED(mu_);
  void Describe(v1::GetReplicaStatusResponse* out) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Frees slices unused for longer than their TTL; returns how many.
  int64_t ExpireIdle(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  int replica_index() const { return replica_index_; }

 private:
  struct Slice;

  static std::string MapKey(const v1::SliceKey& key);
  std::shared_ptr<Slice> Find(const v1::SliceKey& key) const
      ABSL_LOCKS_EXCLUDED(mu_);

  const int replica_index_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Slice>> slices_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SLICE_HOST_H_
