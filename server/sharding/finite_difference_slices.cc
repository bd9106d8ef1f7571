#include "server/sharding/finite_difference_slices.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "solvers/adapters/batch_adapter.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/adapters/finite_difference_stencil.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class FiniteDifferenceSlicesAdapter : public TrialBatchAdapter {
 public:
  FiniteDifferenceSlicesAdapter(std::unique_ptr<Solver> inner,
                                const FiniteDifferenceOptions& options,
                                Bounds bounds,
                                std::shared_ptr<ShardGroup> group)
      : TrialBatchAdapter(std::move(inner)),
        options_(options),
        bounds_(std::move(bounds)),
        rel_step_(ResolveRelativeStep(options_.relative_step, options_.scheme,
                                      inner_->state_type())),
        group_(std::move(group)) {}

 protected:
  Evaluation OwnWants(int k) const override { return Evaluation::kValue; }
  absl::Status ReadOwnPoint(int k, const MutableVectorView& out) const override;
  std::optional<PointDelta> OwnPointDelta(int k) const override {
    if (k <= 0 || k >= static_cast<int>(values_.size())) return std::nullopt;
    absl::StatusOr<PointDelta> point = PointAt(k);
    // A slice that cannot be read: ReadOwnPoint answers its error when the
    // point is written whole instead.
    if (!point.ok()) return std::nullopt;
    return *point;
  }
  absl::Status TellOwn(int k, const TrialResult& result) override {
    // A told value that can enter a difference quotient
    // (FiniteDifferenceStencil::TellValue).
    const bool failed = result.failed || !std::isfinite(result.value);
    values_[static_cast<size_t>(k)] = failed ? kNaN : result.value;
    return absl::OkStatus();
  }
  absl::Status FinishOwnBatch() override;
  absl::Status NextGradientBatch() override;
  // As the one-process adapter's (finite_difference.cc): the summaries of a
  // sharded and an unsharded session are the same.
  std::string OwnOptionsReport() const override {
    return absl::StrFormat(
        "    finite differences: %s, relative_step %g, bounds %s\n",
        options_.scheme == FiniteDifferenceScheme::kCentral ? "central"
                                                            : "forward",
        rel_step_, bounds_.any() ? "yes" : "none");
  }

 private:
  // Trial k's (k >= 1) point delta, from the slice that owns it.
  absl::StatusOr<PointDelta> PointAt(int k) const;

  const FiniteDifferenceOptions options_;
  const Bounds bounds_;
  const double rel_step_;
  const std::shared_ptr<ShardGroup> group_;
  // Told values by trial (trial 0: f(x)), NaN where failed or untold.
  std::vector<double> values_;
  // Per slice: the index of its first point among all slices' points (the
  // trial is one more), and the total last.
  std::vector<int64_t> first_point_;
  // A window of one slice's point deltas: (coordinate, value) pairs of its
  // points first .. first + size/2 - 1.
  struct Window {
    int shard = -1;
    int64_t first = 0;
    std::vector<double> pairs;
  };
  mutable Window window_;
};

absl::StatusOr<PointDelta> FiniteDifferenceSlicesAdapter::PointAt(int k) const {
  const int64_t t = k - 1;  // among all slices' points
  // The last slice whose first point is at most t holds it (an empty slice
  // shares its first point with the next).
  const int shard = static_cast<int>(
      std::upper_bound(first_point_.begin(), first_point_.end(), t) -
      first_point_.begin() - 1);
  const int64_t j = t - first_point_[static_cast<size_t>(shard)];
  const int64_t cached = static_cast<int64_t>(window_.pairs.size()) / 2;
  if (window_.shard != shard || j < window_.first ||
      j >= window_.first + cached) {
    const int64_t points = first_point_[static_cast<size_t>(shard) + 1] -
                           first_point_[static_cast<size_t>(shard)];
    const int64_t count = std::min(kStencilPointWindow, points - j);
    window_.shard = -1;
    OPTD_ASSIGN_OR_RETURN(window_.pairs,
                          group_->ReadStencilPoints(shard, j, count));
    window_.shard = shard;
    window_.first = j;
  }
  const size_t at = static_cast<size_t>(2 * (j - window_.first));
  return PointDelta{0, static_cast<int64_t>(window_.pairs[at]),
                    window_.pairs[at + 1]};
}

