#include "server/session/session.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "server/storage/journal.h"
#include "server/session/payload_digest.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

// "VALUE_AND_GRADIENT" for messages.
absl::string_view WantsName(Evaluation wants) {
  static const auto* const kNames = [] {
    auto* names = new std::map<Evaluation, std::string>;
    for (Evaluation e : {Evaluation::kValue, Evaluation::kGradient,
                         Evaluation::kValueAndGradient, Evaluation::kHessian,
                         Evaluation::kHessianVector}) {
      (*names)[e] = std::string(absl::StripPrefix(
          v1::Evaluation_Name(EvaluationToProto(e)), "EVALUATION_"));
    }
    return names;
  }();
  return kNames->at(wants);
}

absl::string_view StateName(v1::SessionState state) {
  return absl::StripPrefix(v1::SessionState_Name(state), "SESSION_STATE_");
}

}  // namespace

Session::Session(std::string id, SolverSetup setup, Labels labels,
                 v1::VectorEncoding encoding, SessionSettings settings)
    : id_(std::move(id)),
      labels_(std::move(labels)),
      encoding_(ResolveEncoding(encoding, v1::VECTOR_ENCODING_VALUES)),
      dimension_(setup.solver->dimension()),
      solver_name_(setup.solver->name()),
      options_(std::move(setup.options)),
      settings_(settings),
      create_time_(settings.create_time),
      solver_(std::move(setup.solver)),
      shards_(std::move(setup.shards)),
      update_time_(create_time_),
      batch_start_(create_time_),
      last_active_(create_time_) {
  if (solver_->finished()) {
    has_pending_trial_ = false;
    finish_time_ = create_time_;
    final_state_ = SessionStateFor(solver_->summary().reason);
  } else {
    last_trial_id_ = batch_first_id_ + solver_->batch_size() - 1;
  }
}

void Session::AttachJournal(std::shared_ptr<SessionJournal> journal) {
  absl::MutexLock lock(&mu_);
  journal_ = std::move(journal);
}

std::shared_ptr<SessionJournal> Session::journal() const {
  absl::MutexLock lock(&mu_);
  return journal_;
}

int64_t Session::tells() const {
  absl::MutexLock lock(&mu_);
  return tells_;
}

bool Session::Expired(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return !deleted_ && now - last_active_ > settings_.ttl;
}

absl::Status Session::CheckNotDeleted() const {
  if (deleted_) {
    return absl::NotFoundError(absl::StrCat("session \"", id_, "\" not found"));
  }
  return absl::OkStatus();
}

v1::SessionState Session::StateLocked() const {
  if (deleted_ || !solver_->finished()) return final_state_;
  return SessionStateFor(solver_->summary().reason);
}

v1::SessionState Session::state() const {
  absl::MutexLock lock(&mu_);
  return StateLocked();
}

double Session::WallSeconds() const {
  const absl::Time end =
      finish_time_ == absl::InfiniteFuture() ? absl::Now() : finish_time_;
  return absl::ToDoubleSeconds(end - create_time_);
}

absl::Status Session::WriteTrialsLocked(
    v1::VectorEncoding encoding,
    google::protobuf::RepeatedPtrField<v1::Trial>* trials,
    google::protobuf::RepeatedPtrField<v1::BasePoint>* base_points,
    bool on_slices, const std::vector<uint64_t>* only) {
  if (!has_pending_trial_) return absl::OkStatus();
  const int batch = solver_->batch_size();
  const v1::VectorEncoding resolved = ResolveEncoding(encoding, encoding_);
  // Whole points this answer carries (a trial's x or a base point): one, so
  // that an answer stays O(n + trials) whatever the batch (the server never
  // builds the 2n + 1 points of a stencil). A solver whose batch trials came
  // without deltas would break that; it is refused rather than served.
  constexpr int kMaxWholePoints = 1;
  int whole_points = 0;
  const auto count_whole_point = [&](int k) -> absl::Status {
    if (++whole_points <= kMaxWholePoints) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(
        "session \"", id_, "\": trial ", k, " of a batch of ", batch,
        " has no point delta, and an answer carries at most one whole point"));
  };
  int written_whole = -1;  // batch index of the trial written with its x
  int wanted_base = -1;    // batch index of the base the deltas need
  const auto write = [&](int k) -> absl::Status {
    const uint64_t trial_id = batch_first_id_ + k;
    v1::Trial* trial = trials->Add();
    trial->set_trial_id(trial_id);
    const Evaluation wants = solver_->batch_wants(k);
    trial->set_wants(EvaluationToProto(wants));
    trial->set_batch_index(k);
    trial->set_batch_size(batch);
    if (only != nullptr) {
      auto lease = leases_.find(trial_id);
      if (lease != leases_.end()) {
        TimeToProto(lease->second.expiry, trial->mutable_lease_expire_time());
      }
    }
    if (on_slices && shards_ != nullptr) {
      // Direct path: each replica serves its slice of the point (GetSlice).
      // Sharded sessions have batches of one.
      trial->set_on_slices(true);
      shards_->set_direct_trial(trial_id);
      OPTD_RETURN_IF_ERROR(
          solver_->ReadBatchPoint(k, MutableVectorView::OnSlices(dimension_)));
      if (wants == Evaluation::kHessianVector) {
        OPTD_RETURN_IF_ERROR(solver_->ReadBatchVector(
            k, MutableVectorView::OnSlices(dimension_)));
      }
      return absl::OkStatus();
    }
    const std::optional<PointDelta> delta = solver_->BatchPointDelta(k);
    if (delta.has_value() && wants != Evaluation::kHessianVector) {
      v1::PointDelta* out = trial->mutable_delta();
      out->set_base_trial_id(batch_first_id_ + delta->base);
      if (delta->coordinate >= 0) {
        out->set_coordinate(delta->coordinate);
        // Exactly the element a whole point in this encoding would hold.
        out->set_value(
            resolved == v1::VECTOR_ENCODING_F32
                ? static_cast<double>(static_cast<float>(delta->value))
                : delta->value);
      }
      if (wanted_base >= 0 && wanted_base != delta->base) {
        return absl::InternalError(
            absl::StrCat("session \"", id_,
                         "\": the trials of a batch are built from "
                         "trials ",
                         wanted_base, " and ", delta->base,
                         "; an answer carries one base point"));
      }
      wanted_base = delta->base;
      return absl::OkStatus();
    }
    OPTD_RETURN_IF_ERROR(count_whole_point(k));
    written_whole = k;
    OPTD_RETURN_IF_ERROR(
        WriteTrialPoint(*solver_, resolved, trial->mutable_x(), k));
    if (wants == Evaluation::kHessianVector) {
      OPTD_RETURN_IF_ERROR(
          WriteTrialVector(*solver_, resolved, trial->mutable_vector(), k));
    }
    return absl::OkStatus();
  };
  if (only != nullptr) {
    // A worker's trials: only those, not a walk over the whole batch.
    for (uint64_t trial_id : *only) {
      if (trial_id < batch_first_id_ || trial_id > last_trial_id_) continue;
      const int k = static_cast<int>(trial_id - batch_first_id_);
      if (!solver_->batch_told(k)) OPTD_RETURN_IF_ERROR(write(k));
    }
  } else {
    for (int k = 0; k < batch; ++k) {
      if (!solver_->batch_told(k)) OPTD_RETURN_IF_ERROR(write(k));
    }
  }
  if (wanted_base >= 0 && wanted_base != written_whole) {
    OPTD_RETURN_IF_ERROR(count_whole_point(wanted_base));
    v1::BasePoint* base = base_points->Add();
    base->set_trial_id(batch_first_id_ + wanted_base);
    OPTD_RETURN_IF_ERROR(
        WriteTrialPoint(*solver_, resolved, base->mutable_x(), wanted_base));
  }
  return absl::OkStatus();
}

