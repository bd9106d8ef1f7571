// WithFiniteDifferencesOnSlices over a real ShardGroup whose one slice is on
// this process's SliceHost (a group puts K slices on K replicas): bitwise the
// one-process adapter (every trial's point delta, read a window at a time,
// and the iterates), forward and central, with bounds; the factory's
// refusals; and the stencil operations' errors on a slice, which change
// nothing. (K = 1..4 over real replicas and both data paths:
// tests/e2e_sharded_fd_test.cc.)
#include "server/sharding/finite_difference_slices.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sharding/remote_vectors.h"
#include "server/sharding/slice_host.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
// A central stencil of 16485 trials: its deltas take 17 windows.
constexpr int64_t kN = 2 * 4096 + 50;

std::vector<double> StartPoint() {
  std::vector<double> x(kN);
  for (int64_t i = 0; i < kN; ++i) x[i] = i % 2 == 0 ? -1.2 : 1.0 + i * 1e-4;
  return x;
}

// A separable objective, sum_i w_i (x_i - c_i)^4 + (x_i - c_i)^2, whose
// value at a stencil point is the base's with one term replaced.
double Term(int64_t i, double v) {
  const double d = v - 0.5 * static_cast<double>(i % 3), d2 = d * d;
  return (1.0 + static_cast<double>(i % 5)) * d2 * d2 + d2;
}

// A box that puts a stencil against a bound every few coordinates.
Bounds Box() {
  std::vector<double> lower(kN, -kInf), upper(kN, kInf);
  for (int64_t i = 0; i < kN; i += 7) lower[i] = -1.2;
  for (int64_t i = 3; i < kN; i += 11) upper[i] = 1.0 + i * 1e-4;
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), kN),
                     ConstVectorView::Float64(upper.data(), kN), kN);
  EXPECT_OK(box.status());
  return *std::move(box);
}

// A group of `shards` slices on `host` for session "fd<shards>".
std::shared_ptr<ShardGroup> MakeGroup(SliceHost* host, int shards) {
  ReplicaOptions options;
  auto replicas = std::make_shared<const Replicas>(options, host);
  absl::StatusOr<ShardLayout> layout = ShardLayout::Make(kN, shards);
  EXPECT_OK(layout.status());
  v1::CreateSliceRequest base;
  base.set_kind(v1::SLICE_KIND_LBFGS);
  base.set_memory(LbfgsOptions().memory);
  absl::StatusOr<std::shared_ptr<ShardGroup>> group = ShardGroup::Create(
      replicas, absl::StrCat("fd", shards), 1, 1, *layout, base);
  EXPECT_OK(group.status());
  return group.ok() ? *group : nullptr;
}

std::unique_ptr<Solver> OnSlices(const std::shared_ptr<ShardGroup>& group,
                                 const FiniteDifferenceOptions& options,
                                 Bounds bounds) {
  const std::vector<double> x0 = StartPoint();
  auto inner = Lbfgs::Create(
      LbfgsOptions(), ConstVectorView::Float64(x0.data(), kN),
      std::make_unique<RemoteLbfgsVectors>(group, LbfgsOptions().memory));
  EXPECT_OK(inner.status());
  auto solver = WithFiniteDifferencesOnSlices(*std::move(inner), options,
                                              std::move(bounds), group);
  EXPECT_OK(solver.status());
  return *std::move(solver);
}

std::unique_ptr<Solver> InProcess(const FiniteDifferenceOptions& options,
                                  Bounds bounds) {
  const std::vector<double> x0 = StartPoint();
  auto inner =
      Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x0.data(), kN));
  EXPECT_OK(inner.status());
  auto solver =
      WithFiniteDifferences(*std::move(inner), options, std::move(bounds));
  EXPECT_OK(solver.status());
  return *std::move(solver);
}

// What a run hands out: each batch's base point, every trial's moved
// coordinate and value (bit patterns), and the point after `batches`.
struct Handout {
  std::vector<std::vector<double>> bases;
  std::vector<int64_t> coordinates;
  std::vector<uint64_t> values;
};

