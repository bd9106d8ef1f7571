#include "server/session/first_order_codec.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "optd/v1/optimizer.pb.h"
#include "server/session/codecs.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

TEST(FirstOrderCodec, EveryMethodFieldOfTheRequestHasDefaults) {
  // Each oneof field of CreateSessionRequest.solver but lbfgs,
  // trust_region, least_squares, adafactor (not elementwise: its own
  // codec, adafactor_codec.h) and curvature is a first-order method named
  // as its field.
  const google::protobuf::OneofDescriptor* solver =
      v1::CreateSessionRequest::descriptor()->FindOneofByName("solver");
  int methods = 0;
  for (int i = 0; i < solver->field_count(); ++i) {
    const std::string name = solver->field(i)->name();
    if (name == "lbfgs" || name == "trust_region" || name == "least_squares" ||
        name == "adafactor" || name == "curvature") {
      continue;
    }
    std::optional<AdamOptions> defaults = FirstOrderDefaults(name);
    ASSERT_TRUE(defaults.has_value()) << name;
    EXPECT_EQ(defaults->name(), name);
    // Session.options has the same field, of the same message.
    const google::protobuf::FieldDescriptor* echo =
        v1::Session::descriptor()->FindFieldByName(name);
    ASSERT_NE(echo, nullptr) << name;
    EXPECT_EQ(echo->message_type(), solver->field(i)->message_type());
    ++methods;
  }
  EXPECT_EQ(methods, 9);
  EXPECT_FALSE(FirstOrderDefaults("lbfgs").has_value());
}

TEST(FirstOrderCodec, SetFieldsAreTakenAndEchoed) {
  v1::RmspropOptions proto;
  proto.set_lr(3e-3);
  proto.set_weight_decay(0.1);
  proto.set_max_grad_norm(2.0);
  proto.mutable_schedule()->set_warmup_steps(5);
  proto.set_dtype(v1::STATE_DTYPE_FLOAT32);
  proto.set_max_steps(40);
  proto.set_maximize(true);
  proto.set_alpha(0.9);
  proto.set_eps(1e-6);
  proto.set_momentum(0.5);
  proto.set_centered(true);
  v1::AdamGroup* group = proto.add_groups();
  group->set_begin(0);
  group->set_end(3);
  group->set_lr(1e-3);
  absl::StatusOr<AdamOptions> options =
      FirstOrderOptionsFromProto(proto, "rmsprop");
  ASSERT_OK(options);
  EXPECT_EQ(options->hyper.method, ElementwiseMethod::kRmsprop);
  EXPECT_EQ(options->hyper.alpha, 0.9);
  EXPECT_EQ(options->hyper.momentum, 0.5);
  EXPECT_TRUE(options->hyper.centered);
  EXPECT_TRUE(options->hyper.maximize);
  EXPECT_EQ(options->dtype, ScalarType::kFloat32);
  ASSERT_EQ(options->groups.size(), 1u);
  v1::RmspropOptions echo;
  FirstOrderOptionsToProto(*options, &echo);
  // The echo has every field set, the schedule's defaults resolved.
  proto.mutable_schedule()->set_warmup_start_factor(1.0 / 3.0);
  EXPECT_EQ(echo.SerializeAsString(), proto.SerializeAsString());

  // Unset fields take torch's defaults, and the echo says them.
  absl::StatusOr<AdamOptions> adagrad =
      FirstOrderOptionsFromProto(v1::AdagradOptions(), "adagrad");
  ASSERT_OK(adagrad);
  v1::AdagradOptions adagrad_echo;
  FirstOrderOptionsToProto(*adagrad, &adagrad_echo);
  EXPECT_EQ(adagrad_echo.lr(), 1e-2);
  EXPECT_EQ(adagrad_echo.eps(), 1e-10);
  EXPECT_TRUE(adagrad_echo.has_weight_decay());
}

TEST(FirstOrderCodec, SessionOptionsGoToTheMethodsField) {
  v1::LionOptions lion;
  lion.set_weight_decay(0.5);
  absl::StatusOr<AdamOptions> options =
      FirstOrderOptionsFromProto(lion, "lion");
  ASSERT_OK(options);
  v1::Session session;
  SetSessionOptions(SolverOptions(*options), &session);
  ASSERT_EQ(session.options_case(), v1::Session::kLion);
  EXPECT_EQ(session.lion().weight_decay(), 0.5);
  EXPECT_EQ(session.lion().beta2(), 0.99);
}

TEST(FirstOrderCodec, BadOptionsNameTheField) {
  EXPECT_THAT(FirstOrderOptionsFromProto(v1::SgdOptions(), "sgd"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sgd.lr is unset")));
  v1::SgdOptions nesterov;
  nesterov.set_lr(0.1);
  nesterov.set_nesterov(true);
  EXPECT_THAT(FirstOrderOptionsFromProto(nesterov, "sgd"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sgd.")));
  v1::SgdOptions beta_group;
  beta_group.set_lr(0.1);
  v1::AdamGroup* g = beta_group.add_groups();
  g->set_end(2);
  g->set_beta1(0.5);
  EXPECT_THAT(FirstOrderOptionsFromProto(beta_group, "sgd"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sgd.groups[0].beta1 is set; sgd has no "
                                 "beta1")));
  v1::RmspropOptions alpha;
  alpha.set_alpha(1.5);
  EXPECT_THAT(FirstOrderOptionsFromProto(alpha, "rmsprop"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rmsprop.alpha is 1.5")));
  v1::LionOptions zero_clip;
  zero_clip.set_max_grad_norm(0);
  EXPECT_THAT(FirstOrderOptionsFromProto(zero_clip, "lion"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lion.max_grad_norm is 0")));
  v1::NadamOptions dtype;
  dtype.set_dtype(static_cast<v1::StateDtype>(9));
  EXPECT_THAT(FirstOrderOptionsFromProto(dtype, "nadam"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nadam.dtype is 9")));
}

}  // namespace
}  // namespace optd::server
