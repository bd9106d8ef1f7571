// The one place where a domain absl::Status becomes the grpc::Status a client
// sees (as TensorFlow Serving's grpc_status_util does). absl::StatusCode and
// grpc::StatusCode share the google.rpc.Code numbering, so the code maps by
// value and the message travels unchanged.
//
//   reactor->Finish(ToGrpcStatus(manager.GetSession(id).status()));
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

}  // namespace optd

#endif  // OPTD_COMMON_GRPC_STATUS_H_
