// Trust-region methods as an ask-tell state machine, with the outer loop of
// scipy 1.10's `_minimize_trust_region` (scipy/optimize/_trustregion.py;
// Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithm 4.1):
//
//   rho = (f(x) - f(x + p)) / (m(0) - m(p));  a failed or non-finite trial
//   counts as rho = -inf (DESIGN §2: the trust region contracts);
//   rho < 0.25: radius *= 0.25;  rho > 0.75 and p on the boundary:
//   radius = min(2 radius, max_radius);  rho > eta: x <- x + p;
//   stop when ||g||_2 < gtol (also before the first step), or after
//   max_iterations trials (rejected ones count, as in scipy), or when the
//   model predicts no decrease; and, optd's own, when ftol_steps accepted
//   steps in a row each lowered f by at most ftol relative (options below).
//
// Endings (Summary::reason, scipy's message): kGradientTolerance
// "Optimization terminated successfully."; kFunctionTolerance (optd's
// message, kFunctionToleranceMessage); kMaxIterations "Maximum number of
// iterations has been exceeded."; kMaxEvaluations "Maximum number of function
// evaluations has been exceeded."; kTrustRegionFailed (no step can make
// progress) "A bad approximation caused failure to predict improvement.";
// kEvaluationFailed when x0 cannot be evaluated; kStoppedByClient.
//
// A rejected step solves the subproblem again at the same iterate with the
// smaller radius; the iterate is never evaluated twice, and neither is a
// rejected interior step of an unchanged model (it would be proposed again
// while the radius holds it: the radius contracts, an iteration each, until
// it does not, as scipy's loop does with its cached value). Subproblems:
//   kExact        scipy trust-exact (trust_region_exact.h): every trial
//                 wants Evaluation::kHessian (value, gradient and the dense
//                 n x n Hessian, symmetrized). The Hessian is control state
//                 held by the home, not sliced: it is O(n^2) and its
//                 Cholesky factorizations need all of it, which is why this
//                 variant is limited to kMaxExactDimension.
//   kNewtonCg     scipy trust-ncg (trust_region_cg.h): each CG iteration is a
//                 kHessianVector trial at the iterate with the vector of
//                 ReadTrialVector; the trial point then wants
//                 kValueAndGradient.
//   kNewtonCgFiniteDifference  the same, with H v = (g(x + h v) - g(x)) / h,
//                 h = sqrt(eps) (1 + ||x||) / ||v||, asked as a kGradient
//                 trial at x + h v.
//   kQuasiNewton  (default) L-SR1 or L-BFGS, B = gamma I + Psi M Psi^T,
//                 solved exactly in the subspace by the OBS method
//                 (trust_region_obs.h); every trial wants kValueAndGradient.
// Where this differs from scipy 1.10: m(0) - m(p) > 0 is tested before x + p
// is evaluated (scipy evaluates first); a Hessian-vector product that fails
// ends the iteration like a failed point; Newton-CG tracks the model's value
// from CG's scalars instead of extra products and stops after 2n (at least
// 10) products; the quasi-Newton pairs are (p, g(x + p) - g(x)) of every
// evaluated trial, accepted or not (N&W Algorithm 6.2), where scipy's update
// strategies pair consecutive evaluation points.
//
// Box bounds (kQuasiNewton only). Created with a Bounds, the solver keeps
// its iterates and trial points in the box lower <= x <= upper, with a
// projected step in the manner of the projected Newton method of Bertsekas
// ("Projected Newton methods for optimization problems with simple
// constraints", SIAM J. Control Optim. 20 (1982) 221-246):
//   - x0 is projected onto the box;
//   - at the iterate, a variable on a bound that its gradient pushes against
//     (x_i = l_i, g_i > 0 or x_i = u_i, g_i < 0) is active and held fixed;
//     the subproblem is solved for the others, with the reduced model Z B Z
//     and gradient Z g (Z: the projector onto the free variables;
//     trust_region_obs.h), so the step spends nothing against the bound;
//   - the trial point is x + p, p = P(x + s) - x: the subproblem's step s,
//     zero on the active variables, projected onto the box (P clips each
//     coordinate);
//   - rho = (f(x) - f(x + p)) / -m(p), m(p) = g.p + p.B.p/2 evaluated at the
//     projected step from its products with g and the pairs; the radius
//     grows only when the region, not the box, limited the step (s on the
//     boundary and no coordinate clipped, so ||p|| = radius: N&W Algorithm
//     4.1). Should the box spoil a step so that m(p) >= 0, the radius
//     contracts (an iteration, no evaluation) and the subproblem is solved
//     again;
//   - convergence is on the projected gradient, max_i |P(x - g)_i - x_i| <=
//     gtol (L-BFGS-B's `projgr`), which progress().gradient_max_norm and the
//     summary report instead of max |g_i|.
// Bounds whose every side is infinite are no bounds: the iterates are
// bitwise those of the unbounded solver. INVALID_ARGUMENT for bounds (with a
// finite side) with the exact and Newton-CG subproblems ("bounds are
// supported by trust_region only with the quasi_newton subproblem"). The box
// operations are reductions over slices like the rest: bounded iterates too
// are bitwise the same for any number of slices.
//
// Every vector (x, g, the step, the CG vectors, the pairs) lives in slices
// (trust_region_vectors.h); the controller keeps scalars and small matrices,
// and its iterates are bitwise identical for any number of slices.
//
//   TrustRegionOptions options;                  // L-SR1, scipy's radii
//   auto solver = TrustRegion::Create(options,
//                                     ConstVectorView::Float64(x0, n));
//   // or, confined to a box (OPTD_ASSIGN_OR_RETURN(Bounds box, ...)):
//   auto boxed = TrustRegion::Create(options,
//                                    ConstVectorView::Float64(x0, n), box);
//   while (!(*solver)->finished()) {             // see solver.h
//     (*solver)->ReadTrialPoint(x_view);
//     ... evaluate what (*solver)->wants() ...
//   }
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_H_
#define OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "Eigen/Dense"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"
#include "solvers/trust_region/trust_region_cg.h"
#include "solvers/trust_region/trust_region_exact.h"
#include "solvers/trust_region/trust_region_memory.h"
#include "solvers/trust_region/trust_region_obs.h"
#include "solvers/trust_region/trust_region_vectors.h"

