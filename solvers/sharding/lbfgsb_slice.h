// The L-BFGS-B state vectors of one contiguous range of a session's dimension
// (one shard's slice, DESIGN §3), and the vector operations the L-BFGS-B
// controller (solvers/lbfgsb/lbfgsb.h) issues to it. The controller keeps the
// small matrices of the compact form (S'Y, S'S, the K factors; O(m^2)) and
// the Cauchy search's scalars; every length-n vector lives here.
//
// Named vectors, all of length range.size() (0-based local element e is
// global index range.begin + e):
//   x, g          the iterate and its gradient
//   x_trial       the point of the outstanding trial; g_trial its gradient
//   l, u, nbd     the box (lbfgsb.f's nbd: BoundKind of lbfgsb_steps.h)
//   iwhere        lbfgsb.f's iwhere codes (ActiveFlags in lbfgsb_steps.h)
//   d             the Cauchy direction, then the search direction z - x
//   z             the Cauchy point xcp, then the subspace minimizer
//   xp            z before the 3.0 projection (subsm's xp)
//   r             the reduced gradient, then the subspace Newton direction
//                 (indexed by element, not by free position as in lbfgsb.f)
//   y             g_trial - g of the last accepted step
//   ws, wy        S and Y, range.size() x m ring buffers (slot j of the
//                 ring is column (head + j) % m, as LbfgsbMemory's)
//
// Reductions are BlockPartials in global block order (block_reduction.h).
// Inside a block each sum runs over the block's elements in the order the
// Fortran's loop visits them (ascending, or descending for the sets that
// freev lists backwards) and inner products use lbfgsb.f's ddot order
// (lbfgsb::Ddot), so a session of at most kReductionBlock variables does
// the Fortran's arithmetic, and any session gives the same bits for every K.
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_SHARDING_LBFGSB_SLICE_H_
#define OPTD_SOLVERS_SHARDING_LBFGSB_SLICE_H_

#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "absl/types/span.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// A breakpoint of the projected steepest descent path x(t) = P(x - t g)
// (Byrd et al. 1995, §4): where variable `index` reaches `bound`. The merge
// of every slice's breakpoints in (t, index) order is the order in which the
// Cauchy search visits them. w is the variable's row of W = [Y, S] (unscaled
// S; the controller multiplies by theta), oldest pair first.
struct BreakpointRecord {
  double t = 0.0;
  int64_t index = 0;
  double d = 0.0;      // the Cauchy direction -g at the variable
  double x = 0.0;      // the iterate at the variable
  double bound = 0.0;  // u if d > 0, else l
  std::vector<double> w;
};
// Whether breakpoint (t, index) comes before (other_t, other_index).
inline bool BreakpointBefore(double t, int64_t index, double other_t,
                             int64_t other_index) {
  return t < other_t || (t == other_t && index < other_index);
}

// Quantities of LbfgsbSlice::CauchyStart, for `pairs` pairs held:
//   [0]              f1 = -d'd over the movable variables
//   [1, 1+2k)        p = W'd, Y part then S part (unscaled)
struct CauchyStartLayout {
  int pairs = 0;
  int quantities() const { return 1 + 2 * pairs; }
  int f1() const { return 0; }
  int p(int j) const { return 1 + j; }
};
// The variable counts of CauchyStart (exact integers; add them in any order).
struct CauchyCounts {
  int64_t breakpoints = 0;       // variables with a breakpoint (nbreak)
  int64_t movable = 0;           // variables free to move (iwhere 0 or -1)
  int64_t unbounded_moving = 0;  // movable, no breakpoint, d != 0 (!bnded)
};

