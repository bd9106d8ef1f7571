#include <cstring>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using Vectors = std::vector<std::vector<double>>;

// f = 0.5 x'Ax with A = diag(1, 4, 9) (g = Ax).
const Eigen::Vector3d kDiagonal(1, 4, 9);

double Quadratic(const Eigen::VectorXd& x, Eigen::VectorXd* g) {
  *g = kDiagonal.cwiseProduct(x);
  return 0.5 * x.dot(*g);
}

Eigen::VectorXd Trial(const Solver& solver) {
  Eigen::VectorXd x(solver.dimension());
  EXPECT_OK(solver.ReadTrialPoint(
      MutableVectorView::Float64(x.data(), solver.dimension())));
  return x;
}

void TellAtTrial(Solver& solver) {
  const Eigen::VectorXd x = Trial(solver);
  Eigen::VectorXd g;
  TrialResult r;
  r.value = Quadratic(x, &g);
  r.has_gradient = true;
  ASSERT_OK(solver.SetTrialGradient(
      ConstVectorView::Float64(g.data(), solver.dimension())));
  ASSERT_OK(solver.Tell(r));
}

// Runs to the end; returns every trial point.
std::vector<Eigen::VectorXd> RunToTheEnd(Solver& solver) {
  std::vector<Eigen::VectorXd> trials;
  while (!solver.finished() && trials.size() < 1000) {
    trials.push_back(Trial(solver));
    TellAtTrial(solver);
  }
  return trials;
}

TEST(LbfgsWarmStart, FirstStepIsTheTwoLoopDirectionWithAUnitStep) {
  const Eigen::Vector3d x0(1, 1, 1);
  const std::vector<double> s = {0.5, -0.25, 0.1};
  std::vector<double> y(3);
  for (int i = 0; i < 3; ++i) y[i] = kDiagonal[i] * s[i];
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(solver);
  ASSERT_OK((*solver)->SetCurvaturePairs({s}, {y}));
  EXPECT_EQ(Trial(**solver), x0);  // x0 is evaluated first
  TellAtTrial(**solver);
  // One pair: H = V' H0 V + rho s s', V = I - rho y s', H0 = (s'y / y'y) I
  // (Nocedal & Wright eq. 7.19 with gamma of eq. 7.20); d = -H g.
  const Eigen::Vector3d sv(s.data()), yv(y.data());
  const double rho = 1.0 / sv.dot(yv);
  const Eigen::Matrix3d V =
      Eigen::Matrix3d::Identity() - rho * yv * sv.transpose();
  const Eigen::Matrix3d H = V.transpose() * (sv.dot(yv) / yv.dot(yv)) *
                                Eigen::Matrix3d::Identity() * V +
                            rho * sv * sv.transpose();
  const Eigen::Vector3d g = kDiagonal.cwiseProduct(x0);
  const Eigen::VectorXd expected = x0 - H * g;
  const Eigen::VectorXd trial = Trial(**solver);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(trial[i], expected[i], 1e-14);
}

TEST(LbfgsWarmStart, KeepsTheNewestPairsWithinMemory) {
  const Eigen::Vector3d x0(1, -2, 0.5);
  Vectors s = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  Vectors y = {{1, 0, 0}, {0, 4, 0}, {0, 0, 9}};
  LbfgsOptions options;
  options.memory = 2;
  auto solver = Lbfgs::Create(options, ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(solver);
  ASSERT_OK((*solver)->SetCurvaturePairs(s, y));
  Vectors held_s, held_y;
  ASSERT_OK((*solver)->ReadCurvaturePairs(&held_s, &held_y));
  ASSERT_EQ(held_s.size(), 2u);
  EXPECT_EQ(held_s[0], s[1]);
  EXPECT_EQ(held_y[1], y[2]);
}

TEST(LbfgsWarmStart, ExactPairsSolveAQuadraticInOneStep) {
  // Pairs along every axis make H = A^-1 exactly, so x0 - H g = 0.
  const Eigen::Vector3d x0(1, -2, 0.5);
  auto cold =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  auto warm =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(cold);
  ASSERT_OK(warm);
  ASSERT_OK((*warm)->SetCurvaturePairs({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
                                       {{1, 0, 0}, {0, 4, 0}, {0, 0, 9}}));
  const auto cold_trials = RunToTheEnd(**cold);
  const auto warm_trials = RunToTheEnd(**warm);
  ASSERT_GE(warm_trials.size(), 2u);
  EXPECT_NEAR(warm_trials[1].norm(), 0.0, 1e-14);
  EXPECT_LT(warm_trials.size(), cold_trials.size());
  EXPECT_TRUE((*warm)->summary().success()) << (*warm)->summary().FullReport();
}

TEST(LbfgsWarmStart, IsBitwiseTheSameOnEveryShardCount) {
  const int64_t n = 9000;  // three reduction blocks
  Eigen::VectorXd x0(n);
  Vectors s(2, std::vector<double>(n)), y(2, std::vector<double>(n));
  for (int64_t i = 0; i < n; ++i) {
    x0[i] = 1.0 + 1e-3 * static_cast<double>(i % 7);
    s[0][i] = 0.01 * static_cast<double>(i % 5) - 0.02;
    s[1][i] = 0.003 * static_cast<double>(i % 11);
    y[0][i] = 2.0 * s[0][i];
    y[1][i] = 3.0 * s[1][i];
  }
  std::vector<std::string> states;
  for (int shards : {1, 3}) {
    auto solver = Lbfgs::Create(LbfgsOptions(),
                                ConstVectorView::Float64(x0.data(), n), shards);
    ASSERT_OK(solver);
    ASSERT_OK((*solver)->SetCurvaturePairs(s, y));
    for (int t = 0; t < 4 && !(*solver)->finished(); ++t) {
      const Eigen::VectorXd x = Trial(**solver);
      Eigen::VectorXd g = 2.0 * x;
      TrialResult r;
      r.value = x.squaredNorm();
      r.has_gradient = true;
      ASSERT_OK(
          (*solver)->SetTrialGradient(ConstVectorView::Float64(g.data(), n)));
      ASSERT_OK((*solver)->Tell(r));
    }
    std::string state;
    ASSERT_OK((*solver)->SaveState(&state));
    states.push_back(state);
  }
  EXPECT_TRUE(states[0] == states[1]);
}

TEST(LbfgsWarmStart, RefusesOnceTold) {
  const Eigen::Vector3d x0(1, 1, 1);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(solver);
  TellAtTrial(**solver);
  EXPECT_THAT((*solver)->SetCurvaturePairs({{1, 0, 0}}, {{1, 0, 0}}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("only a session that was told nothing")));
}

TEST(LbfgsWarmStart, RefusesPairsOfAnotherDimension) {
  const Eigen::Vector3d x0(1, 1, 1);
  auto solver =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), 3));
  ASSERT_OK(solver);
  EXPECT_THAT(
      (*solver)->SetCurvaturePairs({{1, 0}}, {{1, 0}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("curvature pair 0 is not of the dimension 3")));
  EXPECT_THAT((*solver)->SetCurvaturePairs({{1, 0, 0}}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 s and 0 y vectors")));
}

}  // namespace
}  // namespace optd
