#include "solvers/lbfgs/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/core/option_checks.h"
#include "solvers/lbfgs/lbfgs_termination.h"

namespace optd {
namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
constexpr int64_t kMaxCount = int64_t{1} << 53;

}  // namespace

absl::Status LbfgsOptions::Validate() const {
  if (memory < 1 || memory > 1000)
    return OptionOutOfRange("lbfgs", "memory", memory, "[1, 1000]");
  // scipy takes any ftol >= 0 (factr = ftol / eps); ftol >= 1 stops after
  // the first iteration that does not raise f.
  if (!(ftol >= 0 && std::isfinite(ftol)))
    return OptionOutOfRange("lbfgs", "ftol", ftol, "[0, inf)");
  if (!(gtol >= 0 && std::isfinite(gtol)))
    return OptionOutOfRange("lbfgs", "gtol", gtol, "[0, inf)");
  if (max_iterations < 1 || max_iterations > kMaxCount) {
    return OptionOutOfRange("lbfgs", "max_iterations",
                            static_cast<double>(max_iterations), "[1, 2^53]");
  }
  if (max_evaluations < 1 || max_evaluations > kMaxCount) {
    return OptionOutOfRange("lbfgs", "max_evaluations",
                            static_cast<double>(max_evaluations), "[1, 2^53]");
  }
  if (max_line_search < 1 || max_line_search > 1000) {
    return OptionOutOfRange("lbfgs", "max_line_search", max_line_search,
                            "[1, 1000]");
  }
  if (!(line_search.ftol > 0 && line_search.ftol < 0.5)) {
    return OptionOutOfRange("lbfgs", "line_search_ftol", line_search.ftol,
                            "(0, 0.5)");
  }
  if (!(line_search.gtol > line_search.ftol && line_search.gtol < 1)) {
    return OptionOutOfRange(
        "lbfgs", "line_search_gtol", line_search.gtol,
        absl::StrCat("(line_search_ftol = ", line_search.ftol, ", 1)"));
  }
  if (!(line_search.xtol >= 0 && line_search.xtol < 1)) {
    return OptionOutOfRange("lbfgs", "line_search_xtol", line_search.xtol,
                            "[0, 1)");
  }
  if (!(line_search.stpmax > 0 && std::isfinite(line_search.stpmax))) {
    return OptionOutOfRange("lbfgs", "max_step", line_search.stpmax,
                            "(0, inf)");
  }
  return line_search.Validate();
}

Lbfgs::Lbfgs(const LbfgsOptions& options, std::unique_ptr<LbfgsVectors> vectors)
    : options_(options), vectors_(std::move(vectors)) {
  summary_.solver = "lbfgs";
  summary_.dimension = vectors_->dimension();
  summary_.options_report = OptionsReport();
}

absl::StatusOr<std::unique_ptr<Lbfgs>> Lbfgs::Create(
    const LbfgsOptions& options, const ConstVectorView& x0,
    std::unique_ptr<LbfgsVectors> vectors) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  if (x0.size() != vectors->dimension()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x0 has ", x0.size(), " elements; the vectors have dimension ",
        vectors->dimension()));
  }
  for (int64_t i = 0; i < x0.size(); ++i) {
    if (!std::isfinite(x0.Get(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x0[", i, "] is ", x0.Get(i), "; every element must be finite"));
    }
  }
  OPTD_RETURN_IF_ERROR(vectors->SetTrialPoint(x0));
  return std::unique_ptr<Lbfgs>(new Lbfgs(options, std::move(vectors)));
}

absl::StatusOr<std::unique_ptr<Lbfgs>> Lbfgs::Create(
    const LbfgsOptions& options, const ConstVectorView& x0, int shards) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout,
                        ShardLayout::Make(x0.size(), shards));
  return Create(options, x0,
                std::make_unique<LocalLbfgsVectors>(layout, options.memory));
}

absl::Status Lbfgs::ReadTrialPoint(const MutableVectorView& out) const {
  // Until x0 has been evaluated the only point is x0, held as the trial point
  // (also when the session ended before that: stopped, or x0 failed).
  if (!have_iterate_) return vectors_->ReadTrialPoint(out);
  return phase_ == Phase::kFinished ? vectors_->ReadPoint(out)
                                    : vectors_->ReadTrialPoint(out);
}

absl::Status Lbfgs::ReadBestPoint(const MutableVectorView& out) const {
  return have_iterate_ ? vectors_->ReadPoint(out)
                       : vectors_->ReadTrialPoint(out);
}

absl::Status Lbfgs::ReadBestGradient(const MutableVectorView& out) const {
  if (!have_iterate_) return Solver::ReadBestGradient(out);
  return vectors_->ReadGradient(out);
}

absl::Status Lbfgs::SetTrialGradient(const ConstVectorView& gradient) {
  if (finished())
    return absl::FailedPreconditionError("the session has finished");
  return vectors_->SetTrialGradient(gradient);
}

