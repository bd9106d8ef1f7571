// TrialBatchAdapter: the base of the Solver adapters that wrap a Solver
// (solver.h) and hand out batches of trials that workers evaluate in parallel
// (DESIGN §2 "Workers"):
//
//   WithFiniteDifferences  (finite_difference.h) value trials around each
//                          gradient trial; the adapter forms the gradient.
//   WithGradientCheck      (gradient_check.h) the gradient trial plus central
//                          differences around it at chosen iterations.
//   WithDataParallel       (data_parallel.h) the gradient trial handed to W
//                          workers; the adapter averages their gradients.
//   WithFiniteDifferenceJacobian  (finite_difference_jacobian.h) residual
//                          trials around each least-squares Jacobian trial;
//                          the adapter forms the Jacobian.
//
// What every adapter shares, and what this class implements: the adapter
// forwards what it does not change to the inner solver: name, dimension, state
// type, finished, best point, Stop, iterations, gradient checks. Its
// progress().evaluations and summary().evaluations count the trials told to
// the adapter (every stencil point, every worker), not the inner solver's.
// Inner trials the adapter does not form (OwnsEvaluation: by default those
// that want no gradient, such as value-only trials and Hessians) pass
// through as a batch of one. The single-trial methods (wants, ReadTrialPoint,
// SetTrialGradient, Tell, ...) act on the first untold trial of the batch, so
// a sequential driver works unchanged. Every trial of an own batch but the
// first is a PointDelta from the first (BatchPointDelta): a stencil point
// moves one coordinate of x, a data-parallel worker's trial is x itself, so a
// batch of b trials is handed out in O(n + b), not O(n b).
//
// A derived adapter describes the batches it builds ("own batches") through
// the hooks, and is made by its factory with StartAdapter():
//
//   OPTD_RETURN_IF_ERROR(CheckInnerSolver(inner.get()));
//   return StartAdapter(std::make_unique<MyAdapter>(std::move(inner)));
//
// Internal to solvers/: clients include the factories' headers.
//
// Thread-safety: not thread-safe, like every Solver.
#ifndef OPTD_SOLVERS_ADAPTERS_BATCH_ADAPTER_H_
#define OPTD_SOLVERS_ADAPTERS_BATCH_ADAPTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "solvers/core/solver.h"

