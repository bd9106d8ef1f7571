#include "solvers/parallel_trials.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adam.h"
#include "solvers/lbfgs.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::Eigen::VectorXd;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

using ObjectiveFn = std::function<double(const VectorXd&, VectorXd*)>;

// An inner solver that hands out `points` in turn, each wanting `wants`, and
// records what it is told. Its iterations count its tells.
class ScriptedSolver : public Solver {
 public:
  struct Told {
    TrialResult result;
    VectorXd gradient;  // empty without one
  };
  ScriptedSolver(std::vector<VectorXd> points, Evaluation wants)
      : points_(std::move(points)), wants_(wants) {
    summary_.solver = "scripted";
  }

  std::string_view name() const override { return "scripted"; }
  int64_t dimension() const override { return points_[0].size(); }
  bool finished() const override { return next_ >= points_.size(); }
  Evaluation wants() const override { return wants_; }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override {
    out.CopyFrom(0, dimension(), points_[next_].data());
    return absl::OkStatus();
  }
  absl::Status ReadBestPoint(const MutableVectorView& out) const override {
    out.CopyFrom(0, dimension(), points_[0].data());
    return absl::OkStatus();
  }
  absl::Status SetTrialGradient(const ConstVectorView& gradient) override {
    if (gradient.size() != dimension()) {
      return absl::InvalidArgumentError("gradient length");
    }
    pending_.resize(dimension());
    gradient.CopyTo(0, dimension(), pending_.data());
    return absl::OkStatus();
  }
  absl::Status Tell(const TrialResult& result) override {
    told_.push_back({result, result.has_gradient ? pending_ : VectorXd()});
    if (++next_ == points_.size()) {
      summary_.reason = TerminationReason::kMaxIterations;
      summary_.evaluations = static_cast<int64_t>(next_);
      summary_.iterations = static_cast<int64_t>(next_);
    }
    return absl::OkStatus();
  }
  void Stop() override { next_ = points_.size(); }
  Progress progress() const override {
    Progress p;
    p.iterations = p.evaluations = static_cast<int64_t>(next_);
    return p;
  }
  const Summary& summary() const override { return summary_; }
  std::string OptionsReport() const override { return "    scripted\n"; }

  const std::vector<Told>& told() const { return told_; }

 private:
  std::vector<VectorXd> points_;
  Evaluation wants_;
  size_t next_ = 0;
  VectorXd pending_;
  std::vector<Told> told_;
  Summary summary_;
};

// What a worker tells for trial k.
struct Outcome {
  double value = kNaN;
  VectorXd gradient;  // told when not empty
  bool failed = false;
  double weight = 1.0;
};
using WorkerFn = std::function<Outcome(int k, const VectorXd& x, Evaluation)>;

Outcome Told(double value, VectorXd gradient = VectorXd(), double weight = 1) {
  Outcome o;
  o.value = value;
  o.gradient = std::move(gradient);
  o.weight = weight;
  return o;
}
Outcome Failed() {
  Outcome o;
  o.failed = true;
  return o;
}

TrialResult Result(double value, bool has_gradient = false, double weight = 1) {
  TrialResult r;
  r.value = value;
  r.has_gradient = has_gradient;
  r.weight = weight;
  return r;
}

// Evaluates what the trial wants from `objective`.
WorkerFn Evaluate(ObjectiveFn objective) {
  return [objective](int, const VectorXd& x, Evaluation wants) {
    Outcome out;
    if (WantsGradient(wants)) {
      out.value = objective(x, &out.gradient);
    } else {
      out.value = objective(x, nullptr);
    }
    if (!WantsValue(wants)) out.value = kNaN;
    return out;
  };
}

struct BatchRun {
  std::vector<VectorXd> points;  // every ReadBatchPoint, batch by batch
  std::vector<int> batch_sizes;
  bool finished = false;
  Summary summary;
  VectorXd x;  // best point
};

// Drives `solver` batch by batch: reads every trial of the batch, evaluates
// them all, then tells them in order or, with `rng`, in a shuffled order.
BatchRun DriveBatches(Solver& solver, const WorkerFn& worker,
                      std::mt19937* rng = nullptr, int max_batches = 100000) {
  BatchRun run;
  const int64_t n = solver.dimension();
  while (!solver.finished() &&
         static_cast<int>(run.batch_sizes.size()) < max_batches) {
    const int size = solver.batch_size();
    run.batch_sizes.push_back(size);
    std::vector<Outcome> outcomes(size);
    std::vector<Evaluation> wants(size);
    for (int k = 0; k < size; ++k) {
      EXPECT_FALSE(solver.batch_told(k));
      VectorXd x(n);
      EXPECT_TRUE(
          solver.ReadBatchPoint(k, MutableVectorView::Float64(x.data(), n))
              .ok());
      run.points.push_back(x);
      wants[k] = solver.batch_wants(k);
      outcomes[k] = worker(k, x, wants[k]);
    }
    std::vector<int> order(size);
    std::iota(order.begin(), order.end(), 0);
    if (rng != nullptr) std::shuffle(order.begin(), order.end(), *rng);
    for (int k : order) {
      const Outcome& o = outcomes[k];
      TrialResult r;
      r.value = o.value;
      r.failed = o.failed;
      r.weight = o.weight;
      if (!o.failed && o.gradient.size() > 0 && WantsGradient(wants[k])) {
        const absl::Status s = solver.SetBatchGradient(
            k, ConstVectorView::Float64(o.gradient.data(), n));
        EXPECT_TRUE(s.ok()) << s;
        r.has_gradient = true;
      }
      const absl::Status s = solver.TellBatch(k, r);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return run;
    }
  }
  run.finished = solver.finished();
  if (run.finished) run.summary = solver.summary();
  run.x.resize(n);
  (void)solver.ReadBestPoint(MutableVectorView::Float64(run.x.data(), n));
  return run;
}

