// Moré, Garbow & Hillstrom, "Testing unconstrained optimization software",
// ACM TOMS 7 (1981) 17-41: the problems as the paper defines them. The numbers
// in the comments are the paper's problem numbers, indices are the paper's
// (1-based) while the code is 0-based. tests/data/mgh_problems.py is the same
// set in numpy; the two agree at every x0 to 1e-12 (mgh_problems_test.cc).
#include "solvers/testing/mgh_problems.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "solvers/testing/mgh_objectives.h"

namespace optd::problems {
namespace {

using Eigen::VectorXd;

using Evaluate = std::function<double(const VectorXd&, VectorXd*)>;

TestProblem Make(std::string name, VectorXd x0, double f_min,
                 Evaluate evaluate) {
  TestProblem p;
  p.name = std::move(name);
  p.n = static_cast<int>(x0.size());
  p.x0 = std::move(x0);
  p.f_min = f_min;
  p.f_tolerance = std::max(1e-8, 1e-6 * std::abs(f_min));
  p.evaluate = std::move(evaluate);
  return p;
}

VectorXd Vec(std::initializer_list<double> values) {
  VectorXd v(values.size());
  int i = 0;
  for (double value : values) v(i++) = value;
  return v;
}

// `block` repeated to n entries.
VectorXd Tile(const VectorXd& block, int n) {
  VectorXd v(n);
  for (int i = 0; i < n; ++i) v(i) = block(i % block.size());
  return v;
}

// t_j (t_j - 1), t_j = j/(n+1): the starting point of (28) and (29).
VectorXd BoundaryValueStart(int n) {
  VectorXd v(n);
  for (int j = 0; j < n; ++j) {
    const double t = (j + 1.0) / (n + 1);
    v(j) = t * (t - 1.0);
  }
  return v;
}

std::vector<TestProblem> MakeProblems() {
  // f_min: the paper's values (6 digits), here to ~13 digits from a
  // Levenberg-Marquardt solve (scipy.optimize.least_squares, method='lm',
  // xtol = ftol = gtol = 1e-15) polished by Newton's method on the gradient;
  // every one agrees with the paper. Local minima are those the paper lists,
  // which scipy's L-BFGS-B reaches from x0.
  std::vector<TestProblem> p;
  // (1) f = 0 at (1, 1).
  p.push_back(
      Make("rosenbrock", Vec({-1.2, 1.0}), 0.0, objectives::Rosenbrock));
  // (2) f = 0 at (5, 4); L-BFGS-B reaches the local minimum 48.9842 at
  // (11.41..., -0.8968...).
  p.push_back(Make("freudenstein_roth", Vec({0.5, -2.0}), 48.98425367924,
                   objectives::FreudensteinRoth));
  // (3) f = 0 at (1.098...e-5, 9.106...).
  p.push_back(Make("powell_badly_scaled", Vec({0.0, 1.0}), 0.0,
                   objectives::PowellBadlyScaled));
  // (4) f = 0 at (1e6, 2e-6).
  p.push_back(Make("brown_badly_scaled", Vec({1.0, 1.0}), 0.0,
                   objectives::BrownBadlyScaled));
  // (5) f = 0 at (3, 0.5).
  p.push_back(Make("beale", Vec({1.0, 1.0}), 0.0, objectives::Beale));
  // (6) m = 10: f = 124.362 at x1 = x2 = 0.2578.
  p.push_back(Make("jennrich_sampson", Vec({0.3, 0.4}), 124.3621823556,
                   objectives::JennrichSampson));
  // (7) f = 0 at (1, 0, 0).
  p.push_back(Make("helical_valley", Vec({-1.0, 0.0, 0.0}), 0.0,
                   objectives::HelicalValley));
  // (8) f = 8.21487e-3; also 17.4286 at (0.8406, -inf, -inf).
  p.push_back(
      Make("bard", Vec({1.0, 1.0, 1.0}), 8.214877306579e-3, objectives::Bard));
  // (9) f = 1.12793e-8.
  p.push_back(Make("gaussian", Vec({0.4, 1.0, 0.0}), 1.127932769619e-8,
                   objectives::Gaussian));
  // (10) f = 87.9458.
  p.push_back(Make("meyer", Vec({0.02, 4000.0, 250.0}), 87.94585517076,
                   objectives::Meyer));
  // (11) f = 0 at (50, 25, 1.5).
  p.push_back(Make("gulf", Vec({5.0, 2.5, 0.15}), 0.0, objectives::Gulf));
  // (12) m = 10: f = 0 at (1, 10, 1), (10, 1, -1) and wherever x1 = x2, x3 = 0.
  p.push_back(Make("box_3d", Vec({0.0, 10.0, 20.0}), 0.0, objectives::Box3d));
  // (13) f = 0 at the origin.
  p.push_back(Make("powell_singular", Vec({3.0, -1.0, 0.0, 1.0}), 0.0,
                   objectives::ExtendedPowellSingular));
  // (14) f = 0 at (1, 1, 1, 1). (It has a saddle point with f = 7.87697 near
  // (-0.968, 0.947, -0.970, 0.951).)
  p.push_back(
      Make("wood", Vec({-3.0, -1.0, -3.0, -1.0}), 0.0, objectives::Wood));
  // (15) f = 3.07505e-4; also 1.02734e-3 at (+inf, -14.07..., -inf, -inf).
  p.push_back(Make("kowalik_osborne", Vec({0.25, 0.39, 0.415, 0.39}),
                   3.075056038492e-4, objectives::KowalikOsborne));
  // (16) m = 20: f = 85822.2.
  p.push_back(Make("brown_dennis", Vec({25.0, 5.0, -5.0, -1.0}), 85822.20162636,
                   objectives::BrownDennis));
  // (17) f = 5.46489e-5.
  p.push_back(Make("osborne_1", Vec({0.5, 1.5, -1.0, 0.01, 0.02}),
                   5.464894697483e-5, objectives::Osborne1));
  // (18) m = 13: f = 0 at (1, 10, 1, 5, 4, 3); L-BFGS-B reaches the paper's
  // other value 5.65565e-3, a stationary point with x1 = x5, x3 = x6 that is
  // a saddle (f decreases along x1 - x5) which L-BFGS-B does not leave.
  p.push_back(Make("biggs_exp6", Vec({1.0, 2.0, 1.0, 1.0, 1.0, 1.0}),
                   5.655649925500e-3, objectives::BiggsExp6));
  // (19) f = 4.01377e-2.
  p.push_back(
      Make("osborne_2",
           Vec({1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5}),
           4.013773629355e-2, objectives::Osborne2));
  // (20) f = 2.28767e-3 (n = 6), 1.39976e-6 (n = 9).
  p.push_back(Make("watson_6", VectorXd::Zero(6), 2.287670053552e-3,
                   objectives::Watson));
  p.push_back(Make("watson_9", VectorXd::Zero(9), 1.399760138102e-6,
                   objectives::Watson));
  // (21) f = 0 at (1, ..., 1).
  p.push_back(Make("extended_rosenbrock_1000", Tile(Vec({-1.2, 1.0}), 1000),
                   0.0, objectives::ExtendedRosenbrock));
  // (22) f = 0 at the origin.
  p.push_back(Make("extended_powell_100", Tile(Vec({3.0, -1.0, 0.0, 1.0}), 100),
                   0.0, objectives::ExtendedPowellSingular));
  // (23) f = 7.08765e-5 (n = 10).
  p.push_back(Make("penalty_1_10", VectorXd::LinSpaced(10, 1.0, 10.0),
                   7.087651467090e-5, objectives::Penalty1));
  // (24) f = 2.93660e-4 (n = 10).
  p.push_back(Make("penalty_2_10", VectorXd::Constant(10, 0.5),
                   2.936605374568e-4, objectives::Penalty2));
  // (25) f = 0 at (1, ..., 1).
  p.push_back(Make("variably_dimensioned_10",
                   VectorXd::Ones(10) - VectorXd::LinSpaced(10, 0.1, 1.0), 0.0,
                   objectives::VariablyDimensioned));
  // (26) f = 0; L-BFGS-B reaches the local minimum 2.79506e-5 (n = 10).
  p.push_back(Make("trigonometric_10", VectorXd::Constant(10, 0.1),
                   2.795056121880e-5, objectives::Trigonometric));
  // (27) f = 0 at (a, ..., a, a^(1-n)), n a^n - (n+1) a^(n-1) + 1 = 0; also
  // f = 1 at (0, ..., 0, n+1).
  p.push_back(Make("brown_almost_linear_10", VectorXd::Constant(10, 0.5), 0.0,
                   objectives::BrownAlmostLinear));
  // (28) f = 0.
  p.push_back(Make("discrete_boundary_value_10", BoundaryValueStart(10), 0.0,
                   objectives::DiscreteBoundaryValue));
  // (29) f = 0.
  p.push_back(Make("discrete_integral_equation_10", BoundaryValueStart(10), 0.0,
                   objectives::DiscreteIntegralEquation));
  // (30) f = 0.
  p.push_back(Make("broyden_tridiagonal_10", VectorXd::Constant(10, -1.0), 0.0,
                   objectives::BroydenTridiagonal));
  // (31) f = 0.
  p.push_back(Make("broyden_banded_10", VectorXd::Constant(10, -1.0), 0.0,
                   objectives::BroydenBanded));
  // (32) m = 20: f = m - n at (-1, ..., -1).
  p.push_back(Make("linear_full_rank_10", VectorXd::Ones(10), 10.0,
                   [](const VectorXd& x, VectorXd* g) {
                     return objectives::LinearFullRank(20, x, g);
                   }));
  // (33) m = 20: f = m(m-1) / (2(2m+1)) wherever sum_j j x_j = 3/(2m+1).
  p.push_back(Make("linear_rank_1_10", VectorXd::Ones(10), 380.0 / 82.0,
                   [](const VectorXd& x, VectorXd* g) {
                     return objectives::LinearRank1(20, x, g);
                   }));
  // (34) m = 20: f = (m^2 + 3m - 6) / (2(2m-3)) wherever
  // sum_{j=2..n-1} j x_j = 3/(2m-3).
  p.push_back(Make("linear_rank_1_zero_10", VectorXd::Ones(10), 454.0 / 74.0,
                   [](const VectorXd& x, VectorXd* g) {
                     return objectives::LinearRank1Zero(20, x, g);
                   }));
  // (35) m = n = 8: f = 3.51687e-3.
  p.push_back(Make("chebyquad_8", VectorXd::LinSpaced(8, 1.0, 8.0) / 9.0,
                   3.516873725678e-3, [](const VectorXd& x, VectorXd* g) {
                     return objectives::Chebyquad(8, x, g);
                   }));
  return p;
}

}  // namespace

const std::vector<TestProblem>& StandardProblems() {
  static const std::vector<TestProblem>* const problems =
      new std::vector<TestProblem>(MakeProblems());
  return *problems;
}

absl::StatusOr<TestProblem> FindProblem(std::string_view name) {
  // Abseil 20220623 on Debian has its own absl::string_view (not
  // std::string_view), hence the std::string copies for StrCat and StrJoin.
  std::vector<std::string> names;
  for (const TestProblem& p : StandardProblems()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  return absl::NotFoundError(
      absl::StrCat("no test problem called '", std::string(name),
                   "'; known: ", absl::StrJoin(names, ", ")));
}

}  // namespace optd::problems
