// The trial side of TrustRegion (trust_region.h): what the outstanding trial
// wants, where, and the told gradient, Hessian or Hessian-vector product,
// each checked before anything is kept.
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {

Evaluation TrustRegion::wants() const {
  switch (phase_) {
    case Phase::kHessianVector:
      return Evaluation::kHessianVector;
    case Phase::kDifferenceGradient:
      return Evaluation::kGradient;
    default:
      return options_.subproblem == TrustRegionSubproblem::kExact
                 ? Evaluation::kHessian
                 : Evaluation::kValueAndGradient;
  }
}

absl::Status TrustRegion::ReadTrialPoint(const MutableVectorView& out) const {
  // A Hessian-vector product is wanted at the iterate itself.
  if (phase_ == Phase::kFinished || phase_ == Phase::kHessianVector) {
    return vectors_->ReadPoint(out);
  }
  return vectors_->ReadTrialPoint(out);
}

absl::Status TrustRegion::ReadBestPoint(const MutableVectorView& out) const {
  // Before the first tell the only point is x0, which is the trial point.
  return phase_ == Phase::kInitial ? vectors_->ReadTrialPoint(out)
                                   : vectors_->ReadPoint(out);
}

absl::Status TrustRegion::ReadTrialVector(const MutableVectorView& out) const {
  if (phase_ != Phase::kHessianVector) {
    return Solver::ReadTrialVector(out);
  }
  return vectors_->ReadDirection(out);
}

absl::Status TrustRegion::SetTrialGradient(const ConstVectorView& gradient) {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  if (phase_ == Phase::kHessianVector) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants a Hessian-vector product, not a "
        "gradient");
  }
  const absl::Status status = vectors_->SetTrialGradient(gradient);
  gradient_set_ = status.ok();
  return status;
}

absl::Status TrustRegion::SetTrialHessian(const ConstVectorView& hessian) {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  if (options_.subproblem != TrustRegionSubproblem::kExact ||
      (phase_ != Phase::kInitial && phase_ != Phase::kTrialPoint)) {
    return Solver::SetTrialHessian(hessian);
  }
  const int64_t n = dimension();
  if (hessian.size() != n * n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hessian has ", hessian.size(), " elements; the session wants n * n = ",
        n * n, " (row-major, n = ", n, ")"));
  }
  // Check everything before keeping anything.
  for (int64_t i = 0; i < n * n; ++i) {
    const double v = hessian.Get(i);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hessian[", i, "] (row ", i / n, ", column ", i % n, ") is ", v,
          "; every hessian element must be finite (report a failed "
          "evaluation instead)"));
    }
  }
  trial_hessian_.resize(n, n);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < n; ++c)
      trial_hessian_(r, c) = hessian.Get(r * n + c);
  }
  // Symmetrize: the solver uses (H + H^T) / 2.
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = r + 1; c < n; ++c) {
      const double mean = 0.5 * (trial_hessian_(r, c) + trial_hessian_(c, r));
      trial_hessian_(r, c) = trial_hessian_(c, r) = mean;
    }
  }
  hessian_set_ = true;
  return absl::OkStatus();
}

absl::Status TrustRegion::SetTrialHessianVector(
    const ConstVectorView& product) {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  if (phase_ != Phase::kHessianVector) {
    return Solver::SetTrialHessianVector(product);
  }
  const absl::Status status = vectors_->SetProduct(product);
  product_set_ = status.ok();
  return status;
}

}  // namespace optd
