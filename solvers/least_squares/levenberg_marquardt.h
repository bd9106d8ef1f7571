// LevenbergMarquardt: nonlinear least squares min 0.5 |r(x)|^2 (r: m
// residuals of n variables, m >= n) as an ask-tell state machine that makes
// exactly the evaluations MINPACK's lmder makes when
// scipy.optimize.least_squares(method='lm', jac=callable) drives it (scipy
// 1.10: scipy/optimize/_lsq/least_squares.py, call_minpack). The outer and
// inner loops are lmder.f's (levenberg_marquardt.cc cites its labels), the
// linear algebra is the MINPACK port in minpack.h.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<LevenbergMarquardt> lm,
//                         LevenbergMarquardt::Create(options, x0, m));
//   while (!lm->finished()) {
//     const Eigen::VectorXd& x = lm->trial_point();
//     Eigen::VectorXd r;                       // when lm->wants_residuals()
//     Eigen::MatrixXd jac;                     // when lm->wants_jacobian()
//     if (!Evaluate(x, &r, &jac)) { OPTD_RETURN_IF_ERROR(lm->TellFailed()); }
//     else { OPTD_RETURN_IF_ERROR(lm->Tell(r, jac)); }
//   }
//   const LeastSquaresSummary& s = lm->summary();  // x, cost, status, ...
//
// The trials, in lmder's order: x0 wants r and J (lmder's fcn calls with
// iflag = 1 and then 2 at x0, merged: nfev = njev = 1); every trial step
// x + p wants r only (iflag = 1, nfev += 1); after a successful step that
// does not end the run, the new x wants J only (iflag = 2, njev += 1).
// When the run ends at an x whose J has not been told (after a successful
// step), one last trial there wants J only: scipy's call_minpack likewise
// calls jac(x) after lmder returns, for `optimality` (and here the
// covariance); it counts in neither nfev nor njev.
//
// Failed evaluations: TellFailed(), or residuals that are not all finite,
// at a trial step count as |r| = +inf in lmder's arithmetic (actred = -1, the
// step is refused, delta shrinks to 0.1 min(delta, 10 |D p|) and par grows
// tenfold; the convergence tests run as lmder's would); this is what lmder
// itself does when fcn returns infinities. A failed x0 or a failed (or not
// finite) Jacobian ends the run with status kEvaluationFailed (scipy raises
// instead: "Residuals are not finite in the initial point").
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_LEVENBERG_MARQUARDT_H_
#define OPTD_SOLVERS_LEAST_SQUARES_LEVENBERG_MARQUARDT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/least_squares/least_squares_method.h"

