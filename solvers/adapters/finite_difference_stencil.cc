#include "solvers/adapters/finite_difference_stencil.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Machine epsilon of the precision the inner solver keeps its points in.
double StateEpsilon(ScalarType type) {
  return type == ScalarType::kFloat32
             ? static_cast<double>(std::numeric_limits<float>::epsilon())
             : std::numeric_limits<double>::epsilon();
}

// Rounds a stencil coordinate to the state's precision (a float32 session
// hands its points out in float32, and the step must be the one evaluated),
// keeping it inside [lower, upper] when x is (x + 2h may round past a bound).
double RoundToState(double v, double x, double lower, double upper,
                    ScalarType type) {
  const bool inside = lower <= x && x <= upper;
  if (inside) v = std::min(std::max(v, lower), upper);
  if (type == ScalarType::kFloat64) return v;
  float f = static_cast<float>(v);
  const float toward = static_cast<float>(x);
  while (inside && (f < lower || f > upper) && f != toward) {
    f = std::nextafter(f, toward);
  }
  return f;
}

}  // namespace

int StencilPointCount(const CoordinateStencil& s) {
  switch (s.kind) {
    case CoordinateStencil::Kind::kCentral:
    case CoordinateStencil::Kind::kOneSided:
      return 2;
    case CoordinateStencil::Kind::kForward:
      return 1;
    case CoordinateStencil::Kind::kFixed:
      return 0;
  }
  return 0;
}

// REFERENCES.md "Finite differences and gradient checks"; scipy 1.10
// `optimize/_numdiff.py`: `_compute_absolute_step`, then
// `_adjust_scheme_to_bounds` with num_steps 1 ('2-sided' for '3-point',
// '1-sided' for '2-point').
CoordinateStencil PlanApproxDerivativeCoordinate(double x, double lower,
                                                 double upper,
                                                 FiniteDifferenceScheme scheme,
                                                 double rel_step,
                                                 ScalarType type) {
  using Kind = CoordinateStencil::Kind;
  // The largest doubles bound every coordinate: scipy would step from
  // x = 1.7e308 to inf, and an infinite point cannot be handed out. Within
  // them the adjustment below changes nothing for any x farther than h from
  // +-DBL_MAX, so the stencils elsewhere stay scipy's.
  lower = std::max(lower, -std::numeric_limits<double>::max());
  upper = std::min(upper, std::numeric_limits<double>::max());
  const double sign = x >= 0 ? 1.0 : -1.0;
  double h = rel_step * sign * std::max(1.0, std::abs(x));
  const double lower_dist = x - lower, upper_dist = upper - x;
  // A coordinate of x outside the box keeps the plain scheme.
  const bool adjust = lower_dist >= 0 && upper_dist >= 0;
  CoordinateStencil s;
  if (scheme == FiniteDifferenceScheme::kCentral) {
    h = std::abs(h);
    s.kind = Kind::kCentral;
    if (adjust && !(lower_dist >= h && upper_dist >= h)) {
      s.kind = Kind::kOneSided;
      h = upper_dist >= lower_dist ? std::min(h, 0.5 * upper_dist)
                                   : -std::min(h, 0.5 * lower_dist);
      const double min_dist = std::min(upper_dist, lower_dist);
      if (std::abs(h) <= min_dist) {
        h = min_dist;
        s.kind = Kind::kCentral;
      }
    }
    if (s.kind == Kind::kCentral) {
      s.a = x - h;
      s.b = x + h;
    } else {
      s.a = x + h;
      s.b = x + 2 * h;
    }
  } else {
    s.kind = Kind::kForward;
    if (adjust) {
      const double moved = x + h;
      const bool violated = moved < lower || moved > upper;
      const bool fitting = std::abs(h) <= std::max(lower_dist, upper_dist);
      if (violated && fitting) h = -h;
      if (!fitting) h = upper_dist >= lower_dist ? upper_dist : -lower_dist;
    }
    s.a = s.b = x + h;
  }
  // The steps actually used are the differences of the rounded points (scipy
  // recomputes dx = x[i] - x0[i] "as exactly representable number").
  s.a = RoundToState(s.a, x, lower, upper, type);
  s.b = RoundToState(s.b, x, lower, upper, type);
  if (s.a == x || s.b == x || (s.kind != Kind::kForward && s.a == s.b)) {
    s = CoordinateStencil();
  }
  return s;
}

double CoordinateDerivative(const CoordinateStencil& s, double x, double f0,
                            double fa, double fb) {
  using Kind = CoordinateStencil::Kind;
  const auto two_point = [&](double p, double fp) {
    return (fp - f0) / (p - x);
  };
  const bool has_a = !std::isnan(fa), has_b = !std::isnan(fb);
  switch (s.kind) {
    case Kind::kFixed:
      return 0.0;
    case Kind::kForward:
      // MINPACK fdjac2: fjac(i,j) = (wa(i) - fvec(i))/h.
      if (s.step != 0.0) return (fa - f0) / s.step;
      return two_point(s.a, fa);
    case Kind::kCentral:
      if (has_a && has_b) return (fb - fa) / (s.b - s.a);
      break;
    case Kind::kOneSided:
      if (has_a && has_b) return (-3.0 * f0 + 4.0 * fa - fb) / (s.b - x);
      break;
  }
  // One point failed: the two-point difference of the other with x.
  if (has_a) return two_point(s.a, fa);
  if (has_b) return two_point(s.b, fb);
  return kNaN;
}