template <typename Response>
absl::Status Session::WriteTrials(v1::VectorEncoding encoding,
                                  Response* response) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  return WriteTrialsLocked(encoding, response->mutable_trials(),
                           response->mutable_base_points());
}

template <typename Response>
absl::Status Session::WriteAnswer(v1::VectorEncoding encoding, bool duplicate,
                                  Response* response, bool on_slices,
                                  const std::vector<uint64_t>* only) {
  response->clear_trials();
  response->clear_base_points();
  response->clear_summary();
  OPTD_RETURN_IF_ERROR(WriteTrialsLocked(encoding, response->mutable_trials(),
                                         response->mutable_base_points(),
                                         on_slices, only));
  response->set_state(StateLocked());
  if constexpr (!std::is_same_v<Response, v1::AskResponse>) {
    response->set_duplicate(duplicate);
  }
  if (solver_->finished()) {
    OPTD_RETURN_IF_ERROR(SummaryToProto(
        solver_->summary(), WallSeconds(), *solver_,
        ResolveEncoding(encoding, encoding_), response->mutable_summary()));
  }
  return absl::OkStatus();
}

template <typename Response>
absl::Status Session::Ask(v1::VectorEncoding encoding, Response* response,
                          bool on_slices) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  last_active_ = std::max(last_active_, absl::Now());
  return WriteAnswer(encoding, /*duplicate=*/false, response, on_slices);
}

absl::Status Session::AskAsWorker(v1::VectorEncoding encoding,
                                  absl::string_view worker_id,
                                  v1::AskResponse* response, bool on_slices,
                                  int max_trials) {
  if (worker_id.size() > kMaxWorkerId) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_id has ", worker_id.size(),
                     " characters; at most ", kMaxWorkerId, " are allowed"));
  }
  if (max_trials < 0 || max_trials > kMaxTrialsPerAsk) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_trials is ", max_trials, "; the range is [0, ",
                     kMaxTrialsPerAsk, "] (0 means 1)"));
  }
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  const absl::Time now = absl::Now();
  last_active_ = std::max(last_active_, now);
  absl::Duration retry_after;
  const std::vector<uint64_t> held =
      LeaseLocked(worker_id, max_trials, now, &retry_after);
  OPTD_RETURN_IF_ERROR(
      WriteAnswer(encoding, /*duplicate=*/false, response, on_slices, &held));
  if (held.empty() && retry_after > absl::ZeroDuration()) {
    response->set_retry_after_seconds(absl::ToDoubleSeconds(retry_after));
  }
  return absl::OkStatus();
}

