#include "server/session/trial_log.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/solver_factory.h"

namespace optd::server {

v1::TrialRecord TrialLog::Record(const v1::TellRequest& request,
                                 const Solver& solver, int k,
                                 const ConstVectorView& gradient,
                                 bool keep_point, absl::Time now) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  v1::TrialRecord record;
  record.set_trial_id(request.trial_id());
  record.set_wants(EvaluationToProto(solver.batch_wants(k)));
  if (keep_point) {
    // A failure leaves x unset; the record is still worth keeping.
    WriteTrialPoint(solver, v1::VECTOR_ENCODING_VALUES, record.mutable_x(), k)
        .IgnoreError();
  }
  const bool failed = request.failed() ||
                      (request.has_value() && !std::isfinite(request.value()));
  record.set_failed(failed);
  record.set_value(request.has_value() && !failed ? request.value() : kNaN);
  double gmax = kNaN;
  if (!failed && gradient.size() > 0 && gradient.size() <= kMaxGradientNorm) {
    gmax = 0.0;
    for (int64_t i = 0; i < gradient.size(); ++i) {
      gmax = std::max(gmax, std::abs(gradient.Get(i)));
    }
  }
  record.set_gradient_max_norm(gmax);
  record.set_worker_id(request.worker_id());
  record.set_note(request.note());
  record.set_weight(request.has_weight() ? request.weight() : 1.0);
  TimeToProto(now, record.mutable_time());
  return record;
}

void TrialLog::Append(v1::TrialRecord record) {
  bytes_ += record.ByteSizeLong();
  memory_ += static_cast<int64_t>(record.SpaceUsedLong());
  records_.push_back(std::move(record));
  while (bytes_ > kMaxBytes && records_.size() > 1) {
    bytes_ -= records_.front().ByteSizeLong();
    memory_ -= static_cast<int64_t>(records_.front().SpaceUsedLong());
    records_.pop_front();
    ++dropped_;
  }
}

bool TrialLog::WorkerToldSince(absl::string_view worker,
                               uint64_t first_id) const {
  bool told = false;
  for (auto it = records_.rbegin();
       it != records_.rend() && it->trial_id() >= first_id; ++it) {
    if (it->worker_id() == worker) told = true;
  }
  return told;
}

void TrialLog::WriteAfter(uint64_t trials_after_id, v1::Session* out) const {
  for (const v1::TrialRecord& record : records_) {
    if (record.trial_id() > trials_after_id) *out->add_trial_log() = record;
  }
  out->set_trial_log_dropped(dropped_);
}

void TrialLog::WriteCheckpoint(v1::SessionCheckpoint* checkpoint) const {
  const size_t skipped =
      records_.size() - std::min(records_.size(), kCheckpointRecords);
  for (size_t i = skipped; i < records_.size(); ++i) {
    *checkpoint->add_trial_log() = records_[i];
  }
  checkpoint->set_trial_log_dropped(dropped_ + static_cast<int64_t>(skipped));
}

void TrialLog::Restore(const v1::SessionCheckpoint& checkpoint) {
  records_.assign(checkpoint.trial_log().begin(), checkpoint.trial_log().end());
  bytes_ = 0;
  int64_t memory = 0;
  for (const v1::TrialRecord& record : records_) {
    bytes_ += record.ByteSizeLong();
    memory += static_cast<int64_t>(record.SpaceUsedLong());
  }
  memory_ = memory;
  dropped_ = checkpoint.trial_log_dropped();
}

void TrialLog::Clear() {
  records_.clear();
  bytes_ = 0;
  memory_ = 0;
}

void History::Update(const Progress& progress, absl::Time now) {
  if (progress.iterations <= iterations_) return;
  iterations_ = progress.iterations;
  const Point point{progress.iterations,    progress.evaluations,
                    progress.best_value,    progress.gradient_max_norm,
                    progress.last_step,     now,
                    progress.current_value, progress.trust_radius};
  points_.push_back(point);
  if (points_.size() > kLength) points_.pop_front();
  Record(point);
}

