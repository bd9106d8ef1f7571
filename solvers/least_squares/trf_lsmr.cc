// TrfLsmr (trf_lsmr.h): scipy 1.10's scipy/optimize/_lsq/trf.py with
// tr_solver='lsmr' (trf_bounds, trf_no_bounds) cut at its fun calls and at
// every product with J; comments quote the Python they port. The helpers are
// trf_common.h's, LSMR is lsmr.h's. SaveState and RestoreState are in
// trf_lsmr_state.cc.
#include "solvers/least_squares/trf_lsmr.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "Eigen/QR"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "solvers/core/option_checks.h"
#include "solvers/least_squares/robust_loss.h"
#include "solvers/least_squares/trf_common.h"

namespace optd {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr absl::string_view kName = "trust_region_reflective";

Eigen::VectorXd Bound(const std::vector<double>& side, int n, double fill) {
  if (side.empty()) return Eigen::VectorXd::Constant(n, fill);
  return Eigen::Map<const Eigen::VectorXd>(side.data(), n);
}

}  // namespace

absl::Status ValidateTrfLsmrOptions(const TrfLsmrOptions& options, int n,
                                    int m) {
  absl::Status valid = ValidateTrustRegionReflectiveOptions(options.trf, n, m);
  if (!valid.ok()) return valid;
  if (options.trf.x_scale_jac) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName,
        ".x_scale_jac cannot be used with tr_solver lsmr (scipy: "
        "x_scale='jac' can't be used when `jac` returns LinearOperator.)"));
  }
  if (n < 2) {
    // scipy's solve_trust_region_2d indexes B_S[0, 1], which a 1-variable
    // subspace does not have (IndexError).
    return absl::InvalidArgumentError(absl::StrCat(
        kName, ": x0 has ", n,
        " variable; tr_solver lsmr needs at least 2 (its subspace is 2-D)"));
  }
  if (!(options.lsmr_tol >= 0.0 && options.lsmr_tol < 1.0)) {
    return OptionOutOfRange(kName, "lsmr_tol", options.lsmr_tol, "[0, 1)");
  }
  if (options.lsmr_maxiter < 0 ||
      options.lsmr_maxiter > std::numeric_limits<int32_t>::max()) {
    return OptionOutOfRange(kName, "lsmr_maxiter",
                            static_cast<double>(options.lsmr_maxiter),
                            "[0, 2147483647] (0: min(m, n))");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrfLsmr>> TrfLsmr::Create(
    const TrfLsmrOptions& options, const Eigen::VectorXd& x0, int m) {
  const int n = static_cast<int>(x0.size());
  absl::Status valid = ValidateTrfLsmrOptions(options, n, m);
  if (valid.ok()) valid = ValidateTrustRegionReflectiveX0(options.trf, x0);
  if (!valid.ok()) return valid;
  return std::unique_ptr<TrfLsmr>(new TrfLsmr(options, x0, m));
}

TrfLsmr::TrfLsmr(const TrfLsmrOptions& options, const Eigen::VectorXd& x0,
                 int m)
    : options_(options), n_(static_cast<int>(x0.size())), m_(m) {
  lb_ = Bound(options.trf.lower, n_, -kInf);
  ub_ = Bound(options.trf.upper, n_, kInf);
  bounded_ = !((lb_.array() == -kInf).all() && (ub_.array() == kInf).all());
  max_nfev_ =
      options.trf.max_nfev > 0 ? options.trf.max_nfev : int64_t{100} * n_;
  // least_squares.py: x0 = make_strictly_feasible(x0, lb, ub) for 'trf'.
  x_ = trf::MakeStrictlyFeasible(x0, lb_, ub_, 1e-10);
  x_new_ = x_;
}

const Eigen::VectorXd& TrfLsmr::trial_point() const {
  return phase_ == Phase::kStep ? x_new_ : x_;
}

bool TrfLsmr::wants_residuals() const {
  return phase_ == Phase::kInitial || phase_ == Phase::kStep;
}

bool TrfLsmr::wants_jacobian_transpose_vector() const {
  return phase_ == Phase::kGradient ||
         (phase_ == Phase::kLsmr &&
          lsmr_->request() == Lsmr::Request::kRmatvec);
}

bool TrfLsmr::wants_jacobian_vector() const {
  return phase_ == Phase::kRegularize || phase_ == Phase::kSubspace ||
         phase_ == Phase::kReflection ||
         (phase_ == Phase::kLsmr && lsmr_->request() == Lsmr::Request::kMatvec);
}

absl::Status TrfLsmr::Tell(const Eigen::VectorXd& r, const Eigen::MatrixXd&) {
  if (finished()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kName, ": the run has finished"));
  }
  if (!wants_residuals()) {
    return absl::FailedPreconditionError(absl::StrCat(
        kName, ": the trial wants a Jacobian product, not residuals"));
  }
  if (r.size() != m_) {
    return absl::InvalidArgumentError(absl::StrCat(
        kName, ": ", r.size(), " residuals; m = ", m_, " were expected"));
  }
  if (phase_ == Phase::kInitial) {
    if (!r.allFinite()) {
      Fail("Residuals are not finite in the initial point.");
    } else {
      Initialize(r);
    }
  } else {
    FinishStep(r.allFinite() ? &r : nullptr);
  }
  return absl::OkStatus();
}

