#include "server/session/trial_ledger.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/solver_factory.h"
#include "spdlog/spdlog.h"

namespace optd::server {

TrialLedger::TrialLedger(int batch_size, absl::Time start, uint64_t first_id)
    : last_trial_id_(first_id), batch_first_id_(first_id), batch_start_(start) {
  if (batch_size == 0) {
    has_pending_trial_ = false;
  } else {
    last_trial_id_ = batch_first_id_ + batch_size - 1;
  }
}

bool TrialLedger::Outstanding(uint64_t trial_id, const Solver& solver) const {
  return has_pending_trial_ && trial_id >= batch_first_id_ &&
         trial_id <= last_trial_id_ &&
         !solver.batch_told(static_cast<int>(trial_id - batch_first_id_));
}

std::vector<uint64_t> TrialLedger::OutstandingIds(const Solver& solver) const {
  std::vector<uint64_t> ids;
  if (has_pending_trial_) {
    for (uint64_t id = batch_first_id_; id <= last_trial_id_; ++id) {
      if (Outstanding(id, solver)) ids.push_back(id);
    }
  }
  return ids;
}

std::string TrialLedger::OutstandingText(const Solver& solver) const {
  const std::vector<uint64_t> ids = OutstandingIds(solver);
  if (ids.empty()) return "no trial is outstanding";
  if (ids.size() == 1) return absl::StrCat("the outstanding trial is ", ids[0]);
  constexpr size_t kShown = 8;
  std::string text = absl::StrCat(
      "the outstanding trials are ",
      absl::StrJoin(ids.begin(), ids.begin() + std::min(kShown, ids.size()),
                    ", "));
  if (ids.size() > kShown) {
    absl::StrAppend(&text, " and ", ids.size() - kShown, " more");
  }
  return text;
}

absl::Status TrialLedger::NotOutstanding(uint64_t trial_id,
                                         absl::string_view session_id,
                                         const Solver& solver) const {
  const std::string outstanding = OutstandingText(solver);
  if (trial_id > last_trial_id_) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " was never issued by session \"",
                     session_id, "\"; ", outstanding));
  }
  // Every lower id was answered; its digest has aged out of the window.
  return absl::FailedPreconditionError(absl::StrCat(
      "trial ", trial_id, " of session \"", session_id,
      "\" was answered long ago and is no longer outstanding; ", outstanding));
}

const TrialLedger::AnsweredTell* TrialLedger::FindAnswered(
    uint64_t trial_id) const {
  for (const AnsweredTell& answered : answered_) {
    if (answered.trial_id == trial_id) return &answered;
  }
  return nullptr;
}

void TrialLedger::RecordAnswered(uint64_t trial_id, uint64_t digest) {
  answered_.push_back({trial_id, digest});
  if (answered_.size() > kAnsweredDigests) answered_.pop_front();
}

void TrialLedger::NextBatch(int batch_size, absl::Time now) {
  leases_.clear();
  batch_start_ = now;
  batch_first_id_ = last_trial_id_ + 1;
  last_trial_id_ = batch_first_id_ + batch_size - 1;
}

void TrialLedger::Finish() {
  has_pending_trial_ = false;
  leases_.clear();
}

std::vector<uint64_t> TrialLedger::LeaseTrials(
    absl::string_view worker, size_t wanted, bool served, absl::Time now,
    absl::Duration lease_time, const Solver& solver,
    absl::string_view session_id, absl::Duration* retry_after) {
  *retry_after = absl::ZeroDuration();
  std::vector<uint64_t> held;
  if (!has_pending_trial_) return held;
  const absl::Time abandoned = batch_start_ + lease_time;
  // Renew what the worker holds; note the others' expired leases, which may
  // be taken over, and when their unexpired ones end.
  absl::Time earliest = absl::InfiniteFuture();
  std::vector<uint64_t> expired;
  for (auto& [trial_id, lease] : leases_) {
    if (lease.worker == worker) {
      if (held.size() < wanted) {
        lease.expiry = now + lease_time;
        held.push_back(trial_id);
      }
    } else if (lease.expiry > now) {
      earliest = std::min(earliest, lease.expiry);
    } else {
      expired.push_back(trial_id);
    }
  }
  // Trials never leased: from the cursor on (every trial below it is told or
  // leased), so that leasing a stencil of 2n + 1 trials one by one costs
  // O(1) per trial rather than a walk over the batch.
  if (lease_cursor_batch_ != batch_first_id_) {
    lease_cursor_batch_ = batch_first_id_;
    lease_cursor_ = batch_first_id_;
  }
  const auto taken_or_told = [&](uint64_t trial_id) {
    return solver.batch_told(static_cast<int>(trial_id - batch_first_id_)) ||
           leases_.count(trial_id) > 0;
  };
  while (lease_cursor_ <= last_trial_id_ && taken_or_told(lease_cursor_)) {
    ++lease_cursor_;
  }
  const size_t need = wanted - std::min(wanted, held.size());
  std::vector<uint64_t> fresh;
  for (uint64_t trial_id = lease_cursor_;
       trial_id <= last_trial_id_ && fresh.size() < need; ++trial_id) {
    if (taken_or_told(trial_id)) continue;
    if (served && abandoned > now) {
      earliest = std::min(earliest, abandoned);
      continue;
    }
    fresh.push_back(trial_id);
  }
  // Free trials are taken in id order, expired leases and fresh ones alike.
  std::vector<uint64_t> free;
  std::merge(expired.begin(), expired.end(), fresh.begin(), fresh.end(),
             std::back_inserter(free));
  for (uint64_t trial_id : free) {
    if (held.size() >= wanted) break;
    auto it = leases_.find(trial_id);
    if (it != leases_.end()) {
      spdlog::info(
          "session \"{}\": the lease of trial {} by \"{}\" expired; "
          "trial leased to \"{}\"",
          std::string(session_id), trial_id, it->second.worker,
          std::string(worker));
    }
    leases_[trial_id] = {std::string(worker), now + lease_time};
    held.push_back(trial_id);
  }
  std::sort(held.begin(), held.end());
  if (held.empty() && earliest != absl::InfiniteFuture()) {
    *retry_after = earliest - now;
  }
  return held;
}

int TrialLedger::HeldBy(absl::string_view worker, absl::Time now) const {
  int holding = 0;
  for (const auto& [trial_id, lease] : leases_) {
    if (lease.worker == worker && lease.expiry > now) ++holding;
  }
  return holding;
}

void TrialLedger::WriteCheckpoint(v1::SessionCheckpoint* checkpoint) const {
  checkpoint->set_last_trial_id(last_trial_id_);
  checkpoint->set_has_pending_trial(has_pending_trial_);
  checkpoint->set_batch_first_id(batch_first_id_);
  for (const AnsweredTell& answered : answered_) {
    v1::AnsweredTell* out = checkpoint->add_answered();
    out->set_trial_id(answered.trial_id);
    out->set_digest(answered.digest);
  }
}

void TrialLedger::Restore(const v1::SessionCheckpoint& checkpoint,
                          uint64_t first_id) {
  last_trial_id_ = checkpoint.last_trial_id();
  has_pending_trial_ = checkpoint.has_pending_trial();
  batch_first_id_ = first_id;
  batch_start_ = TimeFromProto(checkpoint.update_time());
  leases_.clear();
  lease_cursor_batch_ = 0;  // the lease scan starts over
  answered_.clear();
  for (const v1::AnsweredTell& answered : checkpoint.answered()) {
    answered_.push_back({answered.trial_id(), answered.digest()});
  }
}

}  // namespace optd::server
