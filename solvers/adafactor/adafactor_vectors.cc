#include "solvers/adafactor/adafactor_vectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/adam/adam_vectors.h"
#include "solvers/sharding/block_reduction.h"

namespace optd {
template <typename T>
AdafactorSlice<T>::AdafactorSlice(ShardRange range,
                                  const std::vector<AdafactorLayer>& layers,
                                  const std::vector<int64_t>& offsets,
                                  bool first_moment)
    : range_(range) {
  int64_t v_size = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const int64_t lo = std::max(offsets[l], range.begin);
    const int64_t hi = std::min(offsets[l + 1], range.end);
    if (lo >= hi) continue;
    Piece piece;
    piece.layer = static_cast<int>(l);
    piece.layer_begin = offsets[l] - range.begin;
    piece.begin = lo - range.begin;
    piece.end = hi - range.begin;
    piece.cols = layers[l].cols;
    piece.v_begin = v_size;
    if (!layers[l].factored()) v_size += hi - lo;
    pieces_.push_back(piece);
  }
  const size_t n = static_cast<size_t>(range.size());
  x_.assign(n, T(0));
  g_.assign(n, T(0));
  if (first_moment) m_.assign(n, T(0));
  v_.assign(static_cast<size_t>(v_size), T(0));
}

template <typename T>
void AdafactorSlice<T>::SetPoint(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), x_.data());
  std::fill(m_.begin(), m_.end(), T(0));
  std::fill(v_.begin(), v_.end(), T(0));
}

template <typename T>
int64_t AdafactorSlice<T>::SetGradient(const ConstVectorView& full,
                                       double* max_abs) {
  full.CopyTo(range_.begin, range_.size(), g_.data());
  T max = 0;
  for (int64_t i = 0; i < range_.size(); ++i) {
    if (!std::isfinite(g_[i])) return range_.begin + i;
    max = std::max(max, std::fabs(g_[i]));
  }
  *max_abs = static_cast<double>(max);
  return -1;
}

template <typename T>
template <typename Visit>
void AdafactorSlice<T>::ForEachBlockPiece(Visit visit) const {
  size_t p = 0;
  for (int64_t lo = 0; lo < range_.size(); lo += kReductionBlock) {
    const int64_t hi = std::min(lo + kReductionBlock, range_.size());
    while (p < pieces_.size() && pieces_[p].end <= lo) ++p;
    for (size_t q = p; q < pieces_.size() && pieces_[q].begin < hi; ++q) {
      visit(pieces_[q], std::max(lo, pieces_[q].begin),
            std::min(hi, pieces_[q].end));
    }
  }
}

template <typename T>
void AdafactorSlice<T>::AccumulateStatistics(double eps1, double beta2t,
                                             AdafactorSums* sums) {
  // RMS(x): one BlockDot per (block, layer) part, added in block order.
  std::vector<double> widened;
  ForEachBlockPiece([&](const Piece& piece, int64_t lo, int64_t hi) {
    widened.assign(x_.begin() + lo, x_.begin() + hi);
    sums->x_squares[piece.layer] +=
        BlockDot(widened.data(), widened.data(), hi - lo);
  });
  // transformers: update = grad**2 + eps[0], in the state dtype.
  const T eps = static_cast<T>(eps1);
  const T decay = static_cast<T>(beta2t);
  const T blend = static_cast<T>(1.0 - beta2t);
  for (const Piece& piece : pieces_) {
    if (piece.cols > 0) {
      // The running row and column sums, continued in global element order.
      double* rows = sums->row_sums[piece.layer].data();
      double* cols = sums->col_sums[piece.layer].data();
      const int64_t local = piece.begin - piece.layer_begin;
      int64_t r = local / piece.cols, c = local % piece.cols;
      for (int64_t e = piece.begin; e < piece.end; ++e) {
        const T sq = g_[e] * g_[e] + eps;
        rows[r] += static_cast<double>(sq);
        cols[c] += static_cast<double>(sq);
        if (++c == piece.cols) {
          c = 0;
          ++r;
        }
      }
    } else {
      // exp_avg_sq.mul_(beta2t).add_(update, alpha=1 - beta2t): ATen's add
      // with alpha is one fma (adam_kernel.h).
      T* v = v_.data() + piece.v_begin;
      for (int64_t e = piece.begin; e < piece.end; ++e) {
        const T sq = g_[e] * g_[e] + eps;
        T& v_e = v[e - piece.begin];
        v_e = std::fma(sq, blend, v_e * decay);
      }
    }
  }
}

