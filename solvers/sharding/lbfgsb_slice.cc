// Written from L-BFGS-B 3.0 (lbfgsb.f: active, projgr, cauchy, freev, formk,
// cmprlb, subsm, lnsrlb, matupd), split into the per-element work of one
// slice; the controller's half is in solvers/lbfgsb/. Loops keep the Fortran
// order of operations inside each reduction block.
#include "solvers/sharding/lbfgsb_slice.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "solvers/lbfgsb/lbfgsb_compact.h"
#include "solvers/lbfgsb/lbfgsb_steps.h"

namespace optd {
namespace {

using lbfgsb::Ddot;
using lbfgsb::kBothSides;
using lbfgsb::kLowerOnly;
using lbfgsb::kUnbounded;
using lbfgsb::kUpperOnly;

// The local elements [lo, hi) of block b of a range.
struct BlockSpan {
  int64_t lo, hi;
};
BlockSpan Block(const ShardRange& range, int64_t b) {
  const int64_t lo = b * kReductionBlock;
  return {lo, std::min(range.size(), lo + kReductionBlock)};
}

// The part [first, last) of an ascending list that lies in [lo, hi).
std::pair<size_t, size_t> InBlock(const std::vector<int64_t>& list,
                                  BlockSpan span) {
  const auto first = std::lower_bound(list.begin(), list.end(), span.lo);
  const auto last = std::lower_bound(first, list.end(), span.hi);
  return {static_cast<size_t>(first - list.begin()),
          static_cast<size_t>(last - list.begin())};
}

}  // namespace

LbfgsbSlice::LbfgsbSlice(ShardRange range, int memory)
    : range_(range), memory_(memory) {
  const size_t n = static_cast<size_t>(range.size());
  for (std::vector<double>* v :
       {&x_, &g_, &x_trial_, &g_trial_, &d_, &z_, &xp_, &r_, &y_, &t_}) {
    v->assign(n, 0.0);
  }
  l_.assign(n, -std::numeric_limits<double>::infinity());
  u_.assign(n, std::numeric_limits<double>::infinity());
  nbd_.assign(n, kUnbounded);
  iwhere_.assign(n, -1);
  free_.assign(n, 1);
  ws_ = Eigen::MatrixXd::Zero(range.size(), memory);
  wy_ = Eigen::MatrixXd::Zero(range.size(), memory);
}

void LbfgsbSlice::SetBounds(const ConstVectorView& lower,
                            const ConstVectorView& upper) {
  lower.CopyTo(range_.begin, range_.size(), l_.data());
  upper.CopyTo(range_.begin, range_.size(), u_.data());
  for (size_t e = 0; e < nbd_.size(); ++e) {
    const bool lo = std::isfinite(l_[e]), up = std::isfinite(u_[e]);
    nbd_[e] =
        lo ? (up ? kBothSides : kLowerOnly) : (up ? kUpperOnly : kUnbounded);
  }
}

void LbfgsbSlice::SetTrialPoint(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), x_trial_.data());
}

void LbfgsbSlice::Activate(bool* projected, bool* constrained, bool* boxed) {
  *projected = false;
  *constrained = false;
  *boxed = true;
  const int64_t n = range_.size();
  for (int64_t e = 0; e < n; ++e) {
    const int nbd = nbd_[e];
    double& x = x_trial_[e];
    if (nbd == kUnbounded) continue;
    if (nbd <= kBothSides && x <= l_[e]) {
      if (x < l_[e]) {
        *projected = true;
        x = l_[e];
      }
    } else if (nbd >= kBothSides && x >= u_[e]) {
      if (x > u_[e]) {
        *projected = true;
        x = u_[e];
      }
    }
  }
  for (int64_t e = 0; e < n; ++e) {
    const int nbd = nbd_[e];
    if (nbd != kBothSides) *boxed = false;
    if (nbd == kUnbounded) {
      iwhere_[e] = -1;
    } else {
      *constrained = true;
      iwhere_[e] = nbd == kBothSides && u_[e] - l_[e] <= 0.0 ? 3 : 0;
    }
  }
  x_ = x_trial_;
  free_.assign(static_cast<size_t>(n), 1);  // freev's first free set: all
}