std::vector<uint64_t> Session::LeaseLocked(absl::string_view worker,
                                           int max_trials, absl::Time now,
                                           absl::Duration* retry_after) {
  *retry_after = absl::ZeroDuration();
  std::vector<uint64_t> held;
  if (!has_pending_trial_) return held;
  size_t wanted = static_cast<size_t>(std::max(1, max_trials));
  // Data-parallel steps: each trial is one worker's share of the data, so a
  // worker gets one trial of a step. One that already told a trial of this
  // step gets another only to take over from a worker that is gone: a trial
  // whose lease expired, or one nobody took within a lease of the step's
  // start (docs/api.md "Many workers").
  const bool data_parallel =
      settings_.creation_echo.data_parallel().workers() > 1;
  bool served = false;
  if (data_parallel) {
    wanted = 1;
    for (auto it = trial_log_.rbegin();
         it != trial_log_.rend() && it->trial_id() >= batch_first_id_; ++it) {
      if (it->worker_id() == worker) served = true;
    }
  }
  const absl::Time abandoned = batch_start_ + settings_.lease;
  // Renew what the worker holds; note the others' expired leases, which may
  // be taken over, and when their unexpired ones end.
  absl::Time earliest = absl::InfiniteFuture();
  std::vector<uint64_t> expired;
  for (auto& [trial_id, lease] : leases_) {
    if (lease.worker == worker) {
      if (held.size() < wanted) {
        lease.expiry = now + settings_.lease;
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
    return solver_->batch_told(static_cast<int>(trial_id - batch_first_id_)) ||
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
          id_, trial_id, it->second.worker, std::string(worker));
    }
    leases_[trial_id] = {std::string(worker), now + settings_.lease};
    held.push_back(trial_id);
  }
  std::sort(held.begin(), held.end());
  if (held.empty() && earliest != absl::InfiniteFuture()) {
    *retry_after = earliest - now;
  }
  return held;
}

const Session::AnsweredTell* Session::FindAnswered(uint64_t trial_id) const {
  for (const AnsweredTell& answered : answered_) {
    if (answered.trial_id == trial_id) return &answered;
  }
  return nullptr;
}

bool Session::OutstandingLocked(uint64_t trial_id) const {
  return has_pending_trial_ && trial_id >= batch_first_id_ &&
         trial_id <= last_trial_id_ &&
         !solver_->batch_told(static_cast<int>(trial_id - batch_first_id_));
}

std::string Session::OutstandingText() const {
  std::vector<uint64_t> ids;
  if (has_pending_trial_) {
    for (uint64_t id = batch_first_id_; id <= last_trial_id_; ++id) {
      if (OutstandingLocked(id)) ids.push_back(id);
    }
  }
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

absl::Status Session::NotOutstanding(uint64_t trial_id) const {
  const std::string outstanding = OutstandingText();
  if (trial_id > last_trial_id_) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", trial_id, " was never issued by session \"", id_,
                     "\"; ", outstanding));
  }
  // Every lower id was answered; its digest has aged out of the window.
  return absl::FailedPreconditionError(absl::StrCat(
      "trial ", trial_id, " of session \"", id_,
      "\" was answered long ago and is no longer outstanding; ", outstanding));
}

absl::StatusOr<Session::ToldVectors> Session::Decode(
    const v1::TellRequest& request) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(request.encoding(), "encoding"));
  if (request.sliced() &&
      (request.has_gradient() || request.has_hessian_vector())) {
    return absl::InvalidArgumentError(
        "sliced is set, so gradient and hessian_vector must be unset: their "
        "slices went to the replicas with PutSlice");
  }
  ToldVectors told;
  OPTD_ASSIGN_OR_RETURN(told.gradient,
                        DecodeVector(request.gradient(), "gradient"));
  OPTD_ASSIGN_OR_RETURN(told.hessian,
                        DecodeVector(request.hessian(), "hessian"));
  OPTD_ASSIGN_OR_RETURN(
      told.hessian_vector,
      DecodeVector(request.hessian_vector(), "hessian_vector"));
  if (request.worker_id().size() > kMaxWorkerId) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_id has ", request.worker_id().size(),
                     " characters; at most ", kMaxWorkerId, " are allowed"));
  }
  if (request.note().size() > kMaxNoteBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("note has ", request.note().size(), " bytes; at most ",
                     kMaxNoteBytes, " are allowed"));
  }
  if (request.has_weight() &&
      !(std::isfinite(request.weight()) && request.weight() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight is ", request.weight(),
                     "; a data-parallel weight is finite and > 0"));
  }
  TellPayload payload{request.trial_id(), request.failed(), request.stop(),
                      std::nullopt, std::nullopt};
  if (request.has_value()) payload.value = request.value();
  if (request.has_weight()) payload.weight = request.weight();
  told.digest = PayloadDigest(
      payload, {told.gradient, told.hessian, told.hessian_vector});
  return told;
}

template <typename Response>
absl::Status Session::Tell(const v1::TellRequest& request, Response* response,
                           DurableTicket* ticket, TellStats* stats) {
  // Everything that needs only the request happens before the lock: decoding
  // is a view into the request, and the digest of a 10^7-element gradient
  // takes milliseconds that other callers of this session need not wait for.
  OPTD_ASSIGN_OR_RETURN(const ToldVectors told, Decode(request));
  absl::MutexLock lock(&mu_);
  bool duplicate = false;
  // A deleted session has no solver (TellLocked refuses the tell).
  const Progress before = solver_ != nullptr ? solver_->progress() : Progress{};
  const absl::Time now = absl::Now();
  OPTD_RETURN_IF_ERROR(
      TellLocked(request, told, now, /*journal=*/true, &duplicate));
  if (stats != nullptr) {
    const Progress after = solver_->progress();
    stats->iterations = after.iterations - before.iterations;
    stats->evaluations = after.evaluations - before.evaluations;
  }
  if (ticket != nullptr && journal_ != nullptr &&
      journal_->checkpoint_interval() == 0) {
    // A retry waits too: its original may not be synced yet.
    *ticket = {journal_, static_cast<uint64_t>(tells_)};
  }
  if (request.worker_id().empty()) {
    return WriteAnswer(request.encoding(), duplicate, response,
                       request.points_on_slices());
  }
  // A worker's loop: its next trial comes with the answer, leased to it
  // (with the others it still holds, when it asked for several).
  int holding = 0;
  for (const auto& [trial_id, lease] : leases_) {
    if (lease.worker == request.worker_id() && lease.expiry > now) ++holding;
  }
  absl::Duration unused;
  const std::vector<uint64_t> held =
      LeaseLocked(request.worker_id(), std::max(1, holding), now, &unused);
  return WriteAnswer(request.encoding(), duplicate, response,
                     request.points_on_slices(), &held);
}

