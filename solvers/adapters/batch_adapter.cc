#include "solvers/adapters/batch_adapter.h"

#include "common/status_macros.h"

namespace optd {

absl::Status TrialBatchAdapter::ReadBatchPoint(
    int k, const MutableVectorView& out) const {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/false));
  return pass_through_ ? inner_->ReadTrialPoint(out) : ReadOwnPoint(k, out);
}

absl::Status TrialBatchAdapter::ReadBatchVector(
    int k, const MutableVectorView& out) const {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/false));
  if (pass_through_) return inner_->ReadTrialVector(out);
  return absl::FailedPreconditionError(absl::StrCat(
      "trial ", k, " of the batch wants no Hessian-vector product"));
}

absl::Status TrialBatchAdapter::SetBatchGradient(
    int k, const ConstVectorView& gradient) {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
  if (pass_through_) return inner_->SetTrialGradient(gradient);
  if (!WantsGradient(OwnWants(k))) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", k, " of the batch wants no gradient"));
  }
  return SetOwnGradient(k, gradient);
}

absl::Status TrialBatchAdapter::SetBatchHessian(
    int k, const ConstVectorView& hessian) {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
  if (pass_through_) return inner_->SetTrialHessian(hessian);
  return absl::FailedPreconditionError(
      absl::StrCat("trial ", k, " of the batch wants no Hessian"));
}

absl::Status TrialBatchAdapter::SetBatchHessianVector(
    int k, const ConstVectorView& product) {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
  if (pass_through_) return inner_->SetTrialHessianVector(product);
  return absl::FailedPreconditionError(absl::StrCat(
      "trial ", k, " of the batch wants no Hessian-vector product"));
}

absl::Status TrialBatchAdapter::SetBatchResiduals(
    int k, const ConstVectorView& residuals) {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
  if (pass_through_) return inner_->SetTrialResiduals(residuals);
  if (!WantsResiduals(OwnWants(k))) {
    return absl::FailedPreconditionError(
        absl::StrCat("trial ", k, " of the batch wants no residuals"));
  }
  return SetOwnResiduals(k, residuals);
}

absl::Status TrialBatchAdapter::SetBatchJacobian(
    int k, const ConstVectorView& jacobian) {
  OPTD_RETURN_IF_ERROR(CheckTrial(k, /*for_tell=*/true));
  if (pass_through_) return inner_->SetTrialJacobian(jacobian);
  return absl::FailedPreconditionError(
      absl::StrCat("trial ", k, " of the batch wants no Jacobian"));
}

absl::Status TrialBatchAdapter::TellBatch(int k, const TrialResult& result) {
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

absl::Status TrialBatchAdapter::SetOwnGradient(
    int k, const ConstVectorView& gradient) {
  return absl::FailedPreconditionError(
      absl::StrCat("trial ", k, " of the batch wants no gradient"));
}

absl::Status TrialBatchAdapter::SetOwnResiduals(
    int k, const ConstVectorView& residuals) {
  return absl::FailedPreconditionError(
      absl::StrCat("trial ", k, " of the batch wants no residuals"));
}

void TrialBatchAdapter::PassThrough() {
  pass_through_ = true;
  told_.clear();
  untold_ = 0;
  first_untold_ = 0;
}

void TrialBatchAdapter::StartOwnBatch(int size) {
  pass_through_ = false;
  told_.assign(size, 0);
  untold_ = size;
  first_untold_ = 0;
}

void TrialBatchAdapter::MarkOwnTold(int k) {
  if (told_[k] != 0) return;
  told_[k] = 1;
  --untold_;
}

absl::Status TrialBatchAdapter::InnerMovedOn() {
  SyncSummary();
  if (inner_->finished()) {
    PassThrough();
    return absl::OkStatus();
  }
  if (!OwnsEvaluation(inner_->wants())) {
    PassThrough();
    return absl::OkStatus();
  }
  return NextGradientBatch();
}

void TrialBatchAdapter::SyncSummary() {
  if (!inner_->finished()) return;
  summary_ = inner_->summary();
  summary_.evaluations = evaluations_;
  summary_.options_report = OptionsReport();
}

int TrialBatchAdapter::FirstUntold() const {
  if (pass_through_) return 0;
  while (first_untold_ < static_cast<int>(told_.size()) &&
         told_[first_untold_] != 0) {
    ++first_untold_;
  }
  return first_untold_;
}

absl::Status TrialBatchAdapter::CheckTrial(int k, bool for_tell) const {
  if (inner_->finished()) {
    return absl::FailedPreconditionError("the session has finished");
  }
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

absl::Status CheckInnerSolver(const Solver* inner) {
  if (inner == nullptr) {
    return absl::InvalidArgumentError("the inner solver is null");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Solver>> StartAdapter(
    std::unique_ptr<TrialBatchAdapter> adapter) {
  OPTD_RETURN_IF_ERROR(adapter->Start());
  return std::unique_ptr<Solver>(std::move(adapter));
}

}  // namespace optd
