// Adafactor's slice operations (slice_ops.cc AdafactorTable): the three
// passes driven over K slices through the wire's messages, as
// RemoteAdafactorVectors drives them, step bitwise as the in-process vectors
// do; every refusal names the operation and the sizes.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sharding/slice_ops.h"
#include "solvers/adafactor/adafactor_statistics.h"
#include "solvers/adafactor/adafactor_vectors.h"
#include "solvers/sharding/block_reduction.h"

namespace optd::server {
namespace {

using ::testing::HasSubstr;

// A vector of 88, a 130-wide matrix cut inside rows by every block boundary,
// and a vector of the rest.
constexpr int64_t kN = 3 * kReductionBlock + 1000;

AdafactorOptions Options(bool first_moment) {
  AdafactorOptions options;
  const int64_t rows = (kN - 88 - 200) / 130;
  options.layers = {{88, 0}, {rows, 130}, {kN - 88 - rows * 130, 0}};
  if (first_moment) options.beta1 = 0.9;
  options.weight_decay = 1e-2;
  return options;
}

v1::CreateSliceRequest SliceRequest(const AdafactorOptions& options,
                                    ShardRange range) {
  v1::CreateSliceRequest request;
  request.set_kind(v1::SLICE_KIND_ADAFACTOR);
  request.set_dimension(kN);
  request.set_begin(range.begin);
  request.set_end(range.end);
  request.set_first_moment(options.beta1.has_value());
  for (const AdafactorLayer& layer : options.layers) {
    request.add_layer_rows(layer.rows);
    request.add_layer_cols(layer.cols);
  }
  return request;
}

std::unique_ptr<SliceSolver> MakeSlice(const v1::CreateSliceRequest& request) {
  absl::StatusOr<std::unique_ptr<SliceSolver>> solver =
      SliceSolver::Create(request);
  EXPECT_TRUE(solver.ok()) << solver.status();
  return solver.ok() ? *std::move(solver) : nullptr;
}

// `values`' part for `range` as SET_TRIAL_* data (float64).
v1::SliceOpRequest Transport(v1::SliceOp op, const std::vector<double>& values,
                             ShardRange range) {
  v1::SliceOpRequest request;
  request.set_op(op);
  request.set_data(values.data() + range.begin,
                   static_cast<size_t>(range.size()) * sizeof(double));
  return request;
}

// One Adafactor step over `slices` by the wire's operations, the controller's
// part in `stats` (RemoteAdafactorVectors::Step's order).
void WireStep(const AdafactorOptions& options, int64_t step,
              AdafactorStatistics<double>& stats,
              std::vector<std::unique_ptr<SliceSolver>>& slices) {
  const double beta2t = stats.Beta2t(step);
  AdafactorSums sums = stats.NewSums();
  std::vector<double> flat = FlattenStatisticsSums(sums);
  for (auto& slice : slices) {
    v1::SliceOpRequest request;
    request.set_op(v1::SLICE_OP_ADAFACTOR_STATISTICS);
    request.add_scalars(options.eps1);
    request.mutable_sums()->Assign(flat.begin(), flat.end());
    v1::SliceOpResponse answer;
    ASSERT_TRUE(slice->Apply(request, &answer).ok());
    flat.assign(answer.sums().begin(), answer.sums().end());
  }
  ASSERT_TRUE(UnflattenStatisticsSums(flat, &sums).ok());
  for (auto& slice : slices) {
    v1::SliceOpRequest request;
    request.set_op(v1::SLICE_OP_ADAFACTOR_SECOND_MOMENT);
    request.add_scalars(options.eps1);
    request.add_scalars(beta2t);
    v1::SliceOpResponse answer;
    ASSERT_TRUE(slice->Apply(request, &answer).ok());
  }
  AdafactorFactors<double> factors = stats.UpdateFactored(sums, beta2t);
  const std::vector<double> factored = FlattenFactors(factors, false);
  for (auto& slice : slices) {
    v1::SliceOpRequest request;
    request.set_op(v1::SLICE_OP_ADAFACTOR_UPDATE_SQUARES);
    request.mutable_scalars()->Assign(factored.begin(), factored.end());
    request.mutable_sums()->Assign(sums.u_squares.begin(),
                                   sums.u_squares.end());
    v1::SliceOpResponse answer;
    ASSERT_TRUE(slice->Apply(request, &answer).ok());
    sums.u_squares.assign(answer.sums().begin(), answer.sums().end());
  }
  stats.FinishFactors(sums, step, &factors);
  std::vector<double> apply{options.beta1.value_or(-1.0), options.weight_decay};
  const std::vector<double> all = FlattenFactors(factors, true);
  apply.insert(apply.end(), all.begin(), all.end());
  for (auto& slice : slices) {
    v1::SliceOpRequest request;
    request.set_op(v1::SLICE_OP_ADAFACTOR_APPLY);
    request.mutable_scalars()->Assign(apply.begin(), apply.end());
    v1::SliceOpResponse answer;
    ASSERT_TRUE(slice->Apply(request, &answer).ok());
  }
}

std::vector<double> Gradient(const std::vector<double>& x, int step) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = std::sin(0.37 * static_cast<double>(i) + step) * (1.0 + x[i]);
  }
  return g;
}

