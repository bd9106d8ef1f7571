// The eigenvalues of a symmetric tridiagonal matrix T and, for each, the
// first and last components of its unit eigenvector: all that Lanczos needs
// of T's eigenvectors (the residual bounds |beta_m s_mi| use the last
// components, Gauss quadrature weights the first; lanczos.h), in O(m^2)
// rather than the O(m^3) of accumulating every eigenvector.
//
// T splits at zero off-diagonal elements into unreduced blocks, each handled
// alone (Lanczos restarts make such blocks). A block of up to
// kDenseBlock rows is decomposed whole by Eigen's SelfAdjointEigenSolver;
// a larger one gets its eigenvalues from Eigen (EigenvaluesOnly: implicit
// symmetric tridiagonal QL, O(m^2); Golub & Van Loan, Matrix Computations,
// ch. 8) and each eigenvector by three steps of inverse iteration,
// (T - theta I) x_new = x, solved by Gaussian elimination with partial
// pivoting for tridiagonal systems (LAPACK dgttrf and dgtts2), which
// converges in one or two steps from an eigenvalue accurate to rounding
// (G&VL ch. 8 on inverse iteration; Wilkinson, The Algebraic Eigenvalue
// Problem, ch. 9). The eigenvalues of an unreduced symmetric tridiagonal
// matrix are distinct, so each shift has its own eigenvector.
//
//   TridiagonalEigen e = DecomposeTridiagonal(alpha, beta);
//   double bound = std::abs(beta_m * e.last[i]);
//
// Thread-safety: a pure function.
#ifndef OPTD_SOLVERS_CURVATURE_TRIDIAGONAL_H_
#define OPTD_SOLVERS_CURVATURE_TRIDIAGONAL_H_

#include <vector>

namespace optd {

// Blocks up to this size are decomposed densely.
inline constexpr int kDenseBlock = 64;

struct TridiagonalEigen {
  // Ascending.
  std::vector<double> values;
  // Components 0 and m - 1 of the unit eigenvector of values[i] (its sign
  // is arbitrary).
  std::vector<double> first;
  std::vector<double> last;
};

// DecomposeTridiagonal()
//
// T with diagonal `alpha` (m elements) and off-diagonal beta[0..m-2]
// (beta[j] couples rows j and j + 1; elements of `beta` beyond m - 2 are
// ignored).
TridiagonalEigen DecomposeTridiagonal(const std::vector<double>& alpha,
                                      const std::vector<double>& beta);

}  // namespace optd

#endif  // OPTD_SOLVERS_CURVATURE_TRIDIAGONAL_H_
