// A dense reference solution of the trust-region subproblem
//
//   minimize g^T p + p^T B p / 2  subject to  ||p|| <= radius
//
// from B's full eigendecomposition and bisection on the secular equation
// (Nocedal & Wright, Numerical Optimization, 2nd ed., §4.3, eqs. 4.38-4.45),
// accurate to rounding, for testing the solvers' subproblem methods on small
// problems. O(n^3).
//
//   testing::ReferenceStep ref = testing::SolveTrustRegionSubproblem(b,
//   g, 1.0); EXPECT_LE((step - ref.p).norm(), 1e-8);
//
// Thread-safety: a pure function.
#ifndef OPTD_SOLVERS_TESTING_TRUST_REGION_REFERENCE_H_
#define OPTD_SOLVERS_TESTING_TRUST_REGION_REFERENCE_H_

#include "Eigen/Dense"

namespace optd::testing {

struct ReferenceStep {
  Eigen::VectorXd p;
  double sigma = 0.0;         // (B + sigma I) p = -g
  double model_change = 0.0;  // g^T p + p^T B p / 2
  bool hard_case = false;
};

ReferenceStep SolveTrustRegionSubproblem(const Eigen::MatrixXd& b,
                                         const Eigen::VectorXd& g,
                                         double radius);

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_TRUST_REGION_REFERENCE_H_
