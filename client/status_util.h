// Internal helpers of optd_client: gRPC status conversion and status
// propagation macros (Abseil 20220623 has no status macros).
//
//   grpc::Status s = stub.Tell(&context, request, &response);
//   if (!s.ok()) return FromGrpcStatus(s);
//   OPTD_CLIENT_ASSIGN_OR_RETURN(std::vector<double> x, DecodeVector(v));
//
// Thread-safety: stateless; safe from any thread.
#ifndef OPTD_CLIENT_STATUS_UTIL_H_
#define OPTD_CLIENT_STATUS_UTIL_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"

namespace optd::client {

// FromGrpcStatus(): the same code and the server's message, unchanged.
// absl::StatusCode values are the gRPC codes, so the mapping is a cast.
inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace optd::client

// OPTD_CLIENT_RETURN_IF_ERROR(expr): returns the absl::Status `expr` from the
// enclosing function unless it is OK.
#define OPTD_CLIENT_RETURN_IF_ERROR(expr)                      \
  do {                                                         \
    ::absl::Status optd_client_status_ = (expr);               \
    if (!optd_client_status_.ok()) return optd_client_status_; \
  } while (0)

#define OPTD_CLIENT_CONCAT_INNER_(a, b) a##b
#define OPTD_CLIENT_CONCAT_(a, b) OPTD_CLIENT_CONCAT_INNER_(a, b)

// OPTD_CLIENT_ASSIGN_OR_RETURN(lhs, expr): returns the status of the
// absl::StatusOr `expr` unless it is OK, else moves its value into `lhs`
// (which may be a declaration).
#define OPTD_CLIENT_ASSIGN_OR_RETURN(lhs, expr) \
  OPTD_CLIENT_ASSIGN_OR_RETURN_IMPL_(           \
      OPTD_CLIENT_CONCAT_(optd_client_statusor_, __LINE__), lhs, expr)
#define OPTD_CLIENT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                       \
  if (!statusor.ok()) return statusor.status();                 \
  lhs = std::move(statusor).value()

#endif  // OPTD_CLIENT_STATUS_UTIL_H_
