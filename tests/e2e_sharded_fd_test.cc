// End to end: finite differences on the slices of sessions sharded across
// four real optd replicas (docs/sharding.md "Finite differences"). Forward
// and central stencils, with bounds (the trust region, L-BFGS-B and float32
// AdamW in a box), give bitwise the trials and final x of the unsharded
// session for K = 2, 3, 4 on both data paths; the plan lives on the replicas
// that hold the slices (their slice bytes grow by it during a stencil); and a
// shard replica or the home killed with -9 in the middle of a stencil ends the
// run bitwise as an uninterrupted one.
#include <signal.h>

#include <array>
#include <cmath>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "optd/v1/shard.grpc.pb.h"
#include "solvers/testing/status_matchers.h"
#include "tests/free_ports.h"
#include "tests/optd_process.h"
#include "tests/replica_set.h"
#include "tests/resume.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;

constexpr int kReplicas = 4;
// One whole reduction block and a few elements: K = 2 cuts the stencil in
// two non-empty slices, K = 3, 4 add empty ones (their points: none). The
// stencils stay a few thousand trials, each told by its own RPC.
constexpr int64_t kN = 4096 + 10;

struct Trace {
  std::vector<std::vector<double>> points;
  std::vector<double> x;
  double value = 0;
  int64_t evaluations = 0;
  v1::TerminationReason reason = v1::TERMINATION_REASON_UNSPECIFIED;
  uint64_t last_id = 0;  // the last trial told
};

void ExpectSameRun(const Trace& expected, const Trace& actual,
                   const std::string& what) {
  ASSERT_EQ(expected.points.size(), actual.points.size()) << what;
  for (size_t i = 0; i < expected.points.size(); ++i) {
    ASSERT_TRUE(expected.points[i] == actual.points[i])
        << what << ": trial " << i + 1 << " differs";
  }
  EXPECT_TRUE(expected.x == actual.x) << what << ": final x differs";
  EXPECT_EQ(std::memcmp(&expected.value, &actual.value, sizeof(double)), 0)
      << what << ": " << expected.value << " vs " << actual.value;
  EXPECT_EQ(expected.evaluations, actual.evaluations) << what;
  EXPECT_EQ(expected.reason, actual.reason) << what;
}

// A finite-difference session: its solver, scheme and box.
struct FdCase {
  std::string name;
  SolverSpec solver;
  v1::FiniteDifferenceOptions::Scheme scheme;
  bool box = false;
};

std::vector<double> StartPoint() {
  std::vector<double> x0(static_cast<size_t>(kN));
  for (int64_t i = 0; i < kN; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0 + 1e-4 * i;
  return x0;
}

// Some sides infinite, some on the start point (x_i = -1.2 on its lower
// bound: a one-sided stencil pointing in), some a step away.
void Box(std::vector<double>* lower, std::vector<double>* upper) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  lower->assign(kN, -kInf);
  upper->assign(kN, kInf);
  for (int64_t i = 0; i < kN; ++i) {
    if (i % 4 == 0) (*lower)[i] = -1.2;
    if (i % 6 == 1) (*upper)[i] = 1.0 + 1e-4 * i + 1e-9;
  }
}

FdCase Lbfgs(v1::FiniteDifferenceOptions::Scheme scheme, std::string name) {
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(1);
  return {std::move(name), SolverSpec::Lbfgs(lbfgs), scheme};
}

// The quasi-Newton trust region (the sharded one: L-SR1 pairs on slices)
// in `Box`: stencils one-sided where a side is within h of the box.
FdCase BoxedTrustRegion(v1::FiniteDifferenceOptions::Scheme scheme,
                        std::string name) {
  v1::TrustRegionOptions tr;
  tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
  tr.set_max_iterations(1);
  return {std::move(name), SolverSpec::TrustRegion(tr), scheme, true};
}

// L-BFGS-B (lbfgs in `Box`, its slices SLICE_KIND_LBFGSB): stencils
// one-sided at the box, the Cauchy search over the slices' breakpoints.
FdCase BoxedLbfgs(v1::FiniteDifferenceOptions::Scheme scheme,
                  std::string name) {
  FdCase c = Lbfgs(scheme, std::move(name));
  c.box = true;
  return c;
}

// AdamW with float32 state in `Box`: each slice rounds its box inward to
// float and checks that the formed derivatives fit its state.
FdCase BoxedAdamFloat32(v1::FiniteDifferenceOptions::Scheme scheme,
                        std::string name) {
  v1::AdamOptions adamw;
  adamw.set_lr(1e-2);
  adamw.set_max_steps(2);
  adamw.set_dtype(v1::STATE_DTYPE_FLOAT32);
  return {std::move(name), SolverSpec::AdamW(adamw), scheme, true};
}

// The worker that tells every trial: a tell with a worker id answers with
// the worker's next trial only (docs/api.md "Many workers"), not the
// stencil's untold trials, which would make a stencil O(n^2) to drive.
constexpr char kWorker[] = "w";

