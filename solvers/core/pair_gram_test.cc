#include "solvers/core/pair_gram.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/core/state_bytes.h"

namespace optd {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// The Gram of the columns of S and Y (pairs oldest first) and g.
PairGram GramOf(const MatrixXd& s, const MatrixXd& y, const VectorXd& g) {
  PairGram gram;
  gram.ss = s.transpose() * s;
  gram.sy = s.transpose() * y;
  gram.yy = y.transpose() * y;
  gram.sg = s.transpose() * g;
  gram.yg = y.transpose() * g;
  gram.gg = g.dot(g);
  return gram;
}

// What the slices compute for a new pair (s, y) against the pairs held.
NewPairProducts ProductsOf(const MatrixXd& s, const MatrixXd& y,
                           const VectorXd& s_new, const VectorXd& y_new) {
  NewPairProducts p;
  p.ss = s_new.dot(s_new);
  p.sy = s_new.dot(y_new);
  p.yy = y_new.dot(y_new);
  p.s_s = s.transpose() * s_new;
  p.s_y = y.transpose() * s_new;
  p.y_s = s.transpose() * y_new;
  p.y_y = y.transpose() * y_new;
  return p;
}

class PairGramWithPair : public ::testing::TestWithParam<int> {};

// Pairs with integer entries: every product is exact, so the shifted blocks
// equal the Gram of the shifted columns exactly.
TEST_P(PairGramWithPair, EqualsTheGramOfTheShiftedPairs) {
  const int memory = 3;
  const int k = GetParam();
  const int n = 5;
  MatrixXd s(n, k + 1), y(n, k + 1);
  for (int j = 0; j <= k; ++j) {
    for (int i = 0; i < n; ++i) {
      s(i, j) = (i + 1) * (j + 2) % 7 - 3;
      y(i, j) = (2 * i + j) % 5 - 1;
    }
  }
  VectorXd g(n);
  g << 1, -2, 3, 0, 4;
  const PairGram before = GramOf(s.leftCols(k), y.leftCols(k), g);
  const VectorXd sg = s.transpose() * g, yg = y.transpose() * g;
  const PairGram after = before.WithPair(
      ProductsOf(s.leftCols(k), y.leftCols(k), s.col(k), y.col(k)), memory, sg,
      yg);
  const int drop = k == memory ? 1 : 0;
  const PairGram expected =
      GramOf(s.rightCols(k + 1 - drop), y.rightCols(k + 1 - drop), g);
  EXPECT_EQ(after.pairs(), k + 1 - drop);
  EXPECT_EQ(after.ss, expected.ss);
  EXPECT_EQ(after.sy, expected.sy);
  EXPECT_EQ(after.yy, expected.yy);
  EXPECT_EQ(after.sg, expected.sg);
  EXPECT_EQ(after.yg, expected.yg);
  EXPECT_EQ(after.gg, before.gg);
}

INSTANTIATE_TEST_SUITE_P(PairsHeld, PairGramWithPair,
                         ::testing::Values(0, 1, 2, 3));

TEST(PairGram, WriteThenReadGivesTheSameBlocks) {
  MatrixXd s(3, 2), y(3, 2);
  s << 1, 2, 3, 4, 5, 6;
  y << 0.5, -1, 2, 0.25, 3, 1e-300;
  VectorXd g(3);
  g << 1, 2, 3;
  const PairGram gram = GramOf(s, y, g);
  std::string bytes;
  StateWriter w(&bytes);
  WritePairGram(gram, w);
  StateReader r(bytes);
  EXPECT_EQ(r.I64(), 2);
  const PairGram read = ReadPairGram(2, r);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(read.ss, gram.ss);
  EXPECT_EQ(read.sy, gram.sy);
  EXPECT_EQ(read.yy, gram.yy);
  EXPECT_EQ(read.sg, gram.sg);
  EXPECT_EQ(read.yg, gram.yg);
  EXPECT_EQ(read.gg, gram.gg);
}

}  // namespace
}  // namespace optd
