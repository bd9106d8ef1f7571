// Lsmr: the LSMR iterative solver of min |A x - b|^2 + damp^2 |x|^2 for an
// operator A (rows x cols) known only through the products A v and A^T u,
// as a reverse-communication (ask-tell) routine: it asks for one product at
// a time and never holds A. A port of scipy 1.10's
// scipy/sparse/linalg/_isolve/lsmr.py (x0=None, show=False), itself a
// translation of D. C.-L. Fong and M. A. Saunders, "LSMR: An iterative
// algorithm for sparse least-squares problems", SIAM J. Sci. Comput. 33
// (2011) 2950-2971; _sym_ortho is lsqr.py's stable Givens rotation.
// trf_lsmr.h uses it for trf's Gauss-Newton step.
//
//   Lsmr lsmr(rows, cols, b, options);
//   while (lsmr.request() != Lsmr::Request::kDone) {
//     if (lsmr.request() == Lsmr::Request::kMatvec) {
//       lsmr.Tell(A * lsmr.operand());              // rows elements
//     } else {
//       lsmr.Tell(A.transpose() * lsmr.operand());  // cols elements
//     }
//   }
//   const Eigen::VectorXd& x = lsmr.x();
//
// Each iteration costs one A v and one A^T u (the start one A^T b); memory is
// a handful of vectors of rows or cols elements.
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_LSMR_H_
#define OPTD_SOLVERS_LEAST_SQUARES_LSMR_H_

#include <cstdint>

#include "Eigen/Core"
#include "solvers/core/state_bytes.h"

namespace optd {

// lsmr's keyword arguments, with its defaults.
struct LsmrOptions {
  double damp = 0.0;
  // Stopping tolerances (istop 1 and 2 below); 0 disables each.
  double atol = 1e-6;
  double btol = 1e-6;
  // Stop when the estimated condition number of [A; damp I] exceeds this
  // (istop 3); 0 disables it.
  double conlim = 1e8;
  // Iterations allowed; 0: min(rows, cols), lsmr's maxiter=None.
  int64_t maxiter = 0;
};

class Lsmr {
 public:
  enum class Request { kMatvec, kRmatvec, kDone };

  // Starts on b (rows elements) from x = 0. REQUIRES rows, cols >= 1.
  Lsmr(int rows, int cols, const Eigen::VectorXd& b,
       const LsmrOptions& options);

  // What the routine needs next: A v for v = operand() (cols elements),
  // A^T u for u = operand() (rows elements), or nothing (the solve ended).
  Request request() const { return request_; }
  const Eigen::VectorXd& operand() const {
    return request_ == Request::kMatvec ? v_ : u_;
  }
  // Reports the requested product (rows elements for kMatvec, cols for
  // kRmatvec). REQUIRES request() != kDone and the right size.
  void Tell(const Eigen::VectorXd& product);

  // The solution so far, and lsmr's other outputs: istop (0 x = 0 solves
  // it, 1 |A x - b| small given atol and btol, 2 least-squares solution
  // good enough given atol, 3 conlim reached, 4-6 as 1-3 at machine
  // precision, 7 maxiter reached), itn, normr, normar, normA, condA, normx.
  const Eigen::VectorXd& x() const { return x_; }
  int istop() const { return istop_; }
  int64_t itn() const { return itn_; }
  double normr() const { return normr_; }
  double normar() const { return normar_; }
  double norm_a() const { return norm_a_; }
  double cond_a() const { return cond_a_; }
  double normx() const { return normx_; }

  // The whole routine as state_bytes.h words (for its owner's SaveState),
  // and back: false, with the problem recorded in *r, when the words do not
  // fit a routine of rows x cols.
  void Save(StateWriter* w) const;
  bool Restore(StateReader* r, int rows, int cols);
  // The bytes Save writes.
  int64_t SavedBytes() const;

 private:
  // The first A^T u is told: lsmr.py up to its loop.
  void Start(const Eigen::VectorXd& atu);
  // A v is told: the loop's first half; asks for A^T u when beta > 0.
  void AfterMatvec(const Eigen::VectorXd& av);
  // The loop's second half: A^T u (or none when beta == 0) and the updates.
  void AfterRmatvec(const Eigen::VectorXd* atu);
  void NextIterationOrDone();

  static constexpr int kScalars = 25;  // the doubles below, in Save

  int rows_, cols_;
  LsmrOptions options_;
  int64_t maxiter_;
  bool started_ = false;
  Request request_ = Request::kDone;

  Eigen::VectorXd u_, v_, x_, h_, hbar_;
  double normb_ = 0.0;
  double alpha_ = 0.0, beta_ = 0.0;
  double zetabar_ = 0.0, alphabar_ = 0.0, rho_ = 1.0, rhobar_ = 1.0;
  double cbar_ = 1.0, sbar_ = 0.0;
  double betadd_ = 0.0, betad_ = 0.0, rhodold_ = 1.0, tautildeold_ = 0.0;
  double thetatilde_ = 0.0, zeta_ = 0.0, d_ = 0.0;
  double norm_a2_ = 0.0, maxrbar_ = 0.0, minrbar_ = 1e100;
  double norm_a_ = 0.0, cond_a_ = 1.0, normx_ = 0.0;
  double ctol_ = 0.0, normr_ = 0.0, normar_ = 0.0;
  int istop_ = 0;
  int64_t itn_ = 0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_LSMR_H_
