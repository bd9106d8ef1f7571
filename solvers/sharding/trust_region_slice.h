// The trust-region state vectors of one contiguous range of a session's
// dimension (one shard's slice, DESIGN §3), and the vector operations the
// trust-region controller (trust_region.h) issues to it. The controller never
// touches a vector: it sends coefficients and step lengths, and receives
// per-block partial sums that it adds in global block order
// (block_reduction.h), so every variant's iterates are bitwise identical for
// any number of slices.
//
// Named vectors, all of length range.size():
//   x, g        the iterate and its gradient
//   x_trial     the outstanding trial's point; g_trial its told gradient
//   p           the step of the current iteration, x_trial = x + p
//   s_i, y_i    quasi-Newton: the k <= m newest curvature pairs, oldest first
//   z, r, d, hd Steihaug CG: the iterate z, the residual r = g + B z, the
//               direction d and the told product H d (Nocedal & Wright,
//               Numerical Optimization, Algorithm 7.2)
//
//   TrustRegionSlice slice(range, /*memory=*/10, /*cg_vectors=*/false);
//   slice.SetTrialPoint(x0_view);
//   BlockPartials dots = slice.ReduceTrial(/*with_pair=*/false);
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_SHARDING_TRUST_REGION_SLICE_H_
#define OPTD_SOLVERS_SHARDING_TRUST_REGION_SLICE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "solvers/core/bounds.h"
#include "solvers/core/vector_view.h"
#include "solvers/sharding/basis.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {

// Quantities of TrustRegionSlice::ReduceTrial, in this order (k = pairs held;
// s = p, y = g_trial - g is the trial's candidate pair):
//   [0] g_t.g_t  [1] x_t.x_t
// and with_pair:
//   [2..8]  s.s, s.y, y.y, s.g_t, y.g_t, s.g, y.g
//   then k each of g_t.s_i, g_t.y_i, s.s_i, s.y_i, y.s_i, y.y_i
// max_abs is max_i |g_trial_i|.
struct TrialDots {
  int pairs = 0;
  bool with_pair = false;
  int quantities() const { return with_pair ? 9 + 6 * pairs : 2; }
  int gg() const { return 0; }
  int xx() const { return 1; }
  int ss() const { return 2; }
  int sy() const { return 3; }
  int yy() const { return 4; }
  int s_gt() const { return 5; }
  int y_gt() const { return 6; }
  int s_g() const { return 7; }
  int y_g() const { return 8; }
  int gt_s(int i) const { return 9 + i; }
  int gt_y(int i) const { return 9 + pairs + i; }
  int s_s(int i) const { return 9 + 2 * pairs + i; }
  int s_y(int i) const { return 9 + 3 * pairs + i; }
  int y_s(int i) const { return 9 + 4 * pairs + i; }
  int y_y(int i) const { return 9 + 5 * pairs + i; }
};

// Quantities of TrustRegionSlice::ReduceFreeGram, over the free variables
// only (Z the diagonal 0/1 projector onto them; see ReduceBox), for k
// pairs: the upper triangles (i <= j) of Zs_i.Zs_j and Zy_i.Zy_j, all of
// Zs_i.Zy_j, then Zs_i.Zg, Zy_i.Zg and Zg.Zg.
struct FreeGramDots {
  int pairs = 0;
  int triangle() const { return pairs * (pairs + 1) / 2; }
  int quantities() const {
    return 2 * triangle() + pairs * pairs + 2 * pairs + 1;
  }
  // REQUIRES: i <= j.
  int ss(int i, int j) const { return i * pairs - i * (i - 1) / 2 + (j - i); }
  int yy(int i, int j) const { return triangle() + ss(i, j); }
  int sy(int i, int j) const { return 2 * triangle() + i * pairs + j; }
  int sg(int i) const { return 2 * triangle() + pairs * pairs + i; }
  int yg(int i) const { return sg(pairs + i); }
  int gg() const { return quantities() - 1; }
};

// Quantities of TrustRegionSlice::FormProjectedStep, for k pairs: p.p, p.g,
// the number of components the box clipped, then p.s_i and p.y_i.
struct ProjectedStepDots {
  int pairs = 0;
  int quantities() const { return 3 + 2 * pairs; }
  int pp() const { return 0; }
  int pg() const { return 1; }
  int clipped() const { return 2; }
  int ps(int i) const { return 3 + i; }
  int py(int i) const { return 3 + pairs + i; }
};

// Quantities of TrustRegionSlice::ReduceCurvature: d.hd, d.d, z.d, z.z, r.d.
enum CurvatureDot { kDHd = 0, kDD, kZD, kZZ, kRD, kCurvatureDots };

class TrustRegionSlice {
 public:
  // A slice for `range` holding at most `memory` curvature pairs (0: none),
  // and the CG vectors when `cg_vectors`.
  TrustRegionSlice(ShardRange range, int memory, bool cg_vectors);

  const ShardRange& range() const { return range_; }
  int memory() const { return memory_; }
  int pairs() const { return static_cast<int>(s_.size()); }
  // Whether it holds the CG vectors z, r, d and hd, which SetProduct,
  // ReadDirection and the CG and difference operations below need.
  bool cg_vectors() const { return cg_vectors_; }

  // Box bounds (trust_region.h, "Box bounds"): this slice's range of `box`.
  // From then on SetTrialPoint projects onto the box. Without it the slice
  // is unbounded and the box operations below must not be called.
  void SetBounds(const Bounds& box);
  // The same from this range's lower and upper bounds (range().size() each:
  // what a replica receives, SLICE_OP_SET_BOUNDS).
  void SetBounds(const double* lower, const double* upper);
  // Set by SetBounds, also for an empty range (a slice past n: its box is
  // empty, and its box reductions are the identity).
  bool bounded() const { return bounded_; }