int64_t LbfgsbSlice::SetTrialGradient(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), g_trial_.data());
  for (int64_t e = 0; e < range_.size(); ++e) {
    if (!std::isfinite(g_trial_[e])) return range_.begin + e;
  }
  return -1;
}

void LbfgsbSlice::ReadTrialPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_trial_.data());
}

void LbfgsbSlice::ReadPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_.data());
}

void LbfgsbSlice::ReadGradient(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), g_.data());
}

void LbfgsbSlice::ReadPair(int j, const MutableVectorView& s_full,
                           const MutableVectorView& y_full) const {
  const int slot = Slot(j);
  s_full.CopyFrom(range_.begin, range_.size(), ws_.col(slot).data());
  y_full.CopyFrom(range_.begin, range_.size(), wy_.col(slot).data());
}

void LbfgsbSlice::AcceptInitial() { g_ = g_trial_; }

double LbfgsbSlice::ProjectedGradientNorm() const {
  double sbgnrm = 0.0;
  for (int64_t e = 0; e < range_.size(); ++e) {
    double gi = g_[e];
    const int nbd = nbd_[e];
    if (nbd != kUnbounded) {
      if (gi < 0.0) {
        if (nbd >= kBothSides) gi = std::max(x_[e] - u_[e], gi);
      } else {
        if (nbd <= kBothSides) gi = std::min(x_[e] - l_[e], gi);
      }
    }
    sbgnrm = std::max(sbgnrm, std::abs(gi));
  }
  return sbgnrm;
}

void LbfgsbSlice::SetCauchyPointToIterate() { z_ = x_; }

BlockPartials LbfgsbSlice::CauchyStart(CauchyCounts* counts) {
  const int col = col_;
  const CauchyStartLayout layout{col};
  BlockPartials out(range_.first_block(), range_.num_blocks(),
                    layout.quantities());
  *counts = CauchyCounts();
  sorted_.clear();
  heap_.clear();
  std::vector<double> p(static_cast<size_t>(2 * col));
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    double f1 = 0.0;
    std::fill(p.begin(), p.end(), 0.0);
    for (int64_t e = span.lo; e < span.hi; ++e) {
      const double neggi = -g_[e];
      const int nbd = nbd_[e];
      double tl = 0.0, tu = 0.0;
      int& iwhere = iwhere_[e];
      if (iwhere != 3 && iwhere != -1) {
        if (nbd <= kBothSides) tl = x_[e] - l_[e];
        if (nbd >= kBothSides) tu = u_[e] - x_[e];
        const bool xlower = nbd <= kBothSides && tl <= 0.0;
        const bool xupper = nbd >= kBothSides && tu <= 0.0;
        iwhere = 0;
        if (xlower) {
          if (neggi <= 0.0) iwhere = 1;
        } else if (xupper) {
          if (neggi >= 0.0) iwhere = 2;
        } else if (std::abs(neggi) <= 0.0) {
          iwhere = -3;
        }
      }
      if (iwhere != 0 && iwhere != -1) {
        d_[e] = 0.0;
        continue;
      }
      d_[e] = neggi;
      f1 -= neggi * neggi;
      ++counts->movable;
      for (int j = 0; j < col; ++j) {
        const int s = Slot(j);
        p[j] += wy_(e, s) * neggi;
        p[col + j] += ws_(e, s) * neggi;
      }
      if (nbd <= kBothSides && nbd != kUnbounded && neggi < 0.0) {
        t_[e] = tl / (-neggi);
        heap_.push_back(e);
      } else if (nbd >= kBothSides && neggi > 0.0) {
        t_[e] = tu / neggi;
        heap_.push_back(e);
      } else if (std::abs(neggi) > 0.0) {
        ++counts->unbounded_moving;
      }
    }
    out.at(b, layout.f1()) = f1;
    for (int j = 0; j < 2 * col; ++j) out.at(b, layout.p(j)) = p[j];
  }
  counts->breakpoints = static_cast<int64_t>(heap_.size());
  // A min-heap on (t, index): the comparator says "comes later".
  std::make_heap(heap_.begin(), heap_.end(), [this](int64_t a, int64_t b) {
    return BreakpointBefore(t_[b], b, t_[a], a);
  });
  return out;
}

