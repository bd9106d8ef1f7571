// StagedStore: the vectors clients sent a replica's slices for their trials
// (PutSlice, the direct data path of docs/sharding.md), by (session, shard),
// in memory and, for per-tell durable sessions, in a record file
// <data_dir>/slices/<id>.<shard>.<incarnation>.staged (server/storage/
// journal.h framing, family kStagedFamily) synced before PutSlice answers.
//
// Owns the staged vectors' lifetime: kept until the home's operation
// consumes them (Take), lent back after it (Restore), freed when the trial's
// answer is published, dropped when a checkpoint holds them (Compact), and
// the files rewritten without them. SliceHost owns the slices and calls this
// with their spec; it validates the PutSlice request before Put.
//
//   StagedStore store(data_dir, env);
//   OPTD_ASSIGN_OR_RETURN(std::shared_ptr<StagedVectors> staged,
//                         store.Open(create_request));
//   OPTD_RETURN_IF_ERROR(store.Put(*staged, spec, put, values, replica));
//
// Thread-safety: thread-safe; each StagedVectors has its own lock, taken by
// the methods that are given one.
#ifndef OPTD_SERVER_SHARDING_STAGED_STORE_H_
#define OPTD_SERVER_SHARDING_STAGED_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "optd/v1/shard.pb.h"
#include "server/storage/env.h"
#include "server/storage/journal.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {

// The key of a (session, shard) in the maps of SliceHost and StagedStore.
std::string SliceMapKey(absl::string_view session_id, int shard);

// Vectors clients sent for a shard's trials (direct path), by (field, trial);
// field 0 is a gradient, 1 a Hessian-vector product.
struct StagedVectors {
  struct Vector {
    std::string bytes;  // until the home's operation consumes it
    bool float32 = false;
    size_t digest = 0;
    int64_t offset = -1;  // of its record in `path`, when journaled
    bool consumed = false;
  };
  ShardRange range;
  uint64_t incarnation = 0;
  std::string path;  // empty: not journaled
  absl::Mutex mu;
  std::optional<JournalFile> file ABSL_GUARDED_BY(mu);
  std::map<std::pair<int, uint64_t>, Vector> vectors ABSL_GUARDED_BY(mu);
};

class StagedStore {
 public:
  // Files under `data_dir`/slices (none when `data_dir` is empty), through
  // `env`.
  StagedStore(std::string data_dir, Env* env);

  StagedStore(const StagedStore&) = delete;
  StagedStore& operator=(const StagedStore&) = delete;

  // StagedStore::Open()
  //
  // The staged vectors of a slice being created: the ones kept in memory,
  // or those journaled before this process started, or a new store.
  absl::StatusOr<std::shared_ptr<StagedVectors>> Open(
      const v1::CreateSliceRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // StagedStore::Put()
  //
  // Keeps `request`'s values (`values`, validated by the caller) for its
  // trial, journaled and synced first when the store has a file; the bytes
  // are moved out of `request`. FAILED_PRECONDITION for a trial told with
  // other values; RESOURCE_EXHAUSTED past the untold-trial limit (the
  // message names `replica_index`).
  absl::Status Put(StagedVectors& staged, const v1::CreateSliceRequest& spec,
                   v1::PutSliceRequest& request, const ConstVectorView& values,
                   int replica_index);
  // StagedStore::Take()
  //
  // The staged vector `op` names (field 1 for SLICE_OP_SET_PRODUCT, else 0;
  // trial op.staged_trial()), marked consumed; *missing when there is none.
  // An empty `range` needs nothing and answers empty.
  absl::StatusOr<std::string> Take(StagedVectors& staged,
                                   const ShardRange& range,
                                   const v1::SliceOpRequest& op, bool* float32,
                                   bool* missing);
  // Gives the bytes Take lent back to the staged vector.
  void Restore(StagedVectors& staged, const v1::SliceOpRequest& op,
               std::string bytes);
  // SLICE_OP_READ_STAGED: the vector (field op.flag()) left in place.
  absl::Status Read(StagedVectors& staged, const v1::CreateSliceRequest& spec,
                    const ShardRange& range, const v1::SliceOpRequest& op,
                    v1::SliceOpResponse* answer);
  // StagedStore::Stage()
  //
  // SLICE_OP_STAGE_GRADIENT (data-parallel sessions, gateway path): the
  // op's data, `range`'s elements of a worker's gradient validated by the
  // home, kept as the gradient of op.staged_trial() as Put keeps a client's.
  absl::Status Stage(StagedVectors& staged, const v1::CreateSliceRequest& spec,
                     const ShardRange& range, const v1::SliceOpRequest& op,
                     int replica_index);
  // StagedStore::ReadGradient()
  //
  // The raw bytes of the staged gradient of `trial`, left in place (read
  // back from its record when they were freed); *missing when there is none.
  absl::StatusOr<std::string> ReadGradient(StagedVectors& staged,
                                           uint64_t trial, bool* float32,
                                           bool* missing);
  // StagedStore::ConsumeGradients()
  //
  // The gradients of `trials` were told (a data-parallel step): they are
  // marked consumed, so that a retry must send the same values. With
  // `drop_unused` (the step's mean was formed from them), gradients of
  // earlier trials never used (failed workers) are dropped, as Take drops
  // them.
  void ConsumeGradients(StagedVectors& staged,
                        absl::Span<const uint64_t> trials, bool drop_unused);
  // Frees the bytes of consumed vectors of trials before `trial` (their
  // answer is published).
  void FreeToldBefore(StagedVectors& staged, uint64_t trial);
  // Drops the vectors of trials after `trial` (the home resumes from a
  // checkpoint and issues them again).
  void DropAfter(StagedVectors& staged, uint64_t trial);
  // Drops the staged vectors of trials up to `told_through` (they are in a
  // durable checkpoint of the home) and rewrites the journaled file without
  // them.
  absl::Status Compact(StagedVectors& staged,
                       const v1::CreateSliceRequest& spec,
                       uint64_t told_through);
  // The bytes held in memory.
  static int64_t BytesHeld(StagedVectors& staged);

  // Forgets the vectors of (session, shard) and removes the files of every
  // incarnation (the session was deleted).
  void Purge(absl::string_view session_id, int shard) ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the vectors of (session, shard) and removes their file (the
  // slice expired).
  void Expire(absl::string_view session_id, int shard) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::string StagedPath(const v1::CreateSliceRequest& spec) const;
  // Removes the staged-vector files of (session, shard) of every
  // incarnation but the file `keep`.
  void RemoveStagedFiles(absl::string_view session_id, int shard,
                         absl::string_view keep) const;
  // Writes the journaled staged file anew with the vectors `staged` still
  // refers to (compaction; a file whose sync failed). REQUIRES: staged.mu.
  absl::Status RewriteLocked(StagedVectors& staged,
                             const v1::CreateSliceRequest& spec);

  const std::string data_dir_;
  Env* const env_;
  absl::Mutex mu_;
  // By (session, shard): they outlive a slice's epoch (a rebuild replays
  // them into the next one).
  absl::flat_hash_map<std::string, std::shared_ptr<StagedVectors>> staged_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SHARDING_STAGED_STORE_H_
