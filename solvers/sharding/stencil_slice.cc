#include "solvers/sharding/stencil_slice.h"

#include <cmath>
#include <limits>

namespace optd {
void StencilSlice::Plan(int64_t begin, absl::Span<const double> x,
                        absl::Span<const double> lower,
                        absl::Span<const double> upper,
                        FiniteDifferenceScheme scheme, double rel_step,
                        ScalarType type) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const bool bounded = !lower.empty();
  planned_ = true;
  type_ = type;
  begin_ = begin;
  center_.assign(x.begin(), x.end());
  const size_t size = x.size();
  coordinates_.resize(size);
  first_point_.resize(size);
  point_coordinate_.clear();
  for (size_t i = 0; i < size; ++i) {
    // As FiniteDifferenceStencil::Plan, coordinate by coordinate.
    coordinates_[i] = PlanApproxDerivativeCoordinate(
        x[i], bounded ? lower[i] : -kInf, bounded ? upper[i] : kInf, scheme,
        rel_step, type);
    first_point_[i] = static_cast<int64_t>(point_coordinate_.size());
    for (int p = 0; p < StencilPointCount(coordinates_[i]); ++p) {
      point_coordinate_.push_back(static_cast<int64_t>(i));
    }
  }
}

PointDelta StencilSlice::Point(int64_t j) const {
  const int64_t i = point_coordinate_[static_cast<size_t>(j)];
  const CoordinateStencil& s = coordinates_[static_cast<size_t>(i)];
  return PointDelta{0, begin_ + i,
                    j == first_point_[static_cast<size_t>(i)] ? s.a : s.b};
}

int64_t StencilSlice::Differentiate(double f0, absl::Span<const double> values,
                                    double* out) const {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const bool float32 = type_ == ScalarType::kFloat32;
  int64_t bad = -1;
  for (size_t i = 0; i < coordinates_.size(); ++i) {
    // As FiniteDifferenceStencil::Differentiate.
    const CoordinateStencil& s = coordinates_[i];
    const size_t p = static_cast<size_t>(first_point_[i]);
    const int count = StencilPointCount(s);
    const double fa = count > 0 ? values[p] : kNaN;
    const double fb = count > 1 ? values[p + 1] : fa;
    out[i] = CoordinateDerivative(s, center_[i], f0, fa, fb);
    // The one-process adapter tells a failed evaluation when a derivative
    // is NaN (Differentiate) or its solver refuses the gradient
    // (SetTrialGradient: not finite, or beyond a float32 state's range).
    const bool refused =
        !std::isfinite(out[i]) ||
        (float32 && !std::isfinite(static_cast<float>(out[i])));
    if (refused && bad < 0) bad = begin_ + static_cast<int64_t>(i);
  }
  return bad;
}

int64_t StencilSlice::Bytes(int64_t size, int64_t points) {
  return size *
             static_cast<int64_t>(sizeof(double) + sizeof(CoordinateStencil) +
                                  sizeof(int64_t)) +
         points * static_cast<int64_t>(sizeof(int64_t));
}

}  // namespace optd
