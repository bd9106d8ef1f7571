#include "solvers/adapters/gradient_check.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/adapters/batch_adapter.h"
#include "solvers/adapters/finite_difference_stencil.h"

namespace optd {
namespace {

constexpr size_t kMaxGradientChecks = 100;

class GradientCheckAdapter : public TrialBatchAdapter {
 public:
  GradientCheckAdapter(std::unique_ptr<Solver> inner,
                       const GradientCheckOptions& options)
      : TrialBatchAdapter(std::move(inner)),
        options_(options),
        rel_step_(ResolveRelativeStep(options_.relative_step,
                                      FiniteDifferenceScheme::kCentral,
                                      inner_->state_type())) {
    if (options_.at_iterations.empty() && options_.every_iterations == 0) {
      options_.at_iterations = {0};
    }
  }

  std::vector<GradientCheckReport> gradient_checks() const override {
    return {reports_.begin(), reports_.end()};
  }

 protected:
  Evaluation OwnWants(int k) const override {
    return k == 0 ? inner_->wants() : Evaluation::kValue;
  }
  absl::Status ReadOwnPoint(int k,
                            const MutableVectorView& out) const override {
    return stencil_.ReadPoint(*inner_, k, out);
  }
  std::optional<PointDelta> OwnPointDelta(int k) const override {
    return stencil_.Delta(k);
  }
  absl::Status SetOwnGradient(int k, const ConstVectorView& gradient) override {
    // Only trial 0 wants a gradient. The inner solver validates it and keeps
    // it for its Tell; the copy is for the comparison. A gradient on slices
    // (a sharded session's direct path) was copied by KeepBatchGradient.
    if (gradient.on_slices() && !kept_) {
      return absl::FailedPreconditionError(
          "a gradient told on slices to a gradient check needs its copy "
          "first (KeepBatchGradient)");
    }
    OPTD_RETURN_IF_ERROR(inner_->SetTrialGradient(gradient));
    if (!gradient.on_slices()) {
      told_gradient_.resize(static_cast<size_t>(dimension()));
      gradient.CopyTo(0, dimension(), told_gradient_.data());
    }
    kept_ = false;
    gradient_set_ = true;
    return absl::OkStatus();
  }
  bool batch_keeps_gradient(int k) const override {
    return !pass_through_ && k == 0 && !batch_told(0);
  }
  absl::Status KeepBatchGradient(int k, const ConstVectorView& whole) override {
    if (!batch_keeps_gradient(k) || whole.on_slices() ||
        whole.size() != dimension()) {
      return absl::InternalError(absl::StrCat(
          "KeepBatchGradient(", k, ") with ", whole.size(),
          " elements: only a check batch's trial 0 keeps its whole gradient"));
    }
    told_gradient_.resize(static_cast<size_t>(dimension()));
    whole.CopyTo(0, dimension(), told_gradient_.data());
    kept_ = true;
    return absl::OkStatus();
  }
  absl::Status TellOwn(int k, const TrialResult& result) override;
  absl::Status FinishOwnBatch() override {
    if (result0_.has_gradient && !result0_.failed) AddReport();
    return inner_->Tell(result0_);
  }
  absl::Status NextGradientBatch() override;
  std::string OwnOptionsReport() const override {
    std::string at;
    for (int64_t i : options_.at_iterations) {
      absl::StrAppend(&at, at.empty() ? "" : ",", i);
    }
    return absl::StrFormat(
        "    gradient check: at iterations {%s}, every %d, relative_step %g\n",
        at, options_.every_iterations, rel_step_);
  }

 private:
  bool IsCheckIteration(int64_t iteration) const {
    if (options_.every_iterations > 0 &&
        iteration % options_.every_iterations == 0) {
      return true;
    }
    return std::find(options_.at_iterations.begin(),
                     options_.at_iterations.end(),
                     iteration) != options_.at_iterations.end();
  }
  void AddReport();

