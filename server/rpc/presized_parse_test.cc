// ParsePresized: the vector's bytes are parsed into a string of their own
// size, from a buffer of many slices as gRPC receives it.
#include "server/rpc/presized_parse.h"

#include <grpcpp/support/slice.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// `bytes` in slices of `slice_bytes`, as a received message arrives.
grpc::ByteBuffer Sliced(const std::string& bytes, size_t slice_bytes) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < bytes.size(); at += slice_bytes) {
    slices.emplace_back(bytes.data() + at,
                        std::min(slice_bytes, bytes.size() - at));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

// A PutSliceRequest whose values are `size` bytes of f32 (or f64).
v1::PutSliceRequest Request(size_t size, bool f32) {
  v1::PutSliceRequest request;
  request.set_session_id("s");
  request.set_trial_id(7);
  request.set_shard(2);
  request.set_field(v1::SLICE_FIELD_GRADIENT);
  std::string values(size, '\0');
  for (size_t i = 0; i < size; i += 4096) values[i] = static_cast<char>(i);
  if (f32) {
    request.mutable_values()->set_f32(std::move(values));
  } else {
    request.mutable_values()->set_f64(std::move(values));
  }
  return request;
}

// Just over protobuf's 50 MB (kSafeStringSize), the size of shard 0 of
// 5·10^7 float32 on 4 replicas: a plain parse grows the string to 100 MB.
constexpr size_t kLargeBytes = 50'003'968;

TEST(ParsePresized, LargeF32ValuesGetAStringOfTheirOwnSize) {
  const v1::PutSliceRequest sent = Request(kLargeBytes, /*f32=*/true);
  const grpc::ByteBuffer bytes = Sliced(sent.SerializeAsString(), 8192);
  v1::PutSliceRequest got;
  ASSERT_TRUE(ParsePresized(bytes, &got).ok());
  EXPECT_EQ(got.session_id(), "s");
  EXPECT_EQ(got.trial_id(), 7u);
  EXPECT_EQ(got.shard(), 2);
  EXPECT_EQ(got.field(), v1::SLICE_FIELD_GRADIENT);
  EXPECT_TRUE(got.values().f32() == sent.values().f32());
  EXPECT_EQ(got.values().f32().capacity(), kLargeBytes);
}

TEST(ParsePresized, LargeF64ValuesGetAStringOfTheirOwnSize) {
  const v1::PutSliceRequest sent = Request(kLargeBytes, /*f32=*/false);
  const grpc::ByteBuffer bytes = Sliced(sent.SerializeAsString(), 65536);
  v1::PutSliceRequest got;
  ASSERT_TRUE(ParsePresized(bytes, &got).ok());
  EXPECT_TRUE(got.values().f64() == sent.values().f64());
  EXPECT_EQ(got.values().f64().capacity(), kLargeBytes);
  EXPECT_TRUE(got.values().f32().empty());
}

TEST(ParsePresized, SmallAndEmptyRequestsParseAsProtobufDoes) {
  for (const v1::PutSliceRequest& sent :
       {Request(12, true), Request(0, false), v1::PutSliceRequest()}) {
    const grpc::ByteBuffer bytes = Sliced(sent.SerializeAsString(), 5);
    v1::PutSliceRequest got;
    ASSERT_TRUE(ParsePresized(bytes, &got).ok());
    EXPECT_EQ(got.SerializeAsString(), sent.SerializeAsString());
  }
}

TEST(ParsePresized, RefusesBytesThatAreNotAPutSliceRequest) {
  // Field 1 (session_id) claims 100 bytes; 3 follow.
  const std::string bad("\x0a\x64\x61\x62\x63", 5);
  v1::PutSliceRequest got;
  EXPECT_THAT(ParsePresized(Sliced(bad, 2), &got),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the request (5 bytes) is not a valid "
                                 "PutSliceRequest")));
  EXPECT_EQ(got.ByteSizeLong(), 0u);
}

TEST(ParsePresized, RefusesAVectorLongerThanTheMessage) {
  // values (field 5, 8 bytes) holding f32 (field 3) that claims 10^9 bytes.
  const std::string bad("\x2a\x08\x1a\x80\x94\xeb\xdc\x03xy", 10);
  v1::PutSliceRequest got;
  EXPECT_THAT(ParsePresized(Sliced(bad, 3), &got),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the request (10 bytes) is not a valid "
                                 "PutSliceRequest")));
}

}  // namespace
}  // namespace optd::server
