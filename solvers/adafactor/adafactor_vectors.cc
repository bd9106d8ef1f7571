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
void AdafactorSlice<T>::AccumulateStatistics(double eps1,
                                             AdafactorSums* sums) const {
  // RMS(x): one BlockDot per (block, layer) part, added in block order.
  std::vector<double> widened;
  ForEachBlockPiece([&](const Piece& piece, int64_t lo, int64_t hi) {
    widened.assign(x_.begin() + lo, x_.begin() + hi);
    sums->x_squares[piece.layer] +=
        BlockDot(widened.data(), widened.data(), hi - lo);
  });
  // transformers: update = grad**2 + eps[0], in the state dtype.
  const T eps = static_cast<T>(eps1);
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
    }
  }
}

template <typename T>
void AdafactorSlice<T>::UpdateSecondMoment(double eps1, double beta2t) {
  const T eps = static_cast<T>(eps1);
  const T decay = static_cast<T>(beta2t);
  const T blend = static_cast<T>(1.0 - beta2t);
  for (const Piece& piece : pieces_) {
    if (piece.cols > 0) continue;
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

template <typename T>
void AdafactorSlice<T>::SaveState(std::string* out) const {
  for (const std::vector<T>* values : {&x_, &m_, &v_}) {
    out->append(reinterpret_cast<const char*>(values->data()),
                values->size() * sizeof(T));
  }
}

template <typename T>
absl::Status AdafactorSlice<T>::LoadState(std::string_view in) {
  const size_t need = (x_.size() + m_.size() + v_.size()) * sizeof(T);
  if (in.size() != need) {
    return absl::InvalidArgumentError(
        absl::StrCat("the slice's state has ", in.size(), " bytes; the slice [",
                     range_.begin, ", ", range_.end, ") needs ", need));
  }
  std::vector<T> values(x_.size() + m_.size() + v_.size());
  if (need > 0) std::memcpy(values.data(), in.data(), need);
  // x and m finite; v (the vector layers' elements of the range) >= 0 too.
  for (size_t i = 0; i < values.size(); ++i) {
    const bool is_v = i >= x_.size() + m_.size();
    if (std::isfinite(values[i]) && (!is_v || values[i] >= 0)) continue;
    const char* what = i < x_.size() ? "x" : is_v ? "v" : "m";
    const size_t at = i < x_.size() ? i
                      : is_v        ? i - x_.size() - m_.size()
                                    : i - x_.size();
    return absl::InvalidArgumentError(
        absl::StrCat("the slice's ", what, "[", at, "] (of the slice [",
                     range_.begin, ", ", range_.end, ")) is ", values[i],
                     is_v ? "; it is finite and >= 0" : "; it is finite"));
  }
  auto at = values.begin();
  for (std::vector<T>* state : {&x_, &m_, &v_}) {
    std::copy(at, at + state->size(), state->begin());
    at += state->size();
  }
  return absl::OkStatus();
}

template class AdafactorSlice<float>;
template class AdafactorSlice<double>;

// ---------------------------------------------------------------------------

template <typename T>
LocalAdafactorVectors<T>::LocalAdafactorVectors(const AdafactorOptions& options,
                                                const ShardLayout& layout)
    : options_(options), layout_(layout), stats_(options, layout.dimension()) {
  for (const ShardRange& range : layout.ranges()) {
    slices_.emplace_back(range, stats_.layers(), stats_.offsets(),
                         options.beta1.has_value());
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
  stats_.Reset();
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
  const double beta2t = stats_.Beta2t(step);
  AdafactorSums sums = stats_.NewSums();
  for (AdafactorSlice<T>& slice : slices_) {
    slice.AccumulateStatistics(options_.eps1, &sums);
    slice.UpdateSecondMoment(options_.eps1, beta2t);
  }
  AdafactorFactors<T> factors = stats_.UpdateFactored(sums, beta2t);
  for (const AdafactorSlice<T>& slice : slices_) {
    slice.AccumulateUpdateSquares(factors, &sums);
  }
  const AdafactorStepInfo info = stats_.FinishFactors(sums, step, &factors);
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
  return AdafactorStateBytes(dimension(), options_.beta1.has_value(),
                             stats_.v_elements(), stats_.elements(), sizeof(T));
}

template <typename T>
absl::Status LocalAdafactorVectors<T>::SaveState(std::string* out) const {
  for (const AdafactorSlice<T>& slice : slices_) AppendValues(slice.x(), out);
  for (const AdafactorSlice<T>& slice : slices_) AppendValues(slice.m(), out);
  for (const AdafactorSlice<T>& slice : slices_) AppendValues(slice.v(), out);
  stats_.Append(out);
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
  // Checked first: a bad state leaves the session as it was.
  OPTD_RETURN_IF_ERROR(CheckAdafactorState<T>(
      in, dimension(), options_.beta1.has_value(), stats_.v_elements()));
  const size_t x_bytes = static_cast<size_t>(dimension()) * sizeof(T);
  const size_t m_bytes = options_.beta1.has_value() ? x_bytes : 0;
  const char* x_at = in.data();
  const char* m_at = x_at + x_bytes;
  const char* v_at = m_at + m_bytes;
  const char* stats_at =
      v_at + static_cast<size_t>(stats_.v_elements()) * sizeof(T);
  // Checks R and C, then takes them: nothing below fails.
  OPTD_RETURN_IF_ERROR(stats_.Load(std::string_view(
      stats_at, static_cast<size_t>(stats_.elements()) * sizeof(T))));
  size_t v_offset = 0;
  for (AdafactorSlice<T>& slice : slices_) {
    const ShardRange& range = slice.range();
    // (memcpy only of non-empty vectors: an empty one's data() may be null.)
    const size_t bytes = static_cast<size_t>(range.size()) * sizeof(T);
    if (bytes > 0) {
      std::memcpy(slice.x().data(), x_at + range.begin * sizeof(T), bytes);
      if (m_bytes > 0) {
        std::memcpy(slice.m().data(), m_at + range.begin * sizeof(T), bytes);
      }
    }
    if (!slice.v().empty()) {
      std::memcpy(slice.v().data(), v_at + v_offset * sizeof(T),
                  slice.v().size() * sizeof(T));
    }
    v_offset += slice.v().size();
  }
  return absl::OkStatus();
}

template class LocalAdafactorVectors<float>;
template class LocalAdafactorVectors<double>;

}  // namespace optd
