// SessionDurability: how a session's applied tells reach its journal, and
// when its state is checkpointed instead (docs/durability.md).
//
// Owns the session's journal, the count of applied tells (the journal's
// sequence number of the last one), and the checkpoint bookkeeping: the tells
// at the last checkpoint and at the restored one, the last trial told at each
// checkpoint taken since (sharded sessions: replicas drop the staged vectors
// of trials a durable checkpoint holds), the bytes direct-path tells left on
// the replicas since the last checkpoint, and a checkpoint the replicas could
// not write. What a checkpoint holds is the session's to say: the calls that
// write one take a function that builds it.
//
//   SessionDurability durability(id, settings.checkpoint_interval, shards);
//   OPTD_RETURN_IF_ERROR(durability.BeforeTell(batch_first_id, build));
//   ... apply the tell ...
//   durability.CountTell();
//   durability.AfterTell(request, now, solver, dimension, batch_first_id,
//                        build);
//
// Thread-safety: none of its own; a Session keeps it under its mutex.
#ifndef OPTD_SERVER_SESSION_SESSION_DURABILITY_H_
#define OPTD_SERVER_SESSION_SESSION_DURABILITY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "server/sharding/shard_group.h"
#include "server/storage/session_store.h"
#include "solvers/core/solver.h"

namespace optd::server {

// What an answer must wait for before it leaves the server: the journal
// record `seq` synced. Empty (no journal, or nothing to wait for): answer now.
struct DurableTicket {
  std::shared_ptr<SessionJournal> journal;
  uint64_t seq = 0;

  // Calls done(status) once durable (at once when there is nothing to wait
  // for), on this thread or a commit thread.
  void WhenDurable(SessionJournal::DoneCallback done) const {
    if (journal == nullptr) {
      std::move(done)(absl::OkStatus());
    } else {
      journal->WhenDurable(seq, std::move(done));
    }
  }
};

class SessionDurability {
 public:
  // Writes the session's current state as a checkpoint.
  using BuildCheckpoint =
      absl::FunctionRef<absl::Status(v1::SessionCheckpoint*)>;

  // `shards`: a sharded session's slices, or null. `session_id` names the
  // session in messages.
  SessionDurability(std::string session_id, int64_t checkpoint_interval,
                    std::shared_ptr<ShardGroup> shards);

  void Attach(std::shared_ptr<SessionJournal> journal) {
    journal_ = std::move(journal);
  }
  const std::shared_ptr<SessionJournal>& journal() const { return journal_; }
  // The journal's durable sequence number (0 without a journal).
  int64_t durable_step() const;

  // Applied tells; CountTell() counts one more.
  int64_t tells() const { return tells_; }
  void CountTell() { ++tells_; }

  // The solver can save its state and the session is in checkpoint mode:
  // tells are not journaled, checkpoints are.
  bool CheckpointsOnly(const Solver& solver) const;

  // Before a tell: OK, or why it cannot be applied (the journal failed; the
  // replicas could not write the last checkpoint and still cannot — it is
  // tried again here).
  absl::Status BeforeTell(uint64_t batch_first_id, BuildCheckpoint build);
  // After an applied tell, with a journal: journals it and/or writes a
  // checkpoint, as the durability settings say.
  void AfterTell(const v1::TellRequest& request, absl::Time now,
                 const Solver& solver, int64_t dimension,
                 uint64_t batch_first_id, BuildCheckpoint build);
  // Where the answer to the tell just applied must wait for its record
  // (per-tell durability); false when it need not wait.
  bool Ticket(DurableTicket* ticket) const;
  // Clean shutdown: a checkpoint now when the session checkpoints instead of
  // journaling and tells came since the last one.
  void Flush(const Solver& solver, uint64_t batch_first_id,
             BuildCheckpoint build);

  // Restoring a checkpoint: the tells it holds, noted before the solver is
  // restored (the replicas' staged vectors), and taken as the tells applied
  // once it is.
  void NoteRestored(int64_t tells) {
    restored_checkpoint_tells_ = static_cast<uint64_t>(tells);
  }
  void RestoreTells(int64_t tells) { tells_ = checkpoint_tells_ = tells; }

 private:
  // Hands the session's current state to the journal as a checkpoint (a
  // sharded session's slices saved on their replicas first).
  void WriteCheckpoint(uint64_t batch_first_id, BuildCheckpoint build);

  const std::string session_id_;
  const int64_t checkpoint_interval_;
  const std::shared_ptr<ShardGroup> shards_;
  std::shared_ptr<SessionJournal> journal_;
  int64_t tells_ = 0;
  // tells_ when the last checkpoint was taken (or restored).
  int64_t checkpoint_tells_ = 0;
  // The checkpoint this session was restored from (0: none), the last trial
  // told at each checkpoint taken since, and the bytes direct-path tells
  // left on the replicas since the last checkpoint.
  uint64_t restored_checkpoint_tells_ = 0;
  std::map<uint64_t, uint64_t> checkpoint_trials_;
  uint64_t sliced_bytes_since_checkpoint_ = 0;
  // A sharded session whose replicas could not write its last checkpoint
  // (UNAVAILABLE naming why): tells wait for the next one to be written.
  absl::Status checkpoint_error_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_DURABILITY_H_
