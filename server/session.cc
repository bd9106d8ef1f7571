#include "server/session.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/journal.h"
#include "server/payload_digest.h"
#include "solvers/status_macros.h"
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
      last_active_(create_time_) {
  if (solver_->finished()) {
    has_pending_trial_ = false;
    finish_time_ = create_time_;
    final_state_ = SessionStateFor(solver_->summary().reason);
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
    google::protobuf::RepeatedPtrField<v1::Trial>* trials, bool on_slices) {
  if (!has_pending_trial_) return absl::OkStatus();
  v1::Trial* trial = trials->Add();
  trial->set_trial_id(last_trial_id_);
  const Evaluation wants = solver_->wants();
  trial->set_wants(EvaluationToProto(wants));
  if (on_slices && shards_ != nullptr) {
    // Direct path: each replica serves its slice of the point (GetSlice).
    trial->set_on_slices(true);
    shards_->set_direct_trial(last_trial_id_);
    OPTD_RETURN_IF_ERROR(
        solver_->ReadTrialPoint(MutableVectorView::OnSlices(dimension_)));
    if (wants == Evaluation::kHessianVector) {
      return solver_->ReadTrialVector(MutableVectorView::OnSlices(dimension_));
    }
    return absl::OkStatus();
  }
  const v1::VectorEncoding resolved = ResolveEncoding(encoding, encoding_);
  OPTD_RETURN_IF_ERROR(WriteTrialPoint(*solver_, resolved, trial->mutable_x()));
  if (wants == Evaluation::kHessianVector) {
    return WriteTrialVector(*solver_, resolved, trial->mutable_vector());
  }
  return absl::OkStatus();
}

absl::Status Session::WriteTrials(
    v1::VectorEncoding encoding,
    google::protobuf::RepeatedPtrField<v1::Trial>* trials) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  return WriteTrialsLocked(encoding, trials);
}

template <typename Response>
absl::Status Session::WriteAnswer(v1::VectorEncoding encoding, bool duplicate,
                                  Response* response, bool on_slices) {
  response->clear_trials();
  response->clear_summary();
  OPTD_RETURN_IF_ERROR(
      WriteTrialsLocked(encoding, response->mutable_trials(), on_slices));
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
                                  v1::AskResponse* response, bool on_slices) {
  constexpr size_t kMaxWorkerId = 128;
  if (worker_id.size() > kMaxWorkerId) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_id has ", worker_id.size(),
                     " characters; at most ", kMaxWorkerId, " are allowed"));
  }
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  const absl::Time now = absl::Now();
  last_active_ = std::max(last_active_, now);
  OPTD_RETURN_IF_ERROR(
      WriteAnswer(encoding, /*duplicate=*/false, response, on_slices));
  if (!has_pending_trial_) return absl::OkStatus();
  if (!lease_worker_.empty() && lease_worker_ != worker_id &&
      lease_expiry_ > now) {
    response->clear_trials();
    response->set_retry_after_seconds(
        absl::ToDoubleSeconds(lease_expiry_ - now));
    return absl::OkStatus();
  }
  if (lease_worker_ != worker_id) {
    if (!lease_worker_.empty()) {
      spdlog::info(
          "session \"{}\": the lease of trial {} by \"{}\" expired; "
          "trial leased to \"{}\"",
          id_, last_trial_id_, lease_worker_, std::string(worker_id));
    }
    lease_worker_ = std::string(worker_id);
  }
  lease_expiry_ = now + settings_.lease;
  for (v1::Trial& trial : *response->mutable_trials()) {
    TimeToProto(lease_expiry_, trial.mutable_lease_expire_time());
  }
  return absl::OkStatus();
}

const Session::AnsweredTell* Session::FindAnswered(uint64_t trial_id) const {
  for (const AnsweredTell& answered : answered_) {
    if (answered.trial_id == trial_id) return &answered;
  }
  return nullptr;
}

absl::Status Session::NotOutstanding(uint64_t trial_id) const {
  const std::string outstanding =
      has_pending_trial_
          ? absl::StrCat("the outstanding trial is ", last_trial_id_)
          : std::string("no trial is outstanding");
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
  TellPayload payload{request.trial_id(), request.failed(), request.stop(),
                      std::nullopt};
  if (request.has_value()) payload.value = request.value();
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
  OPTD_RETURN_IF_ERROR(
      TellLocked(request, told, absl::Now(), /*journal=*/true, &duplicate));
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
  return WriteAnswer(request.encoding(), duplicate, response,
                     request.points_on_slices());
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
  const AnsweredTell* answered = FindAnswered(trial_id);
  if (answered != nullptr && answered->digest == told.digest) {
    spdlog::debug("session \"{}\": duplicate tell of trial {}", id_, trial_id);
    *duplicate = true;
    return absl::OkStatus();
  }
  if (trial_id == 0 && !request.stop()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial_id is 0; name the outstanding trial (",
                     has_pending_trial_ ? absl::StrCat(last_trial_id_) : "none",
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
        "the original tell exactly (the outstanding trial is ",
        last_trial_id_, ")"));
  }
  if (trial_id != 0 && (!has_pending_trial_ || trial_id != last_trial_id_)) {
    return NotOutstanding(trial_id);
  }
  if (request.sliced() && shards_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sliced is set but session \"", id_,
        "\" is not sharded (shards <= 1); send the gradient in the tell"));
  }
  OPTD_RETURN_IF_ERROR(ApplyTell(request, told));
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
    // Large Adam sessions: no gradient ever goes to disk, only the state
    // every checkpoint_interval tells (and the final one).
    if (tells_ - checkpoint_tells_ >= settings_.checkpoint_interval ||
        solver_->finished()) {
      WriteCheckpointLocked();
    }
    return;
  }
  journal_->Append(EncodeTellRecord(request, now));
  // Per-tell durability journals every tell; once the tells since the last
  // checkpoint outweigh the state (twice over, and 4 MiB), a checkpoint
  // replaces them, so the journal stays within a few times the state.
  constexpr uint64_t kMinCompactionBytes = uint64_t{4} << 20;
  const int64_t state_bytes = solver_->StateBytes();
  if (state_bytes > 0 && !solver_->finished() &&
      journal_->bytes_since_checkpoint() >=
          std::max<uint64_t>(kMinCompactionBytes, 2 * state_bytes)) {
    WriteCheckpointLocked();
  }
}

