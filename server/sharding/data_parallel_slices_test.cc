// WithDataParallelOnSlices over a real ShardGroup whose one slice is on this
// process's SliceHost: bitwise the in-process adapter, a step saved in its
// middle and restored into a new group, and the factory's and restore's
// refusals. (K = 1..4 over real replicas: tests/e2e_sharding_test.cc.)
#include "server/sharding/data_parallel_slices.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sharding/remote_vectors.h"
#include "server/sharding/slice_host.h"
#include "solvers/adapters/data_parallel.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kN = 5000;
constexpr int kWorkers = 3;

std::vector<double> StartPoint() {
  std::vector<double> x(kN);
  for (int64_t i = 0; i < kN; ++i) x[i] = i % 2 == 0 ? -1.2 : 1.0;
  return x;
}

// Worker k's share: the extended Rosenbrock gradient scaled by 1 + k/4.
double WorkerShare(const std::vector<double>& x, int k,
                   std::vector<double>* g) {
  const double scale = 1.0 + 0.25 * k;
  double f = 0.0;
  g->assign(kN, 0.0);
  for (int64_t i = 0; i + 1 < kN; i += 2) {
    const double t = x[i + 1] - x[i] * x[i], u = 1.0 - x[i];
    f += 100.0 * t * t + u * u;
    (*g)[i] = scale * (-400.0 * x[i] * t - 2.0 * u);
    (*g)[i + 1] = scale * 200.0 * t;
  }
  return scale * f;
}

// A one-slice group on `host` for session "dp" under `epoch`.
std::shared_ptr<ShardGroup> MakeGroup(SliceHost* host, uint64_t epoch) {
  ReplicaOptions options;
  auto replicas = std::make_shared<const Replicas>(options, host);
  absl::StatusOr<ShardLayout> layout = ShardLayout::Make(kN, 1);
  EXPECT_OK(layout.status());
  v1::CreateSliceRequest base;
  base.set_kind(v1::SLICE_KIND_LBFGS);
  base.set_memory(LbfgsOptions().memory);
  base.set_data_parallel_workers(kWorkers);
  absl::StatusOr<std::shared_ptr<ShardGroup>> group =
      ShardGroup::Create(replicas, "dp", epoch, 1, *layout, base);
  EXPECT_OK(group.status());
  return group.ok() ? *group : nullptr;
}

std::unique_ptr<Solver> OnSlices(const std::shared_ptr<ShardGroup>& group) {
  const std::vector<double> x0 = StartPoint();
  auto inner = Lbfgs::Create(
      LbfgsOptions(), ConstVectorView::Float64(x0.data(), kN),
      std::make_unique<RemoteLbfgsVectors>(group, LbfgsOptions().memory));
  EXPECT_OK(inner.status());
  auto solver = WithDataParallelOnSlices(*std::move(inner), kWorkers, group);
  EXPECT_OK(solver.status());
  return *std::move(solver);
}

std::unique_ptr<Solver> InProcess() {
  const std::vector<double> x0 = StartPoint();
  auto inner =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), kN));
  EXPECT_OK(inner.status());
  auto solver = WithDataParallel(*std::move(inner), kWorkers);
  EXPECT_OK(solver.status());
  return *std::move(solver);
}

// Tells `tells` trials (each step's workers last first, weights k + 1.5),
// numbering a step's trials from *step_id on as a session does; appends
// each step's point to `points` when its first worker tells.
void Drive(Solver& solver, ShardGroup* group, int tells, uint64_t* step_id,
           std::vector<std::vector<double>>* points) {
  std::vector<double> x(kN), g;
  int t = 0;
  while (t < tells && !solver.finished()) {
    ASSERT_EQ(solver.batch_size(), kWorkers);
    for (int k = kWorkers - 1; k >= 0 && t < tells; --k) {
      if (solver.batch_told(k)) continue;
      ASSERT_OK(
          solver.ReadBatchPoint(k, MutableVectorView::Float64(x.data(), kN)));
      if (solver.batch_untold() == kWorkers) points->push_back(x);
      TrialResult result;
      result.value = WorkerShare(x, k, &g);
      result.has_gradient = true;
      result.weight = k + 1.5;
      if (group != nullptr) group->set_told_trial(*step_id + k);
      ASSERT_OK(
          solver.SetBatchGradient(k, ConstVectorView::Float64(g.data(), kN)));
      ASSERT_OK(solver.CheckBatchResult(k, result));
      const bool last = solver.batch_untold() == 1;
      ASSERT_OK(solver.TellBatch(k, result));
      ++t;
      if (last) *step_id += kWorkers;
    }
  }
}

