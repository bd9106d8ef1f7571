// One step of a gradient-driven solver through the Solver interface, for
// tests: read the trial point, tell a gradient (and optionally a value).
//
//   std::vector<double> x = ReadPoint(solver);
//   ASSERT_OK(TellGradient(solver, g));
#ifndef OPTD_SOLVERS_TESTING_SOLVER_STEPS_H_
#define OPTD_SOLVERS_TESTING_SOLVER_STEPS_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "solvers/core/solver.h"
#include "solvers/testing/status_matchers.h"

namespace optd::testing {

// The outstanding trial point, widened to double.
inline std::vector<double> ReadPoint(const Solver& solver) {
  std::vector<double> x(static_cast<size_t>(solver.dimension()));
  EXPECT_OK(solver.ReadTrialPoint(
      MutableVectorView::Float64(x.data(), solver.dimension())));
  return x;
}

// SetTrialGradient(g), then Tell with `value` (NaN: none).
inline absl::Status TellGradient(Solver& solver, const std::vector<double>& g,
                                 double value = NAN) {
  const int64_t n = static_cast<int64_t>(g.size());
  if (absl::Status s =
          solver.SetTrialGradient(ConstVectorView::Float64(g.data(), n));
      !s.ok()) {
    return s;
  }
  TrialResult r;
  r.value = value;
  r.has_gradient = true;
  return solver.Tell(r);
}

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_SOLVER_STEPS_H_