void LbfgsbSlice::OrderBreakpoints(int64_t count) {
  auto later = [this](int64_t a, int64_t b) {
    return BreakpointBefore(t_[b], b, t_[a], a);
  };
  while (static_cast<int64_t>(sorted_.size()) < count && !heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    sorted_.push_back(heap_.back());
    heap_.pop_back();
  }
}

void LbfgsbSlice::Breakpoints(int64_t from, int count,
                              std::vector<BreakpointRecord>* out) {
  OrderBreakpoints(from + count);
  const int64_t end =
      std::min<int64_t>(from + count, static_cast<int64_t>(sorted_.size()));
  for (int64_t k = from; k < end; ++k) {
    const int64_t e = sorted_[k];
    BreakpointRecord record;
    record.t = t_[e];
    record.index = range_.begin + e;
    record.d = d_[e];
    record.x = x_[e];
    record.bound = d_[e] > 0.0 ? u_[e] : l_[e];
    record.w.resize(static_cast<size_t>(2 * col_));
    for (int j = 0; j < col_; ++j) {
      record.w[j] = wy_(e, Slot(j));
      record.w[col_ + j] = ws_(e, Slot(j));
    }
    out->push_back(std::move(record));
  }
}

void LbfgsbSlice::CauchyFinish(bool any_visited, double last_t,
                               int64_t last_index, double tsum, bool move) {
  z_ = x_;
  if (any_visited) {
    // The visited breakpoints are a prefix of the (t, index) order, and the
    // controller fetched all of them.
    for (const int64_t e : sorted_) {
      const int64_t index = range_.begin + e;
      if (BreakpointBefore(last_t, last_index, t_[e], index)) break;
      const double dibp = d_[e];
      d_[e] = 0.0;
      if (dibp > 0.0) {
        z_[e] = u_[e];
        iwhere_[e] = 2;
      } else {
        z_[e] = l_[e];
        iwhere_[e] = 1;
      }
    }
  }
  if (move) {
    for (int64_t e = 0; e < range_.size(); ++e) z_[e] += tsum * d_[e];
  }
}

FreeCounts LbfgsbSlice::FreeVariables(bool track_changes) {
  FreeCounts counts;
  entering_.clear();
  leaving_.clear();
  for (int64_t e = 0; e < range_.size(); ++e) {
    const bool now = iwhere_[e] <= 0;
    if (track_changes) {
      if (free_[e] && !now) leaving_.push_back(e);
      if (!free_[e] && now) entering_.push_back(e);
    }
    free_[e] = now;
    counts.free += now;
  }
  counts.entering = static_cast<int64_t>(entering_.size());
  counts.leaving = static_cast<int64_t>(leaving_.size());
  return counts;
}