TEST(AdafactorSliceOps, PassesOverThreeSlicesStepAsTheInProcessVectors) {
  for (bool first_moment : {false, true}) {
    SCOPED_TRACE(first_moment ? "beta1" : "no beta1");
    const AdafactorOptions options = Options(first_moment);
    ASSERT_TRUE(options.ValidateLayers(kN).ok());
    absl::StatusOr<ShardLayout> layout = ShardLayout::Make(kN, 3);
    ASSERT_TRUE(layout.ok());
    std::vector<std::unique_ptr<SliceSolver>> slices;
    for (const ShardRange& range : layout->ranges()) {
      slices.push_back(MakeSlice(SliceRequest(options, range)));
      ASSERT_NE(slices.back(), nullptr);
    }
    AdafactorStatistics<double> stats(options, kN);
    absl::StatusOr<ShardLayout> one = ShardLayout::Make(kN, 1);
    ASSERT_TRUE(one.ok());
    LocalAdafactorVectors<double> local(options, *one);

    std::vector<double> x(kN);
    for (int64_t i = 0; i < kN; ++i) x[i] = std::cos(0.1 * i);
    ASSERT_TRUE(local.SetPoint(ConstVectorView::Float64(x.data(), kN)).ok());
    for (size_t k = 0; k < slices.size(); ++k) {
      v1::SliceOpResponse answer;
      ASSERT_TRUE(slices[k]
                      ->Apply(Transport(v1::SLICE_OP_SET_TRIAL_POINT, x,
                                        layout->range(k)),
                              &answer)
                      .ok());
    }
    std::vector<double> local_x(kN), wire_x(kN);
    for (int step = 1; step <= 4; ++step) {
      const std::vector<double> g = Gradient(x, step);
      ASSERT_TRUE(
          local.SetGradient(ConstVectorView::Float64(g.data(), kN)).ok());
      ASSERT_TRUE(local.Step(step).ok());
      for (size_t k = 0; k < slices.size(); ++k) {
        v1::SliceOpResponse answer;
        ASSERT_TRUE(slices[k]
                        ->Apply(Transport(v1::SLICE_OP_SET_TRIAL_GRADIENT, g,
                                          layout->range(k)),
                                &answer)
                        .ok());
        EXPECT_EQ(answer.bad_index(), -1);
      }
      WireStep(options, step, stats, slices);
      ASSERT_TRUE(
          local.ReadPoint(MutableVectorView::Float64(local_x.data(), kN)).ok());
      for (size_t k = 0; k < slices.size(); ++k) {
        v1::SliceOpRequest read;
        read.set_op(v1::SLICE_OP_READ_POINT);
        v1::SliceOpResponse answer;
        ASSERT_TRUE(slices[k]->Apply(read, &answer).ok());
        const ShardRange r = layout->range(k);
        ASSERT_EQ(answer.data().size(), r.size() * sizeof(double));
        std::memcpy(wire_x.data() + r.begin, answer.data().data(),
                    answer.data().size());
      }
      ASSERT_TRUE(local_x == wire_x) << "step " << step;
      ASSERT_FALSE(local_x == x) << "step " << step << " moved nothing";
      x = local_x;
    }
    // The slices' states, x | m | v each, and the home's R and C make the
    // in-process vectors' state byte for byte.
    std::string sliced[3];
    for (int which = 0; which < 3; ++which) {
      for (size_t k = 0; k < slices.size(); ++k) {
        std::string state;
        ASSERT_TRUE(slices[k]->SaveState(&state).ok());
        const size_t x_bytes = layout->range(k).size() * sizeof(double);
        const size_t vectors = first_moment ? 2 : 1;
        if (which < 2 && which >= static_cast<int>(vectors)) continue;
        const size_t from = which == 2 ? vectors * x_bytes : which * x_bytes;
        sliced[which] +=
            state.substr(from, which == 2 ? std::string::npos : x_bytes);
      }
    }
    std::string expected;
    ASSERT_TRUE(local.SaveState(&expected).ok());
    std::string actual = sliced[0] + sliced[1] + sliced[2];
    stats.Append(&actual);
    EXPECT_TRUE(expected == actual);
  }
}

TEST(AdafactorSliceOps, CreateRefusesLayersThatDoNotFit) {
  const AdafactorOptions options = Options(false);
  v1::CreateSliceRequest request = SliceRequest(options, {0, 4096});
  request.add_layer_rows(5);
  EXPECT_THAT(SliceSolver::Create(request).status().message(),
              HasSubstr("layer_rows has 4 entries and layer_cols 3; they must "
                        "have as many"));
  request = SliceRequest(options, {0, 4096});
  request.set_layer_rows(2, 201);
  EXPECT_EQ(SliceSolver::Create(request).status().message(),
            "layers[2] (201 x 0) ends past the session's dimension 13288 "
            "(layers before it cover 13088 elements)");
  request.set_layer_rows(2, 199);
  EXPECT_EQ(SliceSolver::Create(request).status().message(),
            "layers cover 13287 elements; the session has dimension 13288");
  // No layers: x is one vector, as for a session without them.
  request.clear_layer_rows();
  request.clear_layer_cols();
  std::unique_ptr<SliceSolver> vector = MakeSlice(request);
  ASSERT_NE(vector, nullptr);
  // x, g and v, 8 bytes each.
  EXPECT_EQ(vector->bytes(), 3 * 4096 * 8);
}

