#include "server/session/adafactor_codec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

TEST(AdafactorCodec, UnsetFieldsTakeTransformersDefaultsAndEchoResolved) {
  google::protobuf::RepeatedPtrField<v1::Layer> layers;
  absl::StatusOr<AdafactorOptions> options =
      AdafactorOptionsFromProto(v1::AdafactorOptions(), layers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->lr.has_value());
  EXPECT_EQ(options->eps1, 1e-30);
  EXPECT_EQ(options->eps2, 1e-3);
  EXPECT_EQ(options->clip_threshold, 1.0);
  EXPECT_EQ(options->decay_rate, -0.8);
  EXPECT_FALSE(options->beta1.has_value());
  EXPECT_TRUE(options->scale_parameter);
  EXPECT_TRUE(options->relative_step);
  EXPECT_FALSE(options->warmup_init);
  EXPECT_EQ(options->dtype, ScalarType::kFloat64);
  const v1::AdafactorOptions echo = AdafactorOptionsToProto(*options);
  EXPECT_FALSE(echo.has_lr());
  EXPECT_FALSE(echo.has_beta1());
  EXPECT_TRUE(echo.has_eps1());
  EXPECT_EQ(echo.dtype(), v1::STATE_DTYPE_FLOAT64);
}

TEST(AdafactorCodec, SetFieldsAndLayersRoundTrip) {
  v1::AdafactorOptions proto;
  proto.set_lr(1e-2);
  proto.set_relative_step(false);
  proto.set_beta1(0.9);
  proto.set_dtype(v1::STATE_DTYPE_FLOAT32);
  proto.set_max_steps(7);
  google::protobuf::RepeatedPtrField<v1::Layer> layers;
  layers.Add()->set_rows(3);
  layers.Mutable(0)->set_cols(4);
  layers.Add()->set_rows(5);
  absl::StatusOr<AdafactorOptions> options =
      AdafactorOptionsFromProto(proto, layers);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->lr, 1e-2);
  EXPECT_EQ(options->beta1, 0.9);
  EXPECT_EQ(options->dtype, ScalarType::kFloat32);
  ASSERT_EQ(options->layers.size(), 2u);
  EXPECT_EQ(options->layers[0].cols, 4);
  EXPECT_EQ(options->layers[1].cols, 0);
  const v1::AdafactorOptions echo = AdafactorOptionsToProto(*options);
  EXPECT_EQ(echo.lr(), 1e-2);
  EXPECT_EQ(echo.max_steps(), 7);
  google::protobuf::RepeatedPtrField<v1::Layer> echoed;
  AdafactorLayersToProto(*options, &echoed);
  ASSERT_EQ(echoed.size(), 2);
  EXPECT_EQ(echoed[0].rows(), 3);
  EXPECT_EQ(echoed[1].rows(), 5);
}

TEST(AdafactorCodec, ErrorsNameTheField) {
  google::protobuf::RepeatedPtrField<v1::Layer> layers;
  v1::AdafactorOptions bad_dtype;
  bad_dtype.set_dtype(static_cast<v1::StateDtype>(7));
  EXPECT_THAT(AdafactorOptionsFromProto(bad_dtype, layers),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adafactor.dtype is 7; use STATE_DTYPE_FLOAT64 or "
                       "STATE_DTYPE_FLOAT32"));
  v1::AdafactorOptions bad_decay;
  bad_decay.set_decay_rate(1.0);
  EXPECT_THAT(AdafactorOptionsFromProto(bad_decay, layers),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adafactor.decay_rate is 1; it must be in [-100, 0]"));
  for (int64_t i = 0; i <= kMaxAdafactorLayers; ++i) layers.Add();
  EXPECT_THAT(AdafactorOptionsFromProto(v1::AdafactorOptions(), layers),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layers has 1048577 entries; at most 1048576 "
                                 "are allowed")));
}

}  // namespace
}  // namespace optd::server
