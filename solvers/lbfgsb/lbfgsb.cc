// mainlb and lnsrlb of L-BFGS-B 3.0 (lbfgsb.f, scipy 1.10) turned inside out
// for ask-tell: where the Fortran returns to its driver with task = 'FG_...'
// this solver hands out a trial and resumes in Tell(). The driver's own
// checks (scipy/optimize/_lbfgsb_py.py: maxiter, maxfun on NEW_X) are here
// too, in the driver's order.
#include "solvers/lbfgsb/lbfgsb.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/lbfgs/lbfgs_termination.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {
namespace {

// mainlb's epsmch = 2 * dlamch('e') = 2^-52.
constexpr double kEpsmch = std::numeric_limits<double>::epsilon();

}  // namespace

LbfgsB::LbfgsB(const LbfgsOptions& options, const Bounds& bounds,
               Eigen::VectorXd x0)
    : options_(options),
      n_(static_cast<int>(x0.size())),
      box_(bounds),
      x_(x0),
      g_(Eigen::VectorXd::Zero(n_)),
      trial_x_(std::move(x0)),
      trial_g_(Eigen::VectorXd::Zero(n_)),
      memory_(n_, options.memory),
      cauchy_(n_, options.memory),
      free_(n_),
      wn_(Eigen::MatrixXd::Zero(2 * options.memory, 2 * options.memory)),
      wn1_(Eigen::MatrixXd::Zero(2 * options.memory, 2 * options.memory)),
      z_(n_),
      r_(n_),
      xp_(n_),
      wa_(2 * options.memory),
      d_(n_) {
  // active: project x0 into the box and classify the variables.
  flags_ = lbfgsb::Active(box_, &trial_x_, &iwhere_);
  x_ = trial_x_;
  summary_.solver = "lbfgs";
  summary_.dimension = n_;
  summary_.options_report = OptionsReport();
}

absl::StatusOr<std::unique_ptr<LbfgsB>> LbfgsB::Create(
    const LbfgsOptions& options, const ConstVectorView& x0,
    const Bounds& bounds) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  if (x0.size() < 1 || x0.size() > std::numeric_limits<int>::max() / 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("x0 has ", x0.size(), " elements; L-BFGS-B needs 1 to ",
                     std::numeric_limits<int>::max() / 2));
  }
  if (bounds.size() != x0.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the bounds have ", bounds.size(), " elements; x0 has ", x0.size()));
  }
  Eigen::VectorXd x(x0.size());
  for (int64_t i = 0; i < x0.size(); ++i) {
    x[i] = x0.Get(i);
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x0[", i, "] is ", x[i], "; every element must be finite"));
    }
  }
  return std::unique_ptr<LbfgsB>(new LbfgsB(options, bounds, std::move(x)));
}

absl::Status LbfgsB::ReadTrialPoint(const MutableVectorView& out) const {
  if (out.size() != n_) return DimensionError("output", out.size(), n_);
  // Once finished, the point is the last iterate (x0 when it never was one).
  const Eigen::VectorXd& x =
      phase_ == Phase::kFinished && have_iterate_ ? x_ : trial_x_;
  out.CopyFrom(0, n_, x.data());
  return absl::OkStatus();
}

absl::Status LbfgsB::ReadBestPoint(const MutableVectorView& out) const {
  if (out.size() != n_) return DimensionError("output", out.size(), n_);
  out.CopyFrom(0, n_, (have_iterate_ ? x_ : trial_x_).data());
  return absl::OkStatus();
}

absl::Status LbfgsB::ReadBestGradient(const MutableVectorView& out) const {
  if (!have_iterate_) return Solver::ReadBestGradient(out);
  if (out.size() != n_) return DimensionError("output", out.size(), n_);
  out.CopyFrom(0, n_, g_.data());
  return absl::OkStatus();
}

