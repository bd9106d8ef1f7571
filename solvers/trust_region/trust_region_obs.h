// The limited-memory quasi-Newton model of the trust-region solver and its
// subproblem, solved exactly in a small subspace by the orthonormal-basis
// (OBS) method of Brust, Erway & Marcia ("On solving L-SR1 trust-region
// subproblems", Comput. Optim. Appl. 66 (2017) 245-266) and Burdakov, Gong,
// Zikrin & Yuan ("On efficiently combining limited-memory and trust-region
// techniques", Math. Prog. Comp. 9 (2017) 101-134).
//
// The model is B = gamma I + Psi M Psi^T over the k stored pairs (s_i, y_i):
//   L-SR1  Psi = Y - gamma S, M = (D + L + L^T - gamma S^T S)^-1
//          (Byrd, Nocedal & Schnabel, Math. Prog. 63 (1994) 129-156, eq. 5.2)
//   L-BFGS Psi = [S Y], M = -E K^-1 E, K = [[gamma S^T S, L], [L^T, -D]],
//          E = diag(gamma I, I)  (BNS 1994 eq. 2.17 with B_0 = gamma I,
//          written over [S Y])
// with S^T Y = L + D + U (L strictly lower, D diagonal). Everything is built
// from the Gram matrices of S, Y and g (the controller never sees a vector):
// Psi = [S Y] C, T^-1 Psi^T Psi T^-1 = V Sigma V^T with T a diagonal column
// scaling (dependent columns dropped; trust_region_obs.cc says how), then
// R = Sigma^1/2 V^T T, R M R^T = U Lambda U^T, and P = Psi T^-1 V Sigma^-1/2 U
// has orthonormal columns with B = gamma I + P Lambda P^T (the OBS
// factorization of Brust et al. and Burdakov et al., with their thin QR of
// Psi replaced by the eigendecomposition of Psi's Gram matrix so that a
// rank-deficient Psi is handled by dropping directions). The subproblem
// separates along P's columns (eigenvalues gamma + lambda_i) and P's complement
// (eigenvalue gamma); the step p = [S Y] c + c_g g is returned as coefficients
// that the slices combine.
//
//   PairGram gram = ...;                   // from the controller's reductions
//   LimitedMemoryModel model =
//       LimitedMemoryModel::Build(QuasiNewtonUpdate::kLsr1, gram, n);
//   LimitedMemoryModel::Step step = model.Solve(gram.sg, gram.yg,
//   gram.gg, 1.0);
//   // p = sum_i c_i s_i + sum_i c_{k+i} y_i + c_{2k} g
//
// Thread-safety: immutable after Build(); safe to share.
#ifndef OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_OBS_H_
#define OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_OBS_H_

#include <cstdint>

#include "Eigen/Dense"
#include "solvers/core/pair_gram.h"

namespace optd {

enum class QuasiNewtonUpdate {
  kLsr1,   // limited-memory symmetric rank one: may model negative curvature
  kLbfgs,  // limited-memory BFGS: positive definite
};

// LimitedMemoryModel::Build leaves a pair out when its s has a component
// orthogonal to the newer s's of less than pair_dependence of its squared
// length (sin^2 of the angle); this is the default.
// Taken newest first, those squared residuals are the squared pivots of
// S^T S's Cholesky factor, so every squared pivot is at least 1e-12 of its
// diagonal element, far from what rounding can reach (eps = 2.2e-16); Psi's
// rank is decided separately (trust_region_obs.cc kRank). A larger threshold
// threw away what a curved valley teaches: on Meyer's problem successive steps
// turn by less than 1e-4 rad, 1e-8 kept one pair of ten, and the model froze
// (each new s parallel to the last). On bench/solver_quality's 44 problems,
// 1e-12 against 1e-8 (ftol test off): L-SR1 8,148 evaluations against 8,292, 33
// problems solved by both; L-BFGS 3,846 against 6,453 (Meyer solved in 1,056
// instead of 3,044), 35 solved against 36 (Powell singular gained; Powell badly
// scaled and Box 3-D now end by the gradient test just above the bench's f
// tolerance). Sessions journaled before solver revision 1
// (server/session/solver_revision.h) were built with 1e-8 and replay with it.
inline constexpr double kPairDependence = 1e-12;

class LimitedMemoryModel {
 public:
  // The model for the pairs of `gram` in a space of `dimension`. With no
  // pairs (or none usable), B = I. Pairs whose s is nearly dependent on newer
  // ones are left out (newest first), so that S^T S is well conditioned.
  //
  // With `free_gram` (box bounds, trust_region.h): the reduced model
  // Z B Z on the free variables, Z the diagonal 0/1 projector onto them and
  // `dimension` their number. B's middle matrix M and gamma come from
  // `gram` as without bounds; the basis is built from the Gram products of
  // Z Psi, which `free_gram` holds (ss, sy, yy of Z S and Z Y; its sg, yg, gg
  // are Z g's, for Solve). Z B Z = gamma Z + (Z Psi) M (Z Psi)^T has the
  // same compact form as B, so the OBS factorization applies unchanged
  // (reduced quasi-Newton model of the free variables: Bertsekas 1982 §3;
  // L-BFGS-B's reduced Hessian Z^T B Z, Byrd, Lu, Nocedal & Zhu 1995 §5).
  static LimitedMemoryModel Build(QuasiNewtonUpdate update,
                                  const PairGram& gram, int64_t dimension,
                                  const PairGram* free_gram = nullptr,
                                  double pair_dependence = kPairDependence);

