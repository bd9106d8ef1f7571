// The Moré, Garbow & Hillstrom (1981) problems (mgh_problems.h) as least
// squares problems: the residual vector r(x) and its Jacobian J(x), from the
// Jet2 residuals of mgh_residuals.h. For the Levenberg-Marquardt tests
// against scipy's least_squares(method='lm') on the numpy copy of the
// problems (tests/data/mgh_problems.py, tests/data/gen_scipy_lm.py).
//
//   OPTD_ASSIGN_OR_RETURN(ResidualProblem p,
//                         FindResidualProblem("rosenbrock"));
//   Eigen::VectorXd r;
//   Eigen::MatrixXd jac;
//   p.evaluate(p.x0, &r, &jac);   // r: m entries, jac: m x n
#ifndef OPTD_SOLVERS_TESTING_MGH_LEAST_SQUARES_H_
#define OPTD_SOLVERS_TESTING_MGH_LEAST_SQUARES_H_

#include <functional>
#include <string>
#include <string_view>

#include "Eigen/Core"
#include "absl/status/statusor.h"

namespace optd::problems {

struct ResidualProblem {
  std::string name;  // as in mgh_problems.h
  int n = 0;
  int m = 0;
  Eigen::VectorXd x0;  // the standard starting point
  // r(x) into *r (m entries) and, when jac is not null, J(x) into *jac.
  std::function<void(const Eigen::VectorXd& x, Eigen::VectorXd* r,
                     Eigen::MatrixXd* jac)>
      evaluate;
};

// The problem of StandardProblems() called `name`; NotFound if none.
absl::StatusOr<ResidualProblem> FindResidualProblem(std::string_view name);

// tests/data/gen_scipy_trf.py's rational_outliers (a curve fit with gross
// outliers, for the robust losses), in the same order of operations.
ResidualProblem RationalOutliers();

}  // namespace optd::problems

#endif  // OPTD_SOLVERS_TESTING_MGH_LEAST_SQUARES_H_