absl::Status FiniteDifferenceSlicesAdapter::ReadOwnPoint(
    int k, const MutableVectorView& out) const {
  if (k == 0) return inner_->ReadTrialPoint(out);
  // A slice that cannot be read answers its error (UNAVAILABLE: the session
  // is rebuilt when the client retries).
  OPTD_ASSIGN_OR_RETURN(const PointDelta delta, PointAt(k));
  if (out.on_slices()) {
    // The slices hold the inner solver's point, not the moved coordinate
    // (FiniteDifferenceStencil::ReadPoint).
    return absl::UnimplementedError(
        "stencil points are not served from the replicas' slices");
  }
  OPTD_RETURN_IF_ERROR(inner_->ReadTrialPoint(out));
  out.CopyFrom(delta.coordinate, 1, &delta.value);
  return absl::OkStatus();
}

absl::Status FiniteDifferenceSlicesAdapter::NextGradientBatch() {
  OPTD_ASSIGN_OR_RETURN(
      const std::vector<int64_t> points,
      group_->PlanStencil(
          options_.scheme == FiniteDifferenceScheme::kCentral ? 0 : 1,
          rel_step_, bounds_.any() ? &bounds_ : nullptr));
  first_point_.assign(1, 0);
  for (int64_t p : points) first_point_.push_back(first_point_.back() + p);
  const int64_t trials = 1 + first_point_.back();
  if (trials > std::numeric_limits<int>::max()) {
    return absl::InternalError(
        absl::StrCat("a stencil of ", trials, " trials does not fit a batch"));
  }
  window_ = Window();
  values_.assign(static_cast<size_t>(trials), kNaN);
  StartOwnBatch(static_cast<int>(trials));
  return absl::OkStatus();
}

absl::Status FiniteDifferenceSlicesAdapter::FinishOwnBatch() {
  const Evaluation wants = inner_->wants();
  const double f0 = values_[0];
  TrialResult result;
  if (std::isnan(f0)) {
    result.failed = true;
    return inner_->Tell(result);
  }
  // Each slice's values: f(x), then its points'.
  const int shards = static_cast<int>(first_point_.size()) - 1;
  std::vector<std::vector<double>> values(static_cast<size_t>(shards));
  for (int s = 0; s < shards; ++s) {
    std::vector<double>& v = values[static_cast<size_t>(s)];
    v.push_back(f0);
    v.insert(v.end(), values_.begin() + 1 + first_point_[s],
             values_.begin() + 1 + first_point_[s + 1]);
  }
  // A derivative that cannot be formed (FiniteDifferenceStencil::
  // Differentiate) or that the inner solver refuses (one that overflows a
  // float32 state) is a failed evaluation, as in the one-process adapter.
  OPTD_ASSIGN_OR_RETURN(const int64_t bad, group_->CheckStencil(values));
  if (bad >= 0) {
    result.failed = true;
    return inner_->Tell(result);
  }
  group_->set_stencil_values(std::move(values));
  const absl::Status set =
      inner_->SetTrialGradient(ConstVectorView::OnSlices(dimension()));
  group_->set_stencil_values({});
  OPTD_RETURN_IF_ERROR(set);
  result.has_gradient = true;
  if (WantsValue(wants)) result.value = f0;
  return inner_->Tell(result);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferencesOnSlices(
    std::unique_ptr<Solver> inner, const FiniteDifferenceOptions& options,
    Bounds bounds, std::shared_ptr<ShardGroup> group) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  if (group == nullptr) {
    return absl::InvalidArgumentError(
        "finite differences on slices need the session's shard group");
  }
  // An empty Bounds stays empty: the slices plan without bounds, and the
  // home holds no n-vector of infinities.
  OPTD_RETURN_IF_ERROR(CheckFiniteDifferenceInner(inner.get(), bounds));
  return StartAdapter(std::make_unique<FiniteDifferenceSlicesAdapter>(
      std::move(inner), options, std::move(bounds), std::move(group)));
}

int64_t FiniteDifferenceOnSlicesBytes(int64_t n, FiniteDifferenceScheme scheme,
                                      int shards) {
  constexpr int64_t kDouble = sizeof(double);
  // A value and a told flag (TrialBatchAdapter) per trial.
  return FiniteDifferenceTrials(n, scheme) * (kDouble + 1) +
         (int64_t{shards} + 1) * kDouble + 2 * kStencilPointWindow * kDouble;
}

}  // namespace optd::server
