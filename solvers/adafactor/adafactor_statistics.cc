#include "solvers/adafactor/adafactor_statistics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace optd {

std::vector<int64_t> AdafactorLayerOffsets(
    const std::vector<AdafactorLayer>& layers) {
  std::vector<int64_t> offsets{0};
  for (const AdafactorLayer& layer : layers) {
    offsets.push_back(offsets.back() + layer.size());
  }
  return offsets;
}

AdafactorSums NewAdafactorSums(const std::vector<AdafactorLayer>& layers) {
  const size_t n = layers.size();
  AdafactorSums sums;
  sums.x_squares.assign(n, 0.0);
  sums.u_squares.assign(n, 0.0);
  sums.row_sums.resize(n);
  sums.col_sums.resize(n);
  for (size_t l = 0; l < n; ++l) {
    if (!layers[l].factored()) continue;
    sums.row_sums[l].assign(static_cast<size_t>(layers[l].rows), 0.0);
    sums.col_sums[l].assign(static_cast<size_t>(layers[l].cols), 0.0);
  }
  return sums;
}

int64_t AdafactorVectorElements(const std::vector<AdafactorLayer>& layers,
                                const std::vector<int64_t>& offsets,
                                ShardRange range) {
  int64_t count = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].factored()) continue;
    const int64_t lo = std::max(offsets[l], range.begin);
    const int64_t hi = std::min(offsets[l + 1], range.end);
    if (lo < hi) count += hi - lo;
  }
  return count;
}

int64_t AdafactorStateBytes(int64_t dimension, bool first_moment,
                            int64_t v_elements, int64_t stats_elements,
                            int64_t width) {
  return (dimension * (first_moment ? 2 : 1) + v_elements + stats_elements) *
         width;
}

template <typename T>
absl::Status CheckAdafactorState(std::string_view in, int64_t dimension,
                                 bool first_moment, int64_t v_elements) {
  const size_t n = static_cast<size_t>(dimension);
  const size_t sections[] = {n, first_moment ? n : 0,
                             static_cast<size_t>(v_elements)};
  const char* names[] = {"x", "m", "v"};
  size_t at = 0;
  for (int which = 0; which < 3; ++which) {
    for (size_t i = 0; i < sections[which]; ++i, ++at) {
      T value;
      std::memcpy(&value, in.data() + at * sizeof(T), sizeof(T));
      const bool is_v = which == 2;
      if (std::isfinite(value) && (!is_v || value >= 0)) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("the state's ", names[which], "[", i, "] is ", value,
                       is_v ? "; it is finite and >= 0" : "; it is finite"));
    }
  }
  return absl::OkStatus();
}

template absl::Status CheckAdafactorState<float>(std::string_view, int64_t,
                                                 bool, int64_t);
template absl::Status CheckAdafactorState<double>(std::string_view, int64_t,
                                                  bool, int64_t);

std::vector<double> FlattenStatisticsSums(const AdafactorSums& sums) {
  std::vector<double> flat(sums.x_squares);
  for (size_t l = 0; l < sums.row_sums.size(); ++l) {
    flat.insert(flat.end(), sums.row_sums[l].begin(), sums.row_sums[l].end());
    flat.insert(flat.end(), sums.col_sums[l].begin(), sums.col_sums[l].end());
  }
  return flat;
}

absl::Status UnflattenStatisticsSums(absl::Span<const double> flat,
                                     AdafactorSums* sums) {
  size_t need = sums->x_squares.size();
  for (size_t l = 0; l < sums->row_sums.size(); ++l) {
    need += sums->row_sums[l].size() + sums->col_sums[l].size();
  }
  if (flat.size() != need) {
    return absl::InvalidArgumentError(
        absl::StrCat("the running sums have ", flat.size(),
                     " values; the layers need ", need));
  }
  const double* at = flat.data();
  std::copy(at, at + sums->x_squares.size(), sums->x_squares.begin());
  at += sums->x_squares.size();
  for (size_t l = 0; l < sums->row_sums.size(); ++l) {
    std::copy(at, at + sums->row_sums[l].size(), sums->row_sums[l].begin());
    at += sums->row_sums[l].size();
    std::copy(at, at + sums->col_sums[l].size(), sums->col_sums[l].begin());
    at += sums->col_sums[l].size();
  }
  return absl::OkStatus();
}

