// The steps of one L-BFGS-B iteration (Byrd, Lu, Nocedal & Zhu, "A limited
// memory algorithm for bound constrained optimization", SIAM J. Sci. Comput.
// 16 (1995) 1190-1208; L-BFGS-B 3.0, Morales & Nocedal, ACM TOMS 38 (2011)),
// as the Fortran lbfgsb.f that scipy 1.10 ships splits them:
//
//   Active                 `active`: project x0 into the box, classify
//   variables ProjectedGradientNorm  `projgr`: max_i |P(x - g) - x|_i Cauchy
//   `cauchy` + `hpsolb`: the generalized Cauchy point
//                          (paper §4) along the projected steepest descent path
//   Freev                  `freev`: free and active sets at the Cauchy point
//   Formk                  `formk`: the LEL' factors of the 2m x 2m matrix K of
//                          the reduced (subspace) Newton system (paper §5.1)
//   ReducedGradient        `cmprlb`: r = -Z'(g + B (xcp - x))
//   Subsm                  `subsm`: the subspace Newton step, projected into
//                          the box and backtracked (the 3.0 change, Morales &
//                          Nocedal 2011 §2)
//
// Vectors are Eigen (dense, in process); index sets are 0-based.
#ifndef OPTD_SOLVERS_LBFGSB_LBFGSB_STEPS_H_
#define OPTD_SOLVERS_LBFGSB_LBFGSB_STEPS_H_

#include <vector>

#include "Eigen/Core"
#include "solvers/core/bounds.h"
#include "solvers/lbfgsb/lbfgsb_compact.h"

namespace optd::lbfgsb {

// lbfgsb.f's nbd: which sides of a variable are finite.
enum BoundKind : int {
  kUnbounded = 0,
  kLowerOnly = 1,
  kBothSides = 2,
  kUpperOnly = 3
};

// The box as the Fortran reads it.
struct Box {
  explicit Box(const Bounds& bounds);
  int size() const { return static_cast<int>(nbd.size()); }
  std::vector<double> l, u;
  std::vector<int> nbd;
};

// iwhere codes (cauchy's comment): -1 never bounded, 0 free, -3 free but not
// moved by the Cauchy step, 1 at l, 2 at u, 3 fixed (l = u).
struct ActiveFlags {
  bool projected = false;    // x0 was outside the box (prjctd)
  bool constrained = false;  // some side is finite (cnstnd)
  bool boxed = true;         // every variable has both sides (boxed)
};
// active: clips x into the box and initializes iwhere.
ActiveFlags Active(const Box& box, Eigen::VectorXd* x,
                   std::vector<int>* iwhere);

// projgr: the max-norm of the projected gradient.
double ProjectedGradientNorm(const Box& box, const Eigen::VectorXd& x,
                             const Eigen::VectorXd& g);

// Work vectors of the Cauchy search; c = W'(xcp - x) is its output for
// ReducedGradient.
struct CauchyWork {
  CauchyWork(int n, int m);
  Eigen::VectorXd t, d;  // breakpoints, Cauchy direction
  std::vector<int> iorder;
  Eigen::VectorXd p, c, wbp, v;  // 2m each
};

// cauchy: the generalized Cauchy point xcp from x. Updates iwhere; nseg is
// the number of segments explored. False when bmv met a singular system
// (mainlb then refreshes the memory).
bool Cauchy(const Box& box, const Eigen::VectorXd& x, const Eigen::VectorXd& g,
            const LbfgsbMemory& memory, double sbgnrm, double epsmch,
            std::vector<int>* iwhere, Eigen::VectorXd* xcp, CauchyWork* work,
            int* nseg);

// The free set at the Cauchy point and how it changed since the last
// iteration (freev's index / indx2 / nenter / ileave).
struct FreeSet {
  explicit FreeSet(int n);
  int nfree;
  std::vector<int> index;  // free variables, then the active ones
  std::vector<int> indx2;  // entering [0, nenter), leaving [ileave, n)
  int nenter = 0;
  int ileave = 0;
};
// freev: returns wrk, whether K must be formed again.
bool Freev(const std::vector<int>& iwhere, int iter, bool constrained,
           bool updated, FreeSet* set);

// formk: the factors of K in the upper triangle of wn (2m x 2m). wn1 (2m x
// 2m, kept between calls) holds the inner products Y'ZZ'Y, S'AA'S and
// L_a + R_z, updated as pairs arrive (`updated`: the memory got a pair since
// the last call) and as variables enter and leave the free set. False when a
// Cholesky factorization fails.
bool Formk(const LbfgsbMemory& memory, const FreeSet& set, bool updated,
           Eigen::MatrixXd* wn1, Eigen::MatrixXd* wn);

// cmprlb: r (first nfree entries) = -Z'(g + B (z - x)), from c of Cauchy.
// False when bmv met a singular system.
bool ReducedGradient(const LbfgsbMemory& memory, const FreeSet& set,
                     bool constrained, const Eigen::VectorXd& x,
                     const Eigen::VectorXd& g, const Eigen::VectorXd& z,
                     const Eigen::VectorXd& c, Eigen::VectorXd* r,
                     Eigen::VectorXd* wa);

// subsm: moves z (the Cauchy point on entry) to the projected subspace
// Newton point, using d = r (the reduced gradient) as work. `iword` is 0 when
// the projection changed nothing, 1 otherwise. False for a singular K.
bool Subsm(const Box& box, const LbfgsbMemory& memory, const FreeSet& set,
           const Eigen::MatrixXd& wn, const Eigen::VectorXd& x,
           const Eigen::VectorXd& g, Eigen::VectorXd* r, Eigen::VectorXd* z,
           Eigen::VectorXd* xp, Eigen::VectorXd* wv, int* iword);

}  // namespace optd::lbfgsb

#endif  // OPTD_SOLVERS_LBFGSB_LBFGSB_STEPS_H_