problems::TestProblem Problem(const std::string& name) {
  absl::StatusOr<problems::TestProblem> p = problems::FindProblem(name);
  EXPECT_TRUE(p.ok()) << name;
  return *p;
}

// f = 1/2 x'Ax + b'x with A symmetric positive definite (n = 4).
struct Quadratic {
  Eigen::MatrixXd a;
  VectorXd b;
  Quadratic() : a(4, 4), b(4) {
    a << 4, 1, 0, 0.5,   //
        1, 3, 0.2, 0,    //
        0, 0.2, 2, 0.1,  //
        0.5, 0, 0.1, 1;
    b << 1, -2, 0.5, 3;
  }
  double operator()(const VectorXd& x, VectorXd* g) const {
    if (g != nullptr) *g = a * x + b;
    return 0.5 * x.dot(a * x) + b.dot(x);
  }
};

// The gradient the adapter forms at each of `points` from values of `f`.
std::vector<VectorXd> FiniteDifferenceGradients(
    const std::vector<VectorXd>& points, ObjectiveFn f,
    FiniteDifferenceOptions options = {}, Bounds bounds = Bounds::Unbounded(0),
    BatchRun* run = nullptr) {
  auto inner =
      std::make_unique<ScriptedSolver>(points, Evaluation::kValueAndGradient);
  ScriptedSolver* scripted = inner.get();
  auto solver = WithFiniteDifferences(std::move(inner), options, bounds);
  EXPECT_TRUE(solver.ok()) << solver.status();
  BatchRun local = DriveBatches(**solver, Evaluate(f));
  std::vector<VectorXd> gradients;
  for (const auto& told : scripted->told()) gradients.push_back(told.gradient);
  if (run != nullptr) *run = local;
  return gradients;
}

// max_i |a_i - b_i| / max(1, max_i |b_i|).
double ScaledError(const VectorXd& a, const VectorXd& b) {
  return (a - b).lpNorm<Eigen::Infinity>() /
         std::max(1.0, b.lpNorm<Eigen::Infinity>());
}

void ExpectBitwiseEqual(const std::vector<VectorXd>& a,
                        const std::vector<VectorXd>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    ASSERT_EQ(a[t].size(), b[t].size());
    EXPECT_EQ(std::memcmp(a[t].data(), b[t].data(), 8 * a[t].size()), 0)
        << "trial " << t;
  }
}

std::unique_ptr<Solver> LbfgsAt(const VectorXd& x0) {
  auto lbfgs = Lbfgs::Create(LbfgsOptions(),
                             ConstVectorView::Float64(x0.data(), x0.size()));
  EXPECT_TRUE(lbfgs.ok()) << lbfgs.status();
  return std::move(*lbfgs);
}

// ---------------------------------------------------------------------------
// Finite differences.

TEST(FiniteDifferences, CentralGradientMatchesAnalyticOnMghAndQuadratics) {
  for (const std::string name :
       {"rosenbrock", "beale", "helical_valley", "wood", "powell_singular"}) {
    const problems::TestProblem p = Problem(name);
    // The standard start, and a point scaled away from it (|x_i| > 1 and < 1).
    const std::vector<VectorXd> points = {p.x0, 0.37 * p.x0,
                                          p.x0 + VectorXd::Constant(p.n, 2.5)};
    const std::vector<VectorXd> fd =
        FiniteDifferenceGradients(points, p.evaluate);
    ASSERT_EQ(fd.size(), points.size());
    for (size_t t = 0; t < points.size(); ++t) {
      VectorXd g;
      p.evaluate(points[t], &g);
      EXPECT_LT(ScaledError(fd[t], g), 1e-9) << name << " point " << t;
    }
  }
  // Central differences of a quadratic have no truncation error.
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.3, -1.7, 12.0, 0.0).finished();
  const std::vector<VectorXd> fd = FiniteDifferenceGradients({x}, q);
  VectorXd g;
  q(x, &g);
  EXPECT_LT(ScaledError(fd[0], g), 1e-9);
}

