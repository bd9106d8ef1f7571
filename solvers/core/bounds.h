// Bounds: a box lower <= x <= upper on a session's variables, each side
// possibly infinite (DESIGN §2 "optional bounds"). Used by L-BFGS-B
// (lbfgsb.h), by the projected Adam and trust-region steps, and by the
// finite-difference stencils, which turn one-sided at an active bound
// (scipy 1.10 `optimize/_numdiff.py`, `_adjust_scheme_to_bounds`).
//
//   OPTD_ASSIGN_OR_RETURN(Bounds box, Bounds::Create(lower, upper, n));
//   box.Project(&x);   // x_i <- min(max(x_i, lower_i), upper_i)
//
// Thread-safety: immutable after creation; safe to share.
#ifndef OPTD_SOLVERS_CORE_BOUNDS_H_
#define OPTD_SOLVERS_CORE_BOUNDS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/core/vector_view.h"

namespace optd {

// A default-constructed Bounds (size() 0, any() false) stands for no bounds
// on any number of variables, and costs nothing; Bounds::Unbounded(n) holds
// 2 n infinities, for code that indexes every variable's sides.
class Bounds {
 public:
  // No bounds on n variables: every side infinite.
  static Bounds Unbounded(int64_t n);
  // lower and upper of length n each, or empty for "all -inf" / "all +inf".
  // INVALID_ARGUMENT naming "bounds.lower" / "bounds.upper" and the first bad
  // index for: a length other than n, a NaN, lower = +inf, upper = -inf, or
  // lower_i > upper_i.
  static absl::StatusOr<Bounds> Create(const ConstVectorView& lower,
                                       const ConstVectorView& upper, int64_t n);

  int64_t size() const { return static_cast<int64_t>(lower_.size()); }
  double lower(int64_t i) const { return lower_[i]; }
  double upper(int64_t i) const { return upper_[i]; }
  const std::vector<double>& lower() const { return lower_; }
  const std::vector<double>& upper() const { return upper_; }
  // True when some side of some variable is finite.
  bool any() const { return any_; }
  bool Contains(const double* x) const;
  // Clips x (size() elements) into the box.
  void Project(double* x) const;
  double Project(int64_t i, double v) const {
    return v < lower_[i] ? lower_[i] : (v > upper_[i] ? upper_[i] : v);
  }

 private:
  std::vector<double> lower_, upper_;
  bool any_ = false;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_BOUNDS_H_
