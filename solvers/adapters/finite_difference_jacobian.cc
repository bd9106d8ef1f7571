#include "solvers/adapters/finite_difference_jacobian.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/adapters/batch_adapter.h"
#include "solvers/adapters/finite_difference_stencil.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool AllFinite(const std::vector<double>& v) {
  for (double e : v) {
    if (!std::isfinite(e)) return false;
  }
  return true;
}

// MINPACK fdjac2's step (scipy/optimize/minpack/fdjac2.f):
//   epsmch = dpmpar(1)
//   eps = dsqrt(dmax1(epsfcn,epsmch))
//   h = eps*dabs(temp); if (h .eq. zero) h = eps
// with scipy's epsfcn = diff_step**2, or EPS = 2.220446049250313e-16 when
// diff_step is None (least_squares.py, call_minpack). dpmpar.f's IEEE
// constant is the decimal 2.22044604926d-16, a little above DBL_EPSILON (the
// one scipy 1.10's _minpack holds), so it is the max, and the default eps is
// sqrt(2.22044604926e-16) = 1.4901161193880158e-08, not 2^-26.
double MinpackEps(double relative_step) {
  constexpr double kDpmpar1 = 2.22044604926e-16;
  const double epsfcn = std::isnan(relative_step)
                            ? std::numeric_limits<double>::epsilon()
                            : relative_step * relative_step;
  return std::sqrt(std::max(epsfcn, kDpmpar1));
}

FiniteDifferenceScheme ApproxScheme(JacobianStepRule rule) {
  return rule == JacobianStepRule::kCentral ? FiniteDifferenceScheme::kCentral
                                            : FiniteDifferenceScheme::kForward;
}

const char* RuleName(JacobianStepRule rule) {
  switch (rule) {
    case JacobianStepRule::kMinpackForward:
      return "minpack forward";
    case JacobianStepRule::kForward:
      return "forward";
    case JacobianStepRule::kCentral:
      return "central";
  }
  return "?";
}

class FiniteDifferenceJacobianAdapter : public TrialBatchAdapter {
 public:
  FiniteDifferenceJacobianAdapter(
      std::unique_ptr<Solver> inner,
      const FiniteDifferenceJacobianOptions& options, Bounds bounds)
      : TrialBatchAdapter(std::move(inner)),
        options_(options),
        bounds_(std::move(bounds)),
        n_(inner_->dimension()),
        m_(inner_->residual_count()),
        step_(options_.rule == JacobianStepRule::kMinpackForward
                  ? MinpackEps(options_.relative_step)
                  : ResolveRelativeStep(options_.relative_step,
                                        ApproxScheme(options_.rule),
                                        inner_->state_type())),
        pending_residuals_(m_),
        pending_point_(n_),
        jacobian_(m_ * n_) {}

  // A passed-through residual trial: keep r for the Jacobian that may follow
  // at its point (see TellBatch).
  absl::Status SetBatchResiduals(int k,
                                 const ConstVectorView& residuals) override {
    OPTD_RETURN_IF_ERROR(TrialBatchAdapter::SetBatchResiduals(k, residuals));
    if (pass_through_) residuals.CopyTo(0, m_, pending_residuals_.data());
    return absl::OkStatus();
  }
  absl::Status TellBatch(int k, const TrialResult& result) override;

 protected:
  bool OwnsEvaluation(Evaluation wants) const override {
    return WantsJacobian(wants);
  }
  Evaluation OwnWants(int k) const override { return Evaluation::kResiduals; }
  absl::Status ReadOwnPoint(int k,
                            const MutableVectorView& out) const override {
    return stencil_.ReadPoint(*inner_, k, out);
  }
  std::optional<PointDelta> OwnPointDelta(int k) const override {
    return stencil_.Delta(k);
  }
  absl::Status SetOwnResiduals(int k,
                               const ConstVectorView& residuals) override;
  absl::Status CheckOwnResult(int k, const TrialResult& result) const override {
    if (result.failed || result.has_residuals) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "trial ", k, " of the batch wants residuals; set them, or failed"));
  }
  absl::Status TellOwn(int k, const TrialResult& result) override;
  absl::Status FinishOwnBatch() override;
  absl::Status NextGradientBatch() override;
  std::string OwnOptionsReport() const override {
    return absl::StrFormat(
        "    finite-difference Jacobian: %s, %s %g, bounds %s\n",
        RuleName(options_.rule),
        options_.rule == JacobianStepRule::kMinpackForward ? "eps"
                                                           : "relative_step",
        step_, bounds_.any() ? "yes" : "none");
  }

 private:
  double* Residuals(int t) { return residuals_.data() + t * m_; }
  CoordinateStencil PlanColumn(int64_t j, double x_j) const;
  // The inner solver's trial point equals the point of the held r(x).
  bool HoldsCenterResiduals() const;

  FiniteDifferenceJacobianOptions options_;
  Bounds bounds_;
  int64_t n_, m_;
  // kMinpackForward: fdjac2's eps; otherwise the resolved relative step.
  double step_;
  FiniteDifferenceStencil stencil_;
  std::vector<double> residuals_;  // per stencil trial, m each
  std::vector<char> failed_;       // per stencil trial
  // r at the point of the last residual trial that succeeded.
  bool held_ = false;
  std::vector<double> held_point_, held_residuals_;
  // A passed-through trial's point and residuals before its tell.
  std::vector<double> pending_residuals_, pending_point_;
  std::vector<double> jacobian_;  // m x n, row-major
};

