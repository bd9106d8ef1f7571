// TrustRegionReflective (trust_region_reflective.h): scipy 1.10's
// scipy/optimize/_lsq/trf.py (trf_bounds, trf_no_bounds; tr_solver='exact')
// cut at its fun and jac calls. Comments quote the Python they port;
// trf_common.h has the helpers. SaveState and RestoreState are in
// trust_region_reflective_state.cc.
#include "solvers/least_squares/trust_region_reflective.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "Eigen/SVD"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "solvers/core/option_checks.h"
#include "solvers/least_squares/trf_common.h"

namespace optd {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr absl::string_view kName = "trust_region_reflective";

absl::Status CheckBoundSide(const std::vector<double>& side,
                            absl::string_view field, int n) {
  if (side.empty()) return absl::OkStatus();
  if (static_cast<int>(side.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ".", field, " has ", side.size(),
                     " entries; it must have n = ", n, " (or none)"));
  }
  for (int i = 0; i < n; ++i) {
    if (std::isnan(side[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(kName, ".", field, "[", i, "] is NaN"));
    }
  }
  return absl::OkStatus();
}

Eigen::VectorXd BoundVector(const std::vector<double>& side, int n,
                            double fill) {
  if (side.empty()) return Eigen::VectorXd::Constant(n, fill);
  return Eigen::Map<const Eigen::VectorXd>(side.data(), n);
}

}  // namespace

