// LeastSquaresSolver: LevenbergMarquardt (levenberg_marquardt.h, scipy's
// method='lm'), TrustRegionReflective (trust_region_reflective.h,
// method='trf': bounds and robust losses) or TrfLsmr (trf_lsmr.h, the
// matrix-free tr_solver='lsmr', whose trials want kResiduals,
// kJacobianVector or kJacobianTransposeVector: the product's vector comes
// out of ReadTrialVector, the product in through SetTrialJacobianProduct)
// behind the Solver interface
// (solver.h), so that a server session can run it. Its
// trials want Evaluation::kResidualsAndJacobian (x0), kResiduals (a trial
// step x + p) or kJacobian (an accepted point, and the final one); the told
// residuals and Jacobian come in through SetTrialResiduals and
// SetTrialJacobian before Tell, as a gradient comes through
// SetTrialGradient.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<LeastSquaresSolver> s,
//                         LeastSquaresSolver::Create(options, x0, m));
//   while (!s->finished()) {
//     OPTD_RETURN_IF_ERROR(s->ReadTrialPoint(x));
//     TrialResult result;
//     if (WantsResiduals(s->wants())) {
//       OPTD_RETURN_IF_ERROR(s->SetTrialResiduals(r));   // m elements
//       result.has_residuals = true;
//     }
//     if (WantsJacobian(s->wants())) {
//       OPTD_RETURN_IF_ERROR(s->SetTrialJacobian(jac));  // m*n, row-major
//       result.has_jacobian = true;
//     }
//     OPTD_RETURN_IF_ERROR(s->Tell(result));
//   }
//   const LeastSquaresSummary* lsq = s->least_squares_summary();
//
// The Summary: value is scipy's cost, gradient_max_norm its optimality,
// iterations the successful steps, evaluations the trials told; the reason is
// kGradientTolerance for scipy's status 1, kFunctionTolerance for 2-4 (ftol,
// xtol, both: least_squares_summary()->status tells which),
// kMaxEvaluations for 0 and kEvaluationFailed for a failed x0 or Jacobian.
// SaveState holds the adapter's counters and the method's whole machine
// (its J, and for trf the SVD of the outer iteration), so a session
// checkpoints it instead of replaying every Jacobian.
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_LEAST_SQUARES_SOLVER_H_
#define OPTD_SOLVERS_LEAST_SQUARES_LEAST_SQUARES_SOLVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/solver.h"
#include "solvers/core/vector_view.h"
#include "solvers/least_squares/least_squares_method.h"
#include "solvers/least_squares/levenberg_marquardt.h"
#include "solvers/least_squares/trf_lsmr.h"
#include "solvers/least_squares/trust_region_reflective.h"

namespace optd {

class LeastSquaresSolver final : public Solver {
 public:
  // The solver for `m` residuals of x0.size() variables. INVALID_ARGUMENT
  // as ValidateLevenbergMarquardtOptions, or for a non-finite x0 element.
  static absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> Create(
      const LevenbergMarquardtOptions& options, const ConstVectorView& x0,
      int m);
  // The same for method='trf': INVALID_ARGUMENT as
  // TrustRegionReflective::Create (bad options, x0 outside the box).
  static absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> Create(
      const TrustRegionReflectiveOptions& options, const ConstVectorView& x0,
      int m);
  // The same for tr_solver='lsmr': INVALID_ARGUMENT as TrfLsmr::Create.
  static absl::StatusOr<std::unique_ptr<LeastSquaresSolver>> Create(
      const TrfLsmrOptions& options, const ConstVectorView& x0, int m);

  std::string_view name() const override { return "least_squares"; }
  int64_t dimension() const override { return method_->n(); }
  int64_t residual_count() const override { return method_->m(); }
  bool finished() const override { return stopped_ || method_->finished(); }
  Evaluation wants() const override;

  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  // J(x)^T r(x) at the final point, once finished with J(x) known.
  absl::Status ReadBestGradient(const MutableVectorView& out) const override;

  // FAILED_PRECONDITION: least-squares trials want no gradient.
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  absl::Status SetTrialResiduals(const ConstVectorView& residuals) override;
  absl::Status SetTrialJacobian(const ConstVectorView& jacobian) override;
  // The vector of a product trial (n elements for J v, m for J^T u).
  absl::Status ReadTrialVector(const MutableVectorView& out) const override;
  absl::Status SetTrialJacobianProduct(const ConstVectorView& product) override;
  // INVALID_ARGUMENT when a wanted vector was not set (and not failed).
  absl::Status Tell(const TrialResult& result) override;
  void Stop() override;

  Progress progress() const override;
  const Summary& summary() const override { return summary_; }
  const LeastSquaresSummary* least_squares_summary() const override;
  std::string OptionsReport() const override {
    return method_->OptionsReport();
  }
  // "lm" or "trf".
  std::string_view method() const { return method_->method(); }

  // The adapter's counters, then the method's state (its tag says which).
  // RestoreState: INVALID_ARGUMENT for bytes of the other method or other
  // n, m (the solver is then unchanged).
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  // The size of a state saved now.
  int64_t StateBytes() const override;

 private:
  explicit LeastSquaresSolver(std::unique_ptr<LeastSquaresMethod> method);
  void Finish();

  std::unique_ptr<LeastSquaresMethod> method_;
  // The outstanding trial's told vectors (scratch: a refused tell leaves
  // them for the next tell of the same trial to overwrite).
  Eigen::VectorXd residuals_;
  Eigen::MatrixXd jacobian_;  // sized by the first told Jacobian
  Eigen::VectorXd product_;
  bool stopped_ = false;
  int64_t told_ = 0;
  int64_t failed_ = 0;
  double initial_cost_ = 0.0;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_LEAST_SQUARES_SOLVER_H_
