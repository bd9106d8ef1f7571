// The quasi-Newton memory of the trust-region controller: the Gram matrices
// of the k <= m stored pairs and the iterate's gradient (PairGram), kept up to
// date from each trial's one reduction (TrialDots in trust_region_slice.h),
// the limited-memory model built from them (trust_region_obs.h), and the
// rules for taking a new pair.
//
// Trust-region quasi-Newton methods update the model after every evaluated
// trial, accepted or not (Nocedal & Wright, Numerical Optimization, 2nd ed.,
// Algorithm 6.2): a rejected step still measured curvature along s = p.
//   L-SR1:  skip when |s.(y - B s)| < 1e-8 ||s|| ||y - B s|| (N&W eq. 6.26),
//           ||y - B s|| taken at its upper bound with rounding, or when
//           s.(y - B s) is not measurably nonzero (y = B s: nothing to
//           learn, or a denominator that rounding cannot tell from 0);
//   L-BFGS: skip unless s.y > 1e-8 ||s|| ||y||, which keeps B positive
//           definite (N&W §6.1 needs s.y > 0; the margin guards rounding).
//
//   QuasiNewtonMemory memory(QuasiNewtonUpdate::kLsr1, /*memory=*/10, n);
//   memory.Reset(gg);                                  // at x0
//   LimitedMemoryModel::Step step = memory.Solve(radius);
//   ... slices form the step, the trial is told and reduced into `dots` ...
//   bool push = memory.ShouldPush(dots.sums);
//   vectors.Advance(push, accept);
//   memory.Update(dots.sums, push, accept);
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_MEMORY_H_
#define OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_MEMORY_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "solvers/trust_region/trust_region_obs.h"
#include "solvers/sharding/trust_region_slice.h"

namespace optd {

class QuasiNewtonMemory {
 public:
  // `pair_dependence`: LimitedMemoryModel::Build's.
  QuasiNewtonMemory(QuasiNewtonUpdate update, int memory, int64_t dimension,
                    double pair_dependence = kPairDependence);

  // No pairs, and the iterate's gradient with g.g = gg.
  void Reset(double gg);
  // The Gram matrices of a saved memory (TrustRegion::RestoreState); the
  // model is rebuilt from them when next needed, bitwise as it was built.
  // REQUIRES: gram.pairs() <= memory, every block k x k or k.
  void Restore(PairGram gram);
  int pairs() const { return gram_.pairs(); }
  const PairGram& gram() const { return gram_; }
  // The model of the current pairs (built when they changed).
  const LimitedMemoryModel& model();
  // The subproblem's solution for `radius` at the iterate.
  LimitedMemoryModel::Step Solve(double radius);

  // Whether the trial's pair passes the skipping rule. `sums` is laid out as
  // TrialDots{pairs(), true}.
  bool ShouldPush(const std::vector<double>& sums);
  // Brings the Gram matrices up to date, as the slices' Advance(push, accept)
  // does with the vectors.
  void Update(const std::vector<double>& sums, bool push, bool accept);

 private:
  QuasiNewtonUpdate update_;
  int memory_;
  int64_t dimension_;
  double pair_dependence_;
  PairGram gram_;
  std::optional<LimitedMemoryModel> model_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_MEMORY_H_