absl::Status LbfgsB::ReadCurvaturePairs(
    std::vector<std::vector<double>>* s,
    std::vector<std::vector<double>>* y) const {
  for (int j = 0; j < memory_.col; ++j) {
    const int slot = memory_.Slot(j);
    s->emplace_back(memory_.ws.col(slot).data(),
                    memory_.ws.col(slot).data() + memory_.n);
    y->emplace_back(memory_.wy.col(slot).data(),
                    memory_.wy.col(slot).data() + memory_.n);
  }
  return absl::OkStatus();
}

absl::Status LbfgsB::SetTrialGradient(const ConstVectorView& gradient) {
  if (finished())
    return absl::FailedPreconditionError("the session has finished");
  if (gradient.size() != n_) {
    return DimensionError("gradient", gradient.size(), n_);
  }
  for (int i = 0; i < n_; ++i) {
    if (!std::isfinite(gradient.Get(i))) {
      return NonFiniteElementError("gradient", i, gradient.Get(i));
    }
  }
  gradient.CopyTo(0, n_, trial_g_.data());
  return absl::OkStatus();
}

absl::Status LbfgsB::Tell(const TrialResult& result) {
  if (finished())
    return absl::FailedPreconditionError("the session has finished");
  ++evaluations_;
  return phase_ == Phase::kInitial ? TellInitial(result)
                                   : TellLineSearch(result);
}

absl::Status LbfgsB::TellInitial(const TrialResult& result) {
  if (result.failed || !std::isfinite(result.value) || !result.has_gradient) {
    ++summary_.failed_evaluations;
    Finish(TerminationReason::kEvaluationFailed);
    return absl::OkStatus();
  }
  f_ = result.value;
  g_ = trial_g_;
  have_iterate_ = true;
  summary_.initial_value = f_;
  phase_ = Phase::kLineSearch;
  // mainlb label 111: the projected gradient at x0 before any iteration.
  sbgnrm_ = lbfgsb::ProjectedGradientNorm(box_, x_, g_);
  if (sbgnrm_ <= options_.gtol) {
    Finish(TerminationReason::kGradientTolerance);
    return absl::OkStatus();
  }
  return StartIteration();
}

void LbfgsB::RefreshMemory() {
  memory_.Reset();
  updatd_ = false;
}

absl::Status LbfgsB::StartIteration() {
  // mainlb label 222. A singular system (bmv, formk) refreshes the memory
  // and starts over; with an empty memory neither can fail again.
  while (true) {
    bool wrk;
    if (!flags_.constrained && memory_.col > 0) {
      // No bounds: the Cauchy point is x itself and every variable is free.
      z_ = x_;
      wrk = updatd_;
    } else {
      int nseg = 0;
      if (!lbfgsb::Cauchy(box_, x_, g_, memory_, sbgnrm_, kEpsmch, &iwhere_,
                          &z_, &cauchy_, &nseg)) {
        RefreshMemory();
        continue;
      }
      wrk = lbfgsb::Freev(iwhere_, static_cast<int>(iterations_),
                          flags_.constrained, updatd_, &free_);
    }
    // Subspace minimization, unless no variable is free or B = theta I.
    if (free_.nfree != 0 && memory_.col != 0) {
      if (wrk && !lbfgsb::Formk(memory_, free_, updatd_, &wn1_, &wn_)) {
        RefreshMemory();
        continue;
      }
      int iword = 0;
      if (!lbfgsb::ReducedGradient(memory_, free_, flags_.constrained, x_, g_,
                                   z_, cauchy_.c, &r_, &wa_) ||
          !lbfgsb::Subsm(box_, memory_, free_, wn_, x_, g_, &r_, &z_, &xp_,
                         &wa_, &iword)) {
        RefreshMemory();
        continue;
      }
    }
    break;
  }
  d_ = z_ - x_;
  return StartLineSearch();
}