void Drive(Solver& solver, int batches, Handout* run) {
  std::vector<double> x(kN);
  for (int b = 0; b < batches && !solver.finished(); ++b) {
    ASSERT_OK(
        solver.ReadBatchPoint(0, MutableVectorView::Float64(x.data(), kN)));
    run->bases.push_back(x);
    double f0 = 0.0;
    for (int64_t i = 0; i < kN; ++i) f0 += Term(i, x[i]);
    const int size = solver.batch_size();
    for (int k = 0; k < size; ++k) {
      TrialResult result;
      result.value = f0;
      const std::optional<PointDelta> delta = solver.BatchPointDelta(k);
      if (delta.has_value() && delta->coordinate >= 0) {
        const int64_t i = delta->coordinate;
        uint64_t bits;
        std::memcpy(&bits, &delta->value, 8);
        run->coordinates.push_back(i);
        run->values.push_back(bits);
        result.value = f0 - Term(i, x[i]) + Term(i, delta->value);
      }
      ASSERT_OK(solver.TellBatch(k, result));
    }
  }
  ASSERT_OK(solver.ReadTrialPoint(MutableVectorView::Float64(x.data(), kN)));
  run->bases.push_back(x);
}

struct Case {
  FiniteDifferenceScheme scheme;
  bool bounded;
};

class FiniteDifferenceOnSlicesTest : public ::testing::TestWithParam<Case> {};

TEST_P(FiniteDifferenceOnSlicesTest, IsBitwiseTheInProcessAdapter) {
  FiniteDifferenceOptions options;
  options.scheme = GetParam().scheme;
  const auto bounds = [&] {
    return GetParam().bounded ? Box() : Bounds::Unbounded(0);
  };
  constexpr int kBatches = 4;
  Handout expected;
  std::unique_ptr<Solver> plain = InProcess(options, bounds());
  Drive(*plain, kBatches, &expected);
  ASSERT_EQ(expected.bases.size(), kBatches + 1u);
  SliceHost host(0);
  {
    std::shared_ptr<ShardGroup> group = MakeGroup(&host, 1);
    ASSERT_NE(group, nullptr);
    std::unique_ptr<Solver> sliced = OnSlices(group, options, bounds());
    Handout run;
    Drive(*sliced, kBatches, &run);
    ASSERT_EQ(run.bases.size(), expected.bases.size());
    for (size_t b = 0; b < run.bases.size(); ++b) {
      EXPECT_EQ(
          std::memcmp(run.bases[b].data(), expected.bases[b].data(), 8 * kN), 0)
          << "batch " << b;
    }
    EXPECT_EQ(run.coordinates, expected.coordinates);
    EXPECT_EQ(run.values, expected.values);
    EXPECT_EQ(sliced->progress().evaluations, plain->progress().evaluations);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SchemesAndBounds, FiniteDifferenceOnSlicesTest,
    ::testing::Values(Case{FiniteDifferenceScheme::kCentral, false},
                      Case{FiniteDifferenceScheme::kForward, false},
                      Case{FiniteDifferenceScheme::kCentral, true},
                      Case{FiniteDifferenceScheme::kForward, true}));

TEST(FiniteDifferenceOnSlices, HoldsAValuePerTrialNotTheStencil) {
  // Central differences of n coordinates: 2n + 1 trials of a double each,
  // against the one-process adapter's x, plan and gradient besides.
  const int64_t n = 1'000'000;
  const int64_t home =
      FiniteDifferenceOnSlicesBytes(n, FiniteDifferenceScheme::kCentral, 4);
  EXPECT_EQ(home, (2 * n + 1) * 9 + 5 * 8 + 2 * kStencilPointWindow * 8);
  EXPECT_LT(home * 4,
            FiniteDifferenceBytes(n, FiniteDifferenceScheme::kCentral));
}

TEST(FiniteDifferenceOnSlices, FactoryRefusesWhatTheInProcessOneRefuses) {
  SliceHost host(0);
  std::shared_ptr<ShardGroup> group = MakeGroup(&host, 1);
  ASSERT_NE(group, nullptr);
  const std::vector<double> x0 = StartPoint();
  const auto inner = [&] {
    auto lbfgs = Lbfgs::Create(
        LbfgsOptions(), ConstVectorView::Float64(x0.data(), kN),
        std::make_unique<RemoteLbfgsVectors>(group, LbfgsOptions().memory));
    EXPECT_OK(lbfgs.status());
    return *std::move(lbfgs);
  };
  FiniteDifferenceOptions bad;
  bad.relative_step = 0.5;
  EXPECT_THAT(
      WithFiniteDifferencesOnSlices(inner(), bad, Bounds(), group).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "finite_difference.relative_step is 0.5; it must be in (0, "
               "0.1], or unset (NaN) for the default"));
  EXPECT_THAT(
      WithFiniteDifferencesOnSlices(inner(), {}, Bounds(), nullptr).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("need the session's shard group")));
  EXPECT_THAT(
      WithFiniteDifferencesOnSlices(inner(), {}, Bounds::Unbounded(3), group)
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bounds")));
}