BlockPartials LbfgsbSlice::FormkSums(bool updated) const {
  const FormkLayout layout{col_, updated};
  const int col = col_, upcl = layout.upcl();
  BlockPartials out(range_.first_block(), range_.num_blocks(),
                    layout.quantities());
  // freev lists the free variables in ascending order, the active ones and
  // the leaving and entering ones in descending order (lbfgsb.f's index and
  // indx2); each sum follows its list.
  std::vector<double> yy(col), ss(col), sy(col), sy_new(col);
  std::vector<int> slots(col);
  for (int j = 0; j < col; ++j) slots[j] = Slot(j);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    if (updated) {
      // One pass up the free variables and one down the active ones, each
      // sum still taking its terms in its list's order.
      const int nw = Slot(col - 1);
      std::fill(yy.begin(), yy.end(), 0.0);
      std::fill(ss.begin(), ss.end(), 0.0);
      std::fill(sy.begin(), sy.end(), 0.0);
      std::fill(sy_new.begin(), sy_new.end(), 0.0);
      for (int64_t e = span.lo; e < span.hi; ++e) {
        if (!free_[e]) continue;
        const double ynw = wy_(e, nw);
        for (int j = 0; j < col; ++j) {
          const int jp = slots[j];
          yy[j] += ynw * wy_(e, jp);
          sy_new[j] += ws_(e, jp) * ynw;
        }
      }
      for (int64_t e = span.hi - 1; e >= span.lo; --e) {
        if (free_[e]) continue;
        const double snw = ws_(e, nw);
        for (int j = 0; j < col; ++j) {
          const int jp = slots[j];
          ss[j] += snw * ws_(e, jp);
          sy[j] += snw * wy_(e, jp);
        }
      }
      for (int j = 0; j < col; ++j) {
        out.at(b, layout.new_yy(j)) = yy[j];
        out.at(b, layout.new_ss(j)) = ss[j];
        out.at(b, layout.new_sy(j)) = sy[j];
        out.at(b, layout.sy_new(j)) = sy_new[j];
      }
    }
    const auto [enter_first, enter_last] = InBlock(entering_, span);
    const auto [leave_first, leave_last] = InBlock(leaving_, span);
    // a(:, sa)'b(:, sb) over list[first, last) backwards.
    auto dot_desc =
        [](const Eigen::MatrixXd& a, int sa, const Eigen::MatrixXd& c, int sb,
           const std::vector<int64_t>& list, size_t first, size_t last) {
          double sum = 0.0;
          for (size_t k = last; k > first; --k) {
            const int64_t e = list[k - 1];
            sum += a(e, sa) * c(e, sb);
          }
          return sum;
        };
    for (int iy = 0; iy < upcl; ++iy) {
      const int ip = Slot(iy);
      for (int jy = 0; jy <= iy; ++jy) {
        const int jp = Slot(jy);
        out.at(b, layout.tri_at(iy, jy, 0)) =
            dot_desc(wy_, ip, wy_, jp, entering_, enter_first, enter_last);
        out.at(b, layout.tri_at(iy, jy, 1)) =
            dot_desc(ws_, ip, ws_, jp, entering_, enter_first, enter_last);
        out.at(b, layout.tri_at(iy, jy, 2)) =
            dot_desc(wy_, ip, wy_, jp, leaving_, leave_first, leave_last);
        out.at(b, layout.tri_at(iy, jy, 3)) =
            dot_desc(ws_, ip, ws_, jp, leaving_, leave_first, leave_last);
      }
    }
    for (int i = 0; i < upcl; ++i) {
      const int ip = Slot(i);
      for (int jy = 0; jy < upcl; ++jy) {
        const int jp = Slot(jy);
        out.at(b, layout.sq_at(i, jy, 0)) =
            dot_desc(ws_, ip, wy_, jp, entering_, enter_first, enter_last);
        out.at(b, layout.sq_at(i, jy, 1)) =
            dot_desc(ws_, ip, wy_, jp, leaving_, leave_first, leave_last);
      }
    }
  }
  return out;
}

void LbfgsbSlice::ReducedGradient(bool negative_gradient, double theta,
                                  absl::Span<const double> wa) {
  const int64_t n = range_.size();
  if (negative_gradient) {
    for (int64_t e = 0; e < n; ++e) r_[e] = -g_[e];
    return;
  }
  for (int64_t e = 0; e < n; ++e) {
    if (free_[e]) r_[e] = -theta * (z_[e] - x_[e]) - g_[e];
  }
  for (int j = 0; j < col_; ++j) {
    const int s = Slot(j);
    const double a1 = wa[j];
    const double a2 = theta * wa[col_ + j];
    for (int64_t e = 0; e < n; ++e) {
      if (free_[e]) r_[e] = r_[e] + wy_(e, s) * a1 + ws_(e, s) * a2;
    }
  }
}

BlockPartials LbfgsbSlice::SubspaceProducts() const {
  const int col = col_;
  BlockPartials out(range_.first_block(), range_.num_blocks(), 2 * col);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    for (int i = 0; i < col; ++i) {
      const int s = Slot(i);
      double temp1 = 0.0, temp2 = 0.0;
      for (int64_t e = span.lo; e < span.hi; ++e) {
        if (!free_[e]) continue;
        temp1 += wy_(e, s) * r_[e];
        temp2 += ws_(e, s) * r_[e];
      }
      out.at(b, i) = temp1;
      out.at(b, col + i) = temp2;
    }
  }
  return out;
}

