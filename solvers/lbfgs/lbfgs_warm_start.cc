// Lbfgs::SetCurvaturePairs (solver.h): an L-BFGS session that starts with
// the curvature pairs another solver handed over (docs/api.md "Switch").
//
// The pairs go into the vectors through their portable state (slice_state.h)
// — the same path a checkpoint takes, so local and remote slices take them
// alike — and their Gram blocks into the controller. TellInitial then reduces
// the gradient at x0 against them (sg, yg), and the first iteration takes the
// quasi-Newton direction with a unit step instead of steepest descent.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/sharding/block_reduction.h"
#include "solvers/sharding/shard_layout.h"
#include "solvers/sharding/slice_state.h"

namespace optd {
namespace {

// Block by block in global order, as the slices' reductions sum, so that the
// Gram entries are those the slices would reduce for the same vectors.
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

absl::Status Lbfgs::SetCurvaturePairs(
    const std::vector<std::vector<double>>& s,
    const std::vector<std::vector<double>>& y) {
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
  // The newest `memory` pairs, as the memory would hold them.
  const size_t k = std::min(s.size(), static_cast<size_t>(options_.memory));
  const size_t first = s.size() - k;

  std::vector<double> x(static_cast<size_t>(n));
  OPTD_RETURN_IF_ERROR(
      vectors_->ReadTrialPoint(MutableVectorView::Float64(x.data(), n)));
  const std::vector<double> zeros(static_cast<size_t>(n), 0.0);
  // x, g, x_trial, g_trial, d, s_0..s_{k-1}, y_0..y_{k-1} (slice_state.h).
  std::string state;
  AppendLbfgsSliceHeader({static_cast<int>(k)}, &state);
  const std::vector<double>* const vectors[] = {&x, &zeros, &x, &zeros, &zeros};
  for (const std::vector<double>* v : vectors) {
    AppendF64s(v->data(), v->size(), &state);
  }
  for (size_t i = first; i < s.size(); ++i) {
    AppendF64s(s[i].data(), s[i].size(), &state);
  }
  for (size_t i = first; i < y.size(); ++i) {
    AppendF64s(y[i].data(), y[i].size(), &state);
  }
  OPTD_RETURN_IF_ERROR(vectors_->RestoreState(state));

  const int kk = static_cast<int>(k);
  gram_.ss.resize(kk, kk);
  gram_.sy.resize(kk, kk);
  gram_.yy.resize(kk, kk);
  for (int i = 0; i < kk; ++i) {
    for (int j = 0; j < kk; ++j) {
      gram_.ss(i, j) = BlockOrderDot(s[first + i], s[first + j]);
      gram_.sy(i, j) = BlockOrderDot(s[first + i], y[first + j]);
      gram_.yy(i, j) = BlockOrderDot(y[first + i], y[first + j]);
    }
  }
  // Set against x0's gradient when it is told (TellInitial).
  gram_.sg = Eigen::VectorXd::Zero(kk);
  gram_.yg = Eigen::VectorXd::Zero(kk);
  return absl::OkStatus();
}

}  // namespace optd
