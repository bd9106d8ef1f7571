// Solver: the ask-tell state machine behind a session. The server asks it what
// the outstanding trial wants and where (ReadTrialPoint), copies the told
// gradient in (SetTrialGradient) and reports the value (Tell); the solver then
// has its next trial ready, or has finished with a Summary.
//
//   std::unique_ptr<Solver> solver = ...;           // e.g. Lbfgs::Create(...)
//   while (!solver->finished()) {
//     solver->ReadTrialPoint(out);                  // where to evaluate
//     double f = objective(x, &grad);
//     OPTD_RETURN_IF_ERROR(solver->SetTrialGradient(grad_view));
//     OPTD_RETURN_IF_ERROR(solver->Tell({.value = f}));
//   }
//   std::cout << solver->summary().BriefReport();
//
// Solvers are pure computation: no I/O, no clocks, no threads. Their vectors
// live in slices (shard_layout.h) reached through a solver-specific vectors
// interface.
//
// Thread-safety: not thread-safe; callers serialize access per solver.
#ifndef OPTD_SOLVERS_CORE_SOLVER_H_
#define OPTD_SOLVERS_CORE_SOLVER_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/core/summary.h"
#include "solvers/core/vector_view.h"

namespace optd {

// What a trial wants evaluated at its point.
enum class Evaluation {
  kValue,
  kGradient,
  kValueAndGradient,
  kHessian,
  kHessianVector,
  // Least squares (LeastSquaresSolver): the residuals r(x), the Jacobian
  // J(x), or both; no value and no gradient.
  kResiduals,
  kJacobian,
  kResidualsAndJacobian,
  // Matrix-free least squares (tr_solver LSMR): the product J(x) v (m
  // elements) or J(x)^T u (n elements) for the trial's vector
  // (ReadTrialVector: n elements for J v, m for J^T u).
  kJacobianVector,
  kJacobianTransposeVector,
};

inline bool WantsJacobianProduct(Evaluation e) {
  return e == Evaluation::kJacobianVector ||
         e == Evaluation::kJacobianTransposeVector;
}

// kHessian trials want the value and the gradient as well as the Hessian.
inline bool WantsValue(Evaluation e) {
  return e == Evaluation::kValue || e == Evaluation::kValueAndGradient ||
         e == Evaluation::kHessian;
}
inline bool WantsGradient(Evaluation e) {
  return e == Evaluation::kGradient || e == Evaluation::kValueAndGradient ||
         e == Evaluation::kHessian;
}

inline bool WantsResiduals(Evaluation e) {
  return e == Evaluation::kResiduals || e == Evaluation::kResidualsAndJacobian;
}
inline bool WantsJacobian(Evaluation e) {
  return e == Evaluation::kJacobian || e == Evaluation::kResidualsAndJacobian;
}

struct LeastSquaresSummary;  // solvers/least_squares/levenberg_marquardt.h
struct SpectrumEstimate;     // solvers/curvature/lanczos.h

// The told result of the outstanding trial. The gradient, when there is one,
// was copied in by Solver::SetTrialGradient just before.
struct TrialResult {
  // f(x); NaN when the client told none. A non-finite value counts as failed.
  double value = std::numeric_limits<double>::quiet_NaN();
  bool has_gradient = false;
  // A Hessian (kHessian) or Hessian-vector product (kHessianVector) was set.
  bool has_hessian = false;
  bool has_hessian_vector = false;
  // Least squares: residuals (SetTrialResiduals) or a Jacobian
  // (SetTrialJacobian) were set.
  bool has_residuals = false;
  bool has_jacobian = false;
  // A Jacobian product (SetTrialJacobianProduct) was set.
  bool has_jacobian_product = false;
  // The evaluation crashed or diverged: treated as f = +inf.
  bool failed = false;
  // Weight of this trial's gradient in a data-parallel average (TellRequest
  // .weight); > 0 and finite. Solvers that average nothing ignore it.
  double weight = 1.0;
  // Adam: the learning rate of each parameter group for the step this
  // result completes (TellRequest.group_lr), overriding the schedule for
  // that step; empty: the schedule's. Other solvers ignore it (the server
  // refuses it for them).
  std::vector<double> learning_rates = {};
};

// A batch trial's point given by another trial of the same batch: that
// trial's point with at most one coordinate changed (Solver::BatchPointDelta).
struct PointDelta {
  // Index in the current batch of the trial whose point this one is built
  // on (the base). The base has no PointDelta itself.
  int base = 0;
  // The coordinate that differs, and its value exactly as ReadBatchPoint
  // writes it into a float64 view; -1 when the point is the base's point.
  int64_t coordinate = -1;
  double value = 0.0;
};

// One gradient check (GradientCheckOptions in options.proto): the told
// gradient against central differences of told values at the same point.
struct GradientCheckReport {
  int64_t iteration = 0;  // the solver's iterations when the check started
  // Per coordinate: |g_i - fd_i| / max(|g_i|, |fd_i|, tiny); 0 where both are
  // 0. NaN where a stencil value failed on both sides.
  std::vector<double> relative_error;
  std::vector<double> told;               // g_i
  std::vector<double> finite_difference;  // fd_i
  double max_relative_error = 0.0;
};

// Progress counters, readable at any time.
struct Progress {
  int64_t iterations = 0;
  int64_t evaluations = 0;
  double best_value = std::numeric_limits<double>::quiet_NaN();
  double gradient_max_norm = std::numeric_limits<double>::quiet_NaN();
  // Step length of the last accepted iteration (L-BFGS: stp; Adam: the lr
  // used; trust region: the norm of the accepted step).
  double last_step = std::numeric_limits<double>::quiet_NaN();
  // The objective at the current iterate: for L-BFGS(-B) and trust region
  // the accepted iterate's value (best_value: they only accept decrease);
  // for Adam the value of the latest tell, which need not decrease.
  double current_value = std::numeric_limits<double>::quiet_NaN();
  // Trust region: the radius for the next step; NaN for other solvers.
  double trust_radius = std::numeric_limits<double>::quiet_NaN();
};

// The end-of-session fields of `summary` for a solver that moves between
// accepted iterates (L-BFGS, trust region): value and max |g| at the last
// iterate, or NaN when no iterate was ever evaluated (stopped before x0 was
// told, or x0 failed).
inline void FinishIterativeSummary(TerminationReason reason,
                                   std::string message, bool have_iterate,
                                   double value, double gradient_max_norm,
                                   int64_t iterations, int64_t evaluations,
                                   Summary* summary) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  summary->reason = reason;
  summary->message = std::move(message);
  summary->value = have_iterate ? value : kNaN;
  summary->gradient_max_norm = have_iterate ? gradient_max_norm : kNaN;
  summary->iterations = iterations;
  summary->evaluations = evaluations;
}

