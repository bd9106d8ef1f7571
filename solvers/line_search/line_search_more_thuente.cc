// Moré & Thuente, ACM TOMS 20 (1994) 286–307, in the form of MINPACK-2's
// `dcsrch` and `dcstep` (Argonne, 1993), which scipy 1.10's L-BFGS-B uses.
// Written from the algorithm; variable names follow dcsrch so the two can be
// read side by side. Every floating-point expression keeps dcsrch's order of
// operations: with finite values the trial steps are bit-for-bit dcsrch's.
#include "solvers/line_search/line_search_more_thuente.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "solvers/core/option_checks.h"

namespace optd {
namespace {

// dcsrch's constants: bisection weight, the sufficient-shrink factor of the
// bracket over two iterations (paper §4), and the extrapolation bounds
// stmin = stp + xtrapl*(stp - stx), stmax = stp + xtrapu*(stp - stx).
constexpr double kP5 = 0.5;
constexpr double kP66 = 0.66;
constexpr double kXtrapl = 1.1;
constexpr double kXtrapu = 4.0;

constexpr int kNumTasks =
    static_cast<int>(MoreThuenteTask::kErrorFailedAtBestStep) + 1;

// The interval of uncertainty [stx, sty] and the trial stp, with function
// values f* and derivatives d*, as dcstep sees them.
struct DcstepState {
  double stx, fx, dx;
  double sty, fy, dy;
  double stp;
  bool brackt;
};

// The safeguarded cubic/quadratic step of dcstep (paper §4, the four cases
// of the "updating algorithm"). Given the new values (fp, dp) at s->stp,
// updates the interval and sets s->stp to the next trial, kept within
// [stpmin, stpmax] when no minimizer is bracketed. optd's only change: in
// case 4 with a bracket whose end sty failed (fy = +inf) the cubic through
// sty is undefined, so the step bisects [stp, sty].
void Dcstep(double fp, double dp, double stpmin, double stpmax,
            DcstepState* s) {
  const double stx = s->stx, fx = s->fx, dx = s->dx;
  const double sty = s->sty, fy = s->fy, dy = s->dy;
  const double stp = s->stp;
  const double sgnd = dp * (dx / std::abs(dx));
  double stpf;

  if (fp > fx) {
    // Case 1: a higher function value; the minimum is bracketed. Take the
    // cubic step if it is closer to stx than the quadratic step, otherwise
    // their average.
    const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
    const double sc = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
    const double ts = theta / sc;
    double gamma = sc * std::sqrt(ts * ts - (dx / sc) * (dp / sc));
    if (stp < stx) gamma = -gamma;
    const double p = (gamma - dx) + theta;
    const double q = ((gamma - dx) + gamma) + dp;
    const double r = p / q;
    const double stpc = stx + r * (stp - stx);
    const double stpq =
        stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
    if (std::abs(stpc - stx) < std::abs(stpq - stx)) {
      stpf = stpc;
    } else {
      stpf = stpc + (stpq - stpc) / 2.0;
    }
    s->brackt = true;
  } else if (sgnd < 0.0) {
    // Case 2: a lower value and derivatives of opposite sign; the minimum is
    // bracketed. Take the cubic step if it is farther from stp than the
    // secant step, otherwise the secant step.
    const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
    const double sc = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
    const double ts = theta / sc;
    double gamma = sc * std::sqrt(ts * ts - (dx / sc) * (dp / sc));
    if (stp > stx) gamma = -gamma;
    const double p = (gamma - dp) + theta;
    const double q = ((gamma - dp) + gamma) + dx;
    const double r = p / q;
    const double stpc = stp + r * (stx - stp);
    const double stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = std::abs(stpc - stp) > std::abs(stpq - stp) ? stpc : stpq;
    s->brackt = true;
  } else if (std::abs(dp) < std::abs(dx)) {
    // Case 3: a lower value, derivatives of the same sign, decreasing in
    // magnitude. The cubic step is used only if the cubic tends to infinity
    // in the direction of the step or its minimum lies beyond stp; otherwise
    // the step goes to the bound (and the secant step is preferred below).
    const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
    const double sc = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
    const double ts = theta / sc;
    double gamma =
        sc * std::sqrt(std::max(0.0, ts * ts - (dx / sc) * (dp / sc)));
    if (stp > stx) gamma = -gamma;
    const double p = (gamma - dp) + theta;
    const double q = (gamma + (dx - dp)) + gamma;
    const double r = p / q;
    double stpc;
    if (r < 0.0 && gamma != 0.0) {
      stpc = stp + r * (stx - stp);
    } else if (stp > stx) {
      stpc = stpmax;
    } else {
      stpc = stpmin;
    }
    const double stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (s->brackt) {
      // Closer of cubic and secant, at most 0.66 of the way to sty.
      stpf = std::abs(stpc - stp) < std::abs(stpq - stp) ? stpc : stpq;
      if (stp > stx) {
        stpf = std::min(stp + kP66 * (sty - stp), stpf);
      } else {
        stpf = std::max(stp + kP66 * (sty - stp), stpf);
      }
    } else {
      // Farther of cubic and secant, within [stpmin, stpmax].
      stpf = std::abs(stpc - stp) > std::abs(stpq - stp) ? stpc : stpq;
      stpf = std::min(stpmax, stpf);
      stpf = std::max(stpmin, stpf);
    }
  } else {
    // Case 4: a lower value, derivatives of the same sign, not decreasing in
    // magnitude. Bracketed: the cubic step through (stp, sty); otherwise the
    // bound in the direction of the step.
    if (s->brackt && !std::isfinite(fy)) {
      stpf = stp + kP5 * (sty - stp);  // optd: sty failed, no cubic.
    } else if (s->brackt) {
      const double theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
      const double sc = std::max({std::abs(theta), std::abs(dy), std::abs(dp)});
      const double ts = theta / sc;
      double gamma = sc * std::sqrt(ts * ts - (dy / sc) * (dp / sc));
      if (stp > sty) gamma = -gamma;
      const double p = (gamma - dp) + theta;
      const double q = ((gamma - dp) + gamma) + dy;
      const double r = p / q;
      stpf = stp + r * (sty - stp);
    } else if (stp > stx) {
      stpf = stpmax;
    } else {
      stpf = stpmin;
    }
  }

  // Update the interval that contains a minimizer.
  if (fp > fx) {
    s->sty = stp;
    s->fy = fp;
    s->dy = dp;
  } else {
    if (sgnd < 0.0) {
      s->sty = stx;
      s->fy = fx;
      s->dy = dx;
    }
    s->stx = stp;
    s->fx = fp;
    s->dx = dp;
  }
  s->stp = stpf;
}

}  // namespace

absl::Status MoreThuenteOptions::Validate() const {
  // !(a <= x && x < b) also rejects NaN.
  if (!(ftol >= 0.0 && ftol < 1.0))
    return OptionOutOfRange("MoreThuenteOptions", "ftol", ftol, "[0, 1)",
                            OptionRangeStyle::kIsOutOfRange);
  if (!(gtol >= 0.0 && gtol < 1.0))
    return OptionOutOfRange("MoreThuenteOptions", "gtol", gtol, "[0, 1)",
                            OptionRangeStyle::kIsOutOfRange);
  if (!(xtol >= 0.0 && std::isfinite(xtol))) {
    return OptionOutOfRange("MoreThuenteOptions", "xtol", xtol, "[0, inf)",
                            OptionRangeStyle::kIsOutOfRange);
  }
  if (!(stpmin >= 0.0 && std::isfinite(stpmin))) {
    return OptionOutOfRange("MoreThuenteOptions", "stpmin", stpmin, "[0, inf)",
                            OptionRangeStyle::kIsOutOfRange);
  }
  if (!(stpmax >= stpmin && std::isfinite(stpmax))) {
    return OptionOutOfRange("MoreThuenteOptions", "stpmax", stpmax,
                            absl::StrCat("[stpmin = ", stpmin, ", inf)"),
                            OptionRangeStyle::kIsOutOfRange);
  }
  return absl::OkStatus();
}

absl::Status MoreThuenteLineSearch::Start(double f0, double g0, double stp,
                                          const MoreThuenteOptions& options) {
  s_ = Snapshot();
  s_.options = options;
  s_.task = MoreThuenteTask::kErrorInvalidArgument;
  absl::Status status = options.Validate();
  if (status.ok() && !std::isfinite(f0)) {
    status = absl::InvalidArgumentError(
        absl::StrCat("line search: f0 = ", f0, " must be finite"));
  } else if (status.ok() && !(g0 < 0.0 && std::isfinite(g0))) {
    status = absl::InvalidArgumentError(
        absl::StrCat("line search: g0 = ", g0,
                     " must be finite and < 0 (not a descent direction)"));
  } else if (status.ok() &&
             !(stp > 0.0 && stp >= options.stpmin && stp <= options.stpmax)) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "line search: stp = ", stp, " must be > 0 and in [stpmin = ",
        options.stpmin, ", stpmax = ", options.stpmax, "]"));
  }
  if (!status.ok()) return status;

  // dcsrch's initialization (task = 'START').
  s_.task = MoreThuenteTask::kEvaluate;
  s_.stage = 1;
  s_.stp = stp;
  s_.first_stp = stp;
  s_.f = f0;
  s_.g = g0;
  s_.finit = f0;
  s_.ginit = g0;
  s_.gtest = options.ftol * g0;
  s_.width = options.stpmax - options.stpmin;
  s_.width1 = s_.width / kP5;
  s_.stx = 0.0;
  s_.fx = f0;
  s_.gx = g0;
  s_.sty = 0.0;
  s_.fy = f0;
  s_.gy = g0;
  s_.stmin = 0.0;
  s_.stmax = stp + kXtrapu * stp;
  return absl::OkStatus();
}

