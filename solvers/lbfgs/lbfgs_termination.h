// The end of an L-BFGS or L-BFGS-B iteration, shared by both solvers
// (lbfgs.cc, lbfgsb.cc): scipy 1.10's reasons and messages, what follows a
// line search's answer, and the tests on a new iterate in the order of
// scipy's driver (scipy/optimize/_lbfgsb_py.py) and mainlb (lbfgsb.f).
//
//   switch (NextAfterLineSearch(state, evaluations, options, failed)) { ... }
//   TerminationReason reason = TestNewIterate(options, iterations, ...);
//   if (reason != TerminationReason::kNone)
//     Finish(reason);  // summary message: LbfgsFinishMessage(reason)
//
// Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_LBFGS_LBFGS_TERMINATION_H_
#define OPTD_SOLVERS_LBFGS_LBFGS_TERMINATION_H_

#include <cstdint>

#include "solvers/core/summary.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/line_search/line_search_more_thuente.h"

namespace optd {

// LbfgsFinishMessage()
//
// scipy's message (lbfgs_messages) for each reason an L-BFGS or L-BFGS-B
// session ends for; nullptr for kNone and the reasons of other solvers.
const char* LbfgsFinishMessage(TerminationReason reason);

// What a solver does after its line search answered.
enum class LineSearchNext {
  kEvaluate,  // hand out the search's next trial
  kAccept,    // take the step (lnsrlb's NEW_X)
  kFail,      // the search failed: restart with an empty memory, or finish
};

// NextAfterLineSearch()
//
// What follows the line search's `state` after `evaluations` trials of this
// search, the last of which failed (no value or gradient) when
// `last_trial_failed`. INTERNAL for a state the line search does not have.
absl::StatusOr<LineSearchNext> NextAfterLineSearch(LineSearchState state,
                                                   int evaluations,
                                                   const LbfgsOptions& options,
                                                   bool last_trial_failed);

// TestNewIterate()
//
// Why the session ends at a new iterate, or kNone to go on: the counts after
// the step (`iterations` taken, `evaluations` made), the projected gradient's
// max norm there, and f before and after the step.
TerminationReason TestNewIterate(const LbfgsOptions& options,
                                 int64_t iterations, int64_t evaluations,
                                 double gradient_norm, double f_old,
                                 double f_new);

}  // namespace optd

#endif  // OPTD_SOLVERS_LBFGS_LBFGS_TERMINATION_H_