CoordinateStencil FiniteDifferenceJacobianAdapter::PlanColumn(
    int64_t j, double x_j) const {
  if (options_.rule == JacobianStepRule::kMinpackForward) {
    CoordinateStencil s;
    s.kind = CoordinateStencil::Kind::kForward;
    double h = step_ * std::fabs(x_j);
    if (h == 0.0) h = step_;
    s.a = s.b = x_j + h;
    s.step = h;
    return s;
  }
  return PlanApproxDerivativeCoordinate(x_j, bounds_.lower(j), bounds_.upper(j),
                                        ApproxScheme(options_.rule), step_,
                                        inner_->state_type());
}

bool FiniteDifferenceJacobianAdapter::HoldsCenterResiduals() const {
  if (!held_) return false;
  for (int64_t j = 0; j < n_; ++j) {
    if (stencil_.center(j) != held_point_[j]) return false;
  }
  return true;
}

absl::Status FiniteDifferenceJacobianAdapter::NextGradientBatch() {
  OPTD_RETURN_IF_ERROR(stencil_.PlanWith(
      *inner_, [this](int64_t j, double x_j) { return PlanColumn(j, x_j); }));
  const int trials = stencil_.trials();
  residuals_.assign(static_cast<size_t>(trials * m_), kNaN);
  failed_.assign(trials, 0);
  StartOwnBatch(trials);
  if (!WantsResiduals(inner_->wants()) && HoldsCenterResiduals()) {
    // x was evaluated last (lmdif's fdjac2 reuses fvec): trial 0 is told
    // already, and stays in the batch as the base of the others' deltas.
    std::copy(held_residuals_.begin(), held_residuals_.end(), Residuals(0));
    MarkOwnTold(0);
  }
  return absl::OkStatus();
}

absl::Status FiniteDifferenceJacobianAdapter::SetOwnResiduals(
    int k, const ConstVectorView& residuals) {
  if (residuals.size() != m_) {
    return absl::InvalidArgumentError(
        absl::StrCat("residuals has ", residuals.size(), " elements; m = ", m_,
                     " (LeastSquaresOptions.residuals)"));
  }
  residuals.CopyTo(0, m_, Residuals(k));
  return absl::OkStatus();
}

absl::Status FiniteDifferenceJacobianAdapter::TellOwn(
    int k, const TrialResult& result) {
  OPTD_RETURN_IF_ERROR(CheckOwnResult(k, result));
  bool failed = result.failed;
  for (int64_t i = 0; i < m_ && !failed; ++i) {
    failed = !std::isfinite(Residuals(k)[i]);
  }
  failed_[k] = failed ? 1 : 0;
  return absl::OkStatus();
}

