#include "solvers/adapters/finite_difference.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "solvers/adapters/batch_adapter.h"
#include "solvers/adapters/finite_difference_stencil.h"
#include "solvers/sharding/shard_layout.h"

namespace optd {
namespace {

class FiniteDifferenceAdapter : public TrialBatchAdapter {
 public:
  FiniteDifferenceAdapter(std::unique_ptr<Solver> inner,
                          const FiniteDifferenceOptions& options, Bounds bounds)
      : TrialBatchAdapter(std::move(inner)),
        options_(options),
        bounds_(std::move(bounds)),
        rel_step_(ResolveRelativeStep(options_.relative_step, options_.scheme,
                                      inner_->state_type())) {}

 protected:
  Evaluation OwnWants(int k) const override { return Evaluation::kValue; }
  absl::Status ReadOwnPoint(int k,
                            const MutableVectorView& out) const override {
    return stencil_.ReadPoint(*inner_, k, out);
  }
  std::optional<PointDelta> OwnPointDelta(int k) const override {
    return stencil_.Delta(k);
  }
  absl::Status TellOwn(int k, const TrialResult& result) override {
    stencil_.TellValue(k, result);
    return absl::OkStatus();
  }
  absl::Status FinishOwnBatch() override;
  absl::Status NextGradientBatch() override {
    OPTD_RETURN_IF_ERROR(stencil_.Plan(*inner_,
                                       bounds_.any() ? &bounds_ : nullptr,
                                       options_.scheme, rel_step_));
    StartOwnBatch(stencil_.trials());
    return absl::OkStatus();
  }
  std::string OwnOptionsReport() const override {
    return absl::StrFormat(
        "    finite differences: %s, relative_step %g, bounds %s\n",
        options_.scheme == FiniteDifferenceScheme::kCentral ? "central"
                                                            : "forward",
        rel_step_, bounds_.any() ? "yes" : "none");
  }

 private:
  FiniteDifferenceOptions options_;
  Bounds bounds_;
  double rel_step_;
  FiniteDifferenceStencil stencil_;  // trial 0 is the inner solver's point
  std::vector<double> gradient_;     // scratch
};

absl::Status FiniteDifferenceAdapter::FinishOwnBatch() {
  const Evaluation wants = inner_->wants();
  const double f0 = stencil_.center_value();
  TrialResult result;
  if (std::isnan(f0) || !stencil_.Differentiate(&gradient_)) {
    result.failed = true;
    return inner_->Tell(result);
  }
  // A gradient the inner solver refuses (one that overflows a float32
  // state) is a failed evaluation: the batch is told and must move on.
  if (!inner_
           ->SetTrialGradient(
               ConstVectorView::Float64(gradient_.data(), dimension()))
           .ok()) {
    result.failed = true;
    return inner_->Tell(result);
  }
  result.has_gradient = true;
  if (WantsValue(wants)) result.value = f0;
  return inner_->Tell(result);
}

}  // namespace

absl::Status FiniteDifferenceOptions::Validate() const {
  return ValidateRelativeStep(relative_step, "finite_difference.relative_step");
}

absl::Status CheckFiniteDifferenceInner(const Solver* inner,
                                        const Bounds& bounds) {
  OPTD_RETURN_IF_ERROR(CheckInnerSolver(inner));
  if (bounds.size() != 0 && bounds.size() != inner->dimension()) {
    return DimensionError("bounds", bounds.size(), inner->dimension());
  }
  if (!inner->finished() && (inner->wants() == Evaluation::kHessian ||
                             inner->wants() == Evaluation::kHessianVector)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "finite differences form gradients only; the ",
        absl::string_view(inner->name().data(), inner->name().size()),
        " solver wants Hessians: choose a subproblem that needs none"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferences(
    std::unique_ptr<Solver> inner, const FiniteDifferenceOptions& options,
    Bounds bounds) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(CheckFiniteDifferenceInner(inner.get(), bounds));
  if (bounds.size() == 0) bounds = Bounds::Unbounded(inner->dimension());
  return StartAdapter(std::make_unique<FiniteDifferenceAdapter>(
      std::move(inner), options, std::move(bounds)));
}

int64_t FiniteDifferenceTrials(int64_t n, FiniteDifferenceScheme scheme) {
  return (scheme == FiniteDifferenceScheme::kCentral ? 2 * n : n) + 1;
}

int64_t FiniteDifferenceBytes(int64_t n, FiniteDifferenceScheme scheme) {
  const int64_t trials = FiniteDifferenceTrials(n, scheme);
  return FiniteDifferenceStencil::Bytes(n, trials) +
         n * static_cast<int64_t>(sizeof(double)) + trials;
}

}  // namespace optd
