#include "solvers/adapters/data_parallel.h"

#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/adapters/batch_adapter.h"
#include "solvers/sharding/shard_layout.h"
#include "common/status_macros.h"

namespace optd {
namespace {

constexpr absl::string_view kDataParallelTag = "optd.data_parallel.v1";

class DataParallelAdapter : public TrialBatchAdapter {
 public:
  DataParallelAdapter(std::unique_ptr<Solver> inner, int workers)
      : TrialBatchAdapter(std::move(inner)), workers_(workers) {}

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
    ResetSums();
    StartOwnBatch(workers_);
    return absl::OkStatus();
  }
  std::string OwnOptionsReport() const override {
    return absl::StrFormat(
        "    data parallel: %d workers, gradients averaged by weight\n",
        workers_);
  }

 private:
  void ResetSums() {
    staged_trial_ = -1;
    gradient_weight_ = value_sum_ = value_weight_ = 0.0;
  }
  // Adapter words in SaveState after the inner state.
  int64_t AdapterBytes() const;

  int workers_;
  // The gradient set for trial staged_trial_ (-1: none), not yet told.
  std::vector<double> staging_;
  int staged_trial_ = -1;
  // sum_k weight_k g_k over the told, non-failed trials of the batch; its
  // contents are meaningful only while gradient_weight_ > 0.
  std::vector<double> gradient_sum_;
  double gradient_weight_ = 0.0;
  double value_sum_ = 0.0, value_weight_ = 0.0;
};

absl::Status DataParallelAdapter::SetOwnGradient(
    int k, const ConstVectorView& gradient) {
  const int64_t n = dimension();
  // The messages of the inner solvers' SetTrialGradient (shard_layout.h,
  // adam_vectors.cc), so that a client sees the same errors with and without
  // the adapter.
  if (gradient.size() != n) {
    return DimensionError("gradient", gradient.size(), n);
  }
  const bool float32 = state_type() == ScalarType::kFloat32;
  for (int64_t i = 0; i < n; ++i) {
    const double v = gradient.Get(i);
    if (!std::isfinite(v)) return NonFiniteElementError("gradient", i, v);
    if (float32 && !std::isfinite(static_cast<float>(v))) {
      return AdamGradientError(i, v, /*float32=*/true);
    }
  }
  staging_.resize(static_cast<size_t>(n));
  gradient.CopyTo(0, n, staging_.data());
  staged_trial_ = k;
  return absl::OkStatus();
}

absl::Status DataParallelAdapter::CheckOwnResult(
    int k, const TrialResult& result) const {
  if (!(result.weight > 0 && std::isfinite(result.weight))) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight is ", result.weight, "; it must be in (0, inf)"));
  }
  const bool wants_value = WantsValue(inner_->wants());
  const bool failed = result.failed || !result.has_gradient ||
                      (wants_value && !std::isfinite(result.value));
  // Without a staged gradient TellOwn refuses the tell (a bug, not this).
  if (failed || staged_trial_ != k) return absl::OkStatus();
  const double w = result.weight;
  const size_t n = staging_.size();
  // The weighted sums, and the step's mean from them, must stay finite:
  // refused before anything changes (the gradient stays staged).
  for (size_t i = 0; i < n; ++i) {
    const double sum =
        (gradient_weight_ == 0.0 ? 0.0 : gradient_sum_[i]) + w * staging_[i];
    if (!std::isfinite(sum) || !std::isfinite(sum / (gradient_weight_ + w))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weight ", w, " times gradient[", i, "] = ", staging_[i],
          " overflows the step's weighted gradient sum; give weights on "
          "the scale of each worker's share of the data (e.g. its batch "
          "size)"));
    }
  }
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

absl::Status DataParallelAdapter::TellOwn(int k, const TrialResult& result) {
  if (result.has_gradient && staged_trial_ != k) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", k, " tells a gradient that was not set (SetBatchGradient)"));
  }
  OPTD_RETURN_IF_ERROR(CheckOwnResult(k, result));
  const bool wants_value = WantsValue(inner_->wants());
  const bool failed = result.failed || !result.has_gradient ||
                      (wants_value && !std::isfinite(result.value));
  const double w = result.weight;
  const size_t n = staging_.size();
  if (result.has_gradient) staged_trial_ = -1;
  if (failed) return absl::OkStatus();
  if (gradient_weight_ == 0.0) {
    gradient_sum_.resize(n);
    for (size_t i = 0; i < n; ++i) gradient_sum_[i] = w * staging_[i];
  } else {
    for (size_t i = 0; i < n; ++i) gradient_sum_[i] += w * staging_[i];
  }
  gradient_weight_ += w;
  if (std::isfinite(result.value)) {
    value_sum_ += w * result.value;
    value_weight_ += w;
  }
  return absl::OkStatus();
}

absl::Status DataParallelAdapter::FinishOwnBatch() {
  TrialResult result;
  if (gradient_weight_ == 0.0) {
    result.failed = true;
    return inner_->Tell(result);
  }
  // The mean in place: the sum is rebuilt from the first told gradient of
  // the next batch.
  for (double& g : gradient_sum_) g /= gradient_weight_;
  OPTD_RETURN_IF_ERROR(inner_->SetTrialGradient(
      ConstVectorView::Float64(gradient_sum_.data(), dimension())));
  result.has_gradient = true;
  if (value_weight_ > 0) result.value = value_sum_ / value_weight_;
  gradient_weight_ = 0.0;
  return inner_->Tell(result);
}