template <typename T>
template <typename Visit>
void AdafactorSlice<T>::ForEachUnclipped(const Piece& piece,
                                         const AdafactorFactors<T>& factors,
                                         int64_t lo, int64_t hi,
                                         Visit visit) const {
  if (piece.cols == 0) {
    // exp_avg_sq.rsqrt().mul_(grad)
    const T* v = v_.data() + piece.v_begin;
    for (int64_t e = lo; e < hi; ++e) {
      visit(e, (T(1) / std::sqrt(v[e - piece.begin])) * g_[e]);
    }
    return;
  }
  // torch.mul(r_factor, c_factor).mul_(grad), walking rows and columns.
  const T* rows = factors.row_factor[piece.layer].data();
  const T* cols = factors.col_factor[piece.layer].data();
  const int64_t local = lo - piece.layer_begin;
  int64_t r = local / piece.cols, c = local % piece.cols;
  for (int64_t e = lo; e < hi; ++e) {
    visit(e, (rows[r] * cols[c]) * g_[e]);
    if (++c == piece.cols) {
      c = 0;
      ++r;
    }
  }
}

template <typename T>
void AdafactorSlice<T>::AccumulateUpdateSquares(
    const AdafactorFactors<T>& factors, AdafactorSums* sums) const {
  // RMS(u), as RMS(x): one BlockDot per (block, layer) part of the widened
  // u, added in block order. u is not kept: pass 3 recomputes it.
  std::vector<double> widened(static_cast<size_t>(kReductionBlock));
  ForEachBlockPiece([&](const Piece& piece, int64_t lo, int64_t hi) {
    ForEachUnclipped(piece, factors, lo, hi, [&](int64_t e, T u) {
      widened[e - lo] = static_cast<double>(u);
    });
    sums->u_squares[piece.layer] +=
        BlockDot(widened.data(), widened.data(), hi - lo);
  });
}

template <typename T>
void AdafactorSlice<T>::ApplyUpdate(const AdafactorFactors<T>& factors,
                                    double beta1, double weight_decay) {
  const bool first_moment = !m_.empty();
  const T b1 = static_cast<T>(first_moment ? beta1 : 0.0);
  const T one_minus_b1 = static_cast<T>(first_moment ? 1.0 - beta1 : 0.0);
  for (const Piece& piece : pieces_) {
    const T clip = factors.clip_divisor[piece.layer];
    const T lr = factors.lr[piece.layer];
    const T decay = factors.decay[piece.layer];
    ForEachUnclipped(piece, factors, piece.begin, piece.end,
                     [&](int64_t e, T unclipped) {
                       // update.div_(clip); update.mul_(lr)
                       T update = (unclipped / clip) * lr;
                       if (first_moment) {
                         // exp_avg.mul_(beta1).add_(update, alpha=1 -
                         // beta1); update = exp_avg
                         m_[e] = std::fma(update, one_minus_b1, m_[e] * b1);
                         update = m_[e];
                       }
                       // p.add_(p, alpha=-weight_decay * lr), skipped
                       // when weight_decay == 0.
                       if (weight_decay != 0) {
                         x_[e] = std::fma(x_[e], decay, x_[e]);
                       }
                       x_[e] = x_[e] - update;  // p.add_(-update)
                     });
  }
}

template <typename T>
void AdafactorSlice<T>::ReadPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_.data());
}

template class AdafactorSlice<float>;
template class AdafactorSlice<double>;

// ---------------------------------------------------------------------------

template <typename T>
LocalAdafactorVectors<T>::LocalAdafactorVectors(const AdafactorOptions& options,
                                                const ShardLayout& layout)
    : options_(options),
      layout_(layout),
      layers_(options.ResolvedLayers(layout.dimension())) {
  offsets_.push_back(0);
  for (const AdafactorLayer& layer : layers_) {
    offsets_.push_back(offsets_.back() + layer.size());
    row_stats_.emplace_back(layer.factored() ? layer.rows : 0, T(0));
    col_stats_.emplace_back(layer.factored() ? layer.cols : 0, T(0));
    if (!layer.factored()) v_elements_ += layer.rows;
  }
  for (const ShardRange& range : layout.ranges()) {
    slices_.emplace_back(range, layers_, offsets_, options.beta1.has_value());
  }
}