template <typename T>
std::vector<double> FlattenFactors(const AdafactorFactors<T>& factors,
                                   bool layer_scalars) {
  std::vector<double> flat;
  for (size_t l = 0; l < factors.row_factor.size(); ++l) {
    flat.insert(flat.end(), factors.row_factor[l].begin(),
                factors.row_factor[l].end());
    flat.insert(flat.end(), factors.col_factor[l].begin(),
                factors.col_factor[l].end());
  }
  if (layer_scalars) {
    for (size_t l = 0; l < factors.lr.size(); ++l) {
      flat.push_back(factors.clip_divisor[l]);
      flat.push_back(factors.lr[l]);
      flat.push_back(factors.decay[l]);
    }
  }
  return flat;
}

template <typename T>
absl::Status UnflattenFactors(absl::Span<const double> flat,
                              const std::vector<AdafactorLayer>& layers,
                              bool layer_scalars, AdafactorFactors<T>* out) {
  const size_t n = layers.size();
  size_t need = layer_scalars ? 3 * n : 0;
  for (const AdafactorLayer& layer : layers) {
    if (layer.factored()) need += layer.rows + layer.cols;
  }
  if (flat.size() != need) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the factors have ", flat.size(), " values; the layers need ", need));
  }
  out->row_factor.assign(n, {});
  out->col_factor.assign(n, {});
  out->clip_divisor.assign(n, T(0));
  out->lr.assign(n, T(0));
  out->decay.assign(n, T(0));
  const double* at = flat.data();
  for (size_t l = 0; l < n; ++l) {
    if (!layers[l].factored()) continue;
    out->row_factor[l].assign(at, at + layers[l].rows);
    at += layers[l].rows;
    out->col_factor[l].assign(at, at + layers[l].cols);
    at += layers[l].cols;
  }
  if (layer_scalars) {
    for (size_t l = 0; l < n; ++l) {
      out->clip_divisor[l] = static_cast<T>(*at++);
      out->lr[l] = static_cast<T>(*at++);
      out->decay[l] = static_cast<T>(*at++);
    }
  }
  return absl::OkStatus();
}

template std::vector<double> FlattenFactors(const AdafactorFactors<float>&,
                                            bool);
template std::vector<double> FlattenFactors(const AdafactorFactors<double>&,
                                            bool);
template absl::Status UnflattenFactors(absl::Span<const double>,
                                       const std::vector<AdafactorLayer>&, bool,
                                       AdafactorFactors<float>*);
template absl::Status UnflattenFactors(absl::Span<const double>,
                                       const std::vector<AdafactorLayer>&, bool,
                                       AdafactorFactors<double>*);

// ---------------------------------------------------------------------------

template <typename T>
AdafactorStatistics<T>::AdafactorStatistics(const AdafactorOptions& options,
                                            int64_t dimension)
    : options_(options),
      layers_(options.ResolvedLayers(dimension)),
      offsets_(AdafactorLayerOffsets(layers_)) {
  for (const AdafactorLayer& layer : layers_) {
    row_stats_.emplace_back(layer.factored() ? layer.rows : 0, T(0));
    col_stats_.emplace_back(layer.factored() ? layer.cols : 0, T(0));
    if (!layer.factored()) v_elements_ += layer.rows;
  }
}

template <typename T>
int64_t AdafactorStatistics<T>::elements() const {
  int64_t count = 0;
  for (size_t l = 0; l < layers_.size(); ++l) {
    count += row_stats_[l].size() + col_stats_[l].size();
  }
  return count;
}

template <typename T>
double AdafactorStatistics<T>::Beta2t(int64_t step) const {
  return 1.0 - std::pow(static_cast<double>(step), options_.decay_rate);
}

template <typename T>
void AdafactorStatistics<T>::Reset() {
  for (auto& stats : row_stats_) std::fill(stats.begin(), stats.end(), T(0));
  for (auto& stats : col_stats_) std::fill(stats.begin(), stats.end(), T(0));
}

