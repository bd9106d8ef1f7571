// LevenbergMarquardt (levenberg_marquardt.h): lmder.f's outer and inner
// loops (scipy 1.10, scipy/optimize/minpack/lmder.f) cut at its fcn calls.
// "label N" names lmder.f's statement labels; the linear algebra is
// minpack.h's port of qrfac, lmpar and qrsolv. SaveState and RestoreState
// are in levenberg_marquardt_state.cc.
#include "solvers/least_squares/levenberg_marquardt.h"

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
#include "solvers/least_squares/minpack.h"

namespace optd {
namespace {

constexpr double kEpsmch = std::numeric_limits<double>::epsilon();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// least_squares.py's FROM_MINPACK_TO_COMMON. lmder's infos 6, 7 and 8
// (tolerances too small) cannot happen with ftol, xtol, gtol >= epsmch:
// each implies the test for 1, 2 or 4 held first; map them there anyway.
int StatusFromInfo(int info) {
  switch (info) {
    case 1:
    case 6:
      return kLeastSquaresFtol;
    case 2:
    case 7:
      return kLeastSquaresXtol;
    case 3:
      return kLeastSquaresFtolAndXtol;
    case 4:
    case 8:
      return kLeastSquaresGtol;
    default:
      return kLeastSquaresMaxNfev;
  }
}

bool AllFinite(const Eigen::MatrixXd& a) { return a.allFinite(); }

}  // namespace

int64_t DefaultMaxNfev(int64_t n, int64_t jacobian_nfev) {
  constexpr int64_t kMost = int64_t{1} << 40;
  const double d = 100.0 * static_cast<double>(n) *
                   (1.0 + static_cast<double>(jacobian_nfev));
  return d >= static_cast<double>(kMost) ? kMost
                                         : 100 * n * (1 + jacobian_nfev);
}

std::string XScaleReport(bool x_scale_jac, const std::vector<double>& x_scale) {
  if (x_scale_jac) return "jac";
  if (x_scale.empty()) return "1";
  return absl::StrCat("[", absl::StrJoin(x_scale, ","), "]");
}

// least_squares.py's TERMINATION_MESSAGES.
std::string LeastSquaresStatusMessage(int status) {
  switch (status) {
    case kLeastSquaresMaxNfev:
      return "The maximum number of function evaluations is exceeded.";
    case kLeastSquaresGtol:
      return "`gtol` termination condition is satisfied.";
    case kLeastSquaresFtol:
      return "`ftol` termination condition is satisfied.";
    case kLeastSquaresXtol:
      return "`xtol` termination condition is satisfied.";
    case kLeastSquaresFtolAndXtol:
      return "Both `ftol` and `xtol` termination conditions are satisfied.";
    default:
      return "";
  }
}

absl::Status ValidateLevenbergMarquardtOptions(
    const LevenbergMarquardtOptions& options, int n, int m) {
  constexpr absl::string_view kName = "levenberg_marquardt";
  const std::string tol_range = absl::StrCat("[", kEpsmch, ", inf)");
  // !(x >= lo) also refuses NaN.
  if (!(options.ftol >= kEpsmch) || std::isinf(options.ftol))
    return OptionOutOfRange(kName, "ftol", options.ftol, tol_range);
  if (!(options.xtol >= kEpsmch) || std::isinf(options.xtol))
    return OptionOutOfRange(kName, "xtol", options.xtol, tol_range);
  if (!(options.gtol >= kEpsmch) || std::isinf(options.gtol))
    return OptionOutOfRange(kName, "gtol", options.gtol, tol_range);
  if (options.max_nfev < 0 || options.max_nfev > (int64_t{1} << 40)) {
    return OptionOutOfRange(kName, "max_nfev",
                            static_cast<double>(options.max_nfev),
                            "[0, 1099511627776] (0: DefaultMaxNfev)");
  }
  if (options.jacobian_nfev < 0 || options.jacobian_nfev > (int64_t{1} << 40)) {
    return OptionOutOfRange(kName, "jacobian_nfev",
                            static_cast<double>(options.jacobian_nfev),
                            "[0, 1099511627776]");
  }
  if (!(options.factor > 0.0) || !(options.factor <= 1e10))
    return OptionOutOfRange(kName, "factor", options.factor, "(0, 1e10]");
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("levenberg_marquardt: x0 has ", n,
                     " variables; it must have at least 1"));
  }
  if (m < n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "levenberg_marquardt: m = ", m, " residuals is fewer than the n = ", n,
        " variables (Levenberg-Marquardt needs m >= n)"));
  }
  if (!options.x_scale.empty()) {
    if (options.x_scale_jac) {
      return absl::InvalidArgumentError(
          "levenberg_marquardt.x_scale must be empty when x_scale_jac is set");
    }
    if (static_cast<int>(options.x_scale.size()) != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "levenberg_marquardt.x_scale has ", options.x_scale.size(),
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
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LevenbergMarquardt>> LevenbergMarquardt::Create(
    const LevenbergMarquardtOptions& options, const Eigen::VectorXd& x0,
    int m) {
  const int n = static_cast<int>(x0.size());
  absl::Status valid = ValidateLevenbergMarquardtOptions(options, n, m);
  if (!valid.ok()) return valid;
  if (!x0.allFinite()) {
    return absl::InvalidArgumentError(
        "levenberg_marquardt: x0 has a non-finite entry");
  }
  return std::unique_ptr<LevenbergMarquardt>(
      new LevenbergMarquardt(options, x0, m));
}

LevenbergMarquardt::LevenbergMarquardt(const LevenbergMarquardtOptions& options,
                                       const Eigen::VectorXd& x0, int m)
    : options_(options),
      n_(static_cast<int>(x0.size())),
      m_(m),
      x_(x0),
      fvec_(Eigen::VectorXd::Zero(m)),
      fjac_(Eigen::MatrixXd::Zero(m, x0.size())),
      diag_(Eigen::VectorXd::Ones(x0.size())),
      qtf_(Eigen::VectorXd::Zero(x0.size())),
      wa1_(Eigen::VectorXd::Zero(x0.size())),
      wa2_(Eigen::VectorXd::Zero(x0.size())),
      wa3_(Eigen::VectorXd::Zero(x0.size())),
      wa4_(Eigen::VectorXd::Zero(m)),
      ipvt_(x0.size(), 0),
      jac_(Eigen::MatrixXd::Zero(m, x0.size())) {
  // call_minpack: max_nfev = 100 n when jac is callable, 100 n (n + 1) for
  // lmdif (jacobian_nfev = n); diag = 1 / x_scale (mode 2), or mode 1 for
  // x_scale='jac'.
  maxfev_ = options.max_nfev > 0 ? options.max_nfev
                                 : DefaultMaxNfev(n_, options.jacobian_nfev);
  mode_ = options.x_scale_jac ? 1 : 2;
  if (!options.x_scale.empty()) {
    for (int j = 0; j < n_; ++j) diag_(j) = 1.0 / options.x_scale[j];
  }
  for (int j = 0; j < n_; ++j) ipvt_[j] = j;
}

const Eigen::VectorXd& LevenbergMarquardt::trial_point() const {
  return phase_ == Phase::kStep ? wa2_ : x_;
}

bool LevenbergMarquardt::wants_residuals() const {
  return phase_ == Phase::kInitial || phase_ == Phase::kStep;
}

bool LevenbergMarquardt::wants_jacobian() const {
  return phase_ == Phase::kInitial || phase_ == Phase::kJacobian ||
         phase_ == Phase::kFinalJacobian;
}

absl::Status LevenbergMarquardt::Tell(const Eigen::VectorXd& r,
                                      const Eigen::MatrixXd& jac) {
  if (finished()) {
    return absl::FailedPreconditionError(
        "levenberg_marquardt: Tell after the run finished");
  }
  if (wants_residuals() && r.size() != m_) {
    return absl::InvalidArgumentError(
        absl::StrCat("levenberg_marquardt: the residuals have ", r.size(),
                     " entries; the problem has m = ", m_));
  }
  if (wants_jacobian() && (jac.rows() != m_ || jac.cols() != n_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("levenberg_marquardt: the Jacobian is ", jac.rows(), " x ",
                     jac.cols(), "; it must be m x n = ", m_, " x ", n_));
  }
  const Eigen::VectorXd* rp = wants_residuals() && r.allFinite() ? &r : nullptr;
  const Eigen::MatrixXd* jp =
      wants_jacobian() && AllFinite(jac) ? &jac : nullptr;
  switch (phase_) {
    case Phase::kInitial:
      TellInitial(rp, jp);
      break;
    case Phase::kStep:
      ++nfev_;
      FinishStep(rp);
      break;
    case Phase::kJacobian:
      ++njev_;
      nfev_ += options_.jacobian_nfev;  // lmdif: nfev = nfev + n
      if (jp == nullptr) {
        Fail("The Jacobian is not finite at the current point.");
      } else {
        OuterIteration(*jp);
      }
      break;
    case Phase::kFinalJacobian:
      if (jp != nullptr) {
        jac_ = *jp;
        jacobian_valid_ = true;
      }
      Summarize();
      break;
    case Phase::kFinished:
      break;
  }
  return absl::OkStatus();
}

absl::Status LevenbergMarquardt::TellFailed() {
  if (finished()) {
    return absl::FailedPreconditionError(
        "levenberg_marquardt: TellFailed after the run finished");
  }
  switch (phase_) {
    case Phase::kInitial:
      TellInitial(nullptr, nullptr);
      break;
    case Phase::kStep:
      ++nfev_;
      FinishStep(nullptr);
      break;
    case Phase::kJacobian:
      ++njev_;
      nfev_ += options_.jacobian_nfev;
      Fail("The Jacobian could not be evaluated at the current point.");
      break;
    case Phase::kFinalJacobian:
      Summarize();
      break;
    case Phase::kFinished:
      break;
  }
  return absl::OkStatus();
}

void LevenbergMarquardt::TellInitial(const Eigen::VectorXd* r,
                                     const Eigen::MatrixXd* jac) {
  // Before label 30: fcn(iflag = 1) at x0, fnorm; par = 0, iter = 1.
  nfev_ = 1;
  if (r == nullptr) {
    Fail("The residuals are not finite at the initial point.");
    return;
  }
  fvec_ = *r;
  fnorm_ = minpack::Enorm(fvec_);
  par_ = 0.0;
  iter_ = 1;
  // Label 30's fcn(iflag = 2) at x0 (lmdif: fdjac2, nfev = nfev + n).
  njev_ = 1;
  nfev_ += options_.jacobian_nfev;
  if (jac == nullptr) {
    Fail("The Jacobian is not finite at the initial point.");
    return;
  }
  OuterIteration(*jac);
}

void LevenbergMarquardt::OuterIteration(const Eigen::MatrixXd& jac) {
  jac_ = jac;
  jacobian_valid_ = true;
  fjac_ = jac;
  // After label 40: the QR factorization of J; wa1 = rdiag, wa2 = acnorm.
  minpack::Qrfac(fjac_, &ipvt_, &wa1_, &wa2_);
  if (iter_ == 1) {
    // do 50: mode 1 scales by the initial column norms.
    if (mode_ != 2) {
      for (int j = 0; j < n_; ++j) diag_(j) = wa2_(j) == 0.0 ? 1.0 : wa2_(j);
    }
    // Label 60, do 70: xnorm and the initial step bound.
    for (int j = 0; j < n_; ++j) wa3_(j) = diag_(j) * x_(j);
    xnorm_ = minpack::Enorm(wa3_);
    delta_ = options_.factor * xnorm_;
    if (delta_ == 0.0) delta_ = options_.factor;
  }
  // Label 80, do 90-130: qtf = the first n entries of Q^T fvec; R's
  // diagonal back on fjac.
  wa4_ = fvec_;
  for (int j = 0; j < n_; ++j) {
    if (fjac_(j, j) != 0.0) {
      double sum = 0.0;
      for (int i = j; i < m_; ++i) sum = sum + fjac_(i, j) * wa4_(i);
      const double temp = -sum / fjac_(j, j);
      for (int i = j; i < m_; ++i) wa4_(i) = wa4_(i) + fjac_(i, j) * temp;
    }
    fjac_(j, j) = wa1_(j);  // label 120
    qtf_(j) = wa4_(j);
  }
  // do 140-170: the scaled gradient's norm (largest cosine between r and a
  // column of J).
  gnorm_ = 0.0;
  if (fnorm_ != 0.0) {
    for (int j = 0; j < n_; ++j) {
      const int l = ipvt_[j];
      if (wa2_(l) == 0.0) continue;
      double sum = 0.0;
      for (int i = 0; i <= j; ++i) sum = sum + fjac_(i, j) * (qtf_(i) / fnorm_);
      gnorm_ = std::max(gnorm_, std::fabs(sum / wa2_(l)));
    }
  }
  // Label 170: the gradient test.
  if (gnorm_ <= options_.gtol) {
    Stop(4);
    return;
  }
  // do 180: mode 1 rescales.
  if (mode_ != 2) {
    for (int j = 0; j < n_; ++j) diag_(j) = std::max(diag_(j), wa2_(j));
  }
  ProposeStep();
}

void LevenbergMarquardt::ProposeStep() {
  // Label 200: the Levenberg-Marquardt parameter and the step p (wa1).
  minpack::Lmpar(fjac_, ipvt_, diag_, qtf_, delta_, &par_, &wa1_);
  // do 210: p, x + p (wa2), |D p|.
  for (int j = 0; j < n_; ++j) {
    wa1_(j) = -wa1_(j);
    wa2_(j) = x_(j) + wa1_(j);
    wa3_(j) = diag_(j) * wa1_(j);
  }
  pnorm_ = minpack::Enorm(wa3_);
  if (iter_ == 1) delta_ = std::min(delta_, pnorm_);
  phase_ = Phase::kStep;  // fcn(iflag = 1) at x + p
}

void LevenbergMarquardt::FinishStep(const Eigen::VectorXd* r) {
  constexpr double kP1 = 0.1, kP5 = 0.5, kP25 = 0.25, kP75 = 0.75,
                   kP0001 = 1e-4;
  // fnorm1; a failed evaluation counts as an infinite norm.
  double fnorm1 = kInf;
  if (r != nullptr) {
    wa4_ = *r;
    fnorm1 = minpack::Enorm(wa4_);
  }
  // The scaled actual reduction.
  double actred = -1.0;
  if (kP1 * fnorm1 < fnorm_) {
    const double q = fnorm1 / fnorm_;
    actred = 1.0 - q * q;
  }
  // do 220-230: the scaled predicted reduction and directional derivative.
  for (int j = 0; j < n_; ++j) {
    wa3_(j) = 0.0;
    const double temp = wa1_(ipvt_[j]);
    for (int i = 0; i <= j; ++i) wa3_(i) = wa3_(i) + fjac_(i, j) * temp;
  }
  const double temp1 = minpack::Enorm(wa3_) / fnorm_;
  const double temp2 = (std::sqrt(par_) * pnorm_) / fnorm_;
  const double prered = temp1 * temp1 + temp2 * temp2 / kP5;
  const double dirder = -(temp1 * temp1 + temp2 * temp2);
  double ratio = 0.0;
  if (prered != 0.0) ratio = actred / prered;
  // Labels 240-260: update the step bound.
  if (ratio <= kP25) {
    double temp = 0.0;
    if (actred >= 0.0) temp = kP5;
    if (actred < 0.0) temp = kP5 * dirder / (dirder + kP5 * actred);
    if (kP1 * fnorm1 >= fnorm_ || temp < kP1) temp = kP1;
    delta_ = temp * std::min(delta_, pnorm_ / kP1);
    par_ = par_ / temp;
  } else if (!(par_ != 0.0 && ratio < kP75)) {
    delta_ = pnorm_ / kP5;
    par_ = kP5 * par_;
  }
  // do 270-280: a successful iteration moves x.
  if (ratio >= kP0001) {
    for (int j = 0; j < n_; ++j) {
      x_(j) = wa2_(j);
      wa2_(j) = diag_(j) * x_(j);
    }
    fvec_ = wa4_;
    xnorm_ = minpack::Enorm(wa2_);
    fnorm_ = fnorm1;
    ++iter_;
    jacobian_valid_ = false;
  }
  // Label 290: the convergence tests.
  int info = 0;
  const bool ftol_met = std::fabs(actred) <= options_.ftol &&
                        prered <= options_.ftol && kP5 * ratio <= 1.0;
  if (ftol_met) info = 1;
  if (delta_ <= options_.xtol * xnorm_) info = 2;
  if (ftol_met && info == 2) info = 3;
  if (info != 0) {
    Stop(info);
    return;
  }
  // Termination and stringent tolerances.
  if (nfev_ >= maxfev_) info = 5;
  if (std::fabs(actred) <= kEpsmch && prered <= kEpsmch && kP5 * ratio <= 1.0)
    info = 6;
  if (delta_ <= kEpsmch * xnorm_) info = 7;
  if (gnorm_ <= kEpsmch) info = 8;
  if (info != 0) {
    Stop(info);
    return;
  }
  if (ratio < kP0001) {
    ProposeStep();  // an unsuccessful step: back to label 200
  } else {
    phase_ = Phase::kJacobian;  // back to label 30: J at the new x
  }
}

void LevenbergMarquardt::Stop(int info) {
  info_ = info;
  status_ = StatusFromInfo(info);
  if (jacobian_valid_) {
    Summarize();
  } else {
    phase_ = Phase::kFinalJacobian;
  }
}

void LevenbergMarquardt::Fail(std::string message) {
  info_ = 0;
  status_ = kLeastSquaresEvaluationFailed;
  fail_message_ = std::move(message);
  jacobian_valid_ = false;
  Summarize();
}

void LevenbergMarquardt::Summarize() {
  phase_ = Phase::kFinished;
  LeastSquaresSummary& s = summary_;
  s = LeastSquaresSummary();
  s.method = "lm";
  s.x = x_;
  const bool have_r = !(status_ == kLeastSquaresEvaluationFailed && njev_ == 0);
  if (have_r) {
    s.fun = fvec_;
    s.cost = 0.5 * fvec_.dot(fvec_);
  } else {
    s.cost = kNaN;
  }
  s.nfev = nfev_;
  s.njev = njev_;
  s.status = status_;
  s.minpack_info = info_;
  s.message = status_ == kLeastSquaresEvaluationFailed
                  ? fail_message_
                  : LeastSquaresStatusMessage(status_);
  s.success = status_ > 0;
  s.covariance = Eigen::MatrixXd::Constant(n_, n_, kInf);
  s.active_mask.assign(n_, 0);
  s.optimality = kNaN;
  if (!jacobian_valid_ || !have_r) return;
  s.jac = jac_;
  s.grad = jac_.transpose() * fvec_;
  s.optimality = s.grad.cwiseAbs().maxCoeff();
  SetLeastSquaresCovariance(m_, n_, &s);
}

void SetLeastSquaresCovariance(int m, int n, LeastSquaresSummary* s) {
  s->covariance = Eigen::MatrixXd::Constant(n, n, kInf);
  s->jacobian_rank = 0;
  if (s->jac.rows() != m || s->jac.cols() != n) return;
  // curve_fit's covariance: pinv(J^T J) from the thin SVD of J, singular
  // values above eps max(m, n) s_max, times s^2 = 2 cost / (m - n).
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(s->jac, Eigen::ComputeThinV);
  const Eigen::VectorXd& sv = svd.singularValues();
  const double threshold = kEpsmch * std::max(m, n) * sv(0);
  Eigen::VectorXd inv_sq = Eigen::VectorXd::Zero(sv.size());
  for (int k = 0; k < sv.size(); ++k) {
    if (sv(k) > threshold) {
      inv_sq(k) = 1.0 / (sv(k) * sv(k));
      ++s->jacobian_rank;
    }
  }
  if (m > n) {
    const Eigen::MatrixXd& v = svd.matrixV();
    const double s_sq = 2.0 * s->cost / (m - n);
    s->covariance = (v * inv_sq.asDiagonal() * v.transpose()) * s_sq;
  }
}

LeastSquaresProgress LevenbergMarquardt::progress() const {
  LeastSquaresProgress p;
  p.nfev = nfev_;
  p.njev = njev_;
  p.iterations = iter_ - 1;
  p.cost = njev_ > 0 ? 0.5 * fvec_.dot(fvec_) : kNaN;  // r(x0) was told
  p.delta = delta_;
  p.par = par_;
  return p;
}

std::string LevenbergMarquardt::OptionsReport() const {
  const std::string scale =
      XScaleReport(options_.x_scale_jac, options_.x_scale);
  std::string report = absl::StrCat(
      "ftol=", options_.ftol, " xtol=", options_.xtol, " gtol=", options_.gtol,
      " max_nfev=", maxfev_, " x_scale=", scale, " factor=", options_.factor);
  if (options_.jacobian_nfev > 0) {
    absl::StrAppend(&report, " jacobian_nfev=", options_.jacobian_nfev);
  }
  return report;
}

}  // namespace optd
