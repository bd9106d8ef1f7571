#include "solvers/adafactor/adafactor_options.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "solvers/core/option_checks.h"

namespace optd {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 53;

bool FiniteAtLeast(double value, double low) {
  return std::isfinite(value) && value >= low;
}

}  // namespace

absl::Status AdafactorOptions::Validate() const {
  constexpr char kName[] = "adafactor";
  if (lr.has_value() && !(std::isfinite(*lr) && *lr > 0)) {
    return OptionOutOfRange(kName, "lr", *lr, "(0, inf)");
  }
  if (!(std::isfinite(eps1) && eps1 > 0)) {
    return OptionOutOfRange(kName, "eps1", eps1, "(0, inf)");
  }
  if (!FiniteAtLeast(eps2, 0)) {
    return OptionOutOfRange(kName, "eps2", eps2, "[0, inf)");
  }
  if (!(std::isfinite(clip_threshold) && clip_threshold > 0)) {
    return OptionOutOfRange(kName, "clip_threshold", clip_threshold,
                            "(0, inf)");
  }
  if (!(decay_rate >= -100 && decay_rate <= 0)) {
    return OptionOutOfRange(kName, "decay_rate", decay_rate, "[-100, 0]");
  }
  if (beta1.has_value() && !(*beta1 >= 0 && *beta1 < 1)) {
    return OptionOutOfRange(kName, "beta1", *beta1, "[0, 1)");
  }
  if (!FiniteAtLeast(weight_decay, 0)) {
    return OptionOutOfRange(kName, "weight_decay", weight_decay, "[0, inf)");
  }
  if (max_steps < 0 || max_steps > kMaxCount) {
    return OptionOutOfRange(kName, "max_steps", static_cast<double>(max_steps),
                            "[0, 2^53]");
  }
  // transformers' Adafactor.__init__ and _get_lr.
  if (lr.has_value() && relative_step) {
    return absl::InvalidArgumentError(
        "adafactor.lr is set and adafactor.relative_step is true; a manual lr "
        "needs relative_step false (transformers: \"Cannot combine manual "
        "`lr` and `relative_step=True` options\")");
  }
  if (warmup_init && !relative_step) {
    return absl::InvalidArgumentError(
        "adafactor.warmup_init is true and adafactor.relative_step is false; "
        "warmup_init needs relative_step true");
  }
  if (!lr.has_value() && !relative_step) {
    return absl::InvalidArgumentError(
        "adafactor.lr is unset and adafactor.relative_step is false; set an lr "
        "or leave relative_step true");
  }
  return absl::OkStatus();
}

absl::Status AdafactorOptions::ValidateLayers(int64_t dimension) const {
  if (static_cast<int64_t>(layers.size()) > kMaxAdafactorLayers) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers has ", layers.size(), " entries; at most ",
                     kMaxAdafactorLayers, " are allowed"));
  }
  int64_t covered = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const AdafactorLayer& layer = layers[i];
    if (layer.rows < 1 || layer.rows > kMaxCount) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layers[", i, "].rows is ", layer.rows, "; it must be in [1, 2^53]"));
    }
    if (layer.cols < 0 || layer.cols > kMaxCount) {
      return absl::InvalidArgumentError(
          absl::StrCat("layers[", i, "].cols is ", layer.cols,
                       "; it must be in [0, 2^53] (0: a vector)"));
    }
    // Checked before multiplying: rows * cols and the running total must not
    // overflow, and no layer may reach past the dimension.
    const int64_t room = dimension - covered;
    if (layer.factored() ? layer.rows > room / layer.cols : layer.rows > room) {
      return absl::InvalidArgumentError(
          absl::StrCat("layers[", i, "] (", layer.rows, " x ", layer.cols,
                       ") ends past ", "the session's dimension ", dimension,
                       " (layers before it cover ", covered, " elements)"));
    }
    covered += layer.size();
  }
  if (!layers.empty() && covered != dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("layers cover ", covered,
                     " elements; the session has dimension ", dimension));
  }
  return absl::OkStatus();
}

std::vector<AdafactorLayer> AdafactorOptions::ResolvedLayers(
    int64_t dimension) const {
  if (!layers.empty()) return layers;
  return {AdafactorLayer{dimension, 0}};
}

}  // namespace optd
