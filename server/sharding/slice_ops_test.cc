#include "server/sharding/slice_ops.h"

#include <memory>
#include <string>

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
                             v1::SLICE_KIND_ADAM}) {
    std::unique_ptr<SliceSolver> solver = Make(kind);
    std::string state;
    ASSERT_TRUE(solver->SaveState(&state).ok());
    EXPECT_TRUE(solver->LoadState(state).ok()) << kind;
    EXPECT_GT(solver->bytes(), 0);
  }
}

TEST(SliceOps, AnUnknownKindIsRefused) {
  v1::CreateSliceRequest request;
  EXPECT_THAT(SliceSolver::Create(request).status().message(),
              HasSubstr("kind is 0; use a SliceKind"));
}

}  // namespace
}  // namespace optd::server
