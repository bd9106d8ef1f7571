// StencilSlice against the one-process FiniteDifferenceStencil: the points,
// their order and the derivatives of K = 1..4 slices are bitwise the
// stencil over the whole range, for both schemes, with and without bounds,
// in float64 and float32 states; and the first derivative a solver refuses.
#include "solvers/sharding/stencil_slice.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/core/bounds.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kN = 37;

// x with coordinates of both signs and magnitudes above and below 1 (the
// step's max(1, |x_i|)), some on or near the bounds of Box().
std::vector<double> Point() {
  std::vector<double> x(kN);
  for (int64_t i = 0; i < kN; ++i) {
    x[i] = (i % 3 == 0 ? -1.0 : 1.0) * (0.25 + 0.7 * static_cast<double>(i));
  }
  return x;
}

// Lower and upper bounds: coordinates on a bound, in boxes narrower than a
// step, in a box of zero width, and free.
void Box(const std::vector<double>& x, std::vector<double>* lower,
         std::vector<double>* upper) {
  lower->assign(kN, -kInf);
  upper->assign(kN, kInf);
  for (int64_t i = 0; i < kN; ++i) {
    switch (i % 6) {
      case 0:
        (*lower)[i] = x[i];
        break;  // on the lower bound
      case 1:
        (*upper)[i] = x[i];
        break;  // on the upper bound
      case 2:   // narrower than h
        (*lower)[i] = x[i] - 1e-7;
        (*upper)[i] = x[i] + 3e-7;
        break;
      case 3:
        (*lower)[i] = (*upper)[i] = x[i];
        break;  // fixed
      default:
        break;  // free
    }
  }
}

// A trial's value: a smooth function of its point.
double Value(const std::vector<double>& x) {
  double f = 0.0;
  for (size_t i = 0; i < x.size(); ++i) f += std::sin(x[i]) * (1.0 + i);
  return f;
}

struct Case {
  FiniteDifferenceScheme scheme;
  ScalarType type;
  bool bounded;
};

std::unique_ptr<Solver> SolverAt(const std::vector<double>& x,
                                 ScalarType type) {
  if (type == ScalarType::kFloat64) {
    auto lbfgs =
        Lbfgs::Create(LbfgsOptions(), ConstVectorView::Float64(x.data(), kN));
    EXPECT_OK(lbfgs.status());
    return std::move(*lbfgs);
  }
  std::vector<float> x32(x.begin(), x.end());
  AdamOptions options;
  options.dtype = ScalarType::kFloat32;
  auto adam = Adam::Create(options, ConstVectorView::Float32(x32.data(), kN));
  EXPECT_OK(adam.status());
  return std::move(*adam);
}

class StencilSliceTest : public ::testing::TestWithParam<Case> {};

