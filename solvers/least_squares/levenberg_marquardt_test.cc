// Tests of LevenbergMarquardt (levenberg_marquardt.h): the Moré, Garbow &
// Hillstrom problems against scipy 1.10's least_squares(method='lm') as
// tests/data/gen_scipy_lm.py recorded it in tests/data/scipy_lm_1.10.txt
// (evaluation counts, status, cost), bad options, failed evaluations, the
// covariance, and SaveState/RestoreState.
#include "solvers/least_squares/levenberg_marquardt.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/mgh_least_squares.h"

namespace optd {
namespace {

using ::testing::HasSubstr;

// One line of scipy_lm_1.10.txt (see its header).
struct ScipyLm {
  std::string name;
  int n = 0, m = 0, nfev = 0, njev = 0, status = 0;
  double cost = 0, optimality = 0, cost_x0 = 0, jac_norm_x0 = 0;
  std::vector<double> x;
};

std::vector<ScipyLm> LoadScipyLm() {
  std::ifstream in(OPTD_TEST_DATA_DIR "/scipy_lm_1.10.txt");
  std::vector<ScipyLm> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    ScipyLm e;
    std::string xs;
    s >> e.name >> e.n >> e.m >> e.nfev >> e.njev >> e.status >> e.cost >>
        e.optimality >> e.cost_x0 >> e.jac_norm_x0 >> xs;
    std::istringstream xss(xs);
    std::string v;
    while (std::getline(xss, v, ',')) e.x.push_back(std::stod(v));
    out.push_back(e);
  }
  return out;
}

// Runs the machine to the end on `p`.
std::unique_ptr<LevenbergMarquardt> RunToEnd(
    const problems::ResidualProblem& p, const LevenbergMarquardtOptions& o) {
  auto lm = LevenbergMarquardt::Create(o, p.x0, p.m);
  EXPECT_TRUE(lm.ok()) << lm.status();
  if (!lm.ok()) return nullptr;
  Eigen::VectorXd r;
  Eigen::MatrixXd jac;
  while (!(*lm)->finished()) {
    p.evaluate((*lm)->trial_point(), &r, &jac);
    EXPECT_TRUE((*lm)->Tell(r, jac).ok());
  }
  return *std::move(lm);
}

// Problems where optd's counts or status differ from scipy's, and why: the
// C++ residuals (mgh_residuals.cc, on jets) do not round as numpy's do.
//   biggs_exp6, gaussian: numpy 1.24's vectorized exp (AVX-512 paths) rounds
//     differently from glibc's std::exp in about a quarter of arguments
//     (gaussian's cost(x0) already differs in the 14th digit). biggs_exp6
//     goes to 73/57 evaluations instead of 65/53 and the same zero-residual
//     minimum; gaussian makes the same evaluations but its last step meets
//     ftol as well as xtol (status 4, scipy 3).
//   powell_singular: the jets compute sqrt(10) (x1 - x4) (x1 - x4) and
//     derivatives by the product rule, numpy sqrt(10) (x1 - x4)**2 and
//     2 sqrt(10) (x1 - x4); near its singular zero-residual minimum that
//     changes the path (32/32 against 37/37). PowellSingularInNumpysOrder
//     below evaluates in numpy's order and matches scipy's 37/37 exactly.
// The costs agree on all of them (to the zero-residual noise floor).
const std::set<std::string>& CountExceptions() {
  static const auto* const s =
      new std::set<std::string>{"biggs_exp6", "gaussian", "powell_singular"};
  return *s;
}

TEST(LevenbergMarquardtTest, MatchesScipyOnMgh) {
  const std::vector<ScipyLm> refs = LoadScipyLm();
  ASSERT_GE(refs.size(), 30u);
  int count_matches = 0;
  for (const ScipyLm& ref : refs) {
    SCOPED_TRACE(ref.name);
    auto p = problems::FindResidualProblem(ref.name);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->n, ref.n);
    ASSERT_EQ(p->m, ref.m);
    // The C++ residuals reproduce numpy's at x0.
    Eigen::VectorXd r0;
    Eigen::MatrixXd j0;
    p->evaluate(p->x0, &r0, &j0);
    EXPECT_NEAR(0.5 * r0.squaredNorm(), ref.cost_x0, 1e-12 * ref.cost_x0);
    EXPECT_NEAR(j0.norm(), ref.jac_norm_x0, 1e-14 * ref.jac_norm_x0);

    auto lm = RunToEnd(*p, LevenbergMarquardtOptions());
    ASSERT_NE(lm, nullptr);
    const LeastSquaresSummary& s = lm->summary();
    const bool counts_equal = s.nfev == ref.nfev && s.njev == ref.njev;
    count_matches += counts_equal;
    std::printf(
        "%-30s optd nfev %3d njev %3d status %d cost %.6e | scipy "
        "nfev %3d njev %3d status %d cost %.6e\n",
        ref.name.c_str(), static_cast<int>(s.nfev), static_cast<int>(s.njev),
        s.status, s.cost, ref.nfev, ref.njev, ref.status, ref.cost);
    if (CountExceptions().count(ref.name) == 0) {
      EXPECT_EQ(s.nfev, ref.nfev);
      EXPECT_EQ(s.njev, ref.njev);
      EXPECT_EQ(s.status, ref.status);
    }
    EXPECT_NEAR(s.cost, ref.cost, 1e-8 * ref.cost + 1e-20);
    EXPECT_EQ(s.success, ref.status > 0);
  }
  std::printf("counts equal on %d of %d problems\n", count_matches,
              static_cast<int>(refs.size()));
}

// Powell singular (MGH 13) with r and J computed exactly as
// tests/data/mgh_problems.py's _powell_singular does.
void PowellSingularNumpy(const Eigen::VectorXd& x, Eigen::VectorXd* r,
                         Eigen::MatrixXd* jac) {
  const double s5 = std::sqrt(5.0), s10 = std::sqrt(10.0);
  const double x1 = x(0), x2 = x(1), x3 = x(2), x4 = x(3);
  const double a = x2 - 2.0 * x3, b = x1 - x4;
  r->resize(4);
  *r << x1 + 10.0 * x2, s5 * (x3 - x4), a * a, s10 * (b * b);
  jac->setZero(4, 4);
  (*jac)(0, 0) = 1.0;
  (*jac)(0, 1) = 10.0;
  (*jac)(1, 2) = s5;
  (*jac)(1, 3) = -s5;
  (*jac)(2, 1) = 2.0 * a;
  (*jac)(2, 2) = -4.0 * a;
  (*jac)(3, 0) = 2.0 * s10 * b;
  (*jac)(3, 3) = -2.0 * s10 * b;
}

TEST(LevenbergMarquardtTest, PowellSingularInNumpysOrder) {
  problems::ResidualProblem p;
  p.name = "powell_singular_numpy";
  p.n = 4;
  p.m = 4;
  p.x0 = Eigen::Vector4d(3.0, -1.0, 0.0, 1.0);
  p.evaluate = PowellSingularNumpy;
  auto lm = RunToEnd(p, LevenbergMarquardtOptions());
  ASSERT_NE(lm, nullptr);
  // scipy_lm_1.10.txt: powell_singular 4 4 37 37 1 3.609744844100735e-42.
  EXPECT_EQ(lm->summary().nfev, 37);
  EXPECT_EQ(lm->summary().njev, 37);
  EXPECT_EQ(lm->summary().status, kLeastSquaresGtol);
  EXPECT_NEAR(lm->summary().cost, 3.609744844100735e-42, 1e-50);
}

}  // namespace
}  // namespace optd
