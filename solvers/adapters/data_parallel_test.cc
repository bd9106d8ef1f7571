#include "solvers/adapters/data_parallel.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/testing/batch_fixtures.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::Eigen::VectorXd;
using ::optd::testing::BatchRun;
using ::optd::testing::DriveBatches;
using ::optd::testing::Evaluate;
using ::optd::testing::ExpectBitwiseEqual;
using ::optd::testing::Failed;
using ::optd::testing::LbfgsAt;
using ::optd::testing::Outcome;
using ::optd::testing::Result;
using ::optd::testing::ScriptedSolver;
using ::optd::testing::StatusIs;
using ::optd::testing::Told;
using ::optd::testing::WorkerFn;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Least squares f(x) = 1/2 mean_j (a_j.x - b_j)^2 over m = 20 rows, n = 5.
struct LeastSquares {
  Eigen::MatrixXd a;
  VectorXd b;
  LeastSquares() {
    std::mt19937 rng(3);
    std::normal_distribution<double> normal;
    a.resize(20, 5);
    b.resize(20);
    for (int j = 0; j < 20; ++j) {
      for (int i = 0; i < 5; ++i) a(j, i) = normal(rng);
      b[j] = normal(rng);
    }
  }
  // The mean over rows [begin, end) of 1/2 r_j^2 and its gradient.
  double Mean(const VectorXd& x, int begin, int end, VectorXd* g) const {
    const VectorXd r =
        a.middleRows(begin, end - begin) * x - b.segment(begin, end - begin);
    const double count = end - begin;
    if (g != nullptr) {
      *g = a.middleRows(begin, end - begin).transpose() * r / count;
    }
    return 0.5 * r.squaredNorm() / count;
  }
};

// Worker k of 4 tells the mean over its rows, weighted by their count.
WorkerFn ShardedWorkers(const LeastSquares& ls, std::vector<int> cuts) {
  return [&ls, cuts](int k, const VectorXd& x, Evaluation wants) {
    Outcome o;
    o.value = ls.Mean(x, cuts[k], cuts[k + 1], &o.gradient);
    o.weight = cuts[k + 1] - cuts[k];
    if (!WantsValue(wants)) o.value = kNaN;
    return o;
  };
}

TEST(DataParallel, FourWorkersMatchOneWorkerTellingTheFullMean) {
  const LeastSquares ls;
  const VectorXd x0 = VectorXd::Zero(5);
  std::unique_ptr<Solver> plain = LbfgsAt(x0);
  const BatchRun reference =
      DriveBatches(*plain, Evaluate([&ls](const VectorXd& x, VectorXd* g) {
        return ls.Mean(x, 0, 20, g);
      }));
  ASSERT_TRUE(reference.finished);
  // Equal shards with equal weights, and unequal shards weighted by size.
  for (const std::vector<int>& cuts : {std::vector<int>{0, 5, 10, 15, 20},
                                       std::vector<int>{0, 3, 8, 15, 20}}) {
    std::unique_ptr<Solver> inner = LbfgsAt(x0);
    const Solver* lbfgs = inner.get();
    auto solver = WithDataParallel(std::move(inner), 4);
    ASSERT_TRUE(solver.ok());
    const BatchRun run = DriveBatches(**solver, ShardedWorkers(ls, cuts));
    ASSERT_TRUE(run.finished);
    EXPECT_EQ(run.summary.iterations, reference.summary.iterations);
    EXPECT_EQ(run.summary.evaluations, 4 * lbfgs->summary().evaluations);
    EXPECT_EQ(lbfgs->summary().evaluations, reference.summary.evaluations);
    EXPECT_NEAR(run.summary.value, reference.summary.value, 1e-12);
    EXPECT_LT((run.x - reference.x).lpNorm<Eigen::Infinity>(), 1e-9);
    for (int size : run.batch_sizes) EXPECT_EQ(size, 4);
    // Every worker of a batch evaluates the same point.
    for (size_t t = 0; t < run.points.size(); ++t) {
      EXPECT_EQ(run.points[t], run.points[t - t % 4]);
    }
  }
}

