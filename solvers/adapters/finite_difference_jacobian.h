// WithFiniteDifferenceJacobian: a Solver adapter for least-squares sessions
// that tell residuals only. The inner solver (least_squares_solver.h) wants
// Jacobians; each of its Jacobian trials becomes a batch [x (when its
// residuals are wanted or not known), x + h_j e_j ...] of kResiduals trials
// that workers evaluate in parallel, and the adapter forms J column by
// column. The stencil is finite_difference_stencil.h's, with a pluggable
// step rule:
//
//   kMinpackForward  MINPACK's fdjac2 (scipy/optimize/minpack/fdjac2.f),
//                    which scipy.optimize.least_squares(method='lm',
//                    jac='2-point') runs through lmdif.
//   kForward         scipy 1.10 approx_derivative '2-point' (_numdiff.py).
//   kCentral         approx_derivative '3-point' (one-sided at a bound).
//
// The approx_derivative rules keep the stencil in `bounds` as scipy's trf
// does (least_squares.py: approx_derivative(fun, x, rel_step=diff_step,
// method=jac, f0=f, bounds=bounds)). Behind TrustRegionReflective (which
// takes only these rules in a session) nfev counts none of the stencil's
// trials, as scipy's trf; behind LevenbergMarquardt jacobian_nfev counts
// them, as lmdif:
//
//   LevenbergMarquardtOptions lm;
//   lm.jacobian_nfev = JacobianEvaluations(n, rule);  // lmdif's nfev
//   OPTD_ASSIGN_OR_RETURN(auto inner, LeastSquaresSolver::Create(lm, x0, m));
//   OPTD_ASSIGN_OR_RETURN(
//       std::unique_ptr<Solver> solver,
//       WithFiniteDifferenceJacobian(std::move(inner),
//                                    FiniteDifferenceJacobianOptions(),
//                                    Bounds()));
//   while (!solver->finished()) {
//     for (int k = 0; k < solver->batch_size(); ++k) {  // any order
//       solver->ReadBatchPoint(k, x_view);
//       OPTD_RETURN_IF_ERROR(solver->SetBatchResiduals(k, r(x)));
//       OPTD_RETURN_IF_ERROR(solver->TellBatch(k, {.has_residuals = true}));
//     }
//   }
//
// Like every batch adapter (batch_adapter.h) it forwards what it does not
// change to the inner solver (the least-squares summary included), counts
// every trial told in its evaluations, passes kResiduals trials through as a
// batch of one, and is restored by replaying its tells (its batches hold
// told residuals only).
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_JACOBIAN_H_
#define OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_JACOBIAN_H_

#include <cstdint>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"

namespace optd {

// How the step of column j is chosen and the quotient formed.
enum class JacobianStepRule {
  // MINPACK fdjac2 (lmdif; scipy least_squares method='lm' with any jac
  // string): h_j = sqrt(max(epsfcn, eps)) |x_j|, or sqrt(max(epsfcn, eps))
  // when x_j = 0, with epsfcn = relative_step^2 (scipy's diff_step^2) or eps
  // when unset; column j = (r(x + h_j e_j) - r(x)) / h_j, divided by h_j
  // itself. n trials per Jacobian besides x. No bounds.
  kMinpackForward,
  // approx_derivative '2-point': FiniteDifferenceScheme::kForward's steps
  // (finite_difference.h), n trials besides x.
  kForward,
  // approx_derivative '3-point': FiniteDifferenceScheme::kCentral's steps,
  // 2n trials besides x.
  kCentral,
};

// FiniteDifferenceJacobianOptions: the Jacobian source of a least-squares
// session that tells residuals only (options.proto FiniteDifferenceOptions).
struct FiniteDifferenceJacobianOptions {
  // Default kMinpackForward: what scipy's method='lm' does.
  JacobianStepRule rule = JacobianStepRule::kMinpackForward;
  // kMinpackForward: scipy's diff_step (epsfcn = relative_step^2); NaN:
  // machine eps for epsfcn, so h_j = sqrt(eps) |x_j|. The approx_derivative
  // rules: FiniteDifferenceOptions::relative_step. Range (0, 0.1], or NaN.
  double relative_step = std::numeric_limits<double>::quiet_NaN();

  // INVALID_ARGUMENT naming "finite_difference.relative_step", its value and
  // the range.
  absl::Status Validate() const;
};

// WithFiniteDifferenceJacobian()
//
// Whenever the inner solver's trial wants kJacobian or
// kResidualsAndJacobian, the adapter's batch is [x, stencil points], every
// trial wanting kResiduals, stencil points ordered by column (central: x -
// h e_j then x + h e_j), each a delta from x (BatchPointDelta). When only J
// is wanted and the adapter holds r(x) from the trial that evaluated x last
// (a least-squares solver asks for J at the step it just accepted; lmdif's
// fdjac2 reuses fvec likewise, so the evaluations are lmdif's), trial 0 is
// told from the start: it is never handed out, its id is skipped, and its
// point goes out only as the others' base. When all are told the adapter
// tells the inner solver r(x) (if it wants it) and J.
//
// Failed trials (failed, or a residual not finite): x failed, or a column
// that cannot be formed (its forward point failed, or both central points)
// → the inner solver is told a failed evaluation. One central point failed
// → that column's two-point difference of the other with x.
//
// INVALID_ARGUMENT: options out of range, inner null, an inner solver with no
// residuals (residual_count() 0), bounds of another dimension (an empty
// Bounds means none), bounds with kMinpackForward.
absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferenceJacobian(
    std::unique_ptr<Solver> inner,
    const FiniteDifferenceJacobianOptions& options, Bounds bounds);

// JacobianEvaluations()
//
// Residual evaluations that one Jacobian of n columns costs besides r(x): n
// for the forward rules, 2n central. The inner LevenbergMarquardt's
// jacobian_nfev, so that its nfev is lmdif's.
int64_t JacobianEvaluations(int64_t n, JacobianStepRule rule);

// FiniteDifferenceJacobianTrials(), FiniteDifferenceJacobianBytes()
//
// The most trials of one batch for n variables (JacobianEvaluations + 1),
// and the bytes the adapter holds besides the inner solver and the bounds
// for m residuals: its stencil, m residuals per trial, the m x n Jacobian it
// forms, r(x) and x of the last residual trial, a told flag per trial.
// Servers count them against a memory budget.
int64_t FiniteDifferenceJacobianTrials(int64_t n, JacobianStepRule rule);
int64_t FiniteDifferenceJacobianBytes(int64_t n, int64_t m,
                                      JacobianStepRule rule);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_JACOBIAN_H_