  // Transport: copies between this slice's part of a whole vector and its
  // state. The setters return the global index of the first non-finite
  // element of the range, or -1.
  void SetTrialPoint(const ConstVectorView& full);
  int64_t SetTrialGradient(const ConstVectorView& full);
  int64_t SetProduct(const ConstVectorView& full);  // hd <- H d
  void ReadTrialPoint(const MutableVectorView& full) const;
  void ReadPoint(const MutableVectorView& full) const;
  void ReadGradient(const MutableVectorView& full) const;
  void ReadDirection(const MutableVectorView& full) const;  // d

  // Steps. Each sets p and x_trial <- x + p.
  // p <- this slice's part of `full` (a step computed by the home).
  void SetStep(const ConstVectorView& full);
  // p <- c_{2k} g + sum_i c_i s_i + sum_i c_{k+i} y_i. REQUIRES:
  // coefficients.size() == 2 * pairs() + 1.
  void FormStep(absl::Span<const double> coefficients);
  // p <- z + tau d.
  void FormCgStep(double tau);

  // Box operations (REQUIRE bounded()). A variable is active at the iterate
  // when it sits on a bound its gradient pushes against: x_i = l_i and
  // g_i > 0, or x_i = u_i and g_i < 0 (Bertsekas, "Projected Newton methods
  // for optimization problems with simple constraints", SIAM J. Control
  // Optim. 20 (1982) 221-246, eq. 10 with epsilon = 0); the others are free.
  //
  // Partial sums of the number of free variables; max_abs is the projected
  // gradient's max-norm max_i |P(x - g)_i - x_i| (L-BFGS-B's `projgr`, Byrd,
  // Lu, Nocedal & Zhu, SIAM J. Sci. Comput. 16 (1995) 1190-1208, §6).
  BlockPartials ReduceBox() const;
  // Partial sums of FreeGramDots.
  BlockPartials ReduceFreeGram() const;
  // p <- Z (c_{2k} g + sum_i c_i s_i + sum_i c_{k+i} y_i) (active components
  // zero), x_trial <- P(x + p), then p <- x_trial - x. Partial sums of
  // ProjectedStepDots.
  BlockPartials FormProjectedStep(absl::Span<const double> coefficients);

  // Partial sums of TrialDots (with_pair only with pairs kept).
  BlockPartials ReduceTrial(bool with_pair) const;
  // Ends a trial: with `push_pair` the pair (p, g_trial - g) is appended,
  // dropping the oldest when full; with `accept`, x <- x_trial, g <- g_trial.
  void Advance(bool push_pair, bool accept);

  // Steihaug CG. z <- 0, r <- g, d <- -g.
  void CgStart();
  // x_trial <- x + h d, for a forward difference of gradients.
  void FormDifferencePoint(double h);
  // hd <- (g_trial - g) / h.
  void DifferenceProduct(double h);
  // Partial sums of CurvatureDot.
  BlockPartials ReduceCurvature() const;
  // z <- z + alpha d, r <- r + alpha hd; returns the partial sums of r.r.
  BlockPartials CgAdvance(double alpha);
  // d <- -r + beta d; returns the partial sums of d.d.
  BlockPartials CgDirection(double beta);

  // TrustRegionSlice::SaveState(), TrustRegionSlice::RestoreState()
  //
  // The slice's whole state (slice_state.h): the header (pairs k,
  // cg_vectors, bounded), then this range of x, g, x_trial, g_trial, p,
  // [z, r, d, hd], s_0..s_{k-1}, y_0..y_{k-1} as little-endian doubles. The
  // box is not saved (it comes from the session's options). SaveState
  // appends StateBytes() bytes to *out. RestoreState: INVALID_ARGUMENT naming
  // what does not fit (tag, pairs above the memory, CG vectors or bounds
  // other than this slice's, size for this range), and the slice unchanged;
  // a restored slice answers every later operation bitwise as the saved one.
  int64_t StateBytes() const;
  void SaveState(std::string* out) const;
  absl::Status RestoreState(std::string_view in);

  // The vectors of the state, in the order above: [0, state_vectors()).
  int state_vectors() const { return 5 + (cg_vectors_ ? 4 : 0) + 2 * pairs(); }
  const std::vector<double>& state_vector(int which) const;
  // INVALID_ARGUMENT unless a state with `header` fits this slice (memory,
  // CG vectors, bounds).
  absl::Status CheckHeader(int pairs, bool cg_vectors, bool bounded) const;
  // Sets the state from `vectors`, the bytes after a header of `pairs`
  // pairs, where this range's part of vector v starts at element
  // v * stride + first (stride = range().size(), first = 0 for a slice
  // state; stride = dimension, first = range().begin for a portable one).
  // REQUIRES: CheckHeader passed, and `vectors` holds every such part.
  void LoadState(int pairs, std::string_view vectors, int64_t stride,
                 int64_t first);

 private:
  std::vector<double>& mutable_state_vector(int which);
  // Partial sums of a.b per block.
  BlockPartials Dot(const std::vector<double>& a,
                    const std::vector<double>& b) const;
  void StepToTrial();  // x_trial <- x + p
  bool Active(size_t e) const {
    return (x_[e] <= lower_[e] && g_[e] > 0) ||
           (x_[e] >= upper_[e] && g_[e] < 0);
  }

  ShardRange range_;
  int memory_;
  bool cg_vectors_;
  std::vector<double> x_, g_, x_trial_, g_trial_, p_;
  std::vector<double> z_, r_, d_, hd_;
  CurvatureRing s_, y_;
  std::vector<double> lower_, upper_;  // the box; empty when unbounded
  bool bounded_ = false;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_TRUST_REGION_SLICE_H_
