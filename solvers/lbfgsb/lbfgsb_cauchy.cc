// Written from L-BFGS-B 3.0 (lbfgsb.f: active, projgr, cauchy, hpsolb); loops
// keep the Fortran order of operations, indices are 0-based.
#include <algorithm>
#include <cmath>

#include "solvers/lbfgsb/lbfgsb_steps.h"

namespace optd::lbfgsb {

Box::Box(const Bounds& bounds)
    : l(bounds.lower()), u(bounds.upper()), nbd(bounds.lower().size()) {
  for (size_t i = 0; i < nbd.size(); ++i) {
    const bool lower = std::isfinite(l[i]), upper = std::isfinite(u[i]);
    nbd[i] = lower ? (upper ? kBothSides : kLowerOnly)
                   : (upper ? kUpperOnly : kUnbounded);
  }
}

ActiveFlags Active(const Box& box, Eigen::VectorXd* x,
                   std::vector<int>* iwhere) {
  ActiveFlags flags;
  const int n = box.size();
  for (int i = 0; i < n; ++i) {
    const int nbd = box.nbd[i];
    if (nbd == kUnbounded) continue;
    if (nbd <= kBothSides && (*x)[i] <= box.l[i]) {
      if ((*x)[i] < box.l[i]) {
        flags.projected = true;
        (*x)[i] = box.l[i];
      }
    } else if (nbd >= kBothSides && (*x)[i] >= box.u[i]) {
      if ((*x)[i] > box.u[i]) {
        flags.projected = true;
        (*x)[i] = box.u[i];
      }
    }
  }
  iwhere->assign(n, 0);
  for (int i = 0; i < n; ++i) {
    const int nbd = box.nbd[i];
    if (nbd != kBothSides) flags.boxed = false;
    if (nbd == kUnbounded) {
      (*iwhere)[i] = -1;
    } else {
      flags.constrained = true;
      (*iwhere)[i] = nbd == kBothSides && box.u[i] - box.l[i] <= 0.0 ? 3 : 0;
    }
  }
  return flags;
}

double ProjectedGradientNorm(const Box& box, const Eigen::VectorXd& x,
                             const Eigen::VectorXd& g) {
  double sbgnrm = 0.0;
  for (int i = 0; i < box.size(); ++i) {
    double gi = g[i];
    const int nbd = box.nbd[i];
    if (nbd != kUnbounded) {
      if (gi < 0.0) {
        if (nbd >= kBothSides) gi = std::max(x[i] - box.u[i], gi);
      } else {
        if (nbd <= kBothSides) gi = std::min(x[i] - box.l[i], gi);
      }
    }
    sbgnrm = std::max(sbgnrm, std::abs(gi));
  }
  return sbgnrm;
}

namespace {

// hpsolb (Williams' heapsort, CACM Algorithm 232) on t[0, n): with iheap == 0
// first arranges t as a heap; then moves the least element to t[n - 1] and
// leaves the rest a heap in t[0, n - 1). iorder follows t. Written 1-based
// through T() and O() to keep the Fortran's index arithmetic.
void Hpsolb(int n, double* t, int* iorder, int iheap) {
  auto T = [t](int i) -> double& { return t[i - 1]; };
  auto O = [iorder](int i) -> int& { return iorder[i - 1]; };
  if (iheap == 0) {
    for (int k = 2; k <= n; ++k) {
      const double ddum = T(k);
      const int indxin = O(k);
      int i = k;
      while (i > 1) {
        const int j = i / 2;
        if (!(ddum < T(j))) break;
        T(i) = T(j);
        O(i) = O(j);
        i = j;
      }
      T(i) = ddum;
      O(i) = indxin;
    }
  }
  if (n > 1) {
    int i = 1;
    const double out = T(1);
    const int indxou = O(1);
    const double ddum = T(n);
    const int indxin = O(n);
    while (true) {
      int j = i + i;
      if (j > n - 1) break;
      if (T(j + 1) < T(j)) j = j + 1;
      if (!(T(j) < ddum)) break;
      T(i) = T(j);
      O(i) = O(j);
      i = j;
    }
    T(i) = ddum;
    O(i) = indxin;
    T(n) = out;
    O(n) = indxou;
  }
}

}  // namespace

CauchyWork::CauchyWork(int n, int m)
    : t(n), d(n), iorder(n), p(2 * m), c(2 * m), wbp(2 * m), v(2 * m) {}

bool Cauchy(const Box& box, const Eigen::VectorXd& x, const Eigen::VectorXd& g,
            const LbfgsbMemory& memory, double sbgnrm, double epsmch,
            std::vector<int>* iwhere_out, Eigen::VectorXd* xcp_out,
            CauchyWork* work, int* nseg) {
  std::vector<int>& iwhere = *iwhere_out;
  Eigen::VectorXd& xcp = *xcp_out;
  Eigen::VectorXd &t = work->t, &d = work->d, &p = work->p, &c = work->c,
                  &wbp = work->wbp, &v = work->v;
  std::vector<int>& iorder = work->iorder;
  const int n = box.size(), col = memory.col, col2 = 2 * col;
  const double theta = memory.theta;
  *nseg = 0;
  if (sbgnrm <= 0.0) {
    xcp = x;
    return true;
  }
  // Classify the variables, form the Cauchy direction d = -g on the movable
  // ones, the breakpoints t along it, f1 = g'd and p = W'd (theta = 1).
  bool bnded = true;
  int nfree = n;  // iorder[nfree, n): variables with no breakpoint
  int nbreak = 0, ibkmin = 0;
  double bkmin = 0.0, f1 = 0.0;
  p.head(col2).setZero();
  for (int i = 0; i < n; ++i) {
    const double neggi = -g[i];
    const int nbd = box.nbd[i];
    double tl = 0.0, tu = 0.0;
    if (iwhere[i] != 3 && iwhere[i] != -1) {
      if (nbd <= kBothSides) tl = x[i] - box.l[i];
      if (nbd >= kBothSides) tu = box.u[i] - x[i];
      const bool xlower = nbd <= kBothSides && tl <= 0.0;
      const bool xupper = nbd >= kBothSides && tu <= 0.0;
      iwhere[i] = 0;
      if (xlower) {
        if (neggi <= 0.0) iwhere[i] = 1;
      } else if (xupper) {
        if (neggi >= 0.0) iwhere[i] = 2;
      } else if (std::abs(neggi) <= 0.0) {
        iwhere[i] = -3;
      }
    }
    if (iwhere[i] != 0 && iwhere[i] != -1) {
      d[i] = 0.0;
      continue;
    }
    d[i] = neggi;
    f1 -= neggi * neggi;
    for (int j = 0; j < col; ++j) {
      const int s = memory.Slot(j);
      p[j] += memory.wy(i, s) * neggi;
      p[col + j] += memory.ws(i, s) * neggi;
    }
    if (nbd <= kBothSides && nbd != kUnbounded && neggi < 0.0) {
      iorder[nbreak] = i;
      t[nbreak] = tl / (-neggi);
      if (nbreak == 0 || t[nbreak] < bkmin) {
        bkmin = t[nbreak];
        ibkmin = nbreak;
      }
      ++nbreak;
    } else if (nbd >= kBothSides && neggi > 0.0) {
      iorder[nbreak] = i;
      t[nbreak] = tu / neggi;
      if (nbreak == 0 || t[nbreak] < bkmin) {
        bkmin = t[nbreak];
        ibkmin = nbreak;
      }
      ++nbreak;
    } else {
      iorder[--nfree] = i;
      if (std::abs(neggi) > 0.0) bnded = false;
    }
  }
  if (theta != 1.0) {
    for (int j = 0; j < col; ++j) p[col + j] *= theta;
  }
  xcp = x;
  if (nbreak == 0 && nfree == n) return true;  // d = 0: the GCP is x
  c.head(col2).setZero();
  // f2 = d'Bd = theta d'd - p'Mp.
  double f2 = -theta * f1;
  const double f2_org = f2;
  if (col > 0) {
    if (!memory.Bmv(p.data(), v.data())) return false;
    f2 -= Ddot(col2, v.data(), p.data());
  }
  double dtm = -f1 / f2;
  double tsum = 0.0;
  *nseg = 1;
  bool all_fixed = false;
  if (nbreak > 0) {
    int nleft = nbreak, iter = 1;
    double tj = 0.0;
    // Examine the segments [t_{j-1}, t_j] in order until the quadratic's
    // minimizer along the path lies inside one (paper §4, eqs. 4.5-4.9).
    while (true) {
      const double tj0 = tj;
      int ibp;
      if (iter == 1) {
        // The smallest breakpoint is known; often it is the only one needed,
        // and the heap is never built.
        tj = bkmin;
        ibp = iorder[ibkmin];
      } else {
        if (iter == 2 && ibkmin != nbreak - 1) {
          t[ibkmin] = t[nbreak - 1];
          iorder[ibkmin] = iorder[nbreak - 1];
        }
        Hpsolb(nleft, t.data(), iorder.data(), iter - 2);
        tj = t[nleft - 1];
        ibp = iorder[nleft - 1];
      }
      const double dt = tj - tj0;
      if (dtm < dt) break;  // the minimizer is in this segment
      // Fix variable ibp at the bound it reached.
      tsum += dt;
      --nleft;
      ++iter;
      const double dibp = d[ibp];
      d[ibp] = 0.0;
      double zibp;
      if (dibp > 0.0) {
        zibp = box.u[ibp] - x[ibp];
        xcp[ibp] = box.u[ibp];
        iwhere[ibp] = 2;
      } else {
        zibp = box.l[ibp] - x[ibp];
        xcp[ibp] = box.l[ibp];
        iwhere[ibp] = 1;
      }
      if (nleft == 0 && nbreak == n) {
        dtm = dt;  // every variable is at a bound
        all_fixed = true;
        break;
      }
      ++*nseg;
      const double dibp2 = dibp * dibp;
      f1 = f1 + dt * f2 + dibp2 - theta * dibp * zibp;
      f2 = f2 - theta * dibp2;
      if (col > 0) {
        for (int j = 0; j < col2; ++j) c[j] += dt * p[j];
        for (int j = 0; j < col; ++j) {
          const int s = memory.Slot(j);
          wbp[j] = memory.wy(ibp, s);
          wbp[col + j] = theta * memory.ws(ibp, s);
        }
        if (!memory.Bmv(wbp.data(), v.data())) return false;
        const double wmc = Ddot(col2, c.data(), v.data());
        const double wmp = Ddot(col2, p.data(), v.data());
        const double wmw = Ddot(col2, wbp.data(), v.data());
        for (int j = 0; j < col2; ++j) p[j] += -dibp * wbp[j];
        f1 += dibp * wmc;
        f2 += 2.0 * dibp * wmp - dibp2 * wmw;
      }
      f2 = std::max(epsmch * f2_org, f2);
      if (nleft > 0) {
        dtm = -f1 / f2;
        continue;
      }
      dtm = bnded ? 0.0 : -f1 / f2;
      break;
    }
  }
  if (!all_fixed) {
    if (dtm <= 0.0) dtm = 0.0;
    tsum += dtm;
    // Move the variables whose breakpoints were not reached.
    for (int i = 0; i < n; ++i) xcp[i] += tsum * d[i];
  }
  // c = W'(xcp - x), for the reduced gradient.
  if (col > 0) {
    for (int j = 0; j < col2; ++j) c[j] += dtm * p[j];
  }
  return true;
}

}  // namespace optd::lbfgsb
