#include "solvers/parallel_trials.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solvers/shard_layout.h"
#include "solvers/status_macros.h"

namespace optd {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

absl::Status ValidateRelativeStep(double step, absl::string_view field) {
  if (std::isnan(step) || (step > 0 && step <= 0.1)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", step,
                   "; it must be in (0, 0.1], or unset (NaN) for the default"));
}

// Machine epsilon of the precision the inner solver keeps its points in:
// scipy's `_eps_for_method` takes the eps of x0's floating dtype.
double StateEpsilon(ScalarType type) {
  return type == ScalarType::kFloat32
             ? static_cast<double>(std::numeric_limits<float>::epsilon())
             : std::numeric_limits<double>::epsilon();
}

bool WantsOnlyGradientTrial(Evaluation e) {
  return e == Evaluation::kGradient || e == Evaluation::kValueAndGradient;
}

// A told value that can enter a difference quotient.
bool ValueFailed(const TrialResult& r) {
  return r.failed || !std::isfinite(r.value);
}

// TrialBatchAdapter: the forwarding, counting and batch bookkeeping shared by
// the adapters. A batch is either the inner solver's own trial passed through
// (a batch of one served by the inner's single-trial methods) or one the
// adapter builds ("own batch"), described by the hooks below.
class TrialBatchAdapter : public Solver {
 public:
  explicit TrialBatchAdapter(std::unique_ptr<Solver> inner)
      : inner_(std::move(inner)) {}

  std::string_view name() const override { return inner_->name(); }
  int64_t dimension() const override { return inner_->dimension(); }
  ScalarType state_type() const override { return inner_->state_type(); }
  bool finished() const override { return inner_->finished(); }
  absl::Status ReadBestPoint(const MutableVectorView& out) const override {
    return inner_->ReadBestPoint(out);
  }
  void Stop() override {
    inner_->Stop();
    SyncSummary();
  }
  Progress progress() const override {
    Progress p = inner_->progress();
    p.evaluations = evaluations_;
    return p;
  }
  const Summary& summary() const override { return summary_; }
  // Adapters stack: a gradient-check adapter inside reports through this one.
  std::vector<GradientCheckReport> gradient_checks() const override {
    return inner_->gradient_checks();
  }
  std::string OptionsReport() const override {
    return absl::StrCat(inner_->OptionsReport(), OwnOptionsReport());
  }

  // The single-trial interface acts on the first untold trial.
  Evaluation wants() const override { return batch_wants(FirstUntold()); }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override {
    return ReadBatchPoint(FirstUntold(), out);
  }
  absl::Status ReadTrialVector(const MutableVectorView& out) const override {
    return ReadBatchVector(FirstUntold(), out);
  }
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override {
    return SetBatchGradient(FirstUntold(), gradient);
  }
  absl::Status SetTrialHessian(const ConstVectorView& hessian) override {
    return SetBatchHessian(FirstUntold(), hessian);
  }
  absl::Status SetTrialHessianVector(const ConstVectorView& product) override {
    return SetBatchHessianVector(FirstUntold(), product);
  }
  absl::Status Tell(const TrialResult& result) override {
    return TellBatch(FirstUntold(), result);
  }