absl::Status Lbfgs::Tell(const TrialResult& result) {
  if (finished())
    return absl::FailedPreconditionError("the session has finished");
  ++evaluations_;
  return phase_ == Phase::kInitial ? TellInitial(result)
                                   : TellLineSearch(result);
}

absl::Status Lbfgs::TellInitial(const TrialResult& result) {
  if (result.failed || !std::isfinite(result.value) || !result.has_gradient) {
    ++summary_.failed_evaluations;
    Finish(TerminationReason::kEvaluationFailed);
    return absl::OkStatus();
  }
  OPTD_ASSIGN_OR_RETURN(Reduction dots, vectors_->ReduceTrial(0.0, false));
  OPTD_RETURN_IF_ERROR(vectors_->Accept(/*push_pair=*/false, 0.0));
  // Pairs held now came from another solver (SetCurvaturePairs).
  const int k = vectors_->pairs();
  const TrialDotLayout layout{k, false};
  for (int i = 0; i < k; ++i) {
    gram_.sg(i) = dots.sums[layout.g_s(i)];
    gram_.yg(i) = dots.sums[layout.g_y(i)];
  }
  gram_.gg = dots.sums[layout.gg()];
  gmax_ = dots.max_abs;
  f_ = result.value;
  have_iterate_ = true;
  summary_.initial_value = f_;
  phase_ = Phase::kLineSearch;
  // lbfgsb.f mainlb tests the projected gradient at x0 before any iteration.
  if (gmax_ <= options_.gtol) {
    Finish(TerminationReason::kGradientTolerance);
    return absl::OkStatus();
  }
  return StartIteration();
}

double Lbfgs::Gram(int i, int j) const {
  const int k = static_cast<int>(gram_.sg.size());
  if (i > j) std::swap(i, j);  // symmetric; now i <= j
  if (j == 2 * k) {            // column g
    if (i == 2 * k) return gram_.gg;
    return i < k ? gram_.sg(i) : gram_.yg(i - k);
  }
  if (j < k) return gram_.ss(i, j);      // s_i . s_j
  if (i < k) return gram_.sy(i, j - k);  // s_i . y_{j-k}
  return gram_.yy(i - k, j - k);         // y . y
}

std::vector<double> Lbfgs::TwoLoopCoefficients() const {
  // Chen, Wang & Zhou 2014, Algorithm 3: the two-loop recursion of Nocedal
  // (1980) run on the Gram matrix; delta starts as -e_g so that d = -H g.
  const int k = static_cast<int>(gram_.sg.size());
  const int size = 2 * k + 1;
  std::vector<double> delta(static_cast<size_t>(size), 0.0);
  delta[2 * k] = -1.0;
  auto dot_with = [&](int col) {
    double sum = 0.0;
    for (int l = 0; l < size; ++l) sum += delta[l] * Gram(l, col);
    return sum;
  };
  std::vector<double> alpha(static_cast<size_t>(k));
  for (int i = k - 1; i >= 0; --i) {
    alpha[i] = dot_with(i) / Gram(i, k + i);
    delta[k + i] -= alpha[i];
  }
  // H0 = gamma I with gamma = s'y / y'y of the newest pair; scipy's theta is
  // its inverse (lbfgsb.f matupd).
  const double gamma = Gram(k - 1, 2 * k - 1) / Gram(2 * k - 1, 2 * k - 1);
  for (double& c : delta) c *= gamma;
  for (int i = 0; i < k; ++i) {
    const double beta = dot_with(k + i) / Gram(i, k + i);
    delta[i] += alpha[i] - beta;
  }
  return delta;
}

absl::Status Lbfgs::StartIteration() {
  std::vector<double> delta;
  double gd;
  if (gram_.sg.size() == 0) {
    delta = {-1.0};  // steepest descent: d = -g
    gd = -gram_.gg;
  } else {
    delta = TwoLoopCoefficients();
    const int k = static_cast<int>(gram_.sg.size());
    gd = 0.0;
    for (int j = 0; j <= 2 * k; ++j) gd += delta[j] * Gram(2 * k, j);
  }
  // lnsrlb: "ascent direction in projection gd"; mainlb then restarts with an
  // empty memory, or stops when the memory is already empty. A slope that
  // overflowed (finite gradients whose g.d is -inf) gives no search either.
  if (!(gd < 0) || !std::isfinite(gd)) return LineSearchFailed();
  OPTD_RETURN_IF_ERROR(vectors_->SetDirection(delta));
  gd_ = gd;
  // lnsrlb: the first iteration tries min(1/||d||, stpmax), later ones 1. On
  // the first iteration d = -g, so ||d||^2 = g.g; one that starts with pairs
  // from another solver (SetCurvaturePairs) is not steepest descent and takes
  // 1, as every quasi-Newton iteration does.
  double stp = 1.0;
  if (iterations_ == 0 && gram_.sg.size() == 0)
    stp = std::min(1.0 / std::sqrt(gram_.gg), options_.line_search.stpmax);
  stp = std::max(stp, options_.line_search.stpmin);
  OPTD_RETURN_IF_ERROR(line_search_.Start(f_, gd_, stp, options_.line_search));
  line_search_evaluations_ = 0;
  return vectors_->FormTrial(line_search_.step());
}