void Session::WriteCheckpointLocked() {
  v1::SessionCheckpoint checkpoint;
  checkpoint.set_tells(tells_);
  checkpoint.set_last_trial_id(last_trial_id_);
  checkpoint.set_has_pending_trial(has_pending_trial_);
  for (const AnsweredTell& answered : answered_) {
    v1::AnsweredTell* out = checkpoint.add_answered();
    out->set_trial_id(answered.trial_id);
    out->set_digest(answered.digest);
  }
  WriteHistoryLocked(checkpoint.mutable_history());
  checkpoint.set_history_iterations(history_iterations_);
  TimeToProto(update_time_, checkpoint.mutable_update_time());
  absl::Status status = solver_->SaveState(checkpoint.mutable_solver_state());
  if (!status.ok()) {
    spdlog::error("session \"{}\": cannot checkpoint: {}", id_,
                  status.ToString());
    return;
  }
  checkpoint_tells_ = tells_;
  journal_->Checkpoint(checkpoint.SerializeAsString(),
                       static_cast<uint64_t>(tells_));
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
  OPTD_RETURN_IF_ERROR(solver_->RestoreState(checkpoint.solver_state()));
  tells_ = checkpoint_tells_ = checkpoint.tells();
  last_trial_id_ = checkpoint.last_trial_id();
  has_pending_trial_ = checkpoint.has_pending_trial();
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

absl::Status Session::ApplyTell(const v1::TellRequest& request,
                                const ToldVectors& told) {
  if (request.trial_id() == 0) {  // stop without a trial
    solver_->Stop();
    return absl::OkStatus();
  }
  const uint64_t trial_id = request.trial_id();
  const Evaluation wants = solver_->wants();
  TrialResult result;
  if (request.has_value()) result.value = request.value();
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
      OPTD_RETURN_IF_ERROR(solver_->SetTrialGradient(gradient));
      result.has_gradient = true;
    }
    if (wants_hessian) {
      OPTD_RETURN_IF_ERROR(solver_->SetTrialHessian(told.hessian));
      result.has_hessian = true;
    }
    if (wants_product) {
      OPTD_RETURN_IF_ERROR(solver_->SetTrialHessianVector(product));
      result.has_hessian_vector = true;
    }
  }
  absl::Status status = solver_->Tell(result);
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
  lease_worker_.clear();  // the leased trial was answered
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
    if (finish_time_ == absl::InfiniteFuture()) {
      finish_time_ = now;
      final_state_ = SessionStateFor(solver_->summary().reason);
      spdlog::info("session \"{}\" finished ({}) after {:.3f} s: {}", id_,
                   std::string(StateName(final_state_)), WallSeconds(),
                   solver_->summary().BriefReport());
    }
  } else if (trial_id != 0) {
    ++last_trial_id_;  // the solver's next trial
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
  if (has_pending_trial_) out->add_pending_trial_ids(last_trial_id_);
  out->set_tells(tells_);
  out->set_durable_step(
      journal_ == nullptr ? 0 : static_cast<int64_t>(journal_->durable()));
  out->mutable_durability()->set_checkpoint_interval(
      settings_.checkpoint_interval);
  out->set_ttl_seconds(absl::ToDoubleSeconds(settings_.ttl));
  out->set_lease_seconds(absl::ToDoubleSeconds(settings_.lease));
  if (has_pending_trial_ && !lease_worker_.empty() &&
      lease_expiry_ > absl::Now()) {
    v1::Lease* lease = out->add_leases();
    lease->set_trial_id(last_trial_id_);
    lease->set_worker_id(lease_worker_);
    TimeToProto(lease_expiry_, lease->mutable_expire_time());
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
                               v1::Session* out) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(encoding, "encoding"));
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  DescribeBriefLocked(out);
  const v1::VectorEncoding x_encoding =
      include_x ? ResolveEncoding(encoding, encoding_)
                : v1::VECTOR_ENCODING_UNSPECIFIED;
  if (include_x) {
    OPTD_RETURN_IF_ERROR(
        WriteBestPoint(*solver_, x_encoding, out->mutable_best_x()));
  }
  WriteHistoryLocked(out->mutable_history());
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
}

template absl::Status Session::Ask(v1::VectorEncoding, v1::AskResponse*, bool);
template absl::Status Session::Ask(v1::VectorEncoding, v1::OptimizeResponse*,
                                   bool);
template absl::Status Session::Tell(const v1::TellRequest&, v1::TellResponse*,
                                    DurableTicket*, TellStats*);
template absl::Status Session::Tell(const v1::TellRequest&,
                                    v1::OptimizeResponse*, DurableTicket*,
                                    TellStats*);

}  // namespace optd::server
