#include "server/sharding/data_parallel_slices.h"

#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/adapters/batch_adapter.h"
#include "solvers/sharding/shard_layout.h"

namespace optd::server {
namespace {

constexpr absl::string_view kTag = "optd.data_parallel_slices.v1";

// The in-process adapter's message for a weighted sum that overflows
// (solvers/adapters/data_parallel.cc CheckOwnResult).
absl::Status SumOverflowError(double w, int64_t i, double element) {
  return absl::InvalidArgumentError(absl::StrCat(
      "weight ", w, " times gradient[", i, "] = ", element,
      " overflows the step's weighted gradient sum; give weights on the "
      "scale of each worker's share of the data (e.g. its batch size)"));
}

class DataParallelSlicesAdapter : public TrialBatchAdapter {
 public:
  DataParallelSlicesAdapter(std::unique_ptr<Solver> inner, int workers,
                            std::shared_ptr<ShardGroup> group)
      : TrialBatchAdapter(std::move(inner)),
        workers_(workers),
        group_(std::move(group)) {}

  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;

 protected:
  Evaluation OwnWants(int k) const override { return inner_->wants(); }
  absl::Status ReadOwnPoint(int k,
                            const MutableVectorView& out) const override {
    return inner_->ReadTrialPoint(out);  // every worker evaluates the same x
  }
  std::optional<PointDelta> OwnPointDelta(int k) const override {
    if (k == 0) return std::nullopt;
    return PointDelta{0, -1, 0.0};  // trial 0's point
  }
  absl::Status SetOwnGradient(int k, const ConstVectorView& gradient) override;
  absl::Status CheckOwnResult(int k, const TrialResult& result) const override;
  absl::Status TellOwn(int k, const TrialResult& result) override;
  absl::Status FinishOwnBatch() override;
  absl::Status NextGradientBatch() override {
    ResetStep();
    StartOwnBatch(workers_);
    return absl::OkStatus();
  }
  std::string OwnOptionsReport() const override {
    return absl::StrFormat(
        "    data parallel: %d workers, gradients averaged by weight on the "
        "slices\n",
        workers_);
  }

 private:
  void ResetStep() {
    staged_k_ = -1;
    staged_trial_ = 0;
    trials_.clear();
    weights_.clear();
    gradient_weight_ = value_sum_ = value_weight_ = 0.0;
  }
  bool Failed(const TrialResult& result) const {
    return result.failed || !result.has_gradient ||
           (WantsValue(inner_->wants()) && !std::isfinite(result.value));
  }
  // The slices' check of adding the staged gradient with weight w.
  absl::Status CheckOnSlices(double w) const;
  int64_t AdapterBytes() const;

