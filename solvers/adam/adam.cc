#include "solvers/adam/adam.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/core/option_checks.h"
#include "solvers/core/step_counters.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr char kMaxStepsMessage[] = "STOP: MAXIMUM NUMBER OF STEPS REACHED";
constexpr char kStepNotFiniteMessage[] =
    "ABNORMAL: THE STEP IS NOT FINITE IN THE STATE'S PRECISION";

bool UsesBetas(ElementwiseMethod method) {
  return method == ElementwiseMethod::kAdam ||
         method == ElementwiseMethod::kAdamax ||
         method == ElementwiseMethod::kNadam ||
         method == ElementwiseMethod::kRadam ||
         method == ElementwiseMethod::kLion;
}

bool UsesEps(ElementwiseMethod method) {
  return method != ElementwiseMethod::kSgd &&
         method != ElementwiseMethod::kLion;
}

}  // namespace

AdamOptions AdamOptions::AdamW() {
  AdamOptions options;
  options.hyper.decoupled_weight_decay = true;
  options.hyper.weight_decay = 1e-2;  // torch.optim.AdamW default
  return options;
}

AdamOptions AdamOptions::For(ElementwiseMethod method) {
  AdamOptions options;
  options.hyper.method = method;
  switch (method) {
    case ElementwiseMethod::kAdam:
      break;
    case ElementwiseMethod::kSgd:
      options.lr = 1e-3;
      break;
    case ElementwiseMethod::kRmsprop:
      options.lr = 1e-2;
      options.hyper.eps = 1e-8;
      break;
    case ElementwiseMethod::kAdagrad:
      options.lr = 1e-2;
      options.hyper.eps = 1e-10;
      break;
    case ElementwiseMethod::kAdamax:
    case ElementwiseMethod::kNadam:
      options.lr = 2e-3;
      break;
    case ElementwiseMethod::kRadam:
      options.lr = 1e-3;
      break;
    case ElementwiseMethod::kLion:
      options.lr = 1e-4;
      options.hyper.beta2 = 0.99;
      break;
  }
  return options;
}

const char* AdamOptions::name() const {
  switch (hyper.method) {
    case ElementwiseMethod::kAdam:
      return hyper.decoupled_weight_decay ? "adamw" : "adam";
    case ElementwiseMethod::kSgd:
      return "sgd";
    case ElementwiseMethod::kRmsprop:
      return "rmsprop";
    case ElementwiseMethod::kAdagrad:
      return "adagrad";
    case ElementwiseMethod::kAdamax:
      return "adamax";
    case ElementwiseMethod::kNadam:
      return "nadam";
    case ElementwiseMethod::kRadam:
      return "radam";
    case ElementwiseMethod::kLion:
      return "lion";
  }
  return "adam";
}

