// Written from L-BFGS-B 3.0 (lbfgsb.f: freev, formk, cmprlb, subsm); the
// controller's half: counts, the 2m x 2m matrices and the 2m vectors. The
// loops keep the Fortran order of operations; the sums over the variables
// come from the slices (LbfgsbSlice::FormkSums, SubspaceProducts).
#include <algorithm>
#include <cmath>

#include "common/status_macros.h"
#include "solvers/lbfgsb/lbfgsb_steps.h"

namespace optd::lbfgsb {

absl::StatusOr<bool> Freev(LbfgsbVectors* vectors, int64_t iter,
                           bool constrained, bool updated, FreeSet* set) {
  // With iter > 0 and bounds, the variables that left the free set and
  // those that entered it.
  OPTD_ASSIGN_OR_RETURN(FreeCounts counts,
                        vectors->FreeVariables(iter > 0 && constrained));
  set->nfree = counts.free;
  set->nenter = counts.entering;
  set->nleave = counts.leaving;
  return set->nleave > 0 || set->nenter > 0 || updated;
}

absl::StatusOr<bool> Formk(LbfgsbVectors* vectors, const LbfgsbMemory& memory,
                           bool updated, Eigen::MatrixXd* wn1_io,
                           Eigen::MatrixXd* wn_out) {
  Eigen::MatrixXd &wn = *wn_out, &wn1 = *wn1_io;
  const int col = memory.col, m = memory.m;
  const double theta = memory.theta;
  const int ld = static_cast<int>(wn.rows());
  OPTD_ASSIGN_OR_RETURN(Reduction reduction, vectors->FormkSums(updated));
  const std::vector<double>& sums = reduction.sums;
  const FormkLayout layout{col, updated};
  // The lower triangle of WN1 = [Y'ZZ'Y    L_a' + R_z']
  //                             [L_a + R_z  S'AA'S    ],
  // L_a the strictly lower triangle of S'AA'Y, R_z the upper triangle of
  // S'ZZ'Y; Z the free variables, A the active ones.
  const int upcl = layout.upcl();
  if (updated) {
    if (memory.iupdat > m) {
      // The oldest pair left: shift the old products up and left.
      for (int jy = 0; jy + 1 < m; ++jy) {
        const int js = m + jy;
        for (int i = 0; i < m - 1 - jy; ++i) {
          wn1(jy + i, jy) = wn1(jy + 1 + i, jy + 1);
          wn1(js + i, js) = wn1(js + 1 + i, js + 1);
        }
        for (int i = 0; i < m - 1; ++i) wn1(m + i, jy) = wn1(m + 1 + i, jy + 1);
      }
    }
    // The new pair's row in blocks (1,1), (2,1), (2,2) and its column in
    // block (2,1).
    const int iy = col - 1, is = m + col - 1;
    for (int jy = 0; jy < col; ++jy) {
      wn1(iy, jy) = sums[layout.new_yy(jy)];
      wn1(is, m + jy) = sums[layout.new_ss(jy)];
      wn1(is, jy) = sums[layout.new_sy(jy)];
    }
    for (int i = 0; i < col; ++i) wn1(m + i, col - 1) = sums[layout.sy_new(i)];
  }
  // The old products, corrected for the variables that entered the free set
  // and left it.
  for (int iy = 0; iy < upcl; ++iy) {
    const int is = m + iy;
    for (int jy = 0; jy <= iy; ++jy) {
      const int js = m + jy;
      const double temp1 = sums[layout.tri_at(iy, jy, 0)];
      const double temp2 = sums[layout.tri_at(iy, jy, 1)];
      const double temp3 = sums[layout.tri_at(iy, jy, 2)];
      const double temp4 = sums[layout.tri_at(iy, jy, 3)];
      wn1(iy, jy) = wn1(iy, jy) + temp1 - temp3;
      wn1(is, js) = wn1(is, js) - temp2 + temp4;
    }
  }
  for (int i = 0; i < upcl; ++i) {
    const int is = m + i;
    for (int jy = 0; jy < upcl; ++jy) {
      const double temp1 = sums[layout.sq_at(i, jy, 0)];
      const double temp3 = sums[layout.sq_at(i, jy, 1)];
      if (i <= jy) {  // R_z: products over the free set
        wn1(is, jy) = wn1(is, jy) + temp1 - temp3;
      } else {  // L_a: over the active set
        wn1(is, jy) = wn1(is, jy) - temp1 + temp3;
      }
    }
  }
  // The upper triangle of
  //   WN = [D + Y'ZZ'Y/theta   -L_a' + R_z'  ]
  //        [-L_a + R_z         theta S'AA'S  ].
  for (int iy = 0; iy < col; ++iy) {
    const int is = col + iy, is1 = m + iy;
    for (int jy = 0; jy <= iy; ++jy) {
      wn(jy, iy) = wn1(iy, jy) / theta;
      wn(col + jy, is) = wn1(is1, m + jy) * theta;
    }
    for (int jy = 0; jy < iy; ++jy) wn(jy, is) = -wn1(is1, jy);
    for (int jy = iy; jy < col; ++jy) wn(jy, is) = wn1(is1, jy);
    wn(iy, iy) += memory.sy(iy, iy);
  }
  // Factor: the (1,1) block as LL'; L^{-1}(-L_a' + R_z') in the (1,2) block;
  // then theta S'AA'S + (L^{-1}(-L_a' + R_z'))'(L^{-1}(-L_a' + R_z')) in the
  // (2,2) block, factored again.
  if (Dpofa(wn.data(), ld, col) != 0) return false;
  for (int js = col; js < 2 * col; ++js) {
    Dtrsl(wn.data(), ld, col, &wn(0, js), /*transpose=*/true);
  }
  for (int is = col; is < 2 * col; ++is) {
    for (int js = is; js < 2 * col; ++js) {
      wn(is, js) += Ddot(col, &wn(0, is), &wn(0, js));
    }
  }
  return Dpofa(&wn(col, col), ld, col) == 0;
}

absl::StatusOr<bool> SubspaceMinimize(
    LbfgsbVectors* vectors, const LbfgsbMemory& memory, bool constrained,
    const Eigen::VectorXd& c, const Eigen::MatrixXd& wn, Eigen::VectorXd* wa_io,
    Eigen::VectorXd* wv_io) {
  Eigen::VectorXd &wa = *wa_io, &wv = *wv_io;
  const int col = memory.col;
  const int ld = static_cast<int>(wn.rows());
  const double theta = memory.theta;
  // cmprlb: r = -Z'(g + B (z - x)) = -theta (z - x) - g + W M c on the free
  // set; without bounds the Cauchy point is x and r = -g.
  if (!constrained && col > 0) {
    OPTD_RETURN_IF_ERROR(vectors->ReducedGradient(
        /*negative_gradient=*/true, theta, absl::Span<const double>()));
  } else {
    if (!memory.Bmv(c.data(), wa.data())) return false;
    OPTD_RETURN_IF_ERROR(vectors->ReducedGradient(
        /*negative_gradient=*/false, theta,
        absl::Span<const double>(wa.data(), 2 * col)));
  }
  // subsm: wv = W'Z r.
  OPTD_ASSIGN_OR_RETURN(Reduction products, vectors->SubspaceProducts());
  for (int i = 0; i < col; ++i) {
    wv[i] = products.sums[i];
    wv[col + i] = theta * products.sums[col + i];
  }
  // wv = K^{-1} wv through the LEL' factors of formk.
  if (Dtrsl(wn.data(), ld, 2 * col, wv.data(), /*transpose=*/true) != 0) {
    return false;
  }
  for (int i = 0; i < col; ++i) wv[i] = -wv[i];
  if (Dtrsl(wn.data(), ld, 2 * col, wv.data(), /*transpose=*/false) != 0) {
    return false;
  }
  // The subspace Newton direction r = (1/theta) r + (1/theta^2) Z'W wv,
  // and (L-BFGS-B 3.0, Morales & Nocedal 2011) the Newton point projected
  // into the box. Keep it if that changed nothing or if it is still a
  // descent direction from the iterate, otherwise backtrack along r from
  // the Cauchy point to the first bound.
  OPTD_ASSIGN_OR_RETURN(SubspaceStepResult step,
                        vectors->SubspaceStep(theta, absl::Span<const double>(
                                                         wv.data(), 2 * col)));
  if (!step.projected || !(step.dd_p > 0.0)) return true;
  OPTD_RETURN_IF_ERROR(
      vectors->SubspaceBacktrack(step.alpha, step.alpha_index));
  return true;
}

}  // namespace optd::lbfgsb
