// Session: one optimization run held in memory — its solver, the outstanding
// trial and the bookkeeping that makes tells exactly-once (DESIGN §2).
//
// Trial ids are per-session, strictly increasing from 1. The solver hands out
// its trials in batches (solver.h): a batch of b trials gets the ids
// first..first+b-1, its trials are told in any order, and the tell of its last
// untold trial issues the solver's next batch, unless the session has ended.
// Most batches hold one trial, so every applied tell issues the next id.
// Workers lease single trials of a batch (AskAsWorker); every applied tell is
// kept in the trial log (GetSession include_trials). A tell is validated
// completely before anything changes, so a refused tell leaves the session
// exactly as it was. Each applied tell leaves a 64-bit digest of its payload
// (payload_digest.h); a later tell of the same trial with the same digest is a
// retry and gets the current answer with `duplicate` set, one with another
// digest is refused.
//
//   auto session = std::make_shared<Session>("rosen-1", std::move(setup),
//                                            labels,
//                                            v1::VECTOR_ENCODING_VALUES);
//   v1::TellResponse answer;
//   absl::Status s = session->Tell(request, &answer);
//
// Session holds the solver and the clocks, and is made of parts that each own
// one kind of bookkeeping: TrialLedger (trial ids, the batch, answered digests,
// leases), TrialLog and History (what GetSession shows of its past),
// SessionDurability (the journal, the tell count, checkpoints); trial_writer.h
// writes the trials of answers and told_vectors.h decodes tells.
//
// Thread-safety: thread-safe. Each session has its own mutex, the one lock of
// all its parts, so tells to different sessions never contend; id() and
// labels() are immutable and need no lock.
#ifndef OPTD_SERVER_SESSION_SESSION_H_
#define OPTD_SERVER_SESSION_SESSION_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/session_durability.h"
#include "server/session/solver_factory.h"
#include "server/session/told_vectors.h"
#include "server/session/trial_ledger.h"
#include "server/session/trial_log.h"
#include "server/storage/session_store.h"
#include "solvers/core/solver.h"

namespace optd::server {

// Labels in key order (ListSessions filters compare them).
using Labels = std::map<std::string, std::string>;

// How a session is kept and shared, every default resolved.
struct SessionSettings {
  // When it was created (a recovered or imported session keeps its own).
  absl::Time create_time = absl::Now();
  // Idle time before it expires (SessionManager removes it).
  absl::Duration ttl = absl::Hours(24 * 7);
  // How long Ask with a worker_id leases a trial.
  absl::Duration lease = absl::Seconds(600);
  // Durability.checkpoint_interval: 0 = every tell durable before its answer.
  int64_t checkpoint_interval = 0;
  // The creation request's bounds, gradient source, finite-difference,
  // gradient-check and data-parallel fields, echoed by GetSession (only
  // those fields are set).
  v1::Session creation_echo;
  // The solver state's size, estimated from the options (EstimateStateBytes
  // in solver_factory.h): what the session counts against its tenant's
  // memory budget (--tenant_memory_bytes).
  int64_t state_bytes = 0;
  // The id of its first trial: 1, or past the last trial of the solver it
  // continues (CreateSessionRequest.warm_start.last_trial_id + 1).
  uint64_t first_trial_id = 1;
};

class Session {
 public:
  // How many accepted iterates Session.history keeps (sessions.proto).
  static constexpr size_t kHistoryLength = History::kLength;
  // How many answered tells keep a digest for retry detection. A retry of an
  // older trial is refused as no longer outstanding.
  static constexpr size_t kAnsweredDigests = TrialLedger::kAnsweredDigests;
  // Trial log: the newest records up to this many bytes are kept (the
  // oldest go first); points are kept up to dimension 100, gradient norms
  // up to 100000. A checkpoint keeps the newest kCheckpointTrialLog records
  // (the journal's tells after it rebuild the rest).
  static constexpr size_t kTrialLogBytes = TrialLog::kMaxBytes;
  static constexpr int64_t kTrialLogMaxDimension = TrialLog::kMaxDimension;
  static constexpr size_t kCheckpointTrialLog = TrialLog::kCheckpointRecords;
  static constexpr int64_t kTrialLogMaxGradientNorm =
      TrialLog::kMaxGradientNorm;
  // TellRequest.note and worker ids.
  static constexpr size_t kMaxNoteBytes = 4096;
  static constexpr size_t kMaxWorkerId = 128;
  static constexpr int kMaxTrialsPerAsk = 1024;

