// The one place where a domain absl::Status becomes the grpc::Status a client
// sees (as TensorFlow Serving's grpc_status_util does). absl::StatusCode and
// grpc::StatusCode share the google.rpc.Code numbering, so the code maps by
// value and the message travels unchanged. The HTTP JSON API's status codes
// come from here too (HttpStatusCode()), so both ports answer one table.
//
//   reactor->Finish(ToGrpcStatus(manager.GetSession(id).status()));
//   response.status = HttpStatusCode(status.code());
//
// Thread-safety: pure functions; safe from any thread.
#ifndef OPTD_COMMON_GRPC_STATUS_H_
#define OPTD_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace optd {

// ToGrpcStatus()
//
// The grpc::Status with the same code and message as `status`.
grpc::Status ToGrpcStatus(const absl::Status& status);

// ToAbslStatus()
//
// The inverse of ToGrpcStatus(), for callers (tests, clients) that work in
// absl::Status.
absl::Status ToAbslStatus(const grpc::Status& status);

// HttpStatusCode()
//
// The HTTP status of `code`, as google/rpc/code.proto documents it (and
// grpc-gateway answers): OK 200, INVALID_ARGUMENT, FAILED_PRECONDITION and
// OUT_OF_RANGE 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND
// 404, ALREADY_EXISTS and ABORTED 409, RESOURCE_EXHAUSTED 429, CANCELLED 499,
// UNIMPLEMENTED 501, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, the rest 500.
int HttpStatusCode(absl::StatusCode code);

}  // namespace optd

#endif  // OPTD_COMMON_GRPC_STATUS_H_