template <typename T>
AdafactorFactors<T> AdafactorStatistics<T>::UpdateFactored(
    const AdafactorSums& sums, double beta2t) {
  // The factored statistics (transformers' step and _approx_sq_grad):
  //   exp_avg_sq_row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1-beta2t)
  //   exp_avg_sq_col.mul_(beta2t).add_(update.mean(dim=-2), alpha=1-beta2t)
  //   r_factor = (row / row.mean(dim=-1, keepdim=True)).rsqrt_()
  //   c_factor = col.rsqrt()
  // The means are sums in double (in the orders of adafactor_vectors.h)
  // divided in double and rounded to T; torch sums in T, pairwise.
  const size_t layers = layers_.size();
  const T decay = static_cast<T>(beta2t);
  const T blend = static_cast<T>(1.0 - beta2t);
  AdafactorFactors<T> factors;
  factors.row_factor.resize(layers);
  factors.col_factor.resize(layers);
  factors.clip_divisor.resize(layers);
  factors.lr.resize(layers);
  factors.decay.resize(layers);
  for (size_t l = 0; l < layers; ++l) {
    if (!layers_[l].factored()) continue;
    const double rows = static_cast<double>(layers_[l].rows);
    const double cols = static_cast<double>(layers_[l].cols);
    std::vector<T>& r = row_stats_[l];
    std::vector<T>& c = col_stats_[l];
    double r_sum = 0.0;
    for (size_t i = 0; i < r.size(); ++i) {
      const T mean = static_cast<T>(sums.row_sums[l][i] / cols);
      r[i] = std::fma(mean, blend, r[i] * decay);
      r_sum += static_cast<double>(r[i]);
    }
    for (size_t j = 0; j < c.size(); ++j) {
      const T mean = static_cast<T>(sums.col_sums[l][j] / rows);
      c[j] = std::fma(mean, blend, c[j] * decay);
    }
    const T r_mean = static_cast<T>(r_sum / rows);
    factors.row_factor[l].resize(r.size());
    factors.col_factor[l].resize(c.size());
    for (size_t i = 0; i < r.size(); ++i) {
      factors.row_factor[l][i] = T(1) / std::sqrt(r[i] / r_mean);
    }
    for (size_t j = 0; j < c.size(); ++j) {
      factors.col_factor[l][j] = T(1) / std::sqrt(c[j]);
    }
  }
  return factors;
}

template <typename T>
AdafactorStepInfo AdafactorStatistics<T>::FinishFactors(
    const AdafactorSums& sums, int64_t step,
    AdafactorFactors<T>* factors) const {
  const double t = static_cast<double>(step);
  AdafactorStepInfo info;
  for (size_t l = 0; l < layers_.size(); ++l) {
    // _rms(tensor) = tensor.norm(2) / (tensor.numel() ** 0.5)
    const double root_numel = std::sqrt(static_cast<double>(layers_[l].size()));
    const double rms_u = std::sqrt(sums.u_squares[l]) / root_numel;
    const double rms_x = std::sqrt(sums.x_squares[l]) / root_numel;
    // update.div_((self._rms(update) / clip_threshold).clamp_(min=1.0))
    factors->clip_divisor[l] =
        static_cast<T>(std::max(rms_u / options_.clip_threshold, 1.0));
    // _get_lr: rel_step_sz = min(min_step, 1/sqrt(step)) with min_step
    // 1e-6 * step (warmup_init) or 1e-2; param_scale = max(eps[1], RMS).
    double step_size = options_.lr.value_or(0.0);
    if (options_.relative_step) {
      const double min_step = options_.warmup_init ? 1e-6 * t : 1e-2;
      step_size = std::min(min_step, 1.0 / std::sqrt(t));
    }
    const double scale =
        options_.scale_parameter ? std::max(options_.eps2, rms_x) : 1.0;
    const double lr = scale * step_size;
    if (l == 0) info.first_lr = lr;
    factors->lr[l] = static_cast<T>(lr);
    factors->decay[l] = static_cast<T>(-options_.weight_decay * lr);
  }
  return info;
}

template <typename T>
void AdafactorStatistics<T>::Append(std::string* out) const {
  for (const auto* all : {&row_stats_, &col_stats_}) {
    for (const std::vector<T>& stats : *all) {
      out->append(reinterpret_cast<const char*>(stats.data()),
                  stats.size() * sizeof(T));
    }
  }
}

template <typename T>
absl::Status AdafactorStatistics<T>::Load(std::string_view in) {
  const size_t count = static_cast<size_t>(elements());
  if (in.size() != count * sizeof(T)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the row and column statistics have ", in.size(),
                     " bytes; the layers need ", count * sizeof(T)));
  }
  std::vector<T> values(count);
  if (count > 0) std::memcpy(values.data(), in.data(), in.size());
  for (size_t i = 0; i < count; ++i) {
    if (!(std::isfinite(values[i]) && values[i] >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the state's row and column statistics[", i, "] is ",
                       values[i], "; it is finite and >= 0"));
    }
  }
  size_t at = 0;
  for (auto* all : {&row_stats_, &col_stats_}) {
    for (std::vector<T>& stats : *all) {
      std::copy(values.begin() + at, values.begin() + at + stats.size(),
                stats.begin());
      at += stats.size();
    }
  }
  return absl::OkStatus();
}

template class AdafactorStatistics<float>;
template class AdafactorStatistics<double>;

}  // namespace optd
