// Tests of Lsmr (lsmr.h) against scipy 1.10's scipy.sparse.linalg.lsmr on a
// fixed 9 x 6 system (A_ij = 1 / (i + j + 1) + [i == j], b_i = sin(i + 1)),
// whose outputs were printed by
//   /usr/bin/python3 -c "from scipy.sparse.linalg import lsmr; ..."
// with the same A and b (solution, istop, itn, normr), and against the
// dense least-squares solution.
#include "solvers/least_squares/lsmr.h"

#include <cmath>
#include <vector>

#include "Eigen/Dense"
#include "gtest/gtest.h"

namespace optd {
namespace {

Eigen::MatrixXd TestMatrix() {
  Eigen::MatrixXd a(9, 6);
  for (int i = 0; i < 9; ++i) {
    for (int j = 0; j < 6; ++j) a(i, j) = 1.0 / (i + j + 1) + (i == j);
  }
  return a;
}

Eigen::VectorXd TestRhs() {
  Eigen::VectorXd b(9);
  for (int i = 0; i < 9; ++i) b(i) = std::sin(i + 1.0);
  return b;
}

// Runs Lsmr to the end with dense products; counts them.
Lsmr Solve(const Eigen::MatrixXd& a, const Eigen::VectorXd& b,
           const LsmrOptions& options, int* matvecs, int* rmatvecs) {
  Lsmr lsmr(static_cast<int>(a.rows()), static_cast<int>(a.cols()), b, options);
  *matvecs = *rmatvecs = 0;
  while (lsmr.request() != Lsmr::Request::kDone) {
    if (lsmr.request() == Lsmr::Request::kMatvec) {
      ++*matvecs;
      lsmr.Tell(a * lsmr.operand());
    } else {
      ++*rmatvecs;
      lsmr.Tell(a.transpose() * lsmr.operand());
    }
  }
  return lsmr;
}

struct ScipyCase {
  LsmrOptions options;
  std::vector<double> x;
  int istop, itn;
  double normr;
};

TEST(LsmrTest, MatchesScipyLsmr) {
  std::vector<ScipyCase> cases(4);
  cases[0].x = {0.41959306253913664, 0.8089088001185887,  0.14334095859545026,
                -0.7107667789193863, -0.8920923830138298, -0.20249550611126302};
  cases[0].istop = 2;
  cases[0].itn = 4;
  cases[0].normr = 1.2723144062804195;
  cases[1].options.damp = 0.5;
  cases[1].x = {0.400185873865681,   0.6635232565078298,  0.11536487391077202,
                -0.5745430041883165, -0.7226707700547483, -0.1724304182274833};
  cases[1].istop = 2;
  cases[1].itn = 4;
  cases[1].normr = 1.4391220307641275;
  cases[2].options.atol = cases[2].options.btol = 1e-12;
  cases[2].x = {0.4195932801009987,  0.808906816728986,   0.14334404239281198,
                -0.7107661664999129, -0.8920939425085952, -0.2024960753178645};
  cases[2].istop = 2;
  cases[2].itn = 6;
  cases[2].normr = 1.2723144062738823;
  cases[3].options.maxiter = 2;
  cases[3].x = {0.5389975711610693,  0.6377717032360661,  0.04407529084953313,
                -0.6615795714113951, -0.8134293607607186, -0.2607939465610531};
  cases[3].istop = 7;
  cases[3].itn = 2;
  cases[3].normr = 1.3011153739482137;
  for (const ScipyCase& c : cases) {
    int matvecs = 0, rmatvecs = 0;
    const Lsmr lsmr =
        Solve(TestMatrix(), TestRhs(), c.options, &matvecs, &rmatvecs);
    EXPECT_EQ(lsmr.istop(), c.istop);
    EXPECT_EQ(lsmr.itn(), c.itn);
    // One A^T b to start, then one A v and one A^T u per iteration.
    EXPECT_EQ(matvecs, c.itn);
    EXPECT_EQ(rmatvecs, c.itn + 1);
    EXPECT_NEAR(lsmr.normr(), c.normr, 1e-12);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(lsmr.x()(i), c.x[i], 1e-12);
  }
}

TEST(LsmrTest, ConvergesToTheDampedLeastSquaresSolution) {
  const Eigen::MatrixXd a = TestMatrix();
  const Eigen::VectorXd b = TestRhs();
  LsmrOptions options;
  options.atol = options.btol = 1e-14;
  options.damp = 0.3;
  options.maxiter = 50;
  int matvecs = 0, rmatvecs = 0;
  const Lsmr lsmr = Solve(a, b, options, &matvecs, &rmatvecs);
  // (A^T A + damp^2 I) x = A^T b.
  const Eigen::MatrixXd normal =
      a.transpose() * a + 0.09 * Eigen::MatrixXd::Identity(6, 6);
  const Eigen::VectorXd expected = normal.ldlt().solve(a.transpose() * b);
  EXPECT_LT((lsmr.x() - expected).norm(), 1e-10 * expected.norm());
  EXPECT_NEAR(lsmr.normx(), expected.norm(), 1e-10);
}

TEST(LsmrTest, ZeroRightHandSideOrZeroGradientEndsAtOnce) {
  const Eigen::MatrixXd a = TestMatrix();
  int matvecs = 0, rmatvecs = 0;
  const Lsmr zero_b =
      Solve(a, Eigen::VectorXd::Zero(9), LsmrOptions(), &matvecs, &rmatvecs);
  EXPECT_EQ(matvecs + rmatvecs, 0);
  EXPECT_EQ(zero_b.istop(), 0);
  EXPECT_EQ(zero_b.x(), Eigen::VectorXd::Zero(6));
  // b orthogonal to the range of A: A^T b = 0, x = 0 is the solution.
  Eigen::MatrixXd a2 = Eigen::MatrixXd::Zero(3, 2);
  a2(0, 0) = 1;
  a2(1, 1) = 1;
  const Lsmr orthogonal =
      Solve(a2, Eigen::Vector3d(0, 0, 1), LsmrOptions(), &matvecs, &rmatvecs);
  EXPECT_EQ(rmatvecs, 1);
  EXPECT_EQ(matvecs, 0);
  EXPECT_EQ(orthogonal.itn(), 0);
  EXPECT_EQ(orthogonal.x(), Eigen::VectorXd::Zero(2));
}

}  // namespace
}  // namespace optd
