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

LbfgsB::LbfgsB(const LbfgsOptions& options, int64_t finite_sides,
               std::unique_ptr<LbfgsbVectors> vectors, BoxFlags flags)
    : options_(options),
      n_(vectors->dimension()),
      finite_sides_(finite_sides),
      vectors_(std::move(vectors)),
      flags_(flags),
      memory_(options.memory),
      cauchy_(options.memory),
      wn_(Eigen::MatrixXd::Zero(2 * options.memory, 2 * options.memory)),
      wn1_(Eigen::MatrixXd::Zero(2 * options.memory, 2 * options.memory)),
      wa_(Eigen::VectorXd::Zero(2 * options.memory)),
      wv_(Eigen::VectorXd::Zero(2 * options.memory)) {
  free_.nfree = n_;  // freev's first free set: every variable
  summary_.solver = "lbfgs";
  summary_.dimension = n_;
  summary_.options_report = OptionsReport();
}

absl::StatusOr<std::unique_ptr<LbfgsB>> LbfgsB::Create(
    const LbfgsOptions& options, const ConstVectorView& x0,
    const Bounds& bounds) {
  if (x0.size() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("x0 has ", x0.size(), " elements; L-BFGS-B needs 1 to ",
                     std::numeric_limits<int>::max() / 2));
  }
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout, ShardLayout::Make(x0.size(), 1));
  std::unique_ptr<LbfgsbVectors> vectors;
  if (options.Validate().ok() && bounds.size() == x0.size()) {
    vectors =
        std::make_unique<LocalLbfgsbVectors>(layout, options.memory, bounds);
  }
  return Create(options, x0, bounds, std::move(vectors));
}

absl::StatusOr<std::unique_ptr<LbfgsB>> LbfgsB::Create(
    const LbfgsOptions& options, const ConstVectorView& x0,
    const Bounds& bounds, std::unique_ptr<LbfgsbVectors> vectors) {
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
  for (int64_t i = 0; i < x0.size(); ++i) {
    const double xi = x0.Get(i);
    if (!std::isfinite(xi)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x0[", i, "] is ", xi, "; every element must be finite"));
    }
  }
  if (vectors == nullptr || vectors->dimension() != x0.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the vectors have dimension ",
                     vectors == nullptr ? 0 : vectors->dimension(), "; x0 has ",
                     x0.size(), " elements"));
  }
  int64_t finite_sides = 0;
  for (int64_t i = 0; i < bounds.size(); ++i) {
    finite_sides +=
        std::isfinite(bounds.lower(i)) + std::isfinite(bounds.upper(i));
  }
  // active: project x0 into the box and classify the variables.
  OPTD_ASSIGN_OR_RETURN(BoxFlags flags, vectors->Start(x0));
  return std::unique_ptr<LbfgsB>(
      new LbfgsB(options, finite_sides, std::move(vectors), flags));
}

absl::Status LbfgsB::ReadTrialPoint(const MutableVectorView& out) const {
  if (out.size() != n_) return DimensionError("output", out.size(), n_);
  // Once finished, the point is the last iterate (x0 when it never was one).
  if (phase_ == Phase::kFinished && have_iterate_) {
    return vectors_->ReadPoint(out);
  }
  return vectors_->ReadTrialPoint(out);
}

absl::Status LbfgsB::ReadBestPoint(const MutableVectorView& out) const {
  if (out.size() != n_) return DimensionError("output", out.size(), n_);
  // Before the first evaluation x is the (projected) x0, the trial.
  return vectors_->ReadPoint(out);
}

absl::Status LbfgsB::ReadBestGradient(const MutableVectorView& out) const {
  if (!have_iterate_) return Solver::ReadBestGradient(out);
  if (out.size() != n_) return DimensionError("output", out.size(), n_);
  return vectors_->ReadGradient(out);
}

absl::Status LbfgsB::ReadCurvaturePairs(
    std::vector<std::vector<double>>* s,
    std::vector<std::vector<double>>* y) const {
  return vectors_->ReadPairs(memory_.col, s, y);
}

absl::Status LbfgsB::SetTrialGradient(const ConstVectorView& gradient) {
  if (finished())
    return absl::FailedPreconditionError("the session has finished");
  if (gradient.size() != n_) {
    return DimensionError("gradient", gradient.size(), n_);
  }
  return vectors_->SetTrialGradient(gradient);
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
  OPTD_RETURN_IF_ERROR(vectors_->AcceptInitial());
  have_iterate_ = true;
  summary_.initial_value = f_;
  phase_ = Phase::kLineSearch;
  // mainlb label 111: the projected gradient at x0 before any iteration.
  OPTD_ASSIGN_OR_RETURN(sbgnrm_, vectors_->ProjectedGradientNorm());
  if (sbgnrm_ <= options_.gtol) {
    Finish(TerminationReason::kGradientTolerance);
    return absl::OkStatus();
  }
  return StartIteration();
}

absl::Status LbfgsB::RefreshMemory() {
  memory_.Reset();
  updatd_ = false;
  return vectors_->ClearMemory();
}

