// The limited-memory BFGS matrix of L-BFGS-B in compact form (Byrd, Nocedal &
// Schnabel 1994, Math. Prog. 63:129-156, eq. (3.5)):
//
//   B = theta I - W M W',   W = [Y, theta S],
//   M^{-1} = [[-D, L'], [L, theta S'S]],
//
// with L the strictly lower triangle of S'Y and D its diagonal, stored as
// L-BFGS-B 3.0 stores it (Fortran lbfgsb.f, as shipped by scipy 1.10): S and Y
// as n x m ring buffers (head, col), S'Y (lower triangle) and S'S (upper
// triangle), and the Cholesky factor J' of T = theta S'S + L D^{-1} L'
// (`formt`), with which `bmv` applies M. S and Y are in the slices
// (solvers/sharding/lbfgsb_slice.h); here are only the m x m matrices. The
// LINPACK kernels the Fortran calls (dpofa, dtrsl) are here too, on
// column-major storage, so that the subspace step (lbfgsb_steps.h) factors its
// 2m x 2m matrix the same way.
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_LBFGSB_LBFGSB_COMPACT_H_
#define OPTD_SOLVERS_LBFGSB_LBFGSB_COMPACT_H_

#include "Eigen/Core"

namespace optd::lbfgsb {

// BLAS ddot with the summation order of the reference (netlib) BLAS that
// Debian's scipy 1.10 links: the first n % 5 products one by one, then five
// at a time, left to right. lbfgsb.f's inner products go through it, so
// using the same order keeps optd's iterates on scipy's to the last bit more
// often.
double Ddot(int n, const double* x, const double* y);

// LINPACK dpofa: Cholesky factorization A = R'R of the symmetric positive
// definite n x n matrix whose upper triangle is in `a` (column-major, leading
// dimension lda); R overwrites the upper triangle. Returns 0, or the order
// j (1-based) of the leading minor that is not positive definite.
int Dpofa(double* a, int lda, int n);

// LINPACK dtrsl for an upper-triangular T (n x n, column-major, leading
// dimension ldt): solves T x = b (transpose = false, dtrsl job 01) or
// T' x = b (transpose = true, job 11) in place. Returns 0, or the index
// (1-based) of a zero diagonal element.
int Dtrsl(const double* t, int ldt, int n, double* b, bool transpose);

// LbfgsbMemory: the small matrices built from the m most recent correction
// pairs; the pairs themselves (S and Y, n x m) live in the slices
// (lbfgsb_slice.h), which keep the same ring. Fields keep the Fortran names;
// slot j (0-based, oldest first) of the ring buffers is column (head + j) % m.
struct LbfgsbMemory {
  explicit LbfgsbMemory(int m);

  // mainlb's "refresh the lbfgs memory": no pairs, theta = 1.
  void Reset();
  int Slot(int j) const { return (head + j) % m; }

  // matupd, once the slices hold the new pair s = stp d, y = r
  // (LbfgsbSlice::PushPair): `sums` is PushPair's reduction [y'y, then
  // s'y_j for j < k - 1, then s_j's for j < k - 1] (k the pairs held after
  // the update). Sets theta = y'y / dr (dr = s'y) and adds the new row of
  // S'Y and column of S'S (dtd = d'd of the unscaled direction, as lnsrlb
  // computed it).
  void Update(const double* sums, double dr, double stp, double dtd);
  // formt: T = theta S'S + L D^{-1} L' in wt's upper triangle, then its
  // Cholesky factor J' there. False when T is not positive definite.
  bool FormT();
  // bmv: p = M v for v of length 2 col. False when a triangular solve met a
  // zero pivot (mainlb then refreshes the memory).
  bool Bmv(const double* v, double* p) const;

  int m;
  int col = 0;     // pairs held
  int head = 0;    // slot of the oldest pair
  int itail = 0;   // slot of the newest pair
  int iupdat = 0;  // updates since the last Reset
  double theta = 1.0;
  Eigen::MatrixXd sy;  // m x m: sy(i, j) = s_i'y_j, lower triangle used
  Eigen::MatrixXd ss;  // m x m: s_i's_j, upper triangle used
  Eigen::MatrixXd wt;  // m x m: J' of formt in the upper triangle
};

}  // namespace optd::lbfgsb

#endif  // OPTD_SOLVERS_LBFGSB_LBFGSB_COMPACT_H_
