// Adam and AdamW as ask-tell solvers, with the semantics and defaults of
// torch.optim.Adam / AdamW (torch 1.13, single-tensor CPU path; see
// adam_kernel.h for the arithmetic), global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_, and learning-rate schedules (lr_schedule.h).
// The same solver serves the rest of the elementwise first-order family
// (AdamHyper::method: SGD, RMSprop, Adagrad, Adamax, NAdam, RAdam, Lion):
// everything below holds for each of them, with its own state slots in
// place of m and v.
//
// Every trial wants the gradient at the current parameters; a value may be told
// too and is recorded. Each told gradient is one optimizer step. A failed tell
// skips the step (the same point is handed out again).
//
// A step that would leave some x_i NaN or +-inf (after the projection, with
// bounds) is not taken: where torch would go on with such parameters, the
// session ends with TerminationReason::kStepNotFinite and its state (x, m, v)
// stays as it was. Such steps come from scalars beyond the state type's range
// (an lr or weight decay that is inf in float32: 0 * inf, inf - inf), from
// eps = 0 with v_i = 0 (0 / 0), and from iterates that grow past the largest
// float (AdamW with lr * weight_decay > 2). The check is a second pass of the
// update over the state (AdamSlice::FirstNotFiniteAfterStep). Sharded
// sessions, whose slices step on other replicas without answering, are not
// checked (AdamVectors::Step).
//
// The state (x, m, v and, with amsgrad, max v) lives in slices
// (shard_layout.h); the controller holds the step counter and scalars. The
// update is elementwise; only clipping needs a reduction (sum of squares in
// reproducible block order).
//
//   AdamOptions options = AdamOptions::AdamW();   // torch AdamW defaults
//   options.lr = 3e-4;
//   auto solver = Adam::Create(options, ConstVectorView::Float32(p0, n));
//
// Box bounds (projected Adam). Created with a Bounds, the solver keeps x in
// the box lower <= x <= upper: x0 is projected onto it, and after every step
// x <- min(max(x, lower), upper), exactly what torch users get from
//
//   optimizer.step()
//   with torch.no_grad(): p.clamp_(lower, upper)
//
// The moments m, v (and max v) are those of the unprojected update: the
// projection moves only x, as clamp_ does. Gradients are taken at the
// projected point, and a coordinate held at a bound keeps its moments, so it
// leaves the bound as soon as its averaged gradient points inward. With a
// float32 state each bound is rounded inward to float32 (a point read back in
// double is inside the box), except where [lower_i, upper_i] holds no float32
// (lower_i = upper_i = 0.1, say): there x_i is the float32 nearest lower_i.
// Bounds with no finite side are no bounds: the steps are bitwise those of the
// unbounded solver. Every slice keeps and projects onto its own range of the
// box, so bounded iterates too are bitwise the same for any number of slices.
//
//   OPTD_ASSIGN_OR_RETURN(Bounds box, Bounds::Create(lower, upper, n));
//   auto solver = Adam::Create(options, x0, box);
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_ADAM_ADAM_H_
#define OPTD_SOLVERS_ADAM_ADAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/adam/adam_kernel.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/adam/lr_schedule.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"
#include "solvers/core/step_counters.h"

namespace optd {

// AdamGroup: a parameter group (torch's optimizer.param_groups[i]), the
// elements [begin, end) of x, with its own hyperparameters; an unset one is
// the session's (AdamOptions).
struct AdamGroup {
  int64_t begin = 0;
  int64_t end = 0;
  std::optional<double> lr = std::nullopt;
  std::optional<double> beta1 = std::nullopt;
  std::optional<double> beta2 = std::nullopt;
  std::optional<double> eps = std::nullopt;
  std::optional<double> weight_decay = std::nullopt;
};

// AdamOptions: defaults are torch 1.13's torch.optim.Adam.
struct AdamOptions {
  // beta1, beta2, eps, weight_decay, amsgrad and Adam vs AdamW.
  AdamHyper hyper;
  // Learning rate (before the schedule). Default 1e-3 (torch); range (0, inf).
  double lr = 1e-3;
  // Clip the gradient to this global 2-norm before each step (torch
  // clip_grad_norm_); 0 disables. Default 0; range [0, inf).
  double max_grad_norm = 0.0;
  LrScheduleOptions schedule;
  // Precision of x, m and v. Default float64.
  ScalarType dtype = ScalarType::kFloat64;
  // Finish after this many steps; 0: never. Default 0; range [0, 2^53].
  int64_t max_steps = 0;
  // Parameter groups tiling [0, n) in order; empty: one group, [0, n), with
  // the values above. Each group's lr is the schedule's base for it. Default
  // empty.
  std::vector<AdamGroup> groups;

  // torch.optim.AdamW's defaults: decoupled decay with weight_decay 1e-2.
  static AdamOptions AdamW();
  // Each method's defaults (ElementwiseMethod): torch 1.13's for SGD (whose
  // lr torch requires; 1e-3 here until the caller sets one), RMSprop (lr
  // 1e-2), Adagrad (lr 1e-2, eps 1e-10), Adamax (lr 2e-3), NAdam (lr 2e-3),
  // RAdam (lr 1e-3); the authors' for Lion (lr 1e-4, betas (0.9, 0.99)).
  // kAdam gives Adam's.
  static AdamOptions For(ElementwiseMethod method);