  const int workers_;
  const std::shared_ptr<ShardGroup> group_;
  // The own trial whose gradient is staged on the slices (-1: none) and its
  // trial id, not yet told.
  int staged_k_ = -1;
  uint64_t staged_trial_ = 0;
  // The step's told, non-failed trials in tell order and their weights: the
  // slices sum their staged gradients in this order.
  std::vector<uint64_t> trials_;
  std::vector<double> weights_;
  double gradient_weight_ = 0.0;
  double value_sum_ = 0.0, value_weight_ = 0.0;
};

absl::Status DataParallelSlicesAdapter::SetOwnGradient(
    int k, const ConstVectorView& gradient) {
  const int64_t n = dimension();
  if (gradient.size() != n) {
    return DimensionError("gradient", gradient.size(), n);
  }
  const uint64_t trial = group_->told_trial();
  if (!gradient.on_slices()) {
    // Through the home: the in-process adapter's checks, then each slice
    // keeps its range (a client on the direct path sent it there, and the
    // replica checked it).
    const bool float32 = state_type() == ScalarType::kFloat32;
    for (int64_t i = 0; i < n; ++i) {
      const double v = gradient.Get(i);
      if (!std::isfinite(v)) return NonFiniteElementError("gradient", i, v);
      if (float32 && !std::isfinite(static_cast<float>(v))) {
        return AdamGradientError(i, v, /*float32=*/true);
      }
    }
    OPTD_RETURN_IF_ERROR(group_->StageGradient(trial, gradient));
  }
  staged_k_ = k;
  staged_trial_ = trial;
  return absl::OkStatus();
}

absl::Status DataParallelSlicesAdapter::CheckOnSlices(double w) const {
  std::vector<uint64_t> trials = trials_;
  std::vector<double> weights = weights_;
  trials.push_back(staged_trial_);
  weights.push_back(w);
  OPTD_ASSIGN_OR_RETURN(std::vector<v1::SliceOpResponse> answers,
                        group_->DataParallelAdd(trials, weights));
  const std::vector<ShardPlacement> placements = group_->placements();
  for (size_t shard = 0; shard < answers.size(); ++shard) {
    const v1::SliceOpResponse& a = answers[shard];
    if (a.missing()) {
      const ShardPlacement& p = placements[shard];
      return absl::FailedPreconditionError(absl::StrCat(
          "the tell is sliced but replica ", p.replica, " (", p.address,
          ") has no gradient slice of trial ", staged_trial_, " for shard ",
          shard, " [", p.range.begin, ", ", p.range.end,
          "); PutSlice it there, then tell again"));
    }
  }
  // Slices are in index order: the first reported is the global first.
  for (const v1::SliceOpResponse& a : answers) {
    if (a.bad_index() >= 0) {
      return AdamGradientError(a.bad_index(), a.overflow_element(),
                               /*float32=*/true);
    }
    if (a.overflow_index() >= 0) {
      return SumOverflowError(w, a.overflow_index(), a.overflow_element());
    }
  }
  return absl::OkStatus();
}

absl::Status DataParallelSlicesAdapter::CheckOwnResult(
    int k, const TrialResult& result) const {
  if (!(result.weight > 0 && std::isfinite(result.weight))) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight is ", result.weight, "; it must be in (0, inf)"));
  }
  // Without a staged gradient TellOwn refuses the tell (a bug, not this).
  if (Failed(result) || staged_k_ != k) return absl::OkStatus();
  const double w = result.weight;
  OPTD_RETURN_IF_ERROR(CheckOnSlices(w));
  if (!std::isfinite(gradient_weight_ + w) ||
      (std::isfinite(result.value) &&
       !std::isfinite(value_sum_ + w * result.value))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight ", w,
        " overflows the step's weighted sums of weights or "
        "values; give weights on the scale of each worker's share of the "
        "data (e.g. its batch size)"));
  }
  return absl::OkStatus();
}

absl::Status DataParallelSlicesAdapter::TellOwn(int k,
                                                const TrialResult& result) {
  if (result.has_gradient && staged_k_ != k) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", k, " tells a gradient that was not set (SetBatchGradient)"));
  }
  OPTD_RETURN_IF_ERROR(CheckOwnResult(k, result));
  const bool failed = Failed(result);
  const double w = result.weight;
  const uint64_t trial = staged_trial_;
  if (result.has_gradient) staged_k_ = -1;
  if (failed) return absl::OkStatus();
  trials_.push_back(trial);
  weights_.push_back(w);
  gradient_weight_ += w;
  if (std::isfinite(result.value)) {
    value_sum_ += w * result.value;
    value_weight_ += w;
  }
  return absl::OkStatus();
}

absl::Status DataParallelSlicesAdapter::FinishOwnBatch() {
  TrialResult result;
  if (gradient_weight_ == 0.0) {
    result.failed = true;
    return inner_->Tell(result);
  }
  // Each slice forms the mean of the staged gradients for its range.
  group_->set_data_parallel_mean(trials_, weights_);
  const absl::Status set =
      inner_->SetTrialGradient(ConstVectorView::OnSlices(dimension()));
  group_->set_data_parallel_mean({}, {});
  OPTD_RETURN_IF_ERROR(set);
  result.has_gradient = true;
  if (value_weight_ > 0) result.value = value_sum_ / value_weight_;
  gradient_weight_ = 0.0;
  trials_.clear();
  weights_.clear();
  return inner_->Tell(result);
}

// SaveState's layout, after the tag: the inner state's length and bytes, then
// little-endian 8-byte words: evaluations, own batch (0/1), batch size,
// gradient weight, value sum, value weight, told trials m; the told flags
// (one byte each); and m (trial id, weight) pairs in tell order.
int64_t DataParallelSlicesAdapter::AdapterBytes() const {
  return 7 * 8 + static_cast<int64_t>(told_.size()) +
         16 * static_cast<int64_t>(trials_.size());
}

int64_t DataParallelSlicesAdapter::StateBytes() const {
  const int64_t inner = inner_->StateBytes();
  if (inner == 0) return 0;
  return static_cast<int64_t>(kTag.size()) + 8 + inner + AdapterBytes();
}