// Quantities of LbfgsbSlice::FormkSums (formk's inner products), for `pairs`
// pairs held (k), `updated` (the newest pair is new since the last formk),
// and upcl = k - updated old pairs to correct:
//   when updated, k each of (nw the newest pair's slot):
//     y_nw . y_j over the free variables, s_nw . s_j over the active ones,
//     s_nw . y_j over the active ones, s_i . y_nw over the free ones
//   then for the lower triangle iy >= jy of upcl x upcl (row by row):
//     y_iy . y_jy and s_iy . s_jy over the entering variables, then the same
//     two over the leaving ones
//   then for every (i, jy) of upcl x upcl (row by row):
//     s_i . y_jy over the entering, then over the leaving variables
struct FormkLayout {
  int pairs = 0;
  bool updated = false;
  int upcl() const { return updated ? pairs - 1 : pairs; }
  int new_block() const { return updated ? 4 * pairs : 0; }
  int tri() const { return upcl() * (upcl() + 1) / 2; }
  int quantities() const {
    return new_block() + 4 * tri() + 2 * upcl() * upcl();
  }
  int new_yy(int j) const { return j; }
  int new_ss(int j) const { return pairs + j; }
  int new_sy(int j) const { return 2 * pairs + j; }
  int sy_new(int i) const { return 3 * pairs + i; }
  // The (iy, jy) entry of the triangle, jy <= iy; which: 0 yy entering,
  // 1 ss entering, 2 yy leaving, 3 ss leaving.
  int tri_at(int iy, int jy, int which) const {
    return new_block() + 4 * (iy * (iy + 1) / 2 + jy) + which;
  }
  // s_i . y_jy; which: 0 entering, 1 leaving.
  int sq_at(int i, int jy, int which) const {
    return new_block() + 4 * tri() + 2 * (i * upcl() + jy) + which;
  }
};

// The free set's counts after LbfgsbSlice::FreeVariables.
struct FreeCounts {
  int64_t free = 0;
  int64_t entering = 0;
  int64_t leaving = 0;
};

// LbfgsbSlice::SubspaceStep's results: dd_p = (z - x)'g (one quantity),
// whether the projection moved a variable onto a bound (iword), and the
// slice's backtracking step: the least alpha in (0, 1] that keeps xp + alpha
// r in the box, and the global index of its first variable (-1 for none).
struct SubspaceStepPartials {
  BlockPartials dd_p;
  bool projected = false;
  double alpha = 1.0;
  int64_t alpha_index = -1;
};

// LbfgsbSlice::FormSearchDirection's results: [d'd, g'd], and the largest
// step that keeps x + stp d in the box (+inf when no bound limits it).
struct SearchDirectionPartials {
  BlockPartials dots;
  double step_bound = 0.0;
};

class LbfgsbSlice {
 public:
  // A slice for `range` holding at most `memory` pairs, unbounded.
  LbfgsbSlice(ShardRange range, int memory);

  const ShardRange& range() const { return range_; }
  int memory() const { return memory_; }
  int pairs() const { return col_; }

  // l, u <- this slice's part of `lower`, `upper` (whole vectors; -inf / +inf
  // for a missing side). REQUIRES: lower_i <= upper_i, no NaN.
  void SetBounds(const ConstVectorView& lower, const ConstVectorView& upper);
  void SetTrialPoint(const ConstVectorView& full);
  // lbfgsb.f's active: projects x_trial into the box, sets x = x_trial and
  // the initial iwhere. Returns the slice's flags (projected and constrained
  // combine by OR, boxed by AND).
  void Activate(bool* projected, bool* constrained, bool* boxed);
  // g_trial <- this slice's part of `full`; the global index of the first
  // non-finite element, or -1.
  int64_t SetTrialGradient(const ConstVectorView& full);
  void ReadTrialPoint(const MutableVectorView& full) const;
  void ReadPoint(const MutableVectorView& full) const;
  void ReadGradient(const MutableVectorView& full) const;
  // Pair j (oldest first) of S and Y into this slice's part of s and y.
  void ReadPair(int j, const MutableVectorView& s_full,
                const MutableVectorView& y_full) const;

  // g <- g_trial (the first evaluation, at x).
  void AcceptInitial();
  // projgr: max |P(x - g) - x| over the slice (exact in any order).
  double ProjectedGradientNorm() const;

