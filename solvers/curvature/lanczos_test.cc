// Lanczos against eigenvalues known by construction (quadratics with chosen
// spectra in a random orthogonal basis) and against Eigen's dense
// SelfAdjointEigenSolver on the MGH Hessians (the C++ stand-in for numpy's
// eigvalsh); the stochastic Lanczos quadrature identities; the validator and
// the error paths.
#include "solvers/curvature/lanczos.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Q diag(eigenvalues) Q^T with Q the orthogonal factor of a Gaussian matrix
// drawn from a fixed seed.
Eigen::MatrixXd WithSpectrum(const Eigen::VectorXd& eigenvalues,
                             uint64_t seed) {
  const int n = static_cast<int>(eigenvalues.size());
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd a(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) a(i, j) = normal(rng);
  const Eigen::MatrixXd q =
      Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ() *
      Eigen::MatrixXd::Identity(n, n);
  return q * eigenvalues.asDiagonal() * q.transpose();
}

// Runs Lanczos on H to the end; `starts` (if not null) gets every vector
// asked for, in order.
SpectrumEstimate RunLanczos(const Eigen::MatrixXd& h,
                            const LanczosOptions& options,
                            std::vector<Eigen::VectorXd>* asked = nullptr) {
  auto lanczos = Lanczos::Create(options, h.rows());
  EXPECT_TRUE(lanczos.ok()) << lanczos.status();
  while (!(*lanczos)->finished()) {
    if (asked != nullptr) asked->push_back((*lanczos)->vector());
    const Eigen::VectorXd hv = h * (*lanczos)->vector();
    EXPECT_TRUE((*lanczos)->Tell(hv).ok());
  }
  return (*lanczos)->estimate();
}

// |theta - lambda| / |lambda| for the k extreme eigenvalues of H.
double MaxRelativeError(const Eigen::MatrixXd& h, const SpectrumEstimate& e) {
  const Eigen::VectorXd lambda =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(h, Eigen::EigenvaluesOnly)
          .eigenvalues();
  const int n = static_cast<int>(lambda.size());
  double worst = 0.0;
  for (size_t i = 0; i < e.smallest.size(); ++i) {
    worst = std::max(worst,
                     std::abs(e.smallest[i] - lambda(i)) / std::abs(lambda(i)));
    worst = std::max(worst, std::abs(e.largest[i] - lambda(n - 1 - i)) /
                                std::abs(lambda(n - 1 - i)));
  }
  return worst;
}

TEST(Lanczos, ChosenSpectrumExtremesToOneInAMillionBeforeNSteps) {
  // n = 400: three eigenvalues at each end set apart from a geometric bulk in
  // [2, 400], so that the extremes converge well before n products.
  const int n = 400;
  Eigen::VectorXd eigenvalues(n);
  for (int i = 0; i < n; ++i) {
    eigenvalues(i) = 2.0 * std::pow(200.0, i / (n - 1.0));
  }
  eigenvalues.head(3) << 0.5, 0.6, 0.7;
  eigenvalues.tail(3) << 800.0, 900.0, 1000.0;
  const Eigen::MatrixXd h = WithSpectrum(eigenvalues, 7);
  LanczosOptions options;
  options.probes = 1;
  options.max_steps = n;
  const SpectrumEstimate e = RunLanczos(h, options);
  EXPECT_TRUE(e.converged);
  EXPECT_LT(e.lanczos_steps, n);
  EXPECT_EQ(e.products, e.lanczos_steps);
  EXPECT_LE(MaxRelativeError(h, e), 1e-6);
  EXPECT_NEAR(e.smallest[0], 0.5, 0.5e-6);
  EXPECT_NEAR(e.largest[0], 1000.0, 1000e-6);
  EXPECT_NEAR(e.condition_number, 2000.0, 2000 * 2e-6);
  RecordProperty("products", static_cast<int>(e.products));
}

