// Compact trials (trials.proto Trial.delta, base_points): a batch's
// stencil points go out as deltas from its first trial, so that answers stay
// O(n + trials) for any batch, and a client that rebuilds the points gets the
// ones the solver evaluates, bit for bit (docs/api.md "Many workers").
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/session.h"
#include "server/testing/rosenbrock.h"
#include "server/testing/trial_points.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::server::testing::WithPoints;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

std::shared_ptr<Session> Make(const v1::CreateSessionRequest& request,
                              v1::VectorEncoding encoding) {
  absl::StatusOr<ConstVectorView> x0 = DecodeVector(request.x0(), "x0");
  EXPECT_TRUE(x0.ok()) << x0.status();
  absl::StatusOr<SolverSetup> setup = CreateSolver(request, *x0);
  EXPECT_TRUE(setup.ok()) << setup.status();
  if (!setup.ok()) return nullptr;
  SessionSettings settings;
  SetCreationEcho(request, &settings.creation_echo);
  return std::make_shared<Session>("compact", std::move(*setup), Labels{},
                                   encoding, settings);
}

v1::CreateSessionRequest FiniteDifferenceLbfgs(int64_t n) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  *request.mutable_x0() = Values(x0);
  request.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  return request;
}

// What an answer of `trials` trials may weigh: one whole point of n doubles
// and a few dozen bytes per trial. The stencil's points whole would be
// 8 n (2n + 1) bytes.
int64_t LinearBound(int64_t n, int64_t trials) {
  return 8 * n + 64 * trials + 1024;
}

std::vector<uint64_t> Bits(const std::vector<double>& x) {
  std::vector<uint64_t> bits(x.size());
  std::memcpy(bits.data(), x.data(), 8 * x.size());
  return bits;
}

TEST(CompactTrials, StencilPointsAreDeltasFromTheFirstTrial) {
  const int64_t n = 3;
  std::shared_ptr<Session> session =
      Make(FiniteDifferenceLbfgs(n), v1::VECTOR_ENCODING_F64);
  v1::CreateSessionResponse created;
  ASSERT_OK(session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, &created));
  ASSERT_EQ(created.trials_size(), 2 * n + 1);
  EXPECT_EQ(created.base_points_size(), 0);  // trial 1 is there, whole
  EXPECT_EQ(ToDoubles(created.trials(0).x()),
            std::vector<double>({-1.2, 1.0, -1.2}));
  EXPECT_FALSE(created.trials(0).has_delta());
  // x - h e_i, x + h e_i with h = cbrt(eps) max(1, |x_i|).
  const double rel = std::cbrt(std::numeric_limits<double>::epsilon());
  for (int k = 1; k <= 2 * n; ++k) {
    const v1::Trial& trial = created.trials(k);
    EXPECT_FALSE(trial.has_x()) << k;
    ASSERT_TRUE(trial.has_delta()) << k;
    EXPECT_EQ(trial.delta().base_trial_id(), 1u);
    ASSERT_TRUE(trial.delta().has_coordinate());
    const int64_t i = (k - 1) / 2;
    EXPECT_EQ(trial.delta().coordinate(), i);
    const double x = i % 2 == 0 ? -1.2 : 1.0;
    const double h = rel * std::max(1.0, std::abs(x));
    EXPECT_EQ(trial.delta().value(), k % 2 == 1 ? x - h : x + h) << k;
  }
}

TEST(CompactTrials, AWorkerHoldingOnlyStencilTrialsGetsTheBasePoint) {
  std::shared_ptr<Session> session =
      Make(FiniteDifferenceLbfgs(4), v1::VECTOR_ENCODING_VALUES);
  v1::AskResponse first, stencil;
  ASSERT_OK(
      session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "center", &first));
  ASSERT_EQ(first.trials_size(), 1);
  EXPECT_EQ(first.trials(0).trial_id(), 1u);
  EXPECT_EQ(first.base_points_size(), 0);
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "edges",
                                 &stencil, false, 3));
  ASSERT_EQ(stencil.trials_size(), 3);
  ASSERT_EQ(stencil.base_points_size(), 1);
  EXPECT_EQ(stencil.base_points(0).trial_id(), 1u);
  EXPECT_EQ(ToDoubles(stencil.base_points(0).x()),
            ToDoubles(first.trials(0).x()));
  // Told trial 1 is no longer outstanding; its point still comes along.
  v1::TellRequest tell;
  tell.set_trial_id(1);
  tell.set_value(1.0);
  tell.set_worker_id("center");
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  ASSERT_GT(answer.trials_size(), 0);
  EXPECT_TRUE(answer.trials(0).has_delta());
  ASSERT_EQ(answer.base_points_size(), 1);
  EXPECT_EQ(ToDoubles(answer.base_points(0).x()),
            ToDoubles(first.trials(0).x()));
  // An unleased Ask: every outstanding trial, one base point.
  v1::AskResponse all;
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &all));
  EXPECT_EQ(all.trials_size(), 8);
  EXPECT_EQ(all.base_points_size(), 1);
}

