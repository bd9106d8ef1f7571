// The Moré–Thuente line search (Moré & Thuente, "Line search algorithms with
// guaranteed sufficient decrease", ACM TOMS 20 (1994) 286–307) as a
// reverse-communication ("ask-tell") state machine, with the semantics of
// MINPACK-2's `dcsrch` + `dcstep` as called by scipy 1.10's L-BFGS-B
// (lbfgsb.f `lnsrlb`: ftol=1e-3, gtol=0.9, xtol=0.1, stpmin=0).
//
// The search looks for a step stp > 0 along a descent direction at which
// phi(stp) = f(x + stp*d) satisfies the strong Wolfe conditions
//   phi(stp) <= phi(0) + ftol*stp*phi'(0)   (sufficient decrease)
//   |phi'(stp)| <= gtol*|phi'(0)|            (curvature).
// The caller owns the function: it evaluates phi and phi' wherever step()
// says and reports them with Tell(). No evaluation happens inside, so the
// search can be driven across processes, shards or RPCs.
//
// Example:
//   MoreThuenteLineSearch search;
//   OPTD_RETURN_IF_ERROR(search.Start(f0, g0, /*stp=*/1.0, options));
//   LineSearchState state = LineSearchState::kEvaluate;
//   while (state == LineSearchState::kEvaluate) {
//     double f, g;
//     if (!Evaluate(x + search.step() * d, &f, &g)) {
//       state = search.TellFailed();
//     } else {
//       state = search.Tell(f, g);
//     }
//   }
//   // kConverged: the strong Wolfe conditions hold at step().
//   // kWarning: step() is dcsrch's best effort (see message()).
//
// With finite values the sequence of trial steps is bit-for-bit dcsrch's
// (compile with -ffp-contract=off, as solvers/CMakeLists.txt does).
//
// Failed evaluations (optd's extension; dcsrch has none). TellFailed(), or a
// Tell() with a NaN or infinite f or g, reports a point where phi cannot be
// used. dcstep cannot interpolate through it, so the failed step becomes the
// far end of the bracket (sty = stp, fy = +inf, brackt = true) and the next
// trial is the midpoint of stx and the failed step: a bisection backtrack
// that never leaves the interval of uncertainty. Later finite values go
// through dcsrch unchanged, except that dcstep's fourth case (which fits a
// cubic through sty) bisects [stp, sty] while fy is +inf. When the bracket
// after a failure is too small to continue (dcsrch's rounding and xtol tests,
// or shorter than machine epsilon times the first trial step: with stx = 0
// the relative xtol test can never fire), the search asks once more for the
// best step stx, exactly as dcsrch does when it gives up, and then ends with
// "WARNING: FAILED EVALUATIONS PREVENT PROGRESS". Hence a search never ends
// on a failed point and step() is never NaN.
#ifndef OPTD_SOLVERS_LINE_SEARCH_LINE_SEARCH_MORE_THUENTE_H_
#define OPTD_SOLVERS_LINE_SEARCH_LINE_SEARCH_MORE_THUENTE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace optd {

// MoreThuenteOptions: the parameters of dcsrch. Defaults are those of scipy
// 1.10's L-BFGS-B line search (lbfgsb.f `lnsrlb`).
struct MoreThuenteOptions {
  // Sufficient decrease constant (mu in the paper, c1 elsewhere), in [0, 1).
  double ftol = 1e-3;
  // Curvature constant (eta in the paper, c2 elsewhere), in [0, 1). dcsrch
  // allows gtol < ftol (the paper's Tables 2–6 use gtol == ftol); then a step
  // satisfying both conditions may not exist and the search may end in a
  // warning.
  double gtol = 0.9;
  // Relative width of the interval of uncertainty below which the search
  // stops with "WARNING: XTOL TEST SATISFIED"; >= 0.
  double xtol = 0.1;
  // Lower bound for the step; finite, >= 0. scipy L-BFGS-B uses 0.
  double stpmin = 0.0;
  // Upper bound for the step; finite, >= stpmin. 1e10 is lnsrlb's stpmx for
  // a problem without bounds.
  double stpmax = 1e10;

  // Validate(): InvalidArgument naming the field, its value and the allowed
  // range when a field is out of range or not finite.
  absl::Status Validate() const;
};

// LineSearchState: what the caller must do after Start() or Tell().
enum class LineSearchState {
  kEvaluate,   // Evaluate phi and phi' at step() and Tell() them.
  kConverged,  // The strong Wolfe conditions hold at step().
  kWarning,    // Stopped early at step(); message() says why.
  kError,      // Misuse (not started, Tell() out of turn, ...).
};

// MoreThuenteTask: dcsrch's `task` as an enum (message() gives its text).
enum class MoreThuenteTask {
  kNotStarted,                  // "ERROR: NOT STARTED"
  kEvaluate,                    // "FG"
  kConvergence,                 // "CONVERGENCE"
  kWarningRoundingErrors,       // "WARNING: ROUNDING ERRORS PREVENT PROGRESS"
  kWarningXtol,                 // "WARNING: XTOL TEST SATISFIED"
  kWarningStpmax,               // "WARNING: STP = STPMAX"
  kWarningStpmin,               // "WARNING: STP = STPMIN"
  kWarningFailedEvaluations,    // "WARNING: FAILED EVALUATIONS PREVENT ..."
  kErrorInvalidArgument,        // "ERROR: INVALID ARGUMENT" (Start failed)
  kErrorNoEvaluationRequested,  // "ERROR: NO EVALUATION REQUESTED"
  kErrorFailedAtBestStep,       // "ERROR: EVALUATION FAILED AT THE BEST STEP"
};

