// The L-BFGS state vectors of one contiguous range of a session's dimension
// (one shard's slice, DESIGN §3), and the vector operations the L-BFGS
// controller (lbfgs.h) issues to it. The controller never touches a vector: it
// sends coefficients and step lengths, and receives partial dot products.
//
// Named vectors, all of length range.size():
//   x, g      the last accepted iterate and its gradient
//   x_trial   the point of the outstanding trial; g_trial its told gradient
//   d         the search direction, d = sum_j delta_j b_j over the basis
//             b = [s_0..s_{k-1}, y_0..y_{k-1}, g] (vector-free L-BFGS,
//             Chen, Wang & Zhou, NeurIPS 2014)
//   s_i, y_i  the k <= m most recent curvature pairs, oldest first
//
// Thread-safety: not thread-safe; the owning session serializes access.
#ifndef OPTD_SOLVERS_SHARDING_LBFGS_SLICE_H_
#define OPTD_SOLVERS_SHARDING_LBFGS_SLICE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "solvers/sharding/basis.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/core/vector_view.h"

namespace optd {

// Quantities returned by LbfgsSlice::ReduceTrial, in this order (k = pairs
// held):
//   [0]            g_trial . d
//   [1]            g_trial . g_trial
//   [2, 2+k)       g_trial . s_i
//   [2+k, 2+2k)    g_trial . y_i
// and, when the candidate pair s = stp*d, y = g_trial - g is included:
//   [2+2k + 0..4]  s.s, s.y, y.y, s.g_trial, y.g_trial
//   then k each of s.s_i, s.y_i, y.s_i, y.y_i
// max_abs is max_i |g_trial_i|.
struct TrialDotLayout {
  int pairs = 0;
  bool with_candidate = false;
  int quantities() const {
    return 2 + 2 * pairs + (with_candidate ? 5 + 4 * pairs : 0);
  }
  int gd() const { return 0; }
  int gg() const { return 1; }
  int g_s(int i) const { return 2 + i; }
  int g_y(int i) const { return 2 + pairs + i; }
  int cand() const { return 2 + 2 * pairs; }
  int ss() const { return cand(); }
  int sy() const { return cand() + 1; }
  int yy() const { return cand() + 2; }
  int sg() const { return cand() + 3; }
  int yg() const { return cand() + 4; }
  int s_s(int i) const { return cand() + 5 + i; }
  int s_y(int i) const { return cand() + 5 + pairs + i; }
  int y_s(int i) const { return cand() + 5 + 2 * pairs + i; }
  int y_y(int i) const { return cand() + 5 + 3 * pairs + i; }
};

class LbfgsSlice {
 public:
  // A slice for `range` holding at most `memory` curvature pairs.
  LbfgsSlice(ShardRange range, int memory);

  const ShardRange& range() const { return range_; }
  int memory() const { return memory_; }
  int pairs() const { return static_cast<int>(s_.size()); }

  // x_trial <- this slice's part of `full` (a whole vector of the dimension).
  void SetTrialPoint(const ConstVectorView& full);
  // g_trial <- this slice's part of `full`. Returns the global index of the
  // first non-finite element of the range, or -1 if all are finite.
  int64_t SetTrialGradient(const ConstVectorView& full);
  // Writes x_trial (or x) into this slice's part of `full`.
  void ReadTrialPoint(const MutableVectorView& full) const;
  void ReadPoint(const MutableVectorView& full) const;

  // d <- sum_j delta_j b_j, b = [s_0..s_{k-1}, y_0..y_{k-1}, g].
  // REQUIRES: delta.size() == 2 * pairs() + 1.
  void SetDirection(absl::Span<const double> delta);
  // x_trial <- x + stp * d.
  void FormTrial(double stp);
  // Partial sums per block (see TrialDotLayout). With `with_candidate`, the
  // candidate pair is s = stp * d, y = g_trial - g.
  BlockPartials ReduceTrial(double stp, bool with_candidate) const;
  // Makes the trial the new iterate: with `push_pair` the candidate pair
  // (s = stp * d, y = g_trial - g) is appended, dropping the oldest when full;
  // then x <- x_trial, g <- g_trial.
  void Accept(bool push_pair, double stp);
  // Drops every curvature pair.
  void ClearMemory();

  // LbfgsSlice::SaveState(), LbfgsSlice::RestoreState()
  //
  // The slice's whole state (slice_state.h): the header (pairs k), then
  // this range of x, g, x_trial, g_trial, d, s_0..s_{k-1}, y_0..y_{k-1} as
  // little-endian doubles. SaveState appends StateBytes() bytes to *out.
  // RestoreState: INVALID_ARGUMENT naming what does not fit (tag, pairs
  // above the memory, size for this range), and the slice unchanged; a
  // restored slice answers every later operation bitwise as the saved one.
  int64_t StateBytes() const;
  void SaveState(std::string* out) const;
  absl::Status RestoreState(std::string_view in);

  // The vectors of the state, in the order above: [0, state_vectors()).
  int state_vectors() const { return 5 + 2 * pairs(); }
  const std::vector<double>& state_vector(int which) const;
  // Sets the state from `vectors`, the bytes after a header of `pairs`
  // pairs, where this range's part of vector v starts at element
  // v * stride + first (stride = range().size(), first = 0 for a slice
  // state; stride = dimension, first = range().begin for a portable one).
  // REQUIRES: pairs <= memory(), and `vectors` holds every such part.
  void LoadState(int pairs, std::string_view vectors, int64_t stride,
                 int64_t first);

 private:
  std::vector<double>& mutable_state_vector(int which);

  ShardRange range_;
  int memory_;
  std::vector<double> x_, g_, x_trial_, g_trial_, d_;
  CurvatureRing s_, y_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_LBFGS_SLICE_H_