TEST(FiniteDifferences, BatchIsTheCenterThenTwoPointsPerCoordinate) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  BatchRun run;
  FiniteDifferenceGradients({x}, q, {}, Bounds::Unbounded(4), &run);
  ASSERT_EQ(run.batch_sizes, std::vector<int>{9});
  EXPECT_EQ(run.points[0], x);
  // scipy's default step cbrt(eps) * max(1, |x_i|), x - h then x + h.
  const double rel = std::cbrt(std::numeric_limits<double>::epsilon());
  for (int i = 0; i < 4; ++i) {
    const double h = rel * std::max(1.0, std::abs(x[i]));
    const VectorXd& minus = run.points[1 + 2 * i];
    const VectorXd& plus = run.points[2 + 2 * i];
    EXPECT_DOUBLE_EQ(minus[i], x[i] - h);
    EXPECT_DOUBLE_EQ(plus[i], x[i] + h);
    for (int j = 0; j < 4; ++j) {
      if (j == i) continue;
      EXPECT_EQ(minus[j], x[j]);
      EXPECT_EQ(plus[j], x[j]);
    }
  }
}

TEST(FiniteDifferences,
     LbfgsReachesMghMinimaWithAboutTwoNPlusOneTimesTheTells) {
  for (const std::string name :
       {"rosenbrock", "beale", "helical_valley", "wood", "powell_singular",
        "box_3d", "brown_dennis"}) {
    const problems::TestProblem p = Problem(name);
    std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
    const testing::DriveResult reference =
        testing::Drive(*plain, {p.evaluate, nullptr});
    ASSERT_TRUE(reference.finished);

    std::unique_ptr<Solver> inner = LbfgsAt(p.x0);
    const Solver* lbfgs = inner.get();
    auto solver =
        WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(p.n));
    ASSERT_TRUE(solver.ok()) << solver.status();
    const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
    ASSERT_TRUE(run.finished) << name;
    EXPECT_TRUE(run.summary.success()) << name << ": " << run.summary.message;
    // Where L-BFGS with exact gradients reaches the known minimum, so does
    // it with central differences; where it stops short (wood at the
    // stationary value 7.87697, powell_singular, as scipy 1.10 does), both
    // stop at the same value.
    const double tolerance =
        std::max(p.f_tolerance, 1e-6 * std::abs(reference.summary.value));
    EXPECT_NEAR(run.summary.value, reference.summary.value, tolerance) << name;
    if (std::abs(reference.summary.value - p.f_min) <= p.f_tolerance) {
      EXPECT_NEAR(run.summary.value, p.f_min, p.f_tolerance) << name;
    }
    // Every inner evaluation was one batch of 2n + 1 values.
    const int64_t inner_evaluations = lbfgs->summary().evaluations;
    EXPECT_EQ(run.summary.evaluations, (2 * p.n + 1) * inner_evaluations);
    EXPECT_EQ((*solver)->progress().evaluations, run.summary.evaluations);
    EXPECT_EQ(run.summary.iterations, lbfgs->summary().iterations);
    // ... and the run took about as many iterations as with exact gradients.
    const double ratio = static_cast<double>(inner_evaluations) /
                         static_cast<double>(reference.summary.evaluations);
    EXPECT_GT(ratio, 0.7) << name;
    EXPECT_LT(ratio, 1.4) << name;
  }
}

TEST(FiniteDifferences, ShuffledTellOrderGivesBitwiseTheSameIterates) {
  const problems::TestProblem p = Problem("wood");
  auto in_order =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  auto shuffled =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(in_order.ok() && shuffled.ok());
  std::mt19937 rng(7);
  const BatchRun a = DriveBatches(**in_order, Evaluate(p.evaluate));
  const BatchRun b = DriveBatches(**shuffled, Evaluate(p.evaluate), &rng);
  ASSERT_TRUE(a.finished && b.finished);
  ExpectBitwiseEqual(a.points, b.points);
  ExpectBitwiseEqual({a.x}, {b.x});
  EXPECT_EQ(a.summary.evaluations, b.summary.evaluations);
}

TEST(ParallelTrials, SequentialDriverThroughSingleTrialMethodsAgrees) {
  // Solver::Tell & co. act on the first untold trial, so a driver that knows
  // nothing of batches gets the same run as one that tells whole batches.
  const problems::TestProblem p = Problem("beale");
  auto batched =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  auto sequential =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(batched.ok() && sequential.ok());
  const BatchRun a = DriveBatches(**batched, Evaluate(p.evaluate));
  testing::DriveOptions record;
  record.record_trials = true;
  const testing::DriveResult b =
      testing::Drive(**sequential, {p.evaluate, nullptr}, record);
  ASSERT_TRUE(a.finished && b.finished);
  ExpectBitwiseEqual(a.points, b.trials);
  EXPECT_EQ(b.value_calls, a.summary.evaluations);
  EXPECT_EQ(b.gradient_calls, 0);
}

