#include "solvers/adafactor/adafactor.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/core/step_counters.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr char kMaxStepsMessage[] = "STOP: MAXIMUM NUMBER OF STEPS REACHED";
constexpr char kStoppedMessage[] = "STOP: REQUESTED BY CLIENT";

// SaveState's layout: this tag, then the counters below as little-endian
// 8-byte words, then the vectors (AdafactorVectors::SaveState).
constexpr absl::string_view kStateTag = "optd.adafactor.v1";

}  // namespace

Adafactor::Adafactor(const AdafactorOptions& options,
                     std::unique_ptr<AdafactorVectors> vectors)
    : options_(options),
      vectors_(std::move(vectors)),
      last_value_(kNaN),
      best_value_(kNaN),
      gradient_max_norm_(kNaN),
      last_lr_(kNaN) {
  summary_.solver = std::string(name());
  summary_.dimension = vectors_->dimension();
  summary_.options_report = OptionsReport();
}

namespace {

// INVALID_ARGUMENT from the options, the layers or x0.
absl::Status CheckCreate(const AdafactorOptions& options,
                         const ConstVectorView& x0) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(options.ValidateLayers(x0.size()));
  for (int64_t i = 0; i < x0.size(); ++i) {
    const double v = x0.Get(i);
    if (!std::isfinite(v) || (options.dtype == ScalarType::kFloat32 &&
                              !std::isfinite(static_cast<float>(v)))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x0[", i, "] is ", v, "; every element must be finite",
          options.dtype == ScalarType::kFloat32 ? " in float32" : ""));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Adafactor>> Adafactor::Create(
    const AdafactorOptions& options, const ConstVectorView& x0, int shards) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(options.ValidateLayers(x0.size()));
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                        ShardLayout::Make(x0.size(), shards));
  std::unique_ptr<AdafactorVectors> vectors;
  if (options.dtype == ScalarType::kFloat32) {
    vectors = std::make_unique<LocalAdafactorVectors<float>>(options, layout);
  } else {
    vectors = std::make_unique<LocalAdafactorVectors<double>>(options, layout);
  }
  return Create(options, x0, std::move(vectors));
}

absl::StatusOr<std::unique_ptr<Adafactor>> Adafactor::Create(
    const AdafactorOptions& options, const ConstVectorView& x0,
    std::unique_ptr<AdafactorVectors> vectors) {
  OPTD_RETURN_IF_ERROR(CheckCreate(options, x0));
  if (vectors->dimension() != x0.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Adafactor vectors have dimension ",
                     vectors->dimension(), "; x0 has ", x0.size()));
  }
  if (vectors->type() != options.dtype) {
    return absl::InvalidArgumentError(
        "the Adafactor vectors' state type is not options.dtype");
  }
  OPTD_RETURN_IF_ERROR(vectors->SetPoint(x0));
  return std::unique_ptr<Adafactor>(new Adafactor(options, std::move(vectors)));
}

absl::Status Adafactor::ReadTrialPoint(const MutableVectorView& out) const {
  return vectors_->ReadPoint(out);
}

absl::Status Adafactor::ReadBestPoint(const MutableVectorView& out) const {
  return vectors_->ReadPoint(out);
}

absl::Status Adafactor::SetTrialGradient(const ConstVectorView& gradient) {
  if (finished_) {
    return absl::FailedPreconditionError("the session has finished");
  }
  OPTD_ASSIGN_OR_RETURN(double max_abs, vectors_->SetGradient(gradient));
  pending_gradient_max_norm_ = max_abs;
  return absl::OkStatus();
}

absl::Status Adafactor::Tell(const TrialResult& result) {
  if (finished_) {
    return absl::FailedPreconditionError("the session has finished");
  }
  if (!result.learning_rates.empty()) {
    return absl::InvalidArgumentError(
        "group_lr is not supported by adafactor, whose learning rate is "
        "relative (relative_step) or fixed (lr); leave it empty");
  }
  ++evaluations_;
  if (std::isfinite(result.value) && !result.failed) {
    last_value_ = result.value;
    if (!(best_value_ <= result.value)) best_value_ = result.value;
  }
  if (result.failed || !result.has_gradient) {
    // No gradient, no step: the same point is handed out again.
    ++summary_.failed_evaluations;
    return absl::OkStatus();
  }
  gradient_max_norm_ = pending_gradient_max_norm_;
  OPTD_ASSIGN_OR_RETURN(AdafactorStepInfo info, vectors_->Step(step_ + 1));
  ++step_;
  last_lr_ = info.first_lr;
  if (options_.max_steps > 0 && step_ >= options_.max_steps) {
    Finish(TerminationReason::kMaxSteps, kMaxStepsMessage);
  }
  return absl::OkStatus();
}

