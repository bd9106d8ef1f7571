// Adafactor (Shazeer & Stern 2018) as an ask-tell solver, with the semantics
// and defaults of HuggingFace transformers' `Adafactor`
// (transformers/optimization.py; options in adafactor_options.h). Per
// parameter tensor ("layer") and step t, with g the gradient:
//
//   beta2_t = 1 - t^decay_rate
//   lr      = max(eps2, RMS(x)) * min(1e-2, 1/sqrt(t))      (the defaults)
//   matrix: R <- beta2_t R + (1 - beta2_t) mean_cols(g^2 + eps1)
//           C <- beta2_t C + (1 - beta2_t) mean_rows(g^2 + eps1)
//           u  = g / sqrt(R_i / mean(R)) / sqrt(C_j)
//   vector: v <- beta2_t v + (1 - beta2_t)(g^2 + eps1);  u = g / sqrt(v)
//   u <- u / max(1, RMS(u) / clip_threshold) * lr
//   beta1:  m <- beta1 m + (1 - beta1) u;  u <- m
//   x <- x - lr weight_decay x - u
//
// Every trial wants the gradient at the current parameters; a value may be
// told too and is recorded. Each told gradient is one step; a failed tell
// skips it. Steps are not checked for finiteness: with eps1 > 0 (required)
// every factor is finite for finite gradients, as in transformers.
//
// The state (x, the first moment, the vector layers' v) lives in slices
// (shard_layout.h); the matrices' row and column statistics live with the
// controller; adafactor_vectors.h says how the reductions are made bitwise
// the same for any number of slices.
//
//   AdafactorOptions options;                       // transformers' defaults
//   options.layers = {{256, 128}, {128, 0}};
//   auto solver = Adafactor::Create(options, ConstVectorView::Float64(p0, n));
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_H_
#define OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/adafactor/adafactor_options.h"
#include "solvers/adafactor/adafactor_vectors.h"
#include "solvers/core/solver.h"
#include "solvers/core/step_counters.h"

namespace optd {

class Adafactor : public Solver {
 public:
  // A session starting at x0 (finite; rounded to float32 for a float32
  // state) with `shards` in-process slices. INVALID_ARGUMENT from
  // options.Validate() and options.ValidateLayers(x0.size()).
  static absl::StatusOr<std::unique_ptr<Adafactor>> Create(
      const AdafactorOptions& options, const ConstVectorView& x0,
      int shards = 1);
  // A session over `vectors` (the slices on other replicas,
  // server/sharding/remote_vectors.h), which must have x0's dimension and
  // options.dtype's type; the same errors.
  static absl::StatusOr<std::unique_ptr<Adafactor>> Create(
      const AdafactorOptions& options, const ConstVectorView& x0,
      std::unique_ptr<AdafactorVectors> vectors);

  std::string_view name() const override { return "adafactor"; }
  int64_t dimension() const override { return vectors_->dimension(); }
  ScalarType state_type() const override { return options_.dtype; }
  bool finished() const override { return finished_; }
  Evaluation wants() const override { return Evaluation::kGradient; }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  absl::Status Tell(const TrialResult& result) override;
  void Stop() override;
  Progress progress() const override;
  // The counters, then the vectors (AdafactorVectors::SaveState).
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;
  const Summary& summary() const override { return summary_; }
  std::string OptionsReport() const override;

  const AdafactorOptions& options() const { return options_; }
  // Steps taken (transformers' state["step"]).
  int64_t step() const { return step_; }

 private:
  Adafactor(const AdafactorOptions& options,
            std::unique_ptr<AdafactorVectors> vectors);
  void Finish(TerminationReason reason, std::string message);

  AdafactorOptions options_;
  std::unique_ptr<AdafactorVectors> vectors_;
  bool finished_ = false;
  // The counters SaveState writes and progress() reports.
  StepCounters Counters() const;

  int64_t step_ = 0;
  int64_t evaluations_ = 0;
  double last_value_;
  double best_value_;
  double gradient_max_norm_;
  double pending_gradient_max_norm_ = 0.0;  // of the gradient set, not told
  double last_lr_;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_H_
