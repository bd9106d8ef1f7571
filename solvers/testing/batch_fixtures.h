// Shared by the batch-adapter tests (batch_adapter.h, finite_difference.h,
// gradient_check.h, data_parallel.h): a scripted inner solver that records
// what it is told, workers that evaluate a batch, and a driver that tells a
// whole batch in order or shuffled.
//
//   auto inner = std::make_unique<ScriptedSolver>(points,
//                                                 Evaluation::kGradient);
//   auto solver = WithDataParallel(std::move(inner), 4);
//   BatchRun run = DriveBatches(**solver, Evaluate(Quadratic()));
//
// Thread-safety: plain functions and single-threaded classes.
#ifndef OPTD_SOLVERS_TESTING_BATCH_FIXTURES_H_
#define OPTD_SOLVERS_TESTING_BATCH_FIXTURES_H_

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "solvers/core/bounds.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/lbfgs/lbfgs.h"
#include "solvers/core/solver.h"
#include "solvers/testing/mgh_problems.h"

namespace optd::testing {

using ObjectiveFn =
    std::function<double(const Eigen::VectorXd&, Eigen::VectorXd*)>;

// An inner solver that hands out `points` in turn, each wanting `wants`, and
// records what it is told. Its iterations count its tells.
class ScriptedSolver : public Solver {
 public:
  struct Told {
    TrialResult result;
    Eigen::VectorXd gradient;  // empty without one
  };
  ScriptedSolver(std::vector<Eigen::VectorXd> points, Evaluation wants)
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
    told_.push_back(
        {result, result.has_gradient ? pending_ : Eigen::VectorXd()});
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
  std::vector<Eigen::VectorXd> points_;
  Evaluation wants_;
  size_t next_ = 0;
  Eigen::VectorXd pending_;
  std::vector<Told> told_;
  Summary summary_;
};

// What a worker tells for trial k.
struct Outcome {
  double value = std::numeric_limits<double>::quiet_NaN();
  Eigen::VectorXd gradient;  // told when not empty
  bool failed = false;
  double weight = 1.0;
};
using WorkerFn =
    std::function<Outcome(int k, const Eigen::VectorXd& x, Evaluation)>;

inline Outcome Told(double value, Eigen::VectorXd gradient = Eigen::VectorXd(),
                    double weight = 1) {
  Outcome o;
  o.value = value;
  o.gradient = std::move(gradient);
  o.weight = weight;
  return o;
}
inline Outcome Failed() {
  Outcome o;
  o.failed = true;
  return o;
}

inline TrialResult Result(double value, bool has_gradient = false,
                          double weight = 1) {
  TrialResult r;
  r.value = value;
  r.has_gradient = has_gradient;
  r.weight = weight;
  return r;
}

// Evaluates what the trial wants from `objective`.
inline WorkerFn Evaluate(ObjectiveFn objective) {
  return [objective](int, const Eigen::VectorXd& x, Evaluation wants) {
    Outcome out;
    if (WantsGradient(wants)) {
      out.value = objective(x, &out.gradient);
    } else {
      out.value = objective(x, nullptr);
    }
    if (!WantsValue(wants))
      out.value = std::numeric_limits<double>::quiet_NaN();
    return out;
  };
}

// Checks that trial k's PointDelta (Solver::BatchPointDelta), when it has
// one, rebuilds its point bit for bit from the base's, in float64 and in
// float32 views, and returns whether it had one.
inline bool ExpectDeltaRebuildsPoint(const Solver& solver, int k) {
  const std::optional<PointDelta> delta = solver.BatchPointDelta(k);
  if (!delta.has_value()) return false;
  const int64_t n = solver.dimension();
  EXPECT_GE(delta->base, 0);
  EXPECT_LT(delta->base, solver.batch_size());
  EXPECT_NE(delta->base, k);
  EXPECT_FALSE(solver.BatchPointDelta(delta->base).has_value())
      << "trial " << k << "'s base " << delta->base << " has a delta itself";
  EXPECT_GE(delta->coordinate, -1);
  EXPECT_LT(delta->coordinate, n);
  std::vector<double> point(n), rebuilt(n);
  EXPECT_TRUE(
      solver.ReadBatchPoint(k, MutableVectorView::Float64(point.data(), n))
          .ok());
  EXPECT_TRUE(solver
                  .ReadBatchPoint(delta->base,
                                  MutableVectorView::Float64(rebuilt.data(), n))
                  .ok());
  if (delta->coordinate >= 0) rebuilt[delta->coordinate] = delta->value;
  EXPECT_EQ(std::memcmp(point.data(), rebuilt.data(), 8 * n), 0)
      << "trial " << k << " rebuilt from trial " << delta->base
      << " in float64";
  std::vector<float> point32(n), rebuilt32(n);
  EXPECT_TRUE(
      solver.ReadBatchPoint(k, MutableVectorView::Float32(point32.data(), n))
          .ok());
  EXPECT_TRUE(solver
                  .ReadBatchPoint(delta->base, MutableVectorView::Float32(
                                                   rebuilt32.data(), n))
                  .ok());
  if (delta->coordinate >= 0) {
    rebuilt32[delta->coordinate] = static_cast<float>(delta->value);
  }
  EXPECT_EQ(std::memcmp(point32.data(), rebuilt32.data(), 4 * n), 0)
      << "trial " << k << " rebuilt from trial " << delta->base
      << " in float32";
  return true;
}

struct BatchRun {
  std::vector<Eigen::VectorXd> points;  // every ReadBatchPoint, batch by batch
  std::vector<int> batch_sizes;
  // Trials whose point came as a PointDelta (each checked bit for bit).
  int64_t deltas = 0;
  bool finished = false;
  Summary summary;
  Eigen::VectorXd x;  // best point
};

// Drives `solver` batch by batch: reads every trial of the batch, evaluates
// them all, then tells them in order or, with `rng`, in a shuffled order.
inline BatchRun DriveBatches(Solver& solver, const WorkerFn& worker,
                             std::mt19937* rng = nullptr,
                             int max_batches = 100000) {
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
      Eigen::VectorXd x(n);
      EXPECT_TRUE(
          solver.ReadBatchPoint(k, MutableVectorView::Float64(x.data(), n))
              .ok());
      run.points.push_back(x);
      if (ExpectDeltaRebuildsPoint(solver, k)) ++run.deltas;
      wants[k] = solver.batch_wants(k);
      outcomes[k] = worker(k, x, wants[k]);
    }
    std::vector<int> order(size);
    std::iota(order.begin(), order.end(), 0);
    if (rng != nullptr) std::shuffle(order.begin(), order.end(), *rng);
    int untold = size;
    for (int k : order) {
      EXPECT_EQ(solver.batch_untold(), untold--);
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

inline problems::TestProblem Problem(const std::string& name) {
  absl::StatusOr<problems::TestProblem> p = problems::FindProblem(name);
  EXPECT_TRUE(p.ok()) << name;
  return *p;
}

// f = 1/2 x'Ax + b'x with A symmetric positive definite (n = 4).
struct Quadratic {
  Eigen::MatrixXd a;
  Eigen::VectorXd b;
  Quadratic() : a(4, 4), b(4) {
    a << 4, 1, 0, 0.5,   //
        1, 3, 0.2, 0,    //
        0, 0.2, 2, 0.1,  //
        0.5, 0, 0.1, 1;
    b << 1, -2, 0.5, 3;
  }
  double operator()(const Eigen::VectorXd& x, Eigen::VectorXd* g) const {
    if (g != nullptr) *g = a * x + b;
    return 0.5 * x.dot(a * x) + b.dot(x);
  }
};

inline void ExpectBitwiseEqual(const std::vector<Eigen::VectorXd>& a,
                               const std::vector<Eigen::VectorXd>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    ASSERT_EQ(a[t].size(), b[t].size());
    EXPECT_EQ(std::memcmp(a[t].data(), b[t].data(), 8 * a[t].size()), 0)
        << "trial " << t;
  }
}

inline std::unique_ptr<Solver> LbfgsAt(const Eigen::VectorXd& x0) {
  auto lbfgs = Lbfgs::Create(LbfgsOptions(),
                             ConstVectorView::Float64(x0.data(), x0.size()));
  EXPECT_TRUE(lbfgs.ok()) << lbfgs.status();
  return std::move(*lbfgs);
}

// The gradient the adapter forms at each of `points` from values of `f`.
inline std::vector<Eigen::VectorXd> FiniteDifferenceGradients(
    const std::vector<Eigen::VectorXd>& points, ObjectiveFn f,
    FiniteDifferenceOptions options = {}, Bounds bounds = Bounds::Unbounded(0),
    BatchRun* run = nullptr) {
  auto inner =
      std::make_unique<ScriptedSolver>(points, Evaluation::kValueAndGradient);
  ScriptedSolver* scripted = inner.get();
  auto solver = WithFiniteDifferences(std::move(inner), options, bounds);
  EXPECT_TRUE(solver.ok()) << solver.status();
  BatchRun local = DriveBatches(**solver, Evaluate(f));
  std::vector<Eigen::VectorXd> gradients;
  for (const auto& told : scripted->told()) gradients.push_back(told.gradient);
  if (run != nullptr) *run = local;
  return gradients;
}

// max_i |a_i - b_i| / max(1, max_i |b_i|).
inline double ScaledError(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a - b).lpNorm<Eigen::Infinity>() /
         std::max(1.0, b.lpNorm<Eigen::Infinity>());
}

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_BATCH_FIXTURES_H_