absl::Status TrfLsmr::TellProduct(const Eigen::VectorXd& product) {
  if (finished()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kName, ": the run has finished"));
  }
  const bool jv = wants_jacobian_vector();
  if (!jv && !wants_jacobian_transpose_vector()) {
    return absl::FailedPreconditionError(absl::StrCat(
        kName, ": the trial wants residuals, not a Jacobian product"));
  }
  const int expected = jv ? m_ : n_;
  if (product.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(kName, ": a product of ", product.size(), " elements; ",
                     jv ? "J v has m = " : "J^T u has n = ", expected));
  }
  if (jv) {
    ++jv_count_;
  } else {
    ++jtv_count_;
  }
  if (!product.allFinite()) {
    Fail(jv ? "The product J v is not finite at an accepted point."
            : "The product J^T u is not finite at an accepted point.");
    return absl::OkStatus();
  }
  switch (phase_) {
    case Phase::kGradient:
      AcceptGradient(product);
      break;
    case Phase::kRegularize: {
      // a, b = build_quadratic_1d(J_h, g_h, -g_h, diag=diag_h)
      // to_tr = Delta / norm(g_h)
      // ag_value = minimize_quadratic_1d(a, b, 0, to_tr)[1]
      // reg_term = -ag_value / Delta**2
      const Eigen::VectorXd ag_h = -g_h_;
      const trf::Quadratic1d q = trf::BuildQuadratic1dFromProducts(
          JhFromProduct(product), g_h_, ag_h, bounded_ ? &diag_h_ : nullptr,
          nullptr, nullptr);
      const double to_tr = delta_ / g_h_.norm();
      const double ag_value =
          trf::MinimizeQuadratic1d(q.a, q.b, 0, to_tr, 0.0).second;
      reg_term_ = -ag_value / (delta_ * delta_);
      StartLsmr();
      break;
    }
    case Phase::kLsmr:
      LsmrTold(product);
      break;
    case Phase::kSubspace:
      js_.col(subspace_column_) = JhFromProduct(product);
      if (++subspace_column_ < 2) {
        AskJhTimes(s_.col(subspace_column_), Phase::kSubspace);
      } else {
        BuildSubspace();
      }
      break;
    case Phase::kReflection:
      reflection_product_ = JhFromProduct(product);
      have_reflection_product_ = true;
      ProposeStep();
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status TrfLsmr::TellFailed() {
  switch (phase_) {
    case Phase::kFinished:
      return absl::FailedPreconditionError(
          absl::StrCat(kName, ": the run has finished"));
    case Phase::kInitial:
      Fail("Residuals are not finite in the initial point.");
      break;
    case Phase::kStep:
      FinishStep(nullptr);
      break;
    default:
      Fail("A Jacobian product could not be evaluated at an accepted point.");
      break;
  }
  return absl::OkStatus();
}

void TrfLsmr::AskJhTimes(const Eigen::VectorXd& s, Phase phase) {
  // right_multiplied_operator(J, d).matvec(s) = J.matvec(s * d)
  operand_ = s.cwiseProduct(d_);
  phase_ = phase;
}

Eigen::VectorXd TrfLsmr::JhFromProduct(const Eigen::VectorXd& jv) const {
  // left_multiplied_operator(J, J_scale).matvec: J_scale * J.matvec(..)
  if (j_scale_.size() == 0) return jv;
  return j_scale_.cwiseProduct(jv);
}

void TrfLsmr::Initialize(const Eigen::VectorXd& r) {
  nfev_ = 1;
  f_ = r;
  f_true_ = r;
  if (options_.trf.loss != RobustLoss::kLinear) {
    // rho = loss_function(f); cost = 0.5 * np.sum(rho[0]);
    // J, f = scale_for_robust_loss_function(J, f, rho)
    const RobustLossValues rho =
        EvaluateRobustLoss(options_.trf.loss, options_.trf.f_scale, f_);
    cost_ = 0.5 * rho.rho0.sum();
    j_scale_ = ScaleResidualsForRobustLoss(rho, &f_);
  } else {
    cost_ = 0.5 * f_.dot(f_);
  }
  // g = compute_grad(J, f) = J.rmatvec(f) (rmatvec of the loss-scaled J).
  operand_ =
      j_scale_.size() == 0 ? f_ : Eigen::VectorXd(f_.cwiseProduct(j_scale_));
  phase_ = Phase::kGradient;
}

void TrfLsmr::AcceptGradient(const Eigen::VectorXd& jtu) {
  ++njev_;
  g_ = jtu;
  if (initialized_) {
    ++iteration_;
    OuterIteration();
    return;
  }
  initialized_ = true;
  // scale, scale_inv = x_scale, 1 / x_scale
  scale_ = options_.trf.x_scale.empty()
               ? Eigen::VectorXd::Ones(n_)
               : Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(
                     options_.trf.x_scale.data(), n_));
  scale_inv_ = scale_.cwiseInverse();
  delta_ = trf::InitialRadius(x_, g_, lb_, ub_, scale_inv_, bounded_);
  reg_term_ = 0.0;
  termination_status_ = -1;
  iteration_ = 0;
  OuterIteration();
}