absl::Status LbfgsB::StartIteration() {
  // mainlb label 222. A singular system (bmv, formk) refreshes the memory
  // and starts over; with an empty memory neither can fail again.
  while (true) {
    bool wrk;
    if (!flags_.constrained && memory_.col > 0) {
      // No bounds: the Cauchy point is x itself and every variable is free.
      OPTD_RETURN_IF_ERROR(vectors_->SetCauchyPointToIterate());
      wrk = updatd_;
    } else {
      int nseg = 0;
      OPTD_ASSIGN_OR_RETURN(
          bool ok, lbfgsb::Cauchy(vectors_.get(), memory_, sbgnrm_, kEpsmch,
                                  &cauchy_, &nseg));
      if (!ok) {
        OPTD_RETURN_IF_ERROR(RefreshMemory());
        continue;
      }
      OPTD_ASSIGN_OR_RETURN(
          wrk, lbfgsb::Freev(vectors_.get(), iterations_, flags_.constrained,
                             updatd_, &free_));
    }
    // Subspace minimization, unless no variable is free or B = theta I.
    if (free_.nfree != 0 && memory_.col != 0) {
      if (wrk) {
        OPTD_ASSIGN_OR_RETURN(bool ok, lbfgsb::Formk(vectors_.get(), memory_,
                                                     updatd_, &wn1_, &wn_));
        if (!ok) {
          OPTD_RETURN_IF_ERROR(RefreshMemory());
          continue;
        }
      }
      OPTD_ASSIGN_OR_RETURN(
          bool ok,
          lbfgsb::SubspaceMinimize(vectors_.get(), memory_, flags_.constrained,
                                   cauchy_.c, wn_, &wa_, &wv_));
      if (!ok) {
        OPTD_RETURN_IF_ERROR(RefreshMemory());
        continue;
      }
    }
    break;
  }
  return StartLineSearch();
}

absl::Status LbfgsB::StartLineSearch() {
  // lnsrlb, first entry: d = z - x, d'd, g'd and the largest step that
  // keeps x + stp d in the box.
  OPTD_ASSIGN_OR_RETURN(SearchDirectionResult direction,
                        vectors_->FormSearchDirection());
  dtd_ = direction.dtd;
  const double dnorm = std::sqrt(dtd_);
  double stpmx = options_.line_search.stpmax;
  if (flags_.constrained) {
    stpmx = iterations_ == 0 ? 1.0 : std::min(stpmx, direction.step_bound);
  }
  const double stp =
      iterations_ == 0 && !flags_.boxed ? std::min(1.0 / dnorm, stpmx) : 1.0;
  gd_ = direction.gd;
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
  OPTD_ASSIGN_OR_RETURN(bool formed, FormTrialPoint());
  if (!formed) return LineSearchFailed();
  return absl::OkStatus();
}

absl::StatusOr<bool> LbfgsB::FormTrialPoint() {
  // lnsrlb: x = z at stp = 1 exactly, else x = stp d + t. x + stp d
  // overflows when x or d is near the end of the double range; the search
  // cannot go on from there, and optd hands out no such point.
  //
  // stp d + t is rounded to half an ulp of t: at the largest step, which puts
  // a variable exactly on its bound in exact arithmetic, it can land just
  // outside (x = -5.6e-17 for a lower bound of -7.5e-155, found by
  // session_requests_fuzzer). lbfgsb.f hands that point out; optd clips
  // every trial into the box. Points inside it are unchanged.
  return vectors_->FormTrial(line_search_.step(),
                             /*clip=*/flags_.constrained);
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
    OPTD_ASSIGN_OR_RETURN(gd_, vectors_->TrialSlope());
    state = line_search_.Tell(result.value, gd_);
  }
  OPTD_ASSIGN_OR_RETURN(LineSearchNext next,
                        NextAfterLineSearch(state, line_search_evaluations_,
                                            options_, last_trial_failed_));
  switch (next) {
    case LineSearchNext::kEvaluate: {
      OPTD_ASSIGN_OR_RETURN(bool formed, FormTrialPoint());
      if (!formed) break;
      return absl::OkStatus();
    }
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
  OPTD_ASSIGN_OR_RETURN(sbgnrm_, vectors_->AcceptTrial());
  const double fold = f_;
  f_ = trial_value_;
  ++iterations_;
  last_step_ = stp;

  // scipy's driver checks its limits on NEW_X before mainlb's tests (label
  // 777), before the memory update.
  const TerminationReason reason =
      TestNewIterate(options_, iterations_, evaluations_, sbgnrm_, fold, f_);
  if (reason != TerminationReason::kNone) {
    Finish(reason);
    return absl::OkStatus();
  }
  // s = stp d; s'y from the slopes, as mainlb computes it.
  double dr, skip_bound;
  if (stp == 1.0) {
    dr = gd_ - gdold_;
    skip_bound = -gdold_;
  } else {
    dr = (gd_ - gdold_) * stp;
    skip_bound = -gdold_ * stp;
  }
  if (dr <= kEpsmch * skip_bound) {
    // The curvature condition s'y > 0 fails (numerically): skip the update.
    ++summary_.skipped_updates;
    updatd_ = false;
  } else {
    updatd_ = true;
    OPTD_ASSIGN_OR_RETURN(Reduction sums, vectors_->PushPair(stp));
    memory_.Update(sums.sums.data(), dr, stp, dtd_);
    // T not positive definite.
    if (!memory_.FormT()) OPTD_RETURN_IF_ERROR(RefreshMemory());
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
  OPTD_RETURN_IF_ERROR(RefreshMemory());
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
  return absl::StrFormat(
      "    memory %d, ftol %g, gtol %g, max_iterations %d, max_evaluations %d\n"
      "    max_line_search %d, line search ftol %g gtol %g xtol %g, max_step "
      "%g\n"
      "    bounds: %d finite sides of %d\n",
      options_.memory, options_.ftol, options_.gtol, options_.max_iterations,
      options_.max_evaluations, options_.max_line_search,
      options_.line_search.ftol, options_.line_search.gtol,
      options_.line_search.xtol, options_.line_search.stpmax, finite_sides_,
      2 * n_);
}

}  // namespace optd
