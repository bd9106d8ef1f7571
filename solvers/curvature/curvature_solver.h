// CurvatureSolver: Lanczos (lanczos.h) on the Hessian H(x) at a fixed point
// x, behind the Solver interface (solver.h), so that a server session can
// hand out its products as trials. It moves nothing: every trial is at x (or
// next to it), and the session ends with the spectrum estimate
// (curvature_estimate()).
//
// The products H v come from one of two sources:
//  - kHessianVector: each trial wants Evaluation::kHessianVector at x with
//    ReadTrialVector's v; the client tells H(x) v (SetTrialHessianVector).
//  - kGradientDifference: for clients that give only gradients, each
//    product is a batch of two kGradient trials at x + h v and x - h v, told
//    in any order (workers may evaluate them in parallel), and
//    H v ~ (g(x + h v) - g(x - h v)) / (2h), the central difference along
//    the unit vector v, with error O(h^2) (Nocedal & Wright, Numerical
//    Optimization, 2nd ed., §8.1, (8.6) and (8.20)). h = relative_step *
//    max(1, |x|_2): the relative step rule of scipy's approx_derivative
//    (FiniteDifferenceOptions) with the 2-norm, as v is a unit vector in no
//    coordinate's direction; the default relative_step cbrt(eps) = 6.06e-6
//    balances truncation O(h^2) against rounding O(eps / h) for central
//    differences (N&W (8.5) and §8.1's discussion).
//
// A failed evaluation ends the session (TerminationReason::kEvaluationFailed)
// with what the products so far have shown. The summary's reason is
// kGradientTolerance ("CONVERGENCE: RITZ_RESIDUALS_<=_TOL") when the wanted
// Ritz values passed the residual test (or n steps gave the exact spectrum),
// kMaxIterations when max_steps ran out first; then the probes of the
// spectral density run either way. The state is rebuilt by replaying tells
// (no SaveState): the products determine everything (lanczos.h).
//
// The point x, the vector v and the told products or gradients live in
// LanczosVectors (lanczos_vectors.h): in process, or on slices on other
// replicas (a sharded diagnosis, server/sharding/remote_vectors.h), where
// v, x +- h v and the central difference are formed on the slices and
// |x|_2 is a block reduction; the solver holds no O(n) vector.
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_CURVATURE_CURVATURE_SOLVER_H_
#define OPTD_SOLVERS_CURVATURE_CURVATURE_SOLVER_H_

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/core/solver.h"
#include "solvers/core/vector_view.h"
#include "solvers/curvature/lanczos.h"

namespace optd {

enum class ProductSource { kHessianVector, kGradientDifference };

struct CurvatureOptions {
  LanczosOptions lanczos;
  // Where H v comes from. Default kHessianVector.
  ProductSource source = ProductSource::kHessianVector;
  // kGradientDifference: h = relative_step * max(1, |x|_2). NaN: cbrt(eps)
  // = 6.06e-6; range (0, 0.1].
  double relative_step = std::numeric_limits<double>::quiet_NaN();

  // INVALID_ARGUMENT naming "curvature.<field>", the value and the range.
  absl::Status Validate() const;
};

class CurvatureSolver final : public Solver {
 public:
  // The diagnosis of H at x. INVALID_ARGUMENT from options.Validate(), for
  // an empty x or a non-finite x element (naming its index). With
  // `vectors` (of x.size() elements, holding g_0 and g_1 for
  // kGradientDifference), x is set there (an on_slices() x: the slices'
  // told vectors); without, one slice in process.
  static absl::StatusOr<std::unique_ptr<CurvatureSolver>> Create(
      const CurvatureOptions& options, const ConstVectorView& x,
      std::unique_ptr<LanczosVectors> vectors = nullptr);

  std::string_view name() const override { return "curvature"; }
  int64_t dimension() const override { return lanczos_->n(); }
  bool finished() const override { return finished_; }
  Evaluation wants() const override;

  // kHessianVector: x; kGradientDifference: batch trial 0's point x + h v.
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override;
  // x, the point diagnosed.
  absl::Status ReadBestPoint(const MutableVectorView& out) const override;
  absl::Status ReadTrialVector(const MutableVectorView& out) const override;
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override;
  absl::Status SetTrialHessianVector(const ConstVectorView& product) override;
  // INVALID_ARGUMENT when the wanted vector was not told (and not failed),
  // or when the product is refused by Lanczos::Tell.
  absl::Status Tell(const TrialResult& result) override;

  // kGradientDifference: a batch of 2 (x + h v, x - h v).
  int batch_size() const override;
  bool batch_told(int k) const override;
  absl::Status ReadBatchPoint(int k,
                              const MutableVectorView& out) const override;
  absl::Status SetBatchGradient(int k,
                                const ConstVectorView& gradient) override;
  absl::Status TellBatch(int k, const TrialResult& result) override;

  void Stop() override;
  Progress progress() const override;
  const Summary& summary() const override { return summary_; }
  const SpectrumEstimate* curvature_estimate() const override;
  std::string OptionsReport() const override;

  // The step h of the gradient differences (0 for kHessianVector).
  double step() const { return step_; }

 private:
  CurvatureSolver(const CurvatureOptions& options, double step,
                  std::unique_ptr<Lanczos> lanczos);
  // A told vector in memory: FAILED_PRECONDITION once finished,
  // INVALID_ARGUMENT for a length other than n or a non-finite element
  // (naming `what` and the index). An on_slices() vector is checked by
  // the vectors.
  absl::Status CheckTold(const ConstVectorView& in, const char* what) const;
  absl::Status CheckOutput(const MutableVectorView& out) const;
  // One Lanczos step on the product the vectors hold; finishes when
  // Lanczos has.
  absl::Status Apply();
  void Finish(TerminationReason reason);

  CurvatureOptions options_;
  double step_ = 0.0;
  std::unique_ptr<Lanczos> lanczos_;
  // Which told vectors of the outstanding trial(s) the vectors hold: H v,
  // or g(x + h v) and g(x - h v).
  bool product_set_ = false;
  std::array<bool, 2> gradient_set_ = {false, false};
  std::array<bool, 2> told_ = {false, false};
  int64_t evaluations_ = 0;
  bool finished_ = false;
  Summary summary_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CURVATURE_CURVATURE_SOLVER_H_
