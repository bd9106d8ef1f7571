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

ResidualProblem RationalOutliers() {
  ResidualProblem p;
  p.name = "rational_outliers";
  p.n = 3;
  p.m = 25;
  p.x0 = Eigen::Vector3d(1.0, 1.0, 1.0);
  Eigen::VectorXd t(25), y(25);
  for (int i = 0; i < 25; ++i) {
    t(i) = 0.4 * i;
    y(i) = 2.0 + 3.0 * t(i) / (1.0 + 0.5 * t(i)) + 0.02 * ((7 * i) % 5 - 2);
  }
  y(3) += 4.0;
  y(15) += 4.0;
  y(9) -= 3.0;
  y(21) -= 3.0;
  p.evaluate = [t, y](const Eigen::VectorXd& x, Eigen::VectorXd* r,
                      Eigen::MatrixXd* jac) {
    r->resize(25);
    for (int i = 0; i < 25; ++i) {
      (*r)(i) = x(0) + x(1) * t(i) / (1.0 + x(2) * t(i)) - y(i);
    }
    if (jac == nullptr) return;
    jac->resize(25, 3);
    for (int i = 0; i < 25; ++i) {
      const double d = 1.0 + x(2) * t(i);
      (*jac)(i, 0) = 1.0;
      (*jac)(i, 1) = t(i) / d;
      (*jac)(i, 2) = -x(1) * t(i) * t(i) / (d * d);
    }
  };
  return p;
}

}  // namespace optd::problems
