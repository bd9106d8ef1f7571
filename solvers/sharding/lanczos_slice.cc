#include "solvers/sharding/lanczos_slice.h"

#include <algorithm>
#include <cmath>

namespace optd {
namespace {

int64_t FirstNonFinite(const std::vector<double>& v, int64_t offset) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) return offset + static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace

LeastCovered CombineLeastCovered(absl::Span<const LeastCovered> parts) {
  LeastCovered best;
  for (const LeastCovered& p : parts) {
    if (p.index < 0) continue;
    // Strictly smaller only: the parts come in index order, so among equal
    // values the first (lowest index) stays.
    if (best.index < 0 || p.value < best.value) best = p;
  }
  return best;
}

LanczosSlice::LanczosSlice(ShardRange range, int64_t dimension, bool gradients)
    : range_(range),
      dimension_(dimension),
      gradients_(gradients),
      rng_(kLanczosSeed) {
  const size_t n = static_cast<size_t>(range.size());
  for (std::vector<double>* v : {&x_, &q_, &w_}) v->assign(n, 0.0);
  if (gradients) {
    g_[0].assign(n, 0.0);
    g_[1].assign(n, 0.0);
  }
}

int64_t LanczosSlice::bytes() const {
  return 8 * range_.size() * (3 + (gradients_ ? 2 : 0) + steps());
}

int64_t LanczosSlice::SetPoint(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), x_.data());
  return FirstNonFinite(x_, range_.begin);
}

int64_t LanczosSlice::SetProduct(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), w_.data());
  return FirstNonFinite(w_, range_.begin);
}

int64_t LanczosSlice::SetGradient(int k, const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), g_[k].data());
  return FirstNonFinite(g_[k], range_.begin);
}

void LanczosSlice::ReadPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_.data());
}

void LanczosSlice::ReadVector(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), q_.data());
}

void LanczosSlice::ReadShiftedPoint(double h,
                                    const MutableVectorView& full) const {
  std::vector<double> shifted(x_.size());
  for (size_t e = 0; e < x_.size(); ++e) shifted[e] = x_[e] + h * q_[e];
  full.CopyFrom(range_.begin, range_.size(), shifted.data());
}

BlockPartials LanczosSlice::PointSquares() const {
  BlockPartials out(range_.first_block(), range_.num_blocks(), 1);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    out.at(b, 0) = BlockDot(x_.data() + lo, x_.data() + lo, len);
  }
  return out;
}

int64_t LanczosSlice::DifferenceProduct(double h) {
  for (size_t e = 0; e < w_.size(); ++e) {
    w_[e] = (g_[0][e] - g_[1][e]) / (2.0 * h);
  }
  return FirstNonFinite(w_, range_.begin);
}

BlockPartials LanczosSlice::OrthogonalDots() const {
  const int m = steps();
  BlockPartials out(range_.first_block(), range_.num_blocks(), m + 1);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    const double* w = w_.data() + lo;
    for (int j = 0; j < m; ++j) {
      out.at(b, j) = BlockDot(basis_[j].data() + lo, w, len);
    }
    out.at(b, m) = BlockDot(w, w, len);
  }
  return out;
}

BlockPartials LanczosSlice::Rademacher(bool clear_basis, uint64_t draws) {
  if (clear_basis) basis_.clear();
  // This range's first element is bit 0 of draw draws + begin / 64 (begin
  // is a multiple of kReductionBlock, hence of 64).
  const uint64_t first = draws + static_cast<uint64_t>(range_.begin / 64);
  if (first < rng_position_) {
    rng_.seed(kLanczosSeed);
    rng_position_ = 0;
  }
  rng_.discard(first - rng_position_);
  rng_position_ = first;
  const double scale = std::sqrt(static_cast<double>(dimension_));
  uint64_t bits = 0;
  for (int64_t e = 0; e < range_.size(); ++e) {
    if (e % 64 == 0) {
      bits = rng_();
      ++rng_position_;
    }
    w_[e] = ((bits & 1) ? 1.0 : -1.0) / scale;
    bits >>= 1;
  }
  return OrthogonalDots();
}

LeastCovered LanczosSlice::LeastCoveredCoordinate() const {
  LeastCovered out;
  for (int64_t e = 0; e < range_.size(); ++e) {
    double sum = 0.0;
    for (const std::vector<double>& column : basis_) {
      sum += column[e] * column[e];
    }
    if (out.index < 0 || sum < out.value) out = {sum, range_.begin + e};
  }
  return out;
}

BlockPartials LanczosSlice::Coordinate(int64_t index) {
  std::fill(w_.begin(), w_.end(), 0.0);
  if (index >= range_.begin && index < range_.end) {
    w_[index - range_.begin] = 1.0;
  }
  return OrthogonalDots();
}

BlockPartials LanczosSlice::Orthogonalize(absl::Span<const double> c) {
  for (size_t j = 0; j < basis_.size(); ++j) {
    const double cj = c[j];
    const std::vector<double>& column = basis_[j];
    for (size_t e = 0; e < w_.size(); ++e) w_[e] -= cj * column[e];
  }
  return OrthogonalDots();
}

BlockPartials LanczosSlice::PushBasis() {
  basis_.push_back(q_);
  BlockPartials out(range_.first_block(), range_.num_blocks(), 1);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    out.at(b, 0) = BlockDot(q_.data() + lo, w_.data() + lo, len);
  }
  return out;
}

BlockPartials LanczosSlice::Residual(double alpha, double beta) {
  for (size_t e = 0; e < w_.size(); ++e) w_[e] -= alpha * q_[e];
  if (basis_.size() > 1) {
    const std::vector<double>& previous = basis_[basis_.size() - 2];
    for (size_t e = 0; e < w_.size(); ++e) w_[e] -= beta * previous[e];
  }
  return OrthogonalDots();
}

void LanczosSlice::NextVector(double scale) {
  for (size_t e = 0; e < q_.size(); ++e) q_[e] = w_[e] / scale;
}

void LanczosSlice::ClearBasis() {
  basis_.clear();
  basis_.shrink_to_fit();
}

}  // namespace optd