absl::Status AdamOptions::Validate() const {
  const char* options_name = name();
  if (!(lr > 0 && std::isfinite(lr)))
    return OptionOutOfRange(options_name, "lr", lr, "(0, inf)");
  if (!(max_grad_norm >= 0 && std::isfinite(max_grad_norm))) {
    return OptionOutOfRange(options_name, "max_grad_norm", max_grad_norm,
                            "(0, inf), or unset");
  }
  if (max_steps < 0 || max_steps > (int64_t{1} << 53)) {
    return OptionOutOfRange(options_name, "max_steps",
                            static_cast<double>(max_steps), "[0, 2^53]");
  }
  if (absl::Status s = hyper.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options_name, ".", s.message()));
  }
  const std::string schedule_prefix = absl::StrCat(options_name, ".schedule.");
  OPTD_RETURN_IF_ERROR(schedule.Validate(lr, schedule_prefix.c_str()));
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string group = absl::StrCat("groups[", i, "]");
    const AdamGroup& g = groups[i];
    if (g.lr.has_value()) {
      if (!(*g.lr > 0 && std::isfinite(*g.lr))) {
        return OptionOutOfRange(options_name, absl::StrCat(group, ".lr"), *g.lr,
                                "(0, inf)");
      }
      OPTD_RETURN_IF_ERROR(schedule.Validate(*g.lr, schedule_prefix.c_str()));
    }
    const bool betas = UsesBetas(hyper.method), eps = UsesEps(hyper.method);
    for (const auto& [field, set, used] :
         {std::tuple("beta1", g.beta1.has_value(), betas),
          std::tuple("beta2", g.beta2.has_value(), betas),
          std::tuple("eps", g.eps.has_value(), eps)}) {
      if (set && !used) {
        return absl::InvalidArgumentError(
            absl::StrCat(options_name, ".", group, ".", field, " is set; ",
                         options_name, " has no ", field));
      }
    }
    AdamHyper h = hyper;
    h.beta1 = g.beta1.value_or(h.beta1);
    h.beta2 = g.beta2.value_or(h.beta2);
    h.eps = g.eps.value_or(h.eps);
    h.weight_decay = g.weight_decay.value_or(h.weight_decay);
    if (absl::Status s = h.Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_name, ".", group, ".", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status AdamOptions::ValidateGroups(int64_t dimension) const {
  const char* options_name = name();
  for (size_t i = 0; i < groups.size(); ++i) {
    const AdamGroup& g = groups[i];
    const int64_t begin = i == 0 ? 0 : groups[i - 1].end;
    if (g.begin != begin) {
      return absl::InvalidArgumentError(absl::StrCat(
          options_name, ".groups[", i, "].begin is ", g.begin, "; it must be ",
          begin,
          i == 0 ? std::string(" (the groups tile [0, n) in order)")
                 : absl::StrCat(" (the end of groups[", i - 1, "])")));
    }
    if (g.end <= g.begin) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_name, ".groups[", i, "].end is ", g.end,
                       "; it must be greater than its begin, ", g.begin));
    }
    if (g.end > dimension) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_name, ".groups[", i, "].end is ", g.end,
                       "; it must be at most the dimension, ", dimension));
    }
    if (i + 1 == groups.size() && g.end != dimension) {
      return absl::InvalidArgumentError(absl::StrCat(
          options_name, ".groups[", i, "].end is ", g.end,
          "; the last group must end at the dimension, ", dimension));
    }
  }
  return absl::OkStatus();
}

std::vector<AdamOptions::ResolvedGroup> AdamOptions::ResolvedGroups(
    int64_t dimension) const {
  std::vector<ResolvedGroup> out;
  if (groups.empty()) {
    out.push_back({0, dimension, lr, hyper});
    return out;
  }
  for (const AdamGroup& g : groups) {
    ResolvedGroup r{g.begin, g.end, g.lr.value_or(lr), hyper};
    r.hyper.beta1 = g.beta1.value_or(hyper.beta1);
    r.hyper.beta2 = g.beta2.value_or(hyper.beta2);
    r.hyper.eps = g.eps.value_or(hyper.eps);
    r.hyper.weight_decay = g.weight_decay.value_or(hyper.weight_decay);
    out.push_back(r);
  }
  return out;
}

Adam::Adam(const AdamOptions& options, std::unique_ptr<AdamVectors> vectors)
    : options_(options),
      groups_(options.ResolvedGroups(vectors->dimension())),
      mu_products_(options.hyper.method == ElementwiseMethod::kNadam
                       ? groups_.size()
                       : 0),
      vectors_(std::move(vectors)),
      last_value_(kNaN),
      best_value_(kNaN),
      gradient_max_norm_(kNaN),
      last_lr_(kNaN) {
  summary_.solver = std::string(name());
  summary_.dimension = vectors_->dimension();
  summary_.options_report = OptionsReport();
}

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(
    const AdamOptions& options, const ConstVectorView& x0,
    std::unique_ptr<AdamVectors> vectors) {
  return Create(options, x0, nullptr, std::move(vectors));
}

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(
    const AdamOptions& options, const ConstVectorView& x0, const Bounds& bounds,
    std::unique_ptr<AdamVectors> vectors) {
  return Create(options, x0, &bounds, std::move(vectors));
}