// The session's points, rebuilt from compact answers, against the solver
// stack driven alone through ReadBatchPoint (each point read whole, as the
// server did before compact trials): the same points and the same end, bit
// for bit, for central, forward and bounded (one-sided) stencils, in each
// encoding.
TEST(CompactTrials, RebuiltPointsAreBitwiseThoseOfTheSolver) {
  struct Case {
    const char* name;
    v1::FiniteDifferenceOptions::Scheme scheme;
    bool bounded;
    v1::VectorEncoding encoding;
  };
  for (const Case& c :
       {Case{"central", v1::FiniteDifferenceOptions::SCHEME_CENTRAL, false,
             v1::VECTOR_ENCODING_VALUES},
        Case{"forward", v1::FiniteDifferenceOptions::SCHEME_FORWARD, false,
             v1::VECTOR_ENCODING_F64},
        Case{"bounded central", v1::FiniteDifferenceOptions::SCHEME_CENTRAL,
             true, v1::VECTOR_ENCODING_F64},
        Case{"bounded forward", v1::FiniteDifferenceOptions::SCHEME_FORWARD,
             true, v1::VECTOR_ENCODING_VALUES},
        Case{"central in f32", v1::FiniteDifferenceOptions::SCHEME_CENTRAL,
             false, v1::VECTOR_ENCODING_F32}}) {
    SCOPED_TRACE(c.name);
    v1::CreateSessionRequest request = FiniteDifferenceLbfgs(4);
    request.mutable_finite_difference()->set_scheme(c.scheme);
    if (c.bounded) {
      // x0_0 = -1.2 starts on its lower bound; the minimum (1, 1, 1, 1)
      // lies beyond the upper bound 0.5 of x_2.
      *request.mutable_bounds()->mutable_lower() = Values({-1.2, -5, -5, -5});
      *request.mutable_bounds()->mutable_upper() = Values({5, 5, 0.5, 5});
    }
    std::shared_ptr<Session> session = Make(request, c.encoding);
    absl::StatusOr<ConstVectorView> x0 = DecodeVector(request.x0(), "x0");
    ASSERT_OK(x0.status());
    absl::StatusOr<SolverSetup> alone = CreateSolver(request, *x0);
    ASSERT_OK(alone.status());
    Solver& solver = *alone->solver;
    const bool f32 = c.encoding == v1::VECTOR_ENCODING_F32;
    int64_t tells = 0;
    for (int rounds = 0; rounds < 100000 && !solver.finished(); ++rounds) {
      v1::AskResponse ask;
      ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
      const std::vector<v1::Trial> trials = WithPoints(ask);
      ASSERT_EQ(static_cast<int>(trials.size()), solver.batch_size());
      for (int k = 0; k < solver.batch_size(); ++k) {
        std::vector<double> whole(4);
        if (f32) {
          std::vector<float> point(4);
          ASSERT_OK(solver.ReadBatchPoint(
              k, MutableVectorView::Float32(point.data(), 4)));
          whole.assign(point.begin(), point.end());
        } else {
          ASSERT_OK(solver.ReadBatchPoint(
              k, MutableVectorView::Float64(whole.data(), 4)));
        }
        ASSERT_EQ(Bits(ToDoubles(trials[k].x())), Bits(whole))
            << "trial " << trials[k].trial_id();
      }
      // Told from the last trial of the batch to the first, each with the
      // value at the full point read from the solver.
      for (int k = solver.batch_size() - 1; k >= 0; --k) {
        std::vector<double> x(4), g;
        ASSERT_OK(
            solver.ReadBatchPoint(k, MutableVectorView::Float64(x.data(), 4)));
        const double f = Rosenbrock(x, &g);
        v1::TellRequest tell;
        tell.set_trial_id(trials[k].trial_id());
        tell.set_value(f);
        v1::TellResponse answer;
        ASSERT_OK(session->Tell(tell, &answer));
        TrialResult result;
        result.value = f;
        ASSERT_OK(solver.TellBatch(k, result));
        ++tells;
      }
    }
    ASSERT_TRUE(solver.finished());
    v1::Session described;
    ASSERT_OK(session->Describe(true, v1::VECTOR_ENCODING_F64, &described));
    EXPECT_EQ(described.evaluations(), tells);
    std::vector<double> best(4);
    ASSERT_OK(solver.ReadBestPoint(MutableVectorView::Float64(best.data(), 4)));
    EXPECT_EQ(Bits(ToDoubles(described.best_x())), Bits(best));
    EXPECT_EQ(described.state(), v1::SESSION_STATE_CONVERGED);
  }
}