absl::Status Session::Replay(const v1::SnapshotTell& tell) {
  OPTD_ASSIGN_OR_RETURN(const ToldVectors told, Decode(tell.tell()));
  absl::MutexLock lock(&mu_);
  bool duplicate = false;
  OPTD_RETURN_IF_ERROR(TellLocked(tell.tell(), told, TimeFromProto(tell.time()),
                                  /*journal=*/false, &duplicate));
  if (duplicate) {
    return absl::DataLossError(
        absl::StrCat("trial ", tell.tell().trial_id(),
                     " is told twice; a journal holds each applied tell once"));
  }
  return absl::OkStatus();
}

absl::Status Session::TellLocked(const v1::TellRequest& request,
                                 const ToldVectors& told, absl::Time now,
                                 bool journal, bool* duplicate) {
  const uint64_t trial_id = request.trial_id();
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  if (journal_ != nullptr) OPTD_RETURN_IF_ERROR(journal_->health());
  if (!checkpoint_error_.ok()) {
    // A checkpoint its replicas could not write: until one is, no tell.
    WriteCheckpointLocked();
    if (!checkpoint_error_.ok()) return checkpoint_error_;
  }
  const AnsweredTell* answered = FindAnswered(trial_id);
  if (answered != nullptr && answered->digest == told.digest) {
    spdlog::debug("session \"{}\": duplicate tell of trial {}", id_, trial_id);
    *duplicate = true;
    return absl::OkStatus();
  }
  if (trial_id == 0 && !request.stop()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trial_id is 0; name an outstanding trial (", OutstandingText(),
        ") or set stop to end session \"", id_, "\""));
  }
  if (solver_->finished()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session \"", id_, "\" has already finished (",
        StateName(StateLocked()), ": ", solver_->summary().message,
        "); its summary is in GetSession, create a new session to go on"));
  }
  if (answered != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", trial_id, " of session \"", id_,
        "\" was already answered with a different payload; a retry must repeat "
        "the original tell exactly (",
        OutstandingText(), ")"));
  }
  if (trial_id != 0 && !OutstandingLocked(trial_id)) {
    return NotOutstanding(trial_id);
  }
  if (request.sliced() && shards_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sliced is set but session \"", id_,
        "\" is not sharded (shards <= 1); send the gradient in the tell"));
  }
  if (request.has_weight() &&
      settings_.creation_echo.data_parallel().workers() <= 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight is set but session \"", id_,
        "\" is not data-parallel (data_parallel.workers <= 1); leave it "
        "unset"));
  }
  // Whether this tell completes the batch (then the next one is issued).
  bool completes_batch = false;
  std::optional<v1::TrialRecord> record;
  if (trial_id != 0) {
    completes_batch = solver_->batch_untold() == 1;
    record = RecordLocked(request, told, now);
  }
  OPTD_RETURN_IF_ERROR(ApplyTell(request, told));
  if (record.has_value()) {
    trial_log_bytes_ += record->ByteSizeLong();
    trial_log_memory_ += static_cast<int64_t>(record->SpaceUsedLong());
    trial_log_.push_back(std::move(*record));
    while (trial_log_bytes_ > kTrialLogBytes && trial_log_.size() > 1) {
      trial_log_bytes_ -= trial_log_.front().ByteSizeLong();
      trial_log_memory_ -=
          static_cast<int64_t>(trial_log_.front().SpaceUsedLong());
      trial_log_.pop_front();
      ++trial_log_dropped_;
    }
    leases_.erase(trial_id);
  }
  if (completes_batch && !solver_->finished()) {
    // The solver's next batch.
    leases_.clear();
    batch_start_ = now;
    batch_first_id_ = last_trial_id_ + 1;
    last_trial_id_ = batch_first_id_ + solver_->batch_size() - 1;
  }
  AfterChange(trial_id, told.digest, now);
  ++tells_;
  if (journal && journal_ != nullptr) PersistLocked(request, now);
  return absl::OkStatus();
}

bool Session::CheckpointsOnlyLocked() const {
  return settings_.checkpoint_interval > 0 && solver_->StateBytes() > 0;
}

