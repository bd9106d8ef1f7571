// CurvatureSolver: Lanczos on H(x) behind the Solver interface
// (curvature_solver.h).
#include "solvers/curvature/curvature_solver.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solvers/core/option_checks.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

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
    const CurvatureOptions& options, const ConstVectorView& x) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  if (x.size() < 1) {
    return absl::InvalidArgumentError(
        "x0 is empty; the point to diagnose "
        "needs at least one element");
  }
  Eigen::VectorXd point(x.size());
  x.CopyTo(0, x.size(), point.data());
  for (int64_t i = 0; i < point.size(); ++i) {
    if (!std::isfinite(point(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("x0[", i, "] is not finite (", point(i), ")"));
    }
  }
  absl::StatusOr<std::unique_ptr<Lanczos>> lanczos =
      Lanczos::Create(options.lanczos, point.size());
  if (!lanczos.ok()) return lanczos.status();
  return std::unique_ptr<CurvatureSolver>(
      new CurvatureSolver(options, std::move(point), *std::move(lanczos)));
}

CurvatureSolver::CurvatureSolver(const CurvatureOptions& options,
                                 Eigen::VectorXd x,
                                 std::unique_ptr<Lanczos> lanczos)
    : options_(options), x_(std::move(x)), lanczos_(std::move(lanczos)) {
  if (options_.source == ProductSource::kGradientDifference) {
    if (std::isnan(options_.relative_step)) {
      options_.relative_step =
          std::cbrt(std::numeric_limits<double>::epsilon());
    }
    step_ = options_.relative_step * std::max(1.0, x_.norm());
  }
  summary_.solver = "curvature";
  summary_.dimension = x_.size();
}

Evaluation CurvatureSolver::wants() const {
  return options_.source == ProductSource::kHessianVector
             ? Evaluation::kHessianVector
             : Evaluation::kGradient;
}

absl::Status CurvatureSolver::WriteOut(const Eigen::VectorXd& v,
                                       const MutableVectorView& out) const {
  if (out.size() != v.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the output has ", out.size(),
                     " elements; the dimension is ", v.size()));
  }
  out.CopyFrom(0, v.size(), v.data());
  return absl::OkStatus();
}

absl::Status CurvatureSolver::ReadTrialPoint(
    const MutableVectorView& out) const {
  return ReadBatchPoint(0, out);
}

absl::Status CurvatureSolver::ReadBestPoint(
    const MutableVectorView& out) const {
  return WriteOut(x_, out);
}

absl::Status CurvatureSolver::ReadTrialVector(
    const MutableVectorView& out) const {
  if (finished_ || options_.source != ProductSource::kHessianVector) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Hessian-vector product");
  }
  return WriteOut(lanczos_->vector(), out);
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
  if (options_.source == ProductSource::kHessianVector || finished_) {
    return WriteOut(x_, out);
  }
  const double h = k == 0 ? step_ : -step_;
  return WriteOut(x_ + h * lanczos_->vector(), out);
}

absl::Status CurvatureSolver::CopyIn(const ConstVectorView& in,
                                     const char* what,
                                     Eigen::VectorXd* out) const {
  if (finished_) {
    return absl::FailedPreconditionError("the diagnosis has finished");
  }
  if (in.size() != x_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " has ", in.size(),
                     " elements; the dimension is ", x_.size()));
  }
  Eigen::VectorXd copy(in.size());
  in.CopyTo(0, in.size(), copy.data());
  for (int64_t i = 0; i < copy.size(); ++i) {
    if (!std::isfinite(copy(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the ", what, "'s element ", i, " is not finite (", copy(i), ")"));
    }
  }
  *out = std::move(copy);
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
  return CopyIn(gradient, "gradient", &gradient_[k]);
}

absl::Status CurvatureSolver::SetTrialHessianVector(
    const ConstVectorView& product) {
  if (options_.source != ProductSource::kHessianVector) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants a gradient, not a Hessian-vector "
        "product");
  }
  return CopyIn(product, "Hessian-vector product", &product_);
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
    if (hessian_vector && !result.has_hessian_vector) {
      return absl::InvalidArgumentError(
          "the trial wants a Hessian-vector product; none was told");
    }
    if (!hessian_vector && !result.has_gradient) {
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
  if (hessian_vector) return Apply(product_);
  if (!told_[1 - k]) {
    told_[k] = true;
    ++evaluations_;
    return absl::OkStatus();
  }
  // Central difference along the unit vector v (N&W (8.20)); a refused
  // product leaves trial k untold.
  absl::Status applied = Apply((gradient_[0] - gradient_[1]) / (2.0 * step_));
  if (applied.ok()) told_ = {false, false};
  return applied;
}

absl::Status CurvatureSolver::Apply(const Eigen::VectorXd& product) {
  absl::Status told = lanczos_->Tell(product);
  if (!told.ok()) return told;
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