TEST(FiniteDifferences, ForwardSchemeUsesNPlusOneTrials) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 20.0).finished();
  FiniteDifferenceOptions options;
  options.scheme = FiniteDifferenceScheme::kForward;
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, options, Bounds::Unbounded(4), &run);
  ASSERT_EQ(run.batch_sizes, std::vector<int>{5});
  // The step follows the sign of x_i (scipy's `_compute_absolute_step`).
  const double rel = std::sqrt(std::numeric_limits<double>::epsilon());
  for (int i = 0; i < 4; ++i) {
    const double h = rel * (x[i] >= 0 ? 1 : -1) * std::max(1.0, std::abs(x[i]));
    EXPECT_DOUBLE_EQ(run.points[1 + i][i], x[i] + h);
  }
  // Error O(h): the forward difference of a quadratic is g_i + h A_ii / 2,
  // with the step actually used.
  VectorXd g;
  q(x, &g);
  for (int i = 0; i < 4; ++i) {
    const double h = run.points[1 + i][i] - x[i];
    EXPECT_NEAR(fd[0][i], g[i] + 0.5 * h * q.a(i, i), 1e-6 * std::abs(g[i]));
  }
  EXPECT_GT(ScaledError(fd[0], g), 1e-12);  // not central by accident

  const problems::TestProblem p = Problem("rosenbrock");
  auto solver =
      WithFiniteDifferences(LbfgsAt(p.x0), options, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  const BatchRun rosenbrock = DriveBatches(**solver, Evaluate(p.evaluate));
  ASSERT_TRUE(rosenbrock.finished);
  EXPECT_NEAR(rosenbrock.summary.value, 0.0, 1e-6);
  for (int size : rosenbrock.batch_sizes) EXPECT_EQ(size, p.n + 1);
}

TEST(FiniteDifferences, StencilAtAnActiveBoundIsOneSidedAndStaysInTheBox) {
  const Quadratic q;
  // x_0 on its lower bound, x_1 on its upper bound, x_2 in a box narrower
  // than 2h, x_3 free.
  const VectorXd x = (VectorXd(4) << -1.0, 2.0, 0.3, 5.0).finished();
  const std::vector<double> lower = {-1.0, -kInf, 0.3 - 4e-6, -kInf};
  const std::vector<double> upper = {kInf, 2.0, 0.3 + 1e-6, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, {}, *box, &run);
  ASSERT_EQ(run.batch_sizes, std::vector<int>{9});
  for (const VectorXd& point : run.points) {
    EXPECT_TRUE(box->Contains(point.data())) << point.transpose();
  }
  const double h = std::cbrt(std::numeric_limits<double>::epsilon());
  // Coordinate 0: x + h, x + 2h (scipy's one-sided 3-point formula).
  EXPECT_DOUBLE_EQ(run.points[1][0], -1.0 + h);
  EXPECT_DOUBLE_EQ(run.points[2][0], -1.0 + 2 * h);
  // Coordinate 1: x - h, x - 2h, h = cbrt(eps) * 2.
  EXPECT_DOUBLE_EQ(run.points[3][1], 2.0 - 2 * h);
  EXPECT_DOUBLE_EQ(run.points[4][1], 2.0 - 4 * h);
  // Coordinate 2: the box is narrower than h on both sides; scipy takes the
  // larger side, h = min(h, dist / 2) = 2e-6, one-sided toward the lower
  // bound ... unless the nearer side allows a central stencil of that size.
  EXPECT_NEAR(run.points[5][2], 0.3 - 2e-6, 1e-15);
  EXPECT_NEAR(run.points[6][2], 0.3 - 4e-6, 1e-15);
  // The one-sided 3-point formula is exact for a quadratic too.
  VectorXd g;
  q(x, &g);
  EXPECT_LT(ScaledError(fd[0], g), 1e-8);
}

TEST(FiniteDifferences, NarrowBoxShrinksToACentralStencilOfTheDistance) {
  const Quadratic q;
  // Both sides 3e-6 < h: scipy's `adjusted_central` uses h = 3e-6 both ways.
  const VectorXd x = (VectorXd(4) << 1.0, 0.0, 0.0, 0.0).finished();
  const std::vector<double> lower = {1.0 - 3e-6, -kInf, 0.0, -kInf};
  const std::vector<double> upper = {1.0 + 3e-6, kInf, 0.0, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, {}, *box, &run);
  // Coordinate 2 has a box of zero width: no points, derivative 0.
  ASSERT_EQ(run.batch_sizes, std::vector<int>{7});
  EXPECT_NEAR(run.points[1][0], 1.0 - 3e-6, 1e-15);
  EXPECT_NEAR(run.points[2][0], 1.0 + 3e-6, 1e-15);
  for (const VectorXd& point : run.points) {
    EXPECT_TRUE(box->Contains(point.data())) << point.transpose();
  }
  VectorXd g;
  q(x, &g);
  EXPECT_NEAR(fd[0][0], g[0], 1e-8);
  EXPECT_EQ(fd[0][2], 0.0);
  EXPECT_NEAR(fd[0][3], g[3], 1e-8);
}