  double gamma() const { return gamma_; }
  // Number of eigen-directions P (at most 2k, at most the dimension).
  int rank() const { return static_cast<int>(lambda_.size()); }
  // gamma + lambda_i, B's eigenvalues on span(P).
  Eigen::VectorXd eigenvalues() const { return lambda_.array() + gamma_; }
  // Pairs the model uses (the others were dependent).
  int used_pairs() const { return used_pairs_; }

  struct Step {
    // Over [s_0..s_{k-1}, y_0..y_{k-1}, g].
    Eigen::VectorXd coefficients;
    double model_change = 0.0;  // g.p + p.B.p / 2
    double norm = 0.0;          // ||p||
    double sigma = 0.0;         // the multiplier: (B + sigma I) p = -g
    bool on_boundary = false;
    bool hard_case = false;
  };
  // The global minimizer of g.p + p.B.p/2 over ||p|| <= radius, g given by
  // its products with S, Y and itself: in B's eigenbasis ||p(sigma)||^2 =
  // sum_i a_i^2 / (mu_i + sigma)^2 (Nocedal & Wright, Numerical Optimization,
  // 2nd ed., eq. 4.38), Newton's method on 1/||p(sigma)|| - 1/radius = 0
  // (N&W eq. 4.39), and the hard case by N&W eq. 4.45 (Moré & Sorensen
  // 1983), as in the OBS method.
  Step Solve(const Eigen::VectorXd& sg, const Eigen::VectorXd& yg, double gg,
             double radius) const;

  // The model change g.p + p.B.p/2 of any p given by g.p, p.p and its
  // products with the pairs (p.s_i, p.y_i): p.B.p = gamma p.p +
  // sum_i lambda_i (P^T p)_i^2. For the reduced model p must be zero on the
  // variables it leaves out (then P^T p is the same from Z s_i or s_i).
  double ModelChange(double gp, double pp, const Eigen::VectorXd& p_on_s,
                     const Eigen::VectorXd& p_on_y) const;

  // For a new pair (s, y) given by its products with itself and the stored
  // pairs: s.(y - B s) and ||y - B s|| under this model (for the SR1 skipping
  // rule, Nocedal & Wright, Numerical Optimization, eq. 6.26), with the
  // rounding errors of their Gram-matrix formulas: ||y - B s||^2 = y.y -
  // 2 y.B s + ||B s||^2 cancels terms of order ||B s||^2, which is all there
  // is to see of a residual much shorter than B s (B's large eigenvalues).
  struct SecantResidual {
    double s_dot_residual = 0.0;
    double s_dot_residual_error = 0.0;  // bound on its rounding error
    double residual_norm = 0.0;         // sqrt(max(0, computed ||r||^2))
    // sqrt(computed ||r||^2 + its rounding error bound): an upper bound on
    // ||y - B s|| even where the computed square rounds to 0 or below.
    double residual_norm_bound = 0.0;
  };
  SecantResidual Residual(double ss, double sy, double yy,
                          const Eigen::VectorXd& s_on_s,
                          const Eigen::VectorXd& s_on_y,
                          const Eigen::VectorXd& y_on_s,
                          const Eigen::VectorXd& y_on_y) const;

 private:
  // P^T v for v given by v.s_i and v.y_i.
  Eigen::VectorXd Project(const Eigen::VectorXd& on_s,
                          const Eigen::VectorXd& on_y) const;

  int pairs_ = 0;
  int used_pairs_ = 0;
  int64_t dimension_ = 0;
  double gamma_ = 1.0;
  Eigen::MatrixXd basis_;   // W (2k x r): P = [S Y] W
  Eigen::VectorXd lambda_;  // r eigenvalues of R M R^T
};

}  // namespace optd

#endif  // OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_OBS_H_
