// TrustRegion::SetCurvaturePairs (solver.h): a quasi-Newton trust-region
// session whose model starts with the curvature pairs another solver handed
// over (an L-BFGS session switched to trust_region; docs/api.md "Switch").
//
// The pairs are offered to the memory oldest first under the trust region's
// own rules (trust_region_memory.h): a pair the update's skipping rule
// refuses (L-SR1: N&W eq. 6.26 against the model of the pairs taken so far;
// L-BFGS: s.y > 1e-8 ||s|| ||y||) is left out, and the memory keeps the
// newest `memory` of those taken, as it would had the trials been its own.
// The kept pairs go into the vectors through their portable state
// (slice_state.h: the path a checkpoint takes, so local and remote slices
// take them alike) and their Gram into the memory; TellInitial reduces x0's
// gradient against them (sg, yg), so the first step already solves the
// model they define.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/sharding/slice_state.h"
#include "solvers/sharding/trust_region_slice.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

// Block by block in global order, as the slices' reductions sum (as
// lbfgs_warm_start.cc does), so that the products do not depend on how a
// session is sliced.
double BlockOrderDot(const std::vector<double>& a,
                     const std::vector<double>& b) {
  const int64_t n = static_cast<int64_t>(a.size());
  double sum = 0.0;
  for (int64_t lo = 0; lo < n; lo += kReductionBlock) {
    sum += BlockDot(a.data() + lo, b.data() + lo,
                    std::min(kReductionBlock, n - lo));
  }
  return sum;
}

}  // namespace

absl::Status TrustRegion::SetCurvaturePairs(
    const std::vector<std::vector<double>>& s,
    const std::vector<std::vector<double>>& y) {
  if (options_.subproblem != TrustRegionSubproblem::kQuasiNewton) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trust_region takes curvature pairs only with the quasi_newton "
        "subproblem; this session's is ",
        SubproblemName(options_.subproblem)));
  }
  if (bounded_) {
    return absl::InvalidArgumentError(
        "a bounded trust_region session takes no curvature pairs (its model "
        "is reduced to the free variables at each iterate)");
  }
  if (phase_ != Phase::kInitial || evaluations_ != 0) {
    return absl::FailedPreconditionError(
        "curvature pairs can start only a session that was told nothing");
  }
  if (s.size() != y.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "curvature pairs: ", s.size(), " s and ", y.size(), " y vectors"));
  }
  const int64_t n = dimension();
  for (size_t i = 0; i < s.size(); ++i) {
    if (static_cast<int64_t>(s[i].size()) != n ||
        static_cast<int64_t>(y[i].size()) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("curvature pair ", i, " is not of the dimension ", n));
    }
  }
  // Each pair in turn, as if it were a rejected trial's (s, y): products
  // with the pairs kept so far laid out as the slices' TrialDots, then the
  // memory's ShouldPush and Update. sg and yg are set by TellInitial.
  QuasiNewtonMemory memory(options_.quasi_newton_update, options_.memory, n,
                           options_.pair_dependence);
  std::deque<size_t> kept;
  for (size_t i = 0; i < s.size(); ++i) {
    const TrialDots L{memory.pairs(), true};
    std::vector<double> q(static_cast<size_t>(L.quantities()), 0.0);
    q[L.ss()] = BlockOrderDot(s[i], s[i]);
    q[L.sy()] = BlockOrderDot(s[i], y[i]);
    q[L.yy()] = BlockOrderDot(y[i], y[i]);
    for (int j = 0; j < L.pairs; ++j) {
      const size_t p = kept[static_cast<size_t>(j)];
      q[L.s_s(j)] = BlockOrderDot(s[i], s[p]);
      q[L.s_y(j)] = BlockOrderDot(s[i], y[p]);
      q[L.y_s(j)] = BlockOrderDot(y[i], s[p]);
      q[L.y_y(j)] = BlockOrderDot(y[i], y[p]);
    }
    const bool push = memory.ShouldPush(q);
    memory.Update(q, push, /*accept=*/false);
    if (!push) continue;
    kept.push_back(i);
    if (static_cast<int>(kept.size()) > options_.memory) kept.pop_front();
  }

  std::vector<double> x(static_cast<size_t>(n));
  OPTD_RETURN_IF_ERROR(
      vectors_->ReadTrialPoint(MutableVectorView::Float64(x.data(), n)));
  const std::vector<double> zeros(static_cast<size_t>(n), 0.0);
  // x, g, x_trial, g_trial, p, s_0..s_{k-1}, y_0..y_{k-1} (slice_state.h).
  std::string state;
  AppendTrustRegionSliceHeader(
      {static_cast<int>(kept.size()), /*cg_vectors=*/false, /*bounded=*/false},
      &state);
  const std::vector<double>* const vectors[] = {&x, &zeros, &x, &zeros, &zeros};
  for (const std::vector<double>* v : vectors) {
    AppendF64s(v->data(), v->size(), &state);
  }
  for (size_t i : kept) AppendF64s(s[i].data(), s[i].size(), &state);
  for (size_t i : kept) AppendF64s(y[i].data(), y[i].size(), &state);
  OPTD_RETURN_IF_ERROR(vectors_->RestoreState(state));
  memory_->Restore(memory.gram());
  return absl::OkStatus();
}

}  // namespace optd