  int batch_size() const override {
    return pass_through_ ? 1 : static_cast<int>(told_.size());
  }
  bool batch_told(int k) const override {
    return !pass_through_ && k >= 0 && k < batch_size() && told_[k] != 0;
  }
  Evaluation batch_wants(int k) const override {
    return pass_through_ ? inner_->wants() : OwnWants(k);
  }
  absl::Status ReadBatchPoint(int k,
                              const MutableVectorView& out) const override {
    OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/false));
    return pass_through_ ? inner_->ReadTrialPoint(out) : ReadOwnPoint(k, out);
  }
  absl::Status ReadBatchVector(int k,
                               const MutableVectorView& out) const override {
    OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/false));
    if (pass_through_) return inner_->ReadTrialVector(out);
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", k, " of the batch wants no Hessian-vector product"));
  }
  absl::Status SetBatchGradient(int k,
                                const ConstVectorView& gradient) override {
    OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
    if (pass_through_) return inner_->SetTrialGradient(gradient);
    if (!WantsGradient(OwnWants(k))) {
      return absl::FailedPreconditionError(
          absl::StrCat("trial ", k, " of the batch wants no gradient"));
    }
    return SetOwnGradient(k, gradient);
  }
  absl::Status SetBatchHessian(int k, const ConstVectorView& hessian) override {
    OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
    if (pass_through_) return inner_->SetTrialHessian(hessian);
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", k, " of the batch wants no Hessian"));
  }
  absl::Status SetBatchHessianVector(int k,
                                     const ConstVectorView& product) override {
    OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
    if (pass_through_) return inner_->SetTrialHessianVector(product);
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", k, " of the batch wants no Hessian-vector product"));
  }
  absl::Status TellBatch(int k, const TrialResult& result) override {
    OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
    if (pass_through_) {
      OPTD_RETURN_IF_ERROR(inner_->Tell(result));
      ++evaluations_;
      return InnerMovedOn();
    }
    OPTD_RETURN_IF_ERROR(TellOwn(k, result));
    told_[k] = 1;
    --untold_;
    ++evaluations_;
    if (untold_ > 0) return absl::OkStatus();
    OPTD_RETURN_IF_ERROR(FinishOwnBatch());
    return InnerMovedOn();
  }

  // Chooses the first batch. Called once, by the factory.
  absl::Status Start() { return InnerMovedOn(); }

 protected:
  // Hooks of an own batch. k is in range (and untold for SetOwnGradient and
  // TellOwn); REQUIRES: !pass_through_.
  virtual Evaluation OwnWants(int k) const = 0;
  virtual absl::Status ReadOwnPoint(int k,
                                    const MutableVectorView& out) const = 0;
  virtual absl::Status SetOwnGradient(int k, const ConstVectorView& gradient) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", k, " of the batch wants no gradient"));
  }
  // Records trial k's result; an error leaves the batch unchanged.
  virtual absl::Status TellOwn(int k, const TrialResult& result) = 0;
  // Every trial was told: tell the inner solver its result.
  virtual absl::Status FinishOwnBatch() = 0;
  // The inner solver has a new outstanding trial: call PassThrough() or
  // StartOwnBatch(size).
  virtual absl::Status NextBatch() = 0;
  // Lines appended to the inner solver's OptionsReport.
  virtual std::string OwnOptionsReport() const = 0;

  void PassThrough() {
    pass_through_ = true;
    told_.clear();
    untold_ = 0;
    first_untold_ = 0;
  }
  void StartOwnBatch(int size) {
    pass_through_ = false;
    told_.assign(size, 0);
    untold_ = size;
    first_untold_ = 0;
  }
  // The inner solver was told: refresh the summary, choose the next batch.
  absl::Status InnerMovedOn() {
    SyncSummary();
    if (inner_->finished()) {
      PassThrough();
      return absl::OkStatus();
    }
    return NextBatch();
  }
  void SyncSummary() {
    if (!inner_->finished()) return;
    summary_ = inner_->summary();
    summary_.evaluations = evaluations_;
    summary_.options_report = OptionsReport();
  }

  std::unique_ptr<Solver> inner_;
  int64_t evaluations_ = 0;  // trials told to the adapter
  bool pass_through_ = true;
  std::vector<char> told_;  // own batch: told flags
  int untold_ = 0;

 private:
  int FirstUntold() const {
    if (pass_through_) return 0;
    while (first_untold_ < static_cast<int>(told_.size()) &&
           told_[first_untold_] != 0) {
      ++first_untold_;
    }
    return first_untold_;
  }
  absl::Status CheckTrial(int k, bool for_tell) const {
    if (inner_->finished())
      return absl::FailedPreconditionError("the session has finished");
    if (k < 0 || k >= batch_size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "trial ", k, " is not in the current batch of ", batch_size()));
    }
    if (for_tell && batch_told(k)) {
      return absl::FailedPreconditionError(
          absl::StrCat("trial ", k, " of the batch was told already"));
    }
    return absl::OkStatus();
  }

  Summary summary_;
  mutable int first_untold_ = 0;  // cache of FirstUntold()
};

// -------------------------------------------------------------------------
// Stencils shared by finite differences and gradient checks.

// How coordinate i's derivative is formed from the values at x and at up to
// two points a, b that differ from x in coordinate i only.
struct CoordinateStencil {
  enum class Kind {
    kCentral,   // a = x - h, b = x + h: (f_b - f_a) / (b - a)
    kOneSided,  // a = x + h, b = x + 2h: (-3 f_0 + 4 f_a - f_b) / (b - x)
    kForward,   // a = x + h: (f_a - f_0) / (a - x)
    kFixed,     // no room to move: derivative 0, no points
  };
  Kind kind = Kind::kFixed;
  double a = 0.0, b = 0.0;  // coordinate i of the points
};

