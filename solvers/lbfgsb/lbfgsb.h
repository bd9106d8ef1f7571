// L-BFGS-B: L-BFGS with bounds lower <= x <= upper, as an ask-tell state
// machine that mirrors L-BFGS-B 3.0 as scipy 1.10 ships it
// (`minimize(method='L-BFGS-B')`, Fortran lbfgsb.f):
//
//   R. H. Byrd, P. Lu, J. Nocedal and C. Zhu, "A limited memory algorithm for
//   bound constrained optimization", SIAM J. Sci. Comput. 16 (1995) 1190-1208;
//   J. L. Morales and J. Nocedal, "Remark on Algorithm 778", ACM TOMS 38
//   (2011), the 3.0 subspace step.
//
// Each iteration (mainlb) finds the generalized Cauchy point along the
// projected steepest descent path (cauchy), minimizes the quadratic model over
// the variables still free there (formk, cmprlb, subsm: lbfgsb_steps.h), and
// searches along d = z - x with the Moré–Thuente line search
// (line_search_more_thuente.h), whose largest step keeps x in the box (lnsrlb).
// The L-BFGS matrix is kept in compact form (lbfgsb_compact.h). Defaults and
// stopping rules are scipy's (LbfgsOptions): max |projected gradient| <= gtol,
// relative reduction of f <= ftol, iteration and evaluation limits; a failed
// line search restarts from an empty memory, or ends the session with
// ABNORMAL_TERMINATION_IN_LNSRCH when the memory already was empty.
//
// x0 outside the box is projected into it (as scipy does); every trial point
// lies in the box. With no finite bound the iterates are scipy's L-BFGS-B's
// (compact form), which agree with Lbfgs's (two-loop recursion) up to
// rounding.
//
// Failed evaluations (TrialResult::failed, or a non-finite value) inside a
// line search make it backtrack (MoreThuenteLineSearch::TellFailed), as in
// Lbfgs; a search that ends on a failed point counts as failed.
//
// Like Lbfgs, the controller holds no vector of the dimension: x, g, the
// box, the pairs and the work vectors live in slices (LbfgsbVectors,
// lbfgsb_slice.h); the controller keeps the compact form's m x m and
// 2m x 2m matrices and merges the slices' breakpoints in (t, index) order
// for the Cauchy search. Reductions are in global block order, so the
// iterates are bitwise the same for any number of slices; with at most
// kReductionBlock variables they are lbfgsb.f's arithmetic but for the
// order of tied breakpoints and the backtracking minima (lbfgsb_slice.h).
//
//   OPTD_ASSIGN_OR_RETURN(Bounds box, Bounds::Create(lower, upper, n));
//   OPTD_ASSIGN_OR_RETURN(auto solver, LbfgsB::Create(LbfgsOptions(), x0,
//   box));
//   ... drive it through the Solver interface (solver.h) ...
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_LBFGSB_LBFGSB_H_
#define OPTD_SOLVERS_LBFGSB_LBFGSB_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/bounds.h"
#include "solvers/core/solver.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/lbfgsb/lbfgsb_compact.h"
#include "solvers/lbfgsb/lbfgsb_steps.h"
#include "solvers/lbfgsb/lbfgsb_vectors.h"
#include "solvers/line_search/line_search_more_thuente.h"

namespace optd {

class LbfgsB : public Solver {
 public:
  // A session starting at x0 (every element finite; projected into the box)
  // under `bounds` (bounds.size() == x0.size()). options.line_search.stpmax
  // is the largest step when no bound limits it (lnsrlb's 1e10).
  static absl::StatusOr<std::unique_ptr<LbfgsB>> Create(
      const LbfgsOptions& options, const ConstVectorView& x0,
      const Bounds& bounds);
  // The same on `vectors` (a session's slices, made over `bounds` with
  // options.memory pairs each; dimension x0.size()).
  static absl::StatusOr<std::unique_ptr<LbfgsB>> Create(
      const LbfgsOptions& options, const ConstVectorView& x0,
      const Bounds& bounds, std::unique_ptr<LbfgsbVectors> vectors);

  std::string_view name() const override { return "lbfgs"; }
  int64_t dimension() const override { return n_; }
  bool finished() const override { return phase_ == Phase::kFinished; }
  Evaluation wants() const override { return Evaluation::kValueAndGradient; }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  absl::Status Tell(const TrialResult& result) override;
  void Stop() override;
  // gradient_max_norm is the projected gradient's (projgr).
  Progress progress() const override;
  const Summary& summary() const override { return summary_; }
  absl::Status ReadBestGradient(const MutableVectorView& out) const override;
  // The columns of S and Y in the ring buffers' slot order, oldest first.
  absl::Status ReadCurvaturePairs(
      std::vector<std::vector<double>>* s,
      std::vector<std::vector<double>>* y) const override;
  std::string OptionsReport() const override;

  const LbfgsOptions& options() const { return options_; }
  // Whether x0 was outside the box and has been projected into it.
  bool x0_projected() const { return flags_.projected; }

 private:
  enum class Phase { kInitial, kLineSearch, kFinished };

  LbfgsB(const LbfgsOptions& options, int64_t finite_sides,
         std::unique_ptr<LbfgsbVectors> vectors, BoxFlags flags);

  absl::Status TellInitial(const TrialResult& result);
  absl::Status TellLineSearch(const TrialResult& result);
  // mainlb from label 222: Cauchy point, subspace step, then the search.
  absl::Status StartIteration();
  // lnsrlb's set-up: the largest feasible step, the first trial.
  absl::Status StartLineSearch();
  // The search ended well (lnsrlb's NEW_X): stopping tests, memory update.
  absl::Status AcceptStep();
  // mainlb after a failed search: restart with an empty memory, or finish.
  absl::Status LineSearchFailed();
  absl::Status RefreshMemory();
  // False when x + stp d is not finite (nothing is handed out).
  absl::StatusOr<bool> FormTrialPoint();
  // Ends the session with scipy's message for `reason` (LbfgsFinishMessage).
  void Finish(TerminationReason reason);

  LbfgsOptions options_;
  int64_t n_;
  int64_t finite_sides_;  // for OptionsReport
  std::unique_ptr<LbfgsbVectors> vectors_;
  BoxFlags flags_;
  Phase phase_ = Phase::kInitial;

  double f_ = 0.0;
  double sbgnrm_ = 0.0;  // max |projected gradient| at the iterate
  bool have_iterate_ = false;

  // mainlb's small work: memory, Cauchy scalars' vectors, free set sizes,
  // K factors and inner products, cmprlb's and subsm's 2m vectors.
  lbfgsb::LbfgsbMemory memory_;
  bool updatd_ = false;  // the last iteration added a pair
  lbfgsb::CauchyWork cauchy_;
  lbfgsb::FreeSet free_;
  Eigen::MatrixXd wn_, wn1_;
  Eigen::VectorXd wa_, wv_;

  // lnsrlb's state.
  MoreThuenteLineSearch line_search_;
  double dtd_ = 0.0, gd_ = 0.0, gdold_ = 0.0;
  int line_search_evaluations_ = 0;
  double trial_value_ = 0.0;
  bool last_trial_failed_ = false;
  double last_step_ = std::numeric_limits<double>::quiet_NaN();

  int64_t iterations_ = 0;  // mainlb's iter and scipy's nit
  int64_t evaluations_ = 0;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_LBFGSB_LBFGSB_H_
