#include "server/session/warm_start.h"

#include <functional>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/solver_factory.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Vector Values(const std::vector<double>& v) {
  v1::Vector out;
  for (double e : v) out.add_values(e);
  return out;
}

v1::CreateSessionRequest LbfgsRequest() {
  v1::CreateSessionRequest request;
  *request.mutable_x0() = Values({1.0, 2.0});
  request.mutable_lbfgs();
  return request;
}

absl::Status Build(const v1::CreateSessionRequest& request) {
  std::vector<double> x = {1.0, 2.0};
  return CreateSolver(request, ConstVectorView::Float64(x.data(), 2)).status();
}

TEST(ApplyWarmStart, PairsStartTheLbfgsMemory) {
  v1::CreateSessionRequest request = LbfgsRequest();
  *request.mutable_warm_start()->add_s() = Values({1.0, 0.0});
  *request.mutable_warm_start()->add_y() = Values({2.0, 0.5});
  std::vector<double> x = {1.0, 2.0};
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x.data(), 2));
  ASSERT_OK(setup);
  std::vector<std::vector<double>> s, y;
  ASSERT_OK(setup->solver->ReadCurvaturePairs(&s, &y));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_THAT(y[0], ElementsAre(2.0, 0.5));
}

TEST(ApplyWarmStart, PairsStartTheTrustRegionModel) {
  v1::CreateSessionRequest request = LbfgsRequest();
  request.mutable_trust_region();
  *request.mutable_warm_start()->add_s() = Values({1.0, 0.0});
  *request.mutable_warm_start()->add_y() = Values({2.0, 0.5});
  std::vector<double> x = {1.0, 2.0};
  absl::StatusOr<SolverSetup> setup =
      CreateSolver(request, ConstVectorView::Float64(x.data(), 2));
  ASSERT_OK(setup);
  request.clear_warm_start();
  absl::StatusOr<SolverSetup> cold =
      CreateSolver(request, ConstVectorView::Float64(x.data(), 2));
  ASSERT_OK(cold);
  // Told the same x0, the model with the pair steps elsewhere than the cold
  // one (along -g).
  std::vector<std::vector<double>> trials;
  for (Solver* solver : {setup->solver.get(), cold->solver.get()}) {
    const std::vector<double> g = {1.0, 2.0};
    ASSERT_OK(solver->SetTrialGradient(ConstVectorView::Float64(g.data(), 2)));
    TrialResult r;
    r.value = 1.0;
    r.has_gradient = true;
    ASSERT_OK(solver->Tell(r));
    std::vector<double> t(2);
    ASSERT_OK(solver->ReadTrialPoint(MutableVectorView::Float64(t.data(), 2)));
    trials.push_back(t);
  }
  EXPECT_NE(trials[0], trials[1]);
}

TEST(ApplyWarmStart, EveryRefusalNamesTheField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    const char* what;
    std::function<void(v1::CreateSessionRequest&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"another solver",
       [](auto& r) {
         r.mutable_adam();
         r.mutable_warm_start();
       },
       "warm_start is set for solver adam; only lbfgs and trust_region "
       "(quasi_newton) take a warm start"},
      {"trust_region with bounds",
       [](auto& r) {
         r.mutable_trust_region();
         *r.mutable_bounds()->mutable_lower() = Values({0.0, 0.0});
         r.mutable_warm_start();
       },
       "warm_start does not go with bounds (a bounded trust region"},
      {"trust_region with another subproblem",
       [](auto& r) {
         r.mutable_trust_region()->set_subproblem(
             v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
         *r.mutable_warm_start()->add_s() = Values({1.0, 0.0});
         *r.mutable_warm_start()->add_y() = Values({2.0, 0.0});
       },
       "warm_start: trust_region takes curvature pairs only with the "
       "quasi_newton subproblem; this session's is newton_cg"},
      {"bounds",
       [](auto& r) {
         *r.mutable_bounds()->mutable_lower() = Values({0.0, 0.0});
         r.mutable_warm_start();
       },
       "warm_start does not go with bounds"},
      {"value alone", [](auto& r) { r.mutable_warm_start()->set_value(1.0); },
       "warm_start.value and warm_start.gradient are set together"},
      {"gradient of another dimension",
       [](auto& r) {
         r.mutable_warm_start()->set_value(1.0);
         *r.mutable_warm_start()->mutable_gradient() = Values({1.0});
       },
       "warm_start.gradient has 1 elements; the dimension is 2"},
      {"non-finite gradient",
       [nan](auto& r) {
         r.mutable_warm_start()->set_value(1.0);
         *r.mutable_warm_start()->mutable_gradient() = Values({1.0, nan});
       },
       "warm_start.gradient[1] is nan"},
      {"non-finite value",
       [nan](auto& r) {
         r.mutable_warm_start()->set_value(nan);
         *r.mutable_warm_start()->mutable_gradient() = Values({1.0, 0.0});
       },
       "warm_start.value is nan; it must be finite"},
      {"a bad encoding",
       [](auto& r) {
         v1::Vector* s = r.mutable_warm_start()->add_s();
         s->set_f64("abc");
         *r.mutable_warm_start()->add_y() = Values({1.0, 0.0});
       },
       "warm_start.s[0]"},
      {"negative curvature",
       [](auto& r) {
         *r.mutable_warm_start()->add_s() = Values({1.0, 0.0});
         *r.mutable_warm_start()->add_y() = Values({-1.0, 0.0});
       },
       "warm_start pair 0 has s.y = -1"},
  };
  for (const Case& c : cases) {
    v1::CreateSessionRequest request = LbfgsRequest();
    c.edit(request);
    EXPECT_THAT(Build(request), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr(c.message)))
        << c.what;
  }
}

TEST(SwitchedCreateRequest, ReplacesTheSolverAndCarriesTheTransfer) {
  v1::CreateSessionRequest source;
  source.set_session_id("run");
  *source.mutable_x0() = Values({1.0, 2.0});
  source.mutable_adafactor();
  source.add_layers();
  (*source.mutable_labels())["team"] = "a";
  source.set_ttl_seconds(60);
  v1::CreateSessionRequest target;
  target.mutable_lbfgs()->set_memory(4);
  SolverHandover handover;
  handover.x = {0.5, -0.25};
  handover.tells = 7;
  handover.last_trial_id = 8;
  handover.s = {{1.0, 0.0}};
  handover.y = {{2.0, 0.0}};
  const v1::CreateSessionRequest create =
      SwitchedCreateRequest(source, target, handover);
  EXPECT_EQ(create.session_id(), "run");
  EXPECT_EQ(create.solver_case(), v1::CreateSessionRequest::kLbfgs);
  EXPECT_EQ(create.lbfgs().memory(), 4);
  EXPECT_EQ(create.layers_size(), 0);
  EXPECT_EQ(create.labels().at("team"), "a");
  EXPECT_EQ(create.ttl_seconds(), 60);
  EXPECT_THAT(create.x0().values(), ElementsAre(0.5, -0.25));
  EXPECT_EQ(create.warm_start().from_solver(), "adafactor");
  EXPECT_EQ(create.warm_start().from_step(), 7);
  EXPECT_EQ(create.warm_start().last_trial_id(), 8u);
  ASSERT_EQ(create.warm_start().s_size(), 1);
  EXPECT_THAT(create.warm_start().y(0).values(), ElementsAre(2.0, 0.0));
  EXPECT_EQ(SolverFieldName(create), "lbfgs");
  EXPECT_EQ(SolverFieldName(v1::CreateSessionRequest()), "none");
}

}  // namespace
}  // namespace optd::server
