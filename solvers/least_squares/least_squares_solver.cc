#include "solvers/least_squares/least_squares_solver.h"

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::string_view kStateTag = "optd.least_squares_solver.v1";

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

absl::StatusOr<Eigen::VectorXd> FiniteX0(const ConstVectorView& x0) {
  Eigen::VectorXd x(x0.size());
  x0.CopyTo(0, x0.size(), x.data());
  for (int64_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("x0[", i, "] is ", x[i], "; x0 must be finite"));
    }
  }
  return x;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> LeastSquaresSolver::Create(
    const LevenbergMarquardtOptions& options, const ConstVectorView& x0,
    int m) {
  absl::StatusOr<Eigen::VectorXd> x = FiniteX0(x0);
  if (!x.ok()) return x.status();
  absl::StatusOr<std::unique_ptr<LevenbergMarquardt>> lm =
      LevenbergMarquardt::Create(options, *x, m);
  if (!lm.ok()) return lm.status();
  return std::unique_ptr<LeastSquaresSolver>(
      new LeastSquaresSolver(*std::move(lm)));
}

absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> LeastSquaresSolver::Create(
    const TrustRegionReflectiveOptions& options, const ConstVectorView& x0,
    int m) {
  absl::StatusOr<Eigen::VectorXd> x = FiniteX0(x0);
  if (!x.ok()) return x.status();
  absl::StatusOr<std::unique_ptr<TrustRegionReflective>> trf =
      TrustRegionReflective::Create(options, *x, m);
  if (!trf.ok()) return trf.status();
  return std::unique_ptr<LeastSquaresSolver>(
      new LeastSquaresSolver(*std::move(trf)));
}

absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> LeastSquaresSolver::Create(
    const TrfLsmrOptions& options, const ConstVectorView& x0, int m) {
  absl::StatusOr<Eigen::VectorXd> x = FiniteX0(x0);
  if (!x.ok()) return x.status();
  absl::StatusOr<std::unique_ptr<TrfLsmr>> trf =
      TrfLsmr::Create(options, *x, m);
  if (!trf.ok()) return trf.status();
  return std::unique_ptr<LeastSquaresSolver>(
      new LeastSquaresSolver(*std::move(trf)));
}

LeastSquaresSolver::LeastSquaresSolver(
    std::unique_ptr<LeastSquaresMethod> method)
    : method_(std::move(method)),
      residuals_(method_->m()),
      initial_cost_(kNaN) {
  summary_.solver = "least_squares";
  summary_.dimension = method_->n();
}

Evaluation LeastSquaresSolver::wants() const {
  if (method_->wants_jacobian_vector()) return Evaluation::kJacobianVector;
  if (method_->wants_jacobian_transpose_vector()) {
    return Evaluation::kJacobianTransposeVector;
  }
  if (method_->wants_residuals() && method_->wants_jacobian()) {
    return Evaluation::kResidualsAndJacobian;
  }
  return method_->wants_residuals() ? Evaluation::kResiduals
                                    : Evaluation::kJacobian;
}

