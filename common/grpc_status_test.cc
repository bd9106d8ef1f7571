#include "common/grpc_status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd {
namespace {

TEST(GrpcStatus, OkMapsToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatus, KeepsCodeAndMessage) {
  const grpc::Status status = ToGrpcStatus(absl::InvalidArgumentError(
      "gradient has 99 elements; session \"rosen-1\" has dimension 100"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "gradient has 99 elements; session \"rosen-1\" has dimension 100");
}

TEST(GrpcStatus, EveryCodeRoundTrips) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status in(static_cast<absl::StatusCode>(code), "why");
    const grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.error_code()), code);
    EXPECT_EQ(ToAbslStatus(out), in);
  }
}

TEST(HttpStatusCode, FollowsGoogleRpcCode) {
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kOutOfRange), 400);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kAborted), 409);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kUnknown), 500);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusCode(absl::StatusCode::kDataLoss), 500);
}

}  // namespace
}  // namespace optd
