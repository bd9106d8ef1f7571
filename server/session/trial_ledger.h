// TrialLedger: which trials of a session are issued, outstanding, answered
// and leased (DESIGN §2, docs/api.md "Many workers").
//
// Owns the trial ids of the current batch (batch_first_id()..last_trial_id()
// while a trial is pending), when that batch was issued, the digests of the
// last kAnsweredDigests answered tells (retry detection) and the workers'
// leases on outstanding trials. Which trials of the batch are already told is
// the solver's to say, so the queries that need it take the solver.
//
//   TrialLedger ledger(solver.batch_size(), now);
//   if (!ledger.Outstanding(trial_id, solver)) {
//     return ledger.NotOutstanding(trial_id, session_id, solver);
//   }
//
// Thread-safety: none of its own; a Session keeps it under its mutex.
#ifndef OPTD_SERVER_SESSION_TRIAL_LEDGER_H_
#define OPTD_SERVER_SESSION_TRIAL_LEDGER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "solvers/core/solver.h"

namespace optd::server {

class TrialLedger {
 public:
  // How many answered tells keep a digest for retry detection. A retry of an
  // older trial is refused as no longer outstanding.
  static constexpr size_t kAnsweredDigests = 1024;

  struct AnsweredTell {
    uint64_t trial_id;
    uint64_t digest;
  };
  struct Lease {
    std::string worker;
    absl::Time expiry;
  };

  // The first batch, of `batch_size` trials, gets the ids first_id..first_id
  // + batch_size - 1 (first_id > 1: a session that continues another
  // solver's, CreateSessionRequest.warm_start) and was issued at `start`; a
  // batch_size of 0 (a solver finished at once) leaves nothing pending.
  TrialLedger(int batch_size, absl::Time start, uint64_t first_id = 1);

  // The last id issued, and the first of the current batch: while a trial is
  // pending, the batch's trials are batch_first_id()..last_trial_id().
  uint64_t last_trial_id() const { return last_trial_id_; }
  uint64_t batch_first_id() const { return batch_first_id_; }
  bool has_pending_trial() const { return has_pending_trial_; }
  // When the current batch was issued.
  absl::Time batch_start() const { return batch_start_; }
  // Leases on outstanding trials by trial id.
  const std::map<uint64_t, Lease>& leases() const { return leases_; }

  // Whether `trial_id` is an untold trial of the current batch.
  bool Outstanding(uint64_t trial_id, const Solver& solver) const;
  // The ids Outstanding() says yes to, ascending.
  std::vector<uint64_t> OutstandingIds(const Solver& solver) const;
  // "the outstanding trials are 4, 6" / "no trial is outstanding".
  std::string OutstandingText(const Solver& solver) const;
  // The refusal for a trial id that is not outstanding and is no retry.
  absl::Status NotOutstanding(uint64_t trial_id, absl::string_view session_id,
                              const Solver& solver) const;

  // The digest kept for `trial_id` (id 0: a stop), or null.
  const AnsweredTell* FindAnswered(uint64_t trial_id) const;
  // Keeps the digest of an applied tell (the oldest beyond kAnsweredDigests
  // go).
  void RecordAnswered(uint64_t trial_id, uint64_t digest);

  // A trial was told: its lease goes.
  void Told(uint64_t trial_id) { leases_.erase(trial_id); }
  // The solver issued its next batch of `batch_size` trials at `now`.
  void NextBatch(int batch_size, absl::Time now);
  // Nothing is pending any more (the solver finished, or the session was
  // deleted).
  void Finish();

  // LeaseTrials()
  //
  // The ids `worker` holds after renewing its leases (to now + `lease`) and
  // taking free trials (never leased, or their lease expired) up to `wanted`,
  // ascending. With `served` (a data-parallel worker that already told a
  // trial of this batch) a trial never leased goes to it only once nobody
  // took it within a lease of the batch's start. When it holds none,
  // *retry_after is the time until the earliest other lease ends (0 when
  // there is none). `session_id` names the session in the log.
  std::vector<uint64_t> LeaseTrials(absl::string_view worker, size_t wanted,
                                    bool served, absl::Time now,
                                    absl::Duration lease, const Solver& solver,
                                    absl::string_view session_id,
                                    absl::Duration* retry_after);
  // How many unexpired leases `worker` holds.
  int HeldBy(absl::string_view worker, absl::Time now) const;

  // Checkpoints: the ids, the batch and the answered digests.
  void WriteCheckpoint(v1::SessionCheckpoint* checkpoint) const;
  // REQUIRES: the checkpoint's ids were validated (1 <= first_id <=
  // last_trial_id). Leases start over.
  void Restore(const v1::SessionCheckpoint& checkpoint, uint64_t first_id);

 private:
  uint64_t last_trial_id_ = 1;
  uint64_t batch_first_id_ = 1;
  // When the current batch was issued (a data-parallel trial nobody took
  // within a lease of it may go to a worker that already served the step).
  absl::Time batch_start_;
  bool has_pending_trial_ = true;
  // Oldest first; trial id 0 records a stop without a trial.
  std::deque<AnsweredTell> answered_;
  // Leases are not journaled: after a restart every trial is free again.
  std::map<uint64_t, Lease> leases_;
  // LeaseTrials' scan for trials never leased starts here: every trial of
  // the batch below it is told or in leases_ (leases go only when their
  // trial is told, or all at once with the batch). Valid for the batch
  // starting at lease_cursor_batch_ only; another batch starts it over.
  uint64_t lease_cursor_ = 0;
  uint64_t lease_cursor_batch_ = 0;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_TRIAL_LEDGER_H_
