// Lsmr (lsmr.h): scipy 1.10's scipy/sparse/linalg/_isolve/lsmr.py cut at its
// A.matvec and A.rmatvec calls; the variable names are lsmr.py's (with `_`
// suffixes), and comments give its section headings (Fong & Saunders 2011,
// section 2 and appendix A).
#include "solvers/least_squares/lsmr.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace optd {
namespace {

double Sign(double a) { return a > 0 ? 1.0 : (a < 0 ? -1.0 : 0.0); }

// lsqr.py's _sym_ortho: the Givens rotation [c s; -s c] with
// c a + s b = r, stable for any a, b (S.-C. Choi's thesis, 2006).
struct Rotation {
  double c, s, r;
};
Rotation SymOrtho(double a, double b) {
  if (b == 0) return {Sign(a), 0.0, std::abs(a)};
  if (a == 0) return {0.0, Sign(b), std::abs(b)};
  if (std::abs(b) > std::abs(a)) {
    const double tau = a / b;
    const double s = Sign(b) / std::sqrt(1 + tau * tau);
    return {s * tau, s, b / s};
  }
  const double tau = b / a;
  const double c = Sign(a) / std::sqrt(1 + tau * tau);
  return {c, c * tau, a / c};
}

double Norm(const Eigen::VectorXd& v) { return std::sqrt(v.dot(v)); }

}  // namespace

Lsmr::Lsmr(int rows, int cols, const Eigen::VectorXd& b,
           const LsmrOptions& options)
    : rows_(rows), cols_(cols), options_(options) {
  maxiter_ = options.maxiter > 0 ? options.maxiter : std::min(rows, cols);
  x_ = Eigen::VectorXd::Zero(cols_);
  hbar_ = Eigen::VectorXd::Zero(cols_);
  // u = b; normb = norm(b); beta = normb
  u_ = b;
  normb_ = Norm(b);
  beta_ = normb_;
  if (beta_ > 0) {
    u_ = (1 / beta_) * u_;
    request_ = Request::kRmatvec;  // v = A.rmatvec(u)
    return;
  }
  v_ = Eigen::VectorXd::Zero(cols_);
  alpha_ = 0;
  Start(v_);
}

void Lsmr::Tell(const Eigen::VectorXd& product) {
  if (!started_) {
    Start(product);
  } else if (request_ == Request::kMatvec) {
    AfterMatvec(product);
  } else if (request_ == Request::kRmatvec) {
    AfterRmatvec(&product);
  }
}

void Lsmr::Start(const Eigen::VectorXd& atu) {
  started_ = true;
  if (beta_ > 0) {
    v_ = atu;
    alpha_ = Norm(v_);
  }
  if (alpha_ > 0) v_ = (1 / alpha_) * v_;
  // Variables for the first iteration.
  itn_ = 0;
  zetabar_ = alpha_ * beta_;
  alphabar_ = alpha_;
  h_ = v_;
  // Variables for estimating ||r||.
  betadd_ = beta_;
  // Variables for estimating ||A|| and cond(A).
  norm_a2_ = alpha_ * alpha_;
  norm_a_ = std::sqrt(norm_a2_);
  if (options_.conlim > 0) ctol_ = 1 / options_.conlim;
  normr_ = beta_;
  normar_ = alpha_ * beta_;
  // The exact solution is x = 0 (normar == 0), or b = 0.
  if (normar_ == 0 || normb_ == 0) {
    request_ = Request::kDone;
    return;
  }
  NextIterationOrDone();
}

void Lsmr::NextIterationOrDone() {
  if (itn_ < maxiter_ && istop_ == 0) {
    request_ = Request::kMatvec;
  } else {
    request_ = Request::kDone;
  }
}

void Lsmr::AfterMatvec(const Eigen::VectorXd& av) {
  // Bidiagonalization: u = A v - alpha u; beta = norm(u).
  ++itn_;
  u_ *= -alpha_;
  u_ += av;
  beta_ = Norm(u_);
  if (beta_ > 0) {
    u_ *= (1 / beta_);
    v_ *= -beta_;
    request_ = Request::kRmatvec;  // v += A.rmatvec(u)
    return;
  }
  AfterRmatvec(nullptr);
}

