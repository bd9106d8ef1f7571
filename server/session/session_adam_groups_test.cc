// Adam parameter groups (AdamOptions.groups) and per-step learning rates
// (TellRequest.group_lr) through a Session.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/session.h"
#include "server/testing/rosenbrock.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// An AdamW request with groups [0, 1) and [1, 2) (the second without decay).
v1::CreateSessionRequest TwoGroupRequest() {
  v1::CreateSessionRequest request;
  v1::AdamOptions* adam = request.mutable_adamw();
  adam->set_lr(1e-2);
  v1::AdamGroup* weights = adam->add_groups();
  weights->set_begin(0);
  weights->set_end(1);
  v1::AdamGroup* biases = adam->add_groups();
  biases->set_begin(1);
  biases->set_end(2);
  biases->set_lr(5e-3);
  biases->set_weight_decay(0.0);
  return request;
}

std::shared_ptr<Session> Make(const std::string& id,
                              const v1::CreateSessionRequest& request) {
  const std::vector<double> x0{-1.2, 1.0};
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x0.data(), 2));
  EXPECT_OK(setup.status());
  if (!setup.ok()) return nullptr;
  return std::make_shared<Session>(id, std::move(*setup), Labels{},
                                   v1::VECTOR_ENCODING_UNSPECIFIED);
}

v1::TellRequest GradientTell(Session& session) {
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  std::vector<double> g;
  Rosenbrock(ToDoubles(ask.trials(0).x()), &g);
  v1::TellRequest tell;
  tell.set_trial_id(ask.trials(0).trial_id());
  *tell.mutable_gradient() = Values(g);
  return tell;
}

TEST(SessionAdamGroups, GroupsAreCheckedAgainstTheDimension) {
  v1::CreateSessionRequest request = TwoGroupRequest();
  request.mutable_adamw()->mutable_groups(1)->set_begin(2);
  const std::vector<double> x0{-1.2, 1.0};
  EXPECT_THAT(CreateSolver(request, ConstVectorView::Float64(x0.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adamw.groups[1].begin is 2; it must be 1 (the end of "
                       "groups[0])"));
  request = TwoGroupRequest();
  request.mutable_adamw()->mutable_groups(1)->set_end(3);
  EXPECT_THAT(CreateSolver(request, ConstVectorView::Float64(x0.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adamw.groups[1].end is 3; it must be at most the "
                       "dimension, 2"));
  request = TwoGroupRequest();
  request.mutable_adamw()->mutable_groups(0)->set_eps(-1);
  EXPECT_THAT(CreateSolver(request, ConstVectorView::Float64(x0.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adamw.groups[0].eps is -1")));
}

TEST(SessionAdamGroups, DescribeEchoesTheGroups) {
  std::shared_ptr<Session> session = Make("groups", TwoGroupRequest());
  ASSERT_NE(session, nullptr);
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  ASSERT_EQ(described.adamw().groups_size(), 2);
  EXPECT_EQ(described.adamw().groups(1).begin(), 1);
  EXPECT_EQ(described.adamw().groups(1).end(), 2);
  EXPECT_EQ(described.adamw().groups(1).lr(), 5e-3);
  EXPECT_FALSE(described.adamw().groups(0).has_lr());
}

TEST(SessionAdamGroups, GroupLrSetsTheStepsLearningRate) {
  std::shared_ptr<Session> session = Make("groups", TwoGroupRequest());
  ASSERT_NE(session, nullptr);
  v1::TellResponse answer;
  v1::TellRequest tell = GradientTell(*session);
  tell.add_group_lr(0.25);
  tell.add_group_lr(0.125);
  ASSERT_OK(session->Tell(tell, &answer));
  tell = GradientTell(*session);  // back on the options' lr
  ASSERT_OK(session->Tell(tell, &answer));
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  ASSERT_EQ(described.history_size(), 2);
  EXPECT_EQ(described.history(0).step_length(), 0.25);  // group 0's lr
  EXPECT_EQ(described.history(1).step_length(), 1e-2);
}

TEST(SessionAdamGroups, GroupLrIsPartOfThePayload) {
  std::shared_ptr<Session> session = Make("groups", TwoGroupRequest());
  ASSERT_NE(session, nullptr);
  v1::TellResponse answer;
  v1::TellRequest tell = GradientTell(*session);
  tell.add_group_lr(0.25);
  tell.add_group_lr(0.125);
  ASSERT_OK(session->Tell(tell, &answer));
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_TRUE(answer.duplicate());
  tell.set_group_lr(1, 0.5);
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was already answered with a different "
                                 "payload")));
  tell.clear_group_lr();
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("different payload")));
}

TEST(SessionAdamGroups, GroupLrIsValidated) {
  std::shared_ptr<Session> session = Make("groups", TwoGroupRequest());
  ASSERT_NE(session, nullptr);
  v1::TellResponse answer;
  v1::TellRequest tell = GradientTell(*session);
  tell.add_group_lr(0.25);
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "group_lr has 1 values; session \"groups\" has 2 "
                       "parameter groups"));
  tell.add_group_lr(std::numeric_limits<double>::infinity());
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "group_lr[1] is inf; a learning rate is finite and >= "
                       "0"));
  tell.set_group_lr(1, -0.5);
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("group_lr[1] is -0.5")));
  // Nothing was applied: the trial is still outstanding.
  tell.set_group_lr(1, 0.5);
  EXPECT_OK(session->Tell(tell, &answer));
  EXPECT_FALSE(answer.duplicate());

  // Without groups, one value; other solvers take none.
  v1::CreateSessionRequest plain;
  plain.mutable_adam();
  session = Make("plain", plain);
  tell = GradientTell(*session);
  tell.add_group_lr(0.1);
  tell.add_group_lr(0.1);
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "group_lr has 2 values; session \"plain\" has 1 "
                       "parameter group"));
  v1::CreateSessionRequest lbfgs;
  lbfgs.mutable_lbfgs();
  session = Make("lbfgs", lbfgs);
  tell = GradientTell(*session);
  tell.set_value(1.0);
  tell.add_group_lr(0.1);
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "group_lr is set but session \"lbfgs\" is a lbfgs "
                       "session; only adam and adamw take learning rates"));
}

}  // namespace
}  // namespace optd::server