void TrfLsmr::OuterIteration() {
  Eigen::VectorXd v, dv;
  if (bounded_) {
    trf::ClScalingVector(x_, g_, lb_, ub_, &v, &dv);
    g_norm_ = g_.cwiseProduct(v).cwiseAbs().maxCoeff();
  } else {
    g_norm_ = g_.cwiseAbs().maxCoeff();
  }
  if (g_norm_ < options_.trf.gtol) termination_status_ = kLeastSquaresGtol;
  if (termination_status_ != -1 || nfev_ == max_nfev_) {
    status_ =
        termination_status_ == -1 ? kLeastSquaresMaxNfev : termination_status_;
    Summarize();
    return;
  }
  if (bounded_) {
    // v[dv != 0] *= scale_inv[dv != 0]; d = v**0.5 * scale;
    // diag_h = g * dv * scale; g_h = d * g
    for (int i = 0; i < n_; ++i) {
      if (dv(i) != 0) v(i) *= scale_inv_(i);
    }
    d_ = v.array().sqrt().matrix().cwiseProduct(scale_);
    diag_h_ = g_.cwiseProduct(dv).cwiseProduct(scale_);
  } else {
    d_ = scale_;
    diag_h_.resize(0);
  }
  g_h_ = d_.cwiseProduct(g_);
  if (options_.regularize) {
    AskJhTimes(-g_h_, Phase::kRegularize);
  } else {
    StartLsmr();
  }
}

void TrfLsmr::StartLsmr() {
  LsmrOptions lsmr;
  lsmr.atol = options_.lsmr_tol;
  lsmr.btol = options_.lsmr_tol;
  lsmr.maxiter = options_.lsmr_maxiter;
  if (bounded_) {
    // lsmr_op = regularized_lsq_operator(J_h, (diag_h + reg_term)**0.5)
    // gn_h = lsmr(lsmr_op, f_augmented, **tr_options)[0]
    lsmr_diag_ = (diag_h_.array() + reg_term_).sqrt().matrix();
    Eigen::VectorXd f_augmented = Eigen::VectorXd::Zero(m_ + n_);
    f_augmented.head(m_) = f_;
    lsmr_.emplace(m_ + n_, n_, f_augmented, lsmr);
  } else {
    // damp_full = (damp**2 + reg_term)**0.5  (damp 0)
    // gn_h = lsmr(J_h, f, damp=damp_full, **tr_options)[0]
    lsmr.damp = std::sqrt(0.0 + reg_term_);
    lsmr_.emplace(m_, n_, f_, lsmr);
  }
  AskLsmrProduct();
}