absl::Status LbfgsB::StartLineSearch() {
  // lnsrlb, first entry.
  dtd_ = lbfgsb::Ddot(n_, d_.data(), d_.data());
  const double dnorm = std::sqrt(dtd_);
  double stpmx = options_.line_search.stpmax;
  if (flags_.constrained) {
    if (iterations_ == 0) {
      stpmx = 1.0;
    } else {
      // The largest step that keeps x + stp d in the box.
      for (int i = 0; i < n_; ++i) {
        const double a1 = d_[i];
        const int nbd = box_.nbd[i];
        if (nbd == lbfgsb::kUnbounded) continue;
        if (a1 < 0.0 && nbd <= lbfgsb::kBothSides) {
          const double a2 = box_.l[i] - x_[i];
          if (a2 >= 0.0) {
            stpmx = 0.0;
          } else if (a1 * stpmx < a2) {
            stpmx = a2 / a1;
          }
        } else if (a1 > 0.0 && nbd >= lbfgsb::kBothSides) {
          const double a2 = box_.u[i] - x_[i];
          if (a2 <= 0.0) {
            stpmx = 0.0;
          } else if (a1 * stpmx > a2) {
            stpmx = a2 / a1;
          }
        }
      }
    }
  }
  const double stp =
      iterations_ == 0 && !flags_.boxed ? std::min(1.0 / dnorm, stpmx) : 1.0;
  gd_ = lbfgsb::Ddot(n_, g_.data(), d_.data());
  gdold_ = gd_;
  // "ascent direction in projection": mainlb treats it as a failed search.
  if (!(gd_ < 0.0)) return LineSearchFailed();
  MoreThuenteOptions search = options_.line_search;
  search.stpmin = 0.0;
  search.stpmax = stpmx;
  // dcsrch rejects stp > stpmax (a step bound of 0 from an iterate that
  // rounding put on the wrong side of a bound); the Fortran then goes on with
  // a search in an undefined state. optd counts it as a failed search.
  if (!line_search_.Start(f_, gd_, stp, search).ok()) {
    return LineSearchFailed();
  }
  line_search_evaluations_ = 0;
  if (!FormTrialPoint()) return LineSearchFailed();
  return absl::OkStatus();
}

bool LbfgsB::FormTrialPoint() {
  // lnsrlb: x = z at stp = 1 exactly, else x = stp d + t.
  const double stp = line_search_.step();
  if (stp == 1.0) {
    trial_x_ = z_;
  } else {
    for (int i = 0; i < n_; ++i) trial_x_[i] = stp * d_[i] + x_[i];
  }
  // x + stp d overflows when x or d is near the end of the double range; the
  // search cannot go on from there, and optd hands out no such point.
  if (!trial_x_.allFinite()) return false;
  if (!flags_.constrained) return true;
  // stp d + t is rounded to half an ulp of t: at the largest step, which puts
  // a variable exactly on its bound in exact arithmetic, it can land just
  // outside (x = -5.6e-17 for a lower bound of -7.5e-155, found by
  // session_requests_fuzzer). lbfgsb.f hands that point out; optd keeps
  // every trial in the box. Points inside it are unchanged.
  for (int i = 0; i < n_; ++i) {
    const int nbd = box_.nbd[i];
    if ((nbd == lbfgsb::kLowerOnly || nbd == lbfgsb::kBothSides) &&
        trial_x_[i] < box_.l[i]) {
      trial_x_[i] = box_.l[i];
    } else if ((nbd == lbfgsb::kUpperOnly || nbd == lbfgsb::kBothSides) &&
               trial_x_[i] > box_.u[i]) {
      trial_x_[i] = box_.u[i];
    }
  }
  return true;
}

absl::Status LbfgsB::TellLineSearch(const TrialResult& result) {
  ++line_search_evaluations_;
  LineSearchState state;
  if (result.failed || !std::isfinite(result.value) || !result.has_gradient) {
    ++summary_.failed_evaluations;
    last_trial_failed_ = true;
    state = line_search_.TellFailed();
  } else {
    trial_value_ = result.value;
    last_trial_failed_ = false;
    gd_ = lbfgsb::Ddot(n_, trial_g_.data(), d_.data());
    state = line_search_.Tell(result.value, gd_);
  }
  OPTD_ASSIGN_OR_RETURN(LineSearchNext next,
                        NextAfterLineSearch(state, line_search_evaluations_,
                                            options_, last_trial_failed_));
  switch (next) {
    case LineSearchNext::kEvaluate:
      if (!FormTrialPoint()) break;
      return absl::OkStatus();
    case LineSearchNext::kAccept:
      return AcceptStep();
    case LineSearchNext::kFail:
      break;
  }
  return LineSearchFailed();
}

