#include "server/sharding/slice_ops.h"

#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::server {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

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

// SLICE_OP_SET_BOUNDS's data: lower then upper, float64 each.
v1::SliceOpRequest SetBounds(const std::vector<double>& lower,
                             const std::vector<double>& upper) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_SET_BOUNDS);
  std::string* data = request.mutable_data();
  data->append(reinterpret_cast<const char*>(lower.data()),
               lower.size() * sizeof(double));
  data->append(reinterpret_cast<const char*>(upper.data()),
               upper.size() * sizeof(double));
  return request;
}

v1::SliceOpRequest SetPoint(const std::vector<double>& x) {
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_SET_TRIAL_POINT);
  request.mutable_data()->assign(reinterpret_cast<const char*>(x.data()),
                                 x.size() * sizeof(double));
  return request;
}

std::vector<double> ReadDoubles(SliceSolver& solver, v1::SliceOp op) {
  v1::SliceOpRequest request;
  request.set_op(op);
  v1::SliceOpResponse answer;
  EXPECT_TRUE(solver.Apply(request, &answer).ok());
  std::vector<double> out(answer.data().size() / sizeof(double));
  std::memcpy(out.data(), answer.data().data(), answer.data().size());
  return out;
}

TEST(SliceOps, AdamAndTrustRegionSlicesProjectOntoTheBoxTheyAreSent) {
  const std::vector<double> lower = {-1, 0, -kInf, 2};
  const std::vector<double> upper = {1, kInf, 0.5, 2};
  const std::vector<double> x = {-3, -0.5, 4, 7};
  const std::vector<double> projected = {-1, 0, 0.5, 2};
  v1::SliceOpResponse answer;
  std::unique_ptr<SliceSolver> adam = Make(v1::SLICE_KIND_ADAM);
  ASSERT_TRUE(adam->Apply(SetBounds(lower, upper), &answer).ok());
  ASSERT_TRUE(adam->Apply(SetPoint(x), &answer).ok());
  EXPECT_EQ(ReadDoubles(*adam, v1::SLICE_OP_READ_POINT), projected);
  std::unique_ptr<SliceSolver> tr =
      Make(v1::SLICE_KIND_TRUST_REGION, /*cg_vectors=*/false);
  ASSERT_TRUE(tr->Apply(SetBounds(lower, upper), &answer).ok());
  ASSERT_TRUE(tr->Apply(SetPoint(x), &answer).ok());
  EXPECT_EQ(ReadDoubles(*tr, v1::SLICE_OP_READ_TRIAL_POINT), projected);
  // x = g = 0 at the trial: every variable is free, the projected gradient 0.
  v1::SliceOpRequest reduce;
  reduce.set_op(v1::SLICE_OP_REDUCE_BOX);
  ASSERT_TRUE(tr->Apply(reduce, &answer).ok());
  ASSERT_EQ(answer.partials_size(), 1);
  EXPECT_EQ(answer.partials(0), 4.0);
  reduce.set_op(v1::SLICE_OP_REDUCE_FREE_GRAM);
  EXPECT_TRUE(tr->Apply(reduce, &answer).ok());
  reduce.set_op(v1::SLICE_OP_FORM_PROJECTED_STEP);
  reduce.add_scalars(1.0);  // 2k + 1 coefficients for k = 0 pairs
  EXPECT_TRUE(tr->Apply(reduce, &answer).ok());
}