void TrfLsmr::AskLsmrProduct() {
  switch (lsmr_->request()) {
    case Lsmr::Request::kMatvec:
      AskJhTimes(lsmr_->operand(), Phase::kLsmr);
      return;
    case Lsmr::Request::kRmatvec: {
      // J_h.rmatvec(u[:m]) = d * J.rmatvec(u[:m] * J_scale)
      const Eigen::VectorXd u = lsmr_->operand().head(m_);
      operand_ =
          j_scale_.size() == 0 ? u : Eigen::VectorXd(u.cwiseProduct(j_scale_));
      phase_ = Phase::kLsmr;
      return;
    }
    case Lsmr::Request::kDone:
      break;
  }
  lsmr_iterations_ += lsmr_->itn();
  // S = np.vstack((g_h, gn_h)).T; S, _ = qr(S, mode='economic')
  Eigen::MatrixXd s(n_, 2);
  s.col(0) = g_h_;
  s.col(1) = lsmr_->x();
  lsmr_.reset();
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(s);
  s_ = qr.householderQ() * Eigen::MatrixXd::Identity(n_, 2);
  js_.resize(m_, 2);
  subspace_column_ = 0;
  AskJhTimes(s_.col(0), Phase::kSubspace);  // JS = J_h.dot(S)
}

void TrfLsmr::LsmrTold(const Eigen::VectorXd& product) {
  if (lsmr_->request() == Lsmr::Request::kMatvec) {
    if (!bounded_) {
      lsmr_->Tell(JhFromProduct(product));
    } else {
      // np.hstack((J.matvec(x), diag * x))
      Eigen::VectorXd av(m_ + n_);
      av.head(m_) = JhFromProduct(product);
      av.tail(n_) = lsmr_diag_.cwiseProduct(lsmr_->operand());
      lsmr_->Tell(av);
    }
  } else {
    // J.rmatvec(x1) + diag * x2, J = J_h
    Eigen::VectorXd atu = d_.cwiseProduct(product);
    if (bounded_) atu += lsmr_diag_.cwiseProduct(lsmr_->operand().tail(n_));
    lsmr_->Tell(atu);
  }
  AskLsmrProduct();
}

void TrfLsmr::BuildSubspace() {
  // B_S = np.dot(JS.T, JS) + np.dot(S.T * diag_h, S); g_S = S.T.dot(g_h)
  b_s_ = js_.transpose() * js_;
  if (bounded_) {
    b_s_ += (s_.transpose() * diag_h_.asDiagonal()) * s_;
    // theta = max(0.995, 1 - g_norm)
    theta_ = std::max(0.995, 1 - g_norm_);
  }
  g_s_ = s_.transpose() * g_h_;
  actual_reduction_ = -1;
  have_reflection_product_ = false;
  ProposeStep();
}

void TrfLsmr::ProposeStep() {
  // while actual_reduction <= 0 and nfev < max_nfev:
  if (!(actual_reduction_ <= 0 && nfev_ < max_nfev_)) {
    EndInnerLoop();
    return;
  }
  // p_S, _ = solve_trust_region_2d(B_S, g_S, Delta); p_h = S.dot(p_S)
  const Eigen::Vector2d p_s = trf::SolveTrustRegion2d(b_s_, g_s_, delta_);
  const Eigen::VectorXd p_h = s_ * p_s;
  if (bounded_) {
    // p = d * p_h; step, step_h, predicted_reduction = select_step(...)
    const Eigen::VectorXd p = d_.cwiseProduct(p_h);
    Eigen::VectorXd pending;
    const trf::JhTimes jh_times = [&](const Eigen::VectorXd& s,
                                      bool in_subspace, Eigen::VectorXd* js) {
      if (in_subspace) {
        *js = js_ * (s_.transpose() * s);
        return true;
      }
      if (!have_reflection_product_) {
        pending = s;
        return false;
      }
      *js = reflection_product_;
      return true;
    };
    if (!trf::SelectStepWithProducts(x_, diag_h_, g_h_, p, p_h, d_, delta_, lb_,
                                     ub_, theta_, jh_times, &step_, &step_h_,
                                     &predicted_reduction_)) {
      AskJhTimes(pending, Phase::kReflection);
      return;
    }
    have_reflection_product_ = false;
    x_new_ = trf::MakeStrictlyFeasible(x_ + step_, lb_, ub_, 0.0);
  } else {
    // predicted_reduction = -evaluate_quadratic(J_h, g_h, step_h), with
    // J_h step_h = (J_h S) p_S.
    step_h_ = p_h;
    predicted_reduction_ =
        -trf::EvaluateQuadraticFromProduct(js_ * p_s, g_h_, step_h_, nullptr);
    step_ = d_.cwiseProduct(step_h_);
    x_new_ = x_ + step_;
  }
  phase_ = Phase::kStep;
}