LineSearchState MoreThuenteLineSearch::Tell(double f, double g) {
  if (s_.task != MoreThuenteTask::kEvaluate) {
    return Finish(MoreThuenteTask::kErrorNoEvaluationRequested);
  }
  if (!std::isfinite(f) || !std::isfinite(g)) return TellFailed();
  ++s_.evaluations;
  s_.f = f;
  s_.g = g;
  if (s_.give_up_after_failure) {
    // The re-evaluation at stx that follows a hopeless failure.
    return Finish(MoreThuenteTask::kWarningFailedEvaluations);
  }
  const MoreThuenteOptions& o = s_.options;
  const double stp = s_.stp;

  // Enter the second stage once psi(stp) <= 0 and phi'(stp) >= 0.
  const double ftest = s_.finit + stp * s_.gtest;
  if (s_.stage == 1 && f <= ftest && g >= 0.0) s_.stage = 2;

  // dcsrch's tests, in its order: a later one overrides an earlier one.
  MoreThuenteTask task = MoreThuenteTask::kEvaluate;
  if (s_.brackt && (stp <= s_.stmin || stp >= s_.stmax)) {
    task = MoreThuenteTask::kWarningRoundingErrors;
  }
  if (s_.brackt && s_.stmax - s_.stmin <= o.xtol * s_.stmax) {
    task = MoreThuenteTask::kWarningXtol;
  }
  if (stp == o.stpmax && f <= ftest && g <= s_.gtest) {
    task = MoreThuenteTask::kWarningStpmax;
  }
  if (stp == o.stpmin && (f > ftest || g >= s_.gtest)) {
    task = MoreThuenteTask::kWarningStpmin;
  }
  if (f <= ftest && std::abs(g) <= o.gtol * (-s_.ginit)) {
    task = MoreThuenteTask::kConvergence;
  }
  if (task != MoreThuenteTask::kEvaluate) return Finish(task);

  ComputeNextStep(f, g);
  SafeguardStep();
  return LineSearchState::kEvaluate;
}

