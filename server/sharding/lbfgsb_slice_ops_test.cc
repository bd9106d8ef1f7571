// L-BFGS-B over a slice served by a SliceHost (SLICE_KIND_LBFGSB,
// slice_ops_lbfgsb.cc, RemoteLbfgsbVectors): the same trial points, curvature
// pairs and end, bit for bit, as the in-process L-BFGS-B, through every
// operation's wire format, with x0 projected and bounds active at the end;
// and the rows' answers and refusals, which change nothing. (K = 1..4 over
// real replicas, both data paths, kill -9 and resharding:
// tests/e2e_sharding_test.cc.)
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sharding/remote_lbfgsb_vectors.h"
#include "server/sharding/slice_host.h"
#include "server/sharding/slice_ops.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/lbfgsb/lbfgsb.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
// Three reduction blocks.
constexpr int64_t kN = 2 * 4096 + 50;

std::vector<double> StartPoint() {
  std::vector<double> x(kN);
  for (int64_t i = 0; i < kN; ++i) x[i] = i % 2 == 0 ? -1.2 : 1.0;
  return x;
}

// Extended Rosenbrock (Moré, Garbow & Hillstrom 1981, problem 21) over the
// pairs (x_2i, x_2i+1), with weights that vary by pair so that the
// breakpoints of the Cauchy search do not tie.
double Objective(const std::vector<double>& x, std::vector<double>* g) {
  double f = 0.0;
  g->assign(x.size(), 0.0);
  for (int64_t i = 0; i + 1 < kN; i += 2) {
    const double w = 1.0 + 0.001 * static_cast<double>(i % 97);
    const double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
    f += w * (100.0 * a * a + b * b);
    (*g)[i] += w * (-400.0 * a * x[i] - 2.0 * b);
    (*g)[i + 1] += w * 200.0 * a;
  }
  return f;
}

// x_2i <= 0.8 on every third pair (active at the solution, x = 1), x_2i+1 >=
// -0.5 everywhere (x0 = 1 is inside), and x_2i >= -1 on every fifth pair
// (x0 = -1.2 is outside: projected).
Bounds Box() {
  std::vector<double> lower(kN, -kInf), upper(kN, kInf);
  for (int64_t i = 0; i + 1 < kN; i += 2) {
    if ((i / 2) % 3 == 0) upper[i] = 0.8;
    if ((i / 2) % 5 == 0) lower[i] = -1.0;
    lower[i + 1] = -0.5;
  }
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), kN),
                     ConstVectorView::Float64(upper.data(), kN), kN);
  EXPECT_OK(box.status());
  return *std::move(box);
}

// A group of `shards` L-BFGS-B slices on `host`.
std::shared_ptr<ShardGroup> MakeGroup(SliceHost* host, int shards, int memory) {
  ReplicaOptions options;
  auto replicas = std::make_shared<const Replicas>(options, host);
  absl::StatusOr<ShardLayout> layout = ShardLayout::Make(kN, shards);
  EXPECT_OK(layout.status());
  v1::CreateSliceRequest base;
  base.set_kind(v1::SLICE_KIND_LBFGSB);
  base.set_memory(memory);
  absl::StatusOr<std::shared_ptr<ShardGroup>> group = ShardGroup::Create(
      replicas, absl::StrCat("lbfgsb", shards), 1, 1, *layout, base);
  EXPECT_OK(group.status());
  return group.ok() ? *group : nullptr;
}

// Every trial point handed out over `trials` tells, as bit patterns, then
// the final point, the reason and the pairs held.
struct RunTrace {
  std::vector<std::vector<uint64_t>> points;
  std::string message;
  int64_t iterations = 0;
  std::vector<std::vector<double>> s, y;
};

std::vector<uint64_t> Bits(const std::vector<double>& x) {
  std::vector<uint64_t> bits(x.size());
  std::memcpy(bits.data(), x.data(), x.size() * 8);
  return bits;
}

void Drive(Solver& solver, int trials, RunTrace* run) {
  std::vector<double> x(kN), g;
  for (int t = 0; t < trials && !solver.finished(); ++t) {
    ASSERT_OK(solver.ReadTrialPoint(MutableVectorView::Float64(x.data(), kN)));
    run->points.push_back(Bits(x));
    TrialResult result;
    result.value = Objective(x, &g);
    result.has_gradient = true;
    ASSERT_OK(solver.SetTrialGradient(ConstVectorView::Float64(g.data(), kN)));
    ASSERT_OK(solver.Tell(result));
  }
  ASSERT_OK(solver.ReadBestPoint(MutableVectorView::Float64(x.data(), kN)));
  run->points.push_back(Bits(x));
  run->message = solver.summary().message;
  run->iterations = solver.progress().iterations;
  ASSERT_OK(solver.ReadCurvaturePairs(&run->s, &run->y));
}