// Rounds a stencil coordinate to the state's precision (a float32 session
// hands its points out in float32, and the step must be the one evaluated),
// keeping it inside [lower, upper] when x is (x + 2h may round past a bound).
double RoundToState(double v, double x, double lower, double upper,
                    ScalarType type) {
  const bool inside = lower <= x && x <= upper;
  if (inside) v = std::min(std::max(v, lower), upper);
  if (type == ScalarType::kFloat64) return v;
  float f = static_cast<float>(v);
  const float toward = static_cast<float>(x);
  while (inside && (f < lower || f > upper) && f != toward) {
    f = std::nextafter(f, toward);
  }
  return f;
}

// REFERENCES.md "Finite differences and gradient checks"; scipy 1.10
// `optimize/_numdiff.py`: `_compute_absolute_step`, then
// `_adjust_scheme_to_bounds` with num_steps 1 ('2-sided' for '3-point',
// '1-sided' for '2-point'). `rel_step` is resolved (not NaN).
CoordinateStencil PlanCoordinate(double x, double lower, double upper,
                                 FiniteDifferenceScheme scheme, double rel_step,
                                 ScalarType type) {
  using Kind = CoordinateStencil::Kind;
  const double sign = x >= 0 ? 1.0 : -1.0;
  double h = rel_step * sign * std::max(1.0, std::abs(x));
  const double lower_dist = x - lower, upper_dist = upper - x;
  // A coordinate of x outside the box keeps the plain scheme.
  const bool adjust = lower_dist >= 0 && upper_dist >= 0 &&
                      (std::isfinite(lower) || std::isfinite(upper));
  CoordinateStencil s;
  if (scheme == FiniteDifferenceScheme::kCentral) {
    h = std::abs(h);
    s.kind = Kind::kCentral;
    if (adjust && !(lower_dist >= h && upper_dist >= h)) {
      s.kind = Kind::kOneSided;
      h = upper_dist >= lower_dist ? std::min(h, 0.5 * upper_dist)
                                   : -std::min(h, 0.5 * lower_dist);
      const double min_dist = std::min(upper_dist, lower_dist);
      if (std::abs(h) <= min_dist) {
        h = min_dist;
        s.kind = Kind::kCentral;
      }
    }
    if (s.kind == Kind::kCentral) {
      s.a = x - h;
      s.b = x + h;
    } else {
      s.a = x + h;
      s.b = x + 2 * h;
    }
  } else {
    s.kind = Kind::kForward;
    if (adjust) {
      const double moved = x + h;
      const bool violated = moved < lower || moved > upper;
      const bool fitting = std::abs(h) <= std::max(lower_dist, upper_dist);
      if (violated && fitting) h = -h;
      if (!fitting) h = upper_dist >= lower_dist ? upper_dist : -lower_dist;
    }
    s.a = s.b = x + h;
  }
  // The steps actually used are the differences of the rounded points (scipy
  // recomputes dx = x[i] - x0[i] "as exactly representable number").
  s.a = RoundToState(s.a, x, lower, upper, type);
  s.b = RoundToState(s.b, x, lower, upper, type);
  if (s.a == x || s.b == x || (s.kind != Kind::kForward && s.a == s.b)) {
    s = CoordinateStencil();
  }
  return s;
}

// Number of stencil trials of a coordinate.
int PointCount(const CoordinateStencil& s) {
  switch (s.kind) {
    case CoordinateStencil::Kind::kCentral:
    case CoordinateStencil::Kind::kOneSided:
      return 2;
    case CoordinateStencil::Kind::kForward:
      return 1;
    case CoordinateStencil::Kind::kFixed:
      return 0;
  }
  return 0;
}

