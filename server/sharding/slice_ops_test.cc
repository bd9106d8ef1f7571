#include "server/sharding/slice_ops.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::server {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<SliceSolver> Make(v1::SliceKind kind, bool cg_vectors = true) {
  v1::CreateSliceRequest request;
  request.set_kind(kind);
  request.set_dimension(4);
  request.set_begin(0);
  request.set_end(4);
  request.set_memory(2);
  request.set_cg_vectors(cg_vectors);
  absl::StatusOr<std::unique_ptr<SliceSolver>> solver =
      SliceSolver::Create(request);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return *std::move(solver);
}

absl::Status ApplyOp(SliceSolver& solver, v1::SliceOp op) {
  v1::SliceOpRequest request;
  request.set_op(op);
  v1::SliceOpResponse answer;
  return solver.Apply(request, &answer);
}

TEST(SliceOps, EachKindRefusesTheOperationsOfTheOthers) {
  EXPECT_THAT(
      ApplyOp(*Make(v1::SLICE_KIND_LBFGS), v1::SLICE_OP_ADAM_STEP).message(),
      HasSubstr("SLICE_OP_ADAM_STEP: is not an L-BFGS operation"));
  EXPECT_THAT(
      ApplyOp(*Make(v1::SLICE_KIND_TRUST_REGION), v1::SLICE_OP_FORM_TRIAL)
          .message(),
      HasSubstr("SLICE_OP_FORM_TRIAL: is not a trust-region operation"));
  EXPECT_THAT(
      ApplyOp(*Make(v1::SLICE_KIND_ADAM), v1::SLICE_OP_CG_START).message(),
      HasSubstr("SLICE_OP_CG_START: is not an Adam operation"));
  EXPECT_THAT(ApplyOp(*Make(v1::SLICE_KIND_ADAFACTOR), v1::SLICE_OP_ADAM_STEP)
                  .message(),
              HasSubstr("SLICE_OP_ADAM_STEP: is not an Adafactor operation"));
  EXPECT_THAT(
      ApplyOp(*Make(v1::SLICE_KIND_ADAM), v1::SLICE_OP_ADAFACTOR_STATISTICS)
          .message(),
      HasSubstr("SLICE_OP_ADAFACTOR_STATISTICS: is not an Adam "
                "operation"));
}

TEST(SliceOps, CgOperationsNeedTheCgVectors) {
  std::unique_ptr<SliceSolver> quasi_newton =
      Make(v1::SLICE_KIND_TRUST_REGION, /*cg_vectors=*/false);
  EXPECT_THAT(ApplyOp(*quasi_newton, v1::SLICE_OP_CG_START).message(),
              HasSubstr("needs the CG vectors"));
  EXPECT_TRUE(ApplyOp(*quasi_newton, v1::SLICE_OP_TR_REDUCE_TRIAL).ok());
  EXPECT_TRUE(
      ApplyOp(*Make(v1::SLICE_KIND_TRUST_REGION), v1::SLICE_OP_CG_START).ok());
}

TEST(SliceOps, StateRoundTripsForEveryKind) {
  for (v1::SliceKind kind : {v1::SLICE_KIND_LBFGS, v1::SLICE_KIND_TRUST_REGION,
                             v1::SLICE_KIND_ADAM, v1::SLICE_KIND_ADAFACTOR}) {
    std::unique_ptr<SliceSolver> solver = Make(kind);
    std::string state;
    ASSERT_TRUE(solver->SaveState(&state).ok());
    EXPECT_TRUE(solver->LoadState(state).ok()) << kind;
    EXPECT_GT(solver->bytes(), 0);
  }
}

TEST(SliceOps, AdamStepsOfParameterGroupsRoundTrip) {
  AdamStepScalars first, second;
  first.step_size = 0.25;
  second.step_size = 0.5;
  second.eps = 1e-6;
  second.method = ElementwiseMethod::kRmsprop;
  second.centered = true;
  second.momentum = 0.9;
  google::protobuf::RepeatedField<double> packed;
  // One segment over everything: the 25 scalars of a step without groups.
  const AdamSegmentStep all{0, 7, first};
  AdamSegmentsToProto(absl::MakeConstSpan(&all, 1), 7, &packed);
  EXPECT_EQ(packed.size(), 25);
  std::vector<AdamSegmentStep> segments;
  ASSERT_TRUE(AdamSegmentsFromProto(packed, {2, 5}, &segments).ok());
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0].begin, 2);
  EXPECT_EQ(segments[0].end, 5);
  EXPECT_EQ(segments[0].scalars.step_size, 0.25);
  EXPECT_EQ(segments[0].scalars.method, ElementwiseMethod::kAdam);

  const std::vector<AdamSegmentStep> groups{{0, 3, first}, {3, 7, second}};
  AdamSegmentsToProto(groups, 7, &packed);
  EXPECT_EQ(packed.size(), 54);
  ASSERT_TRUE(AdamSegmentsFromProto(packed, {2, 5}, &segments).ok());
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_EQ(segments[1].begin, 3);
  EXPECT_EQ(segments[1].end, 7);
  EXPECT_EQ(segments[1].scalars.step_size, 0.5);
  EXPECT_EQ(segments[1].scalars.eps, 1e-6);
  EXPECT_EQ(segments[1].scalars.method, ElementwiseMethod::kRmsprop);
  EXPECT_TRUE(segments[1].scalars.centered);
  EXPECT_EQ(segments[1].scalars.momentum, 0.9);

  packed.Add(1.0);
  EXPECT_THAT(
      std::string(AdamSegmentsFromProto(packed, {2, 5}, &segments).message()),
      HasSubstr("SLICE_OP_ADAM_STEP has 55 scalars; it takes 25, or "
                "27 per parameter group"));
  packed.RemoveLast();
  packed.Set(27, 2.5);  // the second segment's begin
  EXPECT_THAT(
      std::string(AdamSegmentsFromProto(packed, {2, 5}, &segments).message()),
      HasSubstr("segment [2.5, 7) at scalars[27]"));
  packed.Set(27, 3);
  packed.Set(27 + 2 + 11, 9);  // the second segment's method
  EXPECT_THAT(
      std::string(AdamSegmentsFromProto(packed, {2, 5}, &segments).message()),
      HasSubstr("scalars[11] (the method) is 9"));

  // The 11 scalars of Adam from a replica that predates the other methods.
  packed.Clear();
  for (int i = 0; i < 11; ++i) packed.Add(i == 7 ? 0.125 : 0.0);
  ASSERT_TRUE(AdamSegmentsFromProto(packed, {0, 7}, &segments).ok());
  EXPECT_EQ(segments[0].scalars.method, ElementwiseMethod::kAdam);
  EXPECT_EQ(segments[0].scalars.step_size, 0.125);
}

TEST(SliceOps, AnUnknownKindIsRefused) {
  v1::CreateSliceRequest request;
  EXPECT_THAT(SliceSolver::Create(request).status().message(),
              HasSubstr("kind is 0; use a SliceKind"));
}

}  // namespace
}  // namespace optd::server