// ---------------------------------------------------------------------------
// The stencil operations on one slice (SliceHost::Apply).

constexpr int64_t kSliceN = 5000;  // the slice [4096, 5000)

v1::SliceOpBatch Batch(std::vector<v1::SliceOpRequest> ops) {
  v1::SliceOpBatch batch;
  batch.mutable_key()->set_session_id("s");
  batch.mutable_key()->set_epoch(1);
  batch.mutable_key()->set_shard(1);
  for (v1::SliceOpRequest& op : ops) *batch.add_ops() = std::move(op);
  return batch;
}

v1::SliceOpRequest Op(v1::SliceOp kind, std::vector<double> scalars = {}) {
  v1::SliceOpRequest op;
  op.set_op(kind);
  for (double s : scalars) op.add_scalars(s);
  return op;
}

class StencilOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::CreateSliceRequest request;
    *request.mutable_key() = Batch({}).key();
    request.set_kind(v1::SLICE_KIND_LBFGS);
    request.set_dimension(kSliceN);
    request.set_begin(4096);
    request.set_end(kSliceN);
    request.set_memory(3);
    ASSERT_OK(host_.Create(request));
    // The slice's trial point: 1, 2, 3, ...
    std::vector<double> x(kSliceN - 4096);
    for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0 + i;
    v1::SliceOpRequest set = Op(v1::SLICE_OP_SET_TRIAL_POINT);
    set.set_seq(1);
    set.set_data(reinterpret_cast<const char*>(x.data()), 8 * x.size());
    v1::SliceOpResponse answer;
    ASSERT_OK(host_.Apply(Batch({set}), &answer));
  }
  absl::Status Apply(v1::SliceOpRequest op, v1::SliceOpResponse* answer) {
    return host_.Apply(Batch({std::move(op)}), answer);
  }
  // Points of the plan now, and the first one's delta.
  void ExpectPlan(int64_t points, double first_value) {
    v1::SliceOpResponse answer;
    ASSERT_OK(Apply(Op(v1::SLICE_OP_STENCIL_POINTS, {0, 1}), &answer));
    ASSERT_EQ(answer.sums_size(), 2);
    EXPECT_EQ(answer.sums(0), 4096);
    EXPECT_EQ(answer.sums(1), first_value);
    EXPECT_THAT(
        Apply(Op(v1::SLICE_OP_STENCIL_POINTS, {static_cast<double>(points), 1}),
              &answer),
        StatusIs(absl::StatusCode::kInvalidArgument));
  }

  SliceHost host_{0};
};

TEST_F(StencilOpsTest, PlansPointsAndTheGradientOfItsRange) {
  v1::SliceOpResponse answer;
  ASSERT_OK(Apply(Op(v1::SLICE_OP_STENCIL_PLAN, {1, 1e-3}), &answer));
  ASSERT_EQ(answer.sums_size(), 1);
  EXPECT_EQ(answer.sums(0), kSliceN - 4096);  // forward: a point each
  ExpectPlan(kSliceN - 4096, 1.0 + 1e-3);
  // f = sum x: every forward difference is (f0 + h - f0) / h.
  v1::SliceOpRequest check = Op(v1::SLICE_OP_STENCIL_CHECK);
  check.add_stencil_values(0.0);
  for (int64_t i = 0; i < kSliceN - 4096; ++i) {
    check.add_stencil_values(i == 10 ? std::nan("") : 1.0);
  }
  ASSERT_OK(Apply(check, &answer));
  EXPECT_EQ(answer.bad_index(), 4096 + 10);
  check.set_stencil_values(11, 1.0);
  ASSERT_OK(Apply(check, &answer));
  EXPECT_EQ(answer.bad_index(), -1);
}

