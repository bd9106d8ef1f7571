#include "solvers/adam/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace optd {

absl::Status LrScheduleOptions::Validate(double lr, const char* prefix) const {
  if (warmup_steps < 0 || warmup_steps > (int64_t{1} << 53)) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "warmup_steps is ", warmup_steps, "; it must be in [0, 2^53]"));
  }
  if (!(warmup_start_factor > 0 && warmup_start_factor <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "warmup_start_factor is ", warmup_start_factor,
                     "; it must be in (0, 1]"));
  }
  if (decay == Decay::kCosine &&
      (decay_steps < 1 || decay_steps > (int64_t{1} << 53))) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, "decay_steps is ", decay_steps,
                     "; the cosine decay needs it in [1, 2^53]"));
  }
  if (!(min_lr >= 0 && min_lr <= lr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, "min_lr is ", min_lr, "; it must be in [0, lr = ", lr, "]"));
  }
  return absl::OkStatus();
}

double ScheduledLearningRate(const LrScheduleOptions& options, double lr,
                             int64_t step) {
  const int64_t t = step - 1;
  if (options.warmup_steps > 0 && t < options.warmup_steps) {
    // torch LinearLR: start + (end - start) * min(total, epoch) / total, end
    // = 1.
    const double s = options.warmup_start_factor;
    return lr * (s + (1.0 - s) * static_cast<double>(t) /
                         static_cast<double>(options.warmup_steps));
  }
  if (options.decay == LrScheduleOptions::Decay::kConstant) return lr;
  const int64_t u = std::min(t - options.warmup_steps, options.decay_steps);
  constexpr double kPi = 3.14159265358979323846;
  return options.min_lr +
         (lr - options.min_lr) *
             (1.0 + std::cos(kPi * static_cast<double>(u) /
                             static_cast<double>(options.decay_steps))) /
             2.0;
}

}  // namespace optd
