// FiniteDifferenceStencil: the value trials around the inner solver's point
// from which the finite-difference and gradient-check adapters
// (finite_difference.h, gradient_check.h) form a gradient. Trial 0 is the
// point x itself; every other trial is x with one coordinate moved, ordered by
// coordinate (central: x - h e_i then x + h e_i). Step sizes and their
// adjustment to bounds follow scipy 1.10 `optimize/_numdiff.py`
// (REFERENCES.md "Finite differences and gradient checks").
//
//   FiniteDifferenceStencil stencil;
//   OPTD_RETURN_IF_ERROR(stencil.Plan(inner, &bounds, scheme, rel_step));
//   for (int k = 0; k < stencil.trials(); ++k) {
//     stencil.ReadPoint(inner, k, x_view);
//     stencil.TellValue(k, {.value = f(x)});
//   }
//   stencil.Differentiate(&gradient);
//
// Internal to solvers/.
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_STENCIL_H_
#define OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_STENCIL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"

namespace optd {

// How coordinate i's derivative is formed from the values at x and at up to
// two points a, b that differ from x in coordinate i only.
struct CoordinateStencil {
  enum class Kind {
    kCentral,   // a = x - h, b = x + h: (f_b - f_a) / (b - a)
    kOneSided,  // a = x + h, b = x + 2h: (-3 f_0 + 4 f_a - f_b) / (b - x)
    kForward,   // a = x + h: (f_a - f_0) / (a - x)
    kFixed,     // no room to move: derivative 0, no points
  };
  Kind kind = Kind::kFixed;
  double a = 0.0, b = 0.0;  // coordinate i of the points
  // kForward: the divisor of the difference quotient when not 0. scipy's
  // approx_derivative divides by a - x as rounded (0 here); MINPACK's
  // fdjac2 divides by its h, which x + h rounds away from.
  double step = 0.0;
};

// Stencil points (trials besides x) of a coordinate: 2 central or one-sided,
// 1 forward, 0 fixed.
int StencilPointCount(const CoordinateStencil& s);

// How a stencil moves one coordinate: coordinate i's stencil around x_i
// (FiniteDifferenceStencil::PlanWith).
using CoordinatePlanner =
    std::function<CoordinateStencil(int64_t i, double x_i)>;

class FiniteDifferenceStencil {
 public:
  // Reads the inner solver's point x and plans the stencil around it (bounds
  // null: none), forgetting the values told so far. `rel_step` is resolved
  // (ResolveRelativeStep). REQUIRES: !inner.finished().
  absl::Status Plan(const Solver& inner, const Bounds* bounds,
                    FiniteDifferenceScheme scheme, double rel_step);
  // As Plan, with each coordinate's stencil from `planner` (a step rule
  // other than approx_derivative's, such as MINPACK's).
  absl::Status PlanWith(const Solver& inner, const CoordinatePlanner& planner);
  // Trials of the stencil, x included.
  int trials() const { return static_cast<int>(point_coordinate_.size()); }
  // Trial k's point: x, or x with coordinate coordinate(k) moved.
  // UNIMPLEMENTED for k > 0 when `out` is on slices (the slices hold x).
  absl::Status ReadPoint(const Solver& inner, int k,
                         const MutableVectorView& out) const;
  // Trial k's point as a delta from trial 0 (x): its moved coordinate and
  // the value ReadPoint writes there; nullopt for trial 0.
  std::optional<PointDelta> Delta(int k) const;
  // Records trial k's value (NaN when it failed or is not finite).
  void TellValue(int k, const TrialResult& result);
  // f(x) as told to trial 0; NaN when it failed or was not told.
  double center_value() const { return values_[0]; }
  // Writes the derivatives into `out` from the told values. Returns false
  // when some coordinate's derivative cannot be formed (its entry is NaN).
  bool Differentiate(std::vector<double>* out) const;

  // The plan, for adapters that difference vectors rather than values:
  // coordinate i's stencil, its first trial (its points are that trial and,
  // when it has two, the next), and x_i.
  const CoordinateStencil& coordinate(int64_t i) const {
    return coordinates_[i];
  }
  int first_trial(int64_t i) const { return first_point_[i]; }
  double center(int64_t i) const { return center_[i]; }

  // Bytes a stencil of dimension n with `trials` trials holds.
  static int64_t Bytes(int64_t n, int64_t trials);

 private:
  std::vector<double> center_;  // x
  std::vector<CoordinateStencil> coordinates_;
  std::vector<int> first_point_;  // per coordinate: its first trial
  // Per trial: the coordinate it moves (-1 for trial 0).
  std::vector<int64_t> point_coordinate_;
  std::vector<double> values_;  // told values by trial, NaN where failed
};

// PlanApproxDerivativeCoordinate()
//
// Coordinate x's stencil in [lower, upper] by scipy 1.10 approx_derivative's
// rule (`_compute_absolute_step`, `_adjust_scheme_to_bounds`), the points
// rounded to `type`. `rel_step` is resolved (not NaN).
CoordinateStencil PlanApproxDerivativeCoordinate(double x, double lower,
                                                 double upper,
                                                 FiniteDifferenceScheme scheme,
                                                 double rel_step,
                                                 ScalarType type);

// CoordinateDerivative()
//
// The derivative along a coordinate stencil `s` around x from f0 = f(x) and
// the values fa, fb at its points (NaN where unknown or failed; a point
// failed: the two-point difference of the other with x). NaN when it cannot
// be formed.
double CoordinateDerivative(const CoordinateStencil& s, double x, double f0,
                            double fa, double fb);

// The relative step `relative_step` of the options (NaN: the default), as a
// number: scipy's default for the scheme, cbrt(eps) central, sqrt(eps)
// forward, with eps of the state type (scipy's `_eps_for_method` takes the eps
// of x0's floating dtype).
double ResolveRelativeStep(double relative_step, FiniteDifferenceScheme scheme,
                           ScalarType type);

// INVALID_ARGUMENT naming `field`, the step and the range (0, 0.1] unless
// `step` is in it or NaN.
absl::Status ValidateRelativeStep(double step, absl::string_view field);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_STENCIL_H_
