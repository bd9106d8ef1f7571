// L-BFGS as an ask-tell state machine, with the defaults and stopping rules of
// scipy 1.10's `minimize(method='L-BFGS-B')` on a problem without bounds
// (Byrd, Lu, Nocedal & Zhu 1995; Fortran lbfgsb.f `mainlb` and `lnsrlb`), a
// Moré–Thuente strong-Wolfe line search (line_search_more_thuente.h), and the
// two-loop recursion in the vector-free form of Chen, Wang & Zhou ("Large-scale
// L-BFGS using MapReduce", NeurIPS 2014):
//
// The controller keeps only scalars and the Gram matrix of the basis
// b = [s_0..s_{k-1}, y_0..y_{k-1}, g] ((2k+1)^2 numbers). The search direction
// d = sum_j delta_j b_j is formed by the slices from the coefficients delta;
// every evaluation costs one reduction (LbfgsSlice::ReduceTrial) that returns
// g_t.d for the Wolfe test and the new Gram row should the step be accepted.
// With K slices the same operations and the same additions happen in the same
// order, so the iterates are bitwise identical for every K (DESIGN §3).
//
//   LbfgsOptions options;                      // scipy defaults
//   auto solver = Lbfgs::Create(options, ConstVectorView::Float64(x0.data(),
//   n));
//   ... drive it through the Solver interface (solver.h) ...
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_LBFGS_LBFGS_H_
#define OPTD_SOLVERS_LBFGS_LBFGS_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "Eigen/Dense"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/pair_gram.h"
#include "solvers/core/solver.h"
#include "solvers/lbfgs/lbfgs_vectors.h"
#include "solvers/line_search/line_search_more_thuente.h"
#include "solvers/sharding/block_reduction.h"

namespace optd {

// scipy's messages (lbfgsb.f `task` strings; the limits come from
// scipy/optimize/_lbfgsb_py.py), shared by Lbfgs and LbfgsB (lbfgsb.h).
namespace lbfgs_messages {
inline constexpr char kGradientMessage[] =
    "CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL";
inline constexpr char kFunctionMessage[] =
    "CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH";
inline constexpr char kIterationsMessage[] =
    "STOP: TOTAL NO. of ITERATIONS REACHED LIMIT";
inline constexpr char kEvaluationsMessage[] =
    "STOP: TOTAL NO. of f AND g EVALUATIONS EXCEEDS LIMIT";
inline constexpr char kLineSearchMessage[] = "ABNORMAL_TERMINATION_IN_LNSRCH";
// optd's own, in scipy's style: x0 failed (scipy would raise).
inline constexpr char kStartFailedMessage[] =
    "ABNORMAL: THE STARTING POINT COULD NOT BE EVALUATED";
inline constexpr char kStoppedMessage[] = "STOP: REQUESTED BY CLIENT";
}  // namespace lbfgs_messages

// LbfgsOptions: defaults are scipy 1.10 L-BFGS-B's (REFERENCES.md).
struct LbfgsOptions {
  // Curvature pairs kept (scipy maxcor). Range [1, 1000].
  int memory = 10;
  // Stop when (f_old - f) / max(|f_old|, |f|, 1) <= ftol (scipy ftol =
  // factr 1e7 * machine epsilon). Range [0, 1).
  double ftol = 2.220446049250313e-09;
  // Stop when max_i |g_i| <= gtol (scipy gtol, "pgtol"). Range [0, inf).
  double gtol = 1e-5;
  // scipy maxiter. Range [1, 2^53].
  int64_t max_iterations = 15000;
  // scipy maxfun: checked after each iteration, as scipy does. Range [1, 2^53].
  int64_t max_evaluations = 15000;
  // scipy maxls: evaluations allowed in one line search. Range [1, 1000].
  int max_line_search = 20;
  // dcsrch parameters as lnsrlb passes them: ftol 1e-3, gtol 0.9, xtol 0.1,
  // stpmin 0, stpmax 1e10.
  MoreThuenteOptions line_search;

  // INVALID_ARGUMENT naming the field ("lbfgs.memory"), its value and range.
  absl::Status Validate() const;
};

// The tag SaveState's bytes start with.
inline constexpr std::string_view kLbfgsStateTag = "optd.lbfgs.v1";

class Lbfgs : public Solver {
 public:
  // A session starting at x0 (every element finite) whose vectors live in
  // `vectors` (dimension x0.size(), empty memory).
  static absl::StatusOr<std::unique_ptr<Lbfgs>> Create(
      const LbfgsOptions& options, const ConstVectorView& x0,
      std::unique_ptr<LbfgsVectors> vectors);
  // As above with `shards` in-process slices.
  static absl::StatusOr<std::unique_ptr<Lbfgs>> Create(
      const LbfgsOptions& options, const ConstVectorView& x0, int shards = 1);