// (Unbounded sessions pass no Bounds: Bounds::Unbounded(n) would allocate two
// n-vectors of infinities for nothing.)
absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(
    const AdamOptions& options, const ConstVectorView& x0, const Bounds* bounds,
    std::unique_ptr<AdamVectors> vectors) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(options.ValidateGroups(x0.size()));
  if (bounds != nullptr && bounds->size() != 0 && bounds->size() != x0.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bounds have ", bounds->size(), " elements; x0 has ", x0.size()));
  }
  if (x0.size() != vectors->dimension() || vectors->type() != options.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x0 has ", x0.size(), " elements; the vectors have dimension ",
        vectors->dimension(),
        vectors->type() != options.dtype ? " and another dtype than the options"
                                         : ""));
  }
  for (int64_t i = 0; i < x0.size(); ++i) {
    const double v = x0.Get(i);
    if (!std::isfinite(v) || (options.dtype == ScalarType::kFloat32 &&
                              !std::isfinite(static_cast<float>(v)))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x0[", i, "] is ", v, "; every element must be finite",
          options.dtype == ScalarType::kFloat32 ? " in float32" : ""));
    }
  }
  // Infinite bounds are no bounds: the slices are left as they were.
  if (bounds != nullptr && bounds->any()) {
    OPTD_RETURN_IF_ERROR(vectors->SetBounds(*bounds));
  }
  OPTD_RETURN_IF_ERROR(vectors->SetPoint(x0));
  return std::unique_ptr<Adam>(new Adam(options, std::move(vectors)));
}

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(const AdamOptions& options,
                                                   const ConstVectorView& x0,
                                                   int shards) {
  return Create(options, x0, nullptr, shards);
}

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(const AdamOptions& options,
                                                   const ConstVectorView& x0,
                                                   const Bounds& bounds,
                                                   int shards) {
  return Create(options, x0, &bounds, shards);
}

absl::StatusOr<std::unique_ptr<Adam>> Adam::Create(const AdamOptions& options,
                                                   const ConstVectorView& x0,
                                                   const Bounds* bounds,
                                                   int shards) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                        ShardLayout::Make(x0.size(), shards));
  std::unique_ptr<AdamVectors> vectors;
  const AdamSlots slots = AdamSlots::For(options.hyper);
  if (options.dtype == ScalarType::kFloat32) {
    vectors = std::make_unique<LocalAdamVectors<float>>(layout, slots);
  } else {
    vectors = std::make_unique<LocalAdamVectors<double>>(layout, slots);
  }
  return Create(options, x0, bounds, std::move(vectors));
}

absl::Status Adam::ReadTrialPoint(const MutableVectorView& out) const {
  return vectors_->ReadPoint(out);
}

absl::Status Adam::ReadBestPoint(const MutableVectorView& out) const {
  return vectors_->ReadPoint(out);
}

absl::Status Adam::SetTrialGradient(const ConstVectorView& gradient) {
  if (finished_)
    return absl::FailedPreconditionError("the session has finished");
  OPTD_ASSIGN_OR_RETURN(double max_abs, vectors_->SetGradient(gradient));
  pending_gradient_max_norm_ = max_abs;
  return absl::OkStatus();
}

