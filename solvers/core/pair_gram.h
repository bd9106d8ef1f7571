// The inner products of a limited-memory quasi-Newton method's curvature
// pairs (s_i, y_i) and the gradient g, which the controllers of L-BFGS
// (lbfgs.cc) and the trust region (trust_region_memory.cc) keep instead of
// the vectors (those stay in the slices, solvers/sharding/), and their one
// update when a new pair enters the memory:
//
//   NewPairProducts pair = ...;       // from the slices' reduction
//   gram = gram.WithPair(pair, memory, sg, yg);
//
// and in a saved state (WritePairGram, ReadPairGram).
//
// Thread-safety: a value type.
#ifndef OPTD_SOLVERS_CORE_PAIR_GRAM_H_
#define OPTD_SOLVERS_CORE_PAIR_GRAM_H_

#include <vector>

#include "Eigen/Dense"
#include "solvers/core/state_bytes.h"

namespace optd {

// The inner products of a new pair (s, y) with itself and with each of the k
// pairs (s_i, y_i) held.
struct NewPairProducts {
  double ss = 0.0, sy = 0.0, yy = 0.0;  // s.s, s.y, y.y
  Eigen::VectorXd s_s, s_y, y_s, y_y;   // s.s_i, s.y_i, y.s_i, y.y_i
};

// CandidatePairProducts()
//
// The new pair's products from a slices' reduction `q` laid out by `layout`
// (TrialDotLayout, TrialDots: pairs, ss(), sy(), yy(), s_s(i), s_y(i),
// y_s(i), y_y(i) index q).
template <typename Layout>
NewPairProducts CandidatePairProducts(const std::vector<double>& q,
                                      const Layout& layout) {
  const int k = layout.pairs;
  NewPairProducts pair;
  pair.ss = q[layout.ss()];
  pair.sy = q[layout.sy()];
  pair.yy = q[layout.yy()];
  pair.s_s.resize(k);
  pair.s_y.resize(k);
  pair.y_s.resize(k);
  pair.y_y.resize(k);
  for (int i = 0; i < k; ++i) {
    pair.s_s(i) = q[layout.s_s(i)];
    pair.s_y(i) = q[layout.s_y(i)];  // s_new . y_i
    pair.y_s(i) = q[layout.y_s(i)];  // y_new . s_i
    pair.y_y(i) = q[layout.y_y(i)];
  }
  return pair;
}

// Inner products of the k stored pairs (oldest first) and the gradient g at
// the iterate.
struct PairGram {
  Eigen::MatrixXd ss, sy, yy;  // s_i.s_j, s_i.y_j, y_i.y_j
  Eigen::VectorXd sg, yg;      // s_i.g, y_i.g
  double gg = 0.0;
  int pairs() const { return static_cast<int>(sg.size()); }

  // PairGram::WithPair()
  //
  // The Gram of these pairs and the new one `pair` (appended as the newest),
  // less the oldest pair when `memory` pairs are held already, as the slices
  // shift their vectors. `sg` and `yg` hold the k + 1 pairs' products with
  // the gradient (the new pair's last); they are shifted the same way. gg is
  // this one's.
  // REQUIRES: pair's vectors and sg, yg have pairs() and pairs() + 1 entries.
  PairGram WithPair(const NewPairProducts& pair, int memory,
                    const Eigen::VectorXd& sg, const Eigen::VectorXd& yg) const;
};

// WritePairGram(), ReadPairGram()
//
// The Gram in a saved state (the L-BFGS and trust-region controllers'): the
// pair count k, then ss, sy and yy (k x k, Eigen's column-major order), sg,
// yg (k each) and gg. ReadPairGram reads what follows the count, which the
// caller has read and bounded; a short input is recorded in `r`.
void WritePairGram(const PairGram& gram, StateWriter& w);
PairGram ReadPairGram(int k, StateReader& r);

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_PAIR_GRAM_H_