constexpr int kTrials = 150;

TEST(LbfgsbSliceOps, ASliceOnAHostIsBitwiseTheInProcessSolver) {
  LbfgsOptions options;
  options.memory = 5;
  const std::vector<double> x0 = StartPoint();
  RunTrace expected;
  {
    auto solver =
        LbfgsB::Create(options, ConstVectorView::Float64(x0.data(), kN), Box());
    ASSERT_OK(solver.status());
    EXPECT_TRUE((*solver)->x0_projected());
    Drive(**solver, kTrials, &expected);
  }
  ASSERT_GT(expected.iterations, 10);
  ASSERT_EQ(expected.s.size(), 5u);
  // The run ends against the box: x_0 <= 0.8 holds with equality.
  double x_first;
  std::memcpy(&x_first, &expected.points.back()[0], 8);
  EXPECT_EQ(x_first, 0.8);

  // One slice over the wire format (a group puts K slices on K replicas;
  // K = 1..4 over real replicas: tests/e2e_sharding_test.cc).
  SliceHost host(0);
  std::shared_ptr<ShardGroup> group = MakeGroup(&host, 1, options.memory);
  ASSERT_NE(group, nullptr);
  absl::StatusOr<std::unique_ptr<RemoteLbfgsbVectors>> vectors =
      RemoteLbfgsbVectors::Create(group, options.memory, Box());
  ASSERT_OK(vectors.status());
  auto solver = LbfgsB::Create(options, ConstVectorView::Float64(x0.data(), kN),
                               Box(), *std::move(vectors));
  ASSERT_OK(solver.status());
  EXPECT_TRUE((*solver)->x0_projected());
  RunTrace got;
  const int64_t trips_before = group->round_trips();
  Drive(**solver, kTrials, &got);
  // What an evaluation costs in round trips to the slices, for the docs.
  std::cout << "round_trips_per_trial="
            << static_cast<double>(group->round_trips() - trips_before) /
                   static_cast<double>(got.points.size() - 1)
            << " iterations=" << got.iterations << "\n";
  ASSERT_EQ(got.points.size(), expected.points.size());
  for (size_t t = 0; t < got.points.size(); ++t) {
    ASSERT_TRUE(got.points[t] == expected.points[t]) << "trial " << t;
  }
  EXPECT_EQ(got.message, expected.message);
  EXPECT_EQ(got.iterations, expected.iterations);
  EXPECT_EQ(got.s, expected.s);
  EXPECT_EQ(got.y, expected.y);
}

// --- The rows on one SliceSolver -------------------------------------------

constexpr int64_t kSmall = 6;

std::unique_ptr<SliceSolver> MakeSlice(int memory = 3) {
  v1::CreateSliceRequest request;
  request.set_kind(v1::SLICE_KIND_LBFGSB);
  request.set_dimension(kSmall);
  request.set_begin(0);
  request.set_end(kSmall);
  request.set_memory(memory);
  absl::StatusOr<std::unique_ptr<SliceSolver>> solver =
      SliceSolver::Create(request);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return solver.ok() ? *std::move(solver) : nullptr;
}

std::string Bytes(const std::vector<double>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(double));
}

v1::SliceOpRequest Op(v1::SliceOp op, std::vector<double> scalars = {},
                      std::vector<int64_t> integers = {}) {
  v1::SliceOpRequest request;
  request.set_op(op);
  request.mutable_scalars()->Assign(scalars.begin(), scalars.end());
  request.mutable_integers()->Assign(integers.begin(), integers.end());
  return request;
}

std::string Read(SliceSolver& solver, v1::SliceOp op) {
  v1::SliceOpResponse answer;
  EXPECT_OK(solver.Apply(Op(op), &answer));
  return answer.data();
}