// The derivative of coordinate i from f0 = f(x) (NaN when unknown or failed)
// and the values at a and b (NaN where failed). NaN when it cannot be formed.
double Derivative(const CoordinateStencil& s, double x, double f0, double fa,
                  double fb) {
  using Kind = CoordinateStencil::Kind;
  const auto two_point = [&](double p, double fp) {
    return (fp - f0) / (p - x);
  };
  const bool has_a = !std::isnan(fa), has_b = !std::isnan(fb);
  switch (s.kind) {
    case Kind::kFixed:
      return 0.0;
    case Kind::kForward:
      return two_point(s.a, fa);
    case Kind::kCentral:
      if (has_a && has_b) return (fb - fa) / (s.b - s.a);
      break;
    case Kind::kOneSided:
      if (has_a && has_b) return (-3.0 * f0 + 4.0 * fa - fb) / (s.b - x);
      break;
  }
  // One point failed: the two-point difference of the other with x.
  if (has_a) return two_point(s.a, fa);
  if (has_b) return two_point(s.b, fb);
  return kNaN;
}

// A stencil around the inner solver's point: per coordinate, its plan and
// the batch index of its first point; the trial of batch index k > 0 is x
// with coordinate point_coordinate_[k] replaced.
class Stencil {
 public:
  // Plans the stencil around x (n elements); trials are numbered from
  // `first_index`.
  void Plan(const std::vector<double>& x, const Bounds* bounds,
            FiniteDifferenceScheme scheme, double rel_step, ScalarType type,
            int first_index) {
    const int64_t n = static_cast<int64_t>(x.size());
    constexpr double kInf = std::numeric_limits<double>::infinity();
    coordinates_.resize(n);
    first_point_.resize(n);
    point_coordinate_.assign(first_index, -1);
    for (int64_t i = 0; i < n; ++i) {
      const double lower = bounds != nullptr ? bounds->lower(i) : -kInf;
      const double upper = bounds != nullptr ? bounds->upper(i) : kInf;
      coordinates_[i] =
          PlanCoordinate(x[i], lower, upper, scheme, rel_step, type);
      first_point_[i] = static_cast<int>(point_coordinate_.size());
      for (int p = 0; p < PointCount(coordinates_[i]); ++p) {
        point_coordinate_.push_back(i);
      }
    }
  }
  int trials() const { return static_cast<int>(point_coordinate_.size()); }
  // The coordinate that trial k moves and its value there. REQUIRES: k is a
  // stencil trial.
  int64_t coordinate(int k) const { return point_coordinate_[k]; }
  double PointValue(int k) const {
    const int64_t i = point_coordinate_[k];
    return k == first_point_[i] ? coordinates_[i].a : coordinates_[i].b;
  }
  // Writes the derivatives into `out` from f0 and the stencil values
  // `values` (indexed by trial, NaN where failed). Returns false when some
  // coordinate's derivative cannot be formed (its entry is NaN).
  bool Differentiate(const std::vector<double>& x, double f0,
                     const std::vector<double>& values,
                     std::vector<double>* out) const {
    bool ok = true;
    out->resize(coordinates_.size());
    for (size_t i = 0; i < coordinates_.size(); ++i) {
      const CoordinateStencil& s = coordinates_[i];
      const int p = first_point_[i];
      const int count = PointCount(s);
      const double fa = count > 0 ? values[p] : kNaN;
      const double fb = count > 1 ? values[p + 1] : fa;
      (*out)[i] = Derivative(s, x[i], f0, fa, fb);
      ok = ok && !std::isnan((*out)[i]);
    }
    return ok;
  }

 private:
  std::vector<CoordinateStencil> coordinates_;
  std::vector<int> first_point_;
  std::vector<int64_t> point_coordinate_;
};

// Reads the inner solver's point into `x` in float64.
absl::Status ReadPoint(const Solver& solver, std::vector<double>* x) {
  x->resize(static_cast<size_t>(solver.dimension()));
  return solver.ReadTrialPoint(
      MutableVectorView::Float64(x->data(), solver.dimension()));
}

// The stencil trial k: the inner solver's point with one coordinate moved.
absl::Status ReadStencilPoint(const Solver& inner, const Stencil& stencil,
                              int k, const MutableVectorView& out) {
  if (out.on_slices()) {
    // The slices hold the inner solver's point, not the moved coordinate.
    return absl::UnimplementedError(
        "stencil points are not served from the replicas' slices");
  }
  OPTD_RETURN_IF_ERROR(inner.ReadTrialPoint(out));
  const double v = stencil.PointValue(k);
  out.CopyFrom(stencil.coordinate(k), 1, &v);
  return absl::OkStatus();
}

// -------------------------------------------------------------------------
// Finite differences.