void History::Record(const Point& point) {
  if (!std::isnan(point.value) && (!best_ || point.value < best_->value)) {
    best_ = point;
  }
  const int64_t k = recorded_++;
  if (k % stride_ != 0) return;
  overview_.push_back(point);
  if (overview_.size() <= kOverviewLength) return;
  // Keep the ordinals that are multiples of 2 * stride_: the even indices.
  // This moves 257 points once per 256 * stride_ recorded: O(1) amortized.
  size_t kept = 0;
  for (size_t i = 0; i < overview_.size(); i += 2) {
    overview_[kept++] = overview_[i];
  }
  overview_.resize(kept);
  stride_ *= 2;
}

History::Point History::FromProto(const v1::HistoryEntry& entry) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  return {entry.iteration(),
          entry.evaluations(),
          entry.value(),
          entry.gradient_max_norm(),
          entry.step_length(),
          TimeFromProto(entry.time()),
          entry.has_current_value() ? entry.current_value() : kNaN,
          entry.has_trust_radius() ? entry.trust_radius() : kNaN};
}

void History::ToProto(const Point& point, v1::HistoryEntry* entry) {
  entry->set_iteration(point.iteration);
  entry->set_evaluations(point.evaluations);
  entry->set_value(point.value);
  entry->set_gradient_max_norm(point.gradient_max_norm);
  entry->set_step_length(point.step_length);
  TimeToProto(point.time, entry->mutable_time());
  if (!std::isnan(point.current_value)) {
    entry->set_current_value(point.current_value);
  }
  if (!std::isnan(point.trust_radius)) {
    entry->set_trust_radius(point.trust_radius);
  }
}

void History::Write(
    google::protobuf::RepeatedPtrField<v1::HistoryEntry>* out) const {
  for (const Point& point : points_) ToProto(point, out->Add());
}

void History::WriteOverview(
    google::protobuf::RepeatedPtrField<v1::HistoryEntry>* out) const {
  // The best point goes before the first overview point past it, unless the
  // overview kept it (iterations are distinct and increasing).
  bool best_pending = best_.has_value();
  for (const Point& point : overview_) {
    if (best_pending && best_->iteration <= point.iteration) {
      if (best_->iteration < point.iteration) ToProto(*best_, out->Add());
      best_pending = false;
    }
    ToProto(point, out->Add());
  }
  if (best_pending) ToProto(*best_, out->Add());
}

void History::WriteCheckpoint(v1::SessionCheckpoint* checkpoint) const {
  Write(checkpoint->mutable_history());
  checkpoint->set_history_iterations(iterations_);
  for (const Point& point : overview_) {
    ToProto(point, checkpoint->add_history_overview());
  }
  checkpoint->set_history_overview_stride(stride_);
  checkpoint->set_history_overview_recorded(recorded_);
  if (best_) ToProto(*best_, checkpoint->mutable_history_best());
}

void History::Restore(const v1::SessionCheckpoint& checkpoint) {
  points_.clear();
  for (const v1::HistoryEntry& entry : checkpoint.history()) {
    points_.push_back(FromProto(entry));
  }
  iterations_ = checkpoint.history_iterations();
  overview_.clear();
  best_.reset();
  if (checkpoint.history_overview_stride() <= 0) {
    // Written before the overview existed: start it from the recent points.
    stride_ = 1;
    recorded_ = 0;
    for (const Point& point : points_) Record(point);
    return;
  }
  for (const v1::HistoryEntry& entry : checkpoint.history_overview()) {
    overview_.push_back(FromProto(entry));
  }
  stride_ = checkpoint.history_overview_stride();
  recorded_ = checkpoint.history_overview_recorded();
  if (checkpoint.has_history_best()) {
    best_ = FromProto(checkpoint.history_best());
  }
}

}  // namespace optd::server