absl::Status LeastSquaresSolver::ReadTrialPoint(
    const MutableVectorView& out) const {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  out.CopyFrom(0, method_->n(), method_->trial_point().data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::ReadBestPoint(
    const MutableVectorView& out) const {
  out.CopyFrom(0, method_->n(), method_->x().data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::ReadBestGradient(
    const MutableVectorView& out) const {
  const LeastSquaresSummary* s = least_squares_summary();
  if (s == nullptr || s->grad.size() != method_->n()) {
    return absl::FailedPreconditionError(
        "least_squares holds J^T r only once finished with J(x) known");
  }
  out.CopyFrom(0, method_->n(), s->grad.data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::SetTrialGradient(const ConstVectorView&) {
  return absl::FailedPreconditionError(
      "least-squares trials want residuals and Jacobians, not gradients");
}

absl::Status LeastSquaresSolver::SetTrialResiduals(
    const ConstVectorView& residuals) {
  if (finished() || !method_->wants_residuals()) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no residuals");
  }
  if (residuals.size() != method_->m()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "residuals has ", residuals.size(), " elements; m = ", method_->m(),
        " (LeastSquaresOptions.residuals)"));
  }
  residuals.CopyTo(0, method_->m(), residuals_.data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::SetTrialJacobian(
    const ConstVectorView& jacobian) {
  if (finished() || !method_->wants_jacobian()) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Jacobian");
  }
  const int64_t m = method_->m(), n = method_->n();
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

absl::Status LeastSquaresSolver::ReadTrialVector(
    const MutableVectorView& out) const {
  if (finished() || !WantsJacobianProduct(wants())) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Jacobian product");
  }
  const Eigen::VectorXd& v = method_->trial_vector();
  if (out.size() != v.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the trial's vector has ", v.size(), " elements; ",
                     out.size(), " were asked for"));
  }
  out.CopyFrom(0, v.size(), v.data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::SetTrialJacobianProduct(
    const ConstVectorView& product) {
  if (finished() || !WantsJacobianProduct(wants())) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Jacobian product");
  }
  const bool jv = wants() == Evaluation::kJacobianVector;
  const int64_t expected = jv ? method_->m() : method_->n();
  if (product.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        jv ? "jacobian_vector has " : "jacobian_transpose_vector has ",
        product.size(), " elements; ",
        jv ? "J v needs m = " : "J^T u needs n = ", expected));
  }
  product_.resize(expected);
  product.CopyTo(0, expected, product_.data());
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::Tell(const TrialResult& result) {
  if (finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
  const bool initial = told_ == 0;
  if (result.failed) {
    ++failed_;
    absl::Status status = method_->TellFailed();
    if (!status.ok()) return status;
  } else if (WantsJacobianProduct(wants())) {
    if (!result.has_jacobian_product) {
      return absl::InvalidArgumentError("the trial wants a Jacobian product");
    }
    if (!product_.allFinite()) ++failed_;
    absl::Status status = method_->TellProduct(product_);
    if (!status.ok()) return status;
  } else {
    if (method_->wants_residuals() && !result.has_residuals) {
      return absl::InvalidArgumentError("the trial wants residuals");
    }
    if (method_->wants_jacobian() && !result.has_jacobian) {
      return absl::InvalidArgumentError("the trial wants a Jacobian");
    }
    if (method_->wants_residuals() && !residuals_.allFinite()) ++failed_;
    absl::Status status = method_->Tell(residuals_, jacobian_);
    if (!status.ok()) return status;
  }
  ++told_;
  if (initial) initial_cost_ = method_->progress().cost;
  if (method_->finished()) Finish();
  return absl::OkStatus();
}

void LeastSquaresSolver::Stop() {
  if (finished()) return;
  stopped_ = true;
  const LeastSquaresProgress p = method_->progress();
  summary_.reason = TerminationReason::kStoppedByClient;
  summary_.message = "STOP: REQUESTED BY CLIENT";
  summary_.value = p.cost;
  summary_.initial_value = initial_cost_;
  summary_.gradient_max_norm = kNaN;
  summary_.iterations = p.iterations;
  summary_.evaluations = told_;
  summary_.failed_evaluations = failed_;
  summary_.options_report = method_->OptionsReport();
}

void LeastSquaresSolver::Finish() {
  const LeastSquaresSummary& s = method_->summary();
  summary_.reason = ReasonFor(s.status);
  summary_.message = s.message;
  summary_.value = s.cost;
  summary_.initial_value = initial_cost_;
  summary_.gradient_max_norm = s.optimality;
  summary_.iterations = method_->progress().iterations;
  summary_.evaluations = told_;
  summary_.failed_evaluations = failed_;
  summary_.options_report = method_->OptionsReport();
}

const LeastSquaresSummary* LeastSquaresSolver::least_squares_summary() const {
  return !stopped_ && method_->finished() ? &method_->summary() : nullptr;
}

Progress LeastSquaresSolver::progress() const {
  const LeastSquaresProgress p = method_->progress();
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

absl::Status LeastSquaresSolver::SaveState(std::string* out) const {
  out->clear();
  StateWriter w(out);
  w.Tag(kStateTag);
  w.Flag(stopped_);
  w.I64(told_);
  w.I64(failed_);
  w.F64(initial_cost_);
  std::string method;
  OPTD_RETURN_IF_ERROR(method_->SaveState(&method));
  out->append(method);
  return absl::OkStatus();
}

absl::Status LeastSquaresSolver::RestoreState(std::string_view state) {
  StateReader r(state);
  const std::string what = "the optd.least_squares_solver.v1 state";
  if (!r.Tag(kStateTag)) return r.Error(what);
  const bool stopped = r.Flag("stopped");
  const int64_t told = r.Count("told", 0, int64_t{1} << 40);
  const int64_t failed = r.Count("failed", 0, int64_t{1} << 40);
  const double initial_cost = r.F64();
  if (!r.ok()) return r.Error(what);
  OPTD_RETURN_IF_ERROR(method_->RestoreState(r.Rest()));
  stopped_ = false;
  told_ = told;
  failed_ = failed;
  initial_cost_ = initial_cost;
  summary_.reason = TerminationReason::kNone;
  if (stopped) {
    Stop();
  } else if (method_->finished()) {
    Finish();
  }
  return absl::OkStatus();
}

int64_t LeastSquaresSolver::StateBytes() const {
  return static_cast<int64_t>(kStateTag.size()) + 4 * 8 + method_->StateBytes();
}

}  // namespace optd
