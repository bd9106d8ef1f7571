// TrustRegionOptions::Validate, the names of the options' enums and
// TrustRegion::OptionsReport.
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solvers/core/option_checks.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 53;

}  // namespace

const char* SubproblemName(TrustRegionSubproblem subproblem) {
  switch (subproblem) {
    case TrustRegionSubproblem::kExact:
      return "exact";
    case TrustRegionSubproblem::kNewtonCg:
      return "newton_cg";
    case TrustRegionSubproblem::kNewtonCgFiniteDifference:
      return "newton_cg_fd";
    case TrustRegionSubproblem::kQuasiNewton:
      return "quasi_newton";
  }
  return "unknown";
}

const char* UpdateName(QuasiNewtonUpdate update) {
  switch (update) {
    case QuasiNewtonUpdate::kLsr1:
      return "lsr1";
    case QuasiNewtonUpdate::kLbfgs:
      return "lbfgs";
  }
  return "unknown";
}

absl::Status TrustRegionOptions::Validate() const {
  const int sub = static_cast<int>(subproblem);
  if (sub < static_cast<int>(TrustRegionSubproblem::kExact) ||
      sub > static_cast<int>(TrustRegionSubproblem::kQuasiNewton)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trust_region.subproblem is ", sub,
        "; it must be one of exact, newton_cg, newton_cg_fd, quasi_newton"));
  }
  const int update = static_cast<int>(quasi_newton_update);
  if (update < static_cast<int>(QuasiNewtonUpdate::kLsr1) ||
      update > static_cast<int>(QuasiNewtonUpdate::kLbfgs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust_region.quasi_newton_update is ", update,
                     "; it must be one of lsr1, lbfgs"));
  }
  if (memory < 1 || memory > 1000) {
    return OptionOutOfRange("trust_region", "memory", memory, "[1, 1000]");
  }
  if (!(max_radius > 0 && std::isfinite(max_radius))) {
    return OptionOutOfRange("trust_region", "max_radius", max_radius,
                            "(0, inf)");
  }
  if (!(initial_radius > 0 && initial_radius <= max_radius)) {
    return OptionOutOfRange("trust_region", "initial_radius", initial_radius,
                            absl::StrCat("(0, max_radius = ", max_radius, "]"));
  }
  if (!(eta >= 0 && eta < 0.25))
    return OptionOutOfRange("trust_region", "eta", eta, "[0, 0.25)");
  if (!(gtol >= 0 && std::isfinite(gtol))) {
    return OptionOutOfRange("trust_region", "gtol", gtol, "[0, inf)");
  }
  if (max_iterations < 0 || max_iterations > kMaxCount) {
    return OptionOutOfRange("trust_region", "max_iterations",
                            static_cast<double>(max_iterations),
                            "[0, 2^53] (0: 200 n)");
  }
  if (max_evaluations < 0 || max_evaluations > kMaxCount) {
    return OptionOutOfRange("trust_region", "max_evaluations",
                            static_cast<double>(max_evaluations),
                            "[0, 2^53] (0: no limit)");
  }
  if (!(ftol >= 0 && ftol < 1))
    return OptionOutOfRange("trust_region", "ftol", ftol, "[0, 1)");
  if (ftol_steps < 1) {
    return OptionOutOfRange("trust_region", "ftol_steps", ftol_steps,
                            "[1, 2^31)");
  }
  if (!(pair_dependence > 0 && pair_dependence < 1)) {
    return OptionOutOfRange("trust_region", "pair_dependence", pair_dependence,
                            "(0, 1)");
  }
  return absl::OkStatus();
}

std::string TrustRegion::OptionsReport() const {
  std::string subproblem = SubproblemName(options_.subproblem);
  if (options_.subproblem == TrustRegionSubproblem::kQuasiNewton) {
    absl::StrAppend(&subproblem, " (", UpdateName(options_.quasi_newton_update),
                    ", memory ", options_.memory, ")");
  }
  return absl::StrFormat(
      "    subproblem %s, initial_radius %g, max_radius %g, eta %g, gtol %g\n"
      "    max_iterations %d, max_evaluations %d%s, ftol %g over %d steps%s\n",
      subproblem, options_.initial_radius, options_.max_radius, options_.eta,
      options_.gtol, options_.max_iterations, options_.max_evaluations,
      options_.max_evaluations == 0 ? " (no limit)" : "", options_.ftol,
      options_.ftol_steps,
      bounded_ ? "\n    bounds: projected steps, projected-gradient test" : "");
}

}  // namespace optd
