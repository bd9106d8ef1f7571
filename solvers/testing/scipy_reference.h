// scipy's L-BFGS-B results on the Moré, Garbow & Hillstrom problems
// (mgh_problems.h), as tests/data/gen_scipy_lbfgsb.py writes them to
// tests/data/scipy_lbfgsb_1.10.txt: the yardstick optd's L-BFGS is held to.
//
//   OPTD_ASSIGN_OR_RETURN(std::vector<ScipyReference> refs,
//                         LoadScipyReferences(OPTD_TEST_DATA_DIR
//                                             "/scipy_lbfgsb_1.10.txt"));
#ifndef OPTD_SOLVERS_TESTING_SCIPY_REFERENCE_H_
#define OPTD_SOLVERS_TESTING_SCIPY_REFERENCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace optd::testing {

// One line of the file: scipy.optimize.minimize(fun, x0, jac=True,
// method='L-BFGS-B') with scipy's defaults on one problem from its x0.
struct ScipyReference {
  std::string name;  // the problem's name in mgh_problems.h
  int n = 0;
  int nfev = 0;      // function (and gradient) evaluations
  int nit = 0;       // iterations
  double fun = 0.0;  // f at scipy's final x
  int status = 0;    // 0 converged, 1 iteration/evaluation limit, 2 other
  // scipy's message with spaces replaced by '_', e.g.
  // "CONVERGENCE:_NORM_OF_PROJECTED_GRADIENT_<=_PGTOL".
  std::string message;
  double grad_inf = 0.0;     // max_i |g_i| at scipy's final x
  double f_x0 = 0.0;         // numpy's f(x0)
  double grad_inf_x0 = 0.0;  // numpy's max_i |g_i(x0)|
};

// Reads the file at `path`: '#' lines and blank lines are skipped, every other
// line is "name n nfev nit fun status message grad_inf f_x0 grad_inf_x0".
// NotFound if the file cannot be opened; InvalidArgument (with the line
// number) for a malformed line or a name that appears twice.
absl::StatusOr<std::vector<ScipyReference>> LoadScipyReferences(
    const std::string& path);

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_SCIPY_REFERENCE_H_
