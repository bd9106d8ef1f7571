#include "server/session/request_fields.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace optd::server {

bool IsLeastSquares(const v1::CreateSessionRequest& request) {
  return request.solver_case() == v1::CreateSessionRequest::kLeastSquares;
}

absl::StatusOr<JacobianStepRule> LeastSquaresJacobianRule(
    const v1::FiniteDifferenceOptions& fd) {
  switch (fd.scheme()) {
    case v1::FiniteDifferenceOptions::SCHEME_UNSPECIFIED:
    case v1::FiniteDifferenceOptions::SCHEME_MINPACK_FORWARD:
      return JacobianStepRule::kMinpackForward;
    case v1::FiniteDifferenceOptions::SCHEME_FORWARD:
      return JacobianStepRule::kForward;
    case v1::FiniteDifferenceOptions::SCHEME_CENTRAL:
      return JacobianStepRule::kCentral;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "finite_difference.scheme is ", fd.scheme(),
          "; it is CENTRAL (1), FORWARD (2) or MINPACK_FORWARD (3)"));
  }
}

const google::protobuf::Message& FirstOrderField(
    const v1::CreateSessionRequest& request, std::string* name) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByNumber(request.solver_case());
  *name = field->name();
  return request.GetReflection()->GetMessage(request, field);
}

}  // namespace optd::server