class FiniteDifferenceAdapter : public TrialBatchAdapter {
 public:
  FiniteDifferenceAdapter(std::unique_ptr<Solver> inner,
                          const FiniteDifferenceOptions& options, Bounds bounds)
      : TrialBatchAdapter(std::move(inner)),
        options_(options),
        bounds_(std::move(bounds)) {
    rel_step_ = options_.relative_step;
    if (std::isnan(rel_step_)) {
      const double eps = StateEpsilon(inner_->state_type());
      rel_step_ = options_.scheme == FiniteDifferenceScheme::kCentral
                      ? std::cbrt(eps)
                      : std::sqrt(eps);
    }
  }

 protected:
  Evaluation OwnWants(int k) const override { return Evaluation::kValue; }
  absl::Status ReadOwnPoint(int k,
                            const MutableVectorView& out) const override {
    if (k == 0) return inner_->ReadTrialPoint(out);
    return ReadStencilPoint(*inner_, stencil_, k, out);
  }
  absl::Status TellOwn(int k, const TrialResult& result) override {
    values_[k] = ValueFailed(result) ? kNaN : result.value;
    return absl::OkStatus();
  }
  absl::Status FinishOwnBatch() override {
    const Evaluation wants = inner_->wants();
    const double f0 = values_[0];
    TrialResult result;
    if (std::isnan(f0) ||
        !stencil_.Differentiate(center_, f0, values_, &gradient_)) {
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
  absl::Status NextBatch() override {
    if (!WantsOnlyGradientTrial(inner_->wants())) {
      PassThrough();
      return absl::OkStatus();
    }
    OPTD_RETURN_IF_ERROR(ReadPoint(*inner_, &center_));
    stencil_.Plan(center_, bounds_.any() ? &bounds_ : nullptr, options_.scheme,
                  rel_step_, inner_->state_type(),
                  /*first_index=*/1);
    values_.assign(stencil_.trials(), kNaN);
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
  std::vector<double> center_;    // the inner solver's point
  Stencil stencil_;               // trial 0 is the center
  std::vector<double> values_;    // told values by trial, NaN where failed
  std::vector<double> gradient_;  // scratch
};

// -------------------------------------------------------------------------
// Gradient checks.

constexpr size_t kMaxGradientChecks = 100;

class GradientCheckAdapter : public TrialBatchAdapter {
 public:
  GradientCheckAdapter(std::unique_ptr<Solver> inner,
                       const GradientCheckOptions& options)
      : TrialBatchAdapter(std::move(inner)), options_(options) {
    if (options_.at_iterations.empty() && options_.every_iterations == 0) {
      options_.at_iterations = {0};
    }
    rel_step_ = options_.relative_step;
    if (std::isnan(rel_step_)) {
      rel_step_ = std::cbrt(StateEpsilon(inner_->state_type()));
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
    if (k == 0) return inner_->ReadTrialPoint(out);
    return ReadStencilPoint(*inner_, stencil_, k, out);
  }
  absl::Status SetOwnGradient(int k, const ConstVectorView& gradient) override {
    // Only trial 0 wants a gradient. The inner solver validates it and keeps
    // it for its Tell; the copy is for the comparison.
    OPTD_RETURN_IF_ERROR(inner_->SetTrialGradient(gradient));
    told_gradient_.resize(static_cast<size_t>(dimension()));
    gradient.CopyTo(0, dimension(), told_gradient_.data());
    gradient_set_ = true;
    return absl::OkStatus();
  }
  absl::Status TellOwn(int k, const TrialResult& result) override {
    if (k == 0) {
      if (result.has_gradient && !gradient_set_) {
        return absl::FailedPreconditionError(
            "trial 0 tells a gradient that was not set (SetBatchGradient)");
      }
      result0_ = result;
    } else {
      values_[k] = ValueFailed(result) ? kNaN : result.value;
    }
    return absl::OkStatus();
  }
  absl::Status FinishOwnBatch() override {
    if (result0_.has_gradient && !result0_.failed) AddReport();
    return inner_->Tell(result0_);
  }
  absl::Status NextBatch() override {
    const int64_t iteration = inner_->progress().iterations;
    if (!WantsOnlyGradientTrial(inner_->wants()) ||
        iteration == last_checked_ || !IsCheckIteration(iteration)) {
      PassThrough();
      return absl::OkStatus();
    }
    last_checked_ = iteration;
    OPTD_RETURN_IF_ERROR(ReadPoint(*inner_, &center_));
    stencil_.Plan(center_, nullptr, FiniteDifferenceScheme::kCentral, rel_step_,
                  inner_->state_type(), /*first_index=*/1);
    values_.assign(stencil_.trials(), kNaN);
    result0_ = TrialResult();
    gradient_set_ = false;
    StartOwnBatch(stencil_.trials());
    return absl::OkStatus();
  }
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
  void AddReport() {
    GradientCheckReport report;
    report.iteration = last_checked_;
    const double f0 = WantsValue(inner_->wants()) && !ValueFailed(result0_)
                          ? result0_.value
                          : kNaN;
    stencil_.Differentiate(center_, f0, values_, &report.finite_difference);
    report.told = told_gradient_;
    const size_t n = report.told.size();
    report.relative_error.resize(n);
    report.max_relative_error = 0.0;
    for (size_t i = 0; i < n; ++i) {
      const double g = report.told[i], fd = report.finite_difference[i];
      double error = kNaN;
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

  GradientCheckOptions options_;
  double rel_step_;
  int64_t last_checked_ = -1;
  std::vector<double> center_;
  Stencil stencil_;
  std::vector<double> values_;
  TrialResult result0_;
  bool gradient_set_ = false;
  std::vector<double> told_gradient_;
  std::deque<GradientCheckReport> reports_;
};

// -------------------------------------------------------------------------
// Data parallelism.

constexpr absl::string_view kDataParallelTag = "optd.data_parallel.v1";

class DataParallelAdapter : public TrialBatchAdapter {
 public:
  DataParallelAdapter(std::unique_ptr<Solver> inner, int workers)
      : TrialBatchAdapter(std::move(inner)), workers_(workers) {}

  absl::Status SaveState(std::string* out) const override;
  absl::Status RestoreState(std::string_view state) override;
  int64_t StateBytes() const override;

 protected:
  Evaluation OwnWants(int k) const override { return inner_->wants(); }
  absl::Status ReadOwnPoint(int k,
                            const MutableVectorView& out) const override {
    return inner_->ReadTrialPoint(out);  // every worker evaluates the same x
  }
  absl::Status SetOwnGradient(int k, const ConstVectorView& gradient) override;
  absl::Status TellOwn(int k, const TrialResult& result) override;
  absl::Status FinishOwnBatch() override;
  absl::Status NextBatch() override {
    if (!WantsOnlyGradientTrial(inner_->wants())) {
      PassThrough();
      return absl::OkStatus();
    }
    ResetSums();
    StartOwnBatch(workers_);
    return absl::OkStatus();
  }
  std::string OwnOptionsReport() const override {
    return absl::StrFormat(
        "    data parallel: %d workers, gradients averaged by weight\n",
        workers_);
  }

 private:
  void ResetSums() {
    staged_trial_ = -1;
    gradient_weight_ = value_sum_ = value_weight_ = 0.0;
  }
  // Adapter words in SaveState after the inner state.
  int64_t AdapterBytes() const;

  int workers_;
  // The gradient set for trial staged_trial_ (-1: none), not yet told.
  std::vector<double> staging_;
  int staged_trial_ = -1;
  // sum_k weight_k g_k over the told, non-failed trials of the batch; its
  // contents are meaningful only while gradient_weight_ > 0.
  std::vector<double> gradient_sum_;
  double gradient_weight_ = 0.0;
  double value_sum_ = 0.0, value_weight_ = 0.0;
};

absl::Status DataParallelAdapter::SetOwnGradient(
    int k, const ConstVectorView& gradient) {
  const int64_t n = dimension();
  // The messages of the inner solvers' SetTrialGradient (shard_layout.h,
  // adam_vectors.cc), so that a client sees the same errors with and without
  // the adapter.
  if (gradient.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient has ", gradient.size(),
                     " elements; the session has dimension ", n));
  }
  const bool float32 = state_type() == ScalarType::kFloat32;
  for (int64_t i = 0; i < n; ++i) {
    const double v = gradient.Get(i);
    if (!std::isfinite(v)) return NonFiniteElementError("gradient", i, v);
    if (float32 && !std::isfinite(static_cast<float>(v))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient[", i, "] is ", v,
          ", which overflows the session's float32 state; every gradient "
          "element must be finite (report a failed evaluation instead)"));
    }
  }
  staging_.resize(static_cast<size_t>(n));
  gradient.CopyTo(0, n, staging_.data());
  staged_trial_ = k;
  return absl::OkStatus();
}

absl::Status DataParallelAdapter::TellOwn(int k, const TrialResult& result) {
  if (!(result.weight > 0 && std::isfinite(result.weight))) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight is ", result.weight, "; it must be in (0, inf)"));
  }
  if (result.has_gradient && staged_trial_ != k) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", k, " tells a gradient that was not set (SetBatchGradient)"));
  }
  const bool wants_value = WantsValue(inner_->wants());
  const bool failed = result.failed || !result.has_gradient ||
                      (wants_value && !std::isfinite(result.value));
  if (result.has_gradient) staged_trial_ = -1;
  if (failed) return absl::OkStatus();
  const double w = result.weight;
  const size_t n = staging_.size();
  if (gradient_weight_ == 0.0) {
    gradient_sum_.resize(n);
    for (size_t i = 0; i < n; ++i) gradient_sum_[i] = w * staging_[i];
  } else {
    for (size_t i = 0; i < n; ++i) gradient_sum_[i] += w * staging_[i];
  }
  gradient_weight_ += w;
  if (std::isfinite(result.value)) {
    value_sum_ += w * result.value;
    value_weight_ += w;
  }
  return absl::OkStatus();
}

