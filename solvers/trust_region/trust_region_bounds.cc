// The box-bounded iteration of TrustRegion's quasi-Newton subproblem
// (trust_region.h, "Box bounds"): reduced model on the free variables,
// projected step, model value at the projected step.
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "Eigen/Dense"
#include "common/status_macros.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

// The Gram products of Z S, Z Y and Z g from ReduceFreeGram's sums.
PairGram UnpackFreeGram(const std::vector<double>& sums, int k) {
  const FreeGramDots L{k};
  PairGram free;
  free.ss.resize(k, k);
  free.sy.resize(k, k);
  free.yy.resize(k, k);
  free.sg.resize(k);
  free.yg.resize(k);
  for (int i = 0; i < k; ++i) {
    for (int j = i; j < k; ++j) {
      free.ss(i, j) = free.ss(j, i) = sums[L.ss(i, j)];
      free.yy(i, j) = free.yy(j, i) = sums[L.yy(i, j)];
    }
    for (int j = 0; j < k; ++j) free.sy(i, j) = sums[L.sy(i, j)];
    free.sg(i) = sums[L.sg(i)];
    free.yg(i) = sums[L.yg(i)];
  }
  free.gg = sums[L.gg()];
  return free;
}

}  // namespace

absl::Status TrustRegion::StartBoundedIteration() {
  const int k = memory_->pairs();
  // With every variable free the reduced model is the memory's own (Z = I).
  std::optional<LimitedMemoryModel> reduced;
  const LimitedMemoryModel* model = &memory_->model();
  PairGram free;
  const PairGram* gradient = &memory_->gram();
  if (free_variables_ < dimension()) {
    OPTD_ASSIGN_OR_RETURN(Reduction dots, vectors_->ReduceFreeGram());
    free = UnpackFreeGram(dots.sums, k);
    reduced = LimitedMemoryModel::Build(options_.quasi_newton_update,
                                        memory_->gram(), free_variables_, &free,
                                        options_.pair_dependence);
    model = &*reduced;
    gradient = &free;
  }
  const ProjectedStepDots L{k};
  Eigen::VectorXd p_on_s(k), p_on_y(k);
  while (true) {
    const LimitedMemoryModel::Step step =
        model->Solve(gradient->sg, gradient->yg, gradient->gg, radius_);
    OPTD_ASSIGN_OR_RETURN(Reduction dots,
                          vectors_->FormProjectedStep(step.coefficients));
    for (int i = 0; i < k; ++i) {
      p_on_s(i) = dots.sums[L.ps(i)];
      p_on_y(i) = dots.sums[L.py(i)];
    }
    // m(p) at the step actually proposed, p = P(x + s) - x.
    const double model_change = model->ModelChange(
        dots.sums[L.pg()], dots.sums[L.pp()], p_on_s, p_on_y);
    step_clipped_ = dots.sums[L.clipped()] > 0;
    projected_step_norm_ = std::sqrt(dots.sums[L.pp()]);
    // Unclipped, p = s minimizes the reduced model: m(p) < 0 unless the
    // gradient is (to rounding) zero, which ProposeStep reports. Clipped, the
    // box may have spoiled it; a smaller region takes a shorter step, which
    // the box clips less (for a small enough radius only coordinates whose
    // free gradient is zero are clipped, and m(p) -> -radius ||Z g||).
    if (model_change < 0 || !step_clipped_) {
      return ProposeStep(model_change, step.on_boundary, step.norm);
    }
    radius_ *= 0.25;
    ++iterations_;
    if (iterations_ >= options_.max_iterations) {
      Finish(TerminationReason::kMaxIterations,
             trust_region_internal::kMaxIterationsMessage);
      return absl::OkStatus();
    }
    if (!(radius_ > 0)) {
      Finish(TerminationReason::kTrustRegionFailed,
             trust_region_internal::kBadModelMessage);
      return absl::OkStatus();
    }
  }
}

}  // namespace optd