void MoreThuenteLineSearch::ComputeNextStep(double f, double g) {
  const double gtest = s_.gtest;
  DcstepState d{s_.stx, s_.fx, s_.gx, s_.sty, s_.fy, s_.gy, s_.stp, s_.brackt};
  if (s_.stage == 1 && f <= s_.fx && f > s_.finit + s_.stp * gtest) {
    // Stage 1 with a lower value but not sufficient decrease: step on the
    // modified function psi(a) = phi(a) - phi(0) - ftol*a*phi'(0) (paper
    // §3), up to the constant phi(0), which dcsrch leaves out.
    d.fx = s_.fx - s_.stx * gtest;
    d.fy = s_.fy - s_.sty * gtest;
    d.dx = s_.gx - gtest;
    d.dy = s_.gy - gtest;
    Dcstep(f - s_.stp * gtest, g - gtest, s_.stmin, s_.stmax, &d);
    d.fx = d.fx + d.stx * gtest;
    d.fy = d.fy + d.sty * gtest;
    d.dx = d.dx + gtest;
    d.dy = d.dy + gtest;
  } else {
    Dcstep(f, g, s_.stmin, s_.stmax, &d);
  }
  if (!std::isfinite(d.stp)) {
    // dcstep's cubic and secant steps overflow when phi spans most of the
    // double range (phi(0) = 5e303, phi(0.14) = 1e26 gave inf - inf = NaN,
    // found by session_requests_fuzzer); dcsrch has no guard and goes on
    // with NaN. optd bisects the bracket instead, or, before one is found,
    // extrapolates to the largest step this iteration allows. The bracket
    // and its end points come from comparisons of finite values and stay
    // valid.
    d.stp = d.brackt ? d.stx + kP5 * (d.sty - d.stx) : s_.stmax;
  }
  s_.stx = d.stx;
  s_.fx = d.fx;
  s_.gx = d.dx;
  s_.sty = d.sty;
  s_.fy = d.fy;
  s_.gy = d.dy;
  s_.stp = d.stp;
  s_.brackt = d.brackt;

  if (s_.brackt) {
    // Bisect when the bracket did not shrink to 0.66 of its width two
    // iterations ago (paper §4, the condition that guarantees termination).
    if (std::abs(s_.sty - s_.stx) >= kP66 * s_.width1) {
      s_.stp = s_.stx + kP5 * (s_.sty - s_.stx);
    }
    s_.width1 = s_.width;
    s_.width = std::abs(s_.sty - s_.stx);
    s_.stmin = std::min(s_.stx, s_.sty);
    s_.stmax = std::max(s_.stx, s_.sty);
  } else {
    s_.stmin = s_.stp + kXtrapl * (s_.stp - s_.stx);
    s_.stmax = s_.stp + kXtrapu * (s_.stp - s_.stx);
  }
}