absl::Status DataParallelAdapter::FinishOwnBatch() {
  TrialResult result;
  if (gradient_weight_ == 0.0) {
    result.failed = true;
    return inner_->Tell(result);
  }
  // The mean in place: the sum is rebuilt from the first told gradient of
  // the next batch.
  for (double& g : gradient_sum_) g /= gradient_weight_;
  OPTD_RETURN_IF_ERROR(inner_->SetTrialGradient(
      ConstVectorView::Float64(gradient_sum_.data(), dimension())));
  result.has_gradient = true;
  if (value_weight_ > 0) result.value = value_sum_ / value_weight_;
  gradient_weight_ = 0.0;
  return inner_->Tell(result);
}

// SaveState's layout, after the tag: the inner state's length and bytes, then
// little-endian 8-byte words: evaluations, own batch (0/1), batch size,
// gradient weight, value sum, value weight; the told flags (one byte each);
// and the gradient sum (n doubles) when the gradient weight is > 0.
int64_t DataParallelAdapter::AdapterBytes() const {
  return 6 * 8 + static_cast<int64_t>(told_.size()) +
         (!pass_through_ && gradient_weight_ > 0 ? 8 * dimension() : 0);
}

int64_t DataParallelAdapter::StateBytes() const {
  const int64_t inner = inner_->StateBytes();
  if (inner == 0) return 0;
  return static_cast<int64_t>(kDataParallelTag.size()) + 8 + inner +
         AdapterBytes();
}

