// TrustRegionReflective: nonlinear least squares min sum_i rho(r_i(x)^2)
// (r: m residuals of n variables; rho a robust loss, robust_loss.h) subject
// to lb <= x <= ub, as an ask-tell state machine that makes exactly the
// evaluations scipy 1.10's least_squares(method='trf', jac=callable,
// tr_solver='exact') makes (scipy/optimize/_lsq/trf.py, trf_bounds and
// trf_no_bounds; Branch, Coleman & Li, "A Subspace, Interior, and Conjugate
// Gradient Method for Large-Scale Bound-Constrained Minimization Problems",
// SIAM J. Sci. Comput. 21 (1999) 1-23). The helpers are trf_common.h's.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<TrustRegionReflective> trf,
//                         TrustRegionReflective::Create(options, x0, m));
//   while (!trf->finished()) {
//     const Eigen::VectorXd& x = trf->trial_point();
//     ... Evaluate r (when wants_residuals()) and J (when wants_jacobian())
//     OPTD_RETURN_IF_ERROR(trf->Tell(r, jac));   // or TellFailed()
//   }
//   const LeastSquaresSummary& s = trf->summary();
//
// The trials, in trf.py's order: x0 (after least_squares.py's
// make_strictly_feasible(x0, lb, ub), which moves an x0 on a bound 1e-10
// max(1, |bound|) inside) wants r and J (nfev = njev = 1); every trial step
// wants r only (nfev += 1); after an accepted step the new x wants J only
// (njev += 1), also when that step ends the run (trf.py evaluates J before
// its loop head tests the stopping flags).
//
// Arithmetic: the SVD (Eigen's BDCSVD, scipy LAPACK's gesdd), the BLAS dot
// products and numpy's pairwise sums round differently, so the iterates
// agree with scipy's to rounding, and the evaluation counts agree where no
// accept/reject decision or stopping test falls within rounding of its
// threshold (trust_region_reflective_test.cc lists the runs where it does).
//
// Failed evaluations: a trial step whose residuals fail (TellFailed, or not
// all finite) shrinks the radius to a quarter of the step's scaled norm and
// counts in nfev, as trf.py does for non-finite residuals. A failed x0 or a
// failed Jacobian ends the run with kLeastSquaresEvaluationFailed (scipy
// raises "Residuals are not finite in the initial point" at x0 and does not
// check Jacobians).
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_TRUST_REGION_REFLECTIVE_H_
#define OPTD_SOLVERS_LEAST_SQUARES_TRUST_REGION_REFLECTIVE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/least_squares/least_squares_method.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/least_squares/robust_loss.h"

namespace optd {

// scipy.optimize.least_squares(method='trf')'s parameters, with its
// defaults.
struct TrustRegionReflectiveOptions {
  // Each in [0, inf); at least one must be >= machine epsilon (scipy's
  // check_tolerance for trf; a tolerance below it disables its test).
  double ftol = 1e-8;
  double xtol = 1e-8;
  double gtol = 1e-8;
  // Residual evaluations allowed; 0: trf's default 100 n.
  int64_t max_nfev = 0;
  // Characteristic scale of each variable (n positive finite numbers);
  // empty: 1 for every variable (scipy's x_scale=1.0).
  std::vector<double> x_scale;
  // scipy's x_scale='jac': the inverse column norms of J, never decreasing
  // (compute_jac_scale). x_scale must then be empty.
  bool x_scale_jac = false;
  // The robust loss and its soft margin f_scale (scipy's loss='linear',
  // f_scale=1.0); f_scale in (0, inf).
  RobustLoss loss = RobustLoss::kLinear;
  double f_scale = 1.0;
  // The box; empty: unbounded on that side. Otherwise n entries (-inf /
  // +inf allowed) with lower[i] < upper[i], as scipy requires.
  std::vector<double> lower;
  std::vector<double> upper;
};

// INVALID_ARGUMENT naming the field and its range
// ("trust_region_reflective.f_scale is 0; it must be in (0, inf)") for bad
// options, bounds of the wrong size or with lower[i] >= upper[i], or n < 1
// or m < 1 (trf, unlike lm, allows m < n).
absl::Status ValidateTrustRegionReflectiveOptions(
    const TrustRegionReflectiveOptions& options, int n, int m);

// Create's checks of x0 (its size is n): INVALID_ARGUMENT for a non-finite
// x0 or one outside the box. REQUIRES options valid for n.
absl::Status ValidateTrustRegionReflectiveX0(
    const TrustRegionReflectiveOptions& options, const Eigen::VectorXd& x0);

class TrustRegionReflective final : public LeastSquaresMethod {
 public:
  std::string_view method() const override { return "trf"; }
  // The solver for `m` residuals of x0.size() variables, its first trial
  // (x0 made strictly feasible, wanting r and J) ready.
  // ValidateTrustRegionReflectiveOptions' errors; INVALID_ARGUMENT for a
  // non-finite x0 or one outside the box ("x0[1] = 3 is outside the bounds
  // [-1, 2]": scipy's "`x0` is infeasible.").
  static absl::StatusOr<std::unique_ptr<TrustRegionReflective>> Create(
      const TrustRegionReflectiveOptions& options, const Eigen::VectorXd& x0,
      int m);

