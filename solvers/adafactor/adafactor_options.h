// Options of the Adafactor solver (adafactor.h) and the layer shapes its
// factored second moment needs.
//
// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
// Sublinear Memory Cost", Algorithms 4 and 5) keeps, for a matrix of r x c
// parameters, r row statistics and c column statistics in place of Adam's
// r*c second moments. optd follows the semantics and defaults of HuggingFace
// transformers' `Adafactor` (transformers/optimization.py, the implementation
// most training scripts use, itself "copied from fairseq"): relative step
// sizes, parameter scaling by RMS(x), update clipping by RMS(u), decay rate
// beta2_t = 1 - t^decay_rate, and an optional first moment.
//
// The shapes come from the session's `layers`: an ordered list of (rows,
// cols) tiling x. cols = 0 is a vector of `rows` elements (unfactored, as
// transformers treats a 1-D parameter); cols >= 1 a row-major rows x cols
// matrix (factored, as transformers treats every 2-D parameter, (n, 1)
// included). No layers: x is one vector.
//
//   AdafactorOptions options;                  // transformers' defaults
//   options.layers = {{1024, 1024}, {1024, 0}};  // weight, then bias
//   OPTD_RETURN_IF_ERROR(options.Validate());
//   OPTD_RETURN_IF_ERROR(options.ValidateLayers(x0.size()));
//
// Thread-safety: plain values.
#ifndef OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_OPTIONS_H_
#define OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "solvers/core/vector_view.h"

namespace optd {

// AdafactorLayer: one parameter tensor of the model, in order along x.
struct AdafactorLayer {
  // Rows of a matrix, or the length of a vector. Range [1, 2^53].
  int64_t rows = 0;
  // Columns of a matrix; 0: the layer is a vector. Range [0, 2^53].
  int64_t cols = 0;

  bool factored() const { return cols > 0; }
  // Elements of x the layer covers.
  int64_t size() const { return factored() ? rows * cols : rows; }
};

// The most layers a session may describe: the controller keeps a few
// scalars per layer and walks the list every step.
inline constexpr int64_t kMaxAdafactorLayers = 1 << 20;

// AdafactorOptions: defaults are transformers' `Adafactor.__init__`.
struct AdafactorOptions {
  // External learning rate. Default unset (transformers' lr=None): the
  // relative step min(1e-2, 1/sqrt(t)) is used. Range (0, inf); set exactly
  // when relative_step is false (transformers raises ValueError otherwise).
  std::optional<double> lr;
  // eps[0], added to g^2. Default 1e-30; range (0, inf): transformers
  // accepts 0, where a zero gradient row makes 0 / 0 (NaN parameters).
  double eps1 = 1e-30;
  // eps[1], the least parameter scale. Default 1e-3; range [0, inf).
  double eps2 = 1e-3;
  // The update u is divided by max(1, RMS(u) / clip_threshold) per layer.
  // Default 1.0; range (0, inf).
  double clip_threshold = 1.0;
  // beta2_t = 1 - t^decay_rate. Default -0.8; range [-100, 0].
  double decay_rate = -0.8;
  // First-moment decay; unset: no first moment (transformers' beta1=None).
  // Range [0, 1).
  std::optional<double> beta1;
  // x <- x - lr wd x before the update. Default 0; range [0, inf).
  double weight_decay = 0.0;
  // Scale the step by max(eps2, RMS(x)) per layer. Default true.
  bool scale_parameter = true;
  // Time-dependent step min(1e-2, 1/sqrt(t)). Default true.
  bool relative_step = true;
  // With relative_step: min(1e-6 t, 1/sqrt(t)) instead. Default false.
  bool warmup_init = false;
  // Precision of x and the state. Default float64.
  ScalarType dtype = ScalarType::kFloat64;
  // Finish after this many steps; 0: never. Default 0; range [0, 2^53].
  int64_t max_steps = 0;
  // The parameter shapes along x; empty: x is one vector. Default empty.
  std::vector<AdafactorLayer> layers;

  // AdafactorOptions::Validate()
  //
  // INVALID_ARGUMENT naming the field ("adafactor.clip_threshold"), its value
  // and the range, or the combination transformers refuses (lr with
  // relative_step, warmup_init without it, neither lr nor relative_step).
  absl::Status Validate() const;
  // AdafactorOptions::ValidateLayers()
  //
  // INVALID_ARGUMENT unless `layers` is empty or its sizes are positive and
  // add up to `dimension` ("layers[2].rows is 0; it must be in [1, 2^53]",
  // "layers cover 12 elements; the session has dimension 10"), with at most
  // kMaxAdafactorLayers layers.
  absl::Status ValidateLayers(int64_t dimension) const;
  // `layers`, or one vector of `dimension` elements when empty.
  std::vector<AdafactorLayer> ResolvedLayers(int64_t dimension) const;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_OPTIONS_H_