TEST_F(StencilOpsTest, RefusesMalformedArgumentsAndChangesNothing) {
  v1::SliceOpResponse answer;
  // Before a plan: no points, no values.
  EXPECT_THAT(Apply(Op(v1::SLICE_OP_STENCIL_POINTS, {0, 1}), &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "slice operation SLICE_OP_STENCIL_POINTS: no stencil "
                       "is planned on this slice (SLICE_OP_STENCIL_PLAN "
                       "first)"));
  v1::SliceOpRequest gradient = Op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
  gradient.set_seq(2);
  gradient.add_stencil_values(0.0);
  EXPECT_THAT(Apply(gradient, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no stencil is planned")));

  ASSERT_OK(Apply(Op(v1::SLICE_OP_STENCIL_PLAN, {0, 1e-3}), &answer));
  const int64_t points = 2 * (kSliceN - 4096);  // central
  EXPECT_EQ(answer.sums(0), points);
  const double first = 1.0 - 1e-3;  // x - h
  // Each refusal leaves that plan.
  EXPECT_THAT(Apply(Op(v1::SLICE_OP_STENCIL_PLAN, {0}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_STENCIL_PLAN: has 1 scalars; "
                       "it takes 2 (scheme, relative_step)"));
  ExpectPlan(points, first);
  EXPECT_THAT(Apply(Op(v1::SLICE_OP_STENCIL_PLAN, {2, 1e-3}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_STENCIL_PLAN: scheme is 2; "
                       "it is 0 (central) or 1 (forward)"));
  EXPECT_THAT(Apply(Op(v1::SLICE_OP_STENCIL_PLAN, {1, 0.5}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_STENCIL_PLAN: relative_step "
                       "is 0.5; it must be in (0, 0.1] (resolved, not NaN)"));
  v1::SliceOpRequest box = Op(v1::SLICE_OP_STENCIL_PLAN, {1, 1e-3});
  box.set_data(std::string(80, '\0'));
  EXPECT_THAT(Apply(box, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_STENCIL_PLAN: data has 80 "
                       "bytes; the slice [4096, 5000) needs 0 (no bounds) "
                       "or 14464 (its lower and upper bounds, float64)"));
  ExpectPlan(points, first);
  EXPECT_THAT(
      Apply(Op(v1::SLICE_OP_STENCIL_POINTS, {0.5, 1}), &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "slice operation SLICE_OP_STENCIL_POINTS: points [0.5, 1.5) "
               "are not within the slice's 1808 stencil points, or more "
               "than 65536 at once"));
  EXPECT_THAT(Apply(Op(v1::SLICE_OP_STENCIL_POINTS, {0}), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has 1 scalars; it takes 2 (first, count)")));
  v1::SliceOpRequest check = Op(v1::SLICE_OP_STENCIL_CHECK);
  check.add_stencil_values(0.0);
  EXPECT_THAT(Apply(check, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_STENCIL_CHECK: "
                       "stencil_values has 1 values; the slice's stencil "
                       "takes 1809 (f(x), then its 1808 points)"));
  // The refused gradient did not count its sequence number, nor change the
  // trial gradient: operation 2 is still the next one.
  EXPECT_THAT(Apply(gradient, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stencil_values has 1 values")));
  for (int64_t j = 0; j < points; ++j) gradient.add_stencil_values(2.0);
  ASSERT_OK(Apply(gradient, &answer));
  EXPECT_EQ(answer.bad_index(), -1);
  // Operation 3 is next now (the gradient counted).
  v1::SliceOpRequest next = Op(v1::SLICE_OP_CLEAR_MEMORY);
  next.set_seq(4);
  EXPECT_THAT(Apply(next, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is at operation 2")));
}

}  // namespace
}  // namespace optd::server