TEST_P(StencilSliceTest, SlicesAreTheOneProcessStencilForOneToFourSlices) {
  const Case c = GetParam();
  const std::unique_ptr<Solver> inner = SolverAt(Point(), c.type);
  std::vector<double> x(kN);
  ASSERT_OK(inner->ReadTrialPoint(MutableVectorView::Float64(x.data(), kN)));
  std::vector<double> lower, upper;
  Box(x, &lower, &upper);
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), kN),
                     ConstVectorView::Float64(upper.data(), kN), kN);
  ASSERT_OK(box.status());
  const double rel_step = ResolveRelativeStep(kNaN, c.scheme, c.type);

  FiniteDifferenceStencil whole;
  ASSERT_OK(
      whole.Plan(*inner, c.bounded ? &*box : nullptr, c.scheme, rel_step));
  std::vector<double> values(static_cast<size_t>(whole.trials()));
  for (int k = 0; k < whole.trials(); ++k) {
    std::vector<double> point(kN);
    ASSERT_OK(whole.ReadPoint(*inner, k,
                              MutableVectorView::Float64(point.data(), kN)));
    values[k] = Value(point);
    // A failed value: the one-sided fallback of its coordinate.
    if (k == 7) values[k] = kNaN;
    whole.TellValue(k, {.value = values[k]});
  }
  std::vector<double> expected;
  whole.Differentiate(&expected);

  for (int slices = 1; slices <= 4; ++slices) {
    SCOPED_TRACE(::testing::Message() << slices << " slices");
    // Uneven cuts, not on reduction blocks: each slice stands alone.
    std::vector<int64_t> cuts = {0};
    for (int s = 1; s < slices; ++s) cuts.push_back(kN * s / slices + s);
    cuts.push_back(kN);
    std::vector<double> gradient(kN, 0.0);
    int k = 1;  // trial 0 is x
    for (int s = 0; s < slices; ++s) {
      const int64_t begin = cuts[s], size = cuts[s + 1] - begin;
      const auto range = [&](const std::vector<double>& v) {
        return c.bounded ? absl::MakeConstSpan(v).subspan(begin, size)
                         : absl::Span<const double>();
      };
      StencilSlice slice;
      slice.Plan(begin, absl::MakeConstSpan(x).subspan(begin, size),
                 range(lower), range(upper), c.scheme, rel_step, c.type);
      std::vector<double> own;
      for (int64_t j = 0; j < slice.points(); ++j, ++k) {
        ASSERT_LT(k, whole.trials());
        const PointDelta got = slice.Point(j);
        const PointDelta want = *whole.Delta(k);
        EXPECT_EQ(got.coordinate, want.coordinate) << "trial " << k;
        EXPECT_EQ(std::memcmp(&got.value, &want.value, 8), 0) << "trial " << k;
        own.push_back(values[k]);
      }
      slice.Differentiate(values[0], own, gradient.data() + begin);
    }
    EXPECT_EQ(k, whole.trials());
    EXPECT_EQ(std::memcmp(gradient.data(), expected.data(), 8 * kN), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SchemesBoundsAndStateTypes, StencilSliceTest,
    ::testing::Values(
        Case{FiniteDifferenceScheme::kCentral, ScalarType::kFloat64, false},
        Case{FiniteDifferenceScheme::kForward, ScalarType::kFloat64, false},
        Case{FiniteDifferenceScheme::kCentral, ScalarType::kFloat64, true},
        Case{FiniteDifferenceScheme::kForward, ScalarType::kFloat64, true},
        Case{FiniteDifferenceScheme::kCentral, ScalarType::kFloat32, false},
        Case{FiniteDifferenceScheme::kForward, ScalarType::kFloat32, true}));

TEST(StencilSlice, AnswersTheFirstDerivativeASolverWouldRefuse) {
  // Forward differences of 4 coordinates from 10: f0 = 0.
  const std::vector<double> x = {1.0, 2.0, 3.0, 4.0};
  StencilSlice slice;
  slice.Plan(10, x, {}, {}, FiniteDifferenceScheme::kForward, 1e-3,
             ScalarType::kFloat64);
  ASSERT_EQ(slice.points(), 4);
  EXPECT_EQ(slice.Point(2).coordinate, 12);
  std::vector<double> g(4);
  // Coordinate 11's point failed (no derivative), 13's overflows.
  EXPECT_EQ(slice.Differentiate(0.0, {1e-3, kNaN, 1e-3, 1e308}, g.data()), 11);
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_EQ(slice.Differentiate(0.0, {1e-3, 1e-3, 1e-3, 1e308}, g.data()), 13);
  EXPECT_EQ(slice.Differentiate(0.0, {1e-3, 1e-3, 1e-3, 1e-3}, g.data()), -1);
  // A float32 state cannot hold a derivative beyond float's range.
  slice.Plan(10, x, {}, {}, FiniteDifferenceScheme::kForward, 1e-3,
             ScalarType::kFloat32);
  EXPECT_EQ(slice.Differentiate(0.0, {1e-3, 1e-3, 1e37, 1e-3}, g.data()), 12);
}

}  // namespace
}  // namespace optd