void Session::PersistLocked(const v1::TellRequest& request, absl::Time now) {
  if (CheckpointsOnlyLocked()) {
    // Large sessions: no gradient ever goes to disk, only the state every
    // checkpoint_interval tells (and the final one).
    if (tells_ - checkpoint_tells_ >= settings_.checkpoint_interval ||
        solver_->finished()) {
      WriteCheckpointLocked();
    }
    return;
  }
  journal_->Append(EncodeTellRecord(request, now));
  // A tell on the direct path left its vectors in the replicas' staged
  // files, not in the journal: they count as well.
  if (request.sliced()) sliced_bytes_since_checkpoint_ += 8 * dimension_;
  // Per-tell durability journals every tell; once the tells since the last
  // checkpoint outweigh the state (twice over, and 4 MiB), a checkpoint
  // replaces them, so the journal (and a sharded session's staged files)
  // stays within a few times the state.
  constexpr uint64_t kMinCompactionBytes = uint64_t{4} << 20;
  const int64_t state_bytes = solver_->StateBytes();
  if (state_bytes > 0 && !solver_->finished() &&
      journal_->bytes_since_checkpoint() + sliced_bytes_since_checkpoint_ >=
          std::max<uint64_t>(kMinCompactionBytes, 2 * state_bytes)) {
    WriteCheckpointLocked();
  }
}

absl::Status Session::BuildCheckpointLocked(
    v1::SessionCheckpoint* checkpoint) const {
  checkpoint->set_tells(tells_);
  checkpoint->set_last_trial_id(last_trial_id_);
  checkpoint->set_has_pending_trial(has_pending_trial_);
  checkpoint->set_batch_first_id(batch_first_id_);
  const size_t skipped =
      trial_log_.size() - std::min(trial_log_.size(), kCheckpointTrialLog);
  for (size_t i = skipped; i < trial_log_.size(); ++i) {
    *checkpoint->add_trial_log() = trial_log_[i];
  }
  checkpoint->set_trial_log_dropped(trial_log_dropped_ +
                                    static_cast<int64_t>(skipped));
  for (const AnsweredTell& answered : answered_) {
    v1::AnsweredTell* out = checkpoint->add_answered();
    out->set_trial_id(answered.trial_id);
    out->set_digest(answered.digest);
  }
  WriteHistoryLocked(checkpoint->mutable_history());
  checkpoint->set_history_iterations(history_iterations_);
  TimeToProto(update_time_, checkpoint->mutable_update_time());
  return solver_->SaveState(checkpoint->mutable_solver_state());
}

void Session::WriteCheckpointLocked() {
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
    checkpoint_trials_[target.tells] = batch_first_id_ - 1;
    shards_->set_checkpoint_target(target);
  }
  absl::Status status = BuildCheckpointLocked(&checkpoint);
  if (shards_ != nullptr) shards_->set_checkpoint_target(std::nullopt);
  if (!status.ok()) {
    spdlog::error("session \"{}\": cannot checkpoint: {}", id_,
                  status.ToString());
    // A slice that could not save (its replica's disk) leaves the session
    // whole: it refuses tells until a checkpoint is written (TellLocked
    // tries again). A lost replica breaks the group instead: a rebuild.
    if (shards_ != nullptr && !shards_->broken()) {
      checkpoint_error_ = absl::UnavailableError(absl::StrCat(
          "session \"", id_, "\" could not write its checkpoint (",
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

absl::Status Session::PortableCheckpoint(v1::SessionCheckpoint* checkpoint) {
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  return BuildCheckpointLocked(checkpoint);
}

void Session::WriteHistoryLocked(
    google::protobuf::RepeatedPtrField<v1::HistoryEntry>* out) const {
  for (const HistoryPoint& point : history_) {
    v1::HistoryEntry* entry = out->Add();
    entry->set_iteration(point.iteration);
    entry->set_evaluations(point.evaluations);
    entry->set_value(point.value);
    entry->set_gradient_max_norm(point.gradient_max_norm);
    entry->set_step_length(point.step_length);
    TimeToProto(point.time, entry->mutable_time());
  }
}

void Session::FlushCheckpoint() {
  absl::MutexLock lock(&mu_);
  if (deleted_ || journal_ == nullptr || !CheckpointsOnlyLocked() ||
      tells_ == checkpoint_tells_) {
    return;
  }
  WriteCheckpointLocked();
}

absl::Status Session::RestoreCheckpoint(
    const v1::SessionCheckpoint& checkpoint) {
  absl::MutexLock lock(&mu_);
  if (tells_ != 0) {
    return absl::FailedPreconditionError(
        "a checkpoint restores only a session that was told nothing");
  }
  // A checkpoint from before batches has no batch_first_id: its batch is
  // the last trial alone.
  const uint64_t first_id = checkpoint.batch_first_id() != 0
                                ? checkpoint.batch_first_id()
                                : checkpoint.last_trial_id();
  // The ids are checked before the solver is touched; the loops over the
  // batch's ids (OutstandingText, leases, pending_trial_ids) trust them.
  if (checkpoint.tells() < 0 || checkpoint.last_trial_id() == 0 ||
      first_id > checkpoint.last_trial_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint has tells ", checkpoint.tells(), ", batch_first_id ",
        first_id, " and last_trial_id ", checkpoint.last_trial_id(),
        "; a checkpoint has tells >= 0 and 1 <= batch_first_id <= "
        "last_trial_id"));
  }
  // A sharded session that journals no tells resumes at the checkpoint: its
  // replicas forget what clients sent for the trials after it.
  if (shards_ != nullptr && CheckpointsOnlyLocked()) {
    shards_->set_discard_staged_after(first_id - 1);
  }
  absl::Status restored = solver_->RestoreState(checkpoint.solver_state());
  if (shards_ != nullptr) shards_->set_discard_staged_after(0);
  OPTD_RETURN_IF_ERROR(restored);
  restored_checkpoint_tells_ = static_cast<uint64_t>(checkpoint.tells());
  // What only the restored solver can say. The solver has changed by now,
  // so a session refused here must be discarded, as its callers (recovery,
  // import) do.
  if (!solver_->finished()) {
    const uint64_t batch_size = static_cast<uint64_t>(solver_->batch_size());
    if (!checkpoint.has_pending_trial() ||
        checkpoint.last_trial_id() - first_id + 1 != batch_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint's batch is trials ", first_id, "..",
          checkpoint.last_trial_id(),
          checkpoint.has_pending_trial() ? "" : " with none pending",
          " but its solver state is running a batch of ", batch_size,
          " trials"));
    }
  }
  tells_ = checkpoint_tells_ = checkpoint.tells();
  last_trial_id_ = checkpoint.last_trial_id();
  has_pending_trial_ = checkpoint.has_pending_trial();
  batch_first_id_ = first_id;
  batch_start_ = TimeFromProto(checkpoint.update_time());
  leases_.clear();
  lease_cursor_batch_ = 0;  // the lease scan starts over
  trial_log_.assign(checkpoint.trial_log().begin(),
                    checkpoint.trial_log().end());
  trial_log_bytes_ = 0;
  int64_t trial_log_memory = 0;
  for (const v1::TrialRecord& record : trial_log_) {
    trial_log_bytes_ += record.ByteSizeLong();
    trial_log_memory += static_cast<int64_t>(record.SpaceUsedLong());
  }
  trial_log_memory_ = trial_log_memory;
  trial_log_dropped_ = checkpoint.trial_log_dropped();
  answered_.clear();
  for (const v1::AnsweredTell& answered : checkpoint.answered()) {
    answered_.push_back({answered.trial_id(), answered.digest()});
  }
  history_.clear();
  for (const v1::HistoryEntry& entry : checkpoint.history()) {
    history_.push_back({entry.iteration(), entry.evaluations(), entry.value(),
                        entry.gradient_max_norm(), entry.step_length(),
                        TimeFromProto(entry.time())});
  }
  history_iterations_ = checkpoint.history_iterations();
  update_time_ = TimeFromProto(checkpoint.update_time());
  last_active_ = std::max(last_active_, update_time_);
  if (solver_->finished()) {
    has_pending_trial_ = false;
    finish_time_ = update_time_;
    final_state_ = SessionStateFor(solver_->summary().reason);
  }
  return absl::OkStatus();
}