// SaveState's layout, after the tag: the inner state's length and bytes, then
// little-endian 8-byte words: evaluations, own batch (0/1), batch size,
// gradient weight, value sum, value weight; the told flags (one byte each);
// and the gradient sum (n doubles) when the gradient weight is > 0.
int64_t DataParallelAdapter::AdapterBytes() const {
  return 6 * 8 + static_cast<int64_t>(told_.size()) +
         (!pass_through_ && gradient_weight_ > 0 ? 8 * dimension() : 0);
}

int64_t DataParallelAdapter::StateBytes() const {
  const int64_t inner = inner_->StateBytes();
  if (inner == 0) return 0;
  return static_cast<int64_t>(kDataParallelTag.size()) + 8 + inner +
         AdapterBytes();
}

absl::Status DataParallelAdapter::SaveState(std::string* out) const {
  std::string inner;
  OPTD_RETURN_IF_ERROR(inner_->SaveState(&inner));
  out->clear();
  out->reserve(kDataParallelTag.size() + 8 + inner.size() +
               static_cast<size_t>(AdapterBytes()));
  const auto word = [out](auto value) {
    static_assert(sizeof(value) == 8);
    char bytes[8];
    std::memcpy(bytes, &value, 8);
    out->append(bytes, 8);
  };
  out->append(kDataParallelTag.data(), kDataParallelTag.size());
  word(static_cast<int64_t>(inner.size()));
  out->append(inner);
  word(evaluations_);
  word(static_cast<int64_t>(pass_through_ ? 0 : 1));
  word(static_cast<int64_t>(told_.size()));
  word(gradient_weight_);
  word(value_sum_);
  word(value_weight_);
  out->append(told_.data(), told_.size());
  if (!pass_through_ && gradient_weight_ > 0) {
    out->append(reinterpret_cast<const char*>(gradient_sum_.data()),
                8 * gradient_sum_.size());
  }
  return absl::OkStatus();
}

absl::Status DataParallelAdapter::RestoreState(std::string_view state) {
  if (evaluations_ > 0 || inner_->finished()) {
    return absl::FailedPreconditionError(
        "RestoreState needs a solver that was told nothing yet");
  }
  const auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state is not an ", kDataParallelTag,
                     " state of this session: ", why));
  };
  size_t offset = kDataParallelTag.size();
  if (state.size() < offset + 8 ||
      absl::string_view(state.data(), kDataParallelTag.size()) !=
          kDataParallelTag) {
    return bad("wrong tag");
  }
  const auto word = [&](auto* value) {
    std::memcpy(value, state.data() + offset, 8);
    offset += 8;
  };
  int64_t inner_size;
  word(&inner_size);
  if (state.size() < offset + 6 * 8 || inner_size < 0 ||
      static_cast<uint64_t>(inner_size) > state.size() - offset - 6 * 8) {
    return bad("inner state length");
  }
  const std::string_view inner = state.substr(offset, inner_size);
  offset += inner_size;
  int64_t evaluations, own, size;
  double gradient_weight, value_sum, value_weight;
  word(&evaluations);
  word(&own);
  word(&size);
  word(&gradient_weight);
  word(&value_sum);
  word(&value_weight);
  const bool own_batch = own == 1;
  const int64_t sum_bytes =
      own_batch && gradient_weight > 0 ? 8 * dimension() : 0;
  if (evaluations < 0 || (own != 0 && own != 1) ||
      size != (own_batch ? workers_ : 0) ||
      static_cast<int64_t>(state.size() - offset) != size + sum_bytes) {
    return bad("adapter words");
  }
  // The sums TellOwn keeps finite (a non-finite mean would reach the inner
  // solver as a gradient it refuses).
  if (!(gradient_weight >= 0 && std::isfinite(gradient_weight)) ||
      !(value_weight >= 0 && std::isfinite(value_weight)) ||
      !std::isfinite(value_sum)) {
    return bad("non-finite or negative sums");
  }
  for (int64_t i = 0; i < sum_bytes / 8; ++i) {
    double element;
    std::memcpy(&element, state.data() + offset + size + 8 * i, 8);
    if (!std::isfinite(element) || !std::isfinite(element / gradient_weight)) {
      return bad("a gradient sum whose mean is not finite");
    }
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
    if (sum_bytes > 0) {
      gradient_sum_.resize(static_cast<size_t>(dimension()));
      std::memcpy(gradient_sum_.data(), state.data() + offset, sum_bytes);
    }
  }
  SyncSummary();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Solver>> WithDataParallel(
    std::unique_ptr<Solver> inner, int workers) {
  if (workers < 2 || workers > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_parallel.workers is ", workers, "; it must be in [2, 1024]"));
  }
  OPTD_RETURN_IF_ERROR(CheckInnerSolver(inner.get()));
  return StartAdapter(
      std::make_unique<DataParallelAdapter>(std::move(inner), workers));
}

int64_t DataParallelBytes(int64_t n, int workers) {
  return 2 * n * static_cast<int64_t>(sizeof(double)) + workers;
}

}  // namespace optd