  GradientCheckOptions options_;
  double rel_step_;
  int64_t last_checked_ = -1;
  // Trial 0 is the inner trial; its value at x enters the stencil only when
  // the inner solver wants one.
  FiniteDifferenceStencil stencil_;
  TrialResult result0_;
  bool gradient_set_ = false;
  // KeepBatchGradient filled told_gradient_ for the next SetOwnGradient.
  bool kept_ = false;
  std::vector<double> told_gradient_;
  std::deque<GradientCheckReport> reports_;
};

absl::Status GradientCheckAdapter::TellOwn(int k, const TrialResult& result) {
  if (k == 0) {
    if (result.has_gradient && !gradient_set_) {
      return absl::FailedPreconditionError(
          "trial 0 tells a gradient that was not set (SetBatchGradient)");
    }
    result0_ = result;
    if (WantsValue(inner_->wants())) stencil_.TellValue(0, result);
  } else {
    stencil_.TellValue(k, result);
  }
  return absl::OkStatus();
}

absl::Status GradientCheckAdapter::NextGradientBatch() {
  const int64_t iteration = inner_->progress().iterations;
  if (iteration == last_checked_ || !IsCheckIteration(iteration)) {
    PassThrough();
    return absl::OkStatus();
  }
  last_checked_ = iteration;
  OPTD_RETURN_IF_ERROR(stencil_.Plan(*inner_, /*bounds=*/nullptr,
                                     FiniteDifferenceScheme::kCentral,
                                     rel_step_));
  result0_ = TrialResult();
  gradient_set_ = false;
  kept_ = false;
  StartOwnBatch(stencil_.trials());
  return absl::OkStatus();
}

void GradientCheckAdapter::AddReport() {
  GradientCheckReport report;
  report.iteration = last_checked_;
  stencil_.Differentiate(&report.finite_difference);
  report.told = told_gradient_;
  const size_t n = report.told.size();
  report.relative_error.resize(n);
  report.max_relative_error = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double g = report.told[i], fd = report.finite_difference[i];
    double error = std::numeric_limits<double>::quiet_NaN();
    if (!std::isnan(fd)) {
      const double scale = std::max({std::abs(g), std::abs(fd), 1e-300});
      error = std::abs(g - fd) / scale;
      report.max_relative_error = std::max(report.max_relative_error, error);
    }
    report.relative_error[i] = error;
  }
  reports_.push_back(std::move(report));
  if (reports_.size() > kMaxGradientChecks) reports_.pop_front();
}

}  // namespace

absl::Status GradientCheckOptions::Validate() const {
  for (size_t i = 0; i < at_iterations.size(); ++i) {
    if (at_iterations[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("gradient_check.at_iterations[", i, "] is ",
                       at_iterations[i], "; it must be >= 0"));
    }
  }
  if (every_iterations < 0 || every_iterations > (int64_t{1} << 53)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient_check.every_iterations is ", every_iterations,
                     "; it must be in [0, 2^53]"));
  }
  return ValidateRelativeStep(relative_step, "gradient_check.relative_step");
}

absl::StatusOr<std::unique_ptr<Solver>> WithGradientCheck(
    std::unique_ptr<Solver> inner, const GradientCheckOptions& options) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(CheckInnerSolver(inner.get()));
  return StartAdapter(
      std::make_unique<GradientCheckAdapter>(std::move(inner), options));
}

int64_t GradientCheckBytes(int64_t n, const GradientCheckOptions& options) {
  const int64_t trials = 2 * n + 1;
  int64_t reports = static_cast<int64_t>(kMaxGradientChecks);
  if (options.every_iterations == 0) {
    std::vector<int64_t> at = options.at_iterations;
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    reports = std::clamp<int64_t>(static_cast<int64_t>(at.size()), 1, reports);
  }
  constexpr int64_t kDouble = sizeof(double);
  return FiniteDifferenceStencil::Bytes(n, trials) + trials + n * kDouble +
         reports * (3 * n * kDouble +
                    static_cast<int64_t>(sizeof(GradientCheckReport)));
}

}  // namespace optd
