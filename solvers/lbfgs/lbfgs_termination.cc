#include "solvers/lbfgs/lbfgs_termination.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"

namespace optd {

const char* LbfgsFinishMessage(TerminationReason reason) {
  using namespace lbfgs_messages;  // NOLINT(build/namespaces)
  static constexpr FinishMessages kMessages = {
      kGradientMessage,
      kFunctionMessage,
      kIterationsMessage,
      kEvaluationsMessage,
      kStartFailedMessage,
      kStoppedMessage,
      TerminationReason::kLineSearchFailed,
      kLineSearchMessage};
  return FinishMessage(kMessages, reason);
}

absl::StatusOr<LineSearchNext> NextAfterLineSearch(LineSearchState state,
                                                   int evaluations,
                                                   const LbfgsOptions& options,
                                                   bool last_trial_failed) {
  switch (state) {
    case LineSearchState::kEvaluate:
      // lbfgsb.f mainlb: the search fails when it would need evaluation
      // maxls + 1.
      return evaluations >= options.max_line_search ? LineSearchNext::kFail
                                                    : LineSearchNext::kEvaluate;
    case LineSearchState::kConverged:
    case LineSearchState::kWarning:
      // dcsrch's warnings end the search at the last evaluated step, which
      // lnsrlb accepts like a converged one.
      return last_trial_failed ? LineSearchNext::kFail
                               : LineSearchNext::kAccept;
    case LineSearchState::kError:
      return LineSearchNext::kFail;
  }
  return absl::InternalError("unknown line search state");
}

TerminationReason TestNewIterate(const LbfgsOptions& options,
                                 int64_t iterations, int64_t evaluations,
                                 double gradient_norm, double f_old,
                                 double f_new) {
  // The order of scipy 1.10: the driver checks maxiter and maxfun on NEW_X
  // before setulb's own convergence tests (_lbfgsb_py.py, lbfgsb.f label 777).
  if (iterations >= options.max_iterations)
    return TerminationReason::kMaxIterations;
  if (evaluations > options.max_evaluations)
    return TerminationReason::kMaxEvaluations;
  if (gradient_norm <= options.gtol)
    return TerminationReason::kGradientTolerance;
  const double ddum = std::max({std::fabs(f_old), std::fabs(f_new), 1.0});
  if (f_old - f_new <= options.ftol * ddum)
    return TerminationReason::kFunctionTolerance;
  return TerminationReason::kNone;
}

}  // namespace optd
