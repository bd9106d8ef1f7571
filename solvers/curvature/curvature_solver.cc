// CurvatureSolver: Lanczos on H(x) behind the Solver interface
// (curvature_solver.h).
#include "solvers/curvature/curvature_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/core/option_checks.h"

namespace optd {
absl::Status CurvatureOptions::Validate() const {
  absl::Status valid = lanczos.Validate();
  if (!valid.ok()) return valid;
  if (!std::isnan(relative_step) &&
      !(relative_step > 0.0 && relative_step <= 0.1)) {
    return OptionOutOfRange("curvature", "relative_step", relative_step,
                            "(0, 0.1]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CurvatureSolver>> CurvatureSolver::Create(
    const CurvatureOptions& options, const ConstVectorView& x,
    std::unique_ptr<LanczosVectors> vectors) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  if (x.size() < 1) {
    return absl::InvalidArgumentError(
        "x0 is empty; the point to diagnose "
        "needs at least one element");
  }
  if (!x.on_slices()) {
    for (int64_t i = 0; i < x.size(); ++i) {
      const double v = x.Get(i);
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("x0[", i, "] is not finite (", v, ")"));
      }
    }
  }
  const bool gradients = options.source == ProductSource::kGradientDifference;
  if (vectors == nullptr) {
    OPTD_ASSIGN_OR_RETURN(ShardLayout layout, ShardLayout::Make(x.size(), 1));
    vectors = std::make_unique<LocalLanczosVectors>(layout, gradients);
  }
  OPTD_RETURN_IF_ERROR(vectors->SetPoint(x));
  double step = 0.0;
  if (gradients) {
    const double relative_step =
        std::isnan(options.relative_step)
            ? std::cbrt(std::numeric_limits<double>::epsilon())
            : options.relative_step;
    // |x|_2 as a block reduction: the same bits for every slicing.
    OPTD_ASSIGN_OR_RETURN(Reduction squares, vectors->PointSquares());
    step = relative_step * std::max(1.0, std::sqrt(squares.sums[0]));
  }
  OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Lanczos> lanczos,
                        Lanczos::Create(options.lanczos, std::move(vectors)));
  return std::unique_ptr<CurvatureSolver>(
      new CurvatureSolver(options, step, std::move(lanczos)));
}

CurvatureSolver::CurvatureSolver(const CurvatureOptions& options, double step,
                                 std::unique_ptr<Lanczos> lanczos)
    : options_(options), step_(step), lanczos_(std::move(lanczos)) {
  if (options_.source == ProductSource::kGradientDifference &&
      std::isnan(options_.relative_step)) {
    options_.relative_step = std::cbrt(std::numeric_limits<double>::epsilon());
  }
  summary_.solver = "curvature";
  summary_.dimension = lanczos_->n();
}

Evaluation CurvatureSolver::wants() const {
  return options_.source == ProductSource::kHessianVector
             ? Evaluation::kHessianVector
             : Evaluation::kGradient;
}

absl::Status CurvatureSolver::CheckOutput(const MutableVectorView& out) const {
  if (out.size() != dimension()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the output has ", out.size(),
                     " elements; the dimension is ", dimension()));
  }
  return absl::OkStatus();
}

absl::Status CurvatureSolver::ReadTrialPoint(
    const MutableVectorView& out) const {
  return ReadBatchPoint(0, out);
}

absl::Status CurvatureSolver::ReadBestPoint(
    const MutableVectorView& out) const {
  OPTD_RETURN_IF_ERROR(CheckOutput(out));
  return lanczos_->vectors().ReadPoint(out);
}

absl::Status CurvatureSolver::ReadTrialVector(
    const MutableVectorView& out) const {
  if (finished_ || options_.source != ProductSource::kHessianVector) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Hessian-vector product");
  }
  OPTD_RETURN_IF_ERROR(CheckOutput(out));
  return lanczos_->vectors().ReadVector(out);
}

int CurvatureSolver::batch_size() const {
  return options_.source == ProductSource::kGradientDifference ? 2 : 1;
}

bool CurvatureSolver::batch_told(int k) const {
  return k >= 0 && k < 2 && told_[k];
}

absl::Status CurvatureSolver::ReadBatchPoint(
    int k, const MutableVectorView& out) const {
  if (k < 0 || k >= batch_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch trial ", k, " is not in [0, ", batch_size(), ")"));
  }
  OPTD_RETURN_IF_ERROR(CheckOutput(out));
  if (options_.source == ProductSource::kHessianVector || finished_) {
    return lanczos_->vectors().ReadPoint(out);
  }
  return lanczos_->vectors().ReadShiftedPoint(k == 0 ? step_ : -step_, out);
}

absl::Status CurvatureSolver::CheckTold(const ConstVectorView& in,
                                        const char* what) const {
  if (finished_) {
    return absl::FailedPreconditionError("the diagnosis has finished");
  }
  if (in.size() != dimension()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " has ", in.size(),
                     " elements; the dimension is ", dimension()));
  }
  if (in.on_slices()) return absl::OkStatus();
  for (int64_t i = 0; i < in.size(); ++i) {
    const double v = in.Get(i);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", what, "'s element ", i, " is not finite (", v, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CurvatureSolver::SetTrialGradient(
    const ConstVectorView& gradient) {
  return SetBatchGradient(0, gradient);
}

