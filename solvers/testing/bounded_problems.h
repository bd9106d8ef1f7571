// Bound-constrained test problems for L-BFGS-B (lbfgsb.h), shared by
// solvers/lbfgsb/lbfgsb_test.cc and bench/lbfgsb.cc; tests/data/bounded_problems.py
// is the numpy twin (same names, boxes, starting points) that
// tests/data/gen_scipy_lbfgsb_bounded.py runs scipy 1.10 on, writing
// tests/data/scipy_lbfgsb_bounded_1.10.txt (LoadBoundedReferences).
//
// Most are Moré, Garbow & Hillstrom (1981) problems (mgh_problems.h) or their
// scalable families at n = 10..1000 (mgh_hessians.h), with a box that cuts
// the unconstrained minimizer; some sides are infinite and some starting
// points lie outside the box. Two are not MGH's: driver1_25, the example of
// L-BFGS-B's driver1.f, and bounded_quadratic_50 (see the .cc).
//
//   for (const BoundedProblem& p : BoundedProblems()) {
//     auto box = Bounds::Create(ConstVectorView::Float64(p.lower.data(), n),
//                               ConstVectorView::Float64(p.upper.data(), n),
//                               n);
//     ...
//   }
#ifndef OPTD_SOLVERS_TESTING_BOUNDED_PROBLEMS_H_
#define OPTD_SOLVERS_TESTING_BOUNDED_PROBLEMS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "solvers/core/bounds.h"
#include "solvers/testing/mgh_problems.h"

namespace optd::problems {

struct BoundedProblem {
  // "rosenbrock_box", ...; problem.name is the underlying problem's.
  std::string name;
  // n, x0 (as the source gives it, possibly outside the box), evaluate.
  // f_min and f_tolerance are the unconstrained problem's: unused here.
  TestProblem problem;
  std::vector<double> lower, upper;  // n each; -inf / +inf for no bound
  Bounds bounds() const;
};

// All problems, in the order of tests/data/bounded_problems.py.
const std::vector<BoundedProblem>& BoundedProblems();

// NotFound when there is no problem called `name`.
absl::StatusOr<BoundedProblem> FindBoundedProblem(std::string_view name);

}  // namespace optd::problems

namespace optd::testing {

// One line of tests/data/scipy_lbfgsb_bounded_1.10.txt (see its header).
struct BoundedReference {
  std::string name;
  int n = 0;
  int nfev = 0, nit = 0;
  double fun = 0.0;
  int status = 0;
  std::string message;  // spaces replaced by '_'
  double pg_inf = 0.0;  // projected gradient max-norm at scipy's x
  double f_x0 = 0.0;    // numpy's f at x0 clipped into the box
  double f_ref = 0.0;   // the best value known from x0
  std::vector<double> x;
};

// '#' and blank lines are skipped. NotFound when the file cannot be opened;
// InvalidArgument (with the line number) for a malformed line.
absl::StatusOr<std::vector<BoundedReference>> LoadBoundedReferences(
    const std::string& path);

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_BOUNDED_PROBLEMS_H_