namespace optd {

// scipy.optimize.least_squares(method='lm')'s parameters, with its defaults.
struct LevenbergMarquardtOptions {
  // lmder's ftol, xtol, gtol; each must be >= machine epsilon (scipy's
  // check_tolerance for 'lm') and finite.
  double ftol = 1e-8;
  double xtol = 1e-8;
  double gtol = 1e-8;
  // Residual evaluations allowed (lmder's maxfev); 0: scipy's default,
  // DefaultMaxNfev: 100 n for an analytic Jacobian, 100 n (n + 1) for
  // lmdif's forward differences (call_minpack).
  int64_t max_nfev = 0;
  // Residual evaluations each Jacobian costs, counted in nfev and against
  // max_nfev: 0 for an analytic Jacobian (lmder); n when the Jacobian is
  // formed by forward differences (finite_difference_jacobian.h), as
  // lmdif's `nfev = nfev + n` after fdjac2 counts them (2n for central
  // differences). The last Jacobian, asked only for the summary, costs
  // nothing here, as scipy's uncounted approx_derivative call does. In
  // [0, 2^40].
  int64_t jacobian_nfev = 0;
  // Characteristic scale of each variable; lmder runs with mode = 2 and
  // diag = 1 / x_scale. Empty: 1 for every variable (scipy's default
  // x_scale=1.0, which also means mode = 2 with diag = 1). Otherwise n
  // positive finite numbers.
  std::vector<double> x_scale;
  // scipy's x_scale='jac': lmder's mode = 1 (diag from the column norms of
  // J, updated each iteration). x_scale must then be empty.
  bool x_scale_jac = false;
  // lmder's factor: the initial step bound is factor |diag * x0| (or factor
  // when that is 0); scipy fixes it at 100. In (0, 1e10].
  double factor = 100.0;
};

// DefaultMaxNfev()
//
// max_nfev's default for n variables and Jacobians that cost
// `jacobian_nfev` residual evaluations each: 100 n (1 + jacobian_nfev),
// which is scipy's 100 n with an analytic Jacobian and its 100 n (n + 1) for
// lmdif (call_minpack, "n squared to account for Jacobian evaluations");
// at most 2^40.
int64_t DefaultMaxNfev(int64_t n, int64_t jacobian_nfev);

// INVALID_ARGUMENT naming the field and its range ("levenberg_marquardt.ftol
// is 0; it must be in [2.220446049250313e-16, inf)") for bad options, or for
// n < 1 or m < n.
absl::Status ValidateLevenbergMarquardtOptions(
    const LevenbergMarquardtOptions& options, int n, int m);

// scipy's status codes (least_squares.py TERMINATION_MESSAGES, mapped from
// lmder's info by FROM_MINPACK_TO_COMMON), plus kEvaluationFailed.
enum LeastSquaresStatus : int {
  kLeastSquaresEvaluationFailed = -2,  // optd only: see the file comment
  kLeastSquaresMaxNfev = 0,            // info 5
  kLeastSquaresGtol = 1,               // info 4
  kLeastSquaresFtol = 2,               // info 1
  kLeastSquaresXtol = 3,               // info 2
  kLeastSquaresFtolAndXtol = 4,        // info 3
};

// What scipy's OptimizeResult for method='lm' holds, plus the covariance.
struct LeastSquaresSummary {
  Eigen::VectorXd x;    // the last accepted point (x0 when none was)
  Eigen::VectorXd fun;  // r(x); empty when x0 failed
  double cost = 0.0;    // 0.5 |r(x)|^2 (NaN when x0 failed)
  // J(x), J^T r and max_i |(J^T r)_i| (scipy's `optimality`); empty and NaN
  // when J(x) could not be evaluated.
  Eigen::MatrixXd jac;
  Eigen::VectorXd grad;
  double optimality = 0.0;
  int64_t nfev = 0;      // lmder's nfev: residual evaluations
  int64_t njev = 0;      // lmder's njev: Jacobian evaluations
  int status = 0;        // a LeastSquaresStatus
  int minpack_info = 0;  // lmder's info (0 when optd ended the run)
  std::string message;   // scipy's message for `status`
  bool success = false;  // status > 0, as scipy
  // The covariance estimate of x as scipy's curve_fit computes it
  // (scipy/optimize/_minpack_py.py, curve_fit with absolute_sigma=False):
  // pinv(J^T J) s^2 with s^2 = 2 cost / (m - n) = |r|^2 / (m - n), the
  // pseudo-inverse from the SVD J = U S V^T as V S^-2 V^T over the singular
  // values above eps max(m, n) s_max. Every entry +inf when m == n (no
  // degrees of freedom) or J(x) is unknown, as curve_fit does.
  Eigen::MatrixXd covariance;
  int jacobian_rank = 0;  // singular values kept for the covariance
  // scipy's active_mask: -1 / 1 where x is on its lower / upper bound
  // (within xtol, find_active_constraints), else 0; all 0 for 'lm'.
  std::vector<int> active_mask;
  std::string method;  // "lm" or "trf", scipy's `method`
  // Matrix-free trf (trf_lsmr.h) only: the products told and the LSMR
  // iterations run.
  int64_t jacobian_vector_products = 0;
  int64_t jacobian_transpose_vector_products = 0;
  int64_t lsmr_iterations = 0;
};

// least_squares.py's TERMINATION_MESSAGES[status] ("" for other statuses).
std::string LeastSquaresStatusMessage(int status);

// x_scale as both methods' OptionsReport print it: "jac", "1" (empty: every
// scale 1) or "[s0,s1,...]".
std::string XScaleReport(bool x_scale_jac, const std::vector<double>& x_scale);

// Sets s->covariance and s->jacobian_rank from s->jac (m x n) and s->cost as
// the covariance comment above says; every entry +inf when m <= n or s->jac
// is not m x n.
void SetLeastSquaresCovariance(int m, int n, LeastSquaresSummary* s);

// Where the run stands (readable at any time).
struct LeastSquaresProgress {
  int64_t nfev = 0;
  int64_t njev = 0;
  int64_t iterations = 0;  // successful steps (lmder's iter - 1)
  double cost = 0.0;       // 0.5 |r(x)|^2 at the current x (NaN before x0)
  double delta = 0.0;      // lmder's step bound
  double par = 0.0;        // the Levenberg-Marquardt parameter
};

class LevenbergMarquardt final : public LeastSquaresMethod {
 public:
  std::string_view method() const override { return "lm"; }
  // The solver for `m` residuals of x0.size() variables, its first trial
  // (x0, wanting r and J) ready. ValidateLevenbergMarquardtOptions' errors.
  static absl::StatusOr<std::unique_ptr<LevenbergMarquardt>> Create(
      const LevenbergMarquardtOptions& options, const Eigen::VectorXd& x0,
      int m);

