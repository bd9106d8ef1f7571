// The trust-region subproblem with a dense Hessian, solved nearly exactly:
//
//   minimize  m(p) = g^T p + p^T H p / 2   subject to  ||p|| <= radius,
//
// by the method of Moré & Sorensen ("Computing a trust region step", SIAM J.
// Sci. Stat. Comput. 4 (1983) 553-572) in the form of Conn, Gould & Toint
// (Trust-Region Methods, SIAM 2000, §7.3) that scipy 1.10's trust-exact
// implements (scipy/optimize/_trustregion_exact.py, IterativeSubproblem):
// Cholesky factorizations of H + lambda I, Newton's method on the secular
// equation 1/||p(lambda)|| - 1/radius = 0 (Nocedal & Wright, Numerical
// Optimization, 2nd ed., eq. 4.44), safeguarded by bounds on lambda from
// Gershgorin's theorem and the norms of H (CGT §7.3.8), and the hard case
// handled with an estimate of the smallest singular vector of the Cholesky
// factor (Cline, Moler, Stewart & Wilkinson 1979). Stopping tolerances
// k_easy = 0.1 and k_hard = 0.2 (CGT §7.3.5, scipy's defaults).
//
//   ExactSubproblem sub(std::move(hessian), gradient);   // n x n and n
//   ExactSubproblem::Step step = sub.Solve(/*radius=*/1.0);
//   // step.p, step.on_boundary, step.model_change = m(step.p)
//   step = sub.Solve(0.25);   // a rejected step: reuses the lower bound
//
// Thread-safety: not thread-safe; one object per iterate.
#ifndef OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_EXACT_H_
#define OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_EXACT_H_

#include <utility>

#include "Eigen/Dense"

namespace optd {

// The roots ta <= tb of ||z + t d|| = radius, from z.z, z.d and d.d (scipy's
// get_boundaries_intersections, with the cancellation-free form of the
// quadratic formula that scipy cites from Golub & Van Loan, Matrix
// Computations, p. 97). REQUIRES: dd > 0 and zz <= radius^2.
std::pair<double, double> BoundaryIntersections(double zz, double zd, double dd,
                                                double radius);

class ExactSubproblem {
 public:
  // H must be symmetric (n x n), g of length n, both finite.
  ExactSubproblem(Eigen::MatrixXd hessian, Eigen::VectorXd gradient);

  struct Step {
    Eigen::VectorXd p;
    bool on_boundary = false;
    // m(p) = g^T p + p^T H p / 2 (< 0 when the model predicts a decrease).
    double model_change = 0.0;
    int factorizations = 0;
  };

  // Solves the subproblem for `radius` > 0. When called again with a smaller
  // radius (a rejected step), starts from the lower bound on lambda found the
  // last time, as scipy does.
  Step Solve(double radius);

  const Eigen::MatrixXd& hessian() const { return hessian_; }
  const Eigen::VectorXd& gradient() const { return gradient_; }

  // What Solve carries from one radius to the next at the same iterate (the
  // rest is derived from H and g, or scratch): for TrustRegion::SaveState.
  double previous_radius() const { return previous_radius_; }
  double lambda_lower() const { return lambda_lower_; }
  void RestoreSolveHistory(double previous_radius, double lambda_lower) {
    previous_radius_ = previous_radius;
    lambda_lower_ = lambda_lower;
  }

 private:
  // Factors H + lambda I = L L^T in factor_; returns -1, or the 0-based index
  // of the first leading minor that is not positive definite (LAPACK potrf's
  // info - 1). The lower triangle of factor_ holds L up to that row.
  Eigen::Index Factor(double lambda);
  // Initial lambda and its bounds (CGT §7.3.8; scipy _initial_values).
  void InitialValues(double radius, double* lambda, double* lower,
                     double* upper) const;
  // An estimate of the smallest singular value of L^T and its unit right
  // singular vector (scipy estimate_smallest_singular_value; Golub & Van
  // Loan, 4th ed., Algorithm 3.5.1).
  double SmallestSingularValue(Eigen::VectorXd* vector) const;
  double ModelChange(const Eigen::VectorXd& p) const;

  Eigen::MatrixXd hessian_;
  Eigen::VectorXd gradient_;
  double gradient_norm_ = 0.0;
  double gershgorin_lower_ = 0.0, gershgorin_upper_ = 0.0;
  double norm_inf_ = 0.0, norm_frobenius_ = 0.0;
  double close_to_zero_ = 0.0;  // n eps ||H||_inf
  Eigen::MatrixXd factor_;
  // Carried between solves at the same iterate.
  double previous_radius_ = -1.0;
  double lambda_lower_ = 0.0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_EXACT_H_