absl::Status Session::CheckLength(const ConstVectorView& vector,
                                  absl::string_view field, int64_t expected,
                                  Evaluation wants, uint64_t trial_id) const {
  if (vector.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial ", trial_id, " wants ", WantsName(wants),
                     " and the tell has no ", field, "; set ", field,
                     ", or failed if the evaluation did not succeed"));
  }
  if (vector.size() == expected) return absl::OkStatus();
  if (expected == dimension_) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", vector.size(), " elements; session \"",
                     id_, "\" has dimension ", dimension_));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, " has ", vector.size(), " elements; session \"", id_,
      "\" has dimension ", dimension_, ", so it needs ", dimension_, "*",
      dimension_, " = ", expected, " (row-major)"));
}

v1::TrialRecord Session::RecordLocked(const v1::TellRequest& request,
                                      const ToldVectors& told,
                                      absl::Time now) const {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  v1::TrialRecord record;
  const uint64_t trial_id = request.trial_id();
  const int k = static_cast<int>(trial_id - batch_first_id_);
  record.set_trial_id(trial_id);
  record.set_wants(EvaluationToProto(solver_->batch_wants(k)));
  if (dimension_ <= kTrialLogMaxDimension && shards_ == nullptr) {
    // A failure leaves x unset; the record is still worth keeping.
    WriteTrialPoint(*solver_, v1::VECTOR_ENCODING_VALUES, record.mutable_x(), k)
        .IgnoreError();
  }
  const bool failed = request.failed() ||
                      (request.has_value() && !std::isfinite(request.value()));
  record.set_failed(failed);
  record.set_value(request.has_value() && !failed ? request.value() : kNaN);
  double gmax = kNaN;
  if (!failed && told.gradient.size() > 0 &&
      told.gradient.size() <= kTrialLogMaxGradientNorm) {
    gmax = 0.0;
    for (int64_t i = 0; i < told.gradient.size(); ++i) {
      gmax = std::max(gmax, std::abs(told.gradient.Get(i)));
    }
  }
  record.set_gradient_max_norm(gmax);
  record.set_worker_id(request.worker_id());
  record.set_note(request.note());
  record.set_weight(request.has_weight() ? request.weight() : 1.0);
  TimeToProto(now, record.mutable_time());
  return record;
}