TEST(DataParallelOnSlices, IsBitwiseTheInProcessAdapter) {
  SliceHost host(0);
  std::shared_ptr<ShardGroup> group = MakeGroup(&host, 1);
  ASSERT_NE(group, nullptr);
  std::unique_ptr<Solver> sliced = OnSlices(group);
  std::unique_ptr<Solver> plain = InProcess();
  std::vector<std::vector<double>> sliced_points, plain_points;
  uint64_t sliced_id = 1, plain_id = 1;  // the first step's first trial
  Drive(*sliced, group.get(), 60, &sliced_id, &sliced_points);
  Drive(*plain, nullptr, 60, &plain_id, &plain_points);
  ASSERT_GT(plain_points.size(), 10u);
  ASSERT_EQ(sliced_points.size(), plain_points.size());
  for (size_t s = 0; s < plain_points.size(); ++s) {
    ASSERT_TRUE(sliced_points[s] == plain_points[s]) << "step " << s;
  }
  EXPECT_EQ(sliced->progress().evaluations, plain->progress().evaluations);
}

TEST(DataParallelOnSlices, AStepSavedInItsMiddleEndsAsIfUninterrupted) {
  SliceHost host(0);
  std::shared_ptr<ShardGroup> group = MakeGroup(&host, 1);
  ASSERT_NE(group, nullptr);
  std::unique_ptr<Solver> solver = OnSlices(group);
  std::vector<std::vector<double>> points;
  uint64_t id = 1;
  // Four whole steps and two workers of the fifth.
  Drive(*solver, group.get(), 4 * kWorkers + 2, &id, &points);
  std::string state;
  ASSERT_OK(solver->SaveState(&state));
  EXPECT_EQ(static_cast<int64_t>(state.size()), solver->StateBytes());
  std::vector<std::vector<double>> after = points;
  uint64_t restored_id = id;
  Drive(*solver, group.get(), 3 * kWorkers + 1, &id, &points);

  // A new group (epoch 2) on the same host finds the workers' staged
  // gradients (they outlive the epoch) and forms the same mean.
  std::shared_ptr<ShardGroup> rebuilt = MakeGroup(&host, 2);
  ASSERT_NE(rebuilt, nullptr);
  std::unique_ptr<Solver> restored = OnSlices(rebuilt);
  ASSERT_OK(restored->RestoreState(state));
  EXPECT_EQ(restored->batch_untold(), 1);
  Drive(*restored, rebuilt.get(), 3 * kWorkers + 1, &restored_id, &after);
  ASSERT_EQ(points.size(), 8u);  // steps 1..8, the last one begun
  ASSERT_EQ(after.size(), points.size());
  for (size_t s = 0; s < points.size(); ++s) {
    ASSERT_TRUE(after[s] == points[s]) << "step " << s;
  }
}

TEST(DataParallelOnSlices, RefusesWhatItCannotServe) {
  SliceHost host(0);
  std::shared_ptr<ShardGroup> group = MakeGroup(&host, 1);
  ASSERT_NE(group, nullptr);
  const std::vector<double> x0 = StartPoint();
  const auto inner = [&]() {
    return *Lbfgs::Create(
        LbfgsOptions(), ConstVectorView::Float64(x0.data(), kN),
        std::make_unique<RemoteLbfgsVectors>(group, LbfgsOptions().memory));
  };
  EXPECT_THAT(WithDataParallelOnSlices(inner(), 1, group).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "data_parallel.workers is 1; it must be in [2, 1024]"));
  EXPECT_THAT(WithDataParallelOnSlices(inner(), 2, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "data parallelism on slices needs the session's shard "
                       "group"));
  EXPECT_THAT(WithDataParallelOnSlices(nullptr, 2, group).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));

  std::unique_ptr<Solver> solver = OnSlices(group);
  std::string state;
  ASSERT_OK(solver->SaveState(&state));
  std::string wrong = state;
  wrong[0] = 'X';
  EXPECT_THAT(OnSlices(group)->RestoreState(wrong),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not an optd.data_parallel_slices.v1 "
                                 "state of this session: wrong tag")));
  EXPECT_THAT(
      OnSlices(group)->RestoreState(state.substr(0, state.size() - 1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("adapter words")));
  // A gradient through the home is checked there, as in-process; one the
  // client was to send the replicas (direct path) and did not is named.
  std::vector<double> g(kN, 1.0);
  EXPECT_THAT(
      solver->SetBatchGradient(2, ConstVectorView::Float64(g.data(), 3)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient has 3 elements")));
  g[4321] = std::nan("");
  EXPECT_THAT(
      solver->SetBatchGradient(2, ConstVectorView::Float64(g.data(), kN)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient[4321] is nan")));
  group->set_told_trial(3);
  ASSERT_OK(solver->SetBatchGradient(2, ConstVectorView::OnSlices(kN)));
  TrialResult told;
  told.has_gradient = true;
  told.value = 1.0;
  EXPECT_THAT(solver->CheckBatchResult(2, told),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("has no gradient slice of trial 3 for shard "
                                 "0 [0, 5000); PutSlice it there, then tell "
                                 "again")));
  // Told anything, it restores nothing.
  uint64_t id = 1;
  std::vector<std::vector<double>> points;
  Drive(*solver, group.get(), 1, &id, &points);
  EXPECT_THAT(solver->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "RestoreState needs a solver that was told nothing "
                       "yet"));
}

}  // namespace
}  // namespace optd::server