void Lsmr::AfterRmatvec(const Eigen::VectorXd* atu) {
  if (atu != nullptr) {
    v_ += *atu;
    alpha_ = Norm(v_);
    if (alpha_ > 0) v_ *= (1 / alpha_);
  }
  // Construct rotation Qhat_{k,2k+1}.
  const Rotation hat = SymOrtho(alphabar_, options_.damp);
  const double chat = hat.c, shat = hat.s, alphahat = hat.r;
  // Use a plane rotation (Q_i) to turn B_i to R_i.
  const double rhoold = rho_;
  const Rotation q = SymOrtho(alphahat, beta_);
  const double c = q.c, s = q.s;
  rho_ = q.r;
  const double thetanew = s * alpha_;
  alphabar_ = c * alpha_;
  // Use a plane rotation (Qbar_i) to turn R_i^T to R_i^bar.
  const double rhobarold = rhobar_;
  const double zetaold = zeta_;
  const double thetabar = sbar_ * rho_;
  const double rhotemp = cbar_ * rho_;
  const Rotation qbar = SymOrtho(cbar_ * rho_, thetanew);
  cbar_ = qbar.c;
  sbar_ = qbar.s;
  rhobar_ = qbar.r;
  zeta_ = cbar_ * zetabar_;
  zetabar_ = -sbar_ * zetabar_;
  // Update h, h_hat, x.
  hbar_ *= -(thetabar * rho_ / (rhoold * rhobarold));
  hbar_ += h_;
  x_ += (zeta_ / (rho_ * rhobar_)) * hbar_;
  h_ *= -(thetanew / rho_);
  h_ += v_;
  // Estimate of ||r||: apply rotation Qhat_{k,2k+1}, then Q_k.
  const double betaacute = chat * betadd_;
  const double betacheck = -shat * betadd_;
  const double betahat = c * betaacute;
  betadd_ = -s * betaacute;
  // Apply rotation Qtilde_{k-1}.
  const double thetatildeold = thetatilde_;
  const Rotation qtilde = SymOrtho(rhodold_, thetabar);
  const double ctildeold = qtilde.c, stildeold = qtilde.s;
  const double rhotildeold = qtilde.r;
  thetatilde_ = stildeold * rhobar_;
  rhodold_ = ctildeold * rhobar_;
  betad_ = -stildeold * betad_ + ctildeold * betahat;
  tautildeold_ = (zetaold - thetatildeold * tautildeold_) / rhotildeold;
  const double taud = (zeta_ - thetatilde_ * tautildeold_) / rhodold_;
  d_ = d_ + betacheck * betacheck;
  normr_ =
      std::sqrt(d_ + (betad_ - taud) * (betad_ - taud) + betadd_ * betadd_);
  // Estimate ||A||.
  norm_a2_ = norm_a2_ + beta_ * beta_;
  norm_a_ = std::sqrt(norm_a2_);
  norm_a2_ = norm_a2_ + alpha_ * alpha_;
  // Estimate cond(A).
  maxrbar_ = std::max(maxrbar_, rhobarold);
  if (itn_ > 1) minrbar_ = std::min(minrbar_, rhobarold);
  cond_a_ = std::max(maxrbar_, rhotemp) / std::min(minrbar_, rhotemp);
  // Test for convergence: compute norms for convergence testing.
  normar_ = std::abs(zetabar_);
  normx_ = Norm(x_);
  const double test1 = normr_ / normb_;
  const double test2 = (norm_a_ * normr_) != 0
                           ? normar_ / (norm_a_ * normr_)
                           : std::numeric_limits<double>::infinity();
  const double test3 = 1 / cond_a_;
  const double t1 = test1 / (1 + norm_a_ * normx_ / normb_);
  const double rtol = options_.btol + options_.atol * norm_a_ * normx_ / normb_;
  // The following tests guard against extremely small values of atol,
  // btol or ctol; then the tests of the user's tolerances.
  if (itn_ >= maxiter_) istop_ = 7;
  if (1 + test3 <= 1) istop_ = 6;
  if (1 + test2 <= 1) istop_ = 5;
  if (1 + t1 <= 1) istop_ = 4;
  if (test3 <= ctol_) istop_ = 3;
  if (test2 <= options_.atol) istop_ = 2;
  if (test1 <= rtol) istop_ = 1;
  NextIterationOrDone();
}