TEST(FiniteDifferences, ForwardStepAtAnUpperBoundGoesBackward) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 1.0, 0.0, 0.0, 0.0).finished();
  const std::vector<double> lower = {-kInf, -kInf, -kInf, -kInf};
  const std::vector<double> upper = {1.0, kInf, kInf, kInf};
  absl::StatusOr<Bounds> box =
      Bounds::Create(ConstVectorView::Float64(lower.data(), 4),
                     ConstVectorView::Float64(upper.data(), 4), 4);
  ASSERT_TRUE(box.ok());
  FiniteDifferenceOptions options;
  options.scheme = FiniteDifferenceScheme::kForward;
  BatchRun run;
  const std::vector<VectorXd> fd =
      FiniteDifferenceGradients({x}, q, options, *box, &run);
  EXPECT_LT(run.points[1][0], 1.0);
  EXPECT_DOUBLE_EQ(run.points[1][0],
                   1.0 - std::sqrt(std::numeric_limits<double>::epsilon()));
  VectorXd g;
  q(x, &g);
  EXPECT_NEAR(fd[0][0], g[0], 1e-6);
}

// Drives one FD batch at x of the quadratic, failing the trials in `fail`;
// returns what the inner solver was told.
ScriptedSolver::Told FailingStencil(const VectorXd& x, std::vector<int> fail,
                                    BatchRun* run) {
  const Quadratic q;
  auto inner = std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x},
                                                Evaluation::kValueAndGradient);
  ScriptedSolver* scripted = inner.get();
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(x.size()));
  EXPECT_TRUE(solver.ok());
  const WorkerFn values = Evaluate(q);
  *run = DriveBatches(**solver, [&](int k, const VectorXd& p, Evaluation w) {
    Outcome o = values(k, p, w);
    if (std::find(fail.begin(), fail.end(), k) != fail.end()) {
      o.failed = k % 2 == 0;  // a failed tell, or a non-finite value
      o.value = k % 2 == 0 ? 1.0 : kInf;
    }
    return o;
  });
  EXPECT_EQ(scripted->told().size(), 1u);
  return scripted->told()[0];
}

TEST(FiniteDifferences, FailedStencilPointFallsBackToTheOtherSide) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  VectorXd g;
  const double f0 = q(x, &g);
  BatchRun run;
  // Trial 4 is x + h e_1, trial 5 is x - h e_2.
  const ScriptedSolver::Told told = FailingStencil(x, {4, 5}, &run);
  ASSERT_TRUE(told.result.has_gradient);
  EXPECT_FALSE(told.result.failed);
  EXPECT_EQ(told.result.value, f0);
  // Coordinate 1 backward: (f0 - f(x - h)) / h = g_1 - h A_11 / 2.
  const double h1 = x[1] - run.points[3][1];
  EXPECT_NEAR(told.gradient[1], g[1] - 0.5 * h1 * q.a(1, 1), 1e-8);
  // Coordinate 2 forward: g_2 + h A_22 / 2.
  const double h2 = run.points[6][2] - x[2];
  EXPECT_NEAR(told.gradient[2], g[2] + 0.5 * h2 * q.a(2, 2), 1e-8);
  // The others central, exact.
  EXPECT_NEAR(told.gradient[0], g[0], 1e-9);
  EXPECT_NEAR(told.gradient[3], g[3], 1e-9);
}

TEST(FiniteDifferences, BothSidesFailedOrTheCenterFailedFailsTheEvaluation) {
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  BatchRun run;
  const ScriptedSolver::Told both = FailingStencil(x, {5, 6}, &run);
  EXPECT_TRUE(both.result.failed);
  EXPECT_FALSE(both.result.has_gradient);
  const ScriptedSolver::Told center = FailingStencil(x, {0}, &run);
  EXPECT_TRUE(center.result.failed);
  EXPECT_FALSE(center.result.has_gradient);

  // L-BFGS treats it as a failed evaluation: the line search backtracks.
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Solver> inner = LbfgsAt(p.x0);
  const Solver* lbfgs = inner.get();
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  int batch = 0;
  const WorkerFn values = Evaluate(p.evaluate);
  const BatchRun failing =
      DriveBatches(**solver, [&](int k, const VectorXd& pt, Evaluation w) {
        if (k == 0) ++batch;
        Outcome o = values(k, pt, w);
        if (batch == 3 && k == 0) o.failed = true;
        return o;
      });
  ASSERT_TRUE(failing.finished);
  EXPECT_TRUE(failing.summary.success());
  EXPECT_EQ(lbfgs->summary().failed_evaluations, 1);
}