namespace optd {

class StateReader;  // state_bytes.h

enum class TrustRegionSubproblem {
  kExact,
  kNewtonCg,
  kNewtonCgFiniteDifference,
  kQuasiNewton,
};

// "exact", "newton_cg", "newton_cg_fd", "quasi_newton"; "lsr1", "lbfgs".
const char* SubproblemName(TrustRegionSubproblem subproblem);
const char* UpdateName(QuasiNewtonUpdate update);

// The largest dimension kExact accepts: its dense Hessian and factor take
// 2 * 8 n^2 bytes (400 MB at this size).
inline constexpr int64_t kMaxExactDimension = 5000;

// TrustRegionOptions: the fields of optd.v1.TrustRegionOptions, with its
// defaults (scipy 1.10's for the radii, eta, gtol and max_iterations).
struct TrustRegionOptions {
  // Default kQuasiNewton (the proto's SUBPROBLEM_UNSPECIFIED).
  TrustRegionSubproblem subproblem = TrustRegionSubproblem::kQuasiNewton;
  // kQuasiNewton's update. Default L-SR1 (QUASI_NEWTON_UPDATE_UNSPECIFIED).
  QuasiNewtonUpdate quasi_newton_update = QuasiNewtonUpdate::kLsr1;
  // Curvature pairs of the quasi-Newton model. Range [1, 1000].
  int memory = 10;
  // scipy initial_trust_radius. Range (0, max_radius].
  double initial_radius = 1.0;
  // scipy max_trust_radius. Range (0, inf).
  double max_radius = 1000.0;
  // Acceptance threshold on rho (scipy eta). Range [0, 0.25).
  double eta = 0.15;
  // Stop when ||g||_2 < gtol (scipy gtol); with bounds, when the projected
  // gradient's max-norm max_i |P(x - g)_i - x_i| <= gtol (L-BFGS-B's pgtol
  // test). Range [0, inf).
  double gtol = 1e-4;
  // Trials (outer iterations, rejected ones included). 0: 200 n, scipy's
  // default maxiter. Range [0, 2^53].
  int64_t max_iterations = 0;
  // Tells of any kind (points, Hessian-vector products, difference
  // gradients). 0: no limit. Range [0, 2^53].
  int64_t max_evaluations = 0;
  // Stop when ftol_steps accepted steps in a row each lowered f by at most
  // ftol * max(|f_old|, |f_new|) (kFunctionTolerance). scipy's trust-region
  // methods have no such test (ftol = 0 turns it off); the default is
  // L-BFGS-B's factr * eps (scipy ftol), and the test is made over many
  // steps because a trust region's single step can be small for a while (a
  // contracted radius, a turn of a curved valley) and then grow again: on
  // bench/solver_quality's problems, ftol_steps from 10 to 50 solve the same
  // problems (L-SR1 4,765 to 4,805 evaluations in all), while 5 ends a
  // trust-region L-BFGS run on Meyer's problem at f = 1.1e5 after 31
  // evaluations that otherwise goes on to the minimum. Unlike
  // L-BFGS-B's test the reduction is relative to |f| alone, with no floor
  // of 1: with the floor, runs whose f is small and still falling (Powell's
  // badly scaled problem, f ~ 1e-5 to 1e-10) stopped short of the minimum.
  // Range [0, 1) and [1, 2^31).
  double ftol = 2.220446049250313e-09;
  int ftol_steps = 20;
  // Not in the API: the sin^2 below which LimitedMemoryModel leaves a pair out
  // (kPairDependence). Sessions journaled before solver revision 1
  // (server/session/solver_revision.h) replay with their build's 1e-8 and ftol
  // = 0. Range (0, 1).
  double pair_dependence = kPairDependence;

