// Adapters that wrap a Solver (solver.h) and hand out batches of trials that
// workers evaluate in parallel (DESIGN §2 "Workers"):
//
//   WithFiniteDifferences  the inner solver wants gradients; the client tells
//                          values only. Each gradient trial becomes a batch
//                          [x, stencil points] of value trials, and the
//                          adapter forms the gradient (scipy 1.10
//                          `optimize/_numdiff.py`, `approx_derivative`).
//   WithGradientCheck      at chosen iterations the inner solver's gradient
//                          trial is handed out with 2n central-difference
//                          value trials around it; the told gradient is
//                          compared coordinate by coordinate
//                          (gradient_checks()).
//   WithDataParallel       synchronous data parallelism: each gradient trial
//                          is handed out to W workers at the same point; the
//                          told gradients (and values) are averaged by
//                          TrialResult::weight before the inner solver sees
//                          one.
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
// Every adapter forwards what it does not change to the inner solver: name,
// dimension, state type, finished, best point, Stop, iterations. Its
// progress().evaluations and summary().evaluations count the trials told to
// the adapter (every stencil point, every worker), not the inner solver's.
// Inner trials an adapter does not batch (value-only trials, Hessians) pass
// through as a batch of one. The single-trial methods (wants, ReadTrialPoint,
// SetTrialGradient, Tell, ...) act on the first untold trial of the batch,
// so a sequential driver works unchanged.
//
// Finite-difference and gradient-check adapters are restored by replaying
// their tells (SaveState UNIMPLEMENTED, StateBytes 0): their batches hold told
// values only. The data-parallel adapter saves its state when the inner
// solver does.
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SOLVERS_PARALLEL_TRIALS_H_
#define OPTD_SOLVERS_PARALLEL_TRIALS_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/bounds.h"
#include "solvers/solver.h"

namespace optd {

enum class FiniteDifferenceScheme {
  // scipy '3-point': (f(x + h e_i) - f(x - h e_i)) / 2h, error O(h^2);
  // 2n + 1 trials per gradient (the center x is one of them).
  kCentral,
  // scipy '2-point': (f(x + h e_i) - f(x)) / h, error O(h); n + 1 trials.
  kForward,
};

// FiniteDifferenceOptions: the gradient source of a session that tells values
// only (optimizer.proto FiniteDifferenceOptions).
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

// GradientCheckOptions: when to compare a told gradient with central
// differences of told values (optimizer.proto GradientCheckOptions).
struct GradientCheckOptions {
  // Inner-solver iterations (progress().iterations) at which to check, each
  // once, at the first gradient trial of that iteration. Elements >= 0.
  std::vector<int64_t> at_iterations;
  // Also check at every multiple of this (0 included); 0: never. Range
  // [0, 2^53]. With at_iterations empty and this 0, the check is done at
  // iteration 0 only.
  int64_t every_iterations = 0;
  // Central differences with h_i = relative_step * max(1, |x_i|). NaN:
  // cbrt(eps) of the state type (REFERENCES.md "Finite differences and
  // gradient checks"). Range (0, 0.1], or NaN.
  double relative_step = std::numeric_limits<double>::quiet_NaN();

  // INVALID_ARGUMENT naming the field ("gradient_check.every_iterations"),
  // its value and the range.
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
// round to nothing) gets derivative 0: the variable cannot move.
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

// WithGradientCheck()
//
// When the inner solver's trial wants a gradient (kGradient,
// kValueAndGradient) and its iteration is a check iteration not yet checked,
// the batch is [the inner trial (its own wants), x - h_i e_i and x + h_i e_i
// for i = 0..n-1 (kValue each)]; otherwise the inner trial passes through as
// a batch of one. Trial 0's gradient goes straight to the inner solver's
// SetTrialGradient (and is copied for the check); when the whole batch is
// told a GradientCheckReport is kept (the newest 100) and the inner solver
// gets trial 0's result, so the inner solver's iterates are those it would
// have without the check. A stencil value that failed is replaced by trial
// 0's value at x (one-sided difference) when there is one; otherwise that
// coordinate's error is NaN, and max_relative_error is the largest of the
// others. No report is kept when trial 0 told no gradient.
//
// INVALID_ARGUMENT: options out of range, inner null.
absl::StatusOr<std::unique_ptr<Solver>> WithGradientCheck(
    std::unique_ptr<Solver> inner, const GradientCheckOptions& options);

// WithDataParallel()
//
// Whenever the inner solver's trial wants kGradient or kValueAndGradient, the
// batch is `workers` trials at its point with its wants. SetBatchGradient(k)
// validates (as the inner solver does: length, finite elements, float32
// range for a float32 state) and stages the gradient; TellBatch(k) adds it,
// times result.weight (> 0, finite), to a float64 sum, in tell order. Values
// are averaged the same way. A failed trial (failed, no gradient, or a
// non-finite value where a value is wanted) is left out; when all failed the
// inner solver is told a failed evaluation. When all are told the inner
// solver gets sum / total weight. Scratch: two n-vectors of float64.
// Identical tells in the same order give bitwise identical iterates; another
// order may differ by rounding.
//
// SaveState: when the inner solver saves its state, the adapter saves it with
// its own (told flags, sums, weights).
//
// INVALID_ARGUMENT: inner null, workers outside [2, 1024] (naming
// "data_parallel.workers").
absl::StatusOr<std::unique_ptr<Solver>> WithDataParallel(
    std::unique_ptr<Solver> inner, int workers);

}  // namespace optd

#endif  // OPTD_SOLVERS_PARALLEL_TRIALS_H_