// A slice with a box, x0 set and activated, and one gradient accepted.
std::unique_ptr<SliceSolver> Started() {
  std::unique_ptr<SliceSolver> solver = MakeSlice();
  v1::SliceOpResponse answer;
  v1::SliceOpRequest bounds = Op(v1::SLICE_OP_SET_BOUNDS);
  bounds.set_data(Bytes({-1, -1, -1, -kInf, -kInf, -kInf}) +
                  Bytes({1, 1, 1, 0.5, kInf, kInf}));
  EXPECT_OK(solver->Apply(bounds, &answer));
  v1::SliceOpRequest x0 = Op(v1::SLICE_OP_SET_TRIAL_POINT);
  x0.set_data(Bytes({0.5, -2.0, 0.25, 0.0, 3.0, -4.0}));
  EXPECT_OK(solver->Apply(x0, &answer));
  EXPECT_OK(solver->Apply(Op(v1::SLICE_OP_LBFGSB_ACTIVATE), &answer));
  EXPECT_EQ(answer.counts_size(), 3);
  EXPECT_EQ(answer.counts(0), 1);  // x_1 = -2 was projected to -1
  EXPECT_EQ(answer.counts(1), 1);  // constrained
  EXPECT_EQ(answer.counts(2), 0);  // not every variable is boxed
  v1::SliceOpRequest g = Op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
  g.set_data(Bytes({1.0, -2.0, 0.5, -1.0, 2.0, 0.25}));
  answer.Clear();
  EXPECT_OK(solver->Apply(g, &answer));
  EXPECT_EQ(answer.bad_index(), -1);
  EXPECT_OK(solver->Apply(Op(v1::SLICE_OP_LBFGSB_ACCEPT_INITIAL), &answer));
  return solver;
}

TEST(LbfgsbSliceOps, TheRowsAnswerInTheLayoutsTheProtoGives) {
  std::unique_ptr<SliceSolver> solver = Started();
  v1::SliceOpResponse answer;
  ASSERT_OK(
      solver->Apply(Op(v1::SLICE_OP_LBFGSB_PROJECTED_GRADIENT_NORM), &answer));
  ASSERT_EQ(answer.sums_size(), 1);
  // |P(x - g) - x| with x = (0.5, -1, 0.25, 0, 3, -4) (x_1 projected) and
  // g = (1, -2, 0.5, -1, 2, 0.25): 1, 2, 0.5, 0.5 (clipped at the upper
  // bound 0.5), 2, 0.25; the largest is 2.
  EXPECT_EQ(answer.sums(0), 2.0);

  answer.Clear();
  ASSERT_OK(solver->Apply(Op(v1::SLICE_OP_LBFGSB_CAUCHY_START), &answer));
  ASSERT_EQ(answer.counts_size(), 3);
  EXPECT_EQ(answer.counts(0), 4);     // x_0..x_3 have a breakpoint
  EXPECT_EQ(answer.quantities(), 1);  // f1 alone: no pairs yet

  answer.Clear();
  ASSERT_OK(
      solver->Apply(Op(v1::SLICE_OP_LBFGSB_BREAKPOINTS, {}, {0, 64}), &answer));
  ASSERT_EQ(answer.counts_size(), 2);
  EXPECT_EQ(answer.counts(0), 4);
  EXPECT_EQ(answer.counts(1), 0);  // w is empty without pairs
  ASSERT_EQ(answer.data().size(), 4u * 5 * 8);
  // In (t, index) order: t = (x - bound) / g, so x_3 (t = 0.5 / 1) ties
  // none, x_2 (1.25 / 0.5 = 2.5), x_0 (1.5), x_1 (2 / 2 = 1).
  std::vector<int64_t> order;
  for (int k = 0; k < 4; ++k) {
    int64_t index;
    std::memcpy(&index, answer.data().data() + k * 40 + 8, 8);
    order.push_back(index);
  }
  EXPECT_THAT(order, ::testing::ElementsAre(3, 1, 0, 2));
}