bool MoreThuenteLineSearch::SafeguardStep() {
  const MoreThuenteOptions& o = s_.options;
  s_.stp = std::max(s_.stp, o.stpmin);
  s_.stp = std::min(s_.stp, o.stpmax);
  // If no further progress is possible, evaluate the best step once more;
  // the tests in Tell() then end the search there.
  if ((s_.brackt && (s_.stp <= s_.stmin || s_.stp >= s_.stmax)) ||
      (s_.brackt && s_.stmax - s_.stmin <= o.xtol * s_.stmax)) {
    s_.stp = s_.stx;
    return true;
  }
  return false;
}

LineSearchState MoreThuenteLineSearch::TellFailed() {
  if (s_.task != MoreThuenteTask::kEvaluate) {
    return Finish(MoreThuenteTask::kErrorNoEvaluationRequested);
  }
  ++s_.evaluations;
  ++s_.failures;
  if (s_.give_up_after_failure || s_.stp == s_.stx) {
    // Only the fall-back re-evaluation of the best step has stp == stx; with
    // it failing there is no point left to end on.
    return Finish(MoreThuenteTask::kErrorFailedAtBestStep);
  }
  // optd's policy (file comment): the failed step closes the bracket with
  // fy = +inf (gy is never read while fy is infinite) and the next trial
  // bisects [stx, failed step], with dcsrch's width bookkeeping.
  s_.brackt = true;
  s_.sty = s_.stp;
  s_.fy = std::numeric_limits<double>::infinity();
  s_.gy = 0.0;
  s_.stp = s_.stx + kP5 * (s_.sty - s_.stx);
  s_.width1 = s_.width;
  s_.width = std::abs(s_.sty - s_.stx);
  s_.stmin = std::min(s_.stx, s_.sty);
  s_.stmax = std::max(s_.stx, s_.sty);
  bool give_up = SafeguardStep();
  // With stx = 0 dcsrch's relative xtol test cannot fire and bisection would
  // reach underflow (~1075 halvings); stop once the bracket is shorter than
  // machine epsilon times the first trial (~52 halvings).
  if (!give_up &&
      s_.width <= std::numeric_limits<double>::epsilon() * s_.first_stp) {
    s_.stp = s_.stx;
    give_up = true;
  }
  s_.give_up_after_failure = give_up;
  return LineSearchState::kEvaluate;
}

