#include "solvers/trust_region/trust_region.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd {
namespace {

using trust_region_internal::kBadModelMessage;
using trust_region_internal::kFunctionToleranceMessage;
using trust_region_internal::kMaxEvaluationsMessage;
using trust_region_internal::kMaxIterationsMessage;
using trust_region_internal::kStartFailedMessage;
using trust_region_internal::kStoppedMessage;
using trust_region_internal::kSuccessMessage;

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

}  // namespace

TrustRegion::TrustRegion(const TrustRegionOptions& options,
                         std::unique_ptr<TrustRegionVectors> vectors,
                         bool bounded)
    : options_(options),
      vectors_(std::move(vectors)),
      radius_(options.initial_radius),
      bounded_(bounded) {
  const int64_t n = vectors_->dimension();
  // scipy: maxiter = len(x0) * 200.
  if (options_.max_iterations == 0) options_.max_iterations = 200 * n;
  if (options_.subproblem == TrustRegionSubproblem::kQuasiNewton) {
    memory_ = std::make_unique<QuasiNewtonMemory>(options_.quasi_newton_update,
                                                  options_.memory, n,
                                                  options_.pair_dependence);
  }
  summary_.solver = "trust_region";
  summary_.dimension = n;
  summary_.options_report = OptionsReport();
}

absl::StatusOr<std::unique_ptr<TrustRegion>> TrustRegion::Create(
    const TrustRegionOptions& options, const ConstVectorView& x0,
    std::unique_ptr<TrustRegionVectors> vectors) {
  return Create(options, x0, nullptr, std::move(vectors));
}

absl::StatusOr<std::unique_ptr<TrustRegion>> TrustRegion::Create(
    const TrustRegionOptions& options, const ConstVectorView& x0,
    const Bounds& bounds, std::unique_ptr<TrustRegionVectors> vectors) {
  return Create(options, x0, &bounds, std::move(vectors));
}

absl::StatusOr<std::unique_ptr<TrustRegion>> TrustRegion::Create(
    const TrustRegionOptions& options, const ConstVectorView& x0,
    const Bounds* bounds, std::unique_ptr<TrustRegionVectors> vectors) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  if (bounds != nullptr && bounds->size() != 0 && bounds->size() != x0.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bounds have ", bounds->size(), " elements; x0 has ", x0.size()));
  }
  // Bounds with no finite side are no bounds.
  const bool bounded = bounds != nullptr && bounds->any();
  if (bounded && options.subproblem != TrustRegionSubproblem::kQuasiNewton) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bounds are supported by trust_region only with the quasi_newton "
        "subproblem; trust_region.subproblem is ",
        SubproblemName(options.subproblem)));
  }
  if (x0.size() != vectors->dimension()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x0 has ", x0.size(), " elements; the vectors have dimension ",
        vectors->dimension()));
  }
  if (options.subproblem == TrustRegionSubproblem::kExact &&
      x0.size() > kMaxExactDimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trust_region.subproblem exact needs a dense n x n Hessian; n = ",
        x0.size(), " is above the limit ", kMaxExactDimension,
        " (use newton_cg or quasi_newton)"));
  }
  for (int64_t i = 0; i < x0.size(); ++i) {
    if (!std::isfinite(x0.Get(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x0[", i, "] is ", x0.Get(i), "; every element must be finite"));
    }
  }
  // SetTrialPoint projects x0 onto the box.
  if (bounded) OPTD_RETURN_IF_ERROR(vectors->SetBounds(*bounds));
  OPTD_RETURN_IF_ERROR(vectors->SetTrialPoint(x0));
  return std::unique_ptr<TrustRegion>(
      new TrustRegion(options, std::move(vectors), bounded));
}

absl::StatusOr<std::unique_ptr<TrustRegion>> TrustRegion::Create(
    const TrustRegionOptions& options, const ConstVectorView& x0,
    const Bounds& bounds, int shards) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                        ShardLayout::Make(x0.size(), shards));
  return Create(
      options, x0, &bounds,
      std::make_unique<LocalTrustRegionVectors>(layout, options.slice_memory(),
                                                options.slice_cg_vectors()));
}

absl::StatusOr<std::unique_ptr<TrustRegion>> TrustRegion::Create(
    const TrustRegionOptions& options, const ConstVectorView& x0, int shards) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                        ShardLayout::Make(x0.size(), shards));
  return Create(
      options, x0,
      std::make_unique<LocalTrustRegionVectors>(layout, options.slice_memory(),
                                                options.slice_cg_vectors()));
}

