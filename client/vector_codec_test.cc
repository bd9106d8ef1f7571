#include "client/vector_codec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(VectorCodec, F64IsTheRawLittleEndianBytes) {
  const std::vector<double> x = {1.0, -0.0, 1e-310,
                                 std::numeric_limits<double>::infinity()};
  const v1::Vector v = EncodeF64(x);
  EXPECT_EQ(v.values_size(), 0);
  EXPECT_TRUE(v.f32().empty());
  ASSERT_EQ(v.f64().size(), 32u);
  // 1.0 is 0x3FF0000000000000: its last byte on the wire is 0x3F.
  EXPECT_EQ(static_cast<unsigned char>(v.f64()[7]), 0x3F);
  EXPECT_EQ(VectorSize(v), 4);
  const absl::StatusOr<std::vector<double>> back = DecodeVector(v);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), x.size());
  EXPECT_EQ(std::memcmp(back->data(), x.data(), 32), 0);  // -0.0 kept
}

TEST(VectorCodec, F32WidensExactly) {
  const std::vector<float> x = {0.1f, -3.5f, 1e-40f};
  const v1::Vector v = EncodeF32(x);
  ASSERT_EQ(v.f32().size(), 12u);
  const absl::StatusOr<std::vector<double>> wide = DecodeVector(v);
  ASSERT_TRUE(wide.ok());
  EXPECT_THAT(*wide, ElementsAre(double{0.1f}, -3.5, double{1e-40f}));
  const absl::StatusOr<std::vector<float>> narrow = DecodeFloat32(v);
  ASSERT_TRUE(narrow.ok());
  EXPECT_THAT(*narrow, ElementsAre(0.1f, -3.5f, 1e-40f));
  EXPECT_FALSE(DecodeFloat32(EncodeF64({1.0})).ok());
}

TEST(VectorCodec, ValuesAndEncodeDispatch) {
  EXPECT_THAT(EncodeValues({1.5, 2.5}).values(), ElementsAre(1.5, 2.5));
  EXPECT_EQ(Encode({1.5}, v1::VECTOR_ENCODING_VALUES).values_size(), 1);
  EXPECT_EQ(Encode({1.5}, v1::VECTOR_ENCODING_UNSPECIFIED).f64().size(), 8u);
  EXPECT_EQ(Encode({1.5}, v1::VECTOR_ENCODING_F64).f64().size(), 8u);
  EXPECT_EQ(Encode({0.1}, v1::VECTOR_ENCODING_F32).f32().size(), 4u);
  const absl::StatusOr<std::vector<double>> rounded =
      DecodeVector(Encode({0.1}, v1::VECTOR_ENCODING_F32));
  ASSERT_TRUE(rounded.ok());
  EXPECT_THAT(*rounded, ElementsAre(double{0.1f}));
}

TEST(VectorCodec, EmptyMessageIsAnEmptyVector) {
  const absl::StatusOr<std::vector<double>> x = DecodeVector(v1::Vector());
  ASSERT_TRUE(x.ok());
  EXPECT_TRUE(x->empty());
  EXPECT_EQ(VectorSize(v1::Vector()), 0);
}

TEST(VectorCodec, RejectsTwoEncodingsAndPartialElements) {
  v1::Vector both = EncodeF64({1.0});
  both.add_values(1.0);
  EXPECT_EQ(DecodeVector(both).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(DecodeVector(both).status().message()),
              HasSubstr("more than one"));
  EXPECT_EQ(VectorSize(both), -1);

  v1::Vector partial;
  partial.set_f64(std::string(12, '\0'));
  EXPECT_THAT(std::string(DecodeVector(partial).status().message()),
              HasSubstr("f64 has 12 bytes"));
  partial.clear_f64();
  partial.set_f32(std::string(6, '\0'));
  EXPECT_THAT(std::string(DecodeVector(partial).status().message()),
              HasSubstr("f32 has 6 bytes"));
}

}  // namespace
}  // namespace optd::client