absl::Status Adam::Tell(const TrialResult& result) {
  if (finished_)
    return absl::FailedPreconditionError("the session has finished");
  OPTD_RETURN_IF_ERROR(CheckBatchResult(0, result));
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
  ++step_;
  double grad_scale = 1.0;
  if (options_.max_grad_norm > 0) {
    // torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6),
    // applied when below 1. The norm is summed in double in block order
    // (reproducible for any number of slices); torch sums in the gradient's
    // dtype, so clipped float32 runs may differ from torch by rounding.
    OPTD_ASSIGN_OR_RETURN(double squared, vectors_->GradientSquaredNorm());
    const double coef = options_.max_grad_norm / (std::sqrt(squared) + 1e-6);
    if (coef < 1.0) grad_scale = coef;
  }
  // torch's step computes each param group's scalars from its own lr and
  // hyperparameters; every group shares the step count. NAdam's products
  // advance on copies, kept only if the step is taken.
  std::vector<AdamSegmentStep> segments(groups_.size());
  std::vector<NadamMuProduct> mu_products = mu_products_;
  for (size_t i = 0; i < groups_.size(); ++i) {
    const AdamOptions::ResolvedGroup& group = groups_[i];
    const double lr =
        result.learning_rates.empty()
            ? ScheduledLearningRate(options_.schedule, group.lr, step_)
            : result.learning_rates[i];
    if (i == 0) last_lr_ = lr;
    segments[i].begin = group.begin;
    segments[i].end = group.end;
    segments[i].scalars =
        ComputeAdamStepScalars(group.hyper, step_, lr,
                               mu_products.empty() ? nullptr : &mu_products[i]);
    segments[i].scalars.grad_scale = grad_scale;
  }
  OPTD_ASSIGN_OR_RETURN(const int64_t not_finite,
                        vectors_->StepSegments(segments));
  if (not_finite >= 0) {
    // torch would go on with NaN or inf in the parameters; the session keeps
    // its last point (in the box) and ends. The step is not counted.
    --step_;
    Finish(TerminationReason::kStepNotFinite, kStepNotFiniteMessage);
    return absl::OkStatus();
  }
  mu_products_ = std::move(mu_products);
  if (options_.max_steps > 0 && step_ >= options_.max_steps) {
    Finish(TerminationReason::kMaxSteps, kMaxStepsMessage);
  }
  return absl::OkStatus();
}

absl::Status Adam::CheckBatchResult(int k, const TrialResult& result) const {
  if (result.learning_rates.empty()) return absl::OkStatus();
  if (result.learning_rates.size() != groups_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("group_lr has ", result.learning_rates.size(),
                     " values; the session has ", groups_.size(),
                     " parameter group", groups_.size() == 1 ? "" : "s"));
  }
  for (size_t i = 0; i < result.learning_rates.size(); ++i) {
    const double lr = result.learning_rates[i];
    if (!(lr >= 0 && std::isfinite(lr))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group_lr[", i, "] is ", lr, "; a learning rate is finite and >= 0"));
    }
  }
  return absl::OkStatus();
}

void Adam::Stop() {
  if (!finished_)
    Finish(TerminationReason::kStoppedByClient, "STOP: REQUESTED BY CLIENT");
}

void Adam::Finish(TerminationReason reason, std::string message) {
  finished_ = true;
  summary_.reason = reason;
  summary_.message = std::move(message);
  summary_.value = last_value_;
  summary_.gradient_max_norm = gradient_max_norm_;
  summary_.iterations = step_;
  summary_.evaluations = evaluations_;
}

namespace {

// SaveState's layout: this tag, then the counters and scalars below as
// little-endian 8-byte words, then the vectors (AdamVectors::SaveState).
constexpr absl::string_view kStateTag = "optd.adam.v1";

}  // namespace

int64_t Adam::StateBytes() const {
  return static_cast<int64_t>(kStateTag.size() + StepCounters::kBytes) +
         vectors_->StateBytes();
}

absl::Status Adam::SaveState(std::string* out) const {
  out->clear();
  out->reserve(static_cast<size_t>(StateBytes()));
  out->append(kStateTag.data(), kStateTag.size());
  Counters().Append(out);
  OPTD_RETURN_IF_ERROR(vectors_->SaveState(out));
  return absl::OkStatus();
}

absl::Status Adam::RestoreState(std::string_view state) {
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
          state.substr(kStateTag.size()), options_.name(),
          {TerminationReason::kMaxSteps, TerminationReason::kStoppedByClient,
           TerminationReason::kStepNotFinite}));
  OPTD_RETURN_IF_ERROR(vectors_->LoadState(state.substr(head)));
  // NAdam's products at `step`, as the steps that were taken left them: the
  // same float32 multiplications in the same order (ComputeAdamStepScalars
  // bounds their number past torch's 2^24 step limit).
  for (size_t i = 0; i < mu_products_.size(); ++i) {
    mu_products_[i] = NadamMuProduct();
    if (counters.step > 0) {
      ComputeAdamStepScalars(groups_[i].hyper, counters.step, groups_[i].lr,
                             &mu_products_[i]);
    }
  }
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
  } else if (reason ==
             static_cast<int64_t>(TerminationReason::kStepNotFinite)) {
    Finish(TerminationReason::kStepNotFinite, kStepNotFiniteMessage);
  } else if (reason != 0) {
    Stop();
  }
  return absl::OkStatus();
}