absl::Status ValidateTrustRegionReflectiveOptions(
    const TrustRegionReflectiveOptions& options, int n, int m) {
  const char* const kTolNames[] = {"ftol", "xtol", "gtol"};
  const double tols[] = {options.ftol, options.xtol, options.gtol};
  for (int k = 0; k < 3; ++k) {
    if (!(tols[k] >= 0.0) || std::isinf(tols[k]))
      return OptionOutOfRange(kName, kTolNames[k], tols[k], "[0, inf)");
  }
  if (options.ftol < kEps && options.xtol < kEps && options.gtol < kEps) {
    // least_squares.py's check_tolerance.
    return absl::InvalidArgumentError(
        absl::StrCat(kName,
                     ": at least one of ftol, xtol, gtol must be >= machine "
                     "epsilon (",
                     kEps, "); they are ", options.ftol, ", ", options.xtol,
                     ", ", options.gtol));
  }
  if (options.max_nfev < 0 || options.max_nfev > (int64_t{1} << 40)) {
    return OptionOutOfRange(kName, "max_nfev",
                            static_cast<double>(options.max_nfev),
                            "[0, 1099511627776] (0: 100 n)");
  }
  if (!(options.f_scale > 0.0) || std::isinf(options.f_scale))
    return OptionOutOfRange(kName, "f_scale", options.f_scale, "(0, inf)");
  if (static_cast<int>(options.loss) < 0 ||
      static_cast<int>(options.loss) > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ".loss is ", static_cast<int>(options.loss),
                     "; it must be linear, soft_l1, huber, cauchy or arctan"));
  }
  if (n < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName, ": x0 has ", n, " variables; it must have at least 1"));
  }
  if (m < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName, ": m = ", m, " residuals; there must be at least 1"));
  }
  if (!options.x_scale.empty()) {
    if (options.x_scale_jac) {
      return absl::InvalidArgumentError(absl::StrCat(
          kName, ".x_scale must be empty when x_scale_jac is set"));
    }
    if (static_cast<int>(options.x_scale.size()) != n) {
      return absl::InvalidArgumentError(
          absl::StrCat(kName, ".x_scale has ", options.x_scale.size(),
                       " entries; it must have n = ", n, " (or none)"));
    }
    for (size_t i = 0; i < options.x_scale.size(); ++i) {
      const double s = options.x_scale[i];
      if (!(s > 0.0) || std::isinf(s)) {
        return OptionOutOfRange(kName, absl::StrCat("x_scale[", i, "]"), s,
                                "(0, inf)");
      }
    }
  }
  absl::Status side = CheckBoundSide(options.lower, "lower", n);
  if (side.ok()) side = CheckBoundSide(options.upper, "upper", n);
  if (!side.ok()) return side;
  const Eigen::VectorXd lb = BoundVector(options.lower, n, -kInf);
  const Eigen::VectorXd ub = BoundVector(options.upper, n, kInf);
  for (int i = 0; i < n; ++i) {
    if (!(lb(i) < ub(i))) {
      // least_squares.py: "Each lower bound must be strictly less than each
      // upper bound."
      return absl::InvalidArgumentError(
          absl::StrCat(kName, ": lower[", i, "] = ", lb(i),
                       " is not below upper[", i, "] = ", ub(i),
                       "; each lower bound must be strictly less than its "
                       "upper bound"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTrustRegionReflectiveX0(
    const TrustRegionReflectiveOptions& options, const Eigen::VectorXd& x0) {
  const int n = static_cast<int>(x0.size());
  const Eigen::VectorXd lb = BoundVector(options.lower, n, -kInf);
  const Eigen::VectorXd ub = BoundVector(options.upper, n, kInf);
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(x0(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          kName, ": x0[", i, "] is ", x0(i), "; it must be finite"));
    }
    if (!(x0(i) >= lb(i) && x0(i) <= ub(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          kName, ": x0[", i, "] = ", x0(i), " is outside the bounds [", lb(i),
          ", ", ub(i), "] (scipy: `x0` is infeasible)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrustRegionReflective>>
TrustRegionReflective::Create(const TrustRegionReflectiveOptions& options,
                              const Eigen::VectorXd& x0, int m) {
  const int n = static_cast<int>(x0.size());
  absl::Status valid = ValidateTrustRegionReflectiveOptions(options, n, m);
  if (valid.ok()) valid = ValidateTrustRegionReflectiveX0(options, x0);
  if (!valid.ok()) return valid;
  return std::unique_ptr<TrustRegionReflective>(
      new TrustRegionReflective(options, x0, m));
}

TrustRegionReflective::TrustRegionReflective(
    const TrustRegionReflectiveOptions& options, const Eigen::VectorXd& x0,
    int m)
    : options_(options), n_(static_cast<int>(x0.size())), m_(m) {
  lb_ = BoundVector(options.lower, n_, -kInf);
  ub_ = BoundVector(options.upper, n_, kInf);
  // trf: trf_no_bounds when np.all(lb == -inf) and np.all(ub == inf).
  bounded_ = !((lb_.array() == -kInf).all() && (ub_.array() == kInf).all());
  // trf_*: max_nfev = x0.size * 100 when None.
  max_nfev_ = options.max_nfev > 0 ? options.max_nfev : int64_t{100} * n_;
  // least_squares.py: x0 = make_strictly_feasible(x0, lb, ub) for 'trf'.
  x_ = trf::MakeStrictlyFeasible(x0, lb_, ub_, 1e-10);
  f_ = f_true_ = f_new_ = Eigen::VectorXd::Zero(m_);
  j_ = j_h_ = Eigen::MatrixXd::Zero(m_, n_);
  g_ = scale_ = scale_inv_ = d_ = diag_h_ = g_h_ = Eigen::VectorXd::Zero(n_);
  x_new_ = step_ = step_h_ = Eigen::VectorXd::Zero(n_);
}

const Eigen::VectorXd& TrustRegionReflective::trial_point() const {
  return phase_ == Phase::kStep ? x_new_ : x_;
}

bool TrustRegionReflective::wants_residuals() const {
  return phase_ == Phase::kInitial || phase_ == Phase::kStep;
}

bool TrustRegionReflective::wants_jacobian() const {
  return phase_ == Phase::kInitial || phase_ == Phase::kJacobian;
}

absl::Status TrustRegionReflective::Tell(const Eigen::VectorXd& r,
                                         const Eigen::MatrixXd& jac) {
  if (finished()) {
    return absl::FailedPreconditionError(
        "trust_region_reflective: the run has finished");
  }
  if (wants_residuals() && r.size() != m_) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust_region_reflective: ", r.size(),
                     " residuals; m = ", m_, " were expected"));
  }
  if (wants_jacobian() && (jac.rows() != m_ || jac.cols() != n_)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trust_region_reflective: a ", jac.rows(), " x ", jac.cols(),
        " Jacobian; ", m_, " x ", n_, " was expected"));
  }
  switch (phase_) {
    case Phase::kInitial:
      if (!r.allFinite()) {
        Fail("Residuals are not finite in the initial point.");
      } else if (!jac.allFinite()) {
        Fail("The Jacobian is not finite in the initial point.");
      } else {
        Initialize(r, jac);
      }
      break;
    case Phase::kStep:
      FinishStep(r.allFinite() ? &r : nullptr);
      break;
    case Phase::kJacobian:
      if (!jac.allFinite()) {
        Fail("The Jacobian is not finite at an accepted point.");
      } else {
        AcceptJacobian(jac);
      }
      break;
    case Phase::kFinished:
      break;
  }
  return absl::OkStatus();
}

absl::Status TrustRegionReflective::TellFailed() {
  switch (phase_) {
    case Phase::kFinished:
      return absl::FailedPreconditionError(
          "trust_region_reflective: the run has finished");
    case Phase::kInitial:
      Fail("Residuals are not finite in the initial point.");
      break;
    case Phase::kStep:
      FinishStep(nullptr);
      break;
    case Phase::kJacobian:
      Fail("The Jacobian could not be evaluated at an accepted point.");
      break;
  }
  return absl::OkStatus();
}

void TrustRegionReflective::Initialize(const Eigen::VectorXd& r,
                                       const Eigen::MatrixXd& jac) {
  nfev_ = 1;
  njev_ = 1;
  f_ = r;
  f_true_ = r;
  j_ = jac;
  if (options_.loss != RobustLoss::kLinear) {
    // rho = loss_function(f); cost = 0.5 * np.sum(rho[0]);
    // J, f = scale_for_robust_loss_function(J, f, rho)
    const RobustLossValues rho =
        EvaluateRobustLoss(options_.loss, options_.f_scale, f_);
    cost_ = 0.5 * rho.rho0.sum();
    ScaleForRobustLoss(rho, &j_, &f_);
  } else {
    cost_ = 0.5 * f_.dot(f_);
  }
  g_ = j_.transpose() * f_;  // compute_grad
  if (options_.x_scale_jac) {
    trf::ComputeJacScale(j_, nullptr, &scale_, &scale_inv_);
  } else {
    scale_ = options_.x_scale.empty()
                 ? Eigen::VectorXd::Ones(n_)
                 : Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(
                       options_.x_scale.data(), n_));
    scale_inv_ = scale_.cwiseInverse();
  }
  delta_ = trf::InitialRadius(x_, g_, lb_, ub_, scale_inv_, bounded_);
  alpha_ = 0.0;
  termination_status_ = -1;
  iteration_ = 0;
  OuterIteration();
}

void TrustRegionReflective::OuterIteration() {
  Eigen::VectorXd v, dv;
  if (bounded_) {
    trf::ClScalingVector(x_, g_, lb_, ub_, &v, &dv);
    g_norm_ = g_.cwiseProduct(v).cwiseAbs().maxCoeff();
  } else {
    g_norm_ = g_.cwiseAbs().maxCoeff();
  }
  if (g_norm_ < options_.gtol) termination_status_ = kLeastSquaresGtol;
  if (termination_status_ != -1 || nfev_ == max_nfev_) {
    status_ =
        termination_status_ == -1 ? kLeastSquaresMaxNfev : termination_status_;
    Summarize();
    return;
  }
  Eigen::BDCSVD<Eigen::MatrixXd> svd;
  if (bounded_) {
    // v[dv != 0] *= scale_inv[dv != 0]; d = v**0.5 * scale;
    // diag_h = g * dv * scale; g_h = d * g
    for (int i = 0; i < n_; ++i) {
      if (dv(i) != 0) v(i) *= scale_inv_(i);
    }
    d_ = v.array().sqrt().matrix().cwiseProduct(scale_);
    diag_h_ = g_.cwiseProduct(dv).cwiseProduct(scale_);
    g_h_ = d_.cwiseProduct(g_);
    // J_augmented = [J * d; diag(diag_h**0.5)], f_augmented = [f; 0]
    j_h_ = j_ * d_.asDiagonal();
    Eigen::MatrixXd j_augmented = Eigen::MatrixXd::Zero(m_ + n_, n_);
    j_augmented.topRows(m_) = j_h_;
    for (int i = 0; i < n_; ++i) j_augmented(m_ + i, i) = std::sqrt(diag_h_(i));
    svd.compute(j_augmented, Eigen::ComputeThinU | Eigen::ComputeThinV);
    uf_ = svd.matrixU().topRows(m_).transpose() * f_;
    theta_ = std::max(0.995, 1 - g_norm_);
  } else {
    d_ = scale_;
    g_h_ = d_.cwiseProduct(g_);
    j_h_ = j_ * d_.asDiagonal();
    svd.compute(j_h_, Eigen::ComputeThinU | Eigen::ComputeThinV);
    uf_ = svd.matrixU().transpose() * f_;
  }
  s_ = svd.singularValues();
  v_ = svd.matrixV();
  actual_reduction_ = -1;
  ProposeStep();
}

void TrustRegionReflective::ProposeStep() {
  // while actual_reduction <= 0 and nfev < max_nfev:
  if (!(actual_reduction_ <= 0 && nfev_ < max_nfev_)) {
    EndInnerLoop();
    return;
  }
  const Eigen::VectorXd p_h =
      trf::SolveLsqTrustRegion(n_, m_, uf_, s_, v_, delta_, &alpha_);
  if (bounded_) {
    const Eigen::VectorXd p = d_.cwiseProduct(p_h);
    step_ = trf::SelectStep(x_, j_h_, diag_h_, g_h_, p, p_h, d_, delta_, lb_,
                            ub_, theta_, &step_h_, &predicted_reduction_);
    x_new_ = trf::MakeStrictlyFeasible(x_ + step_, lb_, ub_, 0.0);
  } else {
    step_h_ = p_h;
    predicted_reduction_ =
        -trf::EvaluateQuadratic(j_h_, g_h_, step_h_, nullptr);
    step_ = d_.cwiseProduct(step_h_);
    x_new_ = x_ + step_;
  }
  phase_ = Phase::kStep;
}

void TrustRegionReflective::FinishStep(const Eigen::VectorXd* r) {
  ++nfev_;
  const double step_h_norm = step_h_.norm();
  if (r == nullptr) {
    // if not np.all(np.isfinite(f_new)): Delta = 0.25 * step_h_norm
    delta_ = 0.25 * step_h_norm;
    ProposeStep();
    return;
  }
  f_new_ = *r;
  cost_new_ = RobustLossCost(options_.loss, options_.f_scale, f_new_);
  actual_reduction_ = cost_ - cost_new_;
  const auto [delta_new, ratio] =
      trf::UpdateTrRadius(delta_, actual_reduction_, predicted_reduction_,
                          step_h_norm, step_h_norm > 0.95 * delta_);
  const double step_norm = step_.norm();
  const int termination =
      trf::CheckTermination(actual_reduction_, cost_, step_norm, x_.norm(),
                            ratio, options_.ftol, options_.xtol);
  if (termination != 0) {
    termination_status_ = termination;
    EndInnerLoop();
    return;
  }
  alpha_ *= delta_ / delta_new;
  delta_ = delta_new;
  ProposeStep();
}

void TrustRegionReflective::EndInnerLoop() {
  if (actual_reduction_ > 0) {
    // x = x_new; f = f_new; f_true = f.copy(); cost = cost_new; J = jac(x)
    x_ = x_new_;
    f_true_ = f_new_;
    cost_ = cost_new_;
    phase_ = Phase::kJacobian;
    return;
  }
  actual_reduction_ = 0;
  ++iteration_;
  OuterIteration();
}

void TrustRegionReflective::AcceptJacobian(const Eigen::MatrixXd& jac) {
  ++njev_;
  j_ = jac;
  f_ = f_true_;
  if (options_.loss != RobustLoss::kLinear) {
    const RobustLossValues rho =
        EvaluateRobustLoss(options_.loss, options_.f_scale, f_);
    ScaleForRobustLoss(rho, &j_, &f_);
  }
  g_ = j_.transpose() * f_;
  if (options_.x_scale_jac) {
    const Eigen::VectorXd old = scale_inv_;
    trf::ComputeJacScale(j_, &old, &scale_, &scale_inv_);
  }
  ++iteration_;
  OuterIteration();
}

void TrustRegionReflective::Fail(std::string message) {
  status_ = kLeastSquaresEvaluationFailed;
  fail_message_ = std::move(message);
  Summarize();
}

void TrustRegionReflective::Summarize() {
  phase_ = Phase::kFinished;
  LeastSquaresSummary& s = summary_;
  s = LeastSquaresSummary();
  s.method = "trf";
  s.x = x_;
  s.nfev = nfev_;
  s.njev = njev_;
  s.status = status_;
  s.message = status_ == kLeastSquaresEvaluationFailed
                  ? fail_message_
                  : LeastSquaresStatusMessage(status_);
  s.success = status_ > 0;
  s.active_mask.assign(n_, 0);
  if (bounded_) {
    const Eigen::VectorXi active =
        trf::FindActiveConstraints(x_, lb_, ub_, options_.xtol);
    for (int i = 0; i < n_; ++i) s.active_mask[i] = active(i);
  }
  s.covariance = Eigen::MatrixXd::Constant(n_, n_, kInf);
  s.optimality = kNaN;
  s.cost = kNaN;
  if (njev_ == 0) return;  // x0 failed
  s.fun = f_true_;
  s.cost = cost_;
  // A Jacobian that failed at an accepted x leaves J, g of the previous x.
  if (status_ == kLeastSquaresEvaluationFailed) return;
  s.jac = j_;
  s.grad = g_;
  s.optimality = g_norm_;
  SetLeastSquaresCovariance(m_, n_, &s);
}

LeastSquaresProgress TrustRegionReflective::progress() const {
  LeastSquaresProgress p;
  p.nfev = nfev_;
  p.njev = njev_;
  p.iterations = iteration_;
  p.cost = njev_ > 0 ? cost_ : kNaN;
  p.delta = delta_;
  p.par = alpha_;
  return p;
}

std::string TrustRegionReflective::OptionsReport() const {
  const std::string scale =
      XScaleReport(options_.x_scale_jac, options_.x_scale);
  std::string bounds = "none";
  if (bounded_) {
    bounds = absl::StrCat("[", absl::StrJoin(lb_.data(), lb_.data() + n_, ","),
                          "]..[",
                          absl::StrJoin(ub_.data(), ub_.data() + n_, ","), "]");
  }
  return absl::StrCat("method=trf ftol=", options_.ftol,
                      " xtol=", options_.xtol, " gtol=", options_.gtol,
                      " max_nfev=", max_nfev_, " x_scale=", scale,
                      " loss=", RobustLossName(options_.loss),
                      " f_scale=", options_.f_scale, " bounds=", bounds);
}

}  // namespace optd
