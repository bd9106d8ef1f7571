// StencilSlice: the finite-difference stencil of one slice's range
// [begin, end) of a sharded session (docs/sharding.md "Finite differences").
// Each coordinate's stencil depends only on x_i and its bounds, and its
// derivative only on f(x) and its own points' values, so the slices of a
// stencil are planned and differentiated independently: the stencil over
// [0, n) is FiniteDifferenceStencil's (finite_difference_stencil.h), and the
// gradient over K slices is bitwise the one-process gradient for any K.
// The step rule is scipy 1.10 approx_derivative's
// (PlanApproxDerivativeCoordinate; REFERENCES.md "Finite differences and
// gradient checks").
//
// A range's stencil points are numbered 0, 1, ... in trial order (by
// coordinate; central: x - h e_i, then x + h e_i). In the session's batch,
// trial 0 is x and the points of slice s follow those of the slices before
// it.
//
//   StencilSlice stencil;
//   stencil.Plan(range.begin, x, lower, upper, scheme, rel_step, type);
//   for (int64_t j = 0; j < stencil.points(); ++j) Evaluate(stencil.Point(j));
//   int64_t bad = stencil.Differentiate(f0, values, gradient);
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_SHARDING_STENCIL_SLICE_H_
#define OPTD_SOLVERS_SHARDING_STENCIL_SLICE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/adapters/finite_difference_stencil.h"
#include "solvers/core/solver.h"

namespace optd {

class StencilSlice {
 public:
  // StencilSlice::Plan()
  //
  // Plans the stencils of coordinates begin .. begin + x.size() - 1 around x
  // (the range's elements of the point), in [lower, upper] (empty spans: no
  // bounds; else x.size() elements each), forgetting any earlier plan.
  // `rel_step` is resolved (ResolveRelativeStep).
  void Plan(int64_t begin, absl::Span<const double> x,
            absl::Span<const double> lower, absl::Span<const double> upper,
            FiniteDifferenceScheme scheme, double rel_step, ScalarType type);
  // Whether Plan was called.
  bool planned() const { return planned_; }
  // The range's stencil points (0, 1 or 2 per coordinate).
  int64_t points() const {
    return static_cast<int64_t>(point_coordinate_.size());
  }
  // StencilSlice::Point()
  //
  // Point j (0 <= j < points()): its global coordinate and the value x has
  // there, exactly as FiniteDifferenceStencil::Delta gives it.
  // REQUIRES: 0 <= j < points().
  PointDelta Point(int64_t j) const;
  // StencilSlice::Differentiate()
  //
  // Writes the range's derivatives into `out` (x.size() elements) from
  // f0 = f(x) and `values`, the told values of the range's points in order
  // (NaN where one failed), with CoordinateDerivative as the one-process
  // stencil does. Returns the global index of the first derivative that is
  // not finite, or (float32 state) beyond float's range, or -1: the gradient
  // an inner solver would refuse, so the step is a failed evaluation.
  // REQUIRES: values.size() == points().
  int64_t Differentiate(double f0, absl::Span<const double> values,
                        double* out) const;

  // Bytes a plan of `size` coordinates and `points` points holds.
  static int64_t Bytes(int64_t size, int64_t points);

 private:
  bool planned_ = false;
  ScalarType type_ = ScalarType::kFloat64;
  int64_t begin_ = 0;
  std::vector<double> center_;  // x over the range
  std::vector<CoordinateStencil> coordinates_;
  // Per coordinate: its first point (a range-local point number).
  std::vector<int64_t> first_point_;
  // Per point: its range-local coordinate.
  std::vector<int64_t> point_coordinate_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_STENCIL_SLICE_H_