LineSearchState MoreThuenteLineSearch::Finish(MoreThuenteTask task) {
  s_.task = task;
  s_.give_up_after_failure = false;
  return state();
}

LineSearchState MoreThuenteLineSearch::state() const {
  switch (s_.task) {
    case MoreThuenteTask::kEvaluate:
      return LineSearchState::kEvaluate;
    case MoreThuenteTask::kConvergence:
      return LineSearchState::kConverged;
    case MoreThuenteTask::kWarningRoundingErrors:
    case MoreThuenteTask::kWarningXtol:
    case MoreThuenteTask::kWarningStpmax:
    case MoreThuenteTask::kWarningStpmin:
    case MoreThuenteTask::kWarningFailedEvaluations:
      return LineSearchState::kWarning;
    default:
      return LineSearchState::kError;
  }
}

std::string_view MoreThuenteLineSearch::message() const {
  // Indexed by MoreThuenteTask; the first seven are dcsrch's own texts.
  static constexpr std::string_view kMessages[] = {
      "ERROR: NOT STARTED",
      "FG",
      "CONVERGENCE",
      "WARNING: ROUNDING ERRORS PREVENT PROGRESS",
      "WARNING: XTOL TEST SATISFIED",
      "WARNING: STP = STPMAX",
      "WARNING: STP = STPMIN",
      "WARNING: FAILED EVALUATIONS PREVENT PROGRESS",
      "ERROR: INVALID ARGUMENT",
      "ERROR: NO EVALUATION REQUESTED",
      "ERROR: EVALUATION FAILED AT THE BEST STEP",
  };
  static_assert(std::size(kMessages) == kNumTasks);
  return kMessages[static_cast<int>(s_.task)];
}

absl::Status MoreThuenteLineSearch::Restore(const Snapshot& snapshot) {
  const int task = static_cast<int>(snapshot.task);
  if (task < 0 || task >= kNumTasks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MoreThuenteLineSearch snapshot: task = ", task, " is out of range"));
  }
  if (snapshot.stage != 1 && snapshot.stage != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("MoreThuenteLineSearch snapshot: stage = ", snapshot.stage,
                     " must be 1 or 2"));
  }
  if (absl::Status status = snapshot.options.Validate(); !status.ok()) {
    return status;
  }
  s_ = snapshot;
  return absl::OkStatus();
}

}  // namespace optd
