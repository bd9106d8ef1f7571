// TrustRegion::SaveState (the layout is in trust_region.h): the
// controller's fields as words, then the vectors' portable state; and the
// options part of RestoreState (trust_region_restore.cc).
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "solvers/core/state_bytes.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

// Words of the controller section other than the Gram blocks (3k^2 + 2k)
// and the Hessians: options 14, phase, the iterate and step 11, bounds 3,
// CG 10 and h, the trial's flags 3, k and gg, has_subproblem, the trial
// Hessian's size, counters 2, summary 10.
constexpr int64_t kFixedWords = 14 + 1 + 11 + 3 + 11 + 3 + 2 + 1 + 1 + 2 + 10;

// The options as SaveState writes them; integers and doubles in the order of
// the layout.
struct OptionWords {
  int64_t dimension, subproblem, update, memory;
  double initial_radius, max_radius, eta, gtol;
  int64_t max_iterations, max_evaluations;
  double ftol;
  int64_t ftol_steps;
  double pair_dependence;
  bool bounded;
};

OptionWords WordsOf(const TrustRegionOptions& o, int64_t dimension,
                    bool bounded) {
  return {dimension,
          static_cast<int64_t>(o.subproblem),
          static_cast<int64_t>(o.quasi_newton_update),
          o.memory,
          o.initial_radius,
          o.max_radius,
          o.eta,
          o.gtol,
          o.max_iterations,
          o.max_evaluations,
          o.ftol,
          o.ftol_steps,
          o.pair_dependence,
          bounded};
}

void WriteOptions(const OptionWords& o, StateWriter& w) {
  for (const int64_t v : {o.dimension, o.subproblem, o.update, o.memory}) {
    w.I64(v);
  }
  for (const double v : {o.initial_radius, o.max_radius, o.eta, o.gtol}) {
    w.F64(v);
  }
  w.I64(o.max_iterations);
  w.I64(o.max_evaluations);
  w.F64(o.ftol);
  w.I64(o.ftol_steps);
  w.F64(o.pair_dependence);
  w.Flag(o.bounded);
}

OptionWords ReadOptions(StateReader& r) {
  OptionWords o;
  for (int64_t* v : {&o.dimension, &o.subproblem, &o.update, &o.memory}) {
    *v = r.I64();
  }
  for (double* v : {&o.initial_radius, &o.max_radius, &o.eta, &o.gtol}) {
    *v = r.F64();
  }
  o.max_iterations = r.I64();
  o.max_evaluations = r.I64();
  o.ftol = r.F64();
  o.ftol_steps = r.I64();
  o.pair_dependence = r.F64();
  o.bounded = r.Flag("bounded");
  return o;
}