  // A running session whose first trial gets id 1. `encoding` is the default
  // for vectors it sends (UNSPECIFIED means VALUES). REQUIRES: setup.solver.
  Session(std::string id, SolverSetup setup, Labels labels,
          v1::VectorEncoding encoding, SessionSettings settings = {});

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& id() const { return id_; }
  const Labels& labels() const { return labels_; }
  int64_t dimension() const { return dimension_; }
  // "lbfgs", "adam", "adamw" or "trust_region".
  const std::string& solver_name() const { return solver_name_; }
  const SessionSettings& settings() const { return settings_; }
  // Shards of its state (1 unless sharded across replicas).
  int shards() const {
    return shards_ == nullptr ? 1 : shards_->layout().shards();
  }
  // A sharded session's incarnation, which names its slices' files on the
  // replicas (0 when not sharded).
  uint64_t shard_incarnation() const {
    return shards_ == nullptr ? 0 : shards_->incarnation();
  }
  // A sharded session that lost a slice: every call answers UNAVAILABLE
  // until SessionManager replaces it by a rebuilt one.
  bool broken() const { return shards_ != nullptr && shards_->broken(); }

  // Session::AttachJournal()
  //
  // From now on every applied tell is appended to `journal` (after recovery
  // or import has replayed the tells it already holds).
  void AttachJournal(std::shared_ptr<SessionJournal> journal)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<SessionJournal> journal() const ABSL_LOCKS_EXCLUDED(mu_);

  // Session::Replay()
  //
  // Applies a tell from a journal or a snapshot as if it arrived at its
  // recorded time. An error means the record does not fit the session (the
  // journal or snapshot is not this session's); the session is unchanged.
  absl::Status Replay(const v1::SnapshotTell& tell) ABSL_LOCKS_EXCLUDED(mu_);

  // Session::RestoreCheckpoint()
  //
  // Puts a session that was told nothing into the state `checkpoint`
  // describes (recovery and import of a compacted session). INVALID_ARGUMENT
  // when it does not fit the session's solver: its trial ids are out of
  // order, or its batch is not the restored solver's. The session is then
  // unchanged, except for that last check, which comes after the solver's
  // state is restored: a session refused by it must be discarded.
  absl::Status RestoreCheckpoint(const v1::SessionCheckpoint& checkpoint)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Session::FlushCheckpoint()
  //
  // For a session that checkpoints its solver state instead of journaling
  // each tell: writes a checkpoint now if tells came since the last one
  // (clean shutdown). No-op otherwise.
  void FlushCheckpoint() ABSL_LOCKS_EXCLUDED(mu_);

  // Session::PortableCheckpoint()
  //
  // The session's state now as a checkpoint that stands alone (a sharded
  // session's vectors gathered from its replicas), for ExportSession.
  // UNIMPLEMENTED when the solver restores only by replaying its tells.
  absl::Status PortableCheckpoint(v1::SessionCheckpoint* checkpoint)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Tells applied (journal records after the header).
  int64_t tells() const ABSL_LOCKS_EXCLUDED(mu_);

  // Session::AwaitChange()
  //
  // Blocks until the session has applied more than `since_tells` tells, is
  // no longer RUNNING (finished, or deleted), `*cancel` is true, or
  // `deadline` passes, whichever comes first (long polls of the JSON API).
  // Returns false when it ended by the deadline or `cancel`. The wait is on
  // the session's own mutex, so every tell, stop and delete wakes it; the
  // mutex reads `*cancel` only when it is released: whoever sets it must
  // then call WakeWaiters().
  bool AwaitChange(int64_t since_tells, absl::Time deadline,
                   const std::atomic<bool>* cancel) ABSL_LOCKS_EXCLUDED(mu_);

  // Session::WakeWaiters()
  //
  // Makes every AwaitChange() look at its `cancel` again.
  void WakeWaiters() ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes the trial log holds in memory (its records' SpaceUsedLong, up to
  // about kTrialLogBytes of records), for the memory quotas. Lock-free: the
  // manager reads it while holding its own lock.
  int64_t trial_log_memory() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return trial_log_.memory();
  }

  // True when no tell or ask has come for longer than the TTL.
  bool Expired(absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);