  // INVALID_ARGUMENT naming the field ("trust_region.eta"), its value and
  // range.
  absl::Status Validate() const;

  // What each slice of the state holds for these options: curvature pairs
  // (quasi-Newton only) and the Steihaug CG vectors (Newton-CG variants).
  int slice_memory() const {
    return subproblem == TrustRegionSubproblem::kQuasiNewton ? memory : 0;
  }
  bool slice_cg_vectors() const {
    return subproblem == TrustRegionSubproblem::kNewtonCg ||
           subproblem == TrustRegionSubproblem::kNewtonCgFiniteDifference;
  }
};

namespace trust_region_internal {

// scipy 1.10's messages (_optimize.py _status_message, _trustregion.py).
inline constexpr char kSuccessMessage[] =
    "Optimization terminated successfully.";
inline constexpr char kMaxEvaluationsMessage[] =
    "Maximum number of function evaluations has been exceeded.";
inline constexpr char kMaxIterationsMessage[] =
    "Maximum number of iterations has been exceeded.";
inline constexpr char kBadModelMessage[] =
    "A bad approximation caused failure to predict improvement.";
// optd's own (scipy's trust-region methods have no ftol test).
inline constexpr char kFunctionToleranceMessage[] =
    "The relative reduction of f was at most ftol for ftol_steps accepted "
    "steps in a row.";
inline constexpr char kStartFailedMessage[] =
    "The starting point could not be evaluated.";
inline constexpr char kStoppedMessage[] = "Stopped by the client.";

}  // namespace trust_region_internal

// The tag SaveState's bytes start with.
inline constexpr std::string_view kTrustRegionStateTag = "optd.trust_region.v1";

class TrustRegion : public Solver {
 public:
  // A session starting at x0 (every element finite) whose vectors live in
  // `vectors` (dimension x0.size(); built for the options' subproblem: pairs
  // for kQuasiNewton, CG vectors for the Newton-CG variants).
  static absl::StatusOr<std::unique_ptr<TrustRegion>> Create(
      const TrustRegionOptions& options, const ConstVectorView& x0,
      std::unique_ptr<TrustRegionVectors> vectors);
  // As above with `shards` in-process slices.
  static absl::StatusOr<std::unique_ptr<TrustRegion>> Create(
      const TrustRegionOptions& options, const ConstVectorView& x0,
      int shards = 1);
  // As above, confined to `bounds` (see "Box bounds" at the top of this
  // file). INVALID_ARGUMENT for bounds of another size than x0, and for
  // bounds with a finite side with a subproblem other than kQuasiNewton or
  // with more than one slice.
  static absl::StatusOr<std::unique_ptr<TrustRegion>> Create(
      const TrustRegionOptions& options, const ConstVectorView& x0,
      const Bounds& bounds, std::unique_ptr<TrustRegionVectors> vectors);
  static absl::StatusOr<std::unique_ptr<TrustRegion>> Create(
      const TrustRegionOptions& options, const ConstVectorView& x0,
      const Bounds& bounds, int shards = 1);