// Progress of such a solver, by the same rule.
inline Progress IterativeProgress(bool have_iterate, double value,
                                  double gradient_max_norm, int64_t iterations,
                                  int64_t evaluations, double last_step) {
  Progress p;
  p.iterations = iterations;
  p.evaluations = evaluations;
  if (have_iterate) {
    p.best_value = value;
    p.current_value = value;
    p.gradient_max_norm = gradient_max_norm;
  }
  p.last_step = last_step;
  return p;
}

class Solver {
 public:
  virtual ~Solver() = default;

  // "lbfgs", "adam", "adamw".
  virtual std::string_view name() const = 0;
  virtual int64_t dimension() const = 0;
  // Precision in which the solver holds its points (trial points read back in
  // this precision lose nothing).
  virtual ScalarType state_type() const { return ScalarType::kFloat64; }

  // True once the session has ended; summary() is then valid.
  virtual bool finished() const = 0;
  // What the outstanding trial wants. REQUIRES: !finished().
  virtual Evaluation wants() const = 0;

  // Writes the outstanding trial's point into `out` (dimension() elements).
  virtual absl::Status ReadTrialPoint(const MutableVectorView& out) const = 0;
  // Writes the best point so far (the last accepted iterate) into `out`.
  virtual absl::Status ReadBestPoint(const MutableVectorView& out) const = 0;

