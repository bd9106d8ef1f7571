// The MINPACK subroutines behind Levenberg-Marquardt (levenberg_marquardt.h),
// ported from the Fortran that scipy 1.10 ships in scipy/optimize/minpack/
// (Moré, Garbow & Hillstrom, Argonne National Laboratory, 1980): enorm.f,
// qrfac.f, qrsolv.f and lmpar.f. The ports keep MINPACK's order of
// operations so that, compiled without FMA contraction (-ffp-contract=off, as
// solvers/CMakeLists.txt sets), they round exactly as scipy's gfortran build
// does; comments name the Fortran statement labels.
//
//   Eigen::MatrixXd a = jacobian;            // m x n, m >= n
//   std::vector<int> ipvt;
//   Eigen::VectorXd rdiag, acnorm;
//   minpack::Qrfac(a, &ipvt, &rdiag, &acnorm);   // a P = Q R, R in a
//   double par = 0.0;
//   Eigen::VectorXd step;
//   minpack::Lmpar(a, ipvt, diag, qtb, delta, &par, &step);
//
// Matrices are 0-based Eigen column-major storage; ipvt holds 0-based
// column indices. Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_MINPACK_H_
#define OPTD_SOLVERS_LEAST_SQUARES_MINPACK_H_

#include <vector>

#include "Eigen/Core"

namespace optd::minpack {

// enorm.f: the Euclidean norm of x[0..n), accumulated in three sums (small,
// intermediate and large components, thresholds rdwarf = 3.834e-20 and
// rgiant = 1.304e19) so that nothing overflows.
double Enorm(int n, const double* x);
inline double Enorm(const Eigen::VectorXd& x) {
  return Enorm(static_cast<int>(x.size()), x.data());
}

// qrfac.f with pivot = .true.: Householder QR with column pivoting of the
// m x n matrix a (m >= n), a P = Q R. On return the upper triangle of a
// holds R's strict upper part, the lower trapezoid the Householder vectors
// (as qrfac leaves them), *rdiag R's diagonal, *acnorm the column norms of
// the input a, and (*ipvt)[j] the column of the identity that is P's
// column j.
void Qrfac(Eigen::MatrixXd& a, std::vector<int>* ipvt, Eigen::VectorXd* rdiag,
           Eigen::VectorXd* acnorm);

// qrsolv.f: given R (upper triangle of r, n x n leading block), P (ipvt),
// D = diag(diag) and Q^T b (qtb), solves min |[A; D] x - [b; 0]| and
// returns x, and in *sdiag the diagonal of the S with P^T (A^T A + D D) P =
// S^T S; the strict lower triangle of r's leading n x n block receives S's
// strict upper triangle (transposed), R and its diagonal are kept.
void Qrsolv(Eigen::MatrixXd& r, const std::vector<int>& ipvt,
            const Eigen::VectorXd& diag, const Eigen::VectorXd& qtb,
            Eigen::VectorXd* x, Eigen::VectorXd* sdiag);

// lmpar.f: the Levenberg-Marquardt parameter par >= 0 for the trust region
// |D x| <= delta (Moré 1978, "The Levenberg-Marquardt algorithm:
// implementation and theory", Lecture Notes in Mathematics 630, section 5):
// either par = 0 and |D x| - delta <= 0.1 delta, or par > 0 and
// |(|D x| - delta)| <= 0.1 delta, or 10 iterations. *par is the initial
// estimate on entry; *x receives the step solving
// (A^T A + par D^T D) x = A^T b in the least-squares sense (lmder negates
// it). r is as Qrfac leaves it with the diagonal of R written back on it
// (lmder does so at label 120); r's strict lower n x n triangle is used as
// workspace by Qrsolv.
void Lmpar(Eigen::MatrixXd& r, const std::vector<int>& ipvt,
           const Eigen::VectorXd& diag, const Eigen::VectorXd& qtb,
           double delta, double* par, Eigen::VectorXd* x);

}  // namespace optd::minpack

#endif  // OPTD_SOLVERS_LEAST_SQUARES_MINPACK_H_