template <typename T>
ScalarType LocalAdafactorVectors<T>::type() const {
  return std::is_same_v<T, float> ? ScalarType::kFloat32 : ScalarType::kFloat64;
}

template <typename T>
absl::Status LocalAdafactorVectors<T>::SetPoint(const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(layout_.CheckDimension(full.size(), "x0"));
  for (AdafactorSlice<T>& slice : slices_) slice.SetPoint(full);
  for (auto& stats : row_stats_) std::fill(stats.begin(), stats.end(), T(0));
  for (auto& stats : col_stats_) std::fill(stats.begin(), stats.end(), T(0));
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<double> LocalAdafactorVectors<T>::SetGradient(
    const ConstVectorView& full) {
  OPTD_RETURN_IF_ERROR(layout_.CheckDimension(full.size(), "gradient"));
  double max_abs = 0.0;
  for (AdafactorSlice<T>& slice : slices_) {
    double slice_max = 0.0;
    const int64_t bad = slice.SetGradient(full, &slice_max);
    if (bad >= 0) {
      return AdamGradientError(bad, full.Get(bad), std::is_same_v<T, float>);
    }
    max_abs = std::max(max_abs, slice_max);
  }
  return max_abs;
}

template <typename T>
absl::StatusOr<AdafactorStepInfo> LocalAdafactorVectors<T>::Step(int64_t step) {
  const size_t layers = layers_.size();
  // transformers: beta2t = 1.0 - math.pow(state["step"], decay_rate).
  const double t = static_cast<double>(step);
  const double beta2t = 1.0 - std::pow(t, options_.decay_rate);
  AdafactorSums sums;
  sums.x_squares.assign(layers, 0.0);
  sums.u_squares.assign(layers, 0.0);
  sums.row_sums.resize(layers);
  sums.col_sums.resize(layers);
  for (size_t l = 0; l < layers; ++l) {
    sums.row_sums[l].assign(row_stats_[l].size(), 0.0);
    sums.col_sums[l].assign(col_stats_[l].size(), 0.0);
  }
  for (AdafactorSlice<T>& slice : slices_) {
    slice.AccumulateStatistics(options_.eps1, beta2t, &sums);
  }
  // The factored statistics (transformers' step and _approx_sq_grad):
  //   exp_avg_sq_row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1-beta2t)
  //   exp_avg_sq_col.mul_(beta2t).add_(update.mean(dim=-2), alpha=1-beta2t)
  //   r_factor = (row / row.mean(dim=-1, keepdim=True)).rsqrt_()
  //   c_factor = col.rsqrt()
  // The means are sums in double (in the orders above) divided in double and
  // rounded to T; torch sums in T, pairwise.
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
  for (const AdafactorSlice<T>& slice : slices_) {
    slice.AccumulateUpdateSquares(factors, &sums);
  }
  AdafactorStepInfo info;
  for (size_t l = 0; l < layers; ++l) {
    // _rms(tensor) = tensor.norm(2) / (tensor.numel() ** 0.5)
    const double root_numel = std::sqrt(static_cast<double>(layers_[l].size()));
    const double rms_u = std::sqrt(sums.u_squares[l]) / root_numel;
    const double rms_x = std::sqrt(sums.x_squares[l]) / root_numel;
    // update.div_((self._rms(update) / clip_threshold).clamp_(min=1.0))
    factors.clip_divisor[l] =
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
    factors.lr[l] = static_cast<T>(lr);
    factors.decay[l] = static_cast<T>(-options_.weight_decay * lr);
  }
  for (AdafactorSlice<T>& slice : slices_) {
    slice.ApplyUpdate(factors, options_.beta1.value_or(-1.0),
                      options_.weight_decay);
  }
  return info;
}

template <typename T>
absl::Status LocalAdafactorVectors<T>::ReadPoint(
    const MutableVectorView& full) const {
  OPTD_RETURN_IF_ERROR(layout_.CheckDimension(full.size(), "x"));
  for (const AdafactorSlice<T>& slice : slices_) slice.ReadPoint(full);
  return absl::OkStatus();
}

namespace {

template <typename T>
void AppendValues(const std::vector<T>& values, std::string* out) {
  out->append(reinterpret_cast<const char*>(values.data()),
              values.size() * sizeof(T));
}

}  // namespace

template <typename T>
int64_t LocalAdafactorVectors<T>::StateBytes() const {
  int64_t elements =
      dimension() * (options_.beta1.has_value() ? 2 : 1) + v_elements_;
  for (size_t l = 0; l < layers_.size(); ++l) {
    elements += row_stats_[l].size() + col_stats_[l].size();
  }
  return elements * static_cast<int64_t>(sizeof(T));
}

template <typename T>
absl::Status LocalAdafactorVectors<T>::SaveState(std::string* out) const {
  for (const AdafactorSlice<T>& slice : slices_) AppendValues(slice.x(), out);
  for (const AdafactorSlice<T>& slice : slices_) AppendValues(slice.m(), out);
  for (const AdafactorSlice<T>& slice : slices_) AppendValues(slice.v(), out);
  for (const auto& stats : row_stats_) AppendValues(stats, out);
  for (const auto& stats : col_stats_) AppendValues(stats, out);
  return absl::OkStatus();
}

template <typename T>
absl::Status LocalAdafactorVectors<T>::LoadState(std::string_view in) {
  if (static_cast<int64_t>(in.size()) != StateBytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Adafactor vectors' state has ", in.size(),
                     " bytes; a session of this dimension, layers and "
                     "options has ",
                     StateBytes()));
  }
  // Read into copies first: a bad state leaves the session as it was.
  size_t offset = 0;
  const size_t x_bytes = static_cast<size_t>(dimension()) * sizeof(T);
  const size_t m_bytes = options_.beta1.has_value() ? x_bytes : 0;
  const char* x_bytes_at = in.data();
  const char* m_at = x_bytes_at + x_bytes;
  const char* v_at = m_at + m_bytes;
  const char* stats_at = v_at + static_cast<size_t>(v_elements_) * sizeof(T);
  auto read = [](const char* at, size_t count) {
    std::vector<T> values(count);
    std::memcpy(values.data(), at, count * sizeof(T));
    return values;
  };
  const std::vector<T> x = read(x_bytes_at, static_cast<size_t>(dimension()));
  const std::vector<T> v = read(v_at, static_cast<size_t>(v_elements_));
  size_t stats_count = 0;
  for (size_t l = 0; l < layers_.size(); ++l) {
    stats_count += row_stats_[l].size() + col_stats_[l].size();
  }
  const std::vector<T> stats = read(stats_at, stats_count);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("the state's x[", i, "] is ", x[i], "; it is finite"));
    }
  }
  auto check_nonnegative = [](const std::vector<T>& values,
                              absl::string_view what) -> absl::Status {
    for (size_t i = 0; i < values.size(); ++i) {
      if (!(std::isfinite(values[i]) && values[i] >= 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("the state's ", what, "[", i, "] is ", values[i],
                         "; it is finite and >= 0"));
      }
    }
    return absl::OkStatus();
  };
  if (m_bytes > 0) {
    const std::vector<T> m = read(m_at, static_cast<size_t>(dimension()));
    for (size_t i = 0; i < m.size(); ++i) {
      if (!std::isfinite(m[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("the state's m[", i, "] is ", m[i], "; it is finite"));
      }
    }
  }
  OPTD_RETURN_IF_ERROR(check_nonnegative(v, "v"));
  OPTD_RETURN_IF_ERROR(check_nonnegative(stats, "row and column statistics"));
  for (AdafactorSlice<T>& slice : slices_) {
    const ShardRange& range = slice.range();
    std::copy(x.begin() + range.begin, x.begin() + range.end,
              slice.x().begin());
    if (m_bytes > 0) {
      std::memcpy(slice.m().data(), m_at + range.begin * sizeof(T),
                  static_cast<size_t>(range.size()) * sizeof(T));
    }
    std::copy(v.begin() + offset, v.begin() + offset + slice.v().size(),
              slice.v().begin());
    offset += slice.v().size();
  }
  size_t at = 0;
  for (auto& r : row_stats_) {
    std::copy(stats.begin() + at, stats.begin() + at + r.size(), r.begin());
    at += r.size();
  }
  for (auto& c : col_stats_) {
    std::copy(stats.begin() + at, stats.begin() + at + c.size(), c.begin());
    at += c.size();
  }
  return absl::OkStatus();
}

template class LocalAdafactorVectors<float>;
template class LocalAdafactorVectors<double>;

}  // namespace optd