  // The options' name in messages and Session.options: "adam", "adamw",
  // "sgd", "rmsprop", "adagrad", "adamax", "nadam", "radam" or "lion".
  const char* name() const;

  // INVALID_ARGUMENT naming the field ("adam.lr", "adam.groups[1].eps"), its
  // value and the range. The groups' tiling is checked against the
  // dimension by ValidateGroups.
  absl::Status Validate() const;
  // INVALID_ARGUMENT unless `groups` is empty or tiles [0, dimension) in
  // order ("adam.groups[1].begin is 5; it must be 7 (the end of
  // groups[0])").
  absl::Status ValidateGroups(int64_t dimension) const;
  // The groups with every value resolved: `groups`, or one group [0,
  // dimension) when empty. REQUIRES: Validate() and ValidateGroups(dimension)
  // are OK.
  struct ResolvedGroup {
    int64_t begin = 0;
    int64_t end = 0;
    double lr = 1e-3;
    AdamHyper hyper;
  };
  std::vector<ResolvedGroup> ResolvedGroups(int64_t dimension) const;
};

class Adam : public Solver {
 public:
  // A session starting at x0 (finite; rounded to float32 for a float32 state)
  // whose vectors live in `vectors` (dimension x0.size(), state type
  // options.dtype).
  static absl::StatusOr<std::unique_ptr<Adam>> Create(
      const AdamOptions& options, const ConstVectorView& x0,
      std::unique_ptr<AdamVectors> vectors);
  // As above with `shards` in-process slices.
  static absl::StatusOr<std::unique_ptr<Adam>> Create(
      const AdamOptions& options, const ConstVectorView& x0, int shards = 1);
  // Projected Adam: as above, confined to `bounds` (see the top of this
  // file). INVALID_ARGUMENT for bounds of another size than x0, and for a
  // finite bound outside float32's range with a float32 state.
  static absl::StatusOr<std::unique_ptr<Adam>> Create(
      const AdamOptions& options, const ConstVectorView& x0,
      const Bounds& bounds, std::unique_ptr<AdamVectors> vectors);
  static absl::StatusOr<std::unique_ptr<Adam>> Create(
      const AdamOptions& options, const ConstVectorView& x0,
      const Bounds& bounds, int shards = 1);

  std::string_view name() const override { return options_.name(); }
  int64_t dimension() const override { return vectors_->dimension(); }
  ScalarType state_type() const override { return options_.dtype; }
  bool finished() const override { return finished_; }
  Evaluation wants() const override { return Evaluation::kGradient; }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  // result.learning_rates, when not empty, are the groups' learning rates for
  // this step (one per group, each finite and >= 0: INVALID_ARGUMENT
  // otherwise, from CheckBatchResult too), in place of the schedule's.
  absl::Status Tell(const TrialResult& result) override;
  absl::Status CheckBatchResult(int k,
                                const TrialResult& result) const override;
  void Stop() override;
  Progress progress() const override;
  // The step counter, the scalars and x, m, v (max v) in the state type.
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;
  const Summary& summary() const override { return summary_; }
  std::string OptionsReport() const override;

  const AdamOptions& options() const { return options_; }
  // Optimizer steps taken (torch's `state['step']`).
  int64_t step() const { return step_; }
  // Parameter groups (1 when the options have none).
  int groups() const { return static_cast<int>(groups_.size()); }

 private:
  Adam(const AdamOptions& options, std::unique_ptr<AdamVectors> vectors);
  // The overloads above; `bounds` may be null (unbounded).
  static absl::StatusOr<std::unique_ptr<Adam>> Create(
      const AdamOptions& options, const ConstVectorView& x0,
      const Bounds* bounds, std::unique_ptr<AdamVectors> vectors);
  static absl::StatusOr<std::unique_ptr<Adam>> Create(
      const AdamOptions& options, const ConstVectorView& x0,
      const Bounds* bounds, int shards);
  void Finish(TerminationReason reason, std::string message);

  AdamOptions options_;
  // options_.ResolvedGroups(n).
  std::vector<AdamOptions::ResolvedGroup> groups_;
  // NAdam: each group's running product of mu_t, at step_ (empty for the
  // other methods). Not saved: RestoreState recomputes it from step_.
  std::vector<NadamMuProduct> mu_products_;
  std::unique_ptr<AdamVectors> vectors_;
  bool finished_ = false;
  // The counters SaveState writes and progress() reports.
  StepCounters Counters() const;

  int64_t step_ = 0;
  int64_t evaluations_ = 0;
  double last_value_;
  double best_value_;
  double gradient_max_norm_;
  double pending_gradient_max_norm_ = 0.0;  // of the gradient set, not yet told
  double last_lr_;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAM_ADAM_H_