absl::Status DataParallelAdapter::SaveState(std::string* out) const {
  std::string inner;
  OPTD_RETURN_IF_ERROR(inner_->SaveState(&inner));
  out->clear();
  out->reserve(kDataParallelTag.size() + 8 + inner.size() +
               static_cast<size_t>(AdapterBytes()));
  const auto word = [out](auto value) {
    static_assert(sizeof(value) == 8);
    char bytes[8];
    std::memcpy(bytes, &value, 8);
    out->append(bytes, 8);
  };
  out->append(kDataParallelTag.data(), kDataParallelTag.size());
  word(static_cast<int64_t>(inner.size()));
  out->append(inner);
  word(evaluations_);
  word(static_cast<int64_t>(pass_through_ ? 0 : 1));
  word(static_cast<int64_t>(told_.size()));
  word(gradient_weight_);
  word(value_sum_);
  word(value_weight_);
  out->append(told_.data(), told_.size());
  if (!pass_through_ && gradient_weight_ > 0) {
    out->append(reinterpret_cast<const char*>(gradient_sum_.data()),
                8 * gradient_sum_.size());
  }
  return absl::OkStatus();
}

absl::Status DataParallelAdapter::RestoreState(std::string_view state) {
  if (evaluations_ > 0 || inner_->finished()) {
    return absl::FailedPreconditionError(
        "RestoreState needs a solver that was told nothing yet");
  }
  const auto bad = [](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state is not an ", kDataParallelTag,
                     " state of this session: ", why));
  };
  size_t offset = kDataParallelTag.size();
  if (state.size() < offset + 8 ||
      absl::string_view(state.data(), kDataParallelTag.size()) !=
          kDataParallelTag) {
    return bad("wrong tag");
  }
  const auto word = [&](auto* value) {
    std::memcpy(value, state.data() + offset, 8);
    offset += 8;
  };
  int64_t inner_size;
  word(&inner_size);
  if (state.size() < offset + 6 * 8 || inner_size < 0 ||
      static_cast<uint64_t>(inner_size) > state.size() - offset - 6 * 8) {
    return bad("inner state length");
  }
  const std::string_view inner = state.substr(offset, inner_size);
  offset += inner_size;
  int64_t evaluations, own, size;
  double gradient_weight, value_sum, value_weight;
  word(&evaluations);
  word(&own);
  word(&size);
  word(&gradient_weight);
  word(&value_sum);
  word(&value_weight);
  const bool own_batch = own == 1;
  const int64_t sum_bytes =
      own_batch && gradient_weight > 0 ? 8 * dimension() : 0;
  if (evaluations < 0 || (own != 0 && own != 1) ||
      size != (own_batch ? workers_ : 0) ||
      static_cast<int64_t>(state.size() - offset) != size + sum_bytes) {
    return bad("adapter words");
  }
  OPTD_RETURN_IF_ERROR(inner_->RestoreState(inner));
  evaluations_ = evaluations;
  OPTD_RETURN_IF_ERROR(InnerMovedOn());
  if (pass_through_ == own_batch && !inner_->finished()) {
    return bad("the batch does not match the inner solver's trial");
  }
  if (own_batch && !inner_->finished()) {
    for (int k = 0; k < workers_; ++k) {
      told_[k] = state[offset + k] != 0 ? 1 : 0;
      untold_ -= told_[k];
    }
    offset += workers_;
    gradient_weight_ = gradient_weight;
    value_sum_ = value_sum;
    value_weight_ = value_weight;
    if (sum_bytes > 0) {
      gradient_sum_.resize(static_cast<size_t>(dimension()));
      std::memcpy(gradient_sum_.data(), state.data() + offset, sum_bytes);
    }
  }
  SyncSummary();
  return absl::OkStatus();
}