  // z <- x (the Cauchy point when the projected gradient is 0, or when
  // nothing bounds the problem).
  void SetCauchyPointToIterate();
  // cauchy's first loop: classifies the variables (iwhere), forms the Cauchy
  // direction d, f1 and p = W'd (CauchyStartLayout), and collects the
  // breakpoints, ordered by (t, index) on demand.
  BlockPartials CauchyStart(CauchyCounts* counts);
  // Appends breakpoints [from, from + count) of the (t, index) order (fewer
  // at the end). REQUIRES: CauchyStart since the last change of x or g.
  void Breakpoints(int64_t from, int count, std::vector<BreakpointRecord>* out);
  // cauchy's end: z = xcp. The breakpoints up to (last_t, last_index)
  // (none when !any_visited) are fixed at their bounds (iwhere 1 or 2, d
  // 0); with `move` the others move to x + tsum d.
  void CauchyFinish(bool any_visited, double last_t, int64_t last_index,
                    double tsum, bool move);

  // freev: the free set {iwhere <= 0}; with `track_changes` (iter > 0 and
  // constrained) also the variables that entered and left it.
  FreeCounts FreeVariables(bool track_changes);
  // formk's sums (FormkLayout).
  BlockPartials FormkSums(bool updated) const;

  // cmprlb: r = -theta (z - x) - g + W wa' on the free variables (wa of
  // length 2k from bmv; the S part scaled by theta here); with
  // `negative_gradient` (no bounds) r = -g everywhere.
  void ReducedGradient(bool negative_gradient, double theta,
                       absl::Span<const double> wa);
  // subsm's W'Z r: [y_i . r over the free set (k), s_i . r (k, unscaled)].
  BlockPartials SubspaceProducts() const;
  // subsm's Newton direction r = (r + Z'W [wv_Y / theta; wv_S]) / theta on
  // the free set (wv of length 2k, from the K solves), then xp = z and the
  // projection z = P(z + r) of the 3.0 step.
  SubspaceStepPartials SubspaceStep(double theta, absl::Span<const double> wv);
  // subsm's backtrack: z = xp + alpha r on the free set, the variable
  // alpha_index (if here and alpha < 1) put on its bound.
  void SubspaceBacktrack(double alpha, int64_t alpha_index);

  // d = z - x; lnsrlb's d'd, g'd and step bound.
  SearchDirectionPartials FormSearchDirection();
  // x_trial = z (stp == 1) or stp d + x, then clipped into the box when
  // `clip`. False when an element was not finite before clipping.
  bool FormTrial(double stp, bool clip);
  // [g_trial . d].
  BlockPartials TrialSlope() const;
  // y = g_trial - g, x = x_trial, g = g_trial; returns projgr at the new x.
  double AcceptTrial();
  // matupd's vector part: s = stp d (d scaled in place unless stp == 1) and
  // y become the newest pair; returns [y'y, then s'y_j for j < k - 1, then
  // s_j's for j < k - 1] with k the pairs now held (oldest first).
  BlockPartials PushPair(double stp);
  void ClearMemory();

 private:
  int Slot(int j) const { return (head_ + j) % memory_; }
  void OrderBreakpoints(int64_t count);

  ShardRange range_;
  int memory_;
  std::vector<double> x_, g_, x_trial_, g_trial_, l_, u_, d_, z_, xp_, r_, y_;
  std::vector<double> t_;  // breakpoint of each element (when it has one)
  std::vector<int> nbd_, iwhere_;
  std::vector<char> free_;  // iwhere <= 0 at the last FreeVariables
  std::vector<int64_t> entering_, leaving_;  // local, ascending
  // Breakpoints (local elements): sorted_ in (t, index) order, then the rest
  // as a heap (std::push_heap order, least on top).
  std::vector<int64_t> sorted_, heap_;
  Eigen::MatrixXd ws_, wy_;
  int col_ = 0, head_ = 0, itail_ = 0, iupdat_ = 0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_LBFGSB_SLICE_H_
