#include "server/session/session.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "server/session/told_vectors.h"
#include "server/session/trial_writer.h"
#include "server/storage/journal.h"
#include "spdlog/spdlog.h"

namespace optd::server {
namespace {

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
      data_parallel_(settings.creation_echo.data_parallel().workers() > 1),
      solver_(std::move(setup.solver)),
      shards_(std::move(setup.shards)),
      update_time_(create_time_),
      last_active_(create_time_),
      ledger_(solver_->finished() ? 0 : solver_->batch_size(), create_time_,
              settings.first_trial_id),
      durability_(id_, settings.checkpoint_interval, shards_) {
  if (solver_->finished()) {
    finish_time_ = create_time_;
    final_state_ = SessionStateFor(solver_->summary().reason);
  }
}

void Session::AttachJournal(std::shared_ptr<SessionJournal> journal) {
  absl::MutexLock lock(&mu_);
  durability_.Attach(std::move(journal));
}

std::shared_ptr<SessionJournal> Session::journal() const {
  absl::MutexLock lock(&mu_);
  return durability_.journal();
}

int64_t Session::tells() const {
  absl::MutexLock lock(&mu_);
  return durability_.tells();
}

bool Session::ChangedSinceLocked(int64_t since_tells) const {
  return deleted_ || durability_.tells() > since_tells ||
         StateLocked() != v1::SESSION_STATE_RUNNING;
}

bool Session::AwaitChange(int64_t since_tells, absl::Time deadline,
                          const std::atomic<bool>* cancel) {
  struct Wait {
    const Session* session;
    int64_t since_tells;
    const std::atomic<bool>* cancel;
  } wait{this, since_tells, cancel};
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(
      absl::Condition(
          +[](Wait* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->session->mu_) {
            return w->cancel->load() ||
                   w->session->ChangedSinceLocked(w->since_tells);
          },
          &wait),
      deadline);
  return !cancel->load() && ChangedSinceLocked(since_tells);
}

void Session::WakeWaiters() {
  // Releasing the mutex re-evaluates the waiters' conditions.
  absl::MutexLock lock(&mu_);
}

bool Session::Expired(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return !deleted_ && now - last_active_ > settings_.ttl;
}

absl::Status Session::CheckNotDeleted() const {
  if (switched_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session \"", id_,
        "\" switched solvers while this call held its old solver; its trials "
        "are cancelled: ask again for the new solver's"));
  }
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
  if (!ledger_.has_pending_trial()) return absl::OkStatus();
  const BatchTrials batch{id_, *solver_, ledger_, shards_.get(), dimension_};
  return WriteBatchTrials(batch, ResolveEncoding(encoding, encoding_),
                          on_slices, only, trials, base_points);
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
  if constexpr (!std::is_same_v<Response, v1::AskResponse>) {
    response->clear_iterate();
  }
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
  size_t wanted = static_cast<size_t>(std::max(1, max_trials));
  // Data-parallel steps: each trial is one worker's share of the data, so a
  // worker gets one trial of a step. One that already told a trial of this
  // step gets another only to take over from a worker that is gone: a trial
  // whose lease expired, or one nobody took within a lease of the step's
  // start (docs/api.md "Many workers").
  bool served = false;
  if (data_parallel_) {
    wanted = 1;
    served = trial_log_.WorkerToldSince(worker, ledger_.batch_first_id());
  }
  return ledger_.LeaseTrials(worker, wanted, served, now, settings_.lease,
                             *solver_, id_, retry_after);
}