// n = 20000: the first answer, an Ask for 1024 trials and every answer while
// one whole gradient (40001 value trials) is told weigh O(n), where the whole
// points would be 8 n (2n + 1) = 6.4 GB.
TEST(CompactTrials, AStencilOfTwentyThousandCoordinatesIsLinearOnTheWire) {
  const int64_t n = 20000;
  std::shared_ptr<Session> session =
      Make(FiniteDifferenceLbfgs(n), v1::VECTOR_ENCODING_F64);
  v1::CreateSessionResponse created;
  ASSERT_OK(session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, &created));
  ASSERT_EQ(created.trials_size(), 2 * n + 1);
  EXPECT_LT(static_cast<int64_t>(created.ByteSizeLong()),
            LinearBound(n, 2 * n + 1));
  const std::vector<double> x = ToDoubles(created.trials(0).x());
  ASSERT_EQ(static_cast<int64_t>(x.size()), n);

  // f = sum_i (i + 1) x_i^2, told for each stencil point from its delta.
  std::vector<double> weighted(x.size());
  double f0 = 0;
  for (int64_t i = 0; i < n; ++i) {
    weighted[i] = static_cast<double>(i + 1) * x[i] * x[i];
    f0 += weighted[i];
  }
  const auto value = [&](const v1::Trial& trial) {
    if (!trial.has_delta()) return f0;
    const int64_t i = trial.delta().coordinate();
    const double v = trial.delta().value();
    return f0 - weighted[i] + static_cast<double>(i + 1) * v * v;
  };

  // A worker asks for 1024 trials at once: stencil trials only, after
  // another took trial 1.
  v1::AskResponse center;
  ASSERT_OK(
      session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "center", &center));
  ASSERT_EQ(center.trials_size(), 1);
  v1::AskResponse many;
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "many", &many,
                                 false, 1024));
  ASSERT_EQ(many.trials_size(), 1024);
  ASSERT_EQ(many.base_points_size(), 1);
  EXPECT_LT(static_cast<int64_t>(many.ByteSizeLong()), LinearBound(n, 1024));
  EXPECT_GT(static_cast<int64_t>(many.ByteSizeLong()), 8 * n);

  // Every trial of the batch told by workers, one trial per answer.
  int64_t largest_answer = 0;
  const auto tell = [&](const v1::Trial& trial, const std::string& worker) {
    v1::TellRequest request;
    request.set_trial_id(trial.trial_id());
    request.set_value(value(trial));
    request.set_worker_id(worker);
    v1::TellResponse answer;
    EXPECT_OK(session->Tell(request, &answer));
    largest_answer = std::max<int64_t>(largest_answer, answer.ByteSizeLong());
    return answer;
  };
  tell(center.trials(0), "center");
  for (const v1::Trial& trial : many.trials()) tell(trial, "many");
  v1::AskResponse next;
  ASSERT_OK(
      session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "one", &next));
  int64_t told = 1 + 1024;
  while (next.trials_size() == 1 &&
         next.trials(0).trial_id() <= static_cast<uint64_t>(2 * n + 1)) {
    const v1::TellResponse answer = tell(next.trials(0), "one");
    ++told;
    next.clear_trials();
    next.mutable_trials()->CopyFrom(answer.trials());
  }
  // The trials the answers to "center" and "many" leased them.
  v1::AskResponse rest;
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &rest));
  EXPECT_EQ(rest.trials_size(), 2);
  for (const v1::Trial& trial : rest.trials()) {
    tell(trial, "");
    ++told;
  }
  EXPECT_EQ(told, 2 * n + 1);
  EXPECT_LT(largest_answer, LinearBound(n, 2 * n + 1));
  // The gradient was formed: the solver moved on to its line search, whose
  // first point is the next batch's trial 0.
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_EQ(described.evaluations(), 2 * n + 1);
  ASSERT_GT(described.pending_trial_ids_size(), 0);
  EXPECT_EQ(described.pending_trial_ids(0), static_cast<uint64_t>(2 * n + 2));
  v1::AskResponse second;
  ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &second));
  EXPECT_EQ(second.trials_size(), 2 * n + 1);
  EXPECT_LT(static_cast<int64_t>(second.ByteSizeLong()),
            LinearBound(n, 2 * n + 1));
}

