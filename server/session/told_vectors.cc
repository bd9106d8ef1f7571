#include "server/session/told_vectors.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "server/codec/time.h"
#include "server/codec/vectors.h"
#include "server/session/codecs.h"
#include "server/session/payload_digest.h"
#include "server/session/solver_factory.h"

namespace optd::server {

absl::string_view WantsName(Evaluation wants) {
  static const auto* const kNames = [] {
    auto* names = new std::map<Evaluation, std::string>;
    for (Evaluation e :
         {Evaluation::kValue, Evaluation::kGradient,
          Evaluation::kValueAndGradient, Evaluation::kHessian,
          Evaluation::kHessianVector, Evaluation::kResiduals,
          Evaluation::kJacobian, Evaluation::kResidualsAndJacobian,
          Evaluation::kJacobianVector, Evaluation::kJacobianTransposeVector}) {
      (*names)[e] = std::string(absl::StripPrefix(
          v1::Evaluation_Name(EvaluationToProto(e)), "EVALUATION_"));
    }
    return names;
  }();
  return kNames->at(wants);
}

absl::StatusOr<ToldVectors> DecodeTell(const v1::TellRequest& request,
                                       size_t max_worker_id,
                                       size_t max_note_bytes) {
  OPTD_RETURN_IF_ERROR(ValidateEncoding(request.encoding(), "encoding"));
  if (request.sliced() &&
      (request.has_gradient() || request.has_hessian_vector())) {
    return absl::InvalidArgumentError(
        "sliced is set, so gradient and hessian_vector must be unset: their "
        "slices went to the replicas with PutSlice");
  }
  ToldVectors told;
  OPTD_ASSIGN_OR_RETURN(told.gradient,
                        DecodeVector(request.gradient(), "gradient"));
  OPTD_ASSIGN_OR_RETURN(told.hessian,
                        DecodeVector(request.hessian(), "hessian"));
  OPTD_ASSIGN_OR_RETURN(
      told.hessian_vector,
      DecodeVector(request.hessian_vector(), "hessian_vector"));
  OPTD_ASSIGN_OR_RETURN(told.residuals,
                        DecodeVector(request.residuals(), "residuals"));
  OPTD_ASSIGN_OR_RETURN(told.jacobian,
                        DecodeVector(request.jacobian(), "jacobian"));
  OPTD_ASSIGN_OR_RETURN(
      told.jacobian_vector,
      DecodeVector(request.jacobian_vector(), "jacobian_vector"));
  OPTD_ASSIGN_OR_RETURN(told.jacobian_transpose_vector,
                        DecodeVector(request.jacobian_transpose_vector(),
                                     "jacobian_transpose_vector"));
  if (request.worker_id().size() > max_worker_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_id has ", request.worker_id().size(),
                     " characters; at most ", max_worker_id, " are allowed"));
  }
  if (request.note().size() > max_note_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("note has ", request.note().size(), " bytes; at most ",
                     max_note_bytes, " are allowed"));
  }
  if (request.has_weight() &&
      !(std::isfinite(request.weight()) && request.weight() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight is ", request.weight(),
                     "; a data-parallel weight is finite and > 0"));
  }
  for (int i = 0; i < request.group_lr_size(); ++i) {
    const double lr = request.group_lr(i);
    if (!(std::isfinite(lr) && lr >= 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group_lr[", i, "] is ", lr, "; a learning rate is finite and >= 0"));
    }
  }
  TellPayload payload{request.trial_id(), request.failed(), request.stop(),
                      std::nullopt, std::nullopt};
  if (request.has_value()) payload.value = request.value();
  if (request.has_weight()) payload.weight = request.weight();
  payload.group_lr.assign(request.group_lr().begin(), request.group_lr().end());
  // Residuals and Jacobians only when told, so that other tells keep the
  // digests they had before least squares (journals hold them).
  // Products likewise, so that residual and Jacobian tells keep theirs.
  if (told.jacobian_vector.size() != 0 ||
      told.jacobian_transpose_vector.size() != 0) {
    told.digest = PayloadDigest(
        payload,
        {told.gradient, told.hessian, told.hessian_vector, told.residuals,
         told.jacobian, told.jacobian_vector, told.jacobian_transpose_vector});
  } else if (told.residuals.size() == 0 && told.jacobian.size() == 0) {
    told.digest = PayloadDigest(
        payload, {told.gradient, told.hessian, told.hessian_vector});
  } else {
    told.digest = PayloadDigest(
        payload, {told.gradient, told.hessian, told.hessian_vector,
                  told.residuals, told.jacobian});
  }
  return told;
}

absl::Status CheckToldLength(const ConstVectorView& vector,
                             absl::string_view field, int64_t expected,
                             Evaluation wants, uint64_t trial_id,
                             absl::string_view session_id, int64_t dimension) {
  if (vector.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("trial ", trial_id, " wants ", WantsName(wants),
                     " and the tell has no ", field, "; set ", field,
                     ", or failed if the evaluation did not succeed"));
  }
  if (vector.size() == expected) return absl::OkStatus();
  if (expected == dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", vector.size(), " elements; session \"",
                     session_id, "\" has dimension ", dimension));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " has ", vector.size(), " elements; session \"",
                   session_id, "\" has dimension ", dimension, ", so it needs ",
                   dimension, "*", dimension, " = ", expected, " (row-major)"));
}

absl::Status CheckToldResiduals(const ConstVectorView& vector,
                                absl::string_view field, int64_t m,
                                Evaluation wants, uint64_t trial_id,
                                absl::string_view session_id,
                                int64_t dimension) {
  const bool jacobian = field == "jacobian";
  const bool transpose = field == "jacobian_transpose_vector";
  const int64_t expected = jacobian ? m * dimension : transpose ? dimension : m;
  if (vector.size() == 0) {
    return CheckToldLength(vector, field, expected, wants, trial_id, session_id,
                           dimension);
  }
  if (vector.size() == expected) return absl::OkStatus();
  if (transpose) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has ", vector.size(), " elements; session \"", session_id,
        "\" has dimension n = ", dimension, " (J^T u has n elements)"));
  }
  if (!jacobian) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has ", vector.size(), " elements; session \"", session_id,
        "\" has m = ", m, " residuals (least_squares.residuals)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "jacobian has ", vector.size(), " elements; session \"", session_id,
      "\" has m = ", m, " residuals of dimension n = ", dimension,
      ", so it needs m*n = ", expected, " (row-major)"));
}

absl::Status CheckGroupLearningRates(const v1::TellRequest& request,
                                     const SolverOptions& options,
                                     bool data_parallel,
                                     absl::string_view session_id,
                                     absl::string_view solver_name) {
  if (request.group_lr().empty()) return absl::OkStatus();
  const auto* adam = std::get_if<AdamOptions>(&options);
  if (adam == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group_lr is set but session \"", session_id, "\" is a ", solver_name,
        " session; only adam and adamw take learning rates"));
  }
  if (data_parallel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group_lr is set but session \"", session_id,
        "\" is data-parallel; per-step learning rates are not supported "
        "there"));
  }
  const size_t groups = std::max<size_t>(1, adam->groups.size());
  if (static_cast<size_t>(request.group_lr_size()) != groups) {
    return absl::InvalidArgumentError(
        absl::StrCat("group_lr has ", request.group_lr_size(),
                     " values; session \"", session_id, "\" has ", groups,
                     " parameter group", groups == 1 ? "" : "s"));
  }
  return absl::OkStatus();
}

}  // namespace optd::server