template <typename Response>
absl::Status Session::Tell(const v1::TellRequest& request, Response* response,
                           DurableTicket* ticket, TellStats* stats) {
  // Everything that needs only the request happens before the lock: decoding
  // is a view into the request, and the digest of a 10^7-element gradient
  // takes milliseconds that other callers of this session need not wait for.
  OPTD_ASSIGN_OR_RETURN(const ToldVectors told,
                        DecodeTell(request, kMaxWorkerId, kMaxNoteBytes));
  absl::MutexLock lock(&mu_);
  bool duplicate = false;
  // A deleted session has no solver (TellLocked refuses the tell).
  const Progress before = solver_ != nullptr ? solver_->progress() : Progress{};
  const absl::Time now = absl::Now();
  OPTD_RETURN_IF_ERROR(
      TellLocked(request, told, now, /*journal=*/true, &duplicate));
  const Progress after = solver_->progress();
  if (stats != nullptr) {
    stats->iterations = after.iterations - before.iterations;
    stats->evaluations = after.evaluations - before.evaluations;
  }
  // A retry waits too: its original may not be synced yet.
  if (ticket != nullptr) durability_.Ticket(ticket);
  if (request.worker_id().empty()) {
    OPTD_RETURN_IF_ERROR(WriteAnswer(request.encoding(), duplicate, response,
                                     request.points_on_slices()));
  } else {
    // A worker's loop: its next trial comes with the answer, leased to it
    // (with the others it still holds, when it asked for several).
    const int holding = ledger_.HeldBy(request.worker_id(), now);
    absl::Duration unused;
    const std::vector<uint64_t> held =
        LeaseLocked(request.worker_id(), std::max(1, holding), now, &unused);
    OPTD_RETURN_IF_ERROR(WriteAnswer(request.encoding(), duplicate, response,
                                     request.points_on_slices(), &held));
  }
  if (request.report_iterate() && !duplicate &&
      after.iterations > before.iterations) {
    v1::Iterate* iterate = response->mutable_iterate();
    iterate->set_iteration(after.iterations);
    iterate->set_value(after.best_value);
    iterate->set_gradient_max_norm(after.gradient_max_norm);
    return WriteBestPoint(*solver_,
                          ResolveEncoding(request.encoding(), encoding_),
                          iterate->mutable_x());
  }
  return absl::OkStatus();
}

absl::Status Session::Replay(const v1::SnapshotTell& tell) {
  OPTD_ASSIGN_OR_RETURN(const ToldVectors told,
                        DecodeTell(tell.tell(), kMaxWorkerId, kMaxNoteBytes));
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
  OPTD_RETURN_IF_ERROR(durability_.BeforeTell(
      ledger_.batch_first_id(),
      [this](v1::SessionCheckpoint* checkpoint) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return BuildCheckpointLocked(checkpoint);
      }));
  const TrialLedger::AnsweredTell* answered = ledger_.FindAnswered(trial_id);
  if (answered != nullptr && answered->digest == told.digest) {
    spdlog::debug("session \"{}\": duplicate tell of trial {}", id_, trial_id);
    *duplicate = true;
    return absl::OkStatus();
  }
  if (trial_id == 0 && !request.stop()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial_id is 0; name an outstanding trial (",
                     ledger_.OutstandingText(*solver_),
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
        ledger_.OutstandingText(*solver_), ")"));
  }
  if (trial_id != 0 && !ledger_.Outstanding(trial_id, *solver_)) {
    return ledger_.NotOutstanding(trial_id, id_, *solver_);
  }
  if (request.sliced() && shards_ == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sliced is set but session \"", id_,
        "\" is not sharded (shards <= 1); send the gradient in the tell"));
  }
  if (request.has_weight() && !data_parallel_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight is set but session \"", id_,
        "\" is not data-parallel (data_parallel.workers <= 1); leave it "
        "unset"));
  }
  OPTD_RETURN_IF_ERROR(CheckGroupLearningRates(
      request, options_, data_parallel_, id_, solver_name_));
  // Whether this tell completes the batch (then the next one is issued).
  bool completes_batch = false;
  std::optional<v1::TrialRecord> record;
  if (trial_id != 0) {
    completes_batch = solver_->batch_untold() == 1;
    record = TrialLog::Record(
        request, *solver_,
        static_cast<int>(trial_id - ledger_.batch_first_id()), told.gradient,
        dimension_ <= kTrialLogMaxDimension && shards_ == nullptr, now);
  }
  OPTD_RETURN_IF_ERROR(ApplyTell(request, told));
  if (record.has_value()) {
    trial_log_.Append(std::move(*record));
    ledger_.Told(trial_id);
  }
  if (completes_batch && !solver_->finished()) {
    // The solver's next batch.
    ledger_.NextBatch(solver_->batch_size(), now);
  }
  AfterChange(trial_id, told.digest, now);
  durability_.CountTell();
  if (journal) {
    durability_.AfterTell(request, now, *solver_, dimension_,
                          ledger_.batch_first_id(),
                          [this](v1::SessionCheckpoint* checkpoint)
                              ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                return BuildCheckpointLocked(checkpoint);
                              });
  }
  return absl::OkStatus();
}

absl::Status Session::BuildCheckpointLocked(
    v1::SessionCheckpoint* checkpoint) const {
  checkpoint->set_tells(durability_.tells());
  ledger_.WriteCheckpoint(checkpoint);
  trial_log_.WriteCheckpoint(checkpoint);
  history_.WriteCheckpoint(checkpoint);
  TimeToProto(update_time_, checkpoint->mutable_update_time());
  return solver_->SaveState(checkpoint->mutable_solver_state());
}

absl::Status Session::PortableCheckpoint(v1::SessionCheckpoint* checkpoint) {
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  return BuildCheckpointLocked(checkpoint);
}

