// MoreThuenteLineSearch::SaveState and RestoreState
// (line_search_more_thuente.h): the snapshot of a search in flight as bytes,
// for the L-BFGS controller's state (lbfgs.h).
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "solvers/line_search/line_search_more_thuente.h"
#include "solvers/core/state_bytes.h"

namespace optd {

void MoreThuenteLineSearch::SaveState(std::string* out) const {
  StateWriter w(out);
  for (const double v : {s_.options.ftol, s_.options.gtol, s_.options.xtol,
                         s_.options.stpmin, s_.options.stpmax}) {
    w.F64(v);
  }
  w.I64(static_cast<int64_t>(s_.task));
  w.Flag(s_.brackt);
  w.I64(s_.stage);
  w.I64(s_.evaluations);
  w.I64(s_.failures);
  w.Flag(s_.give_up_after_failure);
  for (const double v : {s_.stp, s_.f, s_.g, s_.first_stp, s_.finit, s_.ginit,
                         s_.gtest, s_.stx, s_.fx, s_.gx, s_.sty, s_.fy, s_.gy,
                         s_.stmin, s_.stmax, s_.width, s_.width1}) {
    w.F64(v);
  }
}

absl::Status MoreThuenteLineSearch::RestoreState(std::string_view in) {
  if (in.size() != kStateBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the line search state has ", in.size(),
                     " bytes; it must have ", kStateBytes));
  }
  StateReader r(in);
  Snapshot s;
  for (double* v : {&s.options.ftol, &s.options.gtol, &s.options.xtol,
                    &s.options.stpmin, &s.options.stpmax}) {
    *v = r.F64();
  }
  s.task = static_cast<MoreThuenteTask>(
      r.Count("task", 0,
              static_cast<int64_t>(MoreThuenteTask::kErrorFailedAtBestStep)));
  s.brackt = r.Flag("brackt");
  s.stage = static_cast<int>(r.Count("stage", 1, 2));
  // Far below INT_MAX, which Tell()'s ++evaluations must never pass; a
  // search makes a few dozen (L-BFGS allows at most 1000).
  s.evaluations = static_cast<int>(r.Count("evaluations", 0, int64_t{1} << 30));
  s.failures = static_cast<int>(r.Count("failures", 0, s.evaluations));
  s.give_up_after_failure = r.Flag("give_up_after_failure");
  for (double* v : {&s.stp, &s.f, &s.g, &s.first_stp, &s.finit, &s.ginit,
                    &s.gtest, &s.stx, &s.fx, &s.gx, &s.sty, &s.fy, &s.gy,
                    &s.stmin, &s.stmax, &s.width, &s.width1}) {
    *v = r.F64();
  }
  if (!r.ok()) return r.Error("the line search state");
  return Restore(s);
}

}  // namespace optd
