// L-BFGS-B on K in-process slices (LocalLbfgsbVectors): every trial point,
// the pairs and the summary are bitwise the same for K = 1..4, on problems
// of several reduction blocks with lower-only, upper-only, two-sided and
// free variables, and with many tied breakpoints in the Cauchy search.
#include "solvers/lbfgsb/lbfgsb_vectors.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/lbfgsb/lbfgsb.h"
#include "solvers/lbfgsb/lbfgsb_steps.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

bool SameBits(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

std::unique_ptr<LbfgsB> Sharded(const Eigen::VectorXd& x0, const Bounds& box,
                                int shards, const LbfgsOptions& options = {}) {
  auto layout = ShardLayout::Make(x0.size(), shards);
  EXPECT_OK(layout);
  auto solver = LbfgsB::Create(
      options, ConstVectorView::Float64(x0.data(), x0.size()), box,
      std::make_unique<LocalLbfgsbVectors>(*layout, options.memory, box));
  EXPECT_OK(solver);
  return solver.ok() ? *std::move(solver) : nullptr;
}

Bounds Box(const std::vector<double>& lower, const std::vector<double>& upper) {
  auto box =
      Bounds::Create(ConstVectorView::Float64(
                         lower.data(), static_cast<int64_t>(lower.size())),
                     ConstVectorView::Float64(
                         upper.data(), static_cast<int64_t>(upper.size())),
                     static_cast<int64_t>(lower.size()));
  EXPECT_OK(box);
  return *box;
}

// The chained Rosenbrock function, n > 4 reduction blocks, with every kind
// of bound: i % 4 == 0 in [-2, 0.7], 1 lower only (-0.4), 2 upper only
// (0.9), 3 free.
struct ChainedRosenbrock {
  static constexpr int64_t kN = 4 * kReductionBlock + 1234;
  Eigen::VectorXd x0 = Eigen::VectorXd(kN);
  std::vector<double> lower = std::vector<double>(kN, -kInf);
  std::vector<double> upper = std::vector<double>(kN, kInf);
  ChainedRosenbrock() {
    for (int64_t i = 0; i < kN; ++i) {
      x0[i] = i % 2 == 0 ? -1.2 : 1.0 + 1e-4 * (i % 7);
      if (i % 4 == 0) lower[i] = -2.0, upper[i] = 0.7;
      if (i % 4 == 1) lower[i] = -0.4;
      if (i % 4 == 2) upper[i] = 0.9;
    }
  }
  static double Evaluate(const Eigen::VectorXd& x, Eigen::VectorXd* g) {
    double f = 0.0;
    if (g) g->setZero(x.size());
    for (int64_t i = 0; i + 1 < x.size(); ++i) {
      const double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
      f += 100.0 * a * a + b * b;
      if (g) {
        (*g)[i] += -400.0 * a * x[i] - 2.0 * b;
        (*g)[i + 1] += 200.0 * a;
      }
    }
    return f;
  }
};

testing::DriveResult Record(LbfgsB& solver, const testing::Objective& objective,
                            int64_t max_tells) {
  testing::DriveOptions drive;
  drive.record_trials = true;
  drive.max_tells = max_tells;
  return testing::Drive(solver, objective, drive);
}

void ExpectSameRuns(const testing::DriveResult& a, LbfgsB& sa,
                    const testing::DriveResult& b, LbfgsB& sb, int shards) {
  ASSERT_EQ(a.trials.size(), b.trials.size()) << shards << " shards";
  for (size_t t = 0; t < a.trials.size(); ++t) {
    ASSERT_TRUE(SameBits(a.trials[t], b.trials[t]))
        << "trial " << t << " differs with " << shards << " shards";
  }
  EXPECT_TRUE(SameBits(a.x, b.x));
  EXPECT_EQ(sa.progress().iterations, sb.progress().iterations);
  const double fa = sa.progress().best_value, fb = sb.progress().best_value;
  EXPECT_EQ(std::memcmp(&fa, &fb, sizeof(double)), 0);
  std::vector<std::vector<double>> s1, y1, s2, y2;
  ASSERT_OK(sa.ReadCurvaturePairs(&s1, &y1));
  ASSERT_OK(sb.ReadCurvaturePairs(&s2, &y2));
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(y1, y2);
}

TEST(LbfgsbVectors, IteratesAreBitwiseIdenticalForOneToFourShards) {
  const ChainedRosenbrock p;
  const Bounds box = Box(p.lower, p.upper);
  const testing::Objective objective{ChainedRosenbrock::Evaluate, nullptr};
  auto reference = Sharded(p.x0, box, 1);
  const testing::DriveResult first = Record(*reference, objective, 150);
  ASSERT_GT(reference->progress().iterations, 20);
  // The unsharded constructor is the one-slice session.
  auto plain = LbfgsB::Create(
      LbfgsOptions(), ConstVectorView::Float64(p.x0.data(), p.x0.size()), box);
  ASSERT_OK(plain);
  const testing::DriveResult unsharded = Record(**plain, objective, 150);
  ExpectSameRuns(first, *reference, unsharded, **plain, 1);
  for (int shards = 2; shards <= 4; ++shards) {
    auto solver = Sharded(p.x0, box, shards);
    const testing::DriveResult run = Record(*solver, objective, 150);
    ExpectSameRuns(first, *reference, run, *solver, shards);
  }
}

// f = sum_i a_i (x_i - c_i)^2 / 2 from x0 = 0 in [-1, 1]: the Cauchy
// direction's breakpoints t_i = 1 / (a_i |c_i|) take three values (2/3,
// 1/3, 1/6), each shared by thousands of variables in every slice; the
// (t, index) order
// makes the visit the same for any K.
TEST(LbfgsbVectors, TiedBreakpointsAreVisitedTheSameForEveryK) {
  const int64_t n = 3 * kReductionBlock + 500;
  Eigen::VectorXd x0 = Eigen::VectorXd::Zero(n), a(n), c(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = i % 3 == 0 ? 2.0 : 1.0;
    c[i] = i % 2 == 0 ? 1.5 : -3.0;
  }
  const Bounds box =
      Box(std::vector<double>(n, -1.0), std::vector<double>(n, 1.0));
  const testing::Objective objective{
      [&](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
        const Eigen::VectorXd r = x - c;
        if (g) *g = a.cwiseProduct(r);
        return 0.5 * r.dot(a.cwiseProduct(r));
      },
      nullptr};
  auto reference = Sharded(x0, box, 1);
  const testing::DriveResult first = Record(*reference, objective, 100);
  ASSERT_TRUE(first.finished);
  EXPECT_TRUE(first.summary.success()) << first.summary.message;
  // The minimizer is c clipped into the box.
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(first.x[i], c[i] > 0 ? 1.0 : -1.0) << i;
  }
  for (int shards = 2; shards <= 4; ++shards) {
    auto solver = Sharded(x0, box, shards);
    const testing::DriveResult run = Record(*solver, objective, 100);
    ExpectSameRuns(first, *reference, run, *solver, shards);
  }
}