absl::Status TrustRegion::Tell(const TrialResult& result) {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  if ((result.has_gradient && !gradient_set_) ||
      (result.has_hessian && !hessian_set_) ||
      (result.has_hessian_vector && !product_set_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the result claims a ",
        result.has_gradient && !gradient_set_
            ? "gradient"
            : (result.has_hessian && !hessian_set_ ? "hessian"
                                                   : "hessian_vector"),
        " that was not set for this trial"));
  }
  ++evaluations_;
  const bool exact = options_.subproblem == TrustRegionSubproblem::kExact;
  bool ok = !result.failed;
  switch (phase_) {
    case Phase::kInitial:
    case Phase::kTrialPoint:
      ok = ok && std::isfinite(result.value) && result.has_gradient &&
           (!exact || result.has_hessian);
      break;
    case Phase::kHessianVector:
      ok = ok && result.has_hessian_vector;
      break;
    case Phase::kDifferenceGradient:
      ok = ok && result.has_gradient;
      break;
    case Phase::kFinished:
      break;
  }
  if (!ok) ++summary_.failed_evaluations;
  gradient_set_ = hessian_set_ = product_set_ = false;
  absl::Status status;
  switch (phase_) {
    case Phase::kInitial:
      status = TellInitial(ok, result.value);
      break;
    case Phase::kTrialPoint:
      status = TellTrialPoint(ok, result.value);
      break;
    default:
      status = TellProduct(ok);
      break;
  }
  if (status.ok() && !finished() && options_.max_evaluations > 0 &&
      evaluations_ >= options_.max_evaluations) {
    Finish(TerminationReason::kMaxEvaluations, kMaxEvaluationsMessage);
  }
  return status;
}

absl::Status TrustRegion::TakeIterate(double value, const Reduction& dots) {
  const TrialDots layout{0, false};
  f_ = value;
  gg_ = dots.sums[layout.gg()];
  x_norm_ = std::sqrt(dots.sums[layout.xx()]);
  gmax_ = dots.max_abs;
  have_iterate_ = true;
  if (bounded_) {
    OPTD_ASSIGN_OR_RETURN(Reduction box, vectors_->ReduceBox());
    free_variables_ = static_cast<int64_t>(box.sums[0]);
    gmax_ = box.max_abs;
  }
  if (options_.subproblem == TrustRegionSubproblem::kExact) {
    Eigen::VectorXd g(dimension());
    OPTD_RETURN_IF_ERROR(vectors_->ReadGradient(
        MutableVectorView::Float64(g.data(), dimension())));
    exact_ = std::make_unique<ExactSubproblem>(std::move(trial_hessian_),
                                               std::move(g));
    trial_hessian_ = Eigen::MatrixXd();
  }
  return absl::OkStatus();
}

absl::Status TrustRegion::TellInitial(bool ok, double value) {
  if (!ok) {
    Finish(TerminationReason::kEvaluationFailed, kStartFailedMessage);
    return absl::OkStatus();
  }
  // Pairs handed over by another solver (SetCurvaturePairs) are in the
  // memory already: x0's gradient is reduced against them too. Only the
  // first two quantities are read otherwise, which both layouts share.
  const int warm_pairs = memory_ ? memory_->pairs() : 0;
  OPTD_ASSIGN_OR_RETURN(Reduction dots, vectors_->ReduceTrial(warm_pairs > 0));
  OPTD_RETURN_IF_ERROR(vectors_->Advance(false, /*accept=*/true));
  OPTD_RETURN_IF_ERROR(TakeIterate(value, dots));
  summary_.initial_value = f_;
  if (warm_pairs > 0) {
    const TrialDots L{warm_pairs, true};
    PairGram gram = memory_->gram();
    for (int i = 0; i < warm_pairs; ++i) {
      gram.sg(i) = dots.sums[L.gt_s(i)];
      gram.yg(i) = dots.sums[L.gt_y(i)];
    }
    gram.gg = gg_;
    memory_->Restore(std::move(gram));
  } else if (memory_) {
    memory_->Reset(gg_);
  }
  phase_ = Phase::kTrialPoint;
  // scipy tests the gradient before the first iteration.
  if (Converged()) {
    Finish(TerminationReason::kGradientTolerance, kSuccessMessage);
    return absl::OkStatus();
  }
  return StartIteration();
}