absl::Status Session::ApplyTell(const v1::TellRequest& request,
                                const ToldVectors& told) {
  if (request.trial_id() == 0) {  // stop without a trial
    solver_->Stop();
    return absl::OkStatus();
  }
  const uint64_t trial_id = request.trial_id();
  const int k = static_cast<int>(trial_id - batch_first_id_);
  const Evaluation wants = solver_->batch_wants(k);
  TrialResult result;
  if (request.has_value()) result.value = request.value();
  if (request.has_weight()) result.weight = request.weight();
  // A non-finite value is a failed evaluation, not an error (DESIGN §2); a
  // failed evaluation's vectors (often NaN too) are ignored.
  result.failed = request.failed() ||
                  (request.has_value() && !std::isfinite(request.value()));
  if (!result.failed) {
    const bool wants_hessian = wants == Evaluation::kHessian;
    const bool wants_value = WantsValue(wants);
    const bool wants_gradient = WantsGradient(wants);
    const bool wants_product = wants == Evaluation::kHessianVector;
    // Direct path: the vectors are on the replicas, staged for this trial.
    const ConstVectorView gradient = request.sliced()
                                         ? ConstVectorView::OnSlices(dimension_)
                                         : told.gradient;
    const ConstVectorView product = request.sliced()
                                        ? ConstVectorView::OnSlices(dimension_)
                                        : told.hessian_vector;
    if (request.sliced()) shards_->set_direct_trial(trial_id);
    if (wants_value && !request.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trial ", trial_id, " wants ", WantsName(wants),
          " and the tell has no value; set value, or failed if the evaluation "
          "did not succeed"));
    }
    // Every length before any copy, so that a refusal leaves nothing behind.
    if (wants_gradient) {
      OPTD_RETURN_IF_ERROR(
          CheckLength(gradient, "gradient", dimension_, wants, trial_id));
    }
    if (wants_hessian) {
      OPTD_RETURN_IF_ERROR(CheckLength(
          told.hessian, "hessian", dimension_ * dimension_, wants, trial_id));
    }
    if (wants_product) {
      OPTD_RETURN_IF_ERROR(
          CheckLength(product, "hessian_vector", dimension_, wants, trial_id));
    }
    // The copies refuse NaN/Inf naming the first bad index. A refusal after
    // an earlier copy leaves only the trial's scratch slot written, which the
    // next tell of this trial overwrites and a failed tell never reads.
    if (wants_gradient) {
      OPTD_RETURN_IF_ERROR(solver_->SetBatchGradient(k, gradient));
      result.has_gradient = true;
    }
    if (wants_hessian) {
      OPTD_RETURN_IF_ERROR(solver_->SetBatchHessian(k, told.hessian));
      result.has_hessian = true;
    }
    if (wants_product) {
      OPTD_RETURN_IF_ERROR(solver_->SetBatchHessianVector(k, product));
      result.has_hessian_vector = true;
    }
  }
  // A result refused as a whole (a data-parallel weight whose product with
  // the gradient overflows the step's sums) is the client's error.
  OPTD_RETURN_IF_ERROR(solver_->CheckBatchResult(k, result));
  absl::Status status = solver_->TellBatch(k, result);
  if (!status.ok() && broken()) {
    // A replica holding a shard failed mid-step: SessionManager rebuilds the
    // session from its journal on the next call.
    return absl::UnavailableError(status.message());
  }
  if (!status.ok()) {
    // Every input was validated above, so this is a solver bug; the session
    // may be inconsistent and says so rather than pretending.
    spdlog::error("session \"{}\": solver refused a validated tell: {}", id_,
                  status.ToString());
    return absl::InternalError(
        absl::StrCat("session \"", id_, "\": ", status.message()));
  }
  if (request.stop()) solver_->Stop();
  return absl::OkStatus();
}

void Session::AfterChange(uint64_t trial_id, uint64_t digest, absl::Time now) {
  update_time_ = now;
  last_active_ = std::max(last_active_, now);
  answered_.push_back({trial_id, digest});
  if (answered_.size() > kAnsweredDigests) answered_.pop_front();
  const Progress progress = solver_->progress();
  spdlog::debug("session \"{}\": told trial {}; {} iterations, {} evaluations",
                id_, trial_id, progress.iterations, progress.evaluations);
  if (progress.iterations > history_iterations_) {
    history_iterations_ = progress.iterations;
    history_.push_back({progress.iterations, progress.evaluations,
                        progress.best_value, progress.gradient_max_norm,
                        progress.last_step, now});
    if (history_.size() > kHistoryLength) history_.pop_front();
  }
  if (solver_->finished()) {
    has_pending_trial_ = false;
    leases_.clear();
    if (finish_time_ == absl::InfiniteFuture()) {
      finish_time_ = now;
      final_state_ = SessionStateFor(solver_->summary().reason);
      spdlog::info("session \"{}\" finished ({}) after {:.3f} s: {}", id_,
                   std::string(StateName(final_state_)), WallSeconds(),
                   solver_->summary().BriefReport());
    }
  }
}

void Session::DescribeBriefLocked(v1::Session* out) {
  out->set_session_id(id_);
  out->set_state(StateLocked());
  out->set_solver(solver_name_);
  out->set_dimension(dimension_);
  out->mutable_labels()->insert(labels_.begin(), labels_.end());
  TimeToProto(create_time_, out->mutable_create_time());
  TimeToProto(update_time_, out->mutable_update_time());
  SetSessionOptions(options_, out);
  out->set_vector_encoding(encoding_);
  const Progress progress = solver_->progress();
  out->set_iterations(progress.iterations);
  out->set_evaluations(progress.evaluations);
  out->set_best_value(progress.best_value);
  out->set_gradient_max_norm(progress.gradient_max_norm);
  if (has_pending_trial_) {
    for (uint64_t trial_id = batch_first_id_; trial_id <= last_trial_id_;
         ++trial_id) {
      if (OutstandingLocked(trial_id)) out->add_pending_trial_ids(trial_id);
    }
  }
  out->set_tells(tells_);
  out->set_durable_step(
      journal_ == nullptr ? 0 : static_cast<int64_t>(journal_->durable()));
  out->mutable_durability()->set_checkpoint_interval(
      settings_.checkpoint_interval);
  out->set_ttl_seconds(absl::ToDoubleSeconds(settings_.ttl));
  out->set_lease_seconds(absl::ToDoubleSeconds(settings_.lease));
  const absl::Time now = absl::Now();
  for (const auto& [trial_id, held] : leases_) {
    if (held.expiry <= now) continue;
    v1::Lease* lease = out->add_leases();
    lease->set_trial_id(trial_id);
    lease->set_worker_id(held.worker);
    TimeToProto(held.expiry, lease->mutable_expire_time());
  }
  if (shards_ != nullptr) {
    for (const ShardPlacement& p : shards_->placements()) {
      v1::ShardInfo* info = out->add_shard_map();
      info->set_shard(p.shard);
      info->set_replica(p.replica);
      info->set_address(p.address);
      info->set_begin(p.range.begin);
      info->set_end(p.range.end);
    }
    out->set_shard_round_trips(shards_->round_trips());
    out->set_shard_reductions(shards_->reductions());
  }
}