absl::Status DataParallelSlicesAdapter::SaveState(std::string* out) const {
  std::string inner;
  OPTD_RETURN_IF_ERROR(inner_->SaveState(&inner));
  out->clear();
  out->reserve(kTag.size() + 8 + inner.size() +
               static_cast<size_t>(AdapterBytes()));
  const auto word = [out](auto value) {
    static_assert(sizeof(value) == 8);
    char bytes[8];
    std::memcpy(bytes, &value, 8);
    out->append(bytes, 8);
  };
  out->append(kTag.data(), kTag.size());
  word(static_cast<int64_t>(inner.size()));
  out->append(inner);
  word(evaluations_);
  word(static_cast<int64_t>(pass_through_ ? 0 : 1));
  word(static_cast<int64_t>(told_.size()));
  word(gradient_weight_);
  word(value_sum_);
  word(value_weight_);
  word(static_cast<int64_t>(trials_.size()));
  out->append(told_.data(), told_.size());
  for (size_t j = 0; j < trials_.size(); ++j) {
    word(trials_[j]);
    word(weights_[j]);
  }
  return absl::OkStatus();
}

absl::Status DataParallelSlicesAdapter::RestoreState(std::string_view state) {
  if (evaluations_ > 0 || inner_->finished()) {
    return absl::FailedPreconditionError(
        "RestoreState needs a solver that was told nothing yet");
  }
  const auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the state is not an ", kTag, " state of this session: ", why));
  };
  size_t offset = kTag.size();
  if (state.size() < offset + 8 ||
      absl::string_view(state.data(), kTag.size()) != kTag) {
    return bad("wrong tag");
  }
  const auto word = [&](auto* value) {
    std::memcpy(value, state.data() + offset, 8);
    offset += 8;
  };
  int64_t inner_size;
  word(&inner_size);
  if (state.size() < offset + 7 * 8 || inner_size < 0 ||
      static_cast<uint64_t>(inner_size) > state.size() - offset - 7 * 8) {
    return bad("inner state length");
  }
  const std::string_view inner = state.substr(offset, inner_size);
  offset += inner_size;
  int64_t evaluations, own, size, told;
  double gradient_weight, value_sum, value_weight;
  word(&evaluations);
  word(&own);
  word(&size);
  word(&gradient_weight);
  word(&value_sum);
  word(&value_weight);
  word(&told);
  const bool own_batch = own == 1;
  if (evaluations < 0 || (own != 0 && own != 1) ||
      size != (own_batch ? workers_ : 0) || told < 0 || told > size ||
      (told > 0) != (gradient_weight > 0) ||
      static_cast<int64_t>(state.size() - offset) != size + 16 * told) {
    return bad("adapter words");
  }
  if (!(gradient_weight >= 0 && std::isfinite(gradient_weight)) ||
      !(value_weight >= 0 && std::isfinite(value_weight)) ||
      !std::isfinite(value_sum)) {
    return bad("non-finite or negative sums");
  }
  OPTD_RETURN_IF_ERROR(inner_->RestoreState(inner));
  evaluations_ = evaluations;
  OPTD_RETURN_IF_ERROR(InnerMovedOn());
  if (pass_through_ == own_batch && !inner_->finished()) {
    return bad("the batch does not match the inner solver's trial");
  }
  if (own_batch && !inner_->finished()) {
    for (int k = 0; k < workers_; ++k) {
      told_[k] = state[offset + k] != 0 ? 1 : 0;
      untold_ -= told_[k];
    }
    offset += workers_;
    gradient_weight_ = gradient_weight;
    value_sum_ = value_sum;
    value_weight_ = value_weight;
    for (int64_t j = 0; j < told; ++j) {
      uint64_t trial;
      double weight;
      word(&trial);
      word(&weight);
      if (!(weight > 0 && std::isfinite(weight))) {
        return bad("a told weight outside (0, inf)");
      }
      trials_.push_back(trial);
      weights_.push_back(weight);
    }
  }
  SyncSummary();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Solver>> WithDataParallelOnSlices(
    std::unique_ptr<Solver> inner, int workers,
    std::shared_ptr<ShardGroup> group) {
  if (workers < 2 || workers > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_parallel.workers is ", workers, "; it must be in [2, 1024]"));
  }
  if (group == nullptr) {
    return absl::InvalidArgumentError(
        "data parallelism on slices needs the session's shard group");
  }
  OPTD_RETURN_IF_ERROR(CheckInnerSolver(inner.get()));
  return StartAdapter(std::make_unique<DataParallelSlicesAdapter>(
      std::move(inner), workers, std::move(group)));
}

}  // namespace optd::server
