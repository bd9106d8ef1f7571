// DecomposeTridiagonal against Eigen's dense SelfAdjointEigenSolver with
// every eigenvector, on random tridiagonal matrices dense and large enough
// for inverse iteration, with and without zero off-diagonal elements.
#include "solvers/curvature/tridiagonal.h"

#include <cmath>
#include <random>
#include <vector>

#include "Eigen/Eigenvalues"
#include "gtest/gtest.h"

namespace optd {
namespace {

TEST(DecomposeTridiagonal, MatchesTheDenseSolver) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (int m : {1, 2, 10, kDenseBlock, kDenseBlock + 1, 300}) {
    for (bool split : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "m=" << m << " split=" << split);
      std::vector<double> alpha(m), beta(m);
      for (int i = 0; i < m; ++i) {
        alpha[i] = normal(rng);
        beta[i] = std::abs(normal(rng)) + 0.1;
      }
      if (split && m > 3) {
        beta[m / 3] = 0.0;
        beta[m / 2] = 0.0;
      }
      const TridiagonalEigen got = DecomposeTridiagonal(alpha, beta);
      Eigen::VectorXd sub(std::max(m - 1, 0));
      for (int i = 0; i + 1 < m; ++i) sub(i) = beta[i];
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> want;
      want.computeFromTridiagonal(
          Eigen::Map<const Eigen::VectorXd>(alpha.data(), m), sub,
          Eigen::ComputeEigenvectors);
      ASSERT_EQ(got.values.size(), static_cast<size_t>(m));
      for (int i = 0; i < m; ++i) {
        EXPECT_NEAR(got.values[i], want.eigenvalues()(i), 1e-12) << i;
        // Signs are arbitrary.
        EXPECT_NEAR(std::abs(got.first[i]), std::abs(want.eigenvectors()(0, i)),
                    1e-12)
            << i;
        EXPECT_NEAR(std::abs(got.last[i]),
                    std::abs(want.eigenvectors()(m - 1, i)), 1e-12)
            << i;
      }
    }
  }
}

TEST(DecomposeTridiagonal, BlocksKeepTheirEndComponentsApart) {
  // diag(1, 2, 3) with no coupling: e_0 is 1's eigenvector, e_2 is 3's.
  const TridiagonalEigen e = DecomposeTridiagonal({1.0, 2.0, 3.0}, {0, 0, 0});
  EXPECT_EQ(e.values, (std::vector<double>{1.0, 2.0, 3.0}));
  EXPECT_EQ(e.first, (std::vector<double>{1.0, 0.0, 0.0}));
  EXPECT_EQ(e.last, (std::vector<double>{0.0, 0.0, 1.0}));
}

}  // namespace
}  // namespace optd