// Tells trials (value only) in the order the answers give them until the
// session ends or `max_tells` tells were made; appends to `run`.
absl::StatusOr<Answer> Drive(const Session& session, Answer answer,
                             int64_t max_tells, Trace* run) {
  std::deque<Trial> queue(answer.trials.begin(), answer.trials.end());
  for (int64_t t = 0; t < max_tells && !answer.finished(); ++t) {
    if (queue.empty()) queue.assign(answer.trials.begin(), answer.trials.end());
    if (queue.empty()) return absl::InternalError("an answer without trials");
    const Trial trial = queue.front();
    queue.pop_front();
    run->points.push_back(trial.x);
    run->last_id = trial.id;
    v1::TellRequest request;
    request.set_trial_id(trial.id);
    request.set_value(*ExtendedRosenbrock(trial).value);
    request.set_worker_id(kWorker);
    // A replica that was restarted: the session is rebuilt when the
    // client retries (docs/sharding.md "Faults").
    absl::StatusOr<Answer> next =
        RetryWhileUnavailable([&] { return session.Tell(request); });
    if (!next.ok()) return next.status();
    answer = *std::move(next);
  }
  if (answer.finished()) {
    run->x = answer.summary->x;
    run->value = answer.summary->value;
    run->evaluations = answer.summary->evaluations;
    run->reason = answer.summary->reason;
  }
  return answer;
}

class ShardedFiniteDifferenceEndToEnd : public ReplicaSetTest<kReplicas> {
 protected:
  static absl::StatusOr<Session> Create(const FdCase& c, int shards, int home,
                                        const std::string& id, bool direct) {
    SessionOptions options;
    options.session_id = id;
    options.shards = shards;
    options.direct = direct;
    options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
    if (c.box) Box(&options.lower, &options.upper);
    v1::CreateSessionRequest request =
        client::MakeCreateSessionRequest(StartPoint(), c.solver, options);
    request.mutable_finite_difference()->set_scheme(c.scheme);
    return Session::Create(Connect(home), request, direct);
  }

  // A whole run of `c` with `shards` shards on replica `home`.
  static Trace Run(const FdCase& c, int shards, int home, bool direct) {
    const std::string id =
        absl::StrCat(c.name, "-k", shards, direct ? "-d" : "-gw");
    absl::StatusOr<Session> session = Create(c, shards, home, id, direct);
    EXPECT_TRUE(session.ok()) << id << ": " << session.status();
    Trace run;
    if (!session.ok()) return run;
    Answer first;
    first.trials = session->first_trials();
    absl::StatusOr<Answer> end = Drive(*session, first, 1'000'000, &run);
    EXPECT_TRUE(end.ok()) << id << ": " << end.status();
    EXPECT_OK(Connect(home).DeleteSession(id));
    return run;
  }

  // The unsharded run of `c`, then K shards on both paths against it.
  static void ExpectBitwise(const FdCase& c, int k) {
    const Trace reference = Run(c, 1, 0, true);
    ASSERT_GT(reference.points.size(), 2 * static_cast<size_t>(kN));
    for (bool direct : {true, false}) {
      ExpectSameRun(
          reference, Run(c, k, k % kReplicas, direct),
          absl::StrCat(c.name, " K=", k, direct ? " direct" : " gateway"));
    }
  }

  static void KillCase(int victim, bool direct);
};

// One case and one K a test, so that each fits the e2e timeout: the
// unsharded run, then K shards on both paths against it.
class ShardedFiniteDifferenceBitwise
    : public ShardedFiniteDifferenceEndToEnd,
      public ::testing::WithParamInterface<std::tuple<int, int>> {};

