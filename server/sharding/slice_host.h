// SliceHost: the registry of the slices of sharded sessions that this
// replica holds: create, find, delete, TTL expiry, sequence numbers,
// publication for GetSlice and the checkpoint operations. The operations on
// a slice's solver state are in slice_ops.h, the vectors clients send in
// staged_store.h.
//
// The slices of sharded sessions that this replica holds
// (DESIGN §3, proto/optd/v1/shard.proto). The home replica of a session
// creates one slice per shard on K replicas and drives them with vector
// operations; this class applies them to the slice state of solvers/
// (LbfgsSlice, TrustRegionSlice, AdamSlice<T>) and answers the partial sums.
//
// Direct data path: clients send a trial's gradient slices here (PutSlice,
// Stage()) and the home's operation names the trial (staged_trial) instead of
// carrying data; the home publishes a trial's point (publish_trial) and
// clients read it here (GetSlice, ReadPublished()). Staged vectors of
// per-tell durable sessions are journaled in <data_dir>/slices/ and synced
// before PutSlice answers, so that a rebuilt session replays them.
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
#ifndef OPTD_SERVER_SHARDING_SLICE_HOST_H_
#define OPTD_SERVER_SHARDING_SLICE_HOST_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "optd/v1/shard.pb.h"
#include "server/sharding/slice_ops.h"
#include "server/sharding/staged_store.h"
#include "server/storage/env.h"
#include "server/storage/slice_checkpoint.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {

class SliceHost {
 public:
  // Staged vectors are journaled under `data_dir`/slices (none when empty),
  // through `env` (null: the POSIX one). Slices of sessions larger than
  // `max_dimension` (--max_dimension) are refused: a replica allocates no
  // more for a caller than its own limit.
  explicit SliceHost(int replica_index, std::string data_dir = "",
                     int64_t max_dimension = int64_t{1} << 27,
                     Env* env = nullptr);
  ~SliceHost();

  SliceHost(const SliceHost&) = delete;
  SliceHost& operator=(const SliceHost&) = delete;

  // Creates the slice, replacing one of an earlier epoch of the same session
  // and shard. INVALID_ARGUMENT for a malformed request; RESOURCE_EXHAUSTED
  // for a dimension above the limit.
  absl::Status Create(const v1::CreateSliceRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the batch in order and writes the last operation's answer.
  //   NOT_FOUND: no such slice (epoch included) on this replica.
  //   FAILED_PRECONDITION: a sequence number out of order.
  //   INVALID_ARGUMENT: an operation that does not fit the slice.
  absl::Status Apply(const v1::SliceOpBatch& batch, v1::SliceOpResponse* out)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Frees the slice if it is there with this epoch; with `purge` (any
  // epoch when key.epoch() is 0) also the vectors clients sent it, from
  // memory and disk (the session was deleted).
  void Delete(const v1::SliceKey& key, bool purge = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  // SliceHost::Stage()
  //
  // PutSlice: keeps `request.values` for its trial (synced to disk first for
  // a journaled slice) and answers the shard's range. NOT_FOUND when this
  // replica holds no such shard; INVALID_ARGUMENT for a wrong field, length
  // or a non-finite element (named by its global index); FAILED_PRECONDITION
  // for a trial whose slice was told already with other values. The values'
  // bytes are moved out of `request`.
  absl::StatusOr<ShardRange> Stage(v1::PutSliceRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<ShardRange> Stage(v1::PutSliceRequest&& request)
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Stage(request);
  }
  // SliceHost::ReadPublished()
  //
  // GetSlice: this shard's part of the point (or vector) the home published
  // for request.trial_id. FAILED_PRECONDITION when another trial's is
  // published (the trial is no longer outstanding, or was asked without
  // points_on_slices).
  absl::Status ReadPublished(const v1::GetSliceRequest& request,
                             v1::GetSliceResponse* out)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Describe(v1::GetReplicaStatusResponse* out) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Frees slices unused for longer than their TTL; returns how many.
  int64_t ExpireIdle(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  int replica_index() const { return replica_index_; }

 private:
  struct Slice;

  static std::string MapKey(absl::string_view session_id, int shard);
  static std::string MapKey(const v1::SliceKey& key) {
    return MapKey(key.session_id(), key.shard());
  }
  std::shared_ptr<Slice> Find(const v1::SliceKey& key) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The current slice of (session, shard), whatever its epoch.
  std::shared_ptr<Slice> FindAny(absl::string_view session_id, int shard) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // SLICE_OP_SAVE_CHECKPOINT / SLICE_OP_LOAD_CHECKPOINT. REQUIRES: slice.mu
  // held.
  absl::Status SaveCheckpoint(Slice& slice, const v1::SliceOpRequest& op);
  absl::Status LoadCheckpoint(Slice& slice, const v1::SliceOpRequest& op);

  const int replica_index_;
  const std::string data_dir_;
  Env* const env_;
  const int64_t max_dimension_;
  const SliceCheckpoints checkpoints_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Slice>> slices_
      ABSL_GUARDED_BY(mu_);
  // The vectors clients sent, by (session, shard): they outlive a slice's
  // epoch (a rebuild replays them into the next one).
  const std::unique_ptr<StagedStore> staged_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_SLICE_HOST_H_
