// The error an options validator returns for a value outside its range, in
// the two forms the solvers' validators write (their texts are tested
// verbatim, and clients show them):
//
//   OptionRangeStyle::kMustBeIn       lbfgs.memory is 0; it must be in [1,
//   1000] OptionRangeStyle::kIsOutOfRange   MoreThuenteOptions.ftol = 2 is out
//   of
//                                     range: [0, 1)
//
//   if (memory < 1 || memory > 1000)
//     return OptionOutOfRange("lbfgs", "memory", memory, "[1, 1000]");
//
// Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_CORE_OPTION_CHECKS_H_
#define OPTD_SOLVERS_CORE_OPTION_CHECKS_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace optd {

enum class OptionRangeStyle {
  kMustBeIn,      // "<options>.<field> is <value>; it must be in <range>"
  kIsOutOfRange,  // "<options>.<field> = <value> is out of range: <range>"
};

// OptionOutOfRange()
//
// INVALID_ARGUMENT saying that option `field` of the options `options`
// ("lbfgs", "trust_region", "adam", "MoreThuenteOptions") is `value`, outside
// `range` (written as the message shows it, e.g. "[0, 1)").
inline absl::Status OptionOutOfRange(
    absl::string_view options, absl::string_view field, double value,
    absl::string_view range,
    OptionRangeStyle style = OptionRangeStyle::kMustBeIn) {
  if (style == OptionRangeStyle::kIsOutOfRange) {
    return absl::InvalidArgumentError(absl::StrCat(
        options, ".", field, " = ", value, " is out of range: ", range));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      options, ".", field, " is ", value, "; it must be in ", range));
}

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_OPTION_CHECKS_H_
