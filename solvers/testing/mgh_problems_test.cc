#include "solvers/testing/mgh_problems.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/scipy_reference.h"
#include "solvers/testing/status_matchers.h"

namespace optd::problems {
namespace {

using ::Eigen::VectorXd;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// df/dx_j at x by central differences extrapolated to h -> 0 (Ridders'
// method, Numerical Recipes 3rd ed. §5.7): central differences with steps
// h0, h0/1.4, h0/1.4^2, ... combined by Neville's scheme in h^2; returns the
// entry with the smallest error estimate.
double RiddersDerivative(const TestProblem& p, const VectorXd& x, int j,
                         double h0) {
  constexpr int kTable = 10;
  constexpr double kShrink = 1.4, kShrink2 = kShrink * kShrink, kSafe = 2.0;
  auto central = [&](double h) {
    VectorXd plus = x, minus = x;
    plus(j) += h;
    minus(j) -= h;
    return (p.evaluate(plus, nullptr) - p.evaluate(minus, nullptr)) / (2 * h);
  };
  double a[kTable][kTable];
  double h = h0;
  a[0][0] = central(h);
  double best = a[0][0], error = std::numeric_limits<double>::infinity();
  for (int i = 1; i < kTable; ++i) {
    h /= kShrink;
    a[0][i] = central(h);
    double factor = kShrink2;
    for (int k = 1; k <= i; ++k) {
      a[k][i] = (a[k - 1][i] * factor - a[k - 1][i - 1]) / (factor - 1.0);
      factor *= kShrink2;
      const double estimate = std::max(std::abs(a[k][i] - a[k - 1][i]),
                                       std::abs(a[k][i] - a[k - 1][i - 1]));
      if (estimate <= error) {
        error = estimate;
        best = a[k][i];
      }
    }
    if (std::abs(a[i][i] - a[i - 1][i - 1]) >= kSafe * error) break;
  }
  return best;
}

// x0 and two deterministic points about 10% (of max(1, |x0_j|)) away from it.
std::vector<VectorXd> CheckPoints(const TestProblem& p) {
  std::vector<VectorXd> points = {p.x0, p.x0, p.x0};
  for (int j = 0; j < p.n; ++j) {
    const double scale = 0.1 * std::max(1.0, std::abs(p.x0(j)));
    points[1](j) += scale * std::sin(j + 1.0);
    points[2](j) += scale * std::cos(2.0 * j + 1.0);
  }
  return points;
}

TEST(MghProblems, HasThePapersProblemsWithConsistentFields) {
  const std::vector<TestProblem>& problems = StandardProblems();
  EXPECT_EQ(problems.size(), 36u);
  std::set<std::string> names;
  for (const TestProblem& p : problems) {
    SCOPED_TRACE(p.name);
    EXPECT_TRUE(names.insert(p.name).second) << "duplicate name";
    EXPECT_EQ(p.x0.size(), p.n);
    EXPECT_GE(p.f_min, 0.0);
    EXPECT_EQ(p.f_tolerance, std::max(1e-8, 1e-6 * p.f_min));
    ASSERT_TRUE(p.evaluate != nullptr);
  }
  for (const char* required : {"rosenbrock",
                               "freudenstein_roth",
                               "powell_badly_scaled",
                               "brown_badly_scaled",
                               "beale",
                               "jennrich_sampson",
                               "helical_valley",
                               "bard",
                               "gaussian",
                               "box_3d",
                               "powell_singular",
                               "wood",
                               "kowalik_osborne",
                               "brown_dennis",
                               "biggs_exp6",
                               "watson_6",
                               "watson_9",
                               "extended_rosenbrock_1000",
                               "extended_powell_100",
                               "penalty_1_10",
                               "variably_dimensioned_10",
                               "trigonometric_10",
                               "discrete_boundary_value_10",
                               "broyden_tridiagonal_10",
                               "chebyquad_8"}) {
    EXPECT_TRUE(names.count(required)) << required;
  }
}

TEST(MghProblems, FindProblem) {
  absl::StatusOr<TestProblem> p = FindProblem("wood");
  ASSERT_OK(p);
  EXPECT_EQ(p->name, "wood");
  EXPECT_EQ(p->n, 4);
  EXPECT_THAT(FindProblem("woods"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("woods")));
}

TEST(MghProblems, GradientsMatchCentralDifferences) {
  for (const TestProblem& p : StandardProblems()) {
    for (const VectorXd& x : CheckPoints(p)) {
      SCOPED_TRACE(p.name);
      VectorXd grad;
      p.evaluate(x, &grad);
      ASSERT_EQ(grad.size(), p.n);
      VectorXd numeric(p.n);
      for (int j = 0; j < p.n; ++j) {
        // Starting steps of 1% of |x_j| (at least 1e-4) suit every problem,
        // including Osborne 1's exp(-320 x_4) and Brown's 1e12-sized f.
        numeric(j) =
            RiddersDerivative(p, x, j, 0.01 * std::max(0.01, std::abs(x(j))));
      }
      const double scale = std::max(grad.lpNorm<Eigen::Infinity>(),
                                    numeric.lpNorm<Eigen::Infinity>());
      const double error = (grad - numeric).lpNorm<Eigen::Infinity>() / scale;
      EXPECT_LT(error, 1e-7)
          << "at x = " << x.transpose().head(std::min<Eigen::Index>(p.n, 12));
    }
  }
}

TEST(MghProblems, ValueIsTheSameWithAndWithoutGradient) {
  for (const TestProblem& p : StandardProblems()) {
    SCOPED_TRACE(p.name);
    VectorXd grad = VectorXd::Constant(3, 42.0);  // wrong size, stale values
    const double with = p.evaluate(p.x0, &grad);
    EXPECT_EQ(with, p.evaluate(p.x0, nullptr));
    EXPECT_EQ(grad.size(), p.n);
    VectorXd again;
    p.evaluate(p.x0, &again);
    EXPECT_EQ(grad, again);
  }
}

// f(x0) worked out by hand from the paper's definitions.
TEST(MghProblems, ValuesAtStartingPointsMatchClosedForms) {
  const double e1 = std::exp(-1.0) - 1e-4;
  const std::map<std::string, double> expected = {
      {"rosenbrock", 24.2},          // 4.4^2 + 2.2^2
      {"freudenstein_roth", 400.5},  // 19.5^2 + 4.5^2
      {"powell_badly_scaled", 1.0 + e1 * e1},
      {"brown_badly_scaled",
       (1.0 - 1e6) * (1.0 - 1e6) + (1.0 - 2e-6) * (1.0 - 2e-6) + 1.0},
      {"beale", 14.203125},  // 1.5^2 + 2.25^2 + 2.625^2
      {"helical_valley", 2500.0},
      {"powell_singular", 215.0},  // 49 + 5 + 1 + 160
      {"wood", 19192.0},
      {"watson_6", 30.0},  // 29 residuals -1, f30 = 0, f31 = -1
      {"watson_9", 30.0},
      {"extended_rosenbrock_1000", 500 * 24.2},
      {"extended_powell_100", 25 * 215.0},
      // sum 1e-5 (j-1)^2 + (sum j^2 - 1/4)^2 = 2.85e-3 + 384.75^2
      {"penalty_1_10", 2.85e-3 + 384.75 * 384.75},
      // sum (j/10)^2 + 38.5^2 + 38.5^4
      {"variably_dimensioned_10", 3.85 + 38.5 * 38.5 + std::pow(38.5, 4)},
      // 9 residuals -5.5 and 2^-10 - 1
      {"brown_almost_linear_10",
       9 * 30.25 + std::pow(std::pow(0.5, 10) - 1.0, 2)},
      {"broyden_tridiagonal_10", 21.0},  // -2, -1 (8 times), -3
      {"broyden_banded_10", 360.0},      // -6 each
      {"linear_full_rank_10", 50.0},     // 10 residuals -1, 10 residuals -2
      // sum_i (55 i - 1)^2, i = 1..20
      {"linear_rank_1_10", 8658670.0},
      // 2 + sum_k (44 k - 1)^2, k = 1..18
      {"linear_rank_1_zero_10", 4067996.0},
  };
  for (const auto& [name, value] : expected) {
    SCOPED_TRACE(name);
    absl::StatusOr<TestProblem> p = FindProblem(name);
    ASSERT_OK(p);
    EXPECT_NEAR(p->evaluate(p->x0, nullptr), value, 1e-13 * value);
  }
}

// Points where the paper gives the minimizer exactly: f and g vanish there
// (or take the stated value).
TEST(MghProblems, ValuesAtKnownMinimizers) {
  struct Case {
    std::string name;
    VectorXd x;
    double f;
  };
  auto vec = [](std::initializer_list<double> v) {
    VectorXd x(v.size());
    std::copy(v.begin(), v.end(), x.data());
    return x;
  };
  VectorXd brown_almost_linear_other = VectorXd::Zero(10);
  brown_almost_linear_other(9) = 11.0;
  const std::vector<Case> cases = {
      {"rosenbrock", vec({1, 1}), 0.0},
      {"freudenstein_roth", vec({5, 4}), 0.0},
      {"brown_badly_scaled", vec({1e6, 2e-6}), 0.0},
      {"beale", vec({3, 0.5}), 0.0},
      {"helical_valley", vec({1, 0, 0}), 0.0},
      {"box_3d", vec({1, 10, 1}), 0.0},
      {"box_3d", vec({10, 1, -1}), 0.0},
      {"box_3d", vec({2, 2, 0}), 0.0},
      {"powell_singular", VectorXd::Zero(4), 0.0},
      {"wood", VectorXd::Ones(4), 0.0},
      {"biggs_exp6", vec({1, 10, 1, 5, 4, 3}), 0.0},
      {"extended_rosenbrock_1000", VectorXd::Ones(1000), 0.0},
      {"extended_powell_100", VectorXd::Zero(100), 0.0},
      {"variably_dimensioned_10", VectorXd::Ones(10), 0.0},
      {"brown_almost_linear_10", VectorXd::Ones(10), 0.0},
      {"brown_almost_linear_10", brown_almost_linear_other, 1.0},
      {"linear_full_rank_10", VectorXd::Constant(10, -1.0), 10.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<TestProblem> p = FindProblem(c.name);
    ASSERT_OK(p);
    VectorXd grad;
    EXPECT_NEAR(p->evaluate(c.x, &grad), c.f, 1e-20);
    EXPECT_LT(grad.lpNorm<Eigen::Infinity>(), 1e-14);
  }
  // Gulf's minimizer (50, 25, 1.5) is exact only up to rounding in
  // exp(log(t_i)).
  absl::StatusOr<TestProblem> gulf = FindProblem("gulf");
  ASSERT_OK(gulf);
  EXPECT_LT(gulf->evaluate(vec({50, 25, 1.5}), nullptr), 1e-28);
}

// Stationary points found numerically (Levenberg-Marquardt, then Newton on
// the gradient, in numpy): f there is each problem's f_min, which agrees with
// the paper's 6 digits.
TEST(MghProblems, ValuesAtNumericalMinimizersMatchFMin) {
  const std::map<std::string, std::vector<double>> minimizers = {
      {"freudenstein_roth", {11.4127789869021, -0.896805253274476}},
      {"jennrich_sampson", {0.257825213670364, 0.257825213670364}},
      {"bard", {0.0824105597497889, 1.13303609202972, 2.34369517864254}},
      {"gaussian", {0.398956137838757, 1.00001908448781, 1.35071941640186e-20}},
      {"meyer", {0.00560963647102884, 6181.34634628625, 345.223634624132}},
      {"kowalik_osborne",
       {0.192806934579038, 0.191282328734367, 0.123056506926321,
        0.136062330683795}},
      {"brown_dennis",
       {-11.5944399047622, 13.2036300512072, -0.40343948817686,
        0.236778774455736}},
      {"osborne_1",
       {0.375410052106952, 1.93584691271237, -1.46468713661342,
        0.0128675346400573, 0.0221226996616726}},
      {"biggs_exp6",
       {1.71141599471959, 17.6831981809491, 1.16314366091994, 5.18656155199346,
        1.71141599471959, 1.16314366091785}},
      {"osborne_2",
       {1.3099771546273, 0.431553794602989, 0.633661698960724,
        0.599430534785916, 0.754183226328011, 0.904288579859635,
        1.36581183523703, 4.82369881722716, 2.39868486613175, 4.56887459766767,
        5.67534147058064}},
      {"watson_6",
       {-0.0157250864014587, 1.01243486936911, -0.232991625956738,
        1.26043008779961, -1.51372892272228, 0.992996432431134}},
      {"watson_9",
       {-1.53070365214547e-05, 0.999789703931949, 0.0147639636935497,
        0.146342328299427, 1.00082110300445, -2.61773114051845,
        4.10440316447817, -3.14361227855601, 1.05262640801005}},
      {"penalty_1_10", std::vector<double>(10, 0.158122301113116)},
      {"penalty_2_10",
       {0.199983605197824, 0.0103506484712923, 0.0196049344804384,
        0.0320890672206857, 0.0499326773996413, 0.0765139951539936,
        0.118624072869504, 0.192144872335577, 0.347320586941844,
        0.369164374159351}},
      {"trigonometric_10",
       {0.0551509039806911, 0.0568406167947384, 0.0587640017626948,
        0.0609906086567602, 0.0636262136958547, 0.0668431794527587,
        0.208161518569882, 0.164363095885643, 0.0850068956885091,
        0.091431450714708}},
      {"chebyquad_8",
       {0.0431527601510166, 0.193090840384186, 0.266328706890273, 0.5, 0.5,
        0.733671293109727, 0.806909159615814, 0.956847239848983}},
  };
  for (const auto& [name, coordinates] : minimizers) {
    SCOPED_TRACE(name);
    absl::StatusOr<TestProblem> p = FindProblem(name);
    ASSERT_OK(p);
    ASSERT_EQ(static_cast<int>(coordinates.size()), p->n);
    const VectorXd x =
        Eigen::Map<const VectorXd>(coordinates.data(), coordinates.size());
    EXPECT_NEAR(p->evaluate(x, nullptr), p->f_min, 1e-10 * p->f_min);
  }
}

// tests/data/scipy_lbfgsb_1.10.txt carries numpy's f(x0) and max |g(x0)| from
// tests/data/mgh_problems.py: agreement to rounding shows that the C++ and
// numpy copies define the same problems.
TEST(MghProblems, MatchesNumpyAtStartingPoints) {
  absl::StatusOr<std::vector<testing::ScipyReference>> references =
      testing::LoadScipyReferences(OPTD_TEST_DATA_DIR "/scipy_lbfgsb_1.10.txt");
  ASSERT_OK(references);
  ASSERT_EQ(references->size(), StandardProblems().size());
  for (const testing::ScipyReference& r : *references) {
    SCOPED_TRACE(r.name);
    absl::StatusOr<TestProblem> p = FindProblem(r.name);
    ASSERT_OK(p);
    EXPECT_EQ(p->n, r.n);
    VectorXd grad;
    const double f = p->evaluate(p->x0, &grad);
    EXPECT_NEAR(f, r.f_x0, 1e-12 * std::abs(r.f_x0));
    EXPECT_NEAR(grad.lpNorm<Eigen::Infinity>(), r.grad_inf_x0,
                1e-12 * r.grad_inf_x0);
  }
}

}  // namespace
}  // namespace optd::problems
