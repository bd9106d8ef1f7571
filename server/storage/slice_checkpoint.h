// SliceCheckpoints: the slices of sharded sessions saved in a replica's data
// directory at the home's checkpoints (DESIGN §4, docs/durability.md).
//
// A sharded session's checkpoint is the home's journal header (the
// controller: scalars and small matrices) plus one file per slice on the
// replica that holds it, all at the same tells count T:
//
//   <data_dir>/slices/<session>.<shard>.<incarnation>.<T>.ckpt
//
// a record file (journal.h) of family OPTDCKP: record 0 the
// v1::CreateSliceRequest the slice was created with (its key without the
// epoch), record 1 the slice's state (LbfgsSlice / TrustRegionSlice
// SaveState, or Adam's x, m, v and max v). Each file is written aside, synced
// and renamed before the slice answers; the home writes its own checkpoint
// only after every slice answered, so the home's durable checkpoint always
// has its slices on disk. A replica keeps its checkpoints from the home's
// durable one on, and drops the others when the home says so.
//
// Thread-safety: thread-safe (distinct slices' files are distinct).
#ifndef OPTD_SERVER_STORAGE_SLICE_CHECKPOINT_H_
#define OPTD_SERVER_STORAGE_SLICE_CHECKPOINT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "optd/v1/shard.pb.h"
#include "server/storage/env.h"

namespace optd::server {

class SliceCheckpoints {
 public:
  // Files under `dir` (<data_dir>/slices); an empty `dir`: none (a replica
  // without --data_dir), and Save fails.
  SliceCheckpoints(Env* env, std::string dir)
      : env_(env), dir_(std::move(dir)) {}

  bool enabled() const { return !dir_.empty(); }

  // SliceCheckpoints::Save()
  //
  // Writes `state` as checkpoint `tells` of the slice `spec`, durably.
  absl::Status Save(const v1::CreateSliceRequest& spec, uint64_t tells,
                    absl::string_view state) const;
  // SliceCheckpoints::Load()
  //
  // The state saved as checkpoint `tells` of the slice `spec`.
  // FAILED_PRECONDITION when there is none, or one saved for another slice
  // (range, kind, options); DATA_LOSS when it is damaged.
  absl::StatusOr<std::string> Load(const v1::CreateSliceRequest& spec,
                                   uint64_t tells) const;
  // SliceCheckpoints::Remove()
  //
  // Removes the checkpoints of `spec`'s session, shard and incarnation whose
  // tells count `drop` accepts.
  void Remove(const v1::CreateSliceRequest& spec,
              const std::function<bool(uint64_t tells)>& drop) const;
  // Removes every checkpoint of (session, shard), any incarnation (the
  // session was deleted).
  void RemoveAll(absl::string_view session_id, int shard) const;

  // SliceCheckpoints::Identity()
  //
  // Record 0 of a checkpoint of the slice `spec`: the fields that make a
  // state fit a slice (`spec` without its epoch, ttl and journal_staged).
  static v1::CreateSliceRequest Identity(const v1::CreateSliceRequest& spec);

 private:
  std::string Path(const v1::CreateSliceRequest& spec, uint64_t tells) const;
  // The files of (session, shard) with their incarnation and tells.
  struct Found {
    std::string path;
    uint64_t incarnation;
    uint64_t tells;
  };
  std::vector<Found> List(absl::string_view session_id, int shard) const;

  Env* const env_;
  const std::string dir_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_STORAGE_SLICE_CHECKPOINT_H_
