// TrfLsmr: scipy 1.10's least_squares(method='trf', tr_solver='lsmr') with
// a Jacobian known only through products (jac returning a LinearOperator):
// nonlinear least squares min sum_i rho(r_i(x)^2) within lb <= x <= ub as an
// ask-tell machine that never forms the m x n Jacobian. Each trf iteration
// (scipy/optimize/_lsq/trf.py, the tr_solver == 'lsmr' branches of
// trf_bounds and trf_no_bounds) finds the Gauss-Newton direction with LSMR
// (lsmr.h; Fong & Saunders 2011) on [J_h; diag] and solves the trust-region
// problem in the 2-D subspace spanned by it and the scaled gradient (Branch,
// Coleman & Li, SIAM J. Sci. Comput. 21 (1999) 1-23, section 3).
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<TrfLsmr> trf,
//                         TrfLsmr::Create(options, x0, m));
//   while (!trf->finished()) {
//     const Eigen::VectorXd& x = trf->trial_point();
//     if (trf->wants_residuals()) {
//       OPTD_RETURN_IF_ERROR(trf->Tell(r(x), {}));
//     } else if (trf->wants_jacobian_vector()) {
//       OPTD_RETURN_IF_ERROR(trf->TellProduct(J(x) * trf->trial_vector()));
//     } else {  // wants_jacobian_transpose_vector()
//       OPTD_RETURN_IF_ERROR(
//           trf->TellProduct(J(x).transpose() * trf->trial_vector()));
//     }
//   }
//
// The trials, in trf.py's order (products are always at the last accepted
// x, whose residuals were told; nfev and njev count as scipy's with a
// LinearOperator jac):
//   x0: r (nfev = njev = 1), then J^T f (compute_grad).
//   Each iteration: J_h (-g_h) (build_quadratic_1d for the regularization
//     term; only with regularize), then LSMR: one J^T u to start and one
//     J v plus one J^T u per LSMR iteration, then J S (two J v: the
//     subspace basis). Then each trial step: with bounds, J_h r_h when
//     select_step tries a reflection; then r(x_new) (nfev += 1).
//   After an accepted step: J^T f at the new x (njev += 1).
// J_h = J diag(d) (d the scaling: x_scale, and Coleman & Li's with bounds);
// with a robust loss J is left-scaled for the loss as scipy's
// scale_for_robust_loss_function, so the asked vectors and the told
// products are the client's plain J(x) v and J(x)^T u. The products J_h s
// for s in the subspace (the trust-region step, the anti-gradient) come
// from J S by linearity instead of a trial, where scipy multiplies again:
// the same numbers to rounding.
//
// Memory: O(m + n) doubles (a fixed number of vectors of m or n), never m n.
//
// Arithmetic: scipy's norms and dot products go through BLAS, its QR and
// np.roots through LAPACK (with balancing); LSMR amplifies the rounding
// differences, so the iterates agree with scipy's to a relative 1e-8 or so
// rather than 1e-12, and an evaluation count can differ where an
// accept/reject decision or a stopping test falls that close to its
// threshold (trf_lsmr_test.cc).
//
// Refused as scipy refuses them: x_scale='jac' ("x_scale='jac' can't be
// used when `jac` returns LinearOperator."). Failed evaluations: as
// TrustRegionReflective's for residuals; a failed or non-finite product ends
// the run with kLeastSquaresEvaluationFailed (trf cannot go on without it).
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_TRF_LSMR_H_
#define OPTD_SOLVERS_LEAST_SQUARES_TRF_LSMR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/least_squares/least_squares_method.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/least_squares/lsmr.h"
#include "solvers/least_squares/trust_region_reflective.h"

namespace optd {

// trf's options plus scipy's tr_options for tr_solver='lsmr'.
struct TrfLsmrOptions {
  // As for tr_solver='exact', except x_scale_jac (refused).
  TrustRegionReflectiveOptions trf;
  // lsmr's atol and btol (scipy's default 1e-6 each); [0, 1).
  double lsmr_tol = 1e-6;
  // lsmr's maxiter; 0: min(m, n) (lsmr's None). [0, 2^31).
  int64_t lsmr_maxiter = 0;
  // tr_options 'regularize' (scipy's default true).
  bool regularize = true;
};

// ValidateTrustRegionReflectiveOptions' errors, and INVALID_ARGUMENT naming
// the field for x_scale_jac, lsmr_tol or lsmr_maxiter out of range.
absl::Status ValidateTrfLsmrOptions(const TrfLsmrOptions& options, int n,
                                    int m);

class TrfLsmr final : public LeastSquaresMethod {
 public:
  std::string_view method() const override { return "trf"; }
  // The solver for `m` residuals of x0.size() variables, its first trial
  // (x0 made strictly feasible, wanting r) ready. ValidateTrfLsmrOptions'
  // errors and TrustRegionReflective::Create's for x0.
  static absl::StatusOr<std::unique_ptr<TrfLsmr>> Create(
      const TrfLsmrOptions& options, const Eigen::VectorXd& x0, int m);