TEST(AdafactorSliceOps, RefusalsNameTheOperationAndTheSizes) {
  const AdafactorOptions options = Options(true);
  std::unique_ptr<SliceSolver> slice =
      MakeSlice(SliceRequest(options, {4096, 8192}));
  ASSERT_NE(slice, nullptr);
  auto apply = [&](v1::SliceOpRequest request) {
    v1::SliceOpResponse answer;
    return slice->Apply(request, &answer);
  };
  v1::SliceOpRequest request;
  request.set_op(v1::SLICE_OP_ADAM_STEP);
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAM_STEP: is not an Adafactor "
            "operation");
  EXPECT_EQ(apply(request).code(), absl::StatusCode::kInvalidArgument);

  request.set_op(v1::SLICE_OP_ADAFACTOR_STATISTICS);
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_STATISTICS: has 0 scalars; it "
            "takes 1");
  request.add_scalars(1e-30);
  request.add_sums(0.0);
  // 3 layers' sums of x^2, then the matrix's 100 row and 130 column sums.
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_STATISTICS: the running sums "
            "have 1 values; the layers need 233");

  request.Clear();
  request.set_op(v1::SLICE_OP_ADAFACTOR_SECOND_MOMENT);
  request.add_scalars(1e-30);
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_SECOND_MOMENT: has 1 scalars; "
            "it takes 2");

  request.Clear();
  request.set_op(v1::SLICE_OP_ADAFACTOR_UPDATE_SQUARES);
  request.add_scalars(1.0);
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_UPDATE_SQUARES: the factors "
            "have 1 values; the layers need 230");
  request.clear_scalars();
  for (int i = 0; i < 230; ++i) request.add_scalars(1.0);
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_UPDATE_SQUARES: the running "
            "sums have 0 values; the layers need 3");

  request.Clear();
  request.set_op(v1::SLICE_OP_ADAFACTOR_APPLY);
  request.add_scalars(0.9);
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_APPLY: has 1 scalars; it "
            "takes 2");
  request.add_scalars(0.0);
  for (int i = 0; i < 230; ++i) request.add_scalars(1.0);
  // The factors and each layer's clipping divisor, lr and decay.
  EXPECT_EQ(apply(request).message(),
            "slice operation SLICE_OP_ADAFACTOR_APPLY: the factors have 230 "
            "values; the layers need 239");
}

TEST(AdafactorSliceOps, LoadStateRefusesWrongSizesAndValues) {
  const AdafactorOptions options = Options(true);
  // The last slice: the matrix's end, then the last vector layer (from
  // 88 + 100 * 130 = 13088), whose v it holds.
  std::unique_ptr<SliceSolver> slice =
      MakeSlice(SliceRequest(options, {12288, 13288}));
  ASSERT_NE(slice, nullptr);
  std::string state;
  ASSERT_TRUE(slice->SaveState(&state).ok());
  // x and m of 1000 elements, v of the last 200.
  ASSERT_EQ(state.size(), (1000 + 1000 + 200) * sizeof(double));
  EXPECT_EQ(slice->LoadState(state.substr(8)).message(),
            "slice operation SLICE_OP_LOAD_STATE: the slice's state has 17592 "
            "bytes; the slice [12288, 13288) needs 17600");
  auto with = [&](size_t index, double value) {
    std::string bad = state;
    std::memcpy(bad.data() + index * sizeof(double), &value, sizeof(double));
    return bad;
  };
  EXPECT_EQ(slice->LoadState(with(3, NAN)).message(),
            "slice operation SLICE_OP_LOAD_STATE: the slice's x[3] (of the "
            "slice [12288, 13288)) is nan; it is finite");
  EXPECT_EQ(slice->LoadState(with(1004, INFINITY)).message(),
            "slice operation SLICE_OP_LOAD_STATE: the slice's m[4] (of the "
            "slice [12288, 13288)) is inf; it is finite");
  EXPECT_EQ(slice->LoadState(with(2005, -1.0)).message(),
            "slice operation SLICE_OP_LOAD_STATE: the slice's v[5] (of the "
            "slice [12288, 13288)) is -1; it is finite and >= 0");
  // A good state loads, and reads back the same.
  const std::string good = with(7, 2.5);
  ASSERT_TRUE(slice->LoadState(good).ok());
  std::string again;
  ASSERT_TRUE(slice->SaveState(&again).ok());
  EXPECT_TRUE(again == good);
}

}  // namespace
}  // namespace optd::server