  std::string_view name() const override { return "trust_region"; }
  int64_t dimension() const override { return vectors_->dimension(); }
  bool finished() const override { return phase_ == Phase::kFinished; }
  Evaluation wants() const override;
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  absl::Status ReadTrialVector(const MutableVectorView& out) const override;
  absl::Status SetTrialHessian(const ConstVectorView& hessian) override;
  absl::Status SetTrialHessianVector(const ConstVectorView& product) override;
  absl::Status Tell(const TrialResult& result) override;
  void Stop() override;
  // TrustRegion::SetCurvaturePairs() (trust_region_warm_start.cc)
  //
  // Solver::SetCurvaturePairs: the quasi-Newton model starts with the pairs,
  // each offered oldest first to the memory's skipping rule (see
  // trust_region_memory.h; refused ones are left out), the newest `memory`
  // of those taken kept; the first step solves that model at x0.
  // INVALID_ARGUMENT for another subproblem than kQuasiNewton, for a bounded
  // session and for pairs of the wrong count or size; FAILED_PRECONDITION
  // once anything was told.
  absl::Status SetCurvaturePairs(
      const std::vector<std::vector<double>>& s,
      const std::vector<std::vector<double>>& y) override;
  Progress progress() const override;
  const Summary& summary() const override { return summary_; }
  std::string OptionsReport() const override;

  // TrustRegion::SaveState(), TrustRegion::RestoreState()
  // (trust_region_state.cc, trust_region_restore.cc)
  //
  // Every number is an 8-byte little-endian word (state_bytes.h); matrices
  // are column-major. The state is
  //   "optd.trust_region.v1" (20 bytes), then the controller section's
  //   length in bytes, then the controller section:
  //     options: dimension, subproblem, quasi_newton_update, memory,
  //       initial_radius, max_radius, eta, gtol, max_iterations (resolved:
  //       200 n for 0), max_evaluations, ftol, ftol_steps, pair_dependence,
  //       bounded (a restore refuses any that differ)
  //     phase (0 initial, 1 trial point, 2 Hessian-vector product,
  //       3 difference gradient, 4 finished)
  //     radius, have_iterate, f, g.g, max |g| (projected with bounds), ||x||,
  //       predicted reduction, on_boundary, ||s||, ||p|| of the last accepted
  //       step, small steps in a row (the ftol test)
  //     bounds: free variables, step_clipped, ||p|| of the projected step
  //     Steihaug CG (SteihaugCg::Snapshot): radius, tolerance,
  //       max_iterations, products, r.r, d.d, m(z), model change, ||p||,
  //       on_boundary; and the difference step h
  //     the trial's tells so far: gradient_set, hessian_set, product_set
  //     quasi-Newton memory: pairs k; ss, sy, yy (k x k), sg, yg (k), gg
  //       (k = 0 and no blocks for the other subproblems)
  //     exact: has_subproblem; if 1, the solve history (previous radius,
  //       lower bound on lambda), H (n x n) and g (n); then the trial's
  //       Hessian's size (0 or n) and its n x n elements
  //     iterations, evaluations
  //     summary: reason (TerminationReason, 0 while running), value,
  //       initial_value, gradient_max_norm, iterations, evaluations,
  //       failed_evaluations, line_search_restarts, skipped_updates,
  //       wall_seconds (the message follows from the reason)
  //   and last the vectors section, up to the end: TrustRegionVectors::
  //   SaveState's portable state (slice_state.h), which a server may keep
  //   elsewhere as per-slice states (SplitTrustRegionState);
  //   SplitStateSections finds it, VectorsSectionOffset() says where it
  //   starts.
  // The box of a bounded session is not saved: restore into a session
  // created with the same bounds (checked: bounded or not, and the slices'
  // flag). StateBytes() is 0 and SaveState UNIMPLEMENTED when the vectors
  // cannot save (TrustRegionVectors' defaults). RestoreState:
  // FAILED_PRECONDITION for a solver told anything; INVALID_ARGUMENT naming
  // what does not fit (tag, options, sizes, enums and counts out of range,
  // matrices of the wrong size, a phase the subproblem never enters, a
  // vectors section of another pair count), and the solver unchanged. The
  // restored solver continues bitwise as the saved one, with any number of
  // slices.
  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;
  // Bytes of SaveState's output before the vectors section (0 when
  // StateBytes() is 0).
  int64_t VectorsSectionOffset() const;