absl::Status TrustRegion::StartIteration() {
  switch (options_.subproblem) {
    case TrustRegionSubproblem::kExact: {
      const ExactSubproblem::Step step = exact_->Solve(radius_);
      OPTD_RETURN_IF_ERROR(vectors_->SetStep(
          ConstVectorView::Float64(step.p.data(), step.p.size())));
      return ProposeStep(step.model_change, step.on_boundary, step.p.norm());
    }
    case TrustRegionSubproblem::kQuasiNewton: {
      if (bounded_) return StartBoundedIteration();
      const LimitedMemoryModel::Step step = memory_->Solve(radius_);
      OPTD_RETURN_IF_ERROR(vectors_->FormStep(step.coefficients));
      return ProposeStep(step.model_change, step.on_boundary, step.norm);
    }
    default: {
      // With g = 0 there is no Krylov space to search: no step.
      if (!(gg_ > 0)) return ProposeStep(0.0, false, 0.0);
      // CG terminates in n iterations in exact arithmetic; allow rounding.
      const int64_t max_products = std::max<int64_t>(10, 2 * dimension());
      OPTD_ASSIGN_OR_RETURN(SteihaugCg::Next next,
                            cg_.Start(*vectors_, gg_, radius_, max_products));
      return ContinueCg(next);
    }
  }
}

absl::Status TrustRegion::ContinueCg(SteihaugCg::Next next) {
  if (next == SteihaugCg::Next::kStep) {
    return ProposeStep(cg_.model_change(), cg_.on_boundary(), cg_.step_norm());
  }
  if (options_.subproblem == TrustRegionSubproblem::kNewtonCg) {
    phase_ = Phase::kHessianVector;
    return absl::OkStatus();
  }
  // The forward-difference step of optd.v1.TrustRegionOptions.
  difference_step_ =
      std::sqrt(kEpsilon) * (1.0 + x_norm_) / std::sqrt(cg_.direction_norm2());
  phase_ = Phase::kDifferenceGradient;
  return vectors_->FormDifferencePoint(difference_step_);
}

absl::Status TrustRegion::ProposeStep(double model_change, bool on_boundary,
                                      double norm) {
  // scipy's _minimize_trust_region forms the model value m(p) = f + (g.p +
  // p.Bp/2) and the predicted reduction f - m(p) in floating point: a
  // decrease below half an ulp of f rounds to 0. It stops then (warnflag 2),
  // and so do we — the step's effect on f could not be measured anyway.
  predicted_reduction_ = f_ - (f_ + model_change);
  on_boundary_ = on_boundary;
  step_norm_ = norm;
  // A step the subproblem could not form in floating point is not handed
  // out: with a region much larger than the model's scale, mu_min + sigma in
  // the secular equation rounds to 0 and ||p|| to inf (the model change to
  // -inf, which would pass the test below). Nor is one that would carry x
  // past the largest double (|x_i + p_i| <= ||x|| + ||p||; not tested when
  // ||x|| itself overflowed). The region contracts as after a failed trial
  // point and the subproblem is solved again; a step that fits is reached
  // within about 500 contractions (1.8e308 to 1e8).
  if (!std::isfinite(norm) || !std::isfinite(model_change) ||
      (std::isfinite(x_norm_) && !std::isfinite(x_norm_ + norm))) {
    return EndIteration(-std::numeric_limits<double>::infinity());
  }
  // scipy evaluates x + p before this test; we do not.
  if (!(predicted_reduction_ > 0)) {
    Finish(TerminationReason::kTrustRegionFailed, kBadModelMessage);
    return absl::OkStatus();
  }
  phase_ = Phase::kTrialPoint;
  return absl::OkStatus();
}

absl::Status TrustRegion::TellProduct(bool ok) {
  // A product that could not be evaluated ends the iteration like a failed
  // trial point: the region contracts and the subproblem starts again.
  if (!ok) return EndIteration(-std::numeric_limits<double>::infinity());
  if (phase_ == Phase::kDifferenceGradient) {
    OPTD_RETURN_IF_ERROR(vectors_->DifferenceProduct(difference_step_));
  }
  OPTD_ASSIGN_OR_RETURN(SteihaugCg::Next next, cg_.OnProduct(*vectors_));
  return ContinueCg(next);
}