  std::string_view name() const override { return "lbfgs"; }
  int64_t dimension() const override { return vectors_->dimension(); }
  bool finished() const override { return phase_ == Phase::kFinished; }
  Evaluation wants() const override { return Evaluation::kValueAndGradient; }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  absl::Status Tell(const TrialResult& result) override;
  void Stop() override;
  Progress progress() const override;
  const Summary& summary() const override { return summary_; }
  absl::Status ReadBestGradient(const MutableVectorView& out) const override;
  absl::Status ReadCurvaturePairs(
      std::vector<std::vector<double>>* s,
      std::vector<std::vector<double>>* y) const override {
    return vectors_->ReadPairs(s, y);
  }
  std::string OptionsReport() const override;
  // Lbfgs::SetCurvaturePairs() (lbfgs_warm_start.cc; solver.h says what it
  // does): the newest `memory` pairs; the first iteration then takes their
  // quasi-Newton direction with a unit step. FAILED_PRECONDITION once told
  // anything; INVALID_ARGUMENT for pairs not of the dimension.
  absl::Status SetCurvaturePairs(
      const std::vector<std::vector<double>>& s,
      const std::vector<std::vector<double>>& y) override;

  // Lbfgs::SaveState(), Lbfgs::RestoreState() (lbfgs_state.cc)
  //
  // Every number is an 8-byte little-endian word (state_bytes.h); matrices
  // are k x k, column-major. The state is
  //   "optd.lbfgs.v1" (13 bytes), then the controller section's length in
  //   bytes, then the controller section:
  //     options: dimension, memory, ftol, gtol, max_iterations,
  //       max_evaluations, max_line_search, and the line search's ftol, gtol,
  //       xtol, stpmin, stpmax (a restore refuses any that differ)
  //     phase (0 initial, 1 line search, 2 finished)
  //     pairs k; the Gram blocks ss, sy, yy (k x k), sg, yg (k), gg
  //     have_iterate, f, last_step, max |g|, g.d
  //     the line search (MoreThuenteLineSearch::SaveState, 224 bytes) and
  //       the evaluations of the current search
  //     the last finite trial's reduction: its length q (0 or 7 + 6j), q
  //       sums, max |g_trial|; its value; whether the last trial failed
  //     iterations, evaluations
  //     summary: reason (TerminationReason, 0 while running), value,
  //       initial_value, gradient_max_norm, iterations, evaluations,
  //       failed_evaluations, line_search_restarts, skipped_updates,
  //       wall_seconds (the message follows from the reason)
  //   and last the vectors section, up to the end: LbfgsVectors::SaveState's
  //   portable state (slice_state.h), which a server may keep elsewhere as
  //   per-slice states (SplitLbfgsState); SplitStateSections finds it,
  //   VectorsSectionOffset() says where it starts.
  // StateBytes() is 0 and SaveState UNIMPLEMENTED when the vectors cannot
  // save (LbfgsVectors' defaults). RestoreState: FAILED_PRECONDITION for a
  // solver told anything; INVALID_ARGUMENT naming what does not fit (tag,
  // options, sizes, enums and counts out of range, matrices of the wrong
  // size, a vectors section of another pair count), and the solver
  // unchanged. The restored solver continues bitwise as the saved one, with
  // any number of slices.
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;
  // Bytes of SaveState's output before the vectors section (0 when
  // StateBytes() is 0).
  int64_t VectorsSectionOffset() const;

  const LbfgsOptions& options() const { return options_; }

 private:
  enum class Phase { kInitial, kLineSearch, kFinished };

  Lbfgs(const LbfgsOptions& options, std::unique_ptr<LbfgsVectors> vectors);

  absl::Status TellInitial(const TrialResult& result);
  absl::Status TellLineSearch(const TrialResult& result);
  // Computes the direction from the Gram matrix and starts a line search.
  absl::Status StartIteration();
  // The line search ended well: take the step, update memory, test for the end.
  absl::Status AcceptStep();
  // The line search failed: restart along -g with empty memory, or finish.
  absl::Status LineSearchFailed();
  // Vector-free two-loop recursion: delta with d = -H g = sum_j delta_j b_j.
  std::vector<double> TwoLoopCoefficients() const;
  // Gram entry b_i . b_j of the basis [s_0..s_{k-1}, y_0..y_{k-1}, g].
  double Gram(int i, int j) const;
  void ClearMemory();
  // Ends the session with scipy's message for `reason` (LbfgsFinishMessage).
  void Finish(TerminationReason reason);
  // SaveState's controller section.
  void SaveController(std::string* out) const;

  LbfgsOptions options_;
  std::unique_ptr<LbfgsVectors> vectors_;
  Phase phase_ = Phase::kInitial;

  // Gram blocks of the basis [s_0..s_{k-1}, y_0..y_{k-1}, g].
  PairGram gram_;

  bool have_iterate_ = false;  // x0 was evaluated
  double f_ = 0.0;             // value at the iterate
  double last_step_ = std::numeric_limits<double>::quiet_NaN();
  double gmax_ = 0.0;  // max |g_i| at the iterate
  double gd_ = 0.0;    // g.d at the iterate, for the current direction
  MoreThuenteLineSearch line_search_;
  int line_search_evaluations_ = 0;
  // The reduction and value of the last finite trial of the current search.
  Reduction trial_dots_;
  double trial_value_ = 0.0;
  bool last_trial_failed_ = false;

  int64_t iterations_ = 0;
  int64_t evaluations_ = 0;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LBFGS_LBFGS_H_