  int n() const override { return n_; }
  int m() const override { return m_; }
  bool finished() const override { return phase_ == Phase::kFinished; }
  // The outstanding trial's point; REQUIRES !finished().
  const Eigen::VectorXd& trial_point() const override;
  bool wants_residuals() const override;
  bool wants_jacobian() const override;
  // The last accepted point (x0 until a step is accepted).
  const Eigen::VectorXd& x() const override { return x_; }

  // Reports the outstanding trial. r must have m entries when
  // wants_residuals() (ignored otherwise, may be empty); jac must be m x n
  // when wants_jacobian() (ignored otherwise, may be empty).
  // FAILED_PRECONDITION when finished; INVALID_ARGUMENT for a wrong size
  // (the solver is then unchanged). Non-finite entries are failures (see the
  // file comment), not errors.
  absl::Status Tell(const Eigen::VectorXd& r,
                    const Eigen::MatrixXd& jac) override;
  // The outstanding trial could not be evaluated.
  absl::Status TellFailed() override;

  // REQUIRES finished().
  const LeastSquaresSummary& summary() const override { return summary_; }
  LeastSquaresProgress progress() const override;
  // "ftol=1e-08 xtol=1e-08 gtol=1e-08 max_nfev=200 x_scale=1 factor=100",
  // then " jacobian_nfev=n" when the Jacobians cost residual evaluations.
  std::string OptionsReport() const override;

  // The whole machine as bytes (state_bytes.h): restoring them into a
  // solver made by Create with the same n and m continues bitwise. The
  // options travel in the state. RestoreState: INVALID_ARGUMENT for bytes
  // that do not fit (the solver is then unchanged).
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;

 private:
  enum class Phase : int {
    kInitial = 0,        // x0: r and J
    kStep = 1,           // x + p: r
    kJacobian = 2,       // the accepted x: J
    kFinalJacobian = 3,  // the final x: J for the summary
    kFinished = 4,
  };

  LevenbergMarquardt(const LevenbergMarquardtOptions& options,
                     const Eigen::VectorXd& x0, int m);

  void TellInitial(const Eigen::VectorXd* r, const Eigen::MatrixXd* jac);
  // lmder from label 30 on, with J at x just told.
  void OuterIteration(const Eigen::MatrixXd& jac);
  // lmder's inner loop up to the fcn call at label 210's x + p.
  void ProposeStep();
  // The rest of the inner loop, with |r(x + p)| (inf when it failed).
  void FinishStep(const Eigen::VectorXd* r);
  // Ends the run with lmder's info (or optd's status), asking for J(x)
  // first when it is not known.
  void Stop(int info);
  void Fail(std::string message);
  void Summarize();

  // Options, resolved.
  LevenbergMarquardtOptions options_;
  int n_ = 0;
  int m_ = 0;
  int64_t maxfev_ = 0;
  int mode_ = 2;

  Phase phase_ = Phase::kInitial;
  // lmder's variables (names as there).
  Eigen::VectorXd x_;     // x
  Eigen::VectorXd fvec_;  // r(x)
  Eigen::MatrixXd fjac_;  // R of the QR of J(x) (and Householder vectors)
  Eigen::VectorXd diag_;
  Eigen::VectorXd qtf_;
  Eigen::VectorXd wa1_, wa2_, wa3_, wa4_;
  std::vector<int> ipvt_;
  double fnorm_ = 0.0;
  double par_ = 0.0;
  double delta_ = 0.0;
  double xnorm_ = 0.0;
  double gnorm_ = 0.0;
  double pnorm_ = 0.0;
  int64_t iter_ = 1;
  int64_t nfev_ = 0;
  int64_t njev_ = 0;
  int info_ = 0;
  // J(x), kept for the summary; valid when jacobian_valid_.
  Eigen::MatrixXd jac_;
  bool jacobian_valid_ = false;
  int status_ = 0;
  std::string fail_message_;

  LeastSquaresSummary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_LEVENBERG_MARQUARDT_H_