TEST(SliceOps, AnEmptyTrustRegionSliceTakesItsEmptyBox) {
  // K = 3 over n = 4106 leaves the third slice [4106, 4106) empty: its
  // SET_BOUNDS carries no bytes, and the box reductions still need it.
  v1::CreateSliceRequest create;
  create.set_kind(v1::SLICE_KIND_TRUST_REGION);
  create.set_dimension(4);
  create.set_begin(4);
  create.set_end(4);
  create.set_memory(2);
  absl::StatusOr<std::unique_ptr<SliceSolver>> tr = SliceSolver::Create(create);
  ASSERT_TRUE(tr.ok()) << tr.status();
  v1::SliceOpResponse answer;
  ASSERT_TRUE((*tr)->Apply(SetBounds({}, {}), &answer).ok());
  v1::SliceOpRequest reduce;
  reduce.set_op(v1::SLICE_OP_REDUCE_BOX);
  absl::Status status = (*tr)->Apply(reduce, &answer);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(answer.num_blocks(), 0);
  // Its saved state says bounded: it loads into a bounded empty slice, and
  // not into an unbounded one.
  std::string state;
  ASSERT_TRUE((*tr)->SaveState(&state).ok());
  absl::StatusOr<std::unique_ptr<SliceSolver>> bounded =
      SliceSolver::Create(create);
  ASSERT_TRUE(bounded.ok());
  ASSERT_TRUE((*bounded)->Apply(SetBounds({}, {}), &answer).ok());
  status = (*bounded)->LoadState(state);
  EXPECT_TRUE(status.ok()) << status;
  absl::StatusOr<std::unique_ptr<SliceSolver>> unbounded =
      SliceSolver::Create(create);
  ASSERT_TRUE(unbounded.ok());
  EXPECT_THAT((*unbounded)->LoadState(state).message(),
              HasSubstr("is of a bounded session; this slice is unbounded"));
}

TEST(SliceOps, BoxOperationsNameWhatIsWrong) {
  v1::SliceOpResponse answer;
  for (v1::SliceKind kind :
       {v1::SLICE_KIND_ADAM, v1::SLICE_KIND_TRUST_REGION}) {
    EXPECT_THAT(
        std::string(
            Make(kind)->Apply(SetBounds({0, 0}, {1, 1}), &answer).message()),
        HasSubstr("SLICE_OP_SET_BOUNDS: data has 32 bytes; the slice "
                  "[0, 4) needs 64 (its lower and upper bounds, "
                  "float64)"));
  }
  std::unique_ptr<SliceSolver> tr = Make(v1::SLICE_KIND_TRUST_REGION);
  for (v1::SliceOp op : {v1::SLICE_OP_REDUCE_BOX, v1::SLICE_OP_REDUCE_FREE_GRAM,
                         v1::SLICE_OP_FORM_PROJECTED_STEP}) {
    EXPECT_THAT(
        ApplyOp(*tr, op).message(),
        HasSubstr("needs the box, and the slice has none (SET_BOUNDS was "
                  "not sent)"));
  }
  ASSERT_TRUE(tr->Apply(SetBounds({0, 0, 0, 0}, {1, 1, 1, 1}), &answer).ok());
  EXPECT_THAT(ApplyOp(*tr, v1::SLICE_OP_FORM_PROJECTED_STEP).message(),
              HasSubstr("SLICE_OP_FORM_PROJECTED_STEP: has 0 coefficients; "
                        "the slice holds 0 pairs"));
  EXPECT_THAT(
      ApplyOp(*Make(v1::SLICE_KIND_LBFGS), v1::SLICE_OP_SET_BOUNDS).message(),
      HasSubstr("SLICE_OP_SET_BOUNDS: is not an L-BFGS operation"));
  // A float32 slice refuses a finite bound beyond float32's range.
  v1::CreateSliceRequest f32;
  f32.set_kind(v1::SLICE_KIND_ADAM);
  f32.set_float32(true);
  f32.set_dimension(8);
  f32.set_begin(4);
  f32.set_end(8);
  absl::StatusOr<std::unique_ptr<SliceSolver>> adam32 =
      SliceSolver::Create(f32);
  ASSERT_TRUE(adam32.ok()) << adam32.status();
  EXPECT_THAT(
      std::string(
          (*adam32)
              ->Apply(SetBounds({0, 0, 1e39, 0}, {1, 1, kInf, 1}), &answer)
              .message()),
      HasSubstr("bounds.lower[6] = 1e+39 is outside the range of the "
                "session's float32 state"));
}

TEST(SliceOps, AnUnknownKindIsRefused) {
  v1::CreateSliceRequest request;
  EXPECT_THAT(SliceSolver::Create(request).status().message(),
              HasSubstr("kind is 0; use a SliceKind"));
}

}  // namespace
}  // namespace optd::server