TEST(CompactTrials, AGradientCheckOfTwentyThousandCoordinatesIsLinear) {
  const int64_t n = 20000;
  v1::CreateSessionRequest request = FiniteDifferenceLbfgs(n);
  request.clear_gradient_source();
  request.mutable_gradient_check();  // at iteration 0
  std::shared_ptr<Session> session = Make(request, v1::VECTOR_ENCODING_F32);
  v1::CreateSessionResponse created;
  ASSERT_OK(session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, &created));
  ASSERT_EQ(created.trials_size(), 2 * n + 1);
  EXPECT_EQ(created.trials(0).wants(), v1::EVALUATION_VALUE_AND_GRADIENT);
  EXPECT_EQ(created.trials(0).x().f32().size(), static_cast<size_t>(4 * n));
  EXPECT_TRUE(created.trials(1).has_delta());
  EXPECT_LT(static_cast<int64_t>(created.ByteSizeLong()),
            LinearBound(n, 2 * n + 1));
  // A worker asking for 1024 trials gets stencil values only, the point once.
  v1::AskResponse center, many;
  ASSERT_OK(
      session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "center", &center));
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "many", &many,
                                 false, 1024));
  ASSERT_EQ(many.trials_size(), 1024);
  ASSERT_EQ(many.base_points_size(), 1);
  EXPECT_EQ(many.base_points(0).trial_id(), 1u);
  EXPECT_LT(static_cast<int64_t>(many.ByteSizeLong()), LinearBound(n, 1024));
  // The f32 answer's delta values are float32 values, as a whole f32 point
  // would hold them.
  for (const v1::Trial& trial : many.trials()) {
    const double v = trial.delta().value();
    ASSERT_EQ(v, static_cast<double>(static_cast<float>(v)));
  }
}

TEST(CompactTrials, DataParallelWorkersShareTheFirstTrialsPoint) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  *request.mutable_x0() = Values({-1.2, 1.0});
  request.mutable_data_parallel()->set_workers(3);
  std::shared_ptr<Session> session = Make(request, v1::VECTOR_ENCODING_F64);
  v1::CreateSessionResponse created;
  ASSERT_OK(session->WriteTrials(v1::VECTOR_ENCODING_UNSPECIFIED, &created));
  ASSERT_EQ(created.trials_size(), 3);
  EXPECT_FALSE(created.trials(1).delta().has_coordinate());
  EXPECT_EQ(created.trials(2).delta().base_trial_id(), 1u);
  v1::AskResponse first, second;
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "a", &first));
  ASSERT_OK(
      session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "b", &second));
  ASSERT_EQ(second.trials_size(), 1);
  EXPECT_EQ(second.trials(0).trial_id(), 2u);
  EXPECT_EQ(ToDoubles(WithPoints(second)[0].x()),
            std::vector<double>({-1.2, 1.0}));
}

// A solver whose batch trials come without deltas: the answer is refused
// (INTERNAL, a solver bug) rather than built from batch-size whole points.
class BatchWithoutDeltas : public Solver {
 public:
  std::string_view name() const override { return "lbfgs"; }
  int64_t dimension() const override { return 2; }
  bool finished() const override { return false; }
  Evaluation wants() const override { return Evaluation::kValue; }
  absl::Status ReadTrialPoint(const MutableVectorView& out) const override {
    const double x[2] = {1, 2};
    out.CopyFrom(0, 2, x);
    return absl::OkStatus();
  }
  absl::Status ReadBestPoint(const MutableVectorView& out) const override {
    return ReadTrialPoint(out);
  }
  absl::Status SetTrialGradient(const ConstVectorView&) override {
    return absl::OkStatus();
  }
  absl::Status Tell(const TrialResult&) override { return absl::OkStatus(); }
  int batch_size() const override { return 3; }
  void Stop() override {}
  Progress progress() const override { return {}; }
  const Summary& summary() const override { return summary_; }
  std::string OptionsReport() const override { return ""; }

 private:
  Summary summary_;
};

TEST(CompactTrials, ABatchWithoutDeltasIsRefusedRatherThanMaterialized) {
  SolverSetup setup;
  setup.solver = std::make_unique<BatchWithoutDeltas>();
  setup.options = LbfgsOptions();
  Session session("no-deltas", std::move(setup), Labels{},
                  v1::VECTOR_ENCODING_VALUES);
  v1::AskResponse ask;
  EXPECT_THAT(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask),
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("at most two whole points")));
}

}  // namespace
}  // namespace optd::server
