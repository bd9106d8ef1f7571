// StepCounters: what a first-order solver (Adam's family, Adafactor) counts
// besides its vectors, and the eight 8-byte words that begin its saved state
// after the tag (solvers/adam/adam.cc, solvers/adafactor/adafactor.cc):
// step, evaluations, failed evaluations, last value, best value, last
// max |g|, last learning rate, and the TerminationReason it finished with
// (0 while running).
//
//   StepCounters c{.step = step_, ...};
//   out->append(tag);
//   c.Append(out);
//   ...
//   OPTD_ASSIGN_OR_RETURN(StepCounters c, StepCounters::Parse(
//       state.substr(tag.size()), "adam", {TerminationReason::kMaxSteps}));
//
// Thread-safety: a plain value.
#ifndef OPTD_SOLVERS_CORE_STEP_COUNTERS_H_
#define OPTD_SOLVERS_CORE_STEP_COUNTERS_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "solvers/core/solver.h"

namespace optd {

struct StepCounters {
  static constexpr int kWords = 8;
  static constexpr size_t kBytes = 8 * kWords;

  int64_t step = 0;
  int64_t evaluations = 0;
  int64_t failed = 0;
  double last_value = std::numeric_limits<double>::quiet_NaN();
  double best_value = std::numeric_limits<double>::quiet_NaN();
  double gradient_max_norm = std::numeric_limits<double>::quiet_NaN();
  double last_lr = std::numeric_limits<double>::quiet_NaN();
  // 0 while running, else the TerminationReason it finished with.
  int64_t reason = 0;

  // Appends the eight words, in the host's byte order (little-endian on
  // every platform optd builds for).
  void Append(std::string* out) const;

  // The counters of the first kBytes of `words`. INVALID_ARGUMENT when they
  // are fewer, when a count is outside [0, evaluations] or evaluations
  // outside [0, 2^53], or when the reason is neither 0 nor one of
  // `reasons` ("... which `solver` never finishes with").
  static absl::StatusOr<StepCounters> Parse(
      std::string_view words, std::string_view solver,
      absl::Span<const TerminationReason> reasons);

  // Progress as both solvers report it: iterations = steps, last_step =
  // the last learning rate.
  Progress ToProgress() const;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_STEP_COUNTERS_H_
