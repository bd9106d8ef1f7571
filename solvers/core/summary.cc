#include "solvers/core/summary.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solvers/core/state_bytes.h"

namespace optd {

const char* FinishMessage(const FinishMessages& messages,
                          TerminationReason reason) {
  if (reason == TerminationReason::kNone) return nullptr;
  if (reason == messages.failure) return messages.failure_message;
  switch (reason) {
    case TerminationReason::kGradientTolerance:
      return messages.gradient_tolerance;
    case TerminationReason::kFunctionTolerance:
      return messages.function_tolerance;
    case TerminationReason::kMaxIterations:
      return messages.max_iterations;
    case TerminationReason::kMaxEvaluations:
      return messages.max_evaluations;
    case TerminationReason::kEvaluationFailed:
      return messages.evaluation_failed;
    case TerminationReason::kStoppedByClient:
      return messages.stopped_by_client;
    default:
      return nullptr;
  }
}

bool IsSuccess(TerminationReason reason) {
  switch (reason) {
    case TerminationReason::kGradientTolerance:
    case TerminationReason::kFunctionTolerance:
    case TerminationReason::kStoppedByClient:
    case TerminationReason::kMaxSteps:
      return true;
    default:
      return false;
  }
}

std::string_view TerminationReasonName(TerminationReason reason) {
  switch (reason) {
    case TerminationReason::kNone:
      return "NONE";
    case TerminationReason::kGradientTolerance:
      return "GRADIENT_TOLERANCE";
    case TerminationReason::kFunctionTolerance:
      return "FUNCTION_TOLERANCE";
    case TerminationReason::kMaxIterations:
      return "MAX_ITERATIONS";
    case TerminationReason::kMaxEvaluations:
      return "MAX_EVALUATIONS";
    case TerminationReason::kLineSearchFailed:
      return "LINE_SEARCH_FAILED";
    case TerminationReason::kEvaluationFailed:
      return "EVALUATION_FAILED";
    case TerminationReason::kStoppedByClient:
      return "STOPPED_BY_CLIENT";
    case TerminationReason::kMaxSteps:
      return "MAX_STEPS";
    case TerminationReason::kTrustRegionFailed:
      return "TRUST_REGION_FAILED";
    case TerminationReason::kStepNotFinite:
      return "STEP_NOT_FINITE";
  }
  return "UNKNOWN";
}

std::string Summary::BriefReport() const {
  return absl::StrFormat(
      "%s n=%d: %s; %d iterations, %d evaluations, f=%.10g, max|g|=%.3g",
      solver, dimension, message, iterations, evaluations, value,
      gradient_max_norm);
}

std::string Summary::FullReport() const {
  std::string out = absl::StrCat(BriefReport(), "\n");
  absl::StrAppendFormat(&out, "  termination          %s (%s)\n",
                        TerminationReasonName(reason),
                        success() ? "success" : "no success");
  absl::StrAppendFormat(&out, "  initial value        %.17g\n", initial_value);
  absl::StrAppendFormat(&out, "  final value          %.17g\n", value);
  absl::StrAppendFormat(&out, "  max |gradient|       %.6g\n",
                        gradient_max_norm);
  absl::StrAppendFormat(&out, "  iterations           %d\n", iterations);
  absl::StrAppendFormat(&out, "  evaluations          %d (%d failed)\n",
                        evaluations, failed_evaluations);
  if (line_search_restarts > 0 || skipped_updates > 0) {
    absl::StrAppendFormat(&out,
                          "  line search restarts %d, skipped updates %d\n",
                          line_search_restarts, skipped_updates);
  }
  absl::StrAppendFormat(&out, "  wall time            %.6f s\n", wall_seconds);
  if (!options_report.empty())
    absl::StrAppend(&out, "  options\n", options_report);
  return out;
}

void WriteSummaryFields(const Summary& s, StateWriter* w) {
  w->I64(static_cast<int64_t>(s.reason));
  for (const double v : {s.value, s.initial_value, s.gradient_max_norm}) {
    w->F64(v);
  }
  for (const int64_t v : {s.iterations, s.evaluations, s.failed_evaluations,
                          s.line_search_restarts, s.skipped_updates}) {
    w->I64(v);
  }
  w->F64(s.wall_seconds);
}

void ReadSummaryFields(StateReader* r, int64_t max_count, Summary* s) {
  s->reason = static_cast<TerminationReason>(
      r->Count("summary.reason", 0,
               static_cast<int64_t>(TerminationReason::kTrustRegionFailed)));
  s->value = r->F64();
  s->initial_value = r->F64();
  s->gradient_max_norm = r->F64();
  for (auto [count, name] :
       {std::pair{&s->iterations, "summary.iterations"},
        std::pair{&s->evaluations, "summary.evaluations"},
        std::pair{&s->failed_evaluations, "summary.failed_evaluations"},
        std::pair{&s->line_search_restarts, "summary.line_search_restarts"},
        std::pair{&s->skipped_updates, "summary.skipped_updates"}}) {
    *count = r->Count(name, 0, max_count);
  }
  s->wall_seconds = r->F64();
}

}  // namespace optd