  // Session::WriteTrials()
  //
  // Appends the outstanding trials (none once finished) to the response's
  // `trials`, and the base point of those that come as a delta to its
  // `base_points`, points in `encoding` (UNSPECIFIED: the session's).
  // `Response` is v1::CreateSessionResponse, v1::ImportSessionResponse or
  // v1::DiagnoseResponse.
  template <typename Response>
  absl::Status WriteTrials(v1::VectorEncoding encoding, Response* response)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Session::Ask()
  //
  // The outstanding trials, the state and (once finished) the summary with x.
  // Changes nothing. `Response` is v1::AskResponse or v1::OptimizeResponse.
  // With `on_slices` a sharded session leaves the points on its replicas
  // (Trial.on_slices; clients read them with GetSlice).
  template <typename Response>
  absl::Status Ask(v1::VectorEncoding encoding, Response* response,
                   bool on_slices = false) ABSL_LOCKS_EXCLUDED(mu_);
  // Session::Ask() for a worker
  //
  // As above, but only the trials `worker_id` holds: its unexpired leases are
  // renewed and, while it holds fewer than `max_trials` (0 means 1), free
  // trials (never leased, or their lease expired) are leased to it in id
  // order. When it holds none and every outstanding trial is leased to
  // others: no trials and retry_after_seconds (until the earliest lease
  // ends). INVALID_ARGUMENT for a worker_id over 128 characters or
  // max_trials outside [0, 1024].
  absl::Status AskAsWorker(v1::VectorEncoding encoding,
                           absl::string_view worker_id,
                           v1::AskResponse* response, bool on_slices = false,
                           int max_trials = 1) ABSL_LOCKS_EXCLUDED(mu_);