absl::Status LbfgsB::AcceptStep() {
  const double stp = line_search_.step();
  // r = y = g_new - g_old; the iterate moves to the trial.
  Eigen::VectorXd y = trial_g_ - g_;
  x_ = trial_x_;
  g_ = trial_g_;
  const double fold = f_;
  f_ = trial_value_;
  ++iterations_;
  last_step_ = stp;
  sbgnrm_ = lbfgsb::ProjectedGradientNorm(box_, x_, g_);

  // scipy's driver checks its limits on NEW_X before mainlb's tests (label
  // 777), before the memory update.
  const TerminationReason reason =
      TestNewIterate(options_, iterations_, evaluations_, sbgnrm_, fold, f_);
  if (reason != TerminationReason::kNone) {
    Finish(reason);
    return absl::OkStatus();
  }
  // s = stp d; s'y from the slopes, as mainlb computes it.
  const double rr = lbfgsb::Ddot(n_, y.data(), y.data());
  double dr, skip_bound;
  if (stp == 1.0) {
    dr = gd_ - gdold_;
    skip_bound = -gdold_;
  } else {
    dr = (gd_ - gdold_) * stp;
    d_ *= stp;
    skip_bound = -gdold_ * stp;
  }
  if (dr <= kEpsmch * skip_bound) {
    // The curvature condition s'y > 0 fails (numerically): skip the update.
    ++summary_.skipped_updates;
    updatd_ = false;
  } else {
    updatd_ = true;
    memory_.Update(d_, y, rr, dr, stp, dtd_);
    if (!memory_.FormT()) RefreshMemory();  // T not positive definite
  }
  return StartIteration();
}

absl::Status LbfgsB::LineSearchFailed() {
  // mainlb: restore the iterate (the trial never replaced it); with an empty
  // memory this is the end, otherwise refresh the memory and restart.
  if (memory_.col == 0) {
    Finish(TerminationReason::kLineSearchFailed);
    return absl::OkStatus();
  }
  ++summary_.line_search_restarts;
  RefreshMemory();
  return StartIteration();
}

void LbfgsB::Stop() {
  if (!finished()) Finish(TerminationReason::kStoppedByClient);
}

void LbfgsB::Finish(TerminationReason reason) {
  phase_ = Phase::kFinished;
  FinishIterativeSummary(reason, LbfgsFinishMessage(reason), have_iterate_, f_,
                         sbgnrm_, iterations_, evaluations_, &summary_);
}

Progress LbfgsB::progress() const {
  return IterativeProgress(have_iterate_, f_, sbgnrm_, iterations_,
                           evaluations_, last_step_);
}

std::string LbfgsB::OptionsReport() const {
  int finite_sides = 0;
  for (int i = 0; i < n_; ++i) {
    finite_sides += std::isfinite(box_.l[i]) + std::isfinite(box_.u[i]);
  }
  return absl::StrFormat(
      "    memory %d, ftol %g, gtol %g, max_iterations %d, max_evaluations %d\n"
      "    max_line_search %d, line search ftol %g gtol %g xtol %g, max_step "
      "%g\n"
      "    bounds: %d finite sides of %d\n",
      options_.memory, options_.ftol, options_.gtol, options_.max_iterations,
      options_.max_evaluations, options_.max_line_search,
      options_.line_search.ftol, options_.line_search.gtol,
      options_.line_search.xtol, options_.line_search.stpmax, finite_sides,
      2 * n_);
}

}  // namespace optd