absl::Status TrustRegion::TellTrialPoint(bool ok, double value) {
  if (!ok) {
    trial_hessian_ = Eigen::MatrixXd();
    // Unlike a told value, a failure may be transient (a lost worker): if
    // the smaller region still holds the point, it is asked for again.
    return EndIteration(-std::numeric_limits<double>::infinity());
  }
  OPTD_ASSIGN_OR_RETURN(
      Reduction dots, vectors_->ReduceTrial(/*with_pair=*/memory_ != nullptr));
  // N&W eq. 4.4.
  const double rho = (f_ - value) / predicted_reduction_;
  const bool accept = rho > options_.eta;
  bool push = false;
  if (memory_) {
    push = memory_->ShouldPush(dots.sums);
    if (!push) ++summary_.skipped_updates;
  }
  OPTD_RETURN_IF_ERROR(vectors_->Advance(push, accept));
  if (memory_) memory_->Update(dots.sums, push, accept);
  if (accept) {
    progress_step_ = bounded_ ? projected_step_norm_ : step_norm_;
    // rho > eta >= 0 and a positive predicted reduction: value < f_.
    const bool small =
        f_ - value <= options_.ftol * std::max(std::fabs(f_), std::fabs(value));
    small_steps_ = small ? small_steps_ + 1 : 0;
    OPTD_RETURN_IF_ERROR(TakeIterate(value, dots));
  } else {
    trial_hessian_ = Eigen::MatrixXd();
  }
  return EndIteration(rho, /*told_and_model_unchanged=*/!push);
}

absl::Status TrustRegion::EndIteration(double rho,
                                       bool told_and_model_unchanged) {
  if (rho < 0.25) {
    radius_ *= 0.25;
  } else if (rho > 0.75 && on_boundary_ && !step_clipped_) {
    radius_ = std::min(2.0 * radius_, options_.max_radius);
  }
  ++iterations_;
  // A rejected interior step (sigma = 0) of an unchanged model at the same
  // iterate is still the subproblem's solution for every radius >= ||p||
  // (Nocedal & Wright, Theorem 4.1; Steihaug's CG iterates grow in norm, N&W
  // Theorem 7.3, so CG retraces them), and would be rejected again. scipy
  // 1.10 proposes it again and its ScalarFunction answers from the cache of
  // the last point (no call of fun, jac or hess), and its loop contracts the
  // radius and counts an iteration; so do we, without asking for the point,
  // until the region no longer holds the step. (eta < 0.25, so a rejection
  // always contracts.)
  if (rho <= options_.eta && told_and_model_unchanged && !on_boundary_) {
    while (step_norm_ <= radius_ && iterations_ < options_.max_iterations) {
      radius_ *= 0.25;
      ++iterations_;
    }
  }
  if (Converged()) {
    Finish(TerminationReason::kGradientTolerance, kSuccessMessage);
  } else if (small_steps_ >= options_.ftol_steps) {
    Finish(TerminationReason::kFunctionTolerance, kFunctionToleranceMessage);
  } else if (iterations_ >= options_.max_iterations) {
    Finish(TerminationReason::kMaxIterations, kMaxIterationsMessage);
  } else {
    return StartIteration();
  }
  return absl::OkStatus();
}

bool TrustRegion::Converged() const {
  // L-BFGS-B's test `sbgnrm <= pgtol` (Byrd, Lu, Nocedal & Zhu 1995) with
  // bounds; scipy trust-region's `gnorm < gtol` without.
  return bounded_ ? gmax_ <= options_.gtol : std::sqrt(gg_) < options_.gtol;
}

void TrustRegion::Stop() {
  if (!finished()) Finish(TerminationReason::kStoppedByClient, kStoppedMessage);
}

void TrustRegion::Finish(TerminationReason reason, std::string message) {
  phase_ = Phase::kFinished;
  FinishIterativeSummary(reason, std::move(message), have_iterate_, f_, gmax_,
                         iterations_, evaluations_, &summary_);
}

Progress TrustRegion::progress() const {
  Progress p = IterativeProgress(have_iterate_, f_, gmax_, iterations_,
                                 evaluations_, progress_step_);
  p.trust_radius = radius_;
  return p;
}

}  // namespace optd