absl::Status CheckInner(const Solver* inner) {
  if (inner == nullptr) {
    return absl::InvalidArgumentError("the inner solver is null");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FiniteDifferenceOptions::Validate() const {
  return ValidateRelativeStep(relative_step, "finite_difference.relative_step");
}

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

absl::StatusOr<std::unique_ptr<Solver>> WithFiniteDifferences(
    std::unique_ptr<Solver> inner, const FiniteDifferenceOptions& options,
    Bounds bounds) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(CheckInner(inner.get()));
  if (bounds.size() == 0) bounds = Bounds::Unbounded(inner->dimension());
  if (bounds.size() != inner->dimension()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the bounds have ", bounds.size(),
        " elements; the session has dimension ", inner->dimension()));
  }
  if (!inner->finished() && (inner->wants() == Evaluation::kHessian ||
                             inner->wants() == Evaluation::kHessianVector)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "finite differences form gradients only; the ",
        absl::string_view(inner->name().data(), inner->name().size()),
        " solver wants Hessians: choose a subproblem that needs none"));
  }
  auto adapter = std::make_unique<FiniteDifferenceAdapter>(
      std::move(inner), options, std::move(bounds));
  OPTD_RETURN_IF_ERROR(adapter->Start());
  return std::unique_ptr<Solver>(std::move(adapter));
}

absl::StatusOr<std::unique_ptr<Solver>> WithGradientCheck(
    std::unique_ptr<Solver> inner, const GradientCheckOptions& options) {
  OPTD_RETURN_IF_ERROR(options.Validate());
  OPTD_RETURN_IF_ERROR(CheckInner(inner.get()));
  auto adapter =
      std::make_unique<GradientCheckAdapter>(std::move(inner), options);
  OPTD_RETURN_IF_ERROR(adapter->Start());
  return std::unique_ptr<Solver>(std::move(adapter));
}

absl::StatusOr<std::unique_ptr<Solver>> WithDataParallel(
    std::unique_ptr<Solver> inner, int workers) {
  if (workers < 2 || workers > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_parallel.workers is ", workers, "; it must be in [2, 1024]"));
  }
  OPTD_RETURN_IF_ERROR(CheckInner(inner.get()));
  auto adapter =
      std::make_unique<DataParallelAdapter>(std::move(inner), workers);
  OPTD_RETURN_IF_ERROR(adapter->Start());
  return std::unique_ptr<Solver>(std::move(adapter));
}

}  // namespace optd