  int n() const override { return n_; }
  int m() const override { return m_; }
  bool finished() const override { return phase_ == Phase::kFinished; }
  // The outstanding trial's point; REQUIRES !finished().
  const Eigen::VectorXd& trial_point() const override;
  bool wants_residuals() const override;
  bool wants_jacobian() const override { return false; }
  bool wants_jacobian_vector() const override;
  bool wants_jacobian_transpose_vector() const override;
  // v (n elements) for J v, u (m elements) for J^T u.
  const Eigen::VectorXd& trial_vector() const override { return operand_; }
  const Eigen::VectorXd& x() const override { return x_; }

  // Reports the residuals of a wants_residuals() trial (jac is ignored);
  // FAILED_PRECONDITION when finished or when a product is wanted,
  // INVALID_ARGUMENT for a wrong size (nothing changes).
  absl::Status Tell(const Eigen::VectorXd& r,
                    const Eigen::MatrixXd& jac) override;
  // Reports J v (m elements) or J^T u (n elements); FAILED_PRECONDITION
  // when no product is wanted, INVALID_ARGUMENT for a wrong size.
  absl::Status TellProduct(const Eigen::VectorXd& product) override;
  absl::Status TellFailed() override;

  // REQUIRES finished(). As TrustRegionReflective's, except that jac and
  // covariance are empty (J is never formed; n x n may not fit), and the
  // product and LSMR counts are set.
  const LeastSquaresSummary& summary() const override { return summary_; }
  LeastSquaresProgress progress() const override;
  // TrustRegionReflective's report plus " tr_solver=lsmr lsmr_tol=1e-06
  // lsmr_maxiter=0 regularize=1".
  std::string OptionsReport() const override;

  // The whole machine as bytes (state_bytes.h); trf_lsmr_state.cc.
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;

 private:
  enum class Phase : int {
    kInitial = 0,     // x0: r
    kGradient = 1,    // J^T f at x (x0, or an accepted x)
    kRegularize = 2,  // J_h (-g_h)
    kLsmr = 3,        // LSMR's products
    kSubspace = 4,    // J_h S[:, subspace_column_]
    kReflection = 5,  // J_h r_h in select_step
    kStep = 6,        // x_new: r
    kFinished = 7,
  };

  TrfLsmr(const TrfLsmrOptions& options, const Eigen::VectorXd& x0, int m);

  // Asks for J_h s (the client's J (d s), scaled for the loss).
  void AskJhTimes(const Eigen::VectorXd& s, Phase phase);
  // J (d s) told: J_h s.
  Eigen::VectorXd JhFromProduct(const Eigen::VectorXd& jv) const;
  void AskLsmrProduct();
  void Initialize(const Eigen::VectorXd& r);
  void AcceptGradient(const Eigen::VectorXd& jtu);
  void OuterIteration();
  void StartLsmr();
  void LsmrTold(const Eigen::VectorXd& product);
  void BuildSubspace();
  void ProposeStep();
  void FinishStep(const Eigen::VectorXd* r);
  void EndInnerLoop();
  void Fail(std::string message);
  void Summarize();

  TrfLsmrOptions options_;
  int n_ = 0;
  int m_ = 0;
  int64_t max_nfev_ = 0;
  bool bounded_ = false;
  Eigen::VectorXd lb_, ub_;

  Phase phase_ = Phase::kInitial;
  Eigen::VectorXd operand_;  // the product trial's vector
  // trf.py's variables (names as there; `_` suffixed). j_scale_ is
  // scale_for_robust_loss_function's J_scale (empty for the linear loss).
  Eigen::VectorXd x_, f_, f_true_, j_scale_, g_;
  Eigen::VectorXd scale_, scale_inv_;
  double cost_ = 0.0;
  double delta_ = 0.0;
  double g_norm_ = 0.0;
  double theta_ = 0.0;
  double actual_reduction_ = 0.0;
  double reg_term_ = 0.0;
  int termination_status_ = -1;  // -1: None
  bool initialized_ = false;     // trf's set-up after x0 is done
  int64_t iteration_ = 0;
  int64_t nfev_ = 0;
  int64_t njev_ = 0;
  int64_t jv_count_ = 0;
  int64_t jtv_count_ = 0;
  int64_t lsmr_iterations_ = 0;
  // The iteration: d, diag_h, g_h, LSMR, the subspace S (n x 2), J_h S
  // (m x 2), B_S, g_S.
  Eigen::VectorXd d_, diag_h_, g_h_, lsmr_diag_;
  std::optional<Lsmr> lsmr_;
  int subspace_column_ = 0;
  Eigen::MatrixXd s_, js_;
  Eigen::Matrix2d b_s_;
  Eigen::Vector2d g_s_;
  // The outstanding trial step; the reflection's product once told.
  Eigen::VectorXd x_new_, step_, step_h_, f_new_, reflection_product_;
  bool have_reflection_product_ = false;
  double predicted_reduction_ = 0.0;
  double cost_new_ = 0.0;
  int status_ = 0;
  std::string fail_message_;

  LeastSquaresSummary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_TRF_LSMR_H_