TEST(DataParallel, TheSameTellOrderReproducesBitwise) {
  const LeastSquares ls;
  const std::vector<int> cuts = {0, 3, 8, 15, 20};
  std::vector<BatchRun> runs;
  for (int repeat = 0; repeat < 2; ++repeat) {
    auto solver = WithDataParallel(LbfgsAt(VectorXd::Zero(5)), 4);
    ASSERT_TRUE(solver.ok());
    std::mt19937 rng(11);
    runs.push_back(DriveBatches(**solver, ShardedWorkers(ls, cuts), &rng));
    ASSERT_TRUE(runs.back().finished);
  }
  ExpectBitwiseEqual(runs[0].points, runs[1].points);
  ExpectBitwiseEqual({runs[0].x}, {runs[1].x});
}

// The gradient (and value) the inner solver gets from one batch of `outcomes`.
ScriptedSolver::Told OneBatch(const std::vector<Outcome>& outcomes,
                              Evaluation wants) {
  auto inner = std::make_unique<ScriptedSolver>(
      std::vector<VectorXd>{VectorXd::Zero(3)}, wants);
  ScriptedSolver* scripted = inner.get();
  auto solver =
      WithDataParallel(std::move(inner), static_cast<int>(outcomes.size()));
  EXPECT_TRUE(solver.ok());
  DriveBatches(**solver,
               [&](int k, const VectorXd&, Evaluation) { return outcomes[k]; });
  EXPECT_EQ(scripted->told().size(), 1u);
  return scripted->told()[0];
}

TEST(DataParallel, FailedTellsAreLeftOutOfTheMean) {
  const VectorXd g0 = (VectorXd(3) << 1, 2, 3).finished();
  const VectorXd g1 = (VectorXd(3) << -4, 0.5, 8).finished();
  const VectorXd g2 = (VectorXd(3) << 0.25, 0, -1).finished();
  const std::vector<Outcome> outcomes = {Told(1.0, g0), Told(2.0, g1), Failed(),
                                         Told(4.0, g2, 2.0)};
  const ScriptedSolver::Told told =
      OneBatch(outcomes, Evaluation::kValueAndGradient);
  ASSERT_TRUE(told.result.has_gradient);
  EXPECT_FALSE(told.result.failed);
  const VectorXd mean = (g0 + g1 + 2 * g2) / 4;
  EXPECT_LT((told.gradient - mean).lpNorm<Eigen::Infinity>(), 1e-15);
  EXPECT_DOUBLE_EQ(told.result.value, (1.0 + 2.0 + 2 * 4.0) / 4);
  // A non-finite value where one is wanted fails that tell too.
  const ScriptedSolver::Told no_value =
      OneBatch({Told(kInf, g0), Told(2.0, g1)}, Evaluation::kValueAndGradient);
  EXPECT_EQ(no_value.gradient, g1);
  // kGradient: values are optional, averaged over those told.
  const ScriptedSolver::Told gradient_only =
      OneBatch({Told(kNaN, g0), Told(2.0, g1)}, Evaluation::kGradient);
  EXPECT_EQ(gradient_only.gradient, (g0 + g1) / 2);
  EXPECT_EQ(gradient_only.result.value, 2.0);
  // All failed: the inner solver is told a failed evaluation.
  const ScriptedSolver::Told all_failed =
      OneBatch({Failed(), Failed()}, Evaluation::kGradient);
  EXPECT_TRUE(all_failed.result.failed);
  EXPECT_FALSE(all_failed.result.has_gradient);
}