SubspaceStepPartials LbfgsbSlice::SubspaceStep(double theta,
                                               absl::Span<const double> wv) {
  const int col = col_;
  const int64_t n = range_.size();
  for (int jy = 0; jy < col; ++jy) {
    const int s = Slot(jy), js = col + jy;
    for (int64_t e = 0; e < n; ++e) {
      if (!free_[e]) continue;
      r_[e] = r_[e] + wy_(e, s) * wv[jy] / theta + ws_(e, s) * wv[js];
    }
  }
  const double inv_theta = 1.0 / theta;
  for (int64_t e = 0; e < n; ++e) {
    if (free_[e]) r_[e] = inv_theta * r_[e];
  }
  // L-BFGS-B 3.0 (Morales & Nocedal 2011): project the Newton point into
  // the box.
  SubspaceStepPartials out;
  xp_ = z_;
  for (int64_t e = 0; e < n; ++e) {
    if (!free_[e]) continue;
    const double dk = r_[e];
    double xk = z_[e];
    switch (nbd_[e]) {
      case kLowerOnly:
        z_[e] = std::max(l_[e], xk + dk);
        if (z_[e] == l_[e]) out.projected = true;
        break;
      case kBothSides:
        xk = std::max(l_[e], xk + dk);
        z_[e] = std::min(u_[e], xk);
        if (z_[e] == l_[e] || z_[e] == u_[e]) out.projected = true;
        break;
      case kUpperOnly:
        z_[e] = std::min(u_[e], xk + dk);
        if (z_[e] == u_[e]) out.projected = true;
        break;
      default:
        z_[e] = xk + dk;
    }
  }
  out.dd_p = BlockPartials(range_.first_block(), range_.num_blocks(), 1);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    double dd_p = 0.0;
    for (int64_t e = span.lo; e < span.hi; ++e) {
      dd_p += (z_[e] - x_[e]) * g_[e];
    }
    out.dd_p.at(b, 0) = dd_p;
  }
  // The backtracking step from xp along r: the least step to a bound. The
  // Fortran's running test (dk * alpha < temp2) is taken as a plain minimum
  // with the first index winning ties, which is the same in exact arithmetic
  // and the same for every way of cutting the variables into slices.
  for (int64_t e = 0; e < n; ++e) {
    if (!free_[e]) continue;
    const double dk = r_[e];
    const int nbd = nbd_[e];
    if (nbd == kUnbounded) continue;
    double step = 1.0;
    if (dk < 0.0 && nbd <= kBothSides) {
      const double temp2 = l_[e] - xp_[e];
      step = temp2 >= 0.0 ? 0.0 : temp2 / dk;
    } else if (dk > 0.0 && nbd >= kBothSides) {
      const double temp2 = u_[e] - xp_[e];
      step = temp2 <= 0.0 ? 0.0 : temp2 / dk;
    }
    if (step < out.alpha) {
      out.alpha = step;
      out.alpha_index = range_.begin + e;
    }
  }
  return out;
}

void LbfgsbSlice::SubspaceBacktrack(double alpha, int64_t alpha_index) {
  z_ = xp_;
  if (alpha < 1.0 && alpha_index >= range_.begin && alpha_index < range_.end) {
    const int64_t e = alpha_index - range_.begin;
    const double dk = r_[e];
    if (dk > 0.0) {
      z_[e] = u_[e];
      r_[e] = 0.0;
    } else if (dk < 0.0) {
      z_[e] = l_[e];
      r_[e] = 0.0;
    }
  }
  for (int64_t e = 0; e < range_.size(); ++e) {
    if (free_[e]) z_[e] = z_[e] + alpha * r_[e];
  }
}