  const TrustRegionOptions& options() const { return options_; }
  // The current trust radius.
  double radius() const { return radius_; }

 private:
  enum class Phase {
    kInitial,             // x0, wants the value and gradient (and Hessian)
    kTrialPoint,          // x + p, the same
    kHessianVector,       // H(x) d for the CG direction d
    kDifferenceGradient,  // g(x + h d) for the same product
    kFinished,
  };

  TrustRegion(const TrustRegionOptions& options,
              std::unique_ptr<TrustRegionVectors> vectors, bool bounded);
  // The public overloads; `bounds` may be null (unbounded).
  static absl::StatusOr<std::unique_ptr<TrustRegion>> Create(
      const TrustRegionOptions& options, const ConstVectorView& x0,
      const Bounds* bounds, std::unique_ptr<TrustRegionVectors> vectors);

  absl::Status TellInitial(bool ok, double value);
  absl::Status TellTrialPoint(bool ok, double value);
  absl::Status TellProduct(bool ok);
  // Solves the subproblem at the iterate for the current radius and sets up
  // the next trial (or finishes).
  absl::Status StartIteration();
  // StartIteration's kQuasiNewton case with bounds (trust_region_bounds.cc).
  absl::Status StartBoundedIteration();
  // The gradient test: ||g||_2 < gtol, or with bounds the projected
  // gradient's max-norm <= gtol.
  bool Converged() const;
  // The CG subproblem asked for another product, or has its step.
  absl::Status ContinueCg(SteihaugCg::Next next);
  // A step is on the slices with this model change: the next trial is x + p.
  absl::Status ProposeStep(double model_change, bool on_boundary, double norm);
  // rho is known: update the radius, count the iteration, test the ends.
  // `told_and_model_unchanged`: the trial point's value was told (it did not
  // fail) and the model at the iterate is as it was (no curvature pair
  // taken), so a rejected interior step is not proposed again.
  absl::Status EndIteration(double rho, bool told_and_model_unchanged = false);
  // The iterate moved (or is x0): take its value and gradient products.
  absl::Status TakeIterate(double value, const Reduction& dots);
  void Finish(TerminationReason reason, std::string message);
  // SaveState's controller section.
  void SaveController(std::string* out) const;
  // Reads the options of a saved controller section and compares them with
  // these (INVALID_ARGUMENT naming the first that differs).
  absl::Status ReadSavedOptions(StateReader& r) const;

  TrustRegionOptions options_;
  std::unique_ptr<TrustRegionVectors> vectors_;
  Phase phase_ = Phase::kInitial;

  double radius_;
  bool have_iterate_ = false;
  double f_ = 0.0;
  double gg_ = 0.0;      // g.g at the iterate
  double gmax_ = 0.0;    // max |g_i|; with bounds max |P(x - g)_i - x_i|
  double x_norm_ = 0.0;  // ||x||, for the difference step
  // The proposed step: f - m(p) and whether p reached the boundary.
  double predicted_reduction_ = 0.0;
  bool on_boundary_ = false;
  double step_norm_ = std::numeric_limits<double>::quiet_NaN();
  // ||p|| of the last accepted step (Progress::last_step).
  double progress_step_ = std::numeric_limits<double>::quiet_NaN();
  // Accepted steps in a row that lowered f by at most ftol relative.
  int small_steps_ = 0;

  // kExact: the subproblem at the iterate (owns its Hessian) and the trial's.
  std::unique_ptr<ExactSubproblem> exact_;
  Eigen::MatrixXd trial_hessian_;
  // kQuasiNewton.
  std::unique_ptr<QuasiNewtonMemory> memory_;
  // Box bounds: whether there are any, the free variables at the iterate,
  // and of the proposed step whether the box clipped it and ||p||
  // (step_norm_ is then the subproblem's ||s||).
  bool bounded_ = false;
  int64_t free_variables_ = 0;
  bool step_clipped_ = false;
  double projected_step_norm_ = std::numeric_limits<double>::quiet_NaN();
  // Newton-CG variants.
  SteihaugCg cg_;
  double difference_step_ = 0.0;

  // What this trial's tells have delivered so far.
  bool gradient_set_ = false, hessian_set_ = false, product_set_ = false;

  int64_t iterations_ = 0;
  int64_t evaluations_ = 0;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_H_