// INVALID_ARGUMENT naming the first option that differs.
absl::Status CompareOptions(const OptionWords& saved, const OptionWords& ours) {
  const auto differs = [](absl::string_view field, auto s, auto o) {
    return absl::InvalidArgumentError(
        absl::StrCat("the optd.trust_region.v1 state was saved with ", field,
                     " = ", s, "; this session has ", o));
  };
  const std::pair<const char*, std::pair<int64_t, int64_t>> integers[] = {
      {"dimension", {saved.dimension, ours.dimension}},
      {"trust_region.subproblem", {saved.subproblem, ours.subproblem}},
      {"trust_region.quasi_newton_update", {saved.update, ours.update}},
      {"trust_region.memory", {saved.memory, ours.memory}},
      {"trust_region.max_iterations",
       {saved.max_iterations, ours.max_iterations}},
      {"trust_region.max_evaluations",
       {saved.max_evaluations, ours.max_evaluations}},
      {"trust_region.ftol_steps", {saved.ftol_steps, ours.ftol_steps}},
      {"bounds (1: bounded)", {saved.bounded, ours.bounded}}};
  for (const auto& [field, values] : integers) {
    if (values.first != values.second) {
      return differs(field, values.first, values.second);
    }
  }
  const std::pair<const char*, std::pair<double, double>> doubles[] = {
      {"trust_region.initial_radius",
       {saved.initial_radius, ours.initial_radius}},
      {"trust_region.max_radius", {saved.max_radius, ours.max_radius}},
      {"trust_region.eta", {saved.eta, ours.eta}},
      {"trust_region.gtol", {saved.gtol, ours.gtol}},
      {"trust_region.ftol", {saved.ftol, ours.ftol}},
      {"trust_region.pair_dependence",
       {saved.pair_dependence, ours.pair_dependence}}};
  for (const auto& [field, values] : doubles) {
    if (!(values.first == values.second)) {
      return differs(field, values.first, values.second);
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t TrustRegion::VectorsSectionOffset() const {
  if (vectors_->StateBytes() == 0) return 0;
  const int64_t k = memory_ ? memory_->pairs() : 0;
  int64_t words = kFixedWords + 3 * k * k + 2 * k + trial_hessian_.size();
  if (exact_) {
    words += 2 + exact_->hessian().size() + exact_->gradient().size();
  }
  return static_cast<int64_t>(kTrustRegionStateTag.size()) + 8 + 8 * words;
}

int64_t TrustRegion::StateBytes() const {
  const int64_t vectors = vectors_->StateBytes();
  return vectors == 0 ? 0 : VectorsSectionOffset() + vectors;
}

void TrustRegion::SaveController(std::string* out) const {
  StateWriter w(out);
  WriteOptions(WordsOf(options_, dimension(), bounded_), w);
  w.I64(static_cast<int64_t>(phase_));
  w.F64(radius_);
  w.Flag(have_iterate_);
  for (const double v : {f_, gg_, gmax_, x_norm_, predicted_reduction_}) {
    w.F64(v);
  }
  w.Flag(on_boundary_);
  w.F64(step_norm_);
  w.F64(progress_step_);
  w.I64(small_steps_);
  w.I64(free_variables_);
  w.Flag(step_clipped_);
  w.F64(projected_step_norm_);
  const SteihaugCg::Snapshot cg = cg_.snapshot();
  w.F64(cg.radius);
  w.F64(cg.tolerance);
  w.I64(cg.max_iterations);
  w.I64(cg.products);
  for (const double v :
       {cg.rr, cg.dd, cg.model_z, cg.model_change, cg.step_norm}) {
    w.F64(v);
  }
  w.Flag(cg.on_boundary);
  w.F64(difference_step_);
  w.Flag(gradient_set_);
  w.Flag(hessian_set_);
  w.Flag(product_set_);
  const PairGram empty;
  const PairGram& gram = memory_ ? memory_->gram() : empty;
  WritePairGram(gram, w);
  w.Flag(exact_ != nullptr);
  if (exact_) {
    w.F64(exact_->previous_radius());
    w.F64(exact_->lambda_lower());
    w.F64s(exact_->hessian());
    w.F64s(exact_->gradient());
  }
  w.I64(trial_hessian_.rows());
  w.F64s(trial_hessian_);
  w.I64(iterations_);
  w.I64(evaluations_);
  WriteSummaryFields(summary_, &w);
}

absl::Status TrustRegion::SaveState(std::string* out) const {
  const int64_t bytes = StateBytes();
  if (bytes == 0) {
    return absl::UnimplementedError(
        "this trust-region session's vectors cannot save their state; it is "
        "restored by replaying its tells");
  }
  out->clear();
  out->reserve(static_cast<size_t>(bytes));
  StateSectionsWriter sections(kTrustRegionStateTag, out);
  SaveController(out);
  sections.EndController();
  return vectors_->SaveState(out);
}

absl::Status TrustRegion::ReadSavedOptions(StateReader& r) const {
  const OptionWords saved = ReadOptions(r);
  if (!r.ok()) return r.Error("the optd.trust_region.v1 state");
  return CompareOptions(saved, WordsOf(options_, dimension(), bounded_));
}

}  // namespace optd
