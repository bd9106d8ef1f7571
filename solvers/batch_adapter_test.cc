#include "solvers/batch_adapter.h"

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/bounds.h"
#include "solvers/finite_difference.h"
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

}  // namespace
}  // namespace optd
