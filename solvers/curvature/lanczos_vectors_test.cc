// LanczosSlice and LocalLanczosVectors: the Rademacher stream cut at slice
// boundaries, the global argmin, the error paths, and whole diagnoses over
// K = 1..4 in-process slices, bitwise equal to the unsharded one.
#include "solvers/curvature/lanczos_vectors.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/curvature/curvature_solver.h"
#include "solvers/curvature/lanczos.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;

ConstVectorView View(const Eigen::VectorXd& v) {
  return ConstVectorView::Float64(v.data(), v.size());
}

MutableVectorView Out(Eigen::VectorXd& v) {
  return MutableVectorView::Float64(v.data(), v.size());
}

// Four reduction blocks and a short fifth: K = 1..4 cut it differently.
constexpr int64_t kN = 4 * kReductionBlock + 77;

std::unique_ptr<LocalLanczosVectors> Sliced(int64_t n, int shards,
                                            bool gradients) {
  auto layout = ShardLayout::Make(n, shards);
  EXPECT_TRUE(layout.ok());
  return std::make_unique<LocalLanczosVectors>(*layout, gradients);
}

bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, 8) == 0; }

void ExpectSameEstimate(const SpectrumEstimate& a, const SpectrumEstimate& b) {
  EXPECT_TRUE(SameBits(a.smallest, b.smallest));
  EXPECT_TRUE(SameBits(a.largest, b.largest));
  EXPECT_TRUE(SameBits(a.condition_number, b.condition_number));
  EXPECT_TRUE(SameBits(a.density_nodes, b.density_nodes));
  EXPECT_TRUE(SameBits(a.density_weights, b.density_weights));
  EXPECT_EQ(a.products, b.products);
  EXPECT_EQ(a.lanczos_steps, b.lanczos_steps);
  EXPECT_EQ(a.converged, b.converged);
}

// H = diag(d) + u u^T, applied without forming it.
struct Operator {
  Eigen::VectorXd d, u;
  explicit Operator(int64_t n) : d(n), u(n) {
    for (int64_t i = 0; i < n; ++i) {
      d(i) = 0.5 + static_cast<double>(i % 997) / 7.0 - (i % 5 == 0 ? 60 : 0);
      u(i) = std::sin(0.37 * static_cast<double>(i));
    }
  }
  Eigen::VectorXd Apply(const Eigen::VectorXd& v) const {
    return (d.array() * v.array()).matrix() + u * u.dot(v);
  }
};

LanczosOptions SmallRun() {
  LanczosOptions options;
  options.max_steps = 25;
  options.probes = 3;
  options.density_steps = 8;
  return options;
}

TEST(LanczosSlice, RademacherIsTheRangeOfTheOneStream) {
  const int64_t n = 3 * kReductionBlock + 5;
  const uint64_t draws = 3 * RademacherDraws(n) + 1;
  std::mt19937_64 rng(kLanczosSeed);
  rng.discard(draws);
  std::vector<double> whole(n);
  uint64_t bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i % 64 == 0) bits = rng();
    whole[i] = ((bits & 1) ? 1.0 : -1.0) / std::sqrt(static_cast<double>(n));
    bits >>= 1;
  }
  for (int shards : {1, 2, 3, 4}) {
    auto v = Sliced(n, shards, false);
    // A later position first, then an earlier one: the slices rewind.
    ASSERT_TRUE(v->Rademacher(true, draws + 40).ok());
    auto dots = v->Rademacher(true, draws);
    ASSERT_TRUE(dots.ok());
    ASSERT_TRUE(v->NextVector(1.0).ok());
    Eigen::VectorXd q(n);
    ASSERT_TRUE(v->ReadVector(Out(q)).ok());
    EXPECT_TRUE(SameBits(std::vector<double>(q.data(), q.data() + n), whole))
        << shards << " shards";
    // w.w of +-1/sqrt(n) elements.
    EXPECT_NEAR(dots->sums.back(), 1.0, 1e-12);
  }
}