// MoreThuenteLineSearch: one line search at a time; Start() begins a new one.
// Not thread-safe; cheap to copy.
class MoreThuenteLineSearch {
 public:
  // Snapshot: every member, as plain scalars, so that a durability layer can
  // save a search in flight and Restore() it later. Field names follow
  // dcsrch's local variables.
  struct Snapshot {
    MoreThuenteOptions options;
    MoreThuenteTask task = MoreThuenteTask::kNotStarted;
    bool brackt = false;  // A minimizer is bracketed by [stx, sty].
    int stage = 1;        // 1: psi (the modified function) in use; 2: phi.
    int evaluations = 0;  // Tell() and TellFailed() calls.
    int failures = 0;     // Failed evaluations among them.
    bool give_up_after_failure = false;  // Pending re-evaluation at stx.
    double stp = 0, f = 0, g = 0;  // Current trial, last values told there.
    double first_stp = 0;          // The trial step given to Start().
    double finit = 0, ginit = 0, gtest = 0;
    double stx = 0, fx = 0, gx = 0;  // Best step so far and its values.
    double sty = 0, fy = 0, gy = 0;  // Other end; fy = +inf when it failed.
    double stmin = 0, stmax = 0;     // Bounds for the next trial.
    double width = 0, width1 = 0;    // Bracket widths for the p66 test.
  };

  MoreThuenteLineSearch() = default;

  // Start(): begins a search from phi(0) = f0, phi'(0) = g0 with first trial
  // step `stp`. REQUIRES: f0 and g0 finite, g0 < 0, stpmin <= stp <= stpmax,
  // stp > 0, options.Validate() ok. Otherwise returns InvalidArgument and the
  // search is in kError. On success state() is kEvaluate.
  absl::Status Start(double f0, double g0, double stp,
                     const MoreThuenteOptions& options);

  // step(): while kEvaluate, the step at which phi must be evaluated next;
  // after kConverged/kWarning, the final step, where phi and phi' were last
  // told (value(), derivative()). Like scipy's lnsrlb, a caller may take the
  // point at step() as its next iterate after a warning too.
  double step() const { return s_.stp; }

  // Tell(): reports phi(step()) and phi'(step()). A NaN or infinite f or g
  // counts as a failed evaluation (TellFailed()). REQUIRES: state() is
  // kEvaluate; otherwise the search ends in kError with
  // "ERROR: NO EVALUATION REQUESTED".
  LineSearchState Tell(double f, double g);

  // TellFailed(): the evaluation at step() failed (crash, NaN or +inf); the
  // point is treated as +infinity (see the file comment). Same REQUIRES.
  LineSearchState TellFailed();

  LineSearchState state() const;
  // message(): dcsrch's task text ("FG", "CONVERGENCE", "WARNING: ...").
  std::string_view message() const;
  MoreThuenteTask task() const { return s_.task; }
  // value(), derivative(): the last finite values told (f0, g0 right after
  // Start(); those at step() once the search has ended).
  double value() const { return s_.f; }
  double derivative() const { return s_.g; }
  int evaluations() const { return s_.evaluations; }
  int failures() const { return s_.failures; }

  Snapshot snapshot() const { return s_; }
  // Restore(): continues from `snapshot` exactly as the search it was taken
  // from would have. InvalidArgument when its options are invalid or its enum
  // fields are out of range (e.g. a corrupted record).
  absl::Status Restore(const Snapshot& snapshot);

  // SaveState(), RestoreState(): the snapshot as kStateBytes bytes of
  // little-endian 8-byte words (state_bytes.h), in the order of Snapshot's
  // fields: options (ftol, gtol, xtol, stpmin, stpmax); task, brackt, stage,
  // evaluations, failures, give_up_after_failure as integers; then stp, f,
  // g, first_stp, finit, ginit, gtest, stx, fx, gx, sty, fy, gy, stmin,
  // stmax, width, width1 as doubles. SaveState appends to *out.
  // RestoreState: InvalidArgument naming the field for another size, an enum
  // or count out of range (task, stage, evaluations above 2^30, failures >
  // evaluations),
  // a flag not 0 or 1, or invalid options; the search is then unchanged
  // (implemented in line_search_more_thuente_state.cc).
  static constexpr size_t kStateBytes = 28 * 8;
  void SaveState(std::string* out) const;
  absl::Status RestoreState(std::string_view in);

 private:
  LineSearchState Finish(MoreThuenteTask task);
  // The rest of dcsrch after the termination tests: dcstep, the p66
  // bisection safeguard, the new trial bounds.
  void ComputeNextStep(double f, double g);
  // Clamps to [stpmin, stpmax] and, when no progress is possible, falls back
  // to stx as dcsrch does. Returns true when it fell back.
  bool SafeguardStep();

  Snapshot s_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LINE_SEARCH_LINE_SEARCH_MORE_THUENTE_H_