bool Session::DescribeBrief(v1::Session* out) {
  absl::MutexLock lock(&mu_);
  if (deleted_) return false;
  DescribeBriefLocked(out);
  if (solver_->finished()) {
    SummaryToProto(solver_->summary(), WallSeconds(), *solver_,
                   v1::VECTOR_ENCODING_UNSPECIFIED, out->mutable_summary())
        .IgnoreError();  // cannot fail without x
  }
  return true;
}

absl::Status Session::Describe(bool include_x, v1::VectorEncoding encoding,
                               v1::Session* out, bool include_trials,
                               uint64_t trials_after_id) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  DescribeBriefLocked(out);
  out->MergeFrom(settings_.creation_echo);
  const v1::VectorEncoding x_encoding =
      include_x ? ResolveEncoding(encoding, encoding_)
                : v1::VECTOR_ENCODING_UNSPECIFIED;
  if (include_x) {
    OPTD_RETURN_IF_ERROR(
        WriteBestPoint(*solver_, x_encoding, out->mutable_best_x()));
  }
  WriteHistoryLocked(out->mutable_history());
  for (const GradientCheckReport& report : solver_->gradient_checks()) {
    v1::GradientCheck* check = out->add_gradient_checks();
    check->set_iteration(report.iteration);
    check->set_max_relative_error(report.max_relative_error);
    check->mutable_relative_error()->Add(report.relative_error.begin(),
                                         report.relative_error.end());
    check->mutable_told()->Add(report.told.begin(), report.told.end());
    check->mutable_finite_difference()->Add(report.finite_difference.begin(),
                                            report.finite_difference.end());
  }
  if (include_trials) {
    for (const v1::TrialRecord& record : trial_log_) {
      if (record.trial_id() > trials_after_id) *out->add_trial_log() = record;
    }
    out->set_trial_log_dropped(trial_log_dropped_);
  }
  if (solver_->finished()) {
    OPTD_RETURN_IF_ERROR(SummaryToProto(solver_->summary(), WallSeconds(),
                                        *solver_, x_encoding,
                                        out->mutable_summary()));
  }
  return absl::OkStatus();
}

void Session::PurgeShardsOnDelete() {
  absl::MutexLock lock(&mu_);
  if (shards_ != nullptr) shards_->set_purge_on_delete();
}

absl::Status Session::FillSlicedTell(v1::TellRequest* tell) {
  if (!tell->sliced()) return absl::OkStatus();
  tell->set_sliced(false);
  if (tell->failed() || tell->trial_id() == 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  if (shards_ == nullptr) {
    return absl::DataLossError(
        "a sliced tell in a session that is not sharded");
  }
  // The record does not say which vector the trial wanted: a gradient, or
  // else a Hessian-vector product.
  std::string bytes(static_cast<size_t>(8 * dimension_), '\0');
  const MutableVectorView view =
      MutableVectorView::Float64(bytes.data(), dimension_);
  absl::Status status =
      shards_->ReadStaged(tell->trial_id(), /*product=*/false, view);
  if (status.ok()) {
    tell->mutable_gradient()->set_f64(std::move(bytes));
    return absl::OkStatus();
  }
  if (!absl::IsFailedPrecondition(status)) return status;
  OPTD_RETURN_IF_ERROR(
      shards_->ReadStaged(tell->trial_id(), /*product=*/true, view));
  tell->mutable_hessian_vector()->set_f64(std::move(bytes));
  return absl::OkStatus();
}

void Session::Delete() {
  absl::MutexLock lock(&mu_);
  if (deleted_) return;
  final_state_ = StateLocked();
  deleted_ = true;
  solver_.reset();  // frees the state now, whoever still holds the session
  has_pending_trial_ = false;
  leases_.clear();
  trial_log_.clear();
  trial_log_bytes_ = 0;
  trial_log_memory_ = 0;
}

template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::CreateSessionResponse*);
template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::ImportSessionResponse*);
template absl::Status Session::Ask(v1::VectorEncoding, v1::AskResponse*, bool);
template absl::Status Session::Ask(v1::VectorEncoding, v1::OptimizeResponse*,
                                   bool);
template absl::Status Session::Tell(const v1::TellRequest&, v1::TellResponse*,
                                    DurableTicket*, TellStats*);
template absl::Status Session::Tell(const v1::TellRequest&,
                                    v1::OptimizeResponse*, DurableTicket*,
                                    TellStats*);

}  // namespace optd::server
