// Learning-rate schedules for first-order solvers, in the closed forms of
// torch.optim.lr_scheduler (torch 1.13 `_get_closed_form_lr`):
//
//   warm-up (LinearLR):   factor(t) = s + (1 - s) * min(t, W) / W
//   cosine (CosineAnnealingLR), after the warm-up, u = t - W:
//                         lr(u) = min_lr + (lr - min_lr) * (1 + cos(pi * u /
//                         T)) / 2
//
// where t = 0, 1, ... is the scheduler's epoch, i.e. optimizer step t + 1 uses
// lr(t), as a loop that calls scheduler.step() after optimizer.step() does.
// Unlike torch's periodic closed form, the cosine holds at min_lr after T
// steps.
//
//   LrScheduleOptions s;
//   s.warmup_steps = 100;
//   s.decay = LrScheduleOptions::Decay::kCosine;
//   s.decay_steps = 900;
//   double lr_step_1 = ScheduledLearningRate(s, /*lr=*/1e-3, /*step=*/1);
#ifndef OPTD_SOLVERS_ADAM_LR_SCHEDULE_H_
#define OPTD_SOLVERS_ADAM_LR_SCHEDULE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace optd {

struct LrScheduleOptions {
  // Linear warm-up over this many steps; 0: none. Range [0, 2^53].
  int64_t warmup_steps = 0;
  // Factor at the first step (torch LinearLR start_factor default 1/3).
  // Range (0, 1].
  double warmup_start_factor = 1.0 / 3.0;
  enum class Decay { kConstant, kCosine };
  Decay decay = Decay::kConstant;
  // Cosine period after the warm-up (torch T_max). Required >= 1 with kCosine.
  int64_t decay_steps = 0;
  // Floor of the cosine (torch eta_min). Range [0, lr].
  double min_lr = 0.0;

  // INVALID_ARGUMENT naming the field (prefixed with `prefix`, e.g.
  // "adam.schedule."), its value and the range.
  absl::Status Validate(double lr, const char* prefix) const;
};

// The learning rate of optimizer step `step` (1 for the first).
// REQUIRES: options.Validate(lr, ...) is OK, step >= 1.
double ScheduledLearningRate(const LrScheduleOptions& options, double lr,
                             int64_t step);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAM_LR_SCHEDULE_H_