void Lsmr::Save(StateWriter* w) const {
  w->I64(rows_);
  w->I64(cols_);
  const double options[] = {options_.damp, options_.atol, options_.btol,
                            options_.conlim};
  w->F64s(options, 4);
  w->I64(options_.maxiter);
  w->I64(maxiter_);
  w->Flag(started_);
  w->I64(static_cast<int64_t>(request_));
  const double scalars[] = {
      normb_, alpha_, beta_,    zetabar_, alphabar_, rho_,         rhobar_,
      cbar_,  sbar_,  betadd_,  betad_,   rhodold_,  tautildeold_, thetatilde_,
      zeta_,  d_,     norm_a2_, maxrbar_, minrbar_,  norm_a_,      cond_a_,
      normx_, ctol_,  normr_,   normar_};
  w->F64s(scalars, kScalars);
  w->I64(istop_);
  w->I64(itn_);
  w->F64s(u_);
  w->I64(v_.size());
  w->F64s(v_);
  w->F64s(x_);
  w->I64(h_.size());
  w->F64s(h_);
  w->F64s(hbar_);
}

int64_t Lsmr::SavedBytes() const {
  return 8 * (14 + kScalars + rows_ + v_.size() + h_.size() + 2 * cols_);
}

bool Lsmr::Restore(StateReader* r, int rows, int cols) {
  if (r->I64() != rows || r->I64() != cols) {
    r->Fail("holds an LSMR routine of another size");
    return false;
  }
  Lsmr t = *this;
  t.rows_ = rows;
  t.cols_ = cols;
  double options[4];
  r->F64s(options, 4);
  t.options_.damp = options[0];
  t.options_.atol = options[1];
  t.options_.btol = options[2];
  t.options_.conlim = options[3];
  t.options_.maxiter = r->Count("lsmr maxiter", 0, int64_t{1} << 31);
  t.maxiter_ = r->Count("lsmr maxiter", 0, int64_t{1} << 31);
  t.started_ = r->Flag("lsmr started");
  t.request_ = static_cast<Request>(r->Count("lsmr request", 0, 2));
  double s[kScalars];
  if (!r->F64s(s, kScalars)) return false;
  double* const fields[] = {
      &t.normb_,  &t.alpha_,   &t.beta_,        &t.zetabar_,    &t.alphabar_,
      &t.rho_,    &t.rhobar_,  &t.cbar_,        &t.sbar_,       &t.betadd_,
      &t.betad_,  &t.rhodold_, &t.tautildeold_, &t.thetatilde_, &t.zeta_,
      &t.d_,      &t.norm_a2_, &t.maxrbar_,     &t.minrbar_,    &t.norm_a_,
      &t.cond_a_, &t.normx_,   &t.ctol_,        &t.normr_,      &t.normar_};
  for (int k = 0; k < kScalars; ++k) *fields[k] = s[k];
  t.istop_ = static_cast<int>(r->Count("lsmr istop", 0, 7));
  t.itn_ = r->Count("lsmr itn", 0, int64_t{1} << 31);
  r->F64s(rows, &t.u_);
  r->F64s(r->Count("lsmr v size", 0, cols), &t.v_);
  r->F64s(cols, &t.x_);
  r->F64s(r->Count("lsmr h size", 0, cols), &t.h_);
  r->F64s(cols, &t.hbar_);
  if (!r->ok()) return false;
  *this = std::move(t);
  return true;
}

}  // namespace optd