  // Copies a told gradient into the trial's slot. INVALID_ARGUMENT (naming the
  // length or the first non-finite index) leaves the solver's state unchanged.
  // REQUIRES: !finished().
  virtual absl::Status SetTrialGradient(const ConstVectorView& gradient) = 0;
  // For kHessianVector trials: writes the vector v of the wanted product
  // (and for kJacobianVector / kJacobianTransposeVector trials, v or u).
  virtual absl::Status ReadTrialVector(const MutableVectorView& out) const {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Hessian-vector product");
  }
  // For kHessian trials: copies the told dense Hessian (n*n, row-major).
  // INVALID_ARGUMENT (length, non-finite element) leaves the state unchanged.
  virtual absl::Status SetTrialHessian(const ConstVectorView& hessian) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Hessian");
  }
  // For kHessianVector trials: copies the told product H(x) v (n elements).
  virtual absl::Status SetTrialHessianVector(const ConstVectorView& product) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Hessian-vector product");
  }
  // Least squares: the number m of residuals a kResiduals trial wants (0 for
  // solvers that want none); a kJacobian trial wants m * dimension().
  virtual int64_t residual_count() const { return 0; }
  // For kResiduals / kResidualsAndJacobian trials: copies the told residuals
  // (residual_count() elements; non-finite ones make a failed evaluation).
  // INVALID_ARGUMENT (length) leaves the state unchanged.
  virtual absl::Status SetTrialResiduals(const ConstVectorView& residuals) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no residuals");
  }
  // For kJacobian / kResidualsAndJacobian trials: copies the told Jacobian
  // (residual_count() x dimension(), row-major). INVALID_ARGUMENT (length,
  // non-finite element, naming its row and column) leaves the state
  // unchanged.
  virtual absl::Status SetTrialJacobian(const ConstVectorView& jacobian) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Jacobian");
  }
  // For kJacobianVector / kJacobianTransposeVector trials: copies the told
  // product (residual_count() or dimension() elements; non-finite elements
  // end the run as a failed evaluation). INVALID_ARGUMENT (length) leaves
  // the state unchanged.
  virtual absl::Status SetTrialJacobianProduct(const ConstVectorView& product) {
    return absl::FailedPreconditionError(
        "the outstanding trial wants no Jacobian product");
  }
  // Least squares: scipy's OptimizeResult fields once finished; null for
  // other solvers (and for a least-squares session stopped by the client).
  virtual const LeastSquaresSummary* least_squares_summary() const {
    return nullptr;
  }
  // Curvature diagnostics (CurvatureSolver): the spectrum estimate once
  // finished; null for other solvers.
  virtual const SpectrumEstimate* curvature_estimate() const { return nullptr; }
  // Applies the result of the outstanding trial and prepares the next one (or
  // finishes). REQUIRES: !finished(); a gradient was set if
  // result.has_gradient.
  virtual absl::Status Tell(const TrialResult& result) = 0;

  // Batches: several trials outstanding at once.
  //
  // Most solvers hand out one trial at a time (a batch of one, served by the
  // single-trial methods above). Finite-difference stencils, gradient checks
  // and data-parallel gradients (solvers/adapters/batch_adapter.h) hand out a
  // batch of trials that workers evaluate at once and tell in any order; the
  // solver moves on when the last untold trial of the batch is told, and then
  // has a new batch ready (or has finished). The server gives the trials of a
  // batch consecutive ids (the first is the batch's trial 0). k is the index in
  // the current batch, [0, batch_size()). REQUIRES: !finished().
  virtual int batch_size() const { return 1; }
  // Whether trial k of the current batch has been told.
  virtual bool batch_told(int k) const { return false; }
  virtual Evaluation batch_wants(int k) const { return wants(); }
  virtual absl::Status ReadBatchPoint(int k,
                                      const MutableVectorView& out) const {
    return ReadTrialPoint(out);
  }
  virtual absl::Status ReadBatchVector(int k,
                                       const MutableVectorView& out) const {
    return ReadTrialVector(out);
  }
  // Trial k's point as a delta from another trial of the batch, when it is
  // one: ReadBatchPoint(k, out) then writes exactly what
  // ReadBatchPoint(base, out) writes, with element `coordinate` set to
  // `value` (rounded to nearest in a float32 view, as every element is).
  // Finite-difference stencils and gradient checks answer it for their
  // stencil points, data-parallel steps for every trial but the first, so
  // that a server hands out a batch of b trials of dimension n in O(n + b)
  // rather than O(n b) (trials.proto Trial.delta). nullopt: the point is
  // read whole (the first trial of a batch, every trial of a batch of one).
  virtual std::optional<PointDelta> BatchPointDelta(int k) const {
    return std::nullopt;
  }
  // Untold trials of the current batch: batch_size() minus the told ones,
  // in O(1) (a server tells whether a tell completes the batch).
  virtual int batch_untold() const {
    int untold = 0;
    for (int k = 0; k < batch_size(); ++k) untold += batch_told(k) ? 0 : 1;
    return untold;
  }
  // As SetTrialGradient / SetTrialHessian / SetTrialHessianVector for trial
  // k; INVALID_ARGUMENT leaves the state unchanged.
  virtual absl::Status SetBatchGradient(int k,
                                        const ConstVectorView& gradient) {
    return SetTrialGradient(gradient);
  }
  virtual absl::Status SetBatchHessian(int k, const ConstVectorView& hessian) {
    return SetTrialHessian(hessian);
  }
  // Solver::batch_keeps_gradient(), Solver::KeepBatchGradient()
  //
  // Whether the solver keeps a copy of trial k's told gradient besides
  // applying it (a gradient check compares it with differences). When such a
  // gradient is told on slices (ConstVectorView::OnSlices, the direct path of
  // a sharded session), the server first gathers the slices the client sent
  // and hands them whole to KeepBatchGradient, then calls
  // SetBatchGradient(k, the on-slices view), which applies them where they
  // are. KeepBatchGradient changes nothing but the copy.
  virtual bool batch_keeps_gradient(int k) const { return false; }
  virtual absl::Status KeepBatchGradient(int k, const ConstVectorView& whole) {
    return absl::FailedPreconditionError(
        "this solver keeps no copy of a told gradient");
  }
  virtual absl::Status SetBatchHessianVector(int k,
                                             const ConstVectorView& product) {
    return SetTrialHessianVector(product);
  }
  virtual absl::Status SetBatchResiduals(int k,
                                         const ConstVectorView& residuals) {
    return SetTrialResiduals(residuals);
  }
  virtual absl::Status SetBatchJacobian(int k,
                                        const ConstVectorView& jacobian) {
    return SetTrialJacobian(jacobian);
  }
  virtual absl::Status SetBatchJacobianProduct(int k,
                                               const ConstVectorView& product) {
    return SetTrialJacobianProduct(product);
  }
  // Whether TellBatch(k, result) would refuse the result as a whole,
  // whatever it holds: INVALID_ARGUMENT naming why (data parallelism: a
  // weight whose product with the gradient overflows the step's sums), OK
  // otherwise. Changes nothing. A server asks before TellBatch, so that the
  // client hears of its error and a TellBatch error means a solver bug.
  virtual absl::Status CheckBatchResult(int k,
                                        const TrialResult& result) const {
    return absl::OkStatus();
  }
  // Applies trial k's result. REQUIRES: !batch_told(k).
  virtual absl::Status TellBatch(int k, const TrialResult& result) {
    return Tell(result);
  }
  // Gradient checks done so far, oldest first (empty for solvers that do
  // none).
  virtual std::vector<GradientCheckReport> gradient_checks() const {
    return {};
  }
  // Solver::ReadBestGradient()
  //
  // The gradient at ReadBestPoint's point as the solver holds it (told, or
  // formed by finite differences), for scipy's OptimizeResult.jac.
  // FAILED_PRECONDITION for a solver that holds none (Adam, the trust region,
  // a session ended before x0 was evaluated) or whose vectors are not in this
  // process (sharded).
  virtual absl::Status ReadBestGradient(const MutableVectorView& out) const {
    return absl::FailedPreconditionError(absl::StrCat(
        "solver ", std::string(name()), " holds no gradient at its point"));
  }
  // Solver::ReadCurvaturePairs()
  //
  // An L-BFGS solver's quasi-Newton memory: its k most recent curvature
  // pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i, oldest first, appended
  // to *s and *y (k vectors of dimension() elements each). For scipy's
  // hess_inv. FAILED_PRECONDITION for a solver that keeps no such pairs or
  // whose pairs are not in this process (sharded), and nothing appended.
  virtual absl::Status ReadCurvaturePairs(
      std::vector<std::vector<double>>* s,
      std::vector<std::vector<double>>* y) const {
    return absl::FailedPreconditionError(absl::StrCat(
        "solver ", std::string(name()), " keeps no curvature pairs"));
  }
  // Solver::SetCurvaturePairs()
  //
  // Starts the quasi-Newton memory with pairs another solver handed over (a
  // solver switch, docs/api.md "Switch"): s_i, y_i in full, oldest first,
  // already checked (CheckCurvaturePairs, curvature_transfer.h); a solver
  // keeps the newest of them up to its memory. REQUIRES: nothing told yet.
  // INVALID_ARGUMENT for a solver that keeps no such memory (this default).
  virtual absl::Status SetCurvaturePairs(
      const std::vector<std::vector<double>>& s,
      const std::vector<std::vector<double>>& y) {
    return absl::InvalidArgumentError(
        absl::StrCat("solver ", std::string(name()),
                     " takes no curvature pairs from another solver"));
  }
  // Ends the session now with TerminationReason::kStoppedByClient.
  virtual void Stop() = 0;

  virtual Progress progress() const = 0;

  // Solver::SaveState(), Solver::RestoreState()
  //
  // The solver's whole state as bytes, and back into a solver created with
  // the same options and dimension (with any number of slices): the restored
  // solver continues bit for bit as the saved one would have. Servers use it
  // to checkpoint large sessions instead of replaying every tell. Solvers
  // whose state is cheaper to rebuild by replaying their tells return
  // UNIMPLEMENTED (the default). RestoreState: INVALID_ARGUMENT for bytes that
  // do not fit this solver, which is then unchanged. RestoreState REQUIRES a
  // solver that has not been told anything yet.
  virtual absl::Status SaveState(std::string* out) const {
    return absl::UnimplementedError(
        "this solver is restored by replaying its tells");
  }
  virtual absl::Status RestoreState(std::string_view state) {
    return absl::UnimplementedError(
        "this solver is restored by replaying its tells");
  }
  // Bytes SaveState writes (0 when it is unimplemented).
  virtual int64_t StateBytes() const { return 0; }

  // REQUIRES: finished().
  virtual const Summary& summary() const = 0;
  // One line per resolved option, for Summary::FullReport.
  virtual std::string OptionsReport() const = 0;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_SOLVER_H_