TEST(LbfgsbSliceOps, MalformedArgumentsAreRefusedAndChangeNothing) {
  std::unique_ptr<SliceSolver> solver = Started();
  const std::string point = Read(*solver, v1::SLICE_OP_READ_POINT);
  const std::string gradient = Read(*solver, v1::SLICE_OP_READ_GRADIENT);
  v1::SliceOpResponse answer;
  struct Bad {
    v1::SliceOpRequest op;
    const char* message;
  };
  v1::SliceOpRequest inverted = Op(v1::SLICE_OP_SET_BOUNDS);
  inverted.set_data(Bytes({0, 0, 2, 0, 0, 0}) + Bytes({1, 1, 1, 1, 1, 1}));
  v1::SliceOpRequest short_box = Op(v1::SLICE_OP_SET_BOUNDS);
  short_box.set_data(Bytes({0, 0, 0}));
  v1::SliceOpRequest backtrack_without_index =
      Op(v1::SLICE_OP_LBFGSB_SUBSPACE_BACKTRACK, {0.5});
  const std::vector<Bad> cases = {
      {inverted, "lower bound 2 is not <= upper bound 1 at index 2"},
      {short_box, "needs 96 (its lower and upper bounds, float64)"},
      {Op(v1::SLICE_OP_LBFGSB_BREAKPOINTS, {}, {0}),
       "has 1 integers; it takes 2 (from, count)"},
      {Op(v1::SLICE_OP_LBFGSB_BREAKPOINTS, {}, {-1, 4}),
       "from must be >= 0 and count in [0, 65536]"},
      {Op(v1::SLICE_OP_LBFGSB_BREAKPOINTS, {}, {0, 1 << 20}),
       "from must be >= 0 and count in [0, 65536]"},
      {Op(v1::SLICE_OP_LBFGSB_READ_PAIR, {}, {0}),
       "asks for pair 0; the slice holds 0"},
      {Op(v1::SLICE_OP_LBFGSB_REDUCED_GRADIENT, {1.0, 2.0}),
       "has 2 scalars; it takes 1 + 2 x 0"},
      {Op(v1::SLICE_OP_LBFGSB_SUBSPACE_STEP, {}),
       "has 0 scalars; it takes 1 + 2 x 0"},
      {Op(v1::SLICE_OP_LBFGSB_CAUCHY_FINISH, {0.0, 0.0}),
       "has 0 integers; it takes 1 (last_index)"},
      {Op(v1::SLICE_OP_LBFGSB_CAUCHY_FINISH, {0.0}, {3}),
       "has 1 scalars; it takes 2 (last_t, tsum)"},
      {backtrack_without_index, "has 0 integers; it takes 1 (alpha_index)"},
      {Op(v1::SLICE_OP_FORM_STEP, {1.0}), "is not an L-BFGS-B operation"},
  };
  for (const Bad& bad : cases) {
    SCOPED_TRACE(v1::SliceOp_Name(bad.op.op()));
    EXPECT_THAT(
        solver->Apply(bad.op, &answer),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad.message)));
  }
  v1::SliceOpRequest formk = Op(v1::SLICE_OP_LBFGSB_FORMK_SUMS);
  formk.set_flag(true);
  EXPECT_THAT(solver->Apply(formk, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("updated is set but the slice holds no "
                                 "pairs")));
  EXPECT_EQ(Read(*solver, v1::SLICE_OP_READ_POINT), point);
  EXPECT_EQ(Read(*solver, v1::SLICE_OP_READ_GRADIENT), gradient);

  // The box was not replaced: x stays projected onto [-1, 1] at x_1.
  v1::SliceOpRequest x0 = Op(v1::SLICE_OP_SET_TRIAL_POINT);
  x0.set_data(Bytes({0.5, -2.0, 0.25, 0.0, 3.0, -4.0}));
  ASSERT_OK(solver->Apply(x0, &answer));
  ASSERT_OK(solver->Apply(Op(v1::SLICE_OP_LBFGSB_ACTIVATE), &answer));
  EXPECT_EQ(Read(*solver, v1::SLICE_OP_READ_POINT), point);
}

TEST(LbfgsbSliceOps, TheSliceSavesNoStateAndNeedsAPair) {
  std::unique_ptr<SliceSolver> solver = Started();
  std::string state;
  EXPECT_THAT(solver->SaveState(&state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("an L-BFGS-B slice has no saved state; its "
                                 "session is rebuilt by replaying its "
                                 "tells")));
  EXPECT_THAT(solver->LoadState("x"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  v1::CreateSliceRequest request;
  request.set_kind(v1::SLICE_KIND_LBFGSB);
  request.set_dimension(kSmall);
  request.set_begin(0);
  request.set_end(kSmall);
  request.set_memory(0);
  EXPECT_THAT(SliceSolver::Create(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("memory is 0; an L-BFGS-B slice keeps at "
                                 "least 1 pair")));
}

}  // namespace
}  // namespace optd::server
