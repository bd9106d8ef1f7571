// Lbfgs::SaveState and RestoreState (the layout is in lbfgs.h): the
// controller's fields as words, then the vectors' portable state.
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/lbfgs/lbfgs_termination.h"
#include "solvers/sharding/slice_state.h"

namespace optd {
namespace {

constexpr int64_t kMaxCount = int64_t{1} << 53;

// Words of the controller section other than the Gram blocks (3k^2 + 2k)
// and the trial's sums (q): options 12, phase, k, gg, the iterate 5, the
// search's evaluations, the trial 4, counters 2, summary 10; and the line
// search's bytes.
constexpr int64_t kFixedWords = 12 + 1 + 1 + 1 + 5 + 1 + 4 + 2 + 10;

// The options as SaveState writes them, in order.
struct OptionWords {
  int64_t dimension, memory;
  double ftol, gtol;
  int64_t max_iterations, max_evaluations, max_line_search;
  double ls_ftol, ls_gtol, ls_xtol, ls_stpmin, ls_stpmax;
};

OptionWords WordsOf(const LbfgsOptions& o, int64_t dimension) {
  return {dimension,
          o.memory,
          o.ftol,
          o.gtol,
          o.max_iterations,
          o.max_evaluations,
          o.max_line_search,
          o.line_search.ftol,
          o.line_search.gtol,
          o.line_search.xtol,
          o.line_search.stpmin,
          o.line_search.stpmax};
}

// INVALID_ARGUMENT naming the first option that differs.
absl::Status CompareOptions(const OptionWords& saved, const OptionWords& ours) {
  const auto differs = [](absl::string_view field, auto s, auto o) {
    return absl::InvalidArgumentError(
        absl::StrCat("the optd.lbfgs.v1 state was saved with ", field, " = ", s,
                     "; this session has ", o));
  };
  if (saved.dimension != ours.dimension)
    return differs("dimension", saved.dimension, ours.dimension);
  if (saved.memory != ours.memory)
    return differs("lbfgs.memory", saved.memory, ours.memory);
  if (!(saved.ftol == ours.ftol))
    return differs("lbfgs.ftol", saved.ftol, ours.ftol);
  if (!(saved.gtol == ours.gtol))
    return differs("lbfgs.gtol", saved.gtol, ours.gtol);
  if (saved.max_iterations != ours.max_iterations) {
    return differs("lbfgs.max_iterations", saved.max_iterations,
                   ours.max_iterations);
  }
  if (saved.max_evaluations != ours.max_evaluations) {
    return differs("lbfgs.max_evaluations", saved.max_evaluations,
                   ours.max_evaluations);
  }
  if (saved.max_line_search != ours.max_line_search) {
    return differs("lbfgs.max_line_search", saved.max_line_search,
                   ours.max_line_search);
  }
  if (!(saved.ls_ftol == ours.ls_ftol))
    return differs("lbfgs.line_search_ftol", saved.ls_ftol, ours.ls_ftol);
  if (!(saved.ls_gtol == ours.ls_gtol))
    return differs("lbfgs.line_search_gtol", saved.ls_gtol, ours.ls_gtol);
  if (!(saved.ls_xtol == ours.ls_xtol))
    return differs("lbfgs.line_search_xtol", saved.ls_xtol, ours.ls_xtol);
  if (!(saved.ls_stpmin == ours.ls_stpmin))
    return differs("lbfgs.min_step", saved.ls_stpmin, ours.ls_stpmin);
  if (!(saved.ls_stpmax == ours.ls_stpmax))
    return differs("lbfgs.max_step", saved.ls_stpmax, ours.ls_stpmax);
  return absl::OkStatus();
}

}  // namespace

int64_t Lbfgs::VectorsSectionOffset() const {
  if (vectors_->StateBytes() == 0) return 0;
  const int64_t k = gram_.sg.size();
  const int64_t words = kFixedWords + 3 * k * k + 2 * k +
                        static_cast<int64_t>(trial_dots_.sums.size());
  return static_cast<int64_t>(kLbfgsStateTag.size()) + 8 + 8 * words +
         static_cast<int64_t>(MoreThuenteLineSearch::kStateBytes);
}

int64_t Lbfgs::StateBytes() const {
  const int64_t vectors = vectors_->StateBytes();
  return vectors == 0 ? 0 : VectorsSectionOffset() + vectors;
}

void Lbfgs::SaveController(std::string* out) const {
  StateWriter w(out);
  const OptionWords o = WordsOf(options_, dimension());
  for (const int64_t v : {o.dimension, o.memory}) w.I64(v);
  for (const double v : {o.ftol, o.gtol}) w.F64(v);
  for (const int64_t v :
       {o.max_iterations, o.max_evaluations, o.max_line_search}) {
    w.I64(v);
  }
  for (const double v :
       {o.ls_ftol, o.ls_gtol, o.ls_xtol, o.ls_stpmin, o.ls_stpmax}) {
    w.F64(v);
  }
  w.I64(static_cast<int64_t>(phase_));
  WritePairGram(gram_, w);
  w.Flag(have_iterate_);
  for (const double v : {f_, last_step_, gmax_, gd_}) w.F64(v);
  line_search_.SaveState(out);
  w.I64(line_search_evaluations_);
  w.I64(static_cast<int64_t>(trial_dots_.sums.size()));
  w.F64s(trial_dots_.sums.data(), trial_dots_.sums.size());
  w.F64(trial_dots_.max_abs);
  w.F64(trial_value_);
  w.Flag(last_trial_failed_);
  w.I64(iterations_);
  w.I64(evaluations_);
  WriteSummaryFields(summary_, &w);
}

absl::Status Lbfgs::SaveState(std::string* out) const {
  const int64_t bytes = StateBytes();
  if (bytes == 0) {
    return absl::UnimplementedError(
        "this L-BFGS session's vectors cannot save their state; it is "
        "restored by replaying its tells");
  }
  out->clear();
  out->reserve(static_cast<size_t>(bytes));
  StateSectionsWriter sections(kLbfgsStateTag, out);
  SaveController(out);
  sections.EndController();
  return vectors_->SaveState(out);
}

absl::Status Lbfgs::RestoreState(std::string_view state) {
  if (phase_ != Phase::kInitial || evaluations_ > 0) {
    return absl::FailedPreconditionError(
        "RestoreState needs a solver that was told nothing yet");
  }
  OPTD_ASSIGN_OR_RETURN(StateSections sections,
                        SplitStateSections(state, kLbfgsStateTag));
  StateReader r(sections.controller,
                sections.vectors_offset - sections.controller.size());
  OptionWords o;
  o.dimension = r.I64();
  o.memory = r.I64();
  o.ftol = r.F64();
  o.gtol = r.F64();
  o.max_iterations = r.I64();
  o.max_evaluations = r.I64();
  o.max_line_search = r.I64();
  for (double* v :
       {&o.ls_ftol, &o.ls_gtol, &o.ls_xtol, &o.ls_stpmin, &o.ls_stpmax}) {
    *v = r.F64();
  }
  if (!r.ok()) return r.Error("the optd.lbfgs.v1 state");
  OPTD_RETURN_IF_ERROR(CompareOptions(o, WordsOf(options_, dimension())));

  const auto phase = static_cast<Phase>(r.Count("phase", 0, 2));
  const int k = static_cast<int>(r.Count("pairs", 0, options_.memory));
  PairGram gram = ReadPairGram(k, r);
  const bool have_iterate = r.Flag("have_iterate");
  const double f = r.F64(), last_step = r.F64(), gmax = r.F64(), gd = r.F64();
  MoreThuenteLineSearch line_search;
  const std::string_view search = r.Take(MoreThuenteLineSearch::kStateBytes);
  const int search_evaluations = static_cast<int>(
      r.Count("line_search_evaluations", 0, options_.max_line_search));
  // A reduction with the candidate pair for j <= memory pairs
  // (TrialDotLayout), or none yet.
  const int64_t q = r.Count("trial reduction length", 0,
                            TrialDotLayout{options_.memory, true}.quantities());
  Reduction trial_dots;
  trial_dots.sums.resize(static_cast<size_t>(q));
  r.F64s(trial_dots.sums.data(), trial_dots.sums.size());
  trial_dots.max_abs = r.F64();
  const double trial_value = r.F64();
  const bool last_trial_failed = r.Flag("last_trial_failed");
  const int64_t iterations = r.Count("iterations", 0, kMaxCount);
  const int64_t evaluations = r.Count("evaluations", 0, kMaxCount);
  Summary summary = summary_;
  ReadSummaryFields(&r, kMaxCount, &summary);
  const TerminationReason reason = summary.reason;
  if (r.ok() && r.remaining() != 0) {
    r.Fail(absl::StrCat("has ", r.remaining(),
                        " bytes after the controller's fields"));
  }
  if (!r.ok()) return r.Error("the optd.lbfgs.v1 state");

  // What the fields say together: each phase's invariants, as the solver
  // keeps them (lbfgs.cc), so that no later tell meets a state it cannot.
  const auto inconsistent = [](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("the optd.lbfgs.v1 state is inconsistent: ", why));
  };
  const bool running = reason == TerminationReason::kNone;
  if ((phase == Phase::kFinished) == running ||
      (!running && LbfgsFinishMessage(reason) == nullptr)) {
    return inconsistent(absl::StrCat("phase ", static_cast<int>(phase),
                                     " with summary.reason ",
                                     static_cast<int>(reason)));
  }
  if (phase == Phase::kInitial && (evaluations > 0 || have_iterate)) {
    return inconsistent("the initial phase after an evaluation");
  }
  if (phase == Phase::kLineSearch && !have_iterate) {
    return inconsistent("a line search without an iterate");
  }
  if (!have_iterate && k > 0) {
    return inconsistent("curvature pairs without an iterate");
  }
  if (iterations > evaluations || summary.failed_evaluations > evaluations) {
    return inconsistent(
        absl::StrCat(iterations, " iterations and ", summary.failed_evaluations,
                     " failed evaluations in ", evaluations, " evaluations"));
  }
  if (q != 0 && (q < 7 || (q - 7) % 6 != 0)) {
    return inconsistent(
        absl::StrCat("a trial reduction of ", q, " quantities"));
  }
  if (absl::Status s = line_search.RestoreState(search); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the optd.lbfgs.v1 state's ", s.message()));
  }
  if (phase == Phase::kLineSearch &&
      line_search.task() != MoreThuenteTask::kEvaluate) {
    return inconsistent("a line search phase whose search wants no step");
  }
  OPTD_ASSIGN_OR_RETURN(
      LbfgsSliceHeader header,
      ParseLbfgsSliceHeader(sections.vectors, options_.memory));
  if (header.pairs != k) {
    return inconsistent(absl::StrCat("a controller of ", k,
                                     " pairs and vectors of ", header.pairs));
  }
  // The last check that can fail; it changes nothing when it does.
  OPTD_RETURN_IF_ERROR(vectors_->RestoreState(sections.vectors));

  phase_ = phase;
  gram_ = std::move(gram);
  have_iterate_ = have_iterate;
  f_ = f;
  last_step_ = last_step;
  gmax_ = gmax;
  gd_ = gd;
  line_search_ = line_search;
  line_search_evaluations_ = search_evaluations;
  trial_dots_ = std::move(trial_dots);
  trial_value_ = trial_value;
  last_trial_failed_ = last_trial_failed;
  iterations_ = iterations;
  evaluations_ = evaluations;
  summary.reason = reason;
  summary.message = running ? "" : LbfgsFinishMessage(reason);
  summary_ = std::move(summary);
  return absl::OkStatus();
}

}  // namespace optd