TEST_P(ShardedFiniteDifferenceBitwise, IsTheUnshardedRunOnBothPaths) {
  const std::vector<FdCase> cases = {
      Lbfgs(v1::FiniteDifferenceOptions::SCHEME_CENTRAL, "lbfgs-central"),
      Lbfgs(v1::FiniteDifferenceOptions::SCHEME_FORWARD, "lbfgs-forward"),
      BoxedTrustRegion(v1::FiniteDifferenceOptions::SCHEME_CENTRAL,
                       "tr-box-central"),
      BoxedLbfgs(v1::FiniteDifferenceOptions::SCHEME_FORWARD,
                 "lbfgsb-box-forward"),
      BoxedAdamFloat32(v1::FiniteDifferenceOptions::SCHEME_FORWARD,
                       "adamw-f32-box-forward")};
  ExpectBitwise(cases[std::get<0>(GetParam())], std::get<1>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(CasesAndShards, ShardedFiniteDifferenceBitwise,
                         ::testing::Combine(::testing::Range(0, 2),
                                            ::testing::Values(2, 3, 4)));
// The box: K = 3 over n = 4106 splits a block and leaves the third slice
// empty (its SET_BOUNDS carries no bytes; its box reductions are empty).
INSTANTIATE_TEST_SUITE_P(BoxAndShards, ShardedFiniteDifferenceBitwise,
                         ::testing::Combine(::testing::Values(2),
                                            ::testing::Values(3)));
// L-BFGS-B in the box on K = 3 (an empty third slice: no breakpoints), and
// float32 AdamW in the box on K = 4 (two empty slices).
INSTANTIATE_TEST_SUITE_P(LbfgsbBoxAndShards, ShardedFiniteDifferenceBitwise,
                         ::testing::Combine(::testing::Values(3),
                                            ::testing::Values(3)));
INSTANTIATE_TEST_SUITE_P(Float32BoxAndShards, ShardedFiniteDifferenceBitwise,
                         ::testing::Combine(::testing::Values(4),
                                            ::testing::Values(4)));

TEST_F(ShardedFiniteDifferenceEndToEnd, TheStencilIsPlannedOnTheSlices) {
  // Replica 1 holds the second slice [4096, 4106) of a K = 2 session homed
  // on replica 0: during a central stencil it holds the plan of its 10
  // coordinates (x, the plan and the points' coordinates), and the home's
  // own slice the plan of its 4096.
  const FdCase c =
      Lbfgs(v1::FiniteDifferenceOptions::SCHEME_CENTRAL, "plan-bytes");
  // What the session's slices hold before its first stencil: created with
  // the stencil planned, so compare with an L-BFGS session of values.
  absl::StatusOr<Session> session = Create(c, 2, 0, "plan-bytes", false);
  ASSERT_OK(session);
  SessionOptions plain_options;
  plain_options.session_id = "plain-bytes";
  plain_options.shards = 2;
  ASSERT_OK(Session::Create(Connect(0), StartPoint(), c.solver, plain_options)
                .status());
  // StencilSlice::Bytes: per coordinate x, a CoordinateStencil (32 bytes)
  // and a first point; per point its coordinate.
  const auto plan = [](int64_t size) {
    return size * (8 + 32 + 8) + 2 * size * 8;
  };
  EXPECT_EQ(SliceBytes(1, "plan-bytes") - SliceBytes(1, "plain-bytes"),
            plan(10));
  EXPECT_EQ(SliceBytes(0, "plan-bytes") - SliceBytes(0, "plain-bytes"),
            plan(4096));
  EXPECT_OK(Connect(0).DeleteSession("plan-bytes"));
  EXPECT_OK(Connect(0).DeleteSession("plain-bytes"));
}

// kill -9 of `victim` after `before` tells of the first stencil, restart,
// and the rest of the run from a new connection: bitwise the reference.
void KillMidStencil(const FdCase& c, int victim, const std::string& id,
                    const Trace& reference, bool direct,
                    const std::function<absl::StatusOr<Session>()>& create,
                    const std::function<OptdProcess&(int)>& replica,
                    const std::function<absl::Status(int)>& restart,
                    const std::function<Client(int)>& connect) {
  absl::StatusOr<Session> session = create();
  ASSERT_OK(session);
  Trace run;
  Answer first;
  first.trials = session->first_trials();
  ASSERT_EQ(first.trials.size(), static_cast<size_t>(kN) + 1);  // forward
  const int64_t before = kN / 2 + 7;  // in the middle of the stencil
  ASSERT_OK(Drive(*session, first, before, &run).status());
  replica(victim).Signal(SIGKILL);
  replica(victim).Wait(absl::Seconds(10));
  ASSERT_OK(restart(victim));
  Client again = connect(0);
  Session attached = Session::Attach(again, id);
  absl::StatusOr<Answer> resumed = AskAfterRestart(attached, direct, kWorker);
  ASSERT_OK(resumed);
  // The stencil's next untold trial, at the same point.
  ASSERT_EQ(resumed->trials.size(), 1u);
  EXPECT_EQ(resumed->trials[0].id, run.last_id + 1);
  const int64_t next =
      static_cast<int64_t>(run.last_id + 1 - first.trials[0].id);
  EXPECT_TRUE(resumed->trials[0].x == first.trials[next].x);
  ASSERT_OK(Drive(attached, *resumed, 1'000'000, &run).status());
  ExpectSameRun(reference, run, id);
  EXPECT_OK(again.DeleteSession(id));
}

// A shard holder (replica 1 holds shard 1, [4096, 4106), of a K = 3 session
// homed on replica 0) on both paths, and the home.
void ShardedFiniteDifferenceEndToEnd::KillCase(int victim, bool direct) {
  const FdCase c =
      Lbfgs(v1::FiniteDifferenceOptions::SCHEME_FORWARD, "kill-forward");
  const Trace reference = Run(c, 1, 0, true);
  const std::string id = absl::StrCat("kill-", victim, direct ? "-d" : "-gw");
  KillMidStencil(
      c, victim, id, reference, direct,
      [&] { return Create(c, 3, 0, id, direct); }, &replica, &StartReplica,
      &Connect);
}

TEST_F(ShardedFiniteDifferenceEndToEnd, AShardKilledMidStencilDirect) {
  KillCase(1, true);
}
TEST_F(ShardedFiniteDifferenceEndToEnd, AShardKilledMidStencilGateway) {
  KillCase(1, false);
}
TEST_F(ShardedFiniteDifferenceEndToEnd, TheHomeKilledMidStencil) {
  KillCase(0, true);
}

}  // namespace
}  // namespace optd::testing