absl::Status FiniteDifferenceJacobianAdapter::FinishOwnBatch() {
  const bool wants_residuals = WantsResiduals(inner_->wants());
  TrialResult result;
  if (failed_[0] != 0) {
    result.failed = true;
    return inner_->Tell(result);
  }
  held_ = true;
  held_point_.resize(n_);
  for (int64_t j = 0; j < n_; ++j) held_point_[j] = stencil_.center(j);
  held_residuals_.assign(Residuals(0), Residuals(0) + m_);
  const double* r0 = Residuals(0);
  bool formed = true;
  for (int64_t j = 0; j < n_ && formed; ++j) {
    const CoordinateStencil& s = stencil_.coordinate(j);
    const int t = stencil_.first_trial(j);
    const int count = s.kind == CoordinateStencil::Kind::kFixed     ? 0
                      : s.kind == CoordinateStencil::Kind::kForward ? 1
                                                                    : 2;
    const double* ra = count > 0 && failed_[t] == 0 ? Residuals(t) : nullptr;
    const double* rb =
        count > 1 && failed_[t + 1] == 0 ? Residuals(t + 1) : nullptr;
    if (count == 1) rb = ra;
    for (int64_t i = 0; i < m_; ++i) {
      const double fa = ra != nullptr ? ra[i] : kNaN;
      const double fb = rb != nullptr ? rb[i] : kNaN;
      const double d =
          CoordinateDerivative(s, stencil_.center(j), r0[i], fa, fb);
      jacobian_[i * n_ + j] = d;
      formed = formed && std::isfinite(d);
    }
  }
  // A column that cannot be formed, or one that overflowed, is a failed
  // evaluation: the batch is told and must move on.
  if (!formed || !inner_
                      ->SetTrialJacobian(
                          ConstVectorView::Float64(jacobian_.data(), m_ * n_))
                      .ok()) {
    result.failed = true;
    return inner_->Tell(result);
  }
  result.has_jacobian = true;
  if (wants_residuals) {
    OPTD_RETURN_IF_ERROR(
        inner_->SetTrialResiduals(ConstVectorView::Float64(r0, m_)));
    result.has_residuals = true;
  }
  return inner_->Tell(result);
}

absl::Status FiniteDifferenceJacobianAdapter::TellBatch(
    int k, const TrialResult& result) {
  if (!pass_through_ || inner_->finished() ||
      !WantsResiduals(inner_->wants())) {
    return TrialBatchAdapter::TellBatch(k, result);
  }
  // The inner solver moves on inside the tell and may then want J at this
  // point: hold r before, and put the old back if the tell is refused.
  const bool keep =
      !result.failed && result.has_residuals && AllFinite(pending_residuals_);
  OPTD_RETURN_IF_ERROR(inner_->ReadTrialPoint(
      MutableVectorView::Float64(pending_point_.data(), n_)));
  if (!keep) return TrialBatchAdapter::TellBatch(k, result);
  const bool was_held = held_;
  std::swap(held_point_, pending_point_);
  std::swap(held_residuals_, pending_residuals_);
  held_ = true;
  absl::Status status = TrialBatchAdapter::TellBatch(k, result);
  if (!status.ok()) {
    std::swap(held_point_, pending_point_);
    std::swap(held_residuals_, pending_residuals_);
    held_ = was_held;
  }
  pending_residuals_.resize(m_);
  pending_point_.resize(n_);
  return status;
}

}  // namespace

absl::Status FiniteDifferenceJacobianOptions::Validate() const {
  return ValidateRelativeStep(relative_step, "finite_difference.relative_step");
}

absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferenceJacobian(
    std::unique_ptr<Solver> inner,
    const FiniteDifferenceJacobianOptions& options, Bounds bounds) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(CheckInnerSolver(inner.get()));
  if (inner->residual_count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a finite-difference Jacobian needs a least-squares solver; the ",
        std::string(inner->name()), " solver wants no residuals"));
  }
  if (bounds.size() == 0) bounds = Bounds::Unbounded(inner->dimension());
  if (bounds.size() != inner->dimension()) {
    return DimensionError("bounds", bounds.size(), inner->dimension());
  }
  if (bounds.any() && options.rule == JacobianStepRule::kMinpackForward) {
    return absl::InvalidArgumentError(
        "MINPACK's forward differences (fdjac2) know no bounds: its steps "
        "may leave the box; choose the forward or central rule with bounds");
  }
  return StartAdapter(std::make_unique<FiniteDifferenceJacobianAdapter>(
      std::move(inner), options, std::move(bounds)));
}

int64_t JacobianEvaluations(int64_t n, JacobianStepRule rule) {
  return rule == JacobianStepRule::kCentral ? 2 * n : n;
}

int64_t FiniteDifferenceJacobianTrials(int64_t n, JacobianStepRule rule) {
  return JacobianEvaluations(n, rule) + 1;
}

int64_t FiniteDifferenceJacobianBytes(int64_t n, int64_t m,
                                      JacobianStepRule rule) {
  constexpr int64_t kDouble = sizeof(double);
  const int64_t trials = FiniteDifferenceJacobianTrials(n, rule);
  return FiniteDifferenceStencil::Bytes(n, trials) +
         trials * (m * kDouble + 2) + m * n * kDouble + 2 * (m + n) * kDouble;
}

}  // namespace optd
