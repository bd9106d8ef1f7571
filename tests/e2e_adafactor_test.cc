// End to end: Adafactor sessions (solvers/adafactor) on real optd processes:
// the server steps bitwise as the in-process solver, echoes its options and
// layers, survives kill -9 and moves between servers (export/import)
// bitwise, and refuses what it does not serve, naming the field.
#include <signal.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/adafactor/adafactor.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"

namespace optd::testing {
namespace {

using ::optd::client::Client;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::testing::HasSubstr;

using AdafactorEndToEnd = OptdServerTest;

// A 3 x 4 matrix, a 5-vector and a 6 x 1 matrix.
std::vector<v1::Layer> TestLayers() {
  std::vector<v1::Layer> layers(3);
  layers[0].set_rows(3);
  layers[0].set_cols(4);
  layers[1].set_rows(5);
  layers[2].set_rows(6);
  layers[2].set_cols(1);
  return layers;
}

constexpr int kN = 12 + 5 + 6;

std::vector<double> X0() {
  std::vector<double> x(kN);
  for (int i = 0; i < kN; ++i) x[i] = std::sin(1.3 * i) - 0.2;
  return x;
}

// f = 1/2 sum (i + 1) (x_i - 1)^2 / kN.
client::Evaluation Quadratic(const std::vector<double>& x) {
  client::Evaluation e;
  double f = 0.0;
  for (int i = 0; i < kN; ++i) {
    const double w = (i + 1.0) / kN;
    f += 0.5 * w * (x[i] - 1.0) * (x[i] - 1.0);
    e.gradient.push_back(w * (x[i] - 1.0));
  }
  e.value = f;
  return e;
}

v1::AdafactorOptions TestOptions() {
  v1::AdafactorOptions options;
  options.set_beta1(0.9);
  options.set_weight_decay(1e-2);
  options.set_dtype(v1::STATE_DTYPE_FLOAT32);
  options.set_max_steps(40);
  return options;
}

// The in-process solver's points after each of `steps` steps.
std::vector<std::vector<double>> ReferencePoints(int steps) {
  AdafactorOptions options;
  options.beta1 = 0.9;
  options.weight_decay = 1e-2;
  options.dtype = ScalarType::kFloat32;
  options.layers = {{3, 4}, {5, 0}, {6, 1}};
  const std::vector<double> x0 = X0();
  auto solver =
      Adafactor::Create(options, ConstVectorView::Float64(x0.data(), kN));
  EXPECT_TRUE(solver.ok()) << solver.status();
  std::vector<std::vector<double>> points;
  std::vector<double> x(kN);
  for (int step = 0; step < steps; ++step) {
    EXPECT_TRUE((*solver)
                    ->ReadTrialPoint(MutableVectorView::Float64(x.data(), kN))
                    .ok());
    const client::Evaluation e = Quadratic(x);
    EXPECT_TRUE(
        (*solver)
            ->SetTrialGradient(ConstVectorView::Float64(e.gradient.data(), kN))
            .ok());
    TrialResult result;
    result.value = *e.value;
    result.has_gradient = true;
    EXPECT_TRUE((*solver)->Tell(result).ok());
    EXPECT_TRUE((*solver)
                    ->ReadTrialPoint(MutableVectorView::Float64(x.data(), kN))
                    .ok());
    points.push_back(x);
  }
  return points;
}

// Tells `steps` evaluations, checking each next point against `reference`
// from index `first` on; returns the outstanding trial.
client::Trial TellAndCompare(const Session& session, client::Trial trial,
                             const std::vector<std::vector<double>>& reference,
                             int first, int steps) {
  for (int k = first; k < first + steps; ++k) {
    absl::StatusOr<client::Answer> answer =
        session.Tell(trial.id, Quadratic(trial.x));
    EXPECT_TRUE(answer.ok()) << answer.status();
    if (!answer.ok() || answer->trials.empty()) return trial;
    trial = answer->trials[0];
    EXPECT_EQ(trial.x, reference[k]) << "after step " << k + 1;
  }
  return trial;
}

TEST_F(AdafactorEndToEnd, StepsAsTheSolverAndEchoesOptionsAndLayers) {
  const std::vector<std::vector<double>> reference = ReferencePoints(40);
  SessionOptions options;
  options.session_id = "factored";
  absl::StatusOr<Session> session = Session::Create(
      client(), X0(), SolverSpec::Adafactor(TestOptions(), TestLayers()),
      options);
  ASSERT_OK(session);
  client::Trial trial = session->first_trials().at(0);
  trial = TellAndCompare(*session, trial, reference, 0, 39);
  absl::StatusOr<client::Answer> last =
      session->Tell(trial.id, Quadratic(trial.x));
  ASSERT_OK(last);
  ASSERT_TRUE(last->summary.has_value());
  EXPECT_EQ(last->summary->x, reference[39]);
  EXPECT_EQ(last->summary->iterations, 40);

  absl::StatusOr<v1::Session> echoed = session->Get();
  ASSERT_OK(echoed);
  ASSERT_TRUE(echoed->has_adafactor());
  const v1::AdafactorOptions& o = echoed->adafactor();
  EXPECT_FALSE(o.has_lr());
  EXPECT_EQ(o.eps1(), 1e-30);
  EXPECT_EQ(o.eps2(), 1e-3);
  EXPECT_EQ(o.clip_threshold(), 1.0);
  EXPECT_EQ(o.decay_rate(), -0.8);
  EXPECT_EQ(o.beta1(), 0.9);
  EXPECT_EQ(o.weight_decay(), 1e-2);
  EXPECT_TRUE(o.scale_parameter());
  EXPECT_TRUE(o.relative_step());
  EXPECT_FALSE(o.warmup_init());
  EXPECT_EQ(o.dtype(), v1::STATE_DTYPE_FLOAT32);
  EXPECT_EQ(o.max_steps(), 40);
  ASSERT_EQ(echoed->layers_size(), 3);
  EXPECT_EQ(echoed->layers(0).rows(), 3);
  EXPECT_EQ(echoed->layers(0).cols(), 4);
  EXPECT_EQ(echoed->layers(1).cols(), 0);
  EXPECT_EQ(echoed->layers(2).cols(), 1);

  // optctl prints the options by reflection, and the layers.
  const CommandRun get = Optctl(optd().address(), "get factored");
  EXPECT_EQ(get.exit_code, 0) << get.output;
  EXPECT_THAT(get.output, HasSubstr("eps1: 1e-30"));
  EXPECT_THAT(get.output, HasSubstr("beta1: 0.9"));
  EXPECT_THAT(get.output, HasSubstr("3x4, 5, 6x1"));
}

TEST_F(AdafactorEndToEnd, SurvivesKillNineAndMovesBetweenServersBitwise) {
  const std::vector<std::vector<double>> reference = ReferencePoints(40);
  SessionOptions options;
  options.session_id = "durable";
  client::Trial trial;
  {
    absl::StatusOr<Session> session = Session::Create(
        client(), X0(), SolverSpec::Adafactor(TestOptions(), TestLayers()),
        options);
    ASSERT_OK(session);
    trial = TellAndCompare(*session, session->first_trials().at(0), reference,
                           0, 10);
  }
  // Every tell is durable before its answer: kill -9 loses none.
  optd().Signal(SIGKILL);
  ASSERT_EQ(optd().Wait(absl::Seconds(10)), std::optional<int>(128 + SIGKILL));
  ASSERT_OK(optd().Start());
  absl::StatusOr<Client> client = Client::Connect(optd().address());
  ASSERT_OK(client);
  const Session restarted = Session::Attach(*client, "durable");
  absl::StatusOr<client::Answer> asked = restarted.Ask();
  ASSERT_OK(asked);
  ASSERT_EQ(asked->trials.size(), 1u);
  EXPECT_EQ(asked->trials[0].x, reference[9]);
  trial = TellAndCompare(restarted, asked->trials[0], reference, 10, 10);

  // Export after 20 steps; the import on another server goes on bitwise.
  absl::StatusOr<v1::SessionSnapshot> snapshot =
      client->ExportSession("durable");
  ASSERT_OK(snapshot);
  OptdProcess other;
  ASSERT_OK(other.Start());
  absl::StatusOr<Client> to = Client::Connect(other.address());
  ASSERT_OK(to);
  absl::StatusOr<v1::ImportSessionResponse> imported =
      to->ImportSession(*snapshot, "moved");
  ASSERT_OK(imported);
  EXPECT_EQ(imported->tells(), 20);
  const Session moved = Session::Attach(*to, "moved");
  TellAndCompare(moved, trial, reference, 20, 15);
}

TEST_F(AdafactorEndToEnd, RefusalsNameTheFieldAndTheLimit) {
  auto create = [&](const SolverSpec& spec, int n, int shards = 0,
                    bool bounds = false) {
    SessionOptions options;
    options.shards = shards;
    if (bounds) {
      options.lower.assign(n, -1.0);
      options.upper.assign(n, 1.0);
    }
    return Session::Create(client(), std::vector<double>(n, 0.5), spec,
                           options);
  };
  EXPECT_THAT(create(SolverSpec::Adafactor({}, TestLayers()), kN + 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "layers cover 23 elements; the session has dimension "
                       "24"));
  std::vector<v1::Layer> empty_rows = TestLayers();
  empty_rows[1].set_rows(0);
  EXPECT_THAT(create(SolverSpec::Adafactor({}, empty_rows), kN),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "layers[1].rows is 0; it must be in [1, 2^53]"));
  v1::CreateSessionRequest adam_with_layers = client::MakeCreateSessionRequest(
      std::vector<double>(kN, 0.5), SolverSpec::Adam());
  const std::vector<v1::Layer> layers = TestLayers();
  adam_with_layers.mutable_layers()->Add(layers.begin(), layers.end());
  EXPECT_THAT(Session::Create(client(), adam_with_layers),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "layers is set but the solver is adam; only adafactor "
                       "uses layers"));
  v1::AdafactorOptions manual;
  manual.set_lr(1e-3);
  EXPECT_THAT(create(SolverSpec::Adafactor(manual), 4),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("adafactor.lr is set and "
                                 "adafactor.relative_step is true")));
  v1::AdafactorOptions bad_clip;
  bad_clip.set_clip_threshold(-1);
  EXPECT_THAT(create(SolverSpec::Adafactor(bad_clip), 4),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "adafactor.clip_threshold is -1; it must be in (0, "
                       "inf)"));
  // Sharded like any session: one replica cannot hold two shards.
  EXPECT_THAT(create(SolverSpec::Adafactor(), 4, /*shards=*/2),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "shards is 2 but this server has one replica; use "
                       "shards 0 or 1, or a deployment with --peers"));
  EXPECT_THAT(create(SolverSpec::Adafactor(), 4, 0, /*bounds=*/true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "bounds are not supported by adafactor; leave bounds "
                       "unset"));
}

}  // namespace
}  // namespace optd::testing