void Session::FlushCheckpoint() {
  absl::MutexLock lock(&mu_);
  if (deleted_) return;
  durability_.Flush(*solver_, ledger_.batch_first_id(),
                    [this](v1::SessionCheckpoint* checkpoint)
                        ABSL_NO_THREAD_SAFETY_ANALYSIS {
                          return BuildCheckpointLocked(checkpoint);
                        });
}

absl::Status Session::RestoreCheckpoint(
    const v1::SessionCheckpoint& checkpoint) {
  absl::MutexLock lock(&mu_);
  if (durability_.tells() != 0) {
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
  // replicas forget what clients sent for the trials after it. The told
  // gradients of a data-parallel step wait on the replicas for its mean:
  // only those of later steps go.
  if (shards_ != nullptr && durability_.CheckpointsOnly(*solver_)) {
    shards_->set_discard_staged_after(
        data_parallel_ ? checkpoint.last_trial_id() : first_id - 1);
  }
  absl::Status restored = solver_->RestoreState(checkpoint.solver_state());
  if (shards_ != nullptr) shards_->set_discard_staged_after(0);
  OPTD_RETURN_IF_ERROR(restored);
  durability_.NoteRestored(checkpoint.tells());
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
  durability_.RestoreTells(checkpoint.tells());
  ledger_.Restore(checkpoint, first_id);
  trial_log_.Restore(checkpoint);
  history_.Restore(checkpoint);
  update_time_ = TimeFromProto(checkpoint.update_time());
  last_active_ = std::max(last_active_, update_time_);
  if (solver_->finished()) {
    ledger_.Finish();
    finish_time_ = update_time_;
    final_state_ = SessionStateFor(solver_->summary().reason);
  }
  return absl::OkStatus();
}

absl::Status Session::ApplyTell(const v1::TellRequest& request,
                                const ToldVectors& told) {
  if (request.trial_id() == 0) {  // stop without a trial
    solver_->Stop();
    return absl::OkStatus();
  }
  const uint64_t trial_id = request.trial_id();
  const int k = static_cast<int>(trial_id - ledger_.batch_first_id());
  const Evaluation wants = solver_->batch_wants(k);
  TrialResult result;
  if (request.has_value()) result.value = request.value();
  if (request.has_weight()) result.weight = request.weight();
  result.learning_rates.assign(request.group_lr().begin(),
                               request.group_lr().end());
  // A non-finite value is a failed evaluation, not an error (DESIGN §2); a
  // failed evaluation's vectors (often NaN too) are ignored.
  result.failed = request.failed() ||
                  (request.has_value() && !std::isfinite(request.value()));
  if (!result.failed) {
    const bool wants_hessian = wants == Evaluation::kHessian;
    const bool wants_value = WantsValue(wants);
    const bool wants_gradient = WantsGradient(wants);
    const bool wants_product = wants == Evaluation::kHessianVector;
    const bool wants_residuals = WantsResiduals(wants);
    const bool wants_jacobian = WantsJacobian(wants);
    // Direct path: the vectors are on the replicas, staged for this trial.
    const ConstVectorView gradient = request.sliced()
                                         ? ConstVectorView::OnSlices(dimension_)
                                         : told.gradient;
    const ConstVectorView product = request.sliced()
                                        ? ConstVectorView::OnSlices(dimension_)
                                        : told.hessian_vector;
    if (request.sliced()) shards_->set_direct_trial(trial_id);
    if (shards_ != nullptr) shards_->set_told_trial(trial_id);
    if (wants_value && !request.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trial ", trial_id, " wants ", WantsName(wants),
          " and the tell has no value; set value, or failed if the evaluation "
          "did not succeed"));
    }
    // Every length before any copy, so that a refusal leaves nothing behind.
    if (wants_gradient) {
      OPTD_RETURN_IF_ERROR(CheckToldLength(gradient, "gradient", dimension_,
                                           wants, trial_id, id_, dimension_));
    }
    if (wants_hessian) {
      OPTD_RETURN_IF_ERROR(CheckToldLength(told.hessian, "hessian",
                                           dimension_ * dimension_, wants,
                                           trial_id, id_, dimension_));
    }
    if (wants_product) {
      OPTD_RETURN_IF_ERROR(CheckToldLength(product, "hessian_vector",
                                           dimension_, wants, trial_id, id_,
                                           dimension_));
    }
    const int64_t m = solver_->residual_count();
    if (wants_residuals) {
      OPTD_RETURN_IF_ERROR(CheckToldResiduals(
          told.residuals, "residuals", m, wants, trial_id, id_, dimension_));
    }
    if (wants_jacobian) {
      OPTD_RETURN_IF_ERROR(CheckToldResiduals(
          told.jacobian, "jacobian", m, wants, trial_id, id_, dimension_));
    }
    const bool wants_jv = wants == Evaluation::kJacobianVector;
    const ConstVectorView& jacobian_product =
        wants_jv ? told.jacobian_vector : told.jacobian_transpose_vector;
    if (WantsJacobianProduct(wants)) {
      OPTD_RETURN_IF_ERROR(CheckToldResiduals(
          jacobian_product,
          wants_jv ? "jacobian_vector" : "jacobian_transpose_vector", m, wants,
          trial_id, id_, dimension_));
    }
    // The copies refuse NaN/Inf naming the first bad index. A refusal after
    // an earlier copy leaves only the trial's scratch slot written, which the
    // next tell of this trial overwrites and a failed tell never reads.
    if (wants_gradient) {
      if (gradient.on_slices() && solver_->batch_keeps_gradient(k)) {
        // A gradient check compares the told gradient with differences:
        // its copy is gathered from the slices the client sent, which stay
        // staged for SetBatchGradient to apply (FAILED_PRECONDITION naming
        // the shard when one was not sent).
        std::vector<double> whole(static_cast<size_t>(dimension_));
        OPTD_RETURN_IF_ERROR(shards_->ReadStaged(
            trial_id, /*product=*/false,
            MutableVectorView::Float64(whole.data(), dimension_)));
        OPTD_RETURN_IF_ERROR(solver_->KeepBatchGradient(
            k, ConstVectorView::Float64(whole.data(), dimension_)));
      }
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
    if (wants_jacobian) {  // first: it refuses NaN, the residuals do not
      OPTD_RETURN_IF_ERROR(solver_->SetBatchJacobian(k, told.jacobian));
      result.has_jacobian = true;
    }
    if (wants_residuals) {
      OPTD_RETURN_IF_ERROR(solver_->SetBatchResiduals(k, told.residuals));
      result.has_residuals = true;
    }
    if (WantsJacobianProduct(wants)) {
      OPTD_RETURN_IF_ERROR(
          solver_->SetBatchJacobianProduct(k, jacobian_product));
      result.has_jacobian_product = true;
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
  ledger_.RecordAnswered(trial_id, digest);
  const Progress progress = solver_->progress();
  spdlog::debug("session \"{}\": told trial {}; {} iterations, {} evaluations",
                id_, trial_id, progress.iterations, progress.evaluations);
  history_.Update(progress, now);
  if (solver_->finished()) {
    ledger_.Finish();
    if (finish_time_ == absl::InfiniteFuture()) {
      finish_time_ = now;
      final_state_ = SessionStateFor(solver_->summary().reason);
      spdlog::info("session \"{}\" finished ({}) after {:.3f} s: {}", id_,
                   std::string(StateName(final_state_)), WallSeconds(),
                   solver_->summary().BriefReport());
    }
  }
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

absl::Status Session::RetireForSwitch(int64_t tells) {
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  if (durability_.tells() != tells ||
      StateLocked() != v1::SESSION_STATE_RUNNING) {
    return absl::AbortedError(
        absl::StrCat("session \"", id_, "\" changed during the switch (",
                     durability_.tells(), " tells applied, ", tells,
                     " read): switch again"));
  }
  switched_ = true;
  return absl::OkStatus();
}

void Session::CancelRetire() {
  absl::MutexLock lock(&mu_);
  switched_ = false;
}

uint64_t Session::last_trial_id() const {
  absl::MutexLock lock(&mu_);
  return ledger_.last_trial_id();
}

void Session::Delete() {
  absl::MutexLock lock(&mu_);
  if (deleted_) return;
  final_state_ = StateLocked();
  deleted_ = true;
  solver_.reset();  // frees the state now, whoever still holds the session
  ledger_.Finish();
  trial_log_.Clear();
}

template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::CreateSessionResponse*);
template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::ImportSessionResponse*);
template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::ForkSessionResponse*);
template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::DiagnoseResponse*);
template absl::Status Session::WriteTrials(v1::VectorEncoding,
                                           v1::SwitchSolverResponse*);
template absl::Status Session::Ask(v1::VectorEncoding, v1::AskResponse*, bool);
template absl::Status Session::Ask(v1::VectorEncoding, v1::OptimizeResponse*,
                                   bool);
template absl::Status Session::Tell(const v1::TellRequest&, v1::TellResponse*,
                                    DurableTicket*, TellStats*);
template absl::Status Session::Tell(const v1::TellRequest&,
                                    v1::OptimizeResponse*, DurableTicket*,
                                    TellStats*);

}  // namespace optd::server