TEST(Lanczos, IndefiniteSpectrumHasInfiniteConditionNumber) {
  Eigen::VectorXd eigenvalues = Eigen::VectorXd::LinSpaced(30, -3.0, 11.0);
  const Eigen::MatrixXd h = WithSpectrum(eigenvalues, 11);
  const SpectrumEstimate e = RunLanczos(h, LanczosOptions{});
  EXPECT_LE(MaxRelativeError(h, e), 1e-6);
  EXPECT_EQ(e.condition_number, std::numeric_limits<double>::infinity());
  EXPECT_EQ(e.smallest.size(), 3u);
  EXPECT_EQ(e.largest.size(), 3u);
}

TEST(ConditionNumber, DefinedByTheSignsOfTheExtremes) {
  EXPECT_EQ(ConditionNumber(2.0, 8.0), 4.0);
  EXPECT_EQ(ConditionNumber(-8.0, -2.0), 4.0);
  EXPECT_EQ(ConditionNumber(-1.0, 2.0),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(ConditionNumber(0.0, 2.0), std::numeric_limits<double>::infinity());
}

TEST(Lanczos, RepeatedEigenvaluesRestartAfterInvariantSubspaces) {
  // diag(1, ..., 1, 5): a Rademacher start spans an invariant subspace of
  // dimension 2; the restarts find the rest of the eigenspace of 1.
  Eigen::VectorXd d = Eigen::VectorXd::Ones(10);
  d(9) = 5.0;
  const Eigen::MatrixXd h = d.asDiagonal();
  LanczosOptions options;
  options.probes = 1;
  const SpectrumEstimate e = RunLanczos(h, options);
  EXPECT_TRUE(e.converged);
  EXPECT_EQ(e.lanczos_steps, 10);
  for (double t : e.smallest) EXPECT_NEAR(t, 1.0, 1e-12);
  EXPECT_NEAR(e.largest[0], 5.0, 1e-12);
  EXPECT_NEAR(e.largest[1], 1.0, 1e-12);
  EXPECT_NEAR(e.condition_number, 5.0, 1e-11);
}

TEST(Lanczos, ZeroMatrixRunsNStepsWithInfiniteConditionNumber) {
  const Eigen::MatrixXd h = Eigen::MatrixXd::Zero(5, 5);
  const SpectrumEstimate e = RunLanczos(h, LanczosOptions{});
  EXPECT_EQ(e.lanczos_steps, 5);
  EXPECT_THAT(e.smallest, ElementsAre(0.0, 0.0, 0.0));
  EXPECT_EQ(e.condition_number, std::numeric_limits<double>::infinity());
}

TEST(Lanczos, MghHessiansAtX0AndSolutionsMatchDenseEigenvalues) {
  struct Point {
    std::string name;
    Eigen::VectorXd x;
  };
  std::vector<Point> points;
  for (const problems::TestProblem& p : problems::StandardProblems()) {
    if (p.n <= 100) points.push_back({p.name, p.x0});
  }
  points.push_back({"rosenbrock", Eigen::Vector2d(1.0, 1.0)});
  points.push_back({"beale", Eigen::Vector2d(3.0, 0.5)});
  points.push_back({"wood", Eigen::Vector4d(1.0, 1.0, 1.0, 1.0)});
  points.push_back({"helical_valley", Eigen::Vector3d(1.0, 0.0, 0.0)});
  points.push_back({"box_3d", Eigen::Vector3d(1.0, 10.0, 1.0)});
  points.push_back({"extended_rosenbrock_10", Eigen::VectorXd::Ones(10)});
  int checked = 0;
  int64_t products = 0;
  for (const Point& point : points) {
    SCOPED_TRACE(point.name);
    auto hessian = problems::HessianOf(point.name);
    ASSERT_TRUE(hessian.ok()) << hessian.status();
    const Eigen::MatrixXd h = Eigen::MatrixXd((*hessian)(point.x));
    const Eigen::VectorXd lambda =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(h,
                                                       Eigen::EigenvaluesOnly)
            .eigenvalues();
    // Eigenvalues below 1e-8 |H| are compared on that scale (an error of
    // 1e-14 |H|, a few n eps |H|: the rounding of the products H v;
    // linear_rank_1's Hessian, for one, is singular).
    const double floor = 1e-8 * lambda.cwiseAbs().maxCoeff();
    LanczosOptions options;
    options.probes = 1;
    const SpectrumEstimate e = RunLanczos(h, options);
    const int n = static_cast<int>(lambda.size());
    for (size_t i = 0; i < e.smallest.size(); ++i) {
      EXPECT_LE(std::abs(e.smallest[i] - lambda(i)),
                1e-6 * std::max(std::abs(lambda(i)), floor))
          << i;
      EXPECT_LE(std::abs(e.largest[i] - lambda(n - 1 - i)),
                1e-6 * std::max(std::abs(lambda(n - 1 - i)), floor))
          << i;
    }
    EXPECT_LE(e.products, n);
    products += e.products;
    ++checked;
  }
  EXPECT_GE(checked, 35);
  RecordProperty("products", static_cast<int>(products));
}

TEST(Lanczos, QuadratureReproducesTheProbeMoments) {
  // With full-length runs, Gauss quadrature is exact for degree <= 2m - 1:
  // sum_j tau_j^2 theta_j^p = q^T H^p q for p = 0, 1, 2 and each probe's
  // start q (Ubaru, Chen & Saad 2017, §3).
  const int n = 12;
  const Eigen::MatrixXd h =
      WithSpectrum(Eigen::VectorXd::LinSpaced(n, -2.0, 9.0), 3);
  LanczosOptions options;
  options.probes = 3;
  options.density_steps = n;
  options.extreme_count = 1;
  options.tolerance = 1e-15;
  std::vector<Eigen::VectorXd> asked;
  const SpectrumEstimate e = RunLanczos(h, options, &asked);
  // Part 1's run, then two probes of n steps each.
  const int64_t m = e.lanczos_steps;
  ASSERT_EQ(e.products, m + 2 * n);
  ASSERT_EQ(e.density_nodes.size(), static_cast<size_t>(m + 2 * n));
  double m0 = 0.0, m1 = 0.0, m2 = 0.0;
  for (size_t j = 0; j < e.density_nodes.size(); ++j) {
    m0 += e.density_weights[j];
    m1 += e.density_weights[j] * e.density_nodes[j];
    m2 += e.density_weights[j] * e.density_nodes[j] * e.density_nodes[j];
  }
  double want1 = 0.0, want2 = 0.0;
  for (int64_t start : {int64_t{0}, m, m + n}) {
    const Eigen::VectorXd& q = asked[start];
    EXPECT_NEAR(q.norm(), 1.0, 1e-15);
    // A normalized Rademacher vector: every |q_i| is 1 / sqrt(n).
    EXPECT_NEAR(q.cwiseAbs().maxCoeff(), 1.0 / std::sqrt(n), 1e-15);
    EXPECT_NEAR(q.cwiseAbs().minCoeff(), 1.0 / std::sqrt(n), 1e-15);
    want1 += q.dot(h * q) / 3;
    want2 += (h * q).squaredNorm() / 3;
  }
  EXPECT_NEAR(m0, 1.0, 1e-13);
  EXPECT_NEAR(m1, want1, 1e-12);
  EXPECT_NEAR(m2, want2, 1e-11);
}

TEST(Lanczos, SameProductsGiveBitwiseTheSameEstimate) {
  const Eigen::MatrixXd h =
      WithSpectrum(Eigen::VectorXd::LinSpaced(40, 1.0, 50.0), 5);
  const SpectrumEstimate a = RunLanczos(h, LanczosOptions{});
  const SpectrumEstimate b = RunLanczos(h, LanczosOptions{});
  EXPECT_EQ(a.smallest, b.smallest);
  EXPECT_EQ(a.largest, b.largest);
  EXPECT_EQ(a.density_nodes, b.density_nodes);
  EXPECT_EQ(a.density_weights, b.density_weights);
  // 4 probes: part 1 and three runs of 30 steps.
  EXPECT_EQ(a.products, a.lanczos_steps + 3 * 30);
}

TEST(Lanczos, MaxStepsEndsUnconverged) {
  const Eigen::MatrixXd h =
      WithSpectrum(Eigen::VectorXd::LinSpaced(50, 1.0, 50.0), 9);
  LanczosOptions options;
  options.max_steps = 4;
  options.probes = 1;
  const SpectrumEstimate e = RunLanczos(h, options);
  EXPECT_FALSE(e.converged);
  EXPECT_EQ(e.lanczos_steps, 4);
  EXPECT_EQ(e.products, 4);
}

TEST(Lanczos, StopKeepsWhatWasTold) {
  const Eigen::MatrixXd h =
      WithSpectrum(Eigen::VectorXd::LinSpaced(20, 1.0, 20.0), 13);
  auto lanczos = Lanczos::Create(LanczosOptions{}, 20);
  ASSERT_TRUE(lanczos.ok());
  (*lanczos)->Stop();
  EXPECT_TRUE((*lanczos)->finished());
  EXPECT_TRUE((*lanczos)->estimate().smallest.empty());
  EXPECT_TRUE(std::isnan((*lanczos)->estimate().condition_number));

  lanczos = Lanczos::Create(LanczosOptions{}, 20);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*lanczos)->Tell(h * (*lanczos)->vector()).ok());
  }
  (*lanczos)->Stop();
  const SpectrumEstimate& e = (*lanczos)->estimate();
  EXPECT_FALSE(e.converged);
  EXPECT_EQ(e.products, 5);
  EXPECT_EQ(e.smallest.size(), 3u);
  double total = 0.0;
  for (double w : e.density_weights) total += w;
  EXPECT_NEAR(total, 1.0, 1e-14);
}

