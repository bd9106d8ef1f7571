#include "server/sharding/data_parallel_sum.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd::server {
namespace {

// Element i of a staged gradient's raw bytes, widened to double as the
// in-process adapter widens a told float32 gradient (ConstVectorView::CopyTo).
double ElementAt(const std::string& bytes, bool float32, int64_t i) {
  if (float32) {
    float v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return static_cast<double>(v);
  }
  double v;
  std::memcpy(&v, bytes.data() + 8 * i, 8);
  return v;
}

absl::Status CheckLengths(const v1::SliceOpRequest& op) {
  if (op.data_parallel_trials_size() == 0 ||
      op.data_parallel_trials_size() != op.data_parallel_weights_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_parallel_trials has ", op.data_parallel_trials_size(),
        " trials and data_parallel_weights ", op.data_parallel_weights_size(),
        " weights; a data-parallel step names at least one trial, each with "
        "its weight"));
  }
  return absl::OkStatus();
}

}  // namespace

void DataParallelSum::Accumulate(const std::string& bytes, bool float32,
                                 double w, bool first) {
  const size_t n = sum_.size();
  // The in-process adapter's TellOwn: sum = w g for the first, then
  // sum += w g (solvers/adapters/data_parallel.cc).
  if (first) {
    for (size_t i = 0; i < n; ++i) sum_[i] = w * ElementAt(bytes, float32, i);
  } else {
    for (size_t i = 0; i < n; ++i) sum_[i] += w * ElementAt(bytes, float32, i);
  }
}

absl::Status DataParallelSum::SumThrough(StagedStore& store,
                                         StagedVectors& staged,
                                         const ShardRange& range,
                                         const std::vector<uint64_t>& trials,
                                         const std::vector<double>& weights,
                                         size_t count, bool* missing) {
  *missing = false;
  bool prefix = trials_.size() <= count;
  for (size_t j = 0; prefix && j < trials_.size(); ++j) {
    prefix = trials_[j] == trials[j] && weights_[j] == weights[j];
  }
  if (!prefix) {
    trials_.clear();
    weights_.clear();
    total_ = 0.0;
  }
  sum_.resize(static_cast<size_t>(range.size()));
  for (size_t j = trials_.size(); j < count; ++j) {
    bool float32 = false;
    OPTD_ASSIGN_OR_RETURN(
        std::string bytes,
        store.ReadGradient(staged, trials[j], &float32, missing));
    if (*missing) return absl::OkStatus();
    Accumulate(bytes, float32, weights[j], /*first=*/j == 0);
    trials_.push_back(trials[j]);
    weights_.push_back(weights[j]);
    total_ += weights[j];
  }
  return absl::OkStatus();
}

absl::Status DataParallelSum::Add(StagedStore& store, StagedVectors& staged,
                                  const v1::CreateSliceRequest& spec,
                                  const ShardRange& range,
                                  const v1::SliceOpRequest& op,
                                  v1::SliceOpResponse* answer) {
  OPTD_RETURN_IF_ERROR(CheckLengths(op));
  answer->set_overflow_index(-1);
  // An empty slice (fewer blocks than shards) holds no element.
  if (range.size() == 0) return absl::OkStatus();
  const std::vector<uint64_t> trials(op.data_parallel_trials().begin(),
                                     op.data_parallel_trials().end());
  const std::vector<double> weights(op.data_parallel_weights().begin(),
                                    op.data_parallel_weights().end());
  const size_t before = trials.size() - 1;
  if (trials_ == trials && weights_ == weights) {
    return absl::OkStatus();  // checked when it was added (a repeat)
  }
  bool missing = false;
  OPTD_RETURN_IF_ERROR(
      SumThrough(store, staged, range, trials, weights, before, &missing));
  bool float32 = false;
  std::string bytes;
  if (!missing) {
    OPTD_ASSIGN_OR_RETURN(
        bytes, store.ReadGradient(staged, trials.back(), &float32, &missing));
  }
  if (missing) {
    answer->set_missing(true);
    return absl::OkStatus();
  }
  const int64_t n = range.size();
  if (spec.float32()) {
    // The float32 state's check of a told gradient (AdamGradientError).
    for (int64_t i = 0; i < n; ++i) {
      const double g = ElementAt(bytes, float32, i);
      if (!std::isfinite(static_cast<float>(g))) {
        answer->set_bad_index(range.begin + i);
        answer->set_overflow_element(g);
        return absl::OkStatus();
      }
    }
  }
  // The in-process adapter's CheckOwnResult: the sum and its mean stay
  // finite, or nothing changes.
  const double w = weights.back();
  const double total = total_ + w;
  for (int64_t i = 0; i < n; ++i) {
    const double g = ElementAt(bytes, float32, i);
    const double sum = (before == 0 ? 0.0 : sum_[i]) + w * g;
    if (!std::isfinite(sum) || !std::isfinite(sum / total)) {
      answer->set_overflow_index(range.begin + i);
      answer->set_overflow_element(g);
      return absl::OkStatus();
    }
  }
  Accumulate(bytes, float32, w, /*first=*/before == 0);
  // Told: a PutSlice for it must repeat these values from now on.
  store.ConsumeGradients(staged, {trials.back()}, /*drop_unused=*/false);
  trials_.push_back(trials.back());
  weights_.push_back(w);
  total_ = total;
  return absl::OkStatus();
}

absl::StatusOr<std::string> DataParallelSum::Mean(StagedStore& store,
                                                  StagedVectors& staged,
                                                  const ShardRange& range,
                                                  const v1::SliceOpRequest& op,
                                                  bool* missing) {
  OPTD_RETURN_IF_ERROR(CheckLengths(op));
  *missing = false;
  if (range.size() == 0) return std::string();
  const std::vector<uint64_t> trials(op.data_parallel_trials().begin(),
                                     op.data_parallel_trials().end());
  const std::vector<double> weights(op.data_parallel_weights().begin(),
                                    op.data_parallel_weights().end());
  OPTD_RETURN_IF_ERROR(SumThrough(store, staged, range, trials, weights,
                                  trials.size(), missing));
  if (*missing) return std::string();
  // The in-process adapter's FinishOwnBatch: g /= the total weight.
  std::string mean(8 * sum_.size(), '\0');
  for (size_t i = 0; i < sum_.size(); ++i) {
    const double m = sum_[i] / total_;
    std::memcpy(mean.data() + 8 * i, &m, 8);
  }
  store.ConsumeGradients(staged, trials, /*drop_unused=*/true);
  // The next step sums anew; the slice holds no sum between steps.
  trials_.clear();
  weights_.clear();
  total_ = 0.0;
  std::vector<double>().swap(sum_);
  return mean;
}

}  // namespace optd::server
