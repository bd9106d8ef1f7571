// AdafactorStatistics<T>: the controller's part of an Adafactor step
// (adafactor_vectors.h), shared by the in-process vectors and the vectors
// over slices on other replicas (server/sharding/remote_vectors.h): the
// matrices' row and column statistics R and C, the update of R and C from
// pass 1's sums, the factors passes 2 and 3 use, and each layer's clipping
// divisor and learning rate from pass 2's sums.
//
// Also the flat forms of the running sums and the factors that the shard
// wire carries (proto/optd/v1/shard.proto SLICE_OP_ADAFACTOR_*): plain
// doubles, so that solvers/ needs no protobuf. A value of type T is exact in
// a double, so the factors cross the wire unchanged.
//
//   AdafactorStatistics<float> stats(options, n);
//   AdafactorSums sums = stats.NewSums();
//   ... pass 1 over the slices, in order ...
//   AdafactorFactors<float> factors = stats.UpdateFactored(sums, beta2t);
//   ... pass 2 ...
//   AdafactorStepInfo info = stats.FinishFactors(sums, step, &factors);
//   ... pass 3 ...
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_STATISTICS_H_
#define OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_STATISTICS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "solvers/adafactor/adafactor_options.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// AdafactorStepInfo: what one step reports back to the solver.
struct AdafactorStepInfo {
  // The first layer's learning rate (transformers' _get_lr) of this step.
  double first_lr = 0.0;
};

// AdafactorSums: what passes 1 and 2 accumulate, carried by the controller
// from slice to slice, one entry per layer (row and column sums only for
// matrices; empty for vectors).
struct AdafactorSums {
  std::vector<double> x_squares, u_squares;
  std::vector<std::vector<double>> row_sums, col_sums;
};

// AdafactorFactors<T>: what the controller hands the slices for passes 2
// and 3, one entry per layer.
template <typename T>
struct AdafactorFactors {
  // Matrices: rsqrt(R_i / mean(R)) and rsqrt(C_j) (transformers'
  // _approx_sq_grad); empty for vectors.
  std::vector<std::vector<T>> row_factor, col_factor;
  // Pass 3: max(1, RMS(u) / clip_threshold), the layer's lr, and
  // -weight_decay * lr.
  std::vector<T> clip_divisor, lr, decay;
};

// Where each layer begins along x: offsets[l] for layer l, and the
// dimension last (layers.size() + 1 entries).
std::vector<int64_t> AdafactorLayerOffsets(
    const std::vector<AdafactorLayer>& layers);

// Zero running sums for one step over `layers` (AdafactorSums).
AdafactorSums NewAdafactorSums(const std::vector<AdafactorLayer>& layers);

// Elements of v (the vector layers' elements) in [range.begin, range.end).
int64_t AdafactorVectorElements(const std::vector<AdafactorLayer>& layers,
                                const std::vector<int64_t>& offsets,
                                ShardRange range);

// Bytes of AdafactorVectors::SaveState: x, m (with `first_moment`) and v,
// then R and C (`stats_elements`), each element `width` bytes.
int64_t AdafactorStateBytes(int64_t dimension, bool first_moment,
                            int64_t v_elements, int64_t stats_elements,
                            int64_t width);

// Checks the x, m (with `first_moment`) and v sections at the front of an
// AdafactorVectors::SaveState `in` of `dimension` and `v_elements`, in the
// native bytes of T: INVALID_ARGUMENT naming the first x or m that is not
// finite, or v that is not finite and >= 0, by its global index.
// REQUIRES: `in` holds at least those sections.
template <typename T>
absl::Status CheckAdafactorState(std::string_view in, int64_t dimension,
                                 bool first_moment, int64_t v_elements);

// Pass 1's running sums flat: every layer's sum x^2, then each matrix
// layer's row sums and column sums, in layer order.
std::vector<double> FlattenStatisticsSums(const AdafactorSums& sums);
// Reads them back into `sums` (sized by NewAdafactorSums). INVALID_ARGUMENT
// naming both sizes when `flat` has another size.
absl::Status UnflattenStatisticsSums(absl::Span<const double> flat,
                                     AdafactorSums* sums);

// The factors flat: each matrix layer's row factors then column factors;
// with `layer_scalars`, then every layer's clipping divisor, lr and decay.
template <typename T>
std::vector<double> FlattenFactors(const AdafactorFactors<T>& factors,
                                   bool layer_scalars);
// Reads them back for `layers`, rounded to T (exact for values FlattenFactors
// wrote). INVALID_ARGUMENT naming both sizes when `flat` has another size.
template <typename T>
absl::Status UnflattenFactors(absl::Span<const double> flat,
                              const std::vector<AdafactorLayer>& layers,
                              bool layer_scalars, AdafactorFactors<T>* out);

template <typename T>
class AdafactorStatistics {
 public:
  // REQUIRES: options.Validate() and options.ValidateLayers(dimension) OK.
  AdafactorStatistics(const AdafactorOptions& options, int64_t dimension);

  const std::vector<AdafactorLayer>& layers() const { return layers_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }
  // Elements of v over all vector layers, and of R and C together.
  int64_t v_elements() const { return v_elements_; }
  int64_t elements() const;
  // beta2_t of step `step` (1 for the first): transformers'
  // 1.0 - math.pow(state["step"], decay_rate).
  double Beta2t(int64_t step) const;

  // R, C <- 0.
  void Reset();
  AdafactorSums NewSums() const { return NewAdafactorSums(layers_); }
  // Between passes 1 and 2: R and C updated with pass 1's row and column
  // sums; returns the row and column factors (clip_divisor, lr and decay
  // sized, set by FinishFactors).
  AdafactorFactors<T> UpdateFactored(const AdafactorSums& sums, double beta2t);
  // Between passes 2 and 3: every layer's clipping divisor, lr and decay
  // from the sums of x^2 and u^2.
  AdafactorStepInfo FinishFactors(const AdafactorSums& sums, int64_t step,
                                  AdafactorFactors<T>* factors) const;

  // R of every matrix, then C of every matrix, in the native bytes of T.
  void Append(std::string* out) const;
  // Reads what Append wrote. INVALID_ARGUMENT for a wrong size, or a value
  // that is not finite or below 0 (R and C unchanged).
  absl::Status Load(std::string_view in);

 private:
  AdafactorOptions options_;
  std::vector<AdafactorLayer> layers_;
  std::vector<int64_t> offsets_;
  // transformers' exp_avg_sq_row, exp_avg_sq_col; empty for vectors.
  std::vector<std::vector<T>> row_stats_, col_stats_;
  int64_t v_elements_ = 0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAFACTOR_ADAFACTOR_STATISTICS_H_
