// The Lanczos rows of slice_ops.cc (SLICE_KIND_LANCZOS): the same numbers as
// the in-process LanczosSlice, and the refusals, which change nothing.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sharding/slice_ops.h"
#include "solvers/sharding/lanczos_slice.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kN = 5;

std::unique_ptr<SliceSolver> MakeLanczos(bool gradients) {
  v1::CreateSliceRequest request;
  request.set_kind(v1::SLICE_KIND_LANCZOS);
  request.set_dimension(kN);
  request.set_begin(0);
  request.set_end(kN);
  request.set_lanczos_gradients(gradients);
  absl::StatusOr<std::unique_ptr<SliceSolver>> solver =
      SliceSolver::Create(request);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return *std::move(solver);
}

v1::SliceOpRequest Op(v1::SliceOp op, std::vector<double> scalars = {}) {
  v1::SliceOpRequest request;
  request.set_op(op);
  request.mutable_scalars()->Assign(scalars.begin(), scalars.end());
  return request;
}

std::string Bytes(const std::vector<double>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(double));
}

std::string ReadVector(SliceSolver& solver) {
  v1::SliceOpResponse answer;
  EXPECT_TRUE(solver.Apply(Op(v1::SLICE_OP_READ_DIRECTION), &answer).ok());
  return answer.data();
}

TEST(LanczosSliceOps, RowsAnswerWhatTheSliceComputes) {
  const std::vector<double> x = {1.0, -2.0, 0.5, 3.0, 0.25};
  const std::vector<double> hq = {0.3, 0.1, -0.7, 2.0, 1.5};
  std::unique_ptr<SliceSolver> solver = MakeLanczos(false);
  LanczosSlice slice({0, kN}, kN, false);
  slice.SetPoint(ConstVectorView::Float64(x.data(), kN));
  v1::SliceOpRequest set = Op(v1::SLICE_OP_SET_TRIAL_POINT);
  set.set_data(Bytes(x));
  v1::SliceOpResponse answer;
  ASSERT_OK(solver->Apply(set, &answer));
  EXPECT_EQ(answer.bad_index(), -1);

  v1::SliceOpRequest start = Op(v1::SLICE_OP_LANCZOS_RADEMACHER);
  start.set_flag(true);
  start.set_lanczos_position(3);
  answer.Clear();
  ASSERT_OK(solver->Apply(start, &answer));
  const BlockPartials expected = slice.Rademacher(true, 3);
  EXPECT_EQ(answer.quantities(), 1);
  ASSERT_EQ(answer.partials_size(), 1);
  EXPECT_EQ(answer.partials(0), expected.at(0, 0));

  ASSERT_OK(
      solver->Apply(Op(v1::SLICE_OP_LANCZOS_NEXT_VECTOR, {2.0}), &answer));
  slice.NextVector(2.0);
  std::vector<double> q(kN);
  slice.ReadVector(MutableVectorView::Float64(q.data(), kN));
  EXPECT_EQ(ReadVector(*solver), Bytes(q));

  v1::SliceOpRequest product = Op(v1::SLICE_OP_SET_PRODUCT);
  product.set_data(Bytes(hq));
  ASSERT_OK(solver->Apply(product, &answer));
  slice.SetProduct(ConstVectorView::Float64(hq.data(), kN));
  answer.Clear();
  ASSERT_OK(solver->Apply(Op(v1::SLICE_OP_LANCZOS_PUSH_BASIS), &answer));
  EXPECT_EQ(answer.partials(0), slice.PushBasis().at(0, 0));
  answer.Clear();
  ASSERT_OK(
      solver->Apply(Op(v1::SLICE_OP_LANCZOS_RESIDUAL, {0.5, 0.0}), &answer));
  const BlockPartials residual = slice.Residual(0.5, 0.0);
  ASSERT_EQ(answer.quantities(), 2);
  EXPECT_EQ(answer.partials(0), residual.at(0, 0));
  EXPECT_EQ(answer.partials(1), residual.at(0, 1));

  answer.Clear();
  ASSERT_OK(solver->Apply(Op(v1::SLICE_OP_LANCZOS_LEAST_COVERED), &answer));
  const LeastCovered least = slice.LeastCoveredCoordinate();
  EXPECT_EQ(answer.least_index(), least.index);
  ASSERT_EQ(answer.sums_size(), 1);
  EXPECT_EQ(answer.sums(0), least.value);

  answer.Clear();
  v1::SliceOpRequest shifted = Op(v1::SLICE_OP_READ_TRIAL_POINT, {0.25});
  ASSERT_OK(solver->Apply(shifted, &answer));
  std::vector<double> expected_point(kN);
  slice.ReadShiftedPoint(0.25,
                         MutableVectorView::Float64(expected_point.data(), kN));
  EXPECT_EQ(answer.data(), Bytes(expected_point));
}

TEST(LanczosSliceOps, RefusalsNameTheOperationAndChangeNothing) {
  std::unique_ptr<SliceSolver> solver = MakeLanczos(false);
  v1::SliceOpRequest start = Op(v1::SLICE_OP_LANCZOS_RADEMACHER);
  start.set_flag(true);
  v1::SliceOpResponse answer;
  ASSERT_OK(solver->Apply(start, &answer));
  ASSERT_OK(
      solver->Apply(Op(v1::SLICE_OP_LANCZOS_NEXT_VECTOR, {1.0}), &answer));
  const std::string before = ReadVector(*solver);

  EXPECT_THAT(
      solver->Apply(Op(v1::SLICE_OP_LANCZOS_ORTHOGONALIZE, {1.0, 2.0}),
                    &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "slice operation SLICE_OP_LANCZOS_ORTHOGONALIZE: has 2 "
               "scalars; it takes 0 (one coefficient per basis column)"));
  EXPECT_THAT(
      solver->Apply(Op(v1::SLICE_OP_LANCZOS_RESIDUAL, {1.0}), &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "slice operation SLICE_OP_LANCZOS_RESIDUAL: has 1 scalars; it "
               "takes 2 (alpha, beta)"));
  v1::SliceOpRequest gradient = Op(v1::SLICE_OP_SET_TRIAL_GRADIENT);
  gradient.set_data(Bytes(std::vector<double>(kN, 1.0)));
  EXPECT_THAT(solver->Apply(gradient, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_SET_TRIAL_GRADIENT: the "
                       "Lanczos slice holds no gradients (lanczos_gradients "
                       "false: Hessian-vector products)"));
  EXPECT_THAT(
      solver->Apply(Op(v1::SLICE_OP_LANCZOS_DIFFERENCE_PRODUCT, {0.1}),
                    &answer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "slice operation SLICE_OP_LANCZOS_DIFFERENCE_PRODUCT: the "
               "Lanczos slice holds no gradients"));
  EXPECT_THAT(solver->Apply(Op(v1::SLICE_OP_ADAM_STEP), &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "slice operation SLICE_OP_ADAM_STEP: is not a Lanczos "
                       "operation"));
  std::string state;
  EXPECT_THAT(solver->SaveState(&state),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "a Lanczos slice has no saved state; its diagnosis is "
                       "rebuilt by replaying its tells"));
  EXPECT_THAT(solver->LoadState("x"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no saved state")));
  EXPECT_EQ(ReadVector(*solver), before);
}

}  // namespace
}  // namespace optd::server
