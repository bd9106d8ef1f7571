// Written from L-BFGS-B 3.0 (lbfgsb.f: freev, formk, cmprlb, subsm); loops
// keep the Fortran order of operations, indices are 0-based.
#include <algorithm>
#include <cmath>

#include "solvers/lbfgsb/lbfgsb_steps.h"

namespace optd::lbfgsb {

FreeSet::FreeSet(int n) : nfree(n), index(n), indx2(n), ileave(n) {
  for (int i = 0; i < n; ++i) index[i] = i;
}

bool Freev(const std::vector<int>& iwhere, int iter, bool constrained,
           bool updated, FreeSet* set) {
  const int n = static_cast<int>(iwhere.size());
  set->nenter = 0;
  set->ileave = n;
  if (iter > 0 && constrained) {
    // Variables that left the free set, and those that entered it.
    for (int i = 0; i < set->nfree; ++i) {
      const int k = set->index[i];
      if (iwhere[k] > 0) set->indx2[--set->ileave] = k;
    }
    for (int i = set->nfree; i < n; ++i) {
      const int k = set->index[i];
      if (iwhere[k] <= 0) set->indx2[set->nenter++] = k;
    }
  }
  const bool wrk = set->ileave < n || set->nenter > 0 || updated;
  set->nfree = 0;
  int iact = n;
  for (int i = 0; i < n; ++i) {
    if (iwhere[i] <= 0) {
      set->index[set->nfree++] = i;
    } else {
      set->index[--iact] = i;
    }
  }
  return wrk;
}

bool Formk(const LbfgsbMemory& memory, const FreeSet& set, bool updated,
           Eigen::MatrixXd* wn1_io, Eigen::MatrixXd* wn_out) {
  Eigen::MatrixXd &wn = *wn_out, &wn1 = *wn1_io;
  const int col = memory.col, m = memory.m, n = memory.n, nsub = set.nfree;
  const double theta = memory.theta;
  const int ld = static_cast<int>(wn.rows());
  const Eigen::MatrixXd &ws = memory.ws, &wy = memory.wy;
  // a(:, sa)'b(:, sb) over the variables list[begin, end).
  auto dot = [](const Eigen::MatrixXd& a, int sa, const Eigen::MatrixXd& b,
                int sb, const std::vector<int>& list, int begin, int end) {
    double sum = 0.0;
    for (int k = begin; k < end; ++k) {
      const int k1 = list[k];
      sum += a(k1, sa) * b(k1, sb);
    }
    return sum;
  };
  const std::vector<int>& ind = set.index;
  const std::vector<int>& indx2 = set.indx2;
  // The lower triangle of WN1 = [Y'ZZ'Y    L_a' + R_z']
  //                             [L_a + R_z  S'AA'S    ],
  // L_a the strictly lower triangle of S'AA'Y, R_z the upper triangle of
  // S'ZZ'Y; Z the free variables ind[0, nsub), A the active ones.
  int upcl = col;
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
    const int newest = memory.Slot(col - 1), iy = col - 1, is = m + col - 1;
    for (int jy = 0; jy < col; ++jy) {
      const int jp = memory.Slot(jy);
      wn1(iy, jy) = dot(wy, newest, wy, jp, ind, 0, nsub);
      wn1(is, m + jy) = dot(ws, newest, ws, jp, ind, nsub, n);
      wn1(is, jy) = dot(ws, newest, wy, jp, ind, nsub, n);
    }
    for (int i = 0; i < col; ++i) {
      wn1(m + i, col - 1) = dot(ws, memory.Slot(i), wy, newest, ind, 0, nsub);
    }
    upcl = col - 1;
  }
  // The old products, corrected for the variables that entered the free set
  // (indx2[0, nenter)) and left it (indx2[ileave, n)).
  for (int iy = 0; iy < upcl; ++iy) {
    const int ip = memory.Slot(iy), is = m + iy;
    for (int jy = 0; jy <= iy; ++jy) {
      const int jp = memory.Slot(jy), js = m + jy;
      const double temp1 = dot(wy, ip, wy, jp, indx2, 0, set.nenter);
      const double temp2 = dot(ws, ip, ws, jp, indx2, 0, set.nenter);
      const double temp3 = dot(wy, ip, wy, jp, indx2, set.ileave, n);
      const double temp4 = dot(ws, ip, ws, jp, indx2, set.ileave, n);
      wn1(iy, jy) = wn1(iy, jy) + temp1 - temp3;
      wn1(is, js) = wn1(is, js) - temp2 + temp4;
    }
  }
  for (int i = 0; i < upcl; ++i) {
    const int ip = memory.Slot(i), is = m + i;
    for (int jy = 0; jy < upcl; ++jy) {
      const int jp = memory.Slot(jy);
      const double temp1 = dot(ws, ip, wy, jp, indx2, 0, set.nenter);
      const double temp3 = dot(ws, ip, wy, jp, indx2, set.ileave, n);
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

bool ReducedGradient(const LbfgsbMemory& memory, const FreeSet& set,
                     bool constrained, const Eigen::VectorXd& x,
                     const Eigen::VectorXd& g, const Eigen::VectorXd& z,
                     const Eigen::VectorXd& c, Eigen::VectorXd* r,
                     Eigen::VectorXd* wa) {
  const int col = memory.col;
  if (!constrained && col > 0) {
    for (int i = 0; i < memory.n; ++i) (*r)[i] = -g[i];
    return true;
  }
  const double theta = memory.theta;
  for (int i = 0; i < set.nfree; ++i) {
    const int k = set.index[i];
    (*r)[i] = -theta * (z[k] - x[k]) - g[k];
  }
  if (!memory.Bmv(c.data(), wa->data())) return false;
  for (int j = 0; j < col; ++j) {
    const int s = memory.Slot(j);
    const double a1 = (*wa)[j];
    const double a2 = theta * (*wa)[col + j];
    for (int i = 0; i < set.nfree; ++i) {
      const int k = set.index[i];
      (*r)[i] = (*r)[i] + memory.wy(k, s) * a1 + memory.ws(k, s) * a2;
    }
  }
  return true;
}

bool Subsm(const Box& box, const LbfgsbMemory& memory, const FreeSet& set,
           const Eigen::MatrixXd& wn, const Eigen::VectorXd& xx,
           const Eigen::VectorXd& gg, Eigen::VectorXd* d_io,
           Eigen::VectorXd* x_io, Eigen::VectorXd* xp, Eigen::VectorXd* wv_io,
           int* iword) {
  Eigen::VectorXd &d = *d_io, &x = *x_io, &wv = *wv_io;
  const int nsub = set.nfree, col = memory.col, n = memory.n;
  const int ld = static_cast<int>(wn.rows());
  const double theta = memory.theta;
  *iword = 0;
  if (nsub <= 0) return true;
  // wv = W'Z d.
  for (int i = 0; i < col; ++i) {
    const int s = memory.Slot(i);
    double temp1 = 0.0, temp2 = 0.0;
    for (int j = 0; j < nsub; ++j) {
      const int k = set.index[j];
      temp1 += memory.wy(k, s) * d[j];
      temp2 += memory.ws(k, s) * d[j];
    }
    wv[i] = temp1;
    wv[col + i] = theta * temp2;
  }
  // wv = K^{-1} wv through the LEL' factors of formk.
  if (Dtrsl(wn.data(), ld, 2 * col, wv.data(), /*transpose=*/true) != 0) {
    return false;
  }
  for (int i = 0; i < col; ++i) wv[i] = -wv[i];
  if (Dtrsl(wn.data(), ld, 2 * col, wv.data(), /*transpose=*/false) != 0) {
    return false;
  }
  // The subspace Newton direction d = (1/theta) r + (1/theta^2) Z'W wv.
  for (int jy = 0; jy < col; ++jy) {
    const int s = memory.Slot(jy), js = col + jy;
    for (int i = 0; i < nsub; ++i) {
      const int k = set.index[i];
      d[i] = d[i] + memory.wy(k, s) * wv[jy] / theta + memory.ws(k, s) * wv[js];
    }
  }
  const double inv_theta = 1.0 / theta;
  for (int i = 0; i < nsub; ++i) d[i] = inv_theta * d[i];

  // L-BFGS-B 3.0 (Morales & Nocedal 2011): project the Newton point into the
  // box; keep it if that changed nothing or if it is still a descent
  // direction from the iterate, otherwise backtrack along d from the Cauchy
  // point to the first bound.
  *xp = x;
  for (int i = 0; i < nsub; ++i) {
    const int k = set.index[i];
    const double dk = d[i];
    double xk = x[k];
    switch (box.nbd[k]) {
      case kLowerOnly:
        x[k] = std::max(box.l[k], xk + dk);
        if (x[k] == box.l[k]) *iword = 1;
        break;
      case kBothSides:
        xk = std::max(box.l[k], xk + dk);
        x[k] = std::min(box.u[k], xk);
        if (x[k] == box.l[k] || x[k] == box.u[k]) *iword = 1;
        break;
      case kUpperOnly:
        x[k] = std::min(box.u[k], xk + dk);
        if (x[k] == box.u[k]) *iword = 1;
        break;
      default:
        x[k] = xk + dk;
    }
  }
  if (*iword == 0) return true;
  double dd_p = 0.0;
  for (int i = 0; i < n; ++i) dd_p += (x[i] - xx[i]) * gg[i];
  if (!(dd_p > 0.0)) return true;
  x = *xp;
  double alpha = 1.0, temp1 = alpha;
  int ibd = -1;
  for (int i = 0; i < nsub; ++i) {
    const int k = set.index[i];
    const double dk = d[i];
    const int nbd = box.nbd[k];
    if (nbd == kUnbounded) continue;
    if (dk < 0.0 && nbd <= kBothSides) {
      const double temp2 = box.l[k] - x[k];
      if (temp2 >= 0.0) {
        temp1 = 0.0;
      } else if (dk * alpha < temp2) {
        temp1 = temp2 / dk;
      }
    } else if (dk > 0.0 && nbd >= kBothSides) {
      const double temp2 = box.u[k] - x[k];
      if (temp2 <= 0.0) {
        temp1 = 0.0;
      } else if (dk * alpha > temp2) {
        temp1 = temp2 / dk;
      }
    }
    if (temp1 < alpha) {
      alpha = temp1;
      ibd = i;
    }
  }
  if (alpha < 1.0) {
    const double dk = d[ibd];
    const int k = set.index[ibd];
    if (dk > 0.0) {
      x[k] = box.u[k];
      d[ibd] = 0.0;
    } else if (dk < 0.0) {
      x[k] = box.l[k];
      d[ibd] = 0.0;
    }
  }
  for (int i = 0; i < nsub; ++i) {
    const int k = set.index[i];
    x[k] = x[k] + alpha * d[i];
  }
  return true;
}

}  // namespace optd::lbfgsb
