// Written from L-BFGS-B 3.0 (lbfgsb.f: cauchy); the controller's half: the
// scalars f1, f2, dtm and the 2m vectors p, c along the path. The loop keeps
// the Fortran order of operations; the breakpoints come from the slices in
// (t, index) order instead of from hpsolb's heap (the same order but for
// ties, which the heap visits in heap order).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/lbfgsb/lbfgsb_steps.h"

namespace optd::lbfgsb {

BreakpointMerge::BreakpointMerge(LbfgsbVectors* vectors, int batch)
    : vectors_(vectors),
      batch_(batch),
      streams_(static_cast<size_t>(vectors->slices())) {
  for (Stream& s : streams_) s.batch = batch;
}

absl::StatusOr<const BreakpointRecord*> BreakpointMerge::Next() {
  Stream* best = nullptr;
  for (size_t k = 0; k < streams_.size(); ++k) {
    Stream& s = streams_[k];
    if (s.next == s.buffer.size() && !s.exhausted) {
      s.buffer.clear();
      s.next = 0;
      OPTD_RETURN_IF_ERROR(vectors_->Breakpoints(static_cast<int>(k), s.fetched,
                                                 s.batch, &s.buffer));
      s.fetched += static_cast<int64_t>(s.buffer.size());
      if (static_cast<int>(s.buffer.size()) < s.batch) s.exhausted = true;
      s.batch = std::min(2 * s.batch, std::max(batch_, kMaxBreakpointBatch));
    }
    if (s.next == s.buffer.size()) continue;
    const BreakpointRecord& r = s.buffer[s.next];
    if (best == nullptr ||
        BreakpointBefore(r.t, r.index, best->buffer[best->next].t,
                         best->buffer[best->next].index)) {
      best = &s;
    }
  }
  if (best == nullptr) return nullptr;
  return &best->buffer[best->next++];
}

CauchyWork::CauchyWork(int m) : p(2 * m), c(2 * m), wbp(2 * m), v(2 * m) {
  c.setZero();
}

absl::StatusOr<bool> Cauchy(LbfgsbVectors* vectors, const LbfgsbMemory& memory,
                            double sbgnrm, double epsmch, CauchyWork* work,
                            int* nseg) {
  Eigen::VectorXd &p = work->p, &c = work->c, &wbp = work->wbp, &v = work->v;
  const int64_t n = vectors->dimension();
  const int col = memory.col, col2 = 2 * col;
  const double theta = memory.theta;
  *nseg = 0;
  if (sbgnrm <= 0.0) {
    OPTD_RETURN_IF_ERROR(vectors->SetCauchyPointToIterate());
    return true;
  }
  // The slices classify the variables and form the Cauchy direction d = -g
  // on the movable ones, the breakpoints t along it, f1 = g'd and p = W'd
  // (theta = 1).
  OPTD_ASSIGN_OR_RETURN(CauchyStartResult start, vectors->CauchyStart());
  const CauchyStartLayout layout{col};
  double f1 = start.sums.sums[layout.f1()];
  for (int j = 0; j < col2; ++j) p[j] = start.sums.sums[layout.p(j)];
  const int64_t nbreak = start.counts.breakpoints;
  const bool bnded = start.counts.unbounded_moving == 0;
  if (theta != 1.0) {
    for (int j = 0; j < col; ++j) p[col + j] *= theta;
  }
  if (start.counts.movable == 0) {  // d = 0: the GCP is x
    OPTD_RETURN_IF_ERROR(vectors->SetCauchyPointToIterate());
    return true;
  }
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
  bool any_visited = false;
  double last_t = 0.0;
  int64_t last_index = -1;
  if (nbreak > 0) {
    BreakpointMerge merge(vectors, kBreakpointBatch);
    int64_t nleft = nbreak;
    double tj = 0.0;
    // Examine the segments [t_{j-1}, t_j] in order until the quadratic's
    // minimizer along the path lies inside one (paper §4, eqs. 4.5-4.9).
    while (true) {
      const double tj0 = tj;
      OPTD_ASSIGN_OR_RETURN(const BreakpointRecord* bp, merge.Next());
      if (bp == nullptr) {
        return absl::InternalError(absl::StrCat("the slices gave ",
                                                nbreak - nleft, " of their ",
                                                nbreak, " breakpoints"));
      }
      tj = bp->t;
      const double dt = tj - tj0;
      if (dtm < dt) break;  // the minimizer is in this segment
      // Fix variable bp->index at the bound it reached (the slices do it in
      // CauchyFinish).
      tsum += dt;
      --nleft;
      any_visited = true;
      last_t = bp->t;
      last_index = bp->index;
      const double dibp = bp->d;
      const double zibp = bp->bound - bp->x;
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
          wbp[j] = bp->w[j];
          wbp[col + j] = theta * bp->w[col + j];
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
  }
  // xcp: the visited breakpoints at their bounds, the rest moved by tsum d.
  OPTD_RETURN_IF_ERROR(vectors->CauchyFinish(any_visited, last_t, last_index,
                                             tsum, /*move=*/!all_fixed));
  // c = W'(xcp - x), for the reduced gradient.
  if (col > 0) {
    for (int j = 0; j < col2; ++j) c[j] += dtm * p[j];
  }
  return true;
}

}  // namespace optd::lbfgsb