StepCounters Adam::Counters() const {
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

Progress Adam::progress() const { return Counters().ToProgress(); }

std::string Adam::OptionsReport() const {
  const AdamHyper& h = options_.hyper;
  std::string out;
  switch (h.method) {
    case ElementwiseMethod::kAdam:
      out = absl::StrFormat(
          "    lr %g, betas (%g, %g), eps %g, weight_decay %g (%s), amsgrad "
          "%s\n",
          options_.lr, h.beta1, h.beta2, h.eps, h.weight_decay,
          h.decoupled_weight_decay ? "decoupled" : "L2",
          h.amsgrad ? "on" : "off");
      break;
    case ElementwiseMethod::kSgd:
      out = absl::StrFormat(
          "    lr %g, momentum %g, dampening %g, nesterov %s, weight_decay %g, "
          "maximize %s\n",
          options_.lr, h.momentum, h.dampening, h.nesterov ? "on" : "off",
          h.weight_decay, h.maximize ? "on" : "off");
      break;
    case ElementwiseMethod::kRmsprop:
      out = absl::StrFormat(
          "    lr %g, alpha %g, eps %g, momentum %g, centered %s, "
          "weight_decay %g, maximize %s\n",
          options_.lr, h.alpha, h.eps, h.momentum, h.centered ? "on" : "off",
          h.weight_decay, h.maximize ? "on" : "off");
      break;
    case ElementwiseMethod::kAdagrad:
      out = absl::StrFormat(
          "    lr %g, lr_decay %g, initial_accumulator_value %g, eps %g, "
          "weight_decay %g, maximize %s\n",
          options_.lr, h.lr_decay, h.initial_accumulator_value, h.eps,
          h.weight_decay, h.maximize ? "on" : "off");
      break;
    case ElementwiseMethod::kAdamax:
    case ElementwiseMethod::kNadam:
    case ElementwiseMethod::kRadam:
      out =
          absl::StrFormat("    lr %g, betas (%g, %g), eps %g, weight_decay %g",
                          options_.lr, h.beta1, h.beta2, h.eps, h.weight_decay);
      if (h.method == ElementwiseMethod::kNadam) {
        absl::StrAppendFormat(&out, ", momentum_decay %g", h.momentum_decay);
      }
      if (h.method == ElementwiseMethod::kAdamax) {
        absl::StrAppendFormat(&out, ", maximize %s", h.maximize ? "on" : "off");
      }
      out += "\n";
      break;
    case ElementwiseMethod::kLion:
      out = absl::StrFormat(
          "    lr %g, betas (%g, %g), weight_decay %g (decoupled)\n",
          options_.lr, h.beta1, h.beta2, h.weight_decay);
      break;
  }
  absl::StrAppendFormat(
      &out, "    state %s, max_grad_norm %g, max_steps %d\n",
      options_.dtype == ScalarType::kFloat32 ? "float32" : "float64",
      options_.max_grad_norm, options_.max_steps);
  for (size_t i = 0; i < options_.groups.size(); ++i) {
    const AdamOptions::ResolvedGroup& g = groups_[i];
    absl::StrAppendFormat(
        &out,
        "    group %d: [%d, %d), lr %g, betas (%g, %g), eps %g, "
        "weight_decay %g\n",
        i, g.begin, g.end, g.lr, g.hyper.beta1, g.hyper.beta2, g.hyper.eps,
        g.hyper.weight_decay);
  }
  const LrScheduleOptions& s = options_.schedule;
  if (s.warmup_steps > 0 || s.decay == LrScheduleOptions::Decay::kCosine) {
    absl::StrAppendFormat(&out,
                          "    schedule: warm-up %d steps from %g x lr, %s\n",
                          s.warmup_steps, s.warmup_start_factor,
                          s.decay == LrScheduleOptions::Decay::kCosine
                              ? absl::StrFormat("cosine over %d steps to %g",
                                                s.decay_steps, s.min_lr)
                              : std::string("then constant"));
  }
  return out;
}

}  // namespace optd
