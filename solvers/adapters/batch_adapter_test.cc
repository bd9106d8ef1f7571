#include "solvers/adapters/batch_adapter.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/core/bounds.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/adapters/gradient_check.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/batch_fixtures.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::Eigen::VectorXd;
using ::optd::testing::BatchRun;
using ::optd::testing::DriveBatches;
using ::optd::testing::Evaluate;
using ::optd::testing::ExpectBitwiseEqual;
using ::optd::testing::LbfgsAt;
using ::optd::testing::Problem;
using ::optd::testing::Quadratic;

TEST(ParallelTrials, SequentialDriverThroughSingleTrialMethodsAgrees) {
  // Solver::Tell & co. act on the first untold trial, so a driver that knows
  // nothing of batches gets the same run as one that tells whole batches.
  const problems::TestProblem p = Problem("beale");
  auto batched =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  auto sequential =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(batched.ok() && sequential.ok());
  const BatchRun a = DriveBatches(**batched, Evaluate(p.evaluate));
  testing::DriveOptions record;
  record.record_trials = true;
  const testing::DriveResult b =
      testing::Drive(**sequential, {p.evaluate, nullptr}, record);
  ASSERT_TRUE(a.finished && b.finished);
  ExpectBitwiseEqual(a.points, b.trials);
  EXPECT_EQ(b.value_calls, a.summary.evaluations);
  EXPECT_EQ(b.gradient_calls, 0);
}

// Trials of a run that come as a PointDelta when every trial but the first
// of each batch of several does (DriveBatches checks each delta bit for bit
// against ReadBatchPoint, in float64 and float32).
int64_t DeltaTrials(const BatchRun& run) {
  int64_t expected = 0;
  for (int size : run.batch_sizes) expected += size > 1 ? size - 1 : 0;
  return expected;
}

TEST(PointDelta, CentralStencilPointsRebuildBitwise) {
  for (const char* name : {"rosenbrock", "beale", "helical_valley", "wood"}) {
    const problems::TestProblem p = Problem(name);
    auto solver =
        WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
    ASSERT_TRUE(solver.ok());
    const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
    ASSERT_TRUE(run.finished) << name;
    EXPECT_GT(run.deltas, 0) << name;
    EXPECT_EQ(run.deltas, DeltaTrials(run)) << name;
  }
}

TEST(PointDelta, ForwardStencilPointsRebuildBitwise) {
  const problems::TestProblem p = Problem("rosenbrock");
  FiniteDifferenceOptions forward;
  forward.scheme = FiniteDifferenceScheme::kForward;
  auto solver =
      WithFiniteDifferences(LbfgsAt(p.x0), forward, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
  ASSERT_TRUE(run.finished);
  EXPECT_EQ(run.batch_sizes[0], p.n + 1);
  EXPECT_GT(run.deltas, 0);
  EXPECT_EQ(run.deltas, DeltaTrials(run));
}

TEST(PointDelta, OneSidedStencilsAtBoundsRebuildBitwise) {
  // x_0 on its lower bound, x_1 on its upper bound, x_2 in a box narrower
  // than 2h, x_3 in a box of width 0: one-sided, one-sided, shrunk central,
  // fixed (no points), for both schemes.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const VectorXd x = (VectorXd(4) << -1.0, 2.0, 0.3, 5.0).finished();
  const std::vector<double> lower = {-1.0, -kInf, 0.3 - 4e-6, 5.0};
  const std::vector<double> upper = {kInf, 2.0, 0.3 + 1e-6, 5.0};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  for (FiniteDifferenceScheme scheme :
       {FiniteDifferenceScheme::kCentral, FiniteDifferenceScheme::kForward}) {
    FiniteDifferenceOptions options;
    options.scheme = scheme;
    auto inner = std::make_unique<testing::ScriptedSolver>(
        std::vector<VectorXd>{x, x + VectorXd::Constant(4, 1e-3)},
        Evaluation::kValueAndGradient);
    auto solver = WithFiniteDifferences(std::move(inner), options, *box);
    ASSERT_TRUE(solver.ok());
    const BatchRun run = DriveBatches(**solver, Evaluate(Quadratic()));
    ASSERT_TRUE(run.finished);
    EXPECT_EQ(run.batch_sizes[0],
              scheme == FiniteDifferenceScheme::kCentral ? 7 : 4);
    EXPECT_EQ(run.deltas, DeltaTrials(run));
  }
}

TEST(PointDelta, Float32StateStencilPointsRebuildBitwise) {
  AdamOptions options;
  options.dtype = ScalarType::kFloat32;
  options.max_steps = 3;
  options.lr = 0.1;
  const VectorXd x0 = (VectorXd(4) << 0.7, -3.0, 1e-3, 12.5).finished();
  auto adam = Adam::Create(options, ConstVectorView::Float64(x0.data(), 4));
  ASSERT_TRUE(adam.ok());
  auto solver =
      WithFiniteDifferences(std::move(*adam), {}, Bounds::Unbounded(4));
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(Quadratic()));
  ASSERT_TRUE(run.finished);
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{9, 9, 9}));
  EXPECT_EQ(run.deltas, 3 * 8);
}

TEST(PointDelta, GradientCheckStencilPointsRebuildBitwise) {
  const problems::TestProblem p = Problem("rosenbrock");
  GradientCheckOptions check;
  check.every_iterations = 3;
  auto solver = WithGradientCheck(LbfgsAt(p.x0), check);
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
  ASSERT_TRUE(run.finished);
  EXPECT_GT(run.deltas, 2 * p.n);
  EXPECT_EQ(run.deltas, DeltaTrials(run));
}

TEST(PointDelta, DataParallelTrialsAreTheFirstTrialsPoint) {
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver = WithDataParallel(LbfgsAt(p.x0), 4);
  ASSERT_TRUE(solver.ok());
  for (int k = 1; k < 4; ++k) {
    const std::optional<PointDelta> delta = (*solver)->BatchPointDelta(k);
    ASSERT_TRUE(delta.has_value());
    EXPECT_EQ(delta->base, 0);
    EXPECT_EQ(delta->coordinate, -1);
  }
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate), nullptr,
                                    /*max_batches=*/20);
  EXPECT_EQ(run.deltas, 3 * 20);
}

TEST(PointDelta, TrialsHandedOutAloneHaveNone) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
  EXPECT_FALSE(plain->BatchPointDelta(0).has_value());
  EXPECT_EQ(plain->batch_untold(), 1);
  // Value-only trials pass through a finite-difference adapter alone.
  auto inner = std::make_unique<testing::ScriptedSolver>(
      std::vector<VectorXd>{p.x0}, Evaluation::kValue);
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  EXPECT_EQ((*solver)->batch_size(), 1);
  EXPECT_FALSE((*solver)->BatchPointDelta(0).has_value());
  EXPECT_EQ((*solver)->batch_untold(), 1);
}

}  // namespace
}  // namespace optd