TEST(LanczosSlice, LeastCoveredIsTheGlobalArgminLowestIndexOnTies) {
  EXPECT_EQ(CombineLeastCovered({}).index, -1);
  const LeastCovered a = CombineLeastCovered(
      {{0.5, 3}, {-1, -1}, {0.25, 5000}, {0.25, 9000}, {0.3, 12000}});
  EXPECT_EQ(a.index, 5000);
  EXPECT_EQ(a.value, 0.25);
  // Within a slice: the basis e_0 leaves every other coordinate at 0; the
  // lowest of those is 1.
  LanczosSlice slice({0, 10}, 10, false);
  ASSERT_EQ(slice.Coordinate(0).quantities(), 1);
  slice.NextVector(1.0);
  slice.PushBasis();
  const LeastCovered least = slice.LeastCoveredCoordinate();
  EXPECT_EQ(least.index, 1);
  EXPECT_EQ(least.value, 0.0);
}

TEST(LocalLanczosVectors, ToldVectorErrorsNameTheFieldAndChangeNothing) {
  const int64_t n = 5;
  auto v = Sliced(n, 1, true);
  Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(n, 1.0, 5.0);
  ASSERT_TRUE(v->SetPoint(View(x)).ok());
  EXPECT_THAT(v->SetPoint(View(Eigen::VectorXd::Ones(3))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "x0 has 3 elements; the session has dimension 5"));
  EXPECT_THAT(v->SetProduct(View(Eigen::VectorXd::Ones(4)), "hessian_vector"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "hessian_vector has 4 elements; the session has "
                       "dimension 5"));
  Eigen::VectorXd bad = Eigen::VectorXd::Ones(n);
  bad(3) = std::numeric_limits<double>::infinity();
  EXPECT_THAT(v->SetProduct(View(bad), "hessian_vector"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "hessian_vector[3] is inf; every hessian_vector "
                       "element must be finite (report a failed evaluation "
                       "instead)"));
  EXPECT_THAT(v->SetGradient(1, View(bad), "gradient"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "gradient[3] is inf; every gradient element must be "
                       "finite (report a failed evaluation instead)"));
  // The point is what it was.
  Eigen::VectorXd read(n);
  ASSERT_TRUE(v->ReadPoint(Out(read)).ok());
  EXPECT_EQ(read, x);
  EXPECT_THAT(v->ReadPoint(MutableVectorView::Float64(read.data(), 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "output has 2 elements; the session has dimension 5"));
}

TEST(LocalLanczosVectors, LanczosIsBitwiseTheSameForOneToFourSlices) {
  const Operator h(kN);
  auto unsharded = Lanczos::Create(SmallRun(), kN);
  ASSERT_TRUE(unsharded.ok());
  while (!(*unsharded)->finished()) {
    ASSERT_TRUE((*unsharded)->Tell(h.Apply((*unsharded)->vector())).ok());
  }
  const SpectrumEstimate& reference = (*unsharded)->estimate();
  EXPECT_EQ(reference.lanczos_steps, 25);
  EXPECT_EQ(reference.products, 25 + 2 * 8);
  for (int shards : {1, 2, 3, 4}) {
    SCOPED_TRACE(shards);
    auto lanczos = Lanczos::Create(SmallRun(), Sliced(kN, shards, false));
    ASSERT_TRUE(lanczos.ok());
    while (!(*lanczos)->finished()) {
      ASSERT_TRUE((*lanczos)->Tell(h.Apply((*lanczos)->vector())).ok());
    }
    ExpectSameEstimate((*lanczos)->estimate(), reference);
  }
}

// A gradient-difference diagnosis of f = 0.5 x^T H x (g = H x) through the
// Solver interface.
SpectrumEstimate RunDifferences(const Operator& h, const Eigen::VectorXd& x,
                                std::unique_ptr<LanczosVectors> vectors) {
  CurvatureOptions options;
  options.lanczos = SmallRun();
  options.source = ProductSource::kGradientDifference;
  auto solver = CurvatureSolver::Create(options, View(x), std::move(vectors));
  EXPECT_TRUE(solver.ok()) << solver.status();
  CurvatureSolver& s = **solver;
  Eigen::VectorXd point(x.size());
  while (!s.finished()) {
    for (int k : {0, 1}) {
      EXPECT_TRUE(s.ReadBatchPoint(k, Out(point)).ok());
      EXPECT_TRUE(s.SetBatchGradient(k, View(h.Apply(point))).ok());
      TrialResult told;
      told.has_gradient = true;
      EXPECT_TRUE(s.TellBatch(k, told).ok());
    }
  }
  return *s.curvature_estimate();
}

TEST(LocalLanczosVectors, GradientDifferencesAreBitwiseTheSameForOneToFour) {
  const Operator h(kN);
  Eigen::VectorXd x(kN);
  for (int64_t i = 0; i < kN; ++i) x(i) = std::cos(0.01 * i);
  const SpectrumEstimate reference = RunDifferences(h, x, nullptr);
  EXPECT_EQ(reference.lanczos_steps, 25);
  for (int shards : {1, 2, 3, 4}) {
    SCOPED_TRACE(shards);
    ExpectSameEstimate(RunDifferences(h, x, Sliced(kN, shards, true)),
                       reference);
  }
}

TEST(CurvatureSolver, NonFiniteGradientDifferenceIsRefusedAndChangesNothing) {
  const int n = 6;
  const Operator h(n);
  const Eigen::VectorXd x = Eigen::VectorXd::Ones(n);
  CurvatureOptions options;
  options.source = ProductSource::kGradientDifference;
  options.lanczos.probes = 1;
  auto solver = CurvatureSolver::Create(options, View(x));
  ASSERT_TRUE(solver.ok());
  CurvatureSolver& s = **solver;
  TrialResult told;
  told.has_gradient = true;
  // Finite gradients whose difference overflows.
  Eigen::VectorXd big = Eigen::VectorXd::Zero(n);
  big(4) = 1.5e308;
  ASSERT_TRUE(s.SetBatchGradient(0, View(big)).ok());
  ASSERT_TRUE(s.TellBatch(0, told).ok());
  ASSERT_TRUE(s.SetBatchGradient(1, View(Eigen::VectorXd(-big))).ok());
  const Progress before = s.progress();
  EXPECT_THAT(
      s.TellBatch(1, told),
      StatusIs(absl::StatusCode::kInvalidArgument,
               absl::StrCat("the gradient difference (g(x + h v) - g(x - h "
                            "v)) / (2h) is not finite at element 4 (h = ",
                            s.step(), "); tell finite gradients")));
  EXPECT_EQ(s.progress().iterations, before.iterations);
  EXPECT_EQ(s.progress().evaluations, before.evaluations);
  EXPECT_FALSE(s.batch_told(1));
  EXPECT_TRUE(s.batch_told(0));
  // Telling both again, now true gradients, runs as a diagnosis that never
  // saw the refused ones.
  Eigen::VectorXd point(n);
  for (int k : {0, 1}) {
    ASSERT_TRUE(s.ReadBatchPoint(k, Out(point)).ok());
    ASSERT_TRUE(s.SetBatchGradient(k, View(h.Apply(point))).ok());
  }
  ASSERT_TRUE(s.TellBatch(1, told).ok());
  EXPECT_EQ(s.progress().iterations, 1);
  EXPECT_FALSE(s.batch_told(0));
  auto clean = CurvatureSolver::Create(options, View(x));
  ASSERT_TRUE(clean.ok());
  for (int k : {0, 1}) {
    ASSERT_TRUE((*clean)->ReadBatchPoint(k, Out(point)).ok());
    ASSERT_TRUE((*clean)->SetBatchGradient(k, View(h.Apply(point))).ok());
    ASSERT_TRUE((*clean)->TellBatch(k, told).ok());
  }
  Eigen::VectorXd next(n), clean_next(n);
  ASSERT_TRUE(s.ReadBatchPoint(0, Out(next)).ok());
  ASSERT_TRUE((*clean)->ReadBatchPoint(0, Out(clean_next)).ok());
  EXPECT_TRUE(
      SameBits(std::vector<double>(next.data(), next.data() + n),
               std::vector<double>(clean_next.data(), clean_next.data() + n)));
}

}  // namespace
}  // namespace optd
