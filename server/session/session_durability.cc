#include "server/session/session_durability.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/storage/journal.h"
#include "spdlog/spdlog.h"

namespace optd::server {

SessionDurability::SessionDurability(std::string session_id,
                                     int64_t checkpoint_interval,
                                     std::shared_ptr<ShardGroup> shards)
    : session_id_(std::move(session_id)),
      checkpoint_interval_(checkpoint_interval),
      shards_(std::move(shards)) {}

int64_t SessionDurability::durable_step() const {
  return journal_ == nullptr ? 0 : static_cast<int64_t>(journal_->durable());
}

bool SessionDurability::CheckpointsOnly(const Solver& solver) const {
  return checkpoint_interval_ > 0 && solver.StateBytes() > 0;
}

absl::Status SessionDurability::BeforeTell(uint64_t batch_first_id,
                                           BuildCheckpoint build) {
  if (journal_ != nullptr) OPTD_RETURN_IF_ERROR(journal_->health());
  if (!checkpoint_error_.ok()) {
    // A checkpoint its replicas could not write: until one is, no tell.
    WriteCheckpoint(batch_first_id, build);
    if (!checkpoint_error_.ok()) return checkpoint_error_;
  }
  return absl::OkStatus();
}

void SessionDurability::AfterTell(const v1::TellRequest& request,
                                  absl::Time now, const Solver& solver,
                                  int64_t dimension, uint64_t batch_first_id,
                                  BuildCheckpoint build) {
  if (journal_ == nullptr) return;
  if (CheckpointsOnly(solver)) {
    // Large sessions: no gradient ever goes to disk, only the state every
    // checkpoint_interval tells (and the final one).
    if (tells_ - checkpoint_tells_ >= checkpoint_interval_ ||
        solver.finished()) {
      WriteCheckpoint(batch_first_id, build);
    }
    return;
  }
  journal_->Append(EncodeTellRecord(request, now));
  // A tell on the direct path left its vectors in the replicas' staged
  // files, not in the journal: they count as well.
  if (request.sliced()) sliced_bytes_since_checkpoint_ += 8 * dimension;
  // Per-tell durability journals every tell; once the tells since the last
  // checkpoint outweigh the state (twice over, and 4 MiB), a checkpoint
  // replaces them, so the journal (and a sharded session's staged files)
  // stays within a few times the state.
  constexpr uint64_t kMinCompactionBytes = uint64_t{4} << 20;
  const int64_t state_bytes = solver.StateBytes();
  if (state_bytes > 0 && !solver.finished() &&
      journal_->bytes_since_checkpoint() + sliced_bytes_since_checkpoint_ >=
          std::max<uint64_t>(kMinCompactionBytes, 2 * state_bytes)) {
    WriteCheckpoint(batch_first_id, build);
  }
}

bool SessionDurability::Ticket(DurableTicket* ticket) const {
  if (journal_ == nullptr || journal_->checkpoint_interval() != 0) {
    return false;
  }
  *ticket = {journal_, static_cast<uint64_t>(tells_)};
  return true;
}

void SessionDurability::Flush(const Solver& solver, uint64_t batch_first_id,
                              BuildCheckpoint build) {
  if (journal_ == nullptr || !CheckpointsOnly(solver) ||
      tells_ == checkpoint_tells_) {
    return;
  }
  WriteCheckpoint(batch_first_id, build);
}

void SessionDurability::WriteCheckpoint(uint64_t batch_first_id,
                                        BuildCheckpoint build) {
  v1::SessionCheckpoint checkpoint;
  if (shards_ != nullptr) {
    // The slices save themselves on their replicas (synced before they
    // answer); the journal's checkpoint, written after, refers to them and
    // is the commit point. Slice checkpoints older than the durable one
    // may go, and staged vectors of the trials it holds.
    ShardGroup::CheckpointTarget target;
    target.tells = static_cast<uint64_t>(tells_);
    target.keep_from =
        std::max(journal_->durable_checkpoint(), restored_checkpoint_tells_);
    if (auto it = checkpoint_trials_.find(target.keep_from);
        it != checkpoint_trials_.end()) {
      target.staged_told_through = it->second;
    }
    checkpoint_trials_.erase(checkpoint_trials_.begin(),
                             checkpoint_trials_.lower_bound(target.keep_from));
    checkpoint_trials_[target.tells] = batch_first_id - 1;
    shards_->set_checkpoint_target(target);
  }
  absl::Status status = build(&checkpoint);
  if (shards_ != nullptr) shards_->set_checkpoint_target(std::nullopt);
  if (!status.ok()) {
    spdlog::error("session \"{}\": cannot checkpoint: {}", session_id_,
                  status.ToString());
    // A slice that could not save (its replica's disk) leaves the session
    // whole: it refuses tells until a checkpoint is written (BeforeTell
    // tries again). A lost replica breaks the group instead: a rebuild.
    if (shards_ != nullptr && !shards_->broken()) {
      checkpoint_error_ = absl::UnavailableError(absl::StrCat(
          "session \"", session_id_, "\" could not write its checkpoint (",
          status.message(),
          "); it takes tells again once the checkpoint can be written; "
          "retry the tell"));
    }
    return;
  }
  checkpoint_error_ = absl::OkStatus();
  checkpoint_tells_ = tells_;
  sliced_bytes_since_checkpoint_ = 0;
  journal_->Checkpoint(checkpoint.SerializeAsString(),
                       static_cast<uint64_t>(tells_));
}

}  // namespace optd::server
