// GoogleMock matchers for grpc::Status, the counterpart of
// solvers/testing/status_matchers.h for what a client of the service sees.
//
//   grpc::Status s = stub->Tell(&context, request, &response);
//   EXPECT_THAT(s, GrpcStatusIs(grpc::StatusCode::INVALID_ARGUMENT,
//                               HasSubstr("gradient has 99 elements")));
//   EXPECT_GRPC_OK(stub->Ask(&context, ask, &answer));
//
// Thread-safety: matchers are stateless.
#ifndef OPTD_SERVER_TESTING_GRPC_MATCHERS_H_
#define OPTD_SERVER_TESTING_GRPC_MATCHERS_H_

#include <string>

#include "gmock/gmock.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"

namespace optd::server::testing {

inline std::string Describe(const grpc::Status& status) {
  return std::to_string(static_cast<int>(status.error_code())) + ": " +
         status.error_message();
}

// GrpcStatusIs(code, message_matcher): a grpc::Status with this code whose
// message matches `message_matcher`.
MATCHER_P2(GrpcStatusIs, code, message_matcher,
           "has gRPC status code " +
               ::testing::PrintToString(static_cast<int>(code))) {
  if (arg.error_code() != code) {
    *result_listener << "whose status is " << Describe(arg);
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, arg.error_message(),
                                       result_listener);
}

}  // namespace optd::server::testing

#define EXPECT_GRPC_OK(expr)                                     \
  do {                                                           \
    const ::grpc::Status optd_grpc_status_ = (expr);             \
    EXPECT_TRUE(optd_grpc_status_.ok())                          \
        << ::optd::server::testing::Describe(optd_grpc_status_); \
  } while (0)
#define ASSERT_GRPC_OK(expr)                                     \
  do {                                                           \
    const ::grpc::Status optd_grpc_status_ = (expr);             \
    ASSERT_TRUE(optd_grpc_status_.ok())                          \
        << ::optd::server::testing::Describe(optd_grpc_status_); \
  } while (0)

#endif  // OPTD_SERVER_TESTING_GRPC_MATCHERS_H_
