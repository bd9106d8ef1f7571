// The helpers of scipy's trust-region-reflective least squares, ported from
// scipy 1.10's scipy/optimize/_lsq/common.py (each function below names the
// Python function it ports) and trf.py (select_step). Bounds are the vectors
// lb, ub (entries may be -inf / +inf). Used by trust_region_reflective.cc.
//
//   double alpha = 0.0;
//   Eigen::VectorXd p = trf::SolveLsqTrustRegion(n, m, uf, s, v, delta,
//                                                &alpha);
//
// Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_TRF_COMMON_H_
#define OPTD_SOLVERS_LEAST_SQUARES_TRF_COMMON_H_

#include <functional>
#include <utility>

#include "Eigen/Core"

namespace optd::trf {

// intersect_trust_region: the roots t_neg <= t_pos of |x + s t| = delta.
// REQUIRES s != 0 and |x| <= delta.
std::pair<double, double> IntersectTrustRegion(const Eigen::VectorXd& x,
                                               const Eigen::VectorXd& s,
                                               double delta);

// solve_lsq_trust_region (Moré 1977's Levenberg-Marquardt parameter search
// on the SVD J = U diag(s) V^T, uf = U^T f): the step p with
// (J^T J + alpha I) p = -J^T f and |p| <= delta; *alpha is the initial
// guess on entry (trf passes the previous alpha) and the found one on exit.
// rtol 0.01, at most 10 iterations, as scipy's defaults.
Eigen::VectorXd SolveLsqTrustRegion(int n, int m, const Eigen::VectorXd& uf,
                                    const Eigen::VectorXd& s,
                                    const Eigen::MatrixXd& v, double delta,
                                    double* alpha);

// solve_trust_region_2d: the minimizer of 0.5 p^T B p + g^T p over |p| <=
// delta for a symmetric 2 x 2 B: the Newton step when B is positive
// definite (Cholesky) and the step is inside, else the best point on the
// boundary from the real roots of scipy's quartic in t = tan(phi / 2)
// (np.roots: the companion matrix's eigenvalues, here Eigen's EigenSolver,
// which does not balance as LAPACK's dgeev does, so roots agree to
// rounding).
Eigen::Vector2d SolveTrustRegion2d(const Eigen::Matrix2d& b,
                                   const Eigen::Vector2d& g, double delta);

// update_tr_radius: the new radius and the ratio actual / predicted.
std::pair<double, double> UpdateTrRadius(double delta, double actual_reduction,
                                         double predicted_reduction,
                                         double step_norm, bool bound_hit);

// build_quadratic_1d: a, b, c of f(t) = 0.5 (s0 + s t)^T (J^T J + diag)
// (s0 + s t) + g^T (s0 + s t) = a t^2 + b t + c. diag and s0 may be null
// (zero); c is 0 without s0.
struct Quadratic1d {
  double a = 0.0, b = 0.0, c = 0.0;
};
Quadratic1d BuildQuadratic1d(const Eigen::MatrixXd& j, const Eigen::VectorXd& g,
                             const Eigen::VectorXd& s,
                             const Eigen::VectorXd* diag,
                             const Eigen::VectorXd* s0);

// minimize_quadratic_1d: the minimizer t in [lb, ub] of a t^2 + b t + c and
// the value there.
std::pair<double, double> MinimizeQuadratic1d(double a, double b, double lb,
                                              double ub, double c);

// evaluate_quadratic: 0.5 s^T (J^T J + diag) s + g^T s (diag may be null).
double EvaluateQuadratic(const Eigen::MatrixXd& j, const Eigen::VectorXd& g,
                         const Eigen::VectorXd& s, const Eigen::VectorXd* diag);

// BuildQuadratic1d and EvaluateQuadratic given the products js = J s (and
// js0 = J s0, null exactly when s0 is), for a matrix-free J (trf_lsmr.h):
// the same arithmetic after the products.
Quadratic1d BuildQuadratic1dFromProducts(const Eigen::VectorXd& js,
                                         const Eigen::VectorXd& g,
                                         const Eigen::VectorXd& s,
                                         const Eigen::VectorXd* diag,
                                         const Eigen::VectorXd* s0,
                                         const Eigen::VectorXd* js0);
double EvaluateQuadraticFromProduct(const Eigen::VectorXd& js,
                                    const Eigen::VectorXd& g,
                                    const Eigen::VectorXd& s,
                                    const Eigen::VectorXd* diag);

// in_bounds: lb <= x <= ub everywhere.
bool InBounds(const Eigen::VectorXd& x, const Eigen::VectorXd& lb,
              const Eigen::VectorXd& ub);

// step_size_to_bound: the largest t with x + s t in the box, and in *hits
// sign(s_i) for the components that reach their bound at that t (else 0).
double StepSizeToBound(const Eigen::VectorXd& x, const Eigen::VectorXd& s,
                       const Eigen::VectorXd& lb, const Eigen::VectorXd& ub,
                       Eigen::VectorXi* hits);

// find_active_constraints: -1 (lower), 1 (upper) or 0 per variable; with
// rtol > 0 a bound is active within rtol max(1, |bound|).
Eigen::VectorXi FindActiveConstraints(const Eigen::VectorXd& x,
                                      const Eigen::VectorXd& lb,
                                      const Eigen::VectorXd& ub, double rtol);

// make_strictly_feasible: x moved off its active bounds (rstep 0: to the
// next double inside; else by rstep max(1, |bound|)), and to the middle of
// bounds too tight for that.
Eigen::VectorXd MakeStrictlyFeasible(const Eigen::VectorXd& x,
                                     const Eigen::VectorXd& lb,
                                     const Eigen::VectorXd& ub, double rstep);

// CL_scaling_vector: Coleman & Li's v (distance to the bound the
// anti-gradient points at, 1 when none) and its derivative dv.
void ClScalingVector(const Eigen::VectorXd& x, const Eigen::VectorXd& g,
                     const Eigen::VectorXd& lb, const Eigen::VectorXd& ub,
                     Eigen::VectorXd* v, Eigen::VectorXd* dv);

// trf's initial trust radius (scipy 1.10 trf_bounds / trf_no_bounds):
// Delta = norm(x0 * scale_inv / v**0.5) with Coleman & Li's v at x0 (its
// entries with dv != 0 multiplied by scale_inv) when `bounded`, else
// norm(x0 * scale_inv); 1 when that is 0.
double InitialRadius(const Eigen::VectorXd& x0, const Eigen::VectorXd& g,
                     const Eigen::VectorXd& lb, const Eigen::VectorXd& ub,
                     const Eigen::VectorXd& scale_inv, bool bounded);

// check_termination: 4 (ftol and xtol), 2 (ftol), 3 (xtol) or 0 (none).
int CheckTermination(double df, double f, double dx_norm, double x_norm,
                     double ratio, double ftol, double xtol);

// compute_jac_scale for a dense J: scale_inv = column norms of J (zeros
// replaced by 1 when scale_inv_old is null, else the elementwise max with
// *scale_inv_old), scale = 1 / scale_inv.
void ComputeJacScale(const Eigen::MatrixXd& j,
                     const Eigen::VectorXd* scale_inv_old,
                     Eigen::VectorXd* scale, Eigen::VectorXd* scale_inv);

// trf.py's select_step (trf_bounds): the best of the trust-region step p
// (when it stays in the box), its reflection off the first bound it hits,
// and the scaled anti-gradient, each cut back by theta from the bounds
// (Branch, Coleman & Li, SIAM J. Sci. Comput. 21 (1999) 1-23). p and p_h
// are the trust-region step in x and in the scaled variables (p = d p_h).
// Returns the step, writes the scaled step and -(model value).
Eigen::VectorXd SelectStep(const Eigen::VectorXd& x, const Eigen::MatrixXd& j_h,
                           const Eigen::VectorXd& diag_h,
                           const Eigen::VectorXd& g_h, Eigen::VectorXd p,
                           Eigen::VectorXd p_h, const Eigen::VectorXd& d,
                           double delta, const Eigen::VectorXd& lb,
                           const Eigen::VectorXd& ub, double theta,
                           Eigen::VectorXd* step_h,
                           double* predicted_reduction);

// J_h s for SelectStepWithProducts: `in_subspace` is true for the vectors
// in the span of the iteration's 2-D subspace (the trust-region step p_h,
// its multiples, and the anti-gradient -g_h), false for the reflected
// direction r_h. Writes *js and returns true, or returns false when the
// product is not known yet.
using JhTimes = std::function<bool(const Eigen::VectorXd& s, bool in_subspace,
                                   Eigen::VectorXd* js)>;

// SelectStep with J_h known only through jh_times. Returns false, with
// nothing written, when jh_times returned false (the reflection's product
// is needed: ask for it and call again with the same arguments); else
// writes the step, the scaled step and -(model value).
bool SelectStepWithProducts(const Eigen::VectorXd& x,
                            const Eigen::VectorXd& diag_h,
                            const Eigen::VectorXd& g_h, Eigen::VectorXd p,
                            Eigen::VectorXd p_h, const Eigen::VectorXd& d,
                            double delta, const Eigen::VectorXd& lb,
                            const Eigen::VectorXd& ub, double theta,
                            const JhTimes& jh_times, Eigen::VectorXd* step,
                            Eigen::VectorXd* step_h,
                            double* predicted_reduction);

}  // namespace optd::trf

#endif  // OPTD_SOLVERS_LEAST_SQUARES_TRF_COMMON_H_