TEST(FiniteDifferences, ValueTrialsPassThroughAndHessiansAreRefused) {
  const VectorXd x = VectorXd::Ones(3);
  auto inner = std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x, x},
                                                Evaluation::kValue);
  ScriptedSolver* scripted = inner.get();
  auto solver =
      WithFiniteDifferences(std::move(inner), {}, Bounds::Unbounded(3));
  ASSERT_TRUE(solver.ok());
  const BatchRun run =
      DriveBatches(**solver, Evaluate(Quadratic()(x, nullptr) == 0
                                          ? ObjectiveFn()
                                          : [](const VectorXd& v, VectorXd*) {
                                              return v.squaredNorm();
                                            }));
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{1, 1}));
  ASSERT_EQ(scripted->told().size(), 2u);
  EXPECT_EQ(scripted->told()[0].result.value, 3.0);

  for (Evaluation wants : {Evaluation::kHessian, Evaluation::kHessianVector}) {
    EXPECT_THAT(
        WithFiniteDifferences(
            std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x}, wants),
            {}, Bounds::Unbounded(3)),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Hessians")));
  }
}

TEST(FiniteDifferences, ValidateNamesTheFieldAndTheRange) {
  for (double step : {0.0, -1e-3, 0.2, kInf}) {
    FiniteDifferenceOptions options;
    options.relative_step = step;
    EXPECT_THAT(options.Validate(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("finite_difference.relative_step"),
                               HasSubstr("(0, 0.1]"))));
    EXPECT_THAT(WithFiniteDifferences(LbfgsAt(VectorXd::Ones(2)), options,
                                      Bounds::Unbounded(2)),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
  FiniteDifferenceOptions fine;
  fine.relative_step = 0.1;
  EXPECT_TRUE(fine.Validate().ok());
  EXPECT_THAT(
      WithFiniteDifferences(LbfgsAt(VectorXd::Ones(2)), {},
                            Bounds::Unbounded(3)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dimension 2")));
  EXPECT_THAT(WithFiniteDifferences(nullptr, {}, Bounds::Unbounded(3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FiniteDifferences, ForwardsCountsReportsAndIsReplayed) {
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver =
      WithFiniteDifferences(LbfgsAt(p.x0), {}, Bounds::Unbounded(p.n));
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  EXPECT_EQ(s.name(), "lbfgs");
  EXPECT_EQ(s.dimension(), 2);
  EXPECT_EQ(s.StateBytes(), 0);
  std::string state;
  EXPECT_THAT(s.SaveState(&state), StatusIs(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(s.OptionsReport(), HasSubstr("finite differences: central"));
  // Trial errors: a stencil trial takes no gradient, a told trial no tell.
  const double g[2] = {1, 2};
  EXPECT_THAT(s.SetBatchGradient(1, ConstVectorView::Float64(g, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_TRUE(s.TellBatch(2, Result(1.0)).ok());
  EXPECT_TRUE(s.batch_told(2));
  EXPECT_THAT(s.TellBatch(2, Result(1.0)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(s.TellBatch(5, Result(1.0)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(s.progress().evaluations, 1);
  EXPECT_EQ(s.progress().iterations, 0);
  s.Stop();
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.summary().reason, TerminationReason::kStoppedByClient);
  EXPECT_EQ(s.summary().evaluations, 1);
  EXPECT_THAT(s.summary().options_report, HasSubstr("finite differences"));
}

TEST(FiniteDifferences, Float32StatePointsAreFloat32WithFloat32Steps) {
  AdamOptions options;
  options.dtype = ScalarType::kFloat32;
  options.max_steps = 3;
  options.lr = 0.1;
  const VectorXd x0 = (VectorXd(2) << 0.7, -3.0).finished();
  auto adam = Adam::Create(options, ConstVectorView::Float64(x0.data(), 2));
  ASSERT_TRUE(adam.ok());
  auto solver =
      WithFiniteDifferences(std::move(*adam), {}, Bounds::Unbounded(2));
  ASSERT_TRUE(solver.ok());
  const double rel = std::cbrt(double{std::numeric_limits<float>::epsilon()});
  const BatchRun run =
      DriveBatches(**solver, Evaluate([](const VectorXd& v, VectorXd* g) {
        if (g != nullptr) *g = 2 * v;
        return v.squaredNorm();
      }));
  ASSERT_TRUE(run.finished);
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{5, 5, 5}));
  for (const VectorXd& point : run.points) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(point[i], static_cast<double>(static_cast<float>(point[i])));
    }
  }
  EXPECT_NEAR(run.points[2][0] - run.points[0][0], rel, 1e-3 * rel);
}

// ---------------------------------------------------------------------------
// Gradient checks.

TEST(GradientCheck, CorrectGradientPassesAndTheRunIsUnchanged) {
  const problems::TestProblem p = Problem("rosenbrock");
  std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
  const BatchRun reference = DriveBatches(*plain, Evaluate(p.evaluate));
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
  ASSERT_TRUE(run.finished);
  // The inner solver saw the same tells: the same best point, bitwise.
  ExpectBitwiseEqual({run.x}, {reference.x});
  EXPECT_EQ(run.summary.iterations, reference.summary.iterations);
  EXPECT_EQ(run.summary.evaluations, reference.summary.evaluations + 2 * p.n);
  EXPECT_EQ(run.batch_sizes[0], 2 * p.n + 1);

  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].iteration, 0);
  EXPECT_LT(checks[0].max_relative_error, 1e-6);
  VectorXd g;
  p.evaluate(p.x0, &g);
  for (int i = 0; i < p.n; ++i) {
    EXPECT_EQ(checks[0].told[i], g[i]);
    EXPECT_NEAR(checks[0].finite_difference[i], g[i], 1e-6 * std::abs(g[i]));
  }
}

TEST(GradientCheck, WrongCoordinateIsReportedWhereItIs) {
  const problems::TestProblem p = Problem("wood");  // n = 4
  ObjectiveFn wrong = [&p](const VectorXd& x, VectorXd* g) {
    const double f = p.evaluate(x, g);
    if (g != nullptr) (*g)[3] *= 2;
    return f;
  };
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  DriveBatches(**solver, Evaluate(wrong));
  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  // |2g - g| / |2g| = 1/2 at coordinate 3; the others are right.
  EXPECT_NEAR(checks[0].relative_error[3], 0.5, 1e-6);
  EXPECT_EQ(checks[0].max_relative_error, checks[0].relative_error[3]);
  for (int i = 0; i < 3; ++i) EXPECT_LT(checks[0].relative_error[i], 1e-6);
}

std::vector<int64_t> CheckedIterations(const GradientCheckOptions& options,
                                       int tells) {
  const VectorXd x = (VectorXd(2) << 0.5, 2.0).finished();
  auto solver = WithGradientCheck(
      std::make_unique<ScriptedSolver>(std::vector<VectorXd>(tells, x),
                                       Evaluation::kValueAndGradient),
      options);
  EXPECT_TRUE(solver.ok()) << solver.status();
  DriveBatches(**solver, Evaluate(Quadratic()(VectorXd::Zero(4), nullptr) == 0
                                      ? [](const VectorXd& v, VectorXd* g) {
                                          if (g != nullptr) *g = 2 * v;
                                          return v.squaredNorm();
                                        }
                                      : ObjectiveFn()));
  std::vector<int64_t> iterations;
  for (const auto& r : (*solver)->gradient_checks()) {
    iterations.push_back(r.iteration);
  }
  return iterations;
}

TEST(GradientCheck, ChecksAtTheChosenIterationsOnly) {
  EXPECT_EQ(CheckedIterations({}, 12), (std::vector<int64_t>{0}));
  GradientCheckOptions every;
  every.at_iterations = {0};
  every.every_iterations = 5;
  EXPECT_EQ(CheckedIterations(every, 12), (std::vector<int64_t>{0, 5, 10}));
  GradientCheckOptions at;
  at.at_iterations = {3, 7, 100};
  EXPECT_EQ(CheckedIterations(at, 12), (std::vector<int64_t>{3, 7}));
  // The newest 100 are kept.
  GradientCheckOptions all;
  all.every_iterations = 1;
  const std::vector<int64_t> kept = CheckedIterations(all, 150);
  ASSERT_EQ(kept.size(), 100u);
  EXPECT_EQ(kept.front(), 50);
  EXPECT_EQ(kept.back(), 149);

  // L-BFGS: once per iteration, at its first trial.
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver = WithGradientCheck(LbfgsAt(p.x0), every);
  ASSERT_TRUE(solver.ok());
  const BatchRun run = DriveBatches(**solver, Evaluate(p.evaluate));
  std::vector<int64_t> expected;
  for (int64_t i = 0; i <= run.summary.iterations; i += 5) {
    expected.push_back(i);
  }
  std::vector<int64_t> got;
  for (const auto& r : (*solver)->gradient_checks()) got.push_back(r.iteration);
  // The last multiple of 5 may have had no trial (the run ended there).
  if (got.size() + 1 == expected.size()) expected.pop_back();
  EXPECT_EQ(got, expected);
  // Relative errors of a tiny gradient near the minimum are large: compare
  // absolutely there. Truncation h^2 f''' / 6 with h = 6e-6 and f''' ~ 2400
  // is ~1.5e-8.
  for (const auto& r : (*solver)->gradient_checks()) {
    for (int i = 0; i < p.n; ++i) {
      EXPECT_NEAR(r.finite_difference[i], r.told[i],
                  1e-7 * std::max(1.0, std::abs(r.told[i])))
          << r.iteration;
    }
  }
  EXPECT_LT((*solver)->gradient_checks()[0].max_relative_error, 1e-6);
}

TEST(GradientCheck, FailedStencilValuesFallBackOrGiveNaN) {
  const Quadratic q;
  const VectorXd x = (VectorXd(4) << 0.5, -3.0, 0.0, 2.0).finished();
  auto solver = WithGradientCheck(
      std::make_unique<ScriptedSolver>(std::vector<VectorXd>{x},
                                       Evaluation::kValueAndGradient),
      {});
  ASSERT_TRUE(solver.ok());
  const WorkerFn values = Evaluate(q);
  DriveBatches(**solver, [&](int k, const VectorXd& p, Evaluation w) {
    Outcome o = values(k, p, w);
    // Trial 1 is x - h e_0; 5 and 6 are x -/+ h e_2.
    if (k == 1 || k == 5 || k == 6) o.failed = true;
    return o;
  });
  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  // Coordinate 0: forward difference with trial 0's value, O(h) error.
  EXPECT_LT(checks[0].relative_error[0], 1e-4);
  EXPECT_GT(checks[0].relative_error[0], 1e-12);
  EXPECT_TRUE(std::isnan(checks[0].relative_error[2]));
  EXPECT_TRUE(std::isnan(checks[0].finite_difference[2]));
  EXPECT_LT(checks[0].relative_error[1], 1e-9);
  EXPECT_EQ(checks[0].max_relative_error, checks[0].relative_error[0]);
}

TEST(GradientCheck, FailedTrialGivesNoReportAndIsNotRetried) {
  const VectorXd x = (VectorXd(2) << 0.5, 2.0).finished();
  auto inner = std::make_unique<ScriptedSolver>(std::vector<VectorXd>(3, x),
                                                Evaluation::kValueAndGradient);
  ScriptedSolver* scripted = inner.get();
  GradientCheckOptions options;
  options.at_iterations = {0, 1};
  auto solver = WithGradientCheck(std::move(inner), options);
  ASSERT_TRUE(solver.ok());
  const WorkerFn values = Evaluate([](const VectorXd& v, VectorXd* g) {
    if (g != nullptr) *g = 2 * v;
    return v.squaredNorm();
  });
  int batch = 0;
  const BatchRun run =
      DriveBatches(**solver, [&](int k, const VectorXd& p, Evaluation w) {
        if (k == 0) ++batch;
        return batch == 1 && k == 0 ? Failed() : values(k, p, w);
      });
  EXPECT_EQ(run.batch_sizes, (std::vector<int>{5, 5, 1}));
  ASSERT_EQ(scripted->told().size(), 3u);
  EXPECT_TRUE(scripted->told()[0].result.failed);
  const std::vector<GradientCheckReport> checks = (*solver)->gradient_checks();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].iteration, 1);
}

TEST(GradientCheck, InvalidGradientChangesNothing) {
  const problems::TestProblem p = Problem("rosenbrock");
  auto solver = WithGradientCheck(LbfgsAt(p.x0), {});
  ASSERT_TRUE(solver.ok());
  Solver& s = **solver;
  ASSERT_EQ(s.batch_size(), 5);
  EXPECT_EQ(s.batch_wants(0), Evaluation::kValueAndGradient);
  EXPECT_EQ(s.batch_wants(1), Evaluation::kValue);
  const double short_gradient[1] = {1.0};
  EXPECT_THAT(
      s.SetBatchGradient(0, ConstVectorView::Float64(short_gradient, 1)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("gradient has 1 elements")));
  const double nan_gradient[2] = {1.0, kNaN};
  EXPECT_THAT(
      s.SetBatchGradient(0, ConstVectorView::Float64(nan_gradient, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gradient[1]")));
  EXPECT_THAT(s.TellBatch(0, Result(1.0, /*has_gradient=*/true)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(s.batch_told(0));
  EXPECT_EQ(s.progress().evaluations, 0);
  // The run then goes as it would have.
  std::unique_ptr<Solver> plain = LbfgsAt(p.x0);
  const BatchRun reference = DriveBatches(*plain, Evaluate(p.evaluate));
  const BatchRun run = DriveBatches(s, Evaluate(p.evaluate));
  ExpectBitwiseEqual({run.x}, {reference.x});
  EXPECT_EQ(s.gradient_checks().size(), 1u);
}

TEST(GradientCheck, ValidateNamesTheFieldAndTheRange) {
  GradientCheckOptions negative;
  negative.at_iterations = {2, -1};
  EXPECT_THAT(negative.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check.at_iterations[1] is -1")));
  GradientCheckOptions every;
  every.every_iterations = -5;
  EXPECT_THAT(every.Validate(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check.every_iterations")));
  GradientCheckOptions step;
  step.relative_step = 0.5;
  EXPECT_THAT(WithGradientCheck(LbfgsAt(VectorXd::Ones(2)), step),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("gradient_check.relative_step is 0.5")));
  EXPECT_THAT(WithGradientCheck(nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---------------------------------------------------------------------------
// Data parallelism.

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
  // Without an inner SaveState there is none.
  auto lbfgs = WithDataParallel(LbfgsAt(VectorXd::Zero(2)), 2);
  ASSERT_TRUE(lbfgs.ok());
  EXPECT_EQ((*lbfgs)->StateBytes(), 0);
  EXPECT_THAT((*lbfgs)->SaveState(&state),
              StatusIs(absl::StatusCode::kUnimplemented));
}

}  // namespace
}  // namespace optd