namespace optd {

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
  absl::Status ReadBestGradient(const MutableVectorView& out) const override {
    return inner_->ReadBestGradient(out);
  }
  absl::Status ReadCurvaturePairs(
      std::vector<std::vector<double>>* s,
      std::vector<std::vector<double>>* y) const override {
    return inner_->ReadCurvaturePairs(s, y);
  }
  std::string OptionsReport() const override {
    return absl::StrCat(inner_->OptionsReport(), OwnOptionsReport());
  }
  int64_t residual_count() const override { return inner_->residual_count(); }
  const LeastSquaresSummary* least_squares_summary() const override {
    return inner_->least_squares_summary();
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
  absl::Status SetTrialResiduals(const ConstVectorView& residuals) override {
    return SetBatchResiduals(FirstUntold(), residuals);
  }
  absl::Status SetTrialJacobian(const ConstVectorView& jacobian) override {
    return SetBatchJacobian(FirstUntold(), jacobian);
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
                              const MutableVectorView& out) const override;
  absl::Status ReadBatchVector(int k,
                               const MutableVectorView& out) const override;
  // A batch of one passes the inner solver's trial through: none.
  std::optional<PointDelta> BatchPointDelta(int k) const override {
    if (pass_through_ || inner_->finished() || k < 0 || k >= batch_size()) {
      return std::nullopt;
    }
    return OwnPointDelta(k);
  }
  int batch_untold() const override { return pass_through_ ? 1 : untold_; }
  absl::Status SetBatchGradient(int k,
                                const ConstVectorView& gradient) override;
  absl::Status SetBatchHessian(int k, const ConstVectorView& hessian) override;
  absl::Status SetBatchHessianVector(int k,
                                     const ConstVectorView& product) override;
  absl::Status SetBatchResiduals(int k,
                                 const ConstVectorView& residuals) override;
  absl::Status SetBatchJacobian(int k,
                                const ConstVectorView& jacobian) override;
  // An own batch's CheckOwnResult; a passed-through trial is the inner
  // solver's, which is never an adapter (adapters do not stack in sessions).
  absl::Status CheckBatchResult(int k,
                                const TrialResult& result) const override {
    if (pass_through_ || k < 0 || k >= batch_size()) return absl::OkStatus();
    return CheckOwnResult(k, result);
  }
  absl::Status TellBatch(int k, const TrialResult& result) override;

  // Chooses the first batch. Called once, by StartAdapter().
  absl::Status Start() { return InnerMovedOn(); }

 protected:
  // Hooks of an own batch. k is in range (and untold for SetOwnGradient and
  // TellOwn); REQUIRES: !pass_through_.
  virtual Evaluation OwnWants(int k) const = 0;
  virtual absl::Status ReadOwnPoint(int k,
                                    const MutableVectorView& out) const = 0;
  // Trial k's point as a delta from another trial of the own batch
  // (Solver::BatchPointDelta); none by default.
  virtual std::optional<PointDelta> OwnPointDelta(int k) const {
    return std::nullopt;
  }
  virtual absl::Status SetOwnGradient(int k, const ConstVectorView& gradient);
  // As SetOwnGradient for residuals: FAILED_PRECONDITION by default.
  virtual absl::Status SetOwnResiduals(int k, const ConstVectorView& residuals);
  // INVALID_ARGUMENT for a result TellOwn would refuse whatever the batch
  // holds (Solver::CheckBatchResult). Default OK.
  virtual absl::Status CheckOwnResult(int k, const TrialResult& result) const {
    return absl::OkStatus();
  }
  // Records trial k's result; an error leaves the batch unchanged.
  virtual absl::Status TellOwn(int k, const TrialResult& result) = 0;
  // Every trial was told: tell the inner solver its result.
  virtual absl::Status FinishOwnBatch() = 0;
  // Whether the adapter forms the evaluation an inner trial wants from a
  // batch of its own: by default kGradient and kValueAndGradient.
  virtual bool OwnsEvaluation(Evaluation wants) const {
    return wants == Evaluation::kGradient ||
           wants == Evaluation::kValueAndGradient;
  }
  // The inner solver has a new outstanding trial that wants what
  // OwnsEvaluation accepts (every other trial passes through): call
  // PassThrough() or StartOwnBatch(size).
  virtual absl::Status NextGradientBatch() = 0;
  // Lines appended to the inner solver's OptionsReport.
  virtual std::string OwnOptionsReport() const = 0;

  void PassThrough();
  void StartOwnBatch(int size);
  // Marks own trial k of a batch just started told, without a tell: a trial
  // whose result the adapter already holds (finite_difference_jacobian.h:
  // r(x) from the trial that evaluated x), kept in the batch so that the
  // other trials can be deltas from it. It is never handed out and counts
  // in no evaluations. REQUIRES: it leaves a trial untold.
  void MarkOwnTold(int k);
  // The inner solver was told: refresh the summary, choose the next batch.
  absl::Status InnerMovedOn();
  // Copies the inner solver's summary, with the adapter's evaluations and
  // options, once the inner solver has finished.
  void SyncSummary();

  std::unique_ptr<Solver> inner_;
  int64_t evaluations_ = 0;  // trials told to the adapter
  bool pass_through_ = true;
  std::vector<char> told_;  // own batch: told flags
  int untold_ = 0;

 private:
  int FirstUntold() const;
  absl::Status CheckTrial(int k, bool for_tell) const;

  Summary summary_;
  mutable int first_untold_ = 0;  // cache of FirstUntold()
};

// CheckInnerSolver()
//
// INVALID_ARGUMENT when `inner` is null. Factories call it before reading
// anything from the inner solver.
absl::Status CheckInnerSolver(const Solver* inner);

// StartAdapter()
//
// Chooses the adapter's first batch and hands it out as a Solver.
absl::StatusOr<std::unique_ptr<Solver>> StartAdapter(
    std::unique_ptr<TrialBatchAdapter> adapter);

}  // namespace optd

#endif  // OPTD_SOLVERS_ADAPTERS_BATCH_ADAPTER_H_
