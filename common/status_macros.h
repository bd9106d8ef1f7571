// Status propagation helpers missing from Abseil 20220623 (it has no
// absl/status/status_macros.h).
//
//   absl::Status Step() {
//     OPTD_RETURN_IF_ERROR(Validate());
//     OPTD_ASSIGN_OR_RETURN(double f, Evaluate());
//     ...
//   }
#ifndef OPTD_COMMON_STATUS_MACROS_H_
#define OPTD_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// OPTD_RETURN_IF_ERROR(expr): evaluates `expr` (an absl::Status) once and
// returns it from the enclosing function when it is not OK.
#define OPTD_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status optd_status_ = (expr);        \
    if (!optd_status_.ok()) return optd_status_; \
  } while (0)

#define OPTD_STATUS_CONCAT_INNER_(a, b) a##b
#define OPTD_STATUS_CONCAT_(a, b) OPTD_STATUS_CONCAT_INNER_(a, b)

// OPTD_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on
// error returns its status, otherwise assigns (moves) the value into `lhs`,
// which may be a declaration.
#define OPTD_ASSIGN_OR_RETURN(lhs, expr)                                     \
  OPTD_ASSIGN_OR_RETURN_IMPL_(OPTD_STATUS_CONCAT_(optd_statusor_, __LINE__), \
                              lhs, expr)
#define OPTD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(statusor).value()

#endif  // OPTD_COMMON_STATUS_MACROS_H_