// The K-way merge of the slices' breakpoint streams gives every breakpoint
// once, in (t, index) order, whatever its first batch (which then doubles up
// to kMaxBreakpointBatch): 1, the default 64, and one larger than a slice.
TEST(LbfgsbVectors, TheBreakpointMergeIsTheSameForEveryBatchSize) {
  const ChainedRosenbrock problem;
  const int64_t n = ChainedRosenbrock::kN;
  const Bounds box = Box(problem.lower, problem.upper);
  Eigen::VectorXd g(n);
  ChainedRosenbrock::Evaluate(problem.x0, &g);
  auto merged = [&](int shards, int batch) {
    auto layout = ShardLayout::Make(n, shards);
    EXPECT_OK(layout);
    LocalLbfgsbVectors vectors(*layout, 5, box);
    EXPECT_OK(
        vectors.Start(ConstVectorView::Float64(problem.x0.data(), n)).status());
    EXPECT_OK(vectors.SetTrialGradient(ConstVectorView::Float64(g.data(), n)));
    EXPECT_OK(vectors.AcceptInitial());
    absl::StatusOr<CauchyStartResult> start = vectors.CauchyStart();
    EXPECT_OK(start.status());
    std::vector<std::pair<double, int64_t>> order;
    lbfgsb::BreakpointMerge merge(&vectors, batch);
    for (;;) {
      absl::StatusOr<const BreakpointRecord*> next = merge.Next();
      EXPECT_OK(next.status());
      if (!next.ok() || *next == nullptr) break;
      order.emplace_back((*next)->t, (*next)->index);
    }
    EXPECT_EQ(static_cast<int64_t>(order.size()),
              start.ok() ? start->counts.breakpoints : -1);
    return order;
  };
  const std::vector<std::pair<double, int64_t>> reference = merged(1, 64);
  // More breakpoints than the largest batch: one slice's stream from 64
  // doubles up to the cap (64 + ... + 4096 = 8128, then 8192).
  ASSERT_GT(reference.size(), static_cast<size_t>(lbfgsb::kMaxBreakpointBatch));
  for (size_t k = 1; k < reference.size(); ++k) {
    ASSERT_TRUE(BreakpointBefore(reference[k - 1].first,
                                 reference[k - 1].second, reference[k].first,
                                 reference[k].second))
        << k;
  }
  for (int shards = 1; shards <= 4; ++shards) {
    for (int batch : {1, 64, 3 * lbfgsb::kMaxBreakpointBatch}) {
      EXPECT_TRUE(merged(shards, batch) == reference)
          << "K = " << shards << ", first batch " << batch;
    }
  }
}

TEST(LbfgsbVectors, CreateRejectsVectorsOfAnotherDimension) {
  const Eigen::VectorXd x0 = Eigen::VectorXd::Zero(3);
  const Bounds box = Bounds::Unbounded(3);
  auto layout = ShardLayout::Make(4, 2);
  ASSERT_OK(layout);
  EXPECT_THAT(LbfgsB::Create(LbfgsOptions(),
                             ConstVectorView::Float64(x0.data(), 3), box,
                             std::make_unique<LocalLbfgsbVectors>(
                                 *layout, 10, Bounds::Unbounded(4))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the vectors have dimension 4; x0 has 3")));
}

}  // namespace
}  // namespace optd
