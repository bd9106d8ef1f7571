#include "solvers/least_squares/least_squares_solver.h"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TerminationReason ReasonFor(int status) {
  switch (status) {
    case kLeastSquaresGtol:
      return TerminationReason::kGradientTolerance;
    case kLeastSquaresFtol:
    case kLeastSquaresXtol:
    case kLeastSquaresFtolAndXtol:
      return TerminationReason::kFunctionTolerance;
    case kLeastSquaresMaxNfev:
      return TerminationReason::kMaxEvaluations;
    default:
      return TerminationReason::kEvaluationFailed;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> LeastSquaresSolver::Create(
    const LevenbergMarquardtOptions& options, const ConstVectorView& x0,
    int m) {
  Eigen::VectorXd x(x0.size());
  x0.CopyTo(0, x0.size(), x.data());
  for (int64_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("x0[", i, "] is ", x[i], "; x0 must be finite"));
    }
  }
  absl::StatusOr<std::unique_ptr<LevenbergMarquardt>> lm =
      LevenbergMarquardt::Create(options, x, m);
  if (!lm.ok()) return lm.status();
  return std::unique_ptr<LeastSquaresSolver>(
      new LeastSquaresSolver(*std::move(lm)));
}

LeastSquaresSolver::LeastSquaresSolver(std::unique_ptr<LevenbergMarquardt> lm)
    : lm_(std::move(lm)),
      residuals_(lm_->m()),
      jacobian_(lm_->m(), lm_->n()),
      initial_cost_(kNaN) {
  summary_.solver = "least_squares";
  summary_.dimension = lm_->n();
}

Evaluation LeastSquaresSolver::wants() const {
  if (lm_->wants_residuals() && lm_->wants_jacobian()) {
    return Evaluation::kResidualsAndJacobian;
  }
  return lm_->wants_residuals() ? Evaluation::kResiduals
                                : Evaluation::kJacobian;
}

absl::Status LeastSquaresSolver::ReadTrialPoint(
    const MutableVectorView& out) const {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  out.CopyFrom(0, lm_->n(), lm_->trial_point().data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::ReadBestPoint(
    const MutableVectorView& out) const {
  out.CopyFrom(0, lm_->n(), lm_->x().data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::ReadBestGradient(
    const MutableVectorView& out) const {
  const LeastSquaresSummary* s = least_squares_summary();
  if (s == nullptr || s->grad.size() != lm_->n()) {
    return absl::FailedPreconditionError(
        "least_squares holds J^T r only once finished with J(x) known");
  }
  out.CopyFrom(0, lm_->n(), s->grad.data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::SetTrialGradient(const ConstVectorView&) {
  return absl::FailedPreconditionError(
      "least-squares trials want residuals and Jacobians, not gradients");
}

absl::Status LeastSquaresSolver::SetTrialResiduals(
    const ConstVectorView& residuals) {
  if (finished() || !lm_->wants_residuals()) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no residuals");
  }
  if (residuals.size() != lm_->m()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "residuals has ", residuals.size(), " elements; m = ", lm_->m(),
        " (LeastSquaresOptions.residuals)"));
  }
  residuals.CopyTo(0, lm_->m(), residuals_.data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::SetTrialJacobian(
    const ConstVectorView& jacobian) {
  if (finished() || !lm_->wants_jacobian()) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Jacobian");
  }
  const int64_t m = lm_->m(), n = lm_->n();
  if (jacobian.size() != m * n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jacobian has ", jacobian.size(), " elements; it needs m*n = ", m, "*",
        n, " = ", m * n, " (row-major)"));
  }
  // Row-major on the wire, column-major in Eigen: check all before copying.
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows(
      m, n);
  jacobian.CopyTo(0, m * n, rows.data());
  for (int64_t k = 0; k < m * n; ++k) {
    if (!std::isfinite(rows.data()[k])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "jacobian[", k, "] (row ", k / n, ", column ", k % n, ") is ",
          rows.data()[k],
          "; a Jacobian must be finite (tell failed if it could not be "
          "evaluated)"));
    }
  }
  jacobian_ = rows;
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::Tell(const TrialResult& result) {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  const bool initial = told_ == 0;
  if (result.failed) {
    ++failed_;
    absl::Status status = lm_->TellFailed();
    if (!status.ok()) return status;
  } else {
    if (lm_->wants_residuals() && !result.has_residuals) {
      return absl::InvalidArgumentError("the trial wants residuals");
    }
    if (lm_->wants_jacobian() && !result.has_jacobian) {
      return absl::InvalidArgumentError("the trial wants a Jacobian");
    }
    if (lm_->wants_residuals() && !residuals_.allFinite()) ++failed_;
    absl::Status status = lm_->Tell(residuals_, jacobian_);
    if (!status.ok()) return status;
  }
  ++told_;
  if (initial) initial_cost_ = lm_->progress().cost;
  if (lm_->finished()) Finish();
  return absl::OkStatus();
}

void LeastSquaresSolver::Stop() {
  if (finished()) return;
  stopped_ = true;
  const LeastSquaresProgress p = lm_->progress();
  summary_.reason = TerminationReason::kStoppedByClient;
  summary_.message = "STOP: REQUESTED BY CLIENT";
  summary_.value = p.cost;
  summary_.initial_value = initial_cost_;
  summary_.gradient_max_norm = kNaN;
  summary_.iterations = p.iterations;
  summary_.evaluations = told_;
  summary_.failed_evaluations = failed_;
  summary_.options_report = lm_->OptionsReport();
}

void LeastSquaresSolver::Finish() {
  const LeastSquaresSummary& s = lm_->summary();
  summary_.reason = ReasonFor(s.status);
  summary_.message = s.message;
  summary_.value = s.cost;
  summary_.initial_value = initial_cost_;
  summary_.gradient_max_norm = s.optimality;
  summary_.iterations = lm_->progress().iterations;
  summary_.evaluations = told_;
  summary_.failed_evaluations = failed_;
  summary_.options_report = lm_->OptionsReport();
}

const LeastSquaresSummary* LeastSquaresSolver::least_squares_summary() const {
  return !stopped_ && lm_->finished() ? &lm_->summary() : nullptr;
}

Progress LeastSquaresSolver::progress() const {
  const LeastSquaresProgress p = lm_->progress();
  Progress out;
  out.iterations = p.iterations;
  out.evaluations = told_;
  out.best_value = p.cost;
  out.current_value = p.cost;
  if (const LeastSquaresSummary* s = least_squares_summary()) {
    out.gradient_max_norm = s->optimality;
  }
  out.trust_radius = p.delta;
  return out;
}

}  // namespace optd
