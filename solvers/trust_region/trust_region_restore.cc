// TrustRegion::RestoreState (the layout is in trust_region.h): every field
// read and checked, alone and together, before anything changes.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/slice_state.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 53;

// The message TrustRegion finishes with for `reason`; null for a reason it
// never finishes with.
const char* TrustRegionFinishMessage(TerminationReason reason) {
  using namespace trust_region_internal;  // NOLINT(build/namespaces)
  static constexpr FinishMessages kMessages = {
      kSuccessMessage,
      kFunctionToleranceMessage,
      kMaxIterationsMessage,
      kMaxEvaluationsMessage,
      kStartFailedMessage,
      kStoppedMessage,
      TerminationReason::kTrustRegionFailed,
      kBadModelMessage};
  return FinishMessage(kMessages, reason);
}

}  // namespace

absl::Status TrustRegion::RestoreState(std::string_view state) {
  if (phase_ != Phase::kInitial || evaluations_ > 0) {
    return absl::FailedPreconditionError(
        "RestoreState needs a solver that was told nothing yet");
  }
  OPTD_ASSIGN_OR_RETURN(StateSections sections,
                        SplitStateSections(state, kTrustRegionStateTag));
  constexpr char kWhat[] = "the optd.trust_region.v1 state";
  StateReader r(sections.controller,
                sections.vectors_offset - sections.controller.size());
  OPTD_RETURN_IF_ERROR(ReadSavedOptions(r));
  const int64_t n = dimension();
  const TrustRegionSubproblem sub = options_.subproblem;

  const auto phase = static_cast<Phase>(r.Count("phase", 0, 4));
  const double radius = r.F64();
  const bool have_iterate = r.Flag("have_iterate");
  const double f = r.F64(), gg = r.F64(), gmax = r.F64(), x_norm = r.F64(),
               predicted_reduction = r.F64();
  const bool on_boundary = r.Flag("on_boundary");
  const double step_norm = r.F64(), progress_step = r.F64();
  const int small_steps =
      static_cast<int>(r.Count("small_steps", 0, options_.ftol_steps));
  const int64_t free_variables = r.Count("free_variables", 0, n);
  const bool step_clipped = r.Flag("step_clipped");
  const double projected_step_norm = r.F64();
  SteihaugCg::Snapshot cg;
  cg.radius = r.F64();
  cg.tolerance = r.F64();
  cg.max_iterations = r.Count("cg.max_iterations", 0, kMaxCount);
  cg.products = r.Count("cg.products", 0, cg.max_iterations);
  for (double* v :
       {&cg.rr, &cg.dd, &cg.model_z, &cg.model_change, &cg.step_norm}) {
    *v = r.F64();
  }
  cg.on_boundary = r.Flag("cg.on_boundary");
  const double difference_step = r.F64();
  const bool gradient_set = r.Flag("gradient_set");
  const bool hessian_set = r.Flag("hessian_set");
  const bool product_set = r.Flag("product_set");
  const int k = static_cast<int>(r.Count(
      "pairs", 0,
      sub == TrustRegionSubproblem::kQuasiNewton ? options_.memory : 0));
  PairGram gram = ReadPairGram(k, r);
  const bool has_exact = r.Flag("has_subproblem");
  double previous_radius = 0.0, lambda_lower = 0.0;
  Eigen::MatrixXd hessian, trial_hessian;
  Eigen::VectorXd gradient;
  if (has_exact) {
    previous_radius = r.F64();
    lambda_lower = r.F64();
    r.F64s(n, n, &hessian);
    r.F64s(n, &gradient);
  }
  const int64_t trial_size = r.Count("trial Hessian rows", 0, n);
  r.F64s(trial_size, trial_size, &trial_hessian);
  const int64_t iterations = r.Count("iterations", 0, kMaxCount);
  const int64_t evaluations = r.Count("evaluations", 0, kMaxCount);
  Summary summary = summary_;
  ReadSummaryFields(&r, kMaxCount, &summary);
  const TerminationReason reason = summary.reason;
  if (r.ok() && r.remaining() != 0) {
    r.Fail(absl::StrCat("has ", r.remaining(),
                        " bytes after the controller's fields"));
  }
  if (!r.ok()) return r.Error(kWhat);

  // What the fields say together: each phase's invariants, as the solver
  // keeps them (trust_region.cc), so that no later tell meets a state it
  // cannot (a product phase without CG vectors would read past them).
  const auto inconsistent = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(kWhat, " is inconsistent: ", why));
  };
  const bool running = reason == TerminationReason::kNone;
  if ((phase == Phase::kFinished) == running ||
      (!running && TrustRegionFinishMessage(reason) == nullptr)) {
    return inconsistent(absl::StrCat("phase ", static_cast<int>(phase),
                                     " with summary.reason ",
                                     static_cast<int>(reason)));
  }
  if ((phase == Phase::kHessianVector &&
       sub != TrustRegionSubproblem::kNewtonCg) ||
      (phase == Phase::kDifferenceGradient &&
       sub != TrustRegionSubproblem::kNewtonCgFiniteDifference)) {
    return inconsistent(absl::StrCat("phase ", static_cast<int>(phase),
                                     " with the subproblem ",
                                     SubproblemName(sub)));
  }
  if (phase == Phase::kInitial && (evaluations > 0 || have_iterate)) {
    return inconsistent("the initial phase after an evaluation");
  }
  if (phase != Phase::kInitial && phase != Phase::kFinished && !have_iterate) {
    return inconsistent("a trial without an iterate");
  }
  if (!have_iterate && k > 0) {
    return inconsistent("curvature pairs without an iterate");
  }
  if (has_exact != (sub == TrustRegionSubproblem::kExact && have_iterate)) {
    return inconsistent(has_exact ? "an exact subproblem it does not use"
                                  : "an iterate without its Hessian");
  }
  if (trial_size != 0 &&
      (trial_size != n || sub != TrustRegionSubproblem::kExact)) {
    return inconsistent(
        absl::StrCat("a trial Hessian of ", trial_size, " rows"));
  }
  // (Stop() may end a session whose trial was half told.)
  const bool point_phase = phase == Phase::kInitial ||
                           phase == Phase::kTrialPoint ||
                           phase == Phase::kFinished;
  if ((hessian_set && (trial_size == 0 || !point_phase)) ||
      (product_set && phase != Phase::kHessianVector &&
       phase != Phase::kFinished) ||
      (gradient_set && phase == Phase::kHessianVector)) {
    return inconsistent("the trial's tells do not match its phase");
  }
  // A running session is below its ftol_steps (its counter would overflow
  // past INT_MAX), and a proposed step has a length: EndIteration contracts
  // the radius while it holds the step, which for ||p|| = 0 would go on
  // until max_iterations (up to 2^53).
  if (running && small_steps >= options_.ftol_steps) {
    return inconsistent(absl::StrCat(small_steps,
                                     " small steps in a row in a running "
                                     "session; it ends at ftol_steps = ",
                                     options_.ftol_steps));
  }
  if (running && phase == Phase::kTrialPoint &&
      (step_norm <= 0 || !(predicted_reduction > 0))) {
    return inconsistent(
        "a proposed step of no length or no predicted "
        "reduction");
  }
  if (!(radius >= 0 && radius <= options_.max_radius)) {
    return inconsistent(absl::StrCat("radius ", radius, " outside [0, ",
                                     options_.max_radius, "]"));
  }
  if (summary.failed_evaluations > evaluations) {
    return inconsistent(absl::StrCat(summary.failed_evaluations,
                                     " failed evaluations in ", evaluations));
  }
  OPTD_ASSIGN_OR_RETURN(
      TrustRegionSliceHeader header,
      ParseTrustRegionSliceHeader(sections.vectors, kMaxCurvaturePairs));
  if (header.pairs != k || header.cg_vectors != options_.slice_cg_vectors() ||
      header.bounded != bounded_) {
    return inconsistent(absl::StrCat(
        "a controller of ", k, " pairs and vectors of ", header.pairs,
        header.cg_vectors ? " with" : " without", " CG vectors, ",
        header.bounded ? "bounded" : "unbounded"));
  }
  // The last check that can fail; it changes nothing when it does.
  OPTD_RETURN_IF_ERROR(vectors_->RestoreState(sections.vectors));

  phase_ = phase;
  radius_ = radius;
  have_iterate_ = have_iterate;
  f_ = f;
  gg_ = gg;
  gmax_ = gmax;
  x_norm_ = x_norm;
  predicted_reduction_ = predicted_reduction;
  on_boundary_ = on_boundary;
  step_norm_ = step_norm;
  progress_step_ = progress_step;
  small_steps_ = small_steps;
  free_variables_ = free_variables;
  step_clipped_ = step_clipped;
  projected_step_norm_ = projected_step_norm;
  cg_.Restore(cg);
  difference_step_ = difference_step;
  gradient_set_ = gradient_set;
  hessian_set_ = hessian_set;
  product_set_ = product_set;
  if (memory_) memory_->Restore(std::move(gram));
  if (has_exact) {
    // The constructor derives the rest (norms, Gershgorin bounds) from H and
    // g by the same operations, hence bitwise as they were.
    exact_ = std::make_unique<ExactSubproblem>(std::move(hessian),
                                               std::move(gradient));
    exact_->RestoreSolveHistory(previous_radius, lambda_lower);
  }
  trial_hessian_ = std::move(trial_hessian);
  iterations_ = iterations;
  evaluations_ = evaluations;
  summary.reason = reason;
  summary.message = running ? "" : TrustRegionFinishMessage(reason);
  summary_ = std::move(summary);
  return absl::OkStatus();
}

}  // namespace optd
