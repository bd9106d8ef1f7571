// Summary: how a session ended, in the manner of Ceres' Solver::Summary and
// scipy's OptimizeResult. "Did not converge" is a result, not an error.
//
//   const Summary& s = solver.summary();
//   LOG(INFO) << s.BriefReport();   // one line
//   std::cout << s.FullReport();    // several lines
#ifndef OPTD_SOLVERS_CORE_SUMMARY_H_
#define OPTD_SOLVERS_CORE_SUMMARY_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace optd {

enum class TerminationReason {
  kNone,               // still running
  kGradientTolerance,  // max |g_i| <= gtol
  kFunctionTolerance,  // relative reduction of f <= ftol
  kMaxIterations,
  kMaxEvaluations,
  kLineSearchFailed,  // twice in a row, the second time along -g
  kEvaluationFailed,  // the starting point could not be evaluated
  kStoppedByClient,
  kMaxSteps,  // Adam's step budget
  // Trust region: a bad approximation caused failure to predict improvement
  // (the model predicts no decrease, m(0) - m(p) <= 0).
  kTrustRegionFailed,
  // Adam: the step would leave some x_i not finite (it overflows the state
  // type, or meets inf - inf or 0 / 0); x stays at the last point.
  kStepNotFinite,
};

// True for the reasons that count as success (scipy's status 0, plus the
// budget-free ends of a stochastic optimizer).
bool IsSuccess(TerminationReason reason);
// "GRADIENT_TOLERANCE", ...
std::string_view TerminationReasonName(TerminationReason reason);

// The message an iterative solver (L-BFGS, L-BFGS-B, trust region) ends its
// summary with for each reason it ends for; `failure` is the solver's own
// failure (kLineSearchFailed, kTrustRegionFailed).
struct FinishMessages {
  const char* gradient_tolerance;
  const char* function_tolerance;
  const char* max_iterations;
  const char* max_evaluations;
  const char* evaluation_failed;  // x0 could not be evaluated
  const char* stopped_by_client;
  TerminationReason failure;
  const char* failure_message;
};

// FinishMessage()
//
// messages' text for `reason`; nullptr for kNone and the reasons the solver
// never ends with.
const char* FinishMessage(const FinishMessages& messages,
                          TerminationReason reason);

struct Summary {
  TerminationReason reason = TerminationReason::kNone;
  // scipy-style message, e.g. "CONVERGENCE:
  // NORM_OF_PROJECTED_GRADIENT_<=_PGTOL".
  std::string message;
  std::string solver;  // "lbfgs", "adam", "adamw"
  int64_t dimension = 0;
  double value = std::numeric_limits<double>::quiet_NaN();
  double initial_value = std::numeric_limits<double>::quiet_NaN();
  double gradient_max_norm = std::numeric_limits<double>::quiet_NaN();
  int64_t iterations = 0;
  int64_t evaluations = 0;
  int64_t failed_evaluations = 0;
  int64_t line_search_restarts =
      0;                        // L-BFGS memory dropped after a failed search
  int64_t skipped_updates = 0;  // pairs skipped by the curvature test
  double wall_seconds = 0.0;    // filled in by whoever runs the clock
  std::string options_report;   // the solver's OptionsReport()

  bool success() const { return IsSuccess(reason); }
  // e.g. "lbfgs n=2: CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL; 36
  // iterations, 45 evaluations, f=1.2e-11, max|g|=4.5e-06".
  std::string BriefReport() const;
  // Several lines: the brief report, the counters, the options.
  std::string FullReport() const;
};

class StateWriter;
class StateReader;

// WriteSummaryFields(), ReadSummaryFields()
//
// A Summary as solver states keep it (state_bytes.h): the reason, value,
// initial value, gradient norm, the counters and the wall time (not the
// message, which the solver rebuilds from the reason). Reading checks the
// reason is a TerminationReason and every count is in [0, max_count]; a
// problem is recorded in the reader.
void WriteSummaryFields(const Summary& summary, StateWriter* writer);
void ReadSummaryFields(StateReader* reader, int64_t max_count,
                       Summary* summary);

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_SUMMARY_H_