absl::Status FiniteDifferenceStencil::Plan(const Solver& inner,
                                           const Bounds* bounds,
                                           FiniteDifferenceScheme scheme,
                                           double rel_step) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const ScalarType type = inner.state_type();
  return PlanWith(inner, [&](int64_t i, double x_i) {
    const double lower = bounds != nullptr ? bounds->lower(i) : -kInf;
    const double upper = bounds != nullptr ? bounds->upper(i) : kInf;
    return PlanApproxDerivativeCoordinate(x_i, lower, upper, scheme, rel_step,
                                          type);
  });
}

absl::Status FiniteDifferenceStencil::PlanWith(
    const Solver& inner, const CoordinatePlanner& planner) {
  const int64_t n = inner.dimension();
  center_.resize(static_cast<size_t>(n));
  OPTD_RETURN_IF_ERROR(
      inner.ReadTrialPoint(MutableVectorView::Float64(center_.data(), n)));
  coordinates_.resize(n);
  first_point_.resize(n);
  point_coordinate_.assign(1, -1);  // trial 0: x
  for (int64_t i = 0; i < n; ++i) {
    coordinates_[i] = planner(i, center_[i]);
    first_point_[i] = static_cast<int>(point_coordinate_.size());
    for (int p = 0; p < StencilPointCount(coordinates_[i]); ++p) {
      point_coordinate_.push_back(i);
    }
  }
  values_.assign(point_coordinate_.size(), kNaN);
  return absl::OkStatus();
}

absl::Status FiniteDifferenceStencil::ReadPoint(
    const Solver& inner, int k, const MutableVectorView& out) const {
  if (k == 0) return inner.ReadTrialPoint(out);
  if (out.on_slices()) {
    // The slices hold the inner solver's point, not the moved coordinate.
    return absl::UnimplementedError(
        "stencil points are not served from the replicas' slices");
  }
  OPTD_RETURN_IF_ERROR(inner.ReadTrialPoint(out));
  const PointDelta delta = *Delta(k);
  out.CopyFrom(delta.coordinate, 1, &delta.value);
  return absl::OkStatus();
}

std::optional<PointDelta> FiniteDifferenceStencil::Delta(int k) const {
  if (k <= 0 || k >= trials()) return std::nullopt;
  const int64_t i = point_coordinate_[k];
  const CoordinateStencil& s = coordinates_[i];
  return PointDelta{0, i, k == first_point_[i] ? s.a : s.b};
}

void FiniteDifferenceStencil::TellValue(int k, const TrialResult& result) {
  // A told value that can enter a difference quotient.
  const bool failed = result.failed || !std::isfinite(result.value);
  values_[k] = failed ? kNaN : result.value;
}

bool FiniteDifferenceStencil::Differentiate(std::vector<double>* out) const {
  const double f0 = values_[0];
  bool ok = true;
  out->resize(coordinates_.size());
  for (size_t i = 0; i < coordinates_.size(); ++i) {
    const CoordinateStencil& s = coordinates_[i];
    const int p = first_point_[i];
    const int count = StencilPointCount(s);
    const double fa = count > 0 ? values_[p] : kNaN;
    const double fb = count > 1 ? values_[p + 1] : fa;
    (*out)[i] = CoordinateDerivative(s, center_[i], f0, fa, fb);
    ok = ok && !std::isnan((*out)[i]);
  }
  return ok;
}

int64_t FiniteDifferenceStencil::Bytes(int64_t n, int64_t trials) {
  // center_, coordinates_, first_point_ per coordinate; point_coordinate_,
  // values_ per trial.
  return n * static_cast<int64_t>(sizeof(double) + sizeof(CoordinateStencil) +
                                  sizeof(int)) +
         trials * static_cast<int64_t>(sizeof(int64_t) + sizeof(double));
}

double ResolveRelativeStep(double relative_step, FiniteDifferenceScheme scheme,
                           ScalarType type) {
  if (!std::isnan(relative_step)) return relative_step;
  const double eps = StateEpsilon(type);
  return scheme == FiniteDifferenceScheme::kCentral ? std::cbrt(eps)
                                                    : std::sqrt(eps);
}

absl::Status ValidateRelativeStep(double step, absl::string_view field) {
  if (std::isnan(step) || (step > 0 && step <= 0.1)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", step,
                   "; it must be in (0, 0.1], or unset (NaN) for the default"));
}

}  // namespace optd