void Adafactor::Stop() {
  if (!finished_) Finish(TerminationReason::kStoppedByClient, kStoppedMessage);
}

void Adafactor::Finish(TerminationReason reason, std::string message) {
  finished_ = true;
  summary_.reason = reason;
  summary_.message = std::move(message);
  summary_.value = last_value_;
  summary_.gradient_max_norm = gradient_max_norm_;
  summary_.iterations = step_;
  summary_.evaluations = evaluations_;
}

int64_t Adafactor::StateBytes() const {
  return static_cast<int64_t>(kStateTag.size() + StepCounters::kBytes) +
         vectors_->StateBytes();
}

absl::Status Adafactor::SaveState(std::string* out) const {
  out->clear();
  out->reserve(static_cast<size_t>(StateBytes()));
  out->append(kStateTag.data(), kStateTag.size());
  Counters().Append(out);
  return vectors_->SaveState(out);
}

absl::Status Adafactor::RestoreState(std::string_view state) {
  if (finished_ || evaluations_ > 0) {
    return absl::FailedPreconditionError(
        "RestoreState needs a solver that was told nothing yet");
  }
  const size_t head = kStateTag.size() + StepCounters::kBytes;
  if (state.size() < head ||
      absl::string_view(state.data(), kStateTag.size()) != kStateTag) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state is not an ", kStateTag, " state"));
  }
  OPTD_ASSIGN_OR_RETURN(
      const StepCounters counters,
      StepCounters::Parse(
          state.substr(kStateTag.size()), "adafactor",
          {TerminationReason::kMaxSteps, TerminationReason::kStoppedByClient}));
  OPTD_RETURN_IF_ERROR(vectors_->LoadState(state.substr(head)));
  step_ = counters.step;
  evaluations_ = counters.evaluations;
  summary_.failed_evaluations = counters.failed;
  last_value_ = counters.last_value;
  best_value_ = counters.best_value;
  gradient_max_norm_ = counters.gradient_max_norm;
  last_lr_ = counters.last_lr;
  const int64_t reason = counters.reason;
  if (reason == static_cast<int64_t>(TerminationReason::kMaxSteps)) {
    Finish(TerminationReason::kMaxSteps, kMaxStepsMessage);
  } else if (reason != 0) {
    Stop();
  }
  return absl::OkStatus();
}

StepCounters Adafactor::Counters() const {
  StepCounters c;
  c.step = step_;
  c.evaluations = evaluations_;
  c.failed = summary_.failed_evaluations;
  c.last_value = last_value_;
  c.best_value = best_value_;
  c.gradient_max_norm = gradient_max_norm_;
  c.last_lr = last_lr_;
  c.reason = finished_ ? static_cast<int64_t>(summary_.reason) : int64_t{0};
  return c;
}

Progress Adafactor::progress() const { return Counters().ToProgress(); }

std::string Adafactor::OptionsReport() const {
  const AdafactorOptions& o = options_;
  std::string out = absl::StrFormat(
      "    lr %s, eps (%g, %g), clip_threshold %g, decay_rate %g, beta1 %s, "
      "weight_decay %g\n",
      o.lr.has_value() ? absl::StrFormat("%g", *o.lr) : "relative", o.eps1,
      o.eps2, o.clip_threshold, o.decay_rate,
      o.beta1.has_value() ? absl::StrFormat("%g", *o.beta1) : "none",
      o.weight_decay);
  int64_t matrices = 0;
  for (const AdafactorLayer& layer : o.layers) matrices += layer.factored();
  absl::StrAppendFormat(
      &out,
      "    scale_parameter %s, relative_step %s, warmup_init %s, state %s, "
      "max_steps %d, layers %d (%d factored)\n",
      o.scale_parameter ? "on" : "off", o.relative_step ? "on" : "off",
      o.warmup_init ? "on" : "off",
      o.dtype == ScalarType::kFloat32 ? "float32" : "float64", o.max_steps,
      o.layers.empty() ? 1 : static_cast<int64_t>(o.layers.size()), matrices);
  return out;
}

}  // namespace optd
