// WithGradientCheck: a Solver adapter that checks the gradients a client
// tells. At chosen iterations the inner solver's gradient trial is handed out
// with 2n central-difference value trials around it
// (finite_difference_stencil.h) for workers to evaluate in parallel; the told
// gradient is compared coordinate by coordinate, and the comparison kept
// (gradient_checks()).
//
//   GradientCheckOptions check;
//   check.every_iterations = 100;
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Solver> solver,
//                         WithGradientCheck(std::move(lbfgs), check));
//   ... drive it batch by batch (finite_difference.h) ...
//   for (const GradientCheckReport& r : solver->gradient_checks()) {
//     if (r.max_relative_error > 1e-4) ...
//   }
//
// Like every batch adapter (batch_adapter.h) it forwards what it does not
// change to the inner solver, counts every stencil point in its evaluations,
// passes other trials through as a batch of one, and serves the single-trial
// methods from the first untold trial of the batch. It is restored by
// replaying its tells (SaveState UNIMPLEMENTED, StateBytes 0).
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SOLVERS_ADAPTERS_GRADIENT_CHECK_H_
#define OPTD_SOLVERS_ADAPTERS_GRADIENT_CHECK_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/solver.h"

namespace optd {

// GradientCheckOptions: when to compare a told gradient with central
// differences of told values (options.proto GradientCheckOptions).
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

// GradientCheckBytes()
//
// The bytes the adapter holds for dimension n at most, besides the inner
// solver: its stencil of 2n + 1 trials with a told flag each, the told
// gradient's copy, and the reports it keeps (the newest 100, three vectors
// of n each: as many as `options` can check, 100 with every_iterations).
int64_t GradientCheckBytes(int64_t n, const GradientCheckOptions& options);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAPTERS_GRADIENT_CHECK_H_