TEST(DataParallel, ValidationErrorsChangeNothing) {
  const LeastSquares ls;
  const std::vector<int> cuts = {0, 5, 10, 15, 20};
  auto solver = WithDataParallel(LbfgsAt(VectorXd::Zero(5)), 4);
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  const double short_gradient[2] = {1, 2};
  EXPECT_THAT(
      s.SetBatchGradient(1, ConstVectorView::Float64(short_gradient, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient has 2 elements; the session has "
                         "dimension 5")));
  const double bad[5] = {0, 1, kNaN, 3, 4};
  EXPECT_THAT(s.SetBatchGradient(1, ConstVectorView::Float64(bad, 5)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient[2] is nan")));
  EXPECT_THAT(s.TellBatch(1, Result(1.0, /*has_gradient=*/true)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  const double good[5] = {5, 4, 3, 2, 1};
  ASSERT_TRUE(s.SetBatchGradient(1, ConstVectorView::Float64(good, 5)).ok());
  for (double weight : {0.0, -1.0, kInf, kNaN}) {
    EXPECT_THAT(
        s.TellBatch(1, Result(1.0, /*has_gradient=*/true, weight)),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weight")));
  }
  // A weight whose product with the gradient overflows (found by
  // fuzz/stored_session_fuzzer: the step's mean was -inf and the inner
  // solver refused it as INTERNAL).
  EXPECT_THAT(s.TellBatch(1, Result(1.0, /*has_gradient=*/true, 1e308)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "weight 1e+308 times gradient[0] = 5 overflows the "
                       "step's weighted gradient sum; give weights on the "
                       "scale of each worker's share of the data (e.g. its "
                       "batch size)"));
  EXPECT_FALSE(s.batch_told(1));
  EXPECT_EQ(s.progress().evaluations, 0);
  EXPECT_THAT(s.TellBatch(4, Result(1.0)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // After the errors the run is the one without them, bitwise.
  const BatchRun run = DriveBatches(s, ShardedWorkers(ls, cuts));
  auto clean = WithDataParallel(LbfgsAt(VectorXd::Zero(5)), 4);
  ASSERT_TRUE(clean.ok());
  const BatchRun reference = DriveBatches(**clean, ShardedWorkers(ls, cuts));
  ExpectBitwiseEqual(run.points, reference.points);
}

TEST(DataParallel, WeightedSumsThatWouldOverflowAreRefused) {
  auto solver = WithDataParallel(LbfgsAt(VectorXd::Zero(2)), 3);
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  const double g[2] = {1, -1};
  ASSERT_TRUE(s.SetBatchGradient(0, ConstVectorView::Float64(g, 2)).ok());
  ASSERT_TRUE(s.TellBatch(0, Result(1.0, true, 1e308)).ok());
  // 1e308 + 1e308 overflows the sum, though each product is finite.
  ASSERT_TRUE(s.SetBatchGradient(1, ConstVectorView::Float64(g, 2)).ok());
  EXPECT_THAT(s.TellBatch(1, Result(1.0, true, 1e308)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("weight 1e+308 times gradient[0] = 1 "
                                 "overflows")));
  EXPECT_FALSE(s.batch_told(1));
  // CheckBatchResult says so before TellBatch is asked (a server then answers
  // INVALID_ARGUMENT instead of taking a TellBatch error for a solver bug:
  // fuzz/regressions/session_requests/data-parallel-tell-weight-overflows).
  EXPECT_THAT(
      s.CheckBatchResult(1, Result(1.0, true, 1e308)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflows")));
  EXPECT_THAT(
      s.CheckBatchResult(1, Result(1.0, true, kNaN)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weight")));
  EXPECT_TRUE(s.CheckBatchResult(1, Result(1.0, true, 1.0)).ok());
  EXPECT_FALSE(s.batch_told(1));
  // The staged gradient is still there: a smaller weight goes through.
  EXPECT_TRUE(s.TellBatch(1, Result(1.0, true, 1.0)).ok());
  EXPECT_TRUE(s.batch_told(1));
}

TEST(DataParallel, WorkersOutOfRangeAreRefused) {
  for (int workers : {-1, 0, 1, 1025}) {
    EXPECT_THAT(WithDataParallel(LbfgsAt(VectorXd::Zero(2)), workers),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("data_parallel.workers"),
                               HasSubstr("[2, 1024]"))));
  }
  EXPECT_TRUE(WithDataParallel(LbfgsAt(VectorXd::Zero(2)), 1024).ok());
  EXPECT_THAT(WithDataParallel(nullptr, 2),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DataParallel, ValueTrialsPassThrough) {
  const VectorXd x = VectorXd::Ones(2);
  auto solver =
      WithDataParallel(std::make_unique<ScriptedSolver>(
                           std::vector<VectorXd>{x, x, x}, Evaluation::kValue),
                       8);
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(
      **solver, [](int, const VectorXd&, Evaluation) { return Told(1.0); });
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(run.summary.evaluations, 3);
}

std::unique_ptr<Solver> AdamDataParallel() {
  AdamOptions options;
  options.lr = 0.05;
  options.max_steps = 6;
  const VectorXd x0 = VectorXd::Zero(5);
  auto adam = Adam::Create(options, ConstVectorView::Float64(x0.data(), 5));
  EXPECT_TRUE(adam.ok());
  auto solver = WithDataParallel(std::move(*adam), 4);
  EXPECT_TRUE(solver.ok());
  return std::move(*solver);
}

TEST(DataParallel, SavesAndRestoresItsStateWithTheInnerSolver) {
  const LeastSquares ls;
  const WorkerFn workers = ShardedWorkers(ls, {0, 3, 8, 15, 20});
  std::unique_ptr<Solver> uninterrupted = AdamDataParallel();
  const BatchRun reference = DriveBatches(*uninterrupted, workers);
  ASSERT_TRUE(reference.finished);

  // Two batches, then half of the third.
  std::unique_ptr<Solver> first = AdamDataParallel();
  DriveBatches(*first, workers, nullptr, /*max_batches=*/2);
  VectorXd x(5);
  for (int k : {2, 0}) {
    ASSERT_TRUE(
        first->ReadBatchPoint(k, MutableVectorView::Float64(x.data(), 5)).ok());
    Outcome o = workers(k, x, Evaluation::kGradient);
    ASSERT_TRUE(first
                    ->SetBatchGradient(
                        k, ConstVectorView::Float64(o.gradient.data(), 5))
                    .ok());
    ASSERT_TRUE(
        first->TellBatch(k, Result(kNaN, /*has_gradient=*/true, o.weight))
            .ok());
  }
  std::string state;
  ASSERT_TRUE(first->SaveState(&state).ok());
  EXPECT_EQ(static_cast<int64_t>(state.size()), first->StateBytes());

  std::unique_ptr<Solver> second = AdamDataParallel();
  ASSERT_TRUE(second->RestoreState(state).ok());
  EXPECT_EQ(second->progress().evaluations, 10);
  EXPECT_EQ(second->progress().iterations, 2);
  EXPECT_TRUE(second->batch_told(0));
  EXPECT_FALSE(second->batch_told(1));
  EXPECT_TRUE(second->batch_told(2));
  for (int k : {1, 3}) {
    ASSERT_TRUE(
        second->ReadBatchPoint(k, MutableVectorView::Float64(x.data(), 5))
            .ok());
    Outcome o = workers(k, x, Evaluation::kGradient);
    ASSERT_TRUE(second
                    ->SetBatchGradient(
                        k, ConstVectorView::Float64(o.gradient.data(), 5))
                    .ok());
    ASSERT_TRUE(
        second->TellBatch(k, Result(kNaN, /*has_gradient=*/true, o.weight))
            .ok());
  }
  const BatchRun rest = DriveBatches(*second, workers);
  ASSERT_TRUE(rest.finished);
  ExpectBitwiseEqual({rest.x}, {reference.x});
  EXPECT_EQ(rest.summary.evaluations, reference.summary.evaluations);

  // Bytes of another kind, and a solver already told, are refused.
  std::unique_ptr<Solver> third = AdamDataParallel();
  EXPECT_THAT(third->RestoreState(state.substr(0, state.size() - 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(third->RestoreState("optd.adam.v1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(first->RestoreState(state),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // Sums a tell could not have made (fuzz/regressions/stored_session/
  // data-parallel-weight-overflow): a tiny gradient weight whose mean of the
  // stored sum overflows, a NaN value sum, a negative weight. The layout
  // (data_parallel.cc): tag, inner length, inner state, evaluations, own
  // batch, batch size, gradient weight, value sum, value weight, ...
  int64_t inner_size;
  const size_t tag = std::string_view("optd.data_parallel.v1").size();
  std::memcpy(&inner_size, state.data() + tag, 8);
  const size_t weights = tag + 8 + static_cast<size_t>(inner_size) + 3 * 8;
  for (const auto& [word, value] :
       std::vector<std::pair<int, double>>{{0, 5e-324}, {1, kNaN}, {2, -1.0}}) {
    std::string bad = state;
    std::memcpy(bad.data() + weights + 8 * word, &value, 8);
    EXPECT_THAT(AdamDataParallel()->RestoreState(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("is not an optd.data_parallel.v1 state")))
        << word;
  }
  // Without an inner SaveState there is none.
  auto scripted = WithDataParallel(
      std::make_unique<ScriptedSolver>(std::vector<VectorXd>{VectorXd::Zero(2)},
                                       Evaluation::kGradient),
      2);
  ASSERT_TRUE(scripted.ok());
  EXPECT_EQ((*scripted)->StateBytes(), 0);
  EXPECT_THAT((*scripted)->SaveState(&state),
              StatusIs(absl::StatusCode::kUnimplemented));
}

}  // namespace
}  // namespace optd