SearchDirectionPartials LbfgsbSlice::FormSearchDirection() {
  const int64_t n = range_.size();
  for (int64_t e = 0; e < n; ++e) d_[e] = z_[e] - x_[e];
  SearchDirectionPartials out;
  out.dots = BlockPartials(range_.first_block(), range_.num_blocks(), 2);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    const int len = static_cast<int>(span.hi - span.lo);
    out.dots.at(b, 0) = Ddot(len, d_.data() + span.lo, d_.data() + span.lo);
    out.dots.at(b, 1) = Ddot(len, g_.data() + span.lo, d_.data() + span.lo);
  }
  // lnsrlb's largest feasible step, as a minimum over the variables (the
  // Fortran's running test, like subsm's, is the same in exact arithmetic).
  out.step_bound = std::numeric_limits<double>::infinity();
  for (int64_t e = 0; e < n; ++e) {
    const double a1 = d_[e];
    const int nbd = nbd_[e];
    if (nbd == kUnbounded) continue;
    if (a1 < 0.0 && nbd <= kBothSides) {
      const double a2 = l_[e] - x_[e];
      out.step_bound = std::min(out.step_bound, a2 >= 0.0 ? 0.0 : a2 / a1);
    } else if (a1 > 0.0 && nbd >= kBothSides) {
      const double a2 = u_[e] - x_[e];
      out.step_bound = std::min(out.step_bound, a2 <= 0.0 ? 0.0 : a2 / a1);
    }
  }
  return out;
}

bool LbfgsbSlice::FormTrial(double stp, bool clip) {
  const int64_t n = range_.size();
  if (stp == 1.0) {
    x_trial_ = z_;
  } else {
    for (int64_t e = 0; e < n; ++e) x_trial_[e] = stp * d_[e] + x_[e];
  }
  for (int64_t e = 0; e < n; ++e) {
    if (!std::isfinite(x_trial_[e])) return false;
  }
  if (!clip) return true;
  for (int64_t e = 0; e < n; ++e) {
    const int nbd = nbd_[e];
    if ((nbd == kLowerOnly || nbd == kBothSides) && x_trial_[e] < l_[e]) {
      x_trial_[e] = l_[e];
    } else if ((nbd == kUpperOnly || nbd == kBothSides) &&
               x_trial_[e] > u_[e]) {
      x_trial_[e] = u_[e];
    }
  }
  return true;
}

BlockPartials LbfgsbSlice::TrialSlope() const {
  BlockPartials out(range_.first_block(), range_.num_blocks(), 1);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    out.at(b, 0) = Ddot(static_cast<int>(span.hi - span.lo),
                        g_trial_.data() + span.lo, d_.data() + span.lo);
  }
  return out;
}

double LbfgsbSlice::AcceptTrial() {
  for (int64_t e = 0; e < range_.size(); ++e) y_[e] = g_trial_[e] - g_[e];
  x_ = x_trial_;
  g_ = g_trial_;
  return ProjectedGradientNorm();
}

BlockPartials LbfgsbSlice::PushPair(double stp) {
  const int64_t n = range_.size();
  if (stp != 1.0) {
    for (int64_t e = 0; e < n; ++e) d_[e] *= stp;
  }
  ++iupdat_;
  if (iupdat_ <= memory_) {
    col_ = iupdat_;
    itail_ = (head_ + iupdat_ - 1) % memory_;
  } else {
    itail_ = (itail_ + 1) % memory_;
    head_ = (head_ + 1) % memory_;
  }
  for (int64_t e = 0; e < n; ++e) {
    ws_(e, itail_) = d_[e];
    wy_(e, itail_) = y_[e];
  }
  const int last = col_ - 1;
  BlockPartials out(range_.first_block(), range_.num_blocks(), 1 + 2 * last);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const BlockSpan span = Block(range_, b);
    const int len = static_cast<int>(span.hi - span.lo);
    const double* d = d_.data() + span.lo;
    out.at(b, 0) = Ddot(len, y_.data() + span.lo, y_.data() + span.lo);
    for (int j = 0; j < last; ++j) {
      const int p = Slot(j);
      out.at(b, 1 + j) = Ddot(len, d, &wy_(span.lo, p));
      out.at(b, 1 + last + j) = Ddot(len, &ws_(span.lo, p), d);
    }
  }
  return out;
}

void LbfgsbSlice::ClearMemory() {
  col_ = 0;
  head_ = 0;
  iupdat_ = 0;
}

}  // namespace optd
