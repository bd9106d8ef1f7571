// Analytic Hessians of the Moré, Garbow & Hillstrom (1981) problems of
// mgh_problems.h, for the trust-region solvers that want them (exact and
// Newton-CG), and the scalable problems of that set at any dimension.
//
// Every problem is a sum of squares f = sum_i r_i(x)^2, so
//   grad f = 2 J^T r,   Hess f = 2 (J^T J + sum_i r_i Hess r_i).
// The residuals are written once more here, on a small forward-mode type that
// carries each residual's value, gradient and Hessian with respect to the few
// variables it depends on; the sparse Hessian is assembled from those. The
// gradient assembled alongside is checked against mgh_problems.cc's, and the
// Hessian against finite differences of it (mgh_hessians_test.cc).
//
//   auto hessian = HessianOf("rosenbrock");            // StatusOr
//   Eigen::SparseMatrix<double> h = (*hessian)(x);
//   Eigen::VectorXd hv = h * v;
//
//   auto big = ScalableProblem("extended_rosenbrock", 10000);  // name
//   "extended_rosenbrock_10000", f_min 0, the paper's x0 tiled
//
// Thread-safety: the functions are pure; the returned callables may be called
// from any thread.
#ifndef OPTD_SOLVERS_TESTING_MGH_HESSIANS_H_
#define OPTD_SOLVERS_TESTING_MGH_HESSIANS_H_

#include <functional>
#include <string_view>
#include <vector>

#include "Eigen/Core"
#include "Eigen/SparseCore"
#include "absl/status/statusor.h"
#include "solvers/testing/mgh_problems.h"

namespace optd::problems {

// Returns the Hessian of f at x (x.size() = the problem's n), symmetric, with
// both triangles stored.
using HessianFunction =
    std::function<Eigen::SparseMatrix<double>(const Eigen::VectorXd& x)>;

// The Hessian of problem `name`: any name of StandardProblems(), or
// "<family>_<n>" for a family of ScalableFamilies(). NotFound otherwise.
absl::StatusOr<HessianFunction> HessianOf(std::string_view name);

// f(x), and grad f in `gradient`, assembled from the same residuals as
// HessianOf(name): for checking them against mgh_problems.cc.
absl::StatusOr<double> SecondOrderValue(std::string_view name,
                                        const Eigen::VectorXd& x,
                                        Eigen::VectorXd* gradient);

// The families whose problems are defined for any n (n even for
// extended_rosenbrock, a multiple of 4 for extended_powell):
// extended_rosenbrock, extended_powell, broyden_tridiagonal, broyden_banded,
// discrete_boundary_value. Each has f_min = 0.
const std::vector<std::string_view>& ScalableFamilies();

// The problem of `family` at dimension n, named "<family>_<n>", with the
// paper's starting point and the gradient of mgh_problems.cc.
// INVALID_ARGUMENT for an n the family does not allow, NotFound for an unknown
// family.
absl::StatusOr<TestProblem> ScalableProblem(std::string_view family, int n);

}  // namespace optd::problems

#endif  // OPTD_SOLVERS_TESTING_MGH_HESSIANS_H_