TEST(LanczosOptions, ValidateNamesTheFieldAndTheRange) {
  LanczosOptions o;
  o.extreme_count = 0;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.extreme_count is 0; it must be in [1, 64]"));
  o = LanczosOptions{};
  o.max_steps = 2001;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.max_steps is 2001; it must be in "
                       "[1, 2000]"));
  o = LanczosOptions{};
  o.tolerance = 0.0;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.tolerance is 0; it must be in [1e-15, 0.1]"));
  o.tolerance = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("curvature.tolerance is nan")));
  o = LanczosOptions{};
  o.probes = 101;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.probes is 101; it must be in [1, 100]"));
  o = LanczosOptions{};
  o.density_steps = 0;
  EXPECT_THAT(o.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "curvature.density_steps is 0; it must be in "
                       "[1, 1000]"));
  EXPECT_TRUE(LanczosOptions{}.Validate().ok());
}

TEST(Lanczos, ErrorPaths) {
  EXPECT_THAT(Lanczos::Create(LanczosOptions{}, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the dimension is 0; it must be at least 1"));
  auto lanczos = Lanczos::Create(LanczosOptions{}, 3);
  ASSERT_TRUE(lanczos.ok());
  EXPECT_THAT((*lanczos)->Tell(Eigen::VectorXd::Zero(2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the Hessian-vector product has 2 elements; the "
                       "dimension is 3"));
  Eigen::VectorXd bad = Eigen::VectorXd::Zero(3);
  bad(1) = std::numeric_limits<double>::infinity();
  EXPECT_THAT((*lanczos)->Tell(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the Hessian-vector product's element 1 is not "
                       "finite (inf)"));
  EXPECT_EQ((*lanczos)->products(), 0);
  (*lanczos)->Stop();
  EXPECT_THAT((*lanczos)->Tell(Eigen::VectorXd::Zero(3)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "the Lanczos run has finished"));
}

}  // namespace
}  // namespace optd
