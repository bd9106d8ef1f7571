// AdafactorStatistics and the flat forms the shard wire carries: round trips,
// and every refusal with its code and message. The steps themselves are held
// to transformers in adafactor_test.cc.
#include "solvers/adafactor/adafactor_statistics.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adafactor/adafactor.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;

// A 2 x 3 matrix and a vector of 4.
AdafactorOptions Options() {
  AdafactorOptions options;
  options.layers = {{2, 3}, {4, 0}};
  return options;
}

TEST(AdafactorStatistics, FlatSumsAndFactorsRoundTrip) {
  const std::vector<AdafactorLayer> layers = Options().layers;
  AdafactorSums sums = NewAdafactorSums(layers);
  sums.x_squares = {1, 2};
  sums.row_sums[0] = {3, 4};
  sums.col_sums[0] = {5, 6, 7};
  const std::vector<double> flat = FlattenStatisticsSums(sums);
  EXPECT_EQ(flat, (std::vector<double>{1, 2, 3, 4, 5, 6, 7}));
  AdafactorSums back = NewAdafactorSums(layers);
  ASSERT_TRUE(UnflattenStatisticsSums(flat, &back).ok());
  EXPECT_EQ(back.x_squares, sums.x_squares);
  EXPECT_EQ(back.row_sums, sums.row_sums);
  EXPECT_EQ(back.col_sums, sums.col_sums);
  EXPECT_THAT(UnflattenStatisticsSums({1.0}, &back),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the running sums have 1 values; the layers need 7"));

  AdafactorFactors<float> factors;
  factors.row_factor = {{0.5f, 0.25f}, {}};
  factors.col_factor = {{1.5f, 2.5f, 3.5f}, {}};
  factors.clip_divisor = {1.0f, 2.0f};
  factors.lr = {1e-3f, 2e-3f};
  factors.decay = {-1e-5f, 0.0f};
  const std::vector<double> with = FlattenFactors(factors, true);
  ASSERT_EQ(with.size(), 5u + 6u);
  AdafactorFactors<float> read;
  ASSERT_TRUE(UnflattenFactors(with, layers, true, &read).ok());
  EXPECT_EQ(read.row_factor, factors.row_factor);
  EXPECT_EQ(read.col_factor, factors.col_factor);
  EXPECT_EQ(read.clip_divisor, factors.clip_divisor);
  EXPECT_EQ(read.lr, factors.lr);
  EXPECT_EQ(read.decay, factors.decay);
  EXPECT_THAT(UnflattenFactors(with, layers, false, &read),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the factors have 11 values; the layers need 5"));
}

TEST(AdafactorStatistics, VectorElementsCountTheVectorLayersInARange) {
  const std::vector<AdafactorLayer> layers = Options().layers;
  const std::vector<int64_t> offsets = AdafactorLayerOffsets(layers);
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 6, 10}));
  EXPECT_EQ(AdafactorVectorElements(layers, offsets, {0, 10}), 4);
  EXPECT_EQ(AdafactorVectorElements(layers, offsets, {4, 8}), 2);
  EXPECT_EQ(AdafactorVectorElements(layers, offsets, {0, 6}), 0);
  EXPECT_EQ(AdafactorStateBytes(10, true, 4, 5, 4), (20 + 4 + 5) * 4);
}

TEST(AdafactorStatistics, LoadRefusesWrongSizesAndNegativeValues) {
  AdafactorStatistics<double> stats(Options(), 10);
  ASSERT_EQ(stats.elements(), 5);
  std::string saved;
  stats.Append(&saved);
  ASSERT_EQ(saved.size(), 40u);
  EXPECT_THAT(stats.Load(saved.substr(8)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the row and column statistics have 32 bytes; the "
                       "layers need 40"));
  const double negative = -0.5;
  std::memcpy(saved.data() + 16, &negative, sizeof(double));
  EXPECT_THAT(stats.Load(saved),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the state's row and column statistics[2] is -0.5; it "
                       "is finite and >= 0"));
}

TEST(AdafactorStatistics, CheckStateNamesTheFirstBadElement) {
  // x (10), m (10), v (4) in float32.
  std::vector<float> state(24, 1.0f);
  auto check = [&] {
    return CheckAdafactorState<float>(
        std::string_view(reinterpret_cast<const char*>(state.data()),
                         state.size() * sizeof(float)),
        10, true, 4);
  };
  EXPECT_TRUE(check().ok());
  state[22] = -1.0f;
  EXPECT_THAT(check(), StatusIs(absl::StatusCode::kInvalidArgument,
                                "the state's v[2] is -1; it is finite and "
                                ">= 0"));
  state[13] = INFINITY;
  EXPECT_THAT(check(), StatusIs(absl::StatusCode::kInvalidArgument,
                                "the state's m[3] is inf; it is finite"));
  state[1] = NAN;
  EXPECT_THAT(check(), StatusIs(absl::StatusCode::kInvalidArgument,
                                "the state's x[1] is nan; it is finite"));
}

TEST(AdafactorStatistics, CreateOverVectorsRefusesAnotherDimensionOrType) {
  const AdafactorOptions options = Options();
  const std::vector<double> x0(10, 0.5);
  const ConstVectorView view = ConstVectorView::Float64(x0.data(), 10);
  absl::StatusOr<ShardLayout> layout = ShardLayout::Make(10, 1);
  ASSERT_TRUE(layout.ok());
  AdafactorOptions other = options;
  other.layers = {{2, 3}, {5, 0}};
  absl::StatusOr<ShardLayout> eleven = ShardLayout::Make(11, 1);
  ASSERT_TRUE(eleven.ok());
  EXPECT_THAT(Adafactor::Create(options, view,
                                std::make_unique<LocalAdafactorVectors<double>>(
                                    other, *eleven))
                  .status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the Adafactor vectors have dimension 11; x0 has 10"));
  EXPECT_THAT(
      Adafactor::Create(
          options, view,
          std::make_unique<LocalAdafactorVectors<float>>(options, *layout))
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "the Adafactor vectors' state type is not options.dtype"));
  EXPECT_TRUE(Adafactor::Create(options, view,
                                std::make_unique<LocalAdafactorVectors<double>>(
                                    options, *layout))
                  .ok());
}

}  // namespace
}  // namespace optd