  // Session::Tell()
  //
  // Applies `request` (its session_id is not checked here) and writes the
  // answer: the next trials, the state and, once finished, the summary. A
  // retry of an answered tell with the same payload writes the current answer
  // with duplicate = true and changes nothing. Errors change nothing:
  //   FAILED_PRECONDITION: the session has finished; the trial was answered
  //     with a different payload; the trial is not outstanding.
  //   INVALID_ARGUMENT: bad encoding; a wanted value, gradient, hessian or
  //     hessian_vector is missing, has the wrong length, or holds NaN/Inf;
  //     a worker_id over 128 characters, a note over 4096 bytes, a weight
  //     that is not finite and > 0 or on a session that is not data-parallel.
  //   NOT_FOUND: the session was deleted.
  //   UNAVAILABLE: the session's journal could not be written.
  // `Response` is v1::TellResponse or v1::OptimizeResponse. With a journal,
  // the answer may leave only once `ticket` is durable (a retry waits for the
  // original's record too).
  // With `stats`, what the tell did to the solver's counters (0 for a
  // duplicate), for metrics.
  struct TellStats {
    int64_t iterations = 0;
    int64_t evaluations = 0;
  };
  template <typename Response>
  absl::Status Tell(const v1::TellRequest& request, Response* response,
                    DurableTicket* ticket = nullptr, TellStats* stats = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Session::RetireForSwitch(), Session::CancelRetire()
  //
  // A solver switch (SessionManager::SwitchSolver) retires the session it
  // replaces once it has read its state after `tells` tells: from then on
  // every call answers FAILED_PRECONDITION (the caller holds the old solver;
  // the manager finds the new one). ABORTED, and nothing changed, when the
  // session has applied other than `tells` tells by then (a tell came during
  // the switch), or is no longer running. CancelRetire undoes it (the new
  // journal could not be written).
  absl::Status RetireForSwitch(int64_t tells) ABSL_LOCKS_EXCLUDED(mu_);
  void CancelRetire() ABSL_LOCKS_EXCLUDED(mu_);
  // The last trial id issued.
  uint64_t last_trial_id() const ABSL_LOCKS_EXCLUDED(mu_);

  // Session::ReadPoint()
  //
  // The session's best point (`best`; Session.best_x), or where it is now:
  // its outstanding trial's point (the first of a batch), or its final
  // point once finished. For Diagnose: a sharded session's point is
  // gathered from its slices (held here only until the diagnosis's slices
  // have it). NOT_FOUND once deleted.
  absl::Status ReadPoint(bool best, std::vector<double>* x)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Session::Describe()
  //
  // Session as GetSession returns it; with `include_x`, best_x and summary.x
  // in `encoding` (UNSPECIFIED: the session's); with `include_trials`, the
  // trial log's records of trials after `trials_after_id`.
  absl::Status Describe(bool include_x, v1::VectorEncoding encoding,
                        v1::Session* out, bool include_trials = false,
                        uint64_t trials_after_id = 0) ABSL_LOCKS_EXCLUDED(mu_);
  // As `request` asks (its session_id is not checked here); also
  // best_gradient and curvature_pairs (FAILED_PRECONDITION for a solver
  // without them).
  absl::Status Describe(const v1::GetSessionRequest& request, v1::Session* out)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Session::DescribeBrief()
  //
  // Session as ListSessions returns it: no vectors, no history. False (and
  // nothing written) when the session was deleted meanwhile.
  bool DescribeBrief(v1::Session* out) ABSL_LOCKS_EXCLUDED(mu_);

  // RUNNING, or the final state. NOT_FOUND is not a state: a deleted session
  // reports the state it had.
  v1::SessionState state() const ABSL_LOCKS_EXCLUDED(mu_);

  // Session::Delete()
  //
  // Ends the session and frees its solver now, even while another thread
  // (an Optimize stream) still holds a pointer to it; every later call on it
  // returns NOT_FOUND.
  void Delete() ABSL_LOCKS_EXCLUDED(mu_);
  // A sharded session about to be deleted: its slices go with the vectors
  // clients sent them.
  void PurgeShardsOnDelete() ABSL_LOCKS_EXCLUDED(mu_);

  // Session::FillSlicedTell()
  //
  // Export: a journaled tell whose vector went to the replicas (sliced) gets
  // it back, gathered from them, so that the snapshot stands alone.
  absl::Status FillSlicedTell(v1::TellRequest* tell) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Everything Tell does under the lock but the answer: the retry check,
  // validation, the solver, bookkeeping at `now`, and with `journal` the
  // record. *duplicate says the tell was a retry and changed nothing.
  absl::Status TellLocked(const v1::TellRequest& request,
                          const ToldVectors& told, absl::Time now, bool journal,
                          bool* duplicate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckNotDeleted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a validated tell (REQUIRES: the trial is outstanding) or, with
  // trial_id 0, the stop.
  absl::Status ApplyTell(const v1::TellRequest& request,
                         const ToldVectors& told)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The ids `worker` holds after renewing its leases and taking free trials
  // up to `max_trials` (one of a data-parallel step); when it holds none,
  // *retry_after is the time until the earliest other lease ends (0 when
  // there is none).
  std::vector<uint64_t> LeaseLocked(absl::string_view worker, int max_trials,
                                    absl::Time now, absl::Duration* retry_after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After the solver changed: new trial id, history, clocks, finish log.
  void AfterChange(uint64_t trial_id, uint64_t digest, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The session's current state as a checkpoint (the solver's state as its
  // vectors' SaveState writes it: see ShardGroup::CheckpointTarget).
  absl::Status BuildCheckpointLocked(v1::SessionCheckpoint* checkpoint) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Trials, state, summary (with x) and duplicate, for Ask/Tell answers.
  template <typename Response>
  absl::Status WriteAnswer(v1::VectorEncoding encoding, bool duplicate,
                           Response* response, bool on_slices = false,
                           const std::vector<uint64_t>* only = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // WriteBatchTrials (trial_writer.h) of this session.
  absl::Status WriteTrialsLocked(
      v1::VectorEncoding encoding,
      google::protobuf::RepeatedPtrField<v1::Trial>* trials,
      google::protobuf::RepeatedPtrField<v1::BasePoint>* base_points,
      bool on_slices = false, const std::vector<uint64_t>* only = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DescribeBriefLocked(v1::Session* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double WallSeconds() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::SessionState StateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // AwaitChange()'s end: more tells than `since_tells`, finished or deleted.
  bool ChangedSinceLocked(int64_t since_tells) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string id_;
  const Labels labels_;
  const v1::VectorEncoding encoding_;
  const int64_t dimension_;
  const std::string solver_name_;
  const SolverOptions options_;
  const SessionSettings settings_;
  const absl::Time create_time_;
  // Its steps are data-parallel (creation_echo.data_parallel.workers > 1):
  // one trial of a step per worker, and tells may carry a weight.
  const bool data_parallel_;

  // The one lock of a session: every part below is guarded by it.
  mutable absl::Mutex mu_;
  std::unique_ptr<Solver> solver_ ABSL_GUARDED_BY(mu_);
  // A sharded session's slices (null on one replica). Set at construction;
  // the solver's vectors hold it too.
  const std::shared_ptr<ShardGroup> shards_;
  bool deleted_ ABSL_GUARDED_BY(mu_) = false;
  // Replaced by another solver's session (RetireForSwitch).
  bool switched_ ABSL_GUARDED_BY(mu_) = false;
  // What a deleted session still reports (its solver is gone).
  v1::SessionState final_state_ ABSL_GUARDED_BY(mu_) =
      v1::SESSION_STATE_RUNNING;
  absl::Time update_time_ ABSL_GUARDED_BY(mu_);
  absl::Time finish_time_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Last tell or ask (TTL).
  absl::Time last_active_ ABSL_GUARDED_BY(mu_);
  // Trial ids, the batch, answered digests, leases.
  TrialLedger ledger_ ABSL_GUARDED_BY(mu_);
  // Applied tells of trials (its memory() is read without the lock).
  TrialLog trial_log_ ABSL_GUARDED_BY(mu_);
  History history_ ABSL_GUARDED_BY(mu_);
  // The journal, the tell count and checkpoints.
  SessionDurability durability_ ABSL_GUARDED_BY(mu_);
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_SESSION_H_
