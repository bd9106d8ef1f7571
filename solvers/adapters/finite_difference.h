// WithFiniteDifferences: a Solver adapter for sessions that tell values only.
// The inner solver wants gradients; each of its gradient trials becomes a
// batch [x, stencil points] of value trials that workers evaluate in parallel,
// and the adapter forms the gradient (scipy 1.10 `optimize/_numdiff.py`,
// `approx_derivative`; the stencil is in finite_difference_stencil.h).
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Lbfgs> lbfgs,
//                         Lbfgs::Create(LbfgsOptions(), x0));
//   OPTD_ASSIGN_OR_RETURN(
//       std::unique_ptr<Solver> solver,
//       WithFiniteDifferences(std::move(lbfgs), FiniteDifferenceOptions(),
//                             Bounds::Unbounded(n)));
//   while (!solver->finished()) {
//     for (int k = 0; k < solver->batch_size(); ++k) {  // any order, any
//       solver->ReadBatchPoint(k, x_view);              // worker
//       OPTD_RETURN_IF_ERROR(solver->TellBatch(k, {.value = f(x)}));
//     }
//   }
//
// Like every batch adapter (batch_adapter.h) it forwards what it does not
// change to the inner solver, counts every stencil point in its evaluations,
// passes value-only trials through as a batch of one, and serves the
// single-trial methods from the first untold trial of the batch. It is
// restored by replaying its tells (SaveState UNIMPLEMENTED, StateBytes 0): its
// batches hold told values only.
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_H_
#define OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_H_

#include <cstdint>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"

namespace optd {

enum class FiniteDifferenceScheme {
  // scipy '3-point': (f(x + h e_i) - f(x - h e_i)) / 2h, error O(h^2);
  // 2n + 1 trials per gradient (the center x is one of them).
  kCentral,
  // scipy '2-point': (f(x + h e_i) - f(x)) / h, error O(h); n + 1 trials.
  kForward,
};

// FiniteDifferenceOptions: the gradient source of a session that tells values
// only (options.proto FiniteDifferenceOptions).
struct FiniteDifferenceOptions {
  // Default kCentral (DESIGN §2).
  FiniteDifferenceScheme scheme = FiniteDifferenceScheme::kCentral;
  // The step on coordinate i is h_i = relative_step * s_i * max(1, |x_i|),
  // s_i = +1 for x_i >= 0 and -1 otherwise (scipy's `_compute_absolute_step`
  // sign; central differences use |h_i|). NaN: scipy's default for the
  // scheme, cbrt(eps) central, sqrt(eps) forward, with eps of the solver's
  // state type (float32 or float64). Where scipy is given rel_step it scales
  // |x_i| instead of max(1, |x_i|); optd keeps max(1, |x_i|) for any step, so
  // that a coordinate near 0 never gets a vanishing step (REFERENCES.md
  // "Finite differences and gradient checks"). Range (0, 0.1], or NaN.
  double relative_step = std::numeric_limits<double>::quiet_NaN();

  // INVALID_ARGUMENT naming "finite_difference.relative_step", its value and
  // the range.
  absl::Status Validate() const;
};

// WithFiniteDifferences()
//
// Whenever the inner solver's trial wants kGradient or kValueAndGradient, the
// adapter's batch is [x (kValue), stencil points (kValue each)]: 2n + 1 trials
// central, n + 1 forward, stencil points ordered by coordinate (central: x -
// h e_i then x + h e_i). When all are told the adapter forms the gradient and
// tells the inner solver the value at x (if it wants one) and the gradient.
// Inner trials that want kValue pass through as a batch of one, as do Hessian
// trials after the first (a first trial that wants a Hessian is refused).
//
// Bounds (scipy's `_adjust_scheme_to_bounds`): a coordinate whose central
// stencil would leave the box gets the one-sided 3-point formula
// (-3 f0 + 4 f(x + h) - f(x + 2h)) / 2h pointing into the box, with h
// shrunk so that x + 2h stays inside, or a central stencil of the distance to
// the nearer bound when that is larger; a forward step that would leave the
// box goes backward, or to the far bound when neither fits. Every stencil
// point lies in the box when x does; a coordinate of x outside the box keeps
// the plain scheme. A coordinate whose box has zero width (or whose steps
// round to nothing) gets derivative 0: the variable cannot move. The largest
// doubles bound every box: at x_i = +-DBL_MAX the stencil steps inward
// (scipy's would step to +-inf), and elsewhere nothing changes.
//
// Failed values (failed, or not finite): x failed → the inner solver is told a
// failed evaluation. One point of a coordinate's pair failed → the two-point
// difference of the other point with x (central: forward or backward;
// one-sided 3-point: the nearer or the farther point). Both points failed, or
// the single forward point failed → the inner solver is told a failed
// evaluation (the gradient cannot be formed).
//
// INVALID_ARGUMENT: options out of range, inner null, bounds of another
// dimension (an empty Bounds means none), a first trial that wants a Hessian.
absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferences(
    std::unique_ptr<Solver> inner, const FiniteDifferenceOptions& options,
    Bounds bounds);

// What WithFiniteDifferences (and the adapter on slices) checks of `inner`
// and `bounds` (an empty Bounds means none): CheckInnerSolver, bounds of
// the inner solver's dimension, a first trial that wants no Hessian.
absl::Status CheckFiniteDifferenceInner(const Solver* inner,
                                        const Bounds& bounds);

// FiniteDifferenceTrials(), FiniteDifferenceBytes()
//
// The most trials of one batch for dimension n (2n + 1 central, n + 1
// forward; fewer where bounds leave no room), and the bytes the adapter
// holds besides the inner solver and the bounds: its stencil (the point and
// each coordinate's plan, a coordinate and a value per trial), the gradient
// it forms, a told flag per trial. Servers count them against a memory
// budget.
int64_t FiniteDifferenceTrials(int64_t n, FiniteDifferenceScheme scheme);
int64_t FiniteDifferenceBytes(int64_t n, FiniteDifferenceScheme scheme);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAPTERS_FINITE_DIFFERENCE_H_