absl::Status Lbfgs::TellLineSearch(const TrialResult& result) {
  ++line_search_evaluations_;
  const double stp = line_search_.step();
  LineSearchState state;
  if (result.failed || !std::isfinite(result.value) || !result.has_gradient) {
    ++summary_.failed_evaluations;
    last_trial_failed_ = true;
    state = line_search_.TellFailed();
  } else {
    OPTD_ASSIGN_OR_RETURN(trial_dots_,
                          vectors_->ReduceTrial(stp, /*with_candidate=*/true));
    trial_value_ = result.value;
    last_trial_failed_ = false;
    const TrialDotLayout layout{vectors_->pairs(), true};
    state = line_search_.Tell(result.value, trial_dots_.sums[layout.gd()]);
  }
  OPTD_ASSIGN_OR_RETURN(LineSearchNext next,
                        NextAfterLineSearch(state, line_search_evaluations_,
                                            options_, last_trial_failed_));
  switch (next) {
    case LineSearchNext::kEvaluate:
      return vectors_->FormTrial(line_search_.step());
    case LineSearchNext::kAccept:
      return AcceptStep();
    case LineSearchNext::kFail:
      break;
  }
  return LineSearchFailed();
}

absl::Status Lbfgs::AcceptStep() {
  const double stp = line_search_.step();
  const int k = vectors_->pairs();
  const TrialDotLayout L{k, true};
  const std::vector<double>& q = trial_dots_.sums;
  // lbfgsb.f: skip the update when s'y <= eps * (-g'd * stp), with s'y
  // reduced directly (REFERENCES.md: no cancellation).
  const bool push = q[L.sy()] > kEpsilon * (-gd_ * stp);
  if (!push) ++summary_.skipped_updates;
  OPTD_RETURN_IF_ERROR(vectors_->Accept(push, stp));

  // The pairs' products with the new gradient, then the candidate's.
  Eigen::VectorXd sg(k + 1), yg(k + 1);
  for (int i = 0; i < k; ++i) {
    sg(i) = q[L.g_s(i)];
    yg(i) = q[L.g_y(i)];
  }
  sg(k) = q[L.sg()];
  yg(k) = q[L.yg()];
  if (push) {
    // The Gram blocks lose the oldest pair when the memory is full (the
    // slices did the same in Accept).
    gram_ =
        gram_.WithPair(CandidatePairProducts(q, L), options_.memory, sg, yg);
  } else {
    gram_.sg = sg.head(k);
    gram_.yg = yg.head(k);
  }
  gram_.gg = q[L.gg()];
  gmax_ = trial_dots_.max_abs;
  const double f_old = f_;
  f_ = trial_value_;
  ++iterations_;
  last_step_ = stp;

  const TerminationReason reason =
      TestNewIterate(options_, iterations_, evaluations_, gmax_, f_old, f_);
  if (reason == TerminationReason::kNone) return StartIteration();
  Finish(reason);
  return absl::OkStatus();
}

absl::Status Lbfgs::LineSearchFailed() {
  // lbfgsb.f mainlb: restore the iterate (our slices never left it); with an
  // empty memory this is the end, otherwise drop the memory and restart.
  if (vectors_->pairs() == 0) {
    Finish(TerminationReason::kLineSearchFailed);
    return absl::OkStatus();
  }
  ++summary_.line_search_restarts;
  ClearMemory();
  OPTD_RETURN_IF_ERROR(vectors_->ClearMemory());
  return StartIteration();
}

void Lbfgs::ClearMemory() {
  gram_.ss.resize(0, 0);
  gram_.sy.resize(0, 0);
  gram_.yy.resize(0, 0);
  gram_.sg.resize(0);
  gram_.yg.resize(0);
}

void Lbfgs::Stop() {
  if (!finished()) Finish(TerminationReason::kStoppedByClient);
}

void Lbfgs::Finish(TerminationReason reason) {
  phase_ = Phase::kFinished;
  FinishIterativeSummary(reason, LbfgsFinishMessage(reason), have_iterate_, f_,
                         gmax_, iterations_, evaluations_, &summary_);
}

Progress Lbfgs::progress() const {
  return IterativeProgress(have_iterate_, f_, gmax_, iterations_, evaluations_,
                           last_step_);
}

std::string Lbfgs::OptionsReport() const {
  return absl::StrFormat(
      "    memory %d, ftol %g, gtol %g, max_iterations %d, max_evaluations %d\n"
      "    max_line_search %d, line search ftol %g gtol %g xtol %g, max_step "
      "%g\n",
      options_.memory, options_.ftol, options_.gtol, options_.max_iterations,
      options_.max_evaluations, options_.max_line_search,
      options_.line_search.ftol, options_.line_search.gtol,
      options_.line_search.xtol, options_.line_search.stpmax);
}

}  // namespace optd