absl::Status CurvatureSolver::SetBatchGradient(
    int k, const ConstVectorView& gradient) {
  if (options_.source != ProductSource::kGradientDifference) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants a Hessian-vector product, not a "
        "gradient");
  }
  if (k < 0 || k >= 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch trial ", k, " is not in [0, 2)"));
  }
  OPTD_RETURN_IF_ERROR(CheckTold(gradient, "gradient"));
  gradient_set_[k] = false;
  OPTD_RETURN_IF_ERROR(
      lanczos_->vectors().SetGradient(k, gradient, "gradient"));
  gradient_set_[k] = true;
  return absl::OkStatus();
}

absl::Status CurvatureSolver::SetTrialHessianVector(
    const ConstVectorView& product) {
  if (options_.source != ProductSource::kHessianVector) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants a gradient, not a Hessian-vector "
        "product");
  }
  OPTD_RETURN_IF_ERROR(CheckTold(product, "Hessian-vector product"));
  product_set_ = false;
  OPTD_RETURN_IF_ERROR(
      lanczos_->vectors().SetProduct(product, "hessian_vector"));
  product_set_ = true;
  return absl::OkStatus();
}

absl::Status CurvatureSolver::Tell(const TrialResult& result) {
  return TellBatch(0, result);
}

absl::Status CurvatureSolver::TellBatch(int k, const TrialResult& result) {
  if (finished_) {
    return absl::FailedPreconditionError("the diagnosis has finished");
  }
  if (k < 0 || k >= batch_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch trial ", k, " is not in [0, ", batch_size(), ")"));
  }
  if (told_[k]) {
    return absl::FailedPreconditionError(
        absl::StrCat("batch trial ", k, " was already told"));
  }
  const bool hessian_vector = options_.source == ProductSource::kHessianVector;
  if (!result.failed) {
    if (hessian_vector && (!result.has_hessian_vector || !product_set_)) {
      return absl::InvalidArgumentError(
          "the trial wants a Hessian-vector product; none was told");
    }
    if (!hessian_vector && (!result.has_gradient || !gradient_set_[k])) {
      return absl::InvalidArgumentError(
          "the trial wants a gradient; none was told");
    }
  }
  if (result.failed) {
    ++evaluations_;
    ++summary_.failed_evaluations;
    lanczos_->Stop();
    Finish(TerminationReason::kEvaluationFailed);
    return absl::OkStatus();
  }
  if (hessian_vector) {
    OPTD_RETURN_IF_ERROR(Apply());
    product_set_ = false;
    return absl::OkStatus();
  }
  if (!told_[1 - k]) {
    told_[k] = true;
    ++evaluations_;
    return absl::OkStatus();
  }
  // Central difference along the unit vector v (N&W (8.20)), formed on the
  // slices; a refused product leaves trial k untold.
  OPTD_ASSIGN_OR_RETURN(const int64_t bad,
                        lanczos_->vectors().DifferenceProduct(step_));
  if (bad >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the gradient difference (g(x + h v) - g(x - h v)) / (2h) is not "
        "finite at element ",
        bad, " (h = ", step_, "); tell finite gradients"));
  }
  OPTD_RETURN_IF_ERROR(Apply());
  told_ = {false, false};
  gradient_set_ = {false, false};
  return absl::OkStatus();
}

absl::Status CurvatureSolver::Apply() {
  OPTD_RETURN_IF_ERROR(lanczos_->Step());
  ++evaluations_;
  if (lanczos_->finished()) {
    Finish(lanczos_->estimate().converged
               ? TerminationReason::kGradientTolerance
               : TerminationReason::kMaxIterations);
  }
  return absl::OkStatus();
}

void CurvatureSolver::Stop() {
  if (finished_) return;
  lanczos_->Stop();
  Finish(TerminationReason::kStoppedByClient);
}

void CurvatureSolver::Finish(TerminationReason reason) {
  finished_ = true;
  const SpectrumEstimate& e = lanczos_->estimate();
  summary_.reason = reason;
  switch (reason) {
    case TerminationReason::kGradientTolerance:
      summary_.message = "CONVERGENCE: RITZ_RESIDUALS_<=_TOL";
      break;
    case TerminationReason::kMaxIterations:
      summary_.message = "STOP: LANCZOS STEPS REACHED max_steps";
      break;
    case TerminationReason::kEvaluationFailed:
      summary_.message = "ABNORMAL: AN EVALUATION FAILED";
      break;
    default:
      summary_.message = "STOP: STOPPED BY CLIENT";
      break;
  }
  summary_.iterations = e.lanczos_steps;
  summary_.evaluations = evaluations_;
  summary_.options_report = OptionsReport();
}

const SpectrumEstimate* CurvatureSolver::curvature_estimate() const {
  return finished_ ? &lanczos_->estimate() : nullptr;
}

Progress CurvatureSolver::progress() const {
  Progress p;
  p.iterations = lanczos_->products();
  p.evaluations = evaluations_;
  return p;
}

std::string CurvatureSolver::OptionsReport() const {
  std::string report = lanczos_->OptionsReport();
  if (options_.source == ProductSource::kHessianVector) {
    absl::StrAppend(&report, "source = HESSIAN_VECTOR\n");
  } else {
    absl::StrAppendFormat(&report,
                          "source = GRADIENT_DIFFERENCE\nrelative_step = %g\n"
                          "step = %g\n",
                          options_.relative_step, step_);
  }
  return report;
}

}  // namespace optd
