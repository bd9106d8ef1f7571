// Session's read side (session.h): what GetSession and ListSessions show of
// a session, from its solver, ledger, trial log and durability under the
// session's one lock. The rest of Session is in session.cc.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/session.h"

namespace optd::server {

absl::Status Session::ReadPoint(bool best, std::vector<double>* x) {
  absl::MutexLock lock(&mu_);
  OPTD_RETURN_IF_ERROR(CheckNotDeleted());
  x->assign(dimension_, 0.0);
  const MutableVectorView view =
      MutableVectorView::Float64(x->data(), dimension_);
  if (best || solver_->finished()) return solver_->ReadBestPoint(view);
  return solver_->ReadBatchPoint(0, view);
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
  for (uint64_t trial_id : ledger_.OutstandingIds(*solver_)) {
    out->add_pending_trial_ids(trial_id);
  }
  out->set_tells(durability_.tells());
  out->set_durable_step(durability_.durable_step());
  out->mutable_durability()->set_checkpoint_interval(
      settings_.checkpoint_interval);
  out->set_ttl_seconds(absl::ToDoubleSeconds(settings_.ttl));
  out->set_lease_seconds(absl::ToDoubleSeconds(settings_.lease));
  const absl::Time now = absl::Now();
  for (const auto& [trial_id, held] : ledger_.leases()) {
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
  v1::GetSessionRequest request;
  request.set_include_x(include_x);
  request.set_encoding(encoding);
  request.set_include_trials(include_trials);
  request.set_trials_after_id(trials_after_id);
  return Describe(request, out);
}

absl::Status Session::Describe(const v1::GetSessionRequest& request,
                               v1::Session* out) {
  const bool include_x = request.include_x();
  const v1::VectorEncoding encoding = request.encoding();
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
  history_.Write(out->mutable_history());
  if (request.include_history_overview()) {
    history_.WriteOverview(out->mutable_history_overview());
  }
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
  if (request.include_trials()) {
    trial_log_.WriteAfter(request.trials_after_id(), out);
  }
  if (request.include_gradient()) {
    OPTD_RETURN_IF_ERROR(WriteBestGradient(*solver_,
                                           ResolveEncoding(encoding, encoding_),
                                           out->mutable_best_gradient()));
  }
  if (request.include_curvature_pairs()) {
    OPTD_RETURN_IF_ERROR(
        WriteCurvaturePairs(*solver_, out->mutable_curvature_pairs()));
  }
  if (solver_->finished()) {
    OPTD_RETURN_IF_ERROR(SummaryToProto(solver_->summary(), WallSeconds(),
                                        *solver_, x_encoding,
                                        out->mutable_summary()));
  }
  return absl::OkStatus();
}

}  // namespace optd::server
