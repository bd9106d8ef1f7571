#include "server/session/solver_revision.h"

#include "absl/strings/str_cat.h"

namespace optd::server {

absl::Status CheckSolverRevision(uint32_t revision) {
  if (revision > kSolverRevision) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::StrCat("solver_revision is ", revision),
        absl::StrCat("; this server has revision ", kSolverRevision,
                     ": replay the session on a server of its revision or "
                     "newer")));
  }
  return absl::OkStatus();
}

void ApplyRevisionShims(uint32_t revision, TrustRegionOptions* options) {
  if (revision < 1) {
    // The arithmetic of the builds before revision 1 (kSolverRevision).
    options->ftol = 0.0;
    options->pair_dependence = 1e-8;
  }
}

}  // namespace optd::server
