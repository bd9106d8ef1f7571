#include "solvers/lbfgsb/lbfgsb_compact.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "Eigen/Dense"
#include "gtest/gtest.h"

namespace optd::lbfgsb {
namespace {

TEST(LbfgsbCompact, DdotMatchesTheExactSum) {
  const double x[7] = {1, 2, 3, 4, 5, 6, 7}, y[7] = {7, 6, 5, 4, 3, 2, 1};
  EXPECT_EQ(Ddot(7, x, y), 84.0);
  EXPECT_EQ(Ddot(3, x, y), 34.0);
  EXPECT_EQ(Ddot(0, x, y), 0.0);
}

TEST(LbfgsbCompact, DpofaAndDtrslSolveAPositiveDefiniteSystem) {
  Eigen::MatrixXd a(3, 3);
  a << 4, 2, 0.6, 2, 5, 1, 0.6, 1, 3;
  Eigen::MatrixXd r = a;
  ASSERT_EQ(Dpofa(r.data(), 3, 3), 0);
  const Eigen::MatrixXd upper = r.triangularView<Eigen::Upper>();
  EXPECT_LE((upper.transpose() * upper - a).norm(), 1e-14);
  Eigen::Vector3d b(1, -2, 0.5), x = b;
  ASSERT_EQ(Dtrsl(r.data(), 3, 3, x.data(), /*transpose=*/true), 0);
  ASSERT_EQ(Dtrsl(r.data(), 3, 3, x.data(), /*transpose=*/false), 0);
  EXPECT_LE((a * x - b).norm(), 1e-14);
  Eigen::MatrixXd indefinite(2, 2);
  indefinite << 1, 2, 2, 1;
  EXPECT_EQ(Dpofa(indefinite.data(), 2, 2), 2);
}

// bmv applies the middle matrix M of B = theta I - W M W' (Byrd, Nocedal &
// Schnabel 1994, eq. 3.5): M^{-1} = [[-D, L'], [L, theta S'S]]. Checked
// against the dense inverse, and B against its defining secant equations.
TEST(LbfgsbCompact, BmvAppliesTheMiddleMatrixOfTheCompactForm) {
  const int n = 6, m = 3;
  LbfgsbMemory memory(m);
  Eigen::MatrixXd s(n, 4), y(n, 4);
  for (int j = 0; j < 4; ++j) {
    for (int i = 0; i < n; ++i) {
      s(i, j) = std::sin(1.0 + i + 7.0 * j);
      y(i, j) = 2.0 * s(i, j) + 0.3 * std::cos(2.0 * i - j);
    }
  }
  for (int j = 0; j < 4; ++j) {  // four pairs into a memory of three
    const Eigen::VectorXd sj = s.col(j), yj = y.col(j);
    // What the slices reduce (LbfgsbSlice::PushPair): y'y, then s'y_i and
    // s_i's for the older pairs held, oldest first.
    const int first = std::max(0, j - (m - 1));
    std::vector<double> sums = {yj.dot(yj)};
    for (int i = first; i < j; ++i) sums.push_back(sj.dot(y.col(i)));
    for (int i = first; i < j; ++i) sums.push_back(s.col(i).dot(sj));
    memory.Update(sums.data(), sj.dot(yj), 1.0, sj.dot(sj));
    ASSERT_TRUE(memory.FormT());
  }
  ASSERT_EQ(memory.col, 3);
  const Eigen::MatrixXd S = s.rightCols(3), Y = y.rightCols(3);
  const double theta = memory.theta;
  EXPECT_NEAR(theta, Y.col(2).squaredNorm() / S.col(2).dot(Y.col(2)), 1e-14);
  const Eigen::MatrixXd sy = S.transpose() * Y;
  Eigen::MatrixXd minv = Eigen::MatrixXd::Zero(6, 6);
  Eigen::MatrixXd lower = sy.triangularView<Eigen::StrictlyLower>();
  minv.topLeftCorner(3, 3) = -sy.diagonal().asDiagonal().toDenseMatrix();
  minv.topRightCorner(3, 3) = lower.transpose();
  minv.bottomLeftCorner(3, 3) = lower;
  minv.bottomRightCorner(3, 3) = theta * S.transpose() * S;
  const Eigen::MatrixXd M = minv.inverse();
  const Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(6, -1.0, 2.0);
  Eigen::VectorXd p(6);
  ASSERT_TRUE(memory.Bmv(v.data(), p.data()));
  EXPECT_LE((p - M * v).norm(), 1e-10 * (M * v).norm());
  // B s_k = y_k for the newest pair.
  Eigen::MatrixXd W(n, 6);
  W << Y, theta * S;
  const Eigen::MatrixXd B =
      theta * Eigen::MatrixXd::Identity(n, n) - W * M * W.transpose();
  EXPECT_LE((B * S.col(2) - Y.col(2)).norm(), 1e-10);
}

}  // namespace
}  // namespace optd::lbfgsb