  int n() const override { return n_; }
  int m() const override { return m_; }
  bool bounded() const { return bounded_; }
  bool finished() const override { return phase_ == Phase::kFinished; }
  // The outstanding trial's point; REQUIRES !finished().
  const Eigen::VectorXd& trial_point() const override;
  bool wants_residuals() const override;
  bool wants_jacobian() const override;
  // The last accepted point (x0, made strictly feasible, until a step is).
  const Eigen::VectorXd& x() const override { return x_; }

  // Reports the outstanding trial, as LevenbergMarquardt::Tell: r (m) when
  // wants_residuals(), jac (m x n) when wants_jacobian(); FAILED_PRECONDITION
  // when finished, INVALID_ARGUMENT for a wrong size (nothing changes).
  absl::Status Tell(const Eigen::VectorXd& r,
                    const Eigen::MatrixXd& jac) override;
  absl::Status TellFailed() override;

  // REQUIRES finished(). cost is scipy's (with the loss), fun the raw
  // residuals, jac and grad the loss-scaled J and J^T r that trf returns,
  // optimality its (for bounds, Coleman-Li scaled) gradient norm,
  // active_mask find_active_constraints(x, lb, ub, rtol=xtol).
  const LeastSquaresSummary& summary() const override { return summary_; }
  LeastSquaresProgress progress() const override;
  // "method=trf ftol=1e-08 xtol=1e-08 gtol=1e-08 max_nfev=200 x_scale=1
  // loss=linear f_scale=1 bounds=none".
  std::string OptionsReport() const override;

  // The whole machine as bytes (state_bytes.h), as LevenbergMarquardt's.
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;

 private:
  enum class Phase : int {
    kInitial = 0,   // x0: r and J
    kStep = 1,      // x_new: r
    kJacobian = 2,  // the accepted x: J
    kFinished = 3,
  };

  TrustRegionReflective(const TrustRegionReflectiveOptions& options,
                        const Eigen::VectorXd& x0, int m);

  // trf.py up to the loop, with r(x0) and J(x0).
  void Initialize(const Eigen::VectorXd& r, const Eigen::MatrixXd& jac);
  // J at the accepted x (the lines after `J = jac(x, f)`).
  void AcceptJacobian(const Eigen::MatrixXd& jac);
  // The head of the outer loop: stopping tests, scaling, the SVD.
  void OuterIteration();
  // The inner loop's head: the next trial step, or the loop's end.
  void ProposeStep();
  // The rest of the inner loop with r(x_new) (null: not finite).
  void FinishStep(const Eigen::VectorXd* r);
  // After the inner loop: accept (ask for J) or go round again.
  void EndInnerLoop();
  void Fail(std::string message);
  void Summarize();

  TrustRegionReflectiveOptions options_;
  int n_ = 0;
  int m_ = 0;
  int64_t max_nfev_ = 0;
  bool bounded_ = false;
  Eigen::VectorXd lb_, ub_;

  Phase phase_ = Phase::kInitial;
  // trf.py's variables (names as there; `_` suffixed).
  Eigen::VectorXd x_;
  Eigen::VectorXd f_;       // r(x), scaled for the loss
  Eigen::VectorXd f_true_;  // r(x)
  Eigen::MatrixXd j_;       // J(x), scaled for the loss
  Eigen::VectorXd g_;       // J^T f
  Eigen::VectorXd scale_, scale_inv_;
  double cost_ = 0.0;
  double delta_ = 0.0;
  double alpha_ = 0.0;
  double g_norm_ = 0.0;
  double theta_ = 0.0;
  double actual_reduction_ = 0.0;
  int termination_status_ = -1;  // -1: None
  int64_t iteration_ = 0;
  int64_t nfev_ = 0;
  int64_t njev_ = 0;
  // The outer iteration's scaled problem: d, diag_h, g_h, J_h and its SVD.
  Eigen::VectorXd d_, diag_h_, g_h_, uf_, s_;
  Eigen::MatrixXd j_h_, v_;
  // The outstanding trial step.
  Eigen::VectorXd x_new_, step_, step_h_;
  double predicted_reduction_ = 0.0;
  Eigen::VectorXd f_new_;
  double cost_new_ = 0.0;
  int status_ = 0;
  std::string fail_message_;

  LeastSquaresSummary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_TRUST_REGION_REFLECTIVE_H_
