// FindResidualProblem (mgh_least_squares.h): the residual functions of
// mgh_residuals.h by problem name (residuals::Find, the table
// mgh_hessians.cc keeps), with r and J read off the Assembler.
#include "solvers/testing/mgh_least_squares.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/mgh_residuals.h"

namespace optd::problems {
absl::StatusOr<ResidualProblem> FindResidualProblem(std::string_view name) {
  const residuals::Residuals fn = residuals::Find(name);
  absl::StatusOr<TestProblem> base = FindProblem(name);
  if (fn == nullptr || !base.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no least-squares problem called ", std::string(name)));
  }
  ResidualProblem p;
  p.name = base->name;
  p.n = base->n;
  p.x0 = base->x0;
  p.evaluate = [fn](const Eigen::VectorXd& x, Eigen::VectorXd* r,
                    Eigen::MatrixXd* jac) {
    Assembler a(x);
    fn(a);
    *r = a.Residuals();
    if (jac != nullptr) *jac = a.Jacobian();
  };
  Eigen::VectorXd r0;
  p.evaluate(p.x0, &r0, nullptr);
  p.m = static_cast<int>(r0.size());
  return p;
}

}  // namespace optd::problems