void TrfLsmr::FinishStep(const Eigen::VectorXd* r) {
  ++nfev_;
  const double step_h_norm = step_h_.norm();
  if (r == nullptr) {
    // if not np.all(np.isfinite(f_new)): Delta = 0.25 * step_h_norm
    delta_ = 0.25 * step_h_norm;
    ProposeStep();
    return;
  }
  f_new_ = *r;
  cost_new_ = RobustLossCost(options_.trf.loss, options_.trf.f_scale, f_new_);
  actual_reduction_ = cost_ - cost_new_;
  const auto [delta_new, ratio] =
      trf::UpdateTrRadius(delta_, actual_reduction_, predicted_reduction_,
                          step_h_norm, step_h_norm > 0.95 * delta_);
  const double step_norm = step_.norm();
  const int termination =
      trf::CheckTermination(actual_reduction_, cost_, step_norm, x_.norm(),
                            ratio, options_.trf.ftol, options_.trf.xtol);
  if (termination != 0) {
    termination_status_ = termination;
    EndInnerLoop();
    return;
  }
  delta_ = delta_new;
  ProposeStep();
}

void TrfLsmr::EndInnerLoop() {
  if (actual_reduction_ > 0) {
    // x = x_new; f = f_new; f_true = f.copy(); cost = cost_new;
    // J = jac(x, f); (loss scaling); g = compute_grad(J, f)
    x_ = x_new_;
    f_true_ = f_new_;
    f_ = f_new_;
    cost_ = cost_new_;
    if (options_.trf.loss != RobustLoss::kLinear) {
      const RobustLossValues rho =
          EvaluateRobustLoss(options_.trf.loss, options_.trf.f_scale, f_);
      j_scale_ = ScaleResidualsForRobustLoss(rho, &f_);
      operand_ = f_.cwiseProduct(j_scale_);
    } else {
      operand_ = f_;
    }
    phase_ = Phase::kGradient;
    return;
  }
  actual_reduction_ = 0;
  ++iteration_;
  OuterIteration();
}

void TrfLsmr::Fail(std::string message) {
  status_ = kLeastSquaresEvaluationFailed;
  fail_message_ = std::move(message);
  Summarize();
}

void TrfLsmr::Summarize() {
  phase_ = Phase::kFinished;
  lsmr_.reset();
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
  s.jacobian_vector_products = jv_count_;
  s.jacobian_transpose_vector_products = jtv_count_;
  s.lsmr_iterations = lsmr_iterations_;
  s.active_mask.assign(n_, 0);
  if (bounded_) {
    const Eigen::VectorXi active =
        trf::FindActiveConstraints(x_, lb_, ub_, options_.trf.xtol);
    for (int i = 0; i < n_; ++i) s.active_mask[i] = active(i);
  }
  // J is never formed: no covariance (and n x n may not fit in memory).
  s.optimality = kNaN;
  s.cost = kNaN;
  if (nfev_ == 0) return;  // x0 failed
  s.fun = f_true_;
  s.cost = cost_;
  if (status_ == kLeastSquaresEvaluationFailed || njev_ == 0) return;
  s.grad = g_;
  s.optimality = g_norm_;
}

LeastSquaresProgress TrfLsmr::progress() const {
  LeastSquaresProgress p;
  p.nfev = nfev_;
  p.njev = njev_;
  p.iterations = iteration_;
  p.cost = nfev_ > 0 ? cost_ : kNaN;
  p.delta = delta_;
  p.par = 0.0;
  return p;
}

std::string TrfLsmr::OptionsReport() const {
  // TrustRegionReflective's report of the same options (its solver is
  // never made: that would allocate the m x n Jacobian).
  std::string bounds = "none";
  if (bounded_) {
    bounds = absl::StrCat("[", absl::StrJoin(lb_.data(), lb_.data() + n_, ","),
                          "]..[",
                          absl::StrJoin(ub_.data(), ub_.data() + n_, ","), "]");
  }
  return absl::StrCat("method=trf ftol=", options_.trf.ftol,
                      " xtol=", options_.trf.xtol, " gtol=", options_.trf.gtol,
                      " max_nfev=", max_nfev_,
                      " x_scale=", XScaleReport(false, options_.trf.x_scale),
                      " loss=", RobustLossName(options_.trf.loss),
                      " f_scale=", options_.trf.f_scale, " bounds=", bounds,
                      " tr_solver=lsmr lsmr_tol=", options_.lsmr_tol,
                      " lsmr_maxiter=", options_.lsmr_maxiter,
                      " regularize=", options_.regularize ? 1 : 0);
}

}  // namespace optd
