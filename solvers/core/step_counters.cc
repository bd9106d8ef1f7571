#include "solvers/core/step_counters.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace optd {

void StepCounters::Append(std::string* out) const {
  auto word = [out](auto value) {
    uint64_t bits;
    static_assert(sizeof(value) == sizeof(bits));
    std::memcpy(&bits, &value, sizeof(bits));
    out->append(reinterpret_cast<const char*>(&bits), sizeof(bits));
  };
  word(step);
  word(evaluations);
  word(failed);
  word(last_value);
  word(best_value);
  word(gradient_max_norm);
  word(last_lr);
  word(reason);
}

absl::StatusOr<StepCounters> StepCounters::Parse(
    std::string_view words, std::string_view solver,
    absl::Span<const TerminationReason> reasons) {
  if (words.size() < kBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state has ", words.size(), " bytes of counters; ",
                     absl::string_view(solver.data(), solver.size()),
                     "'s have ", static_cast<int64_t>(kBytes)));
  }
  const absl::string_view name(solver.data(), solver.size());
  StepCounters c;
  size_t offset = 0;
  auto word = [&](auto* value) {
    std::memcpy(value, words.data() + offset, sizeof(*value));
    offset += 8;
  };
  word(&c.step);
  word(&c.evaluations);
  word(&c.failed);
  word(&c.last_value);
  word(&c.best_value);
  word(&c.gradient_max_norm);
  word(&c.last_lr);
  word(&c.reason);
  // Each tell counts one evaluation and either a step or a failure; the
  // counters only grow by one, so they must stay far from overflowing
  // (2^53, max_steps' own limit).
  constexpr int64_t kMaxCount = int64_t{1} << 53;
  if (!(c.evaluations >= 0 && c.evaluations <= kMaxCount && c.step >= 0 &&
        c.failed >= 0 && c.step <= c.evaluations &&
        c.failed <= c.evaluations)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state counts ", c.step, " steps and ", c.failed,
                     " failures in ", c.evaluations,
                     " evaluations; each is in [0, evaluations] and "
                     "evaluations in [0, 2^53]"));
  }
  bool known = c.reason == 0;
  for (TerminationReason r : reasons) {
    known |= c.reason == static_cast<int64_t>(r);
  }
  if (!known) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state ends with reason ", c.reason, ", which ", name,
                     " never finishes with"));
  }
  return c;
}

Progress StepCounters::ToProgress() const {
  Progress p;
  p.iterations = step;
  p.evaluations = evaluations;
  p.best_value = best_value;
  p.gradient_max_norm = gradient_max_norm;
  p.last_step = last_lr;
  p.current_value = last_value;
  return p;
}

}  // namespace optd
