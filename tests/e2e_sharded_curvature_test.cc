// End to end: curvature diagnoses sharded across four real optd replicas on
// loopback (issue 22). The Lanczos vectors live on SLICE_KIND_LANCZOS slices
// and every reduction is added in global block order, so a diagnosis on K =
// 1..4 shards reports bitwise the estimates of the unsharded one (extremes,
// condition number, density nodes and weights), for Hessian-vector products
// and gradient differences (both data paths); Diagnose of a sharded session
// runs on as many shards; a shard replica (gateway path) or the home (direct
// path) killed mid-run leaves the same bits; the new error paths name the
// problem and change nothing.
#include <signal.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/free_ports.h"
#include "tests/optd_process.h"
#include "tests/replica_set.h"
#include "tests/resume.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::Evaluation;
using ::optd::client::Result;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::optd::client::Wants;
using ::testing::HasSubstr;

constexpr int kReplicas = 4;
// Three whole reduction blocks and a short fourth: K = 4 gives every replica
// a slice.
constexpr int64_t kN = 3 * 4096 + 1000;

// H = diag(d) + u u^T, indefinite, applied without forming it.
std::vector<double> ApplyH(const std::vector<double>& v) {
  const int64_t n = static_cast<int64_t>(v.size());
  double uv = 0.0;
  for (int64_t i = 0; i < n; ++i) uv += std::sin(0.37 * i) * v[i];
  std::vector<double> out(v.size());
  for (int64_t i = 0; i < n; ++i) {
    const double d = 0.5 + (i % 997) / 7.0 - (i % 5 == 0 ? 60.0 : 0.0);
    out[i] = d * v[i] + std::sin(0.37 * i) * uv;
  }
  return out;
}

std::vector<double> StartPoint(int64_t n) {
  std::vector<double> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = std::cos(0.01 * i);
  return x;
}

v1::CurvatureOptions Options(v1::CurvatureOptions::Source source) {
  v1::CurvatureOptions options;
  options.set_source(source);
  options.set_max_steps(20);
  options.set_probes(3);
  options.set_density_steps(6);
  return options;
}

// Tells every trial from `answer` on (a batch's last trial first) until the
// session ends or `max_tells` products were told; the last answer.
absl::StatusOr<Answer> Drive(const Session& session, Answer answer,
                             int max_tells = 1 << 30) {
  for (int t = 0; t < max_tells && !answer.finished(); ++t) {
    const std::vector<Trial> trials = answer.trials;
    for (auto it = trials.rbegin(); it != trials.rend(); ++it) {
      Evaluation e;
      if (it->wants == Wants::kHessianVector) {
        e.hessian_vector = ApplyH(it->vector);
      } else {
        e.gradient = ApplyH(it->x);
      }
      absl::StatusOr<Answer> next = session.Tell(it->id, e);
      if (!next.ok()) return next.status();
      answer = *std::move(next);
    }
  }
  return answer;
}

bool SameBits(const google::protobuf::RepeatedField<double>& a,
              const google::protobuf::RepeatedField<double>& b) {
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

void ExpectSameEstimate(const v1::CurvatureResult& expected,
                        const v1::CurvatureResult& actual,
                        const std::string& what) {
  EXPECT_TRUE(SameBits(expected.smallest(), actual.smallest())) << what;
  EXPECT_TRUE(SameBits(expected.largest(), actual.largest())) << what;
  const double a = expected.condition_number();
  const double b = actual.condition_number();
  EXPECT_EQ(std::memcmp(&a, &b, sizeof(double)), 0) << what;
  EXPECT_TRUE(SameBits(expected.density_nodes(), actual.density_nodes()))
      << what;
  EXPECT_TRUE(SameBits(expected.density_weights(), actual.density_weights()))
      << what;
  EXPECT_EQ(expected.products(), actual.products()) << what;
  EXPECT_EQ(expected.lanczos_steps(), actual.lanczos_steps()) << what;
  EXPECT_EQ(expected.converged(), actual.converged()) << what;
}

class ShardedCurvatureEndToEnd : public ReplicaSetTest<kReplicas> {
 protected:
  // A whole diagnosis at StartPoint(kN) with `shards` shards (0: unsharded)
  // from replica `home`.
  static v1::CurvatureResult Run(v1::CurvatureOptions::Source source,
                                 int shards, int home, bool direct,
                                 const std::string& id) {
    Client client = Connect(home);
    SessionOptions options;
    options.session_id = id;
    options.shards = shards;
    options.direct = direct;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(kN),
                        SolverSpec::Curvature(Options(source)), options);
    EXPECT_TRUE(session.ok()) << id << ": " << session.status();
    if (!session.ok()) return {};
    Answer first;
    first.trials = session->first_trials();
    absl::StatusOr<Answer> end = Drive(*session, first);
    EXPECT_TRUE(end.ok()) << id << ": " << end.status();
    EXPECT_OK(client.DeleteSession(id));
    if (!end.ok() || !end->summary->curvature.has_value()) return {};
    return *end->summary->curvature;
  }

  static void KillMidDiagnosis(int victim, bool direct, const std::string& id);
};

TEST_F(ShardedCurvatureEndToEnd, EstimatesAreBitwiseTheUnshardedOnes) {
  for (auto source : {v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR,
                      v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE}) {
    const bool difference =
        source == v1::CurvatureOptions::SOURCE_GRADIENT_DIFFERENCE;
    const std::string name = difference ? "gd" : "hv";
    SCOPED_TRACE(name);
    const v1::CurvatureResult reference =
        Run(source, 0, 0, false, name + "-unsharded");
    ASSERT_EQ(reference.lanczos_steps(), 20);
    ASSERT_EQ(reference.smallest_size(), 3);
    for (int k = 1; k <= kReplicas; ++k) {
      const int home = k % kReplicas;
      ExpectSameEstimate(
          reference, Run(source, k, home, false, absl::StrCat(name, "-gw", k)),
          absl::StrCat(name, " gateway K=", k));
      // The direct path serves the Hessian-vector trial's point and vector
      // from the replicas (GetSlice) and takes the products as slices; a
      // gradient-difference batch's two points come whole from the home,
      // and the gradients go to the replicas as slices.
      if (k > 1) {
        ExpectSameEstimate(
            reference,
            Run(source, k, home, true, absl::StrCat(name, "-direct", k)),
            absl::StrCat(name, " direct K=", k));
      }
    }
  }
}

TEST_F(ShardedCurvatureEndToEnd, DiagnoseOfAShardedSessionRunsOnItsShards) {
  Client client = Connect(1);
  SessionOptions options;
  options.session_id = "lbfgs-source";
  options.shards = 3;
  v1::LbfgsOptions lbfgs;
  ASSERT_OK(
      Session::Create(client, StartPoint(kN), SolverSpec::Lbfgs(lbfgs), options)
          .status());
  v1::DiagnoseRequest request;
  request.set_session_id("lbfgs-source");
  request.set_diagnosis_id("lbfgs-diagnosis");
  request.set_point(v1::DiagnoseRequest::POINT_CURRENT);
  *request.mutable_curvature() =
      Options(v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR);
  absl::StatusOr<v1::DiagnoseResponse> diagnosed = client.Diagnose(request);
  ASSERT_OK(diagnosed);
  // The point stays on the slices.
  EXPECT_EQ(diagnosed->x().values_size(), 0);
  absl::StatusOr<v1::Session> described = client.GetSession("lbfgs-diagnosis");
  ASSERT_OK(described);
  ASSERT_EQ(described->shard_map_size(), 3);
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(described->shard_map(s).replica(), (1 + s) % kReplicas);
  }
  Session diagnosis = Session::Attach(client, "lbfgs-diagnosis");
  absl::StatusOr<Answer> first = diagnosis.Ask();
  ASSERT_OK(first);
  absl::StatusOr<Answer> end = Drive(diagnosis, *first);
  ASSERT_OK(end);
  ASSERT_TRUE(end->summary->curvature.has_value());
  // The source's current point is its x0.
  ExpectSameEstimate(Run(v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR, 0, 0,
                         false, "lbfgs-reference"),
                     *end->summary->curvature, "Diagnose K=3");
  EXPECT_OK(client.DeleteSession("lbfgs-diagnosis"));
  EXPECT_OK(client.DeleteSession("lbfgs-source"));
}

// A Hessian-vector diagnosis on K = 3 from replica 0, `victim` killed with -9
// after 8 products and restarted; the session then rebuilt from its journal
// (the slices made again, the products replayed: the client's slices of them
// read back on the direct path), the outstanding trial handed out again, and
// the estimates the uninterrupted run's bits.
void ShardedCurvatureEndToEnd::KillMidDiagnosis(int victim, bool direct,
                                                const std::string& id) {
  const auto source = v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR;
  const v1::CurvatureResult reference =
      Run(source, 0, 0, false, id + "-reference");
  SessionOptions options;
  options.session_id = id;
  options.shards = 3;
  options.direct = direct;
  absl::StatusOr<Session> session =
      Session::Create(Connect(0), StartPoint(kN),
                      SolverSpec::Curvature(Options(source)), options);
  ASSERT_OK(session);
  Answer first;
  first.trials = session->first_trials();
  absl::StatusOr<Answer> answer = Drive(*session, first, 8);
  ASSERT_OK(answer);
  replica(victim).Signal(SIGKILL);
  replica(victim).Wait(absl::Seconds(10));
  const Trial trial = answer->trials[0];
  if (victim != 0) {
    Evaluation e;
    e.hessian_vector = ApplyH(trial.vector);
    EXPECT_THAT(session->Tell(trial.id, e).status(),
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("retry")));
  }
  ASSERT_OK(StartReplica(victim));
  Client again = Connect(0);
  Session attached = Session::Attach(again, id);
  absl::StatusOr<Answer> resumed = AskAfterRestart(attached, direct);
  ASSERT_OK(resumed);
  ASSERT_EQ(resumed->trials.size(), 1u);
  EXPECT_EQ(resumed->trials[0].id, trial.id);
  EXPECT_TRUE(resumed->trials[0].vector == trial.vector);
  absl::StatusOr<Answer> end = Drive(attached, *resumed);
  ASSERT_OK(end);
  ASSERT_TRUE(end->summary->curvature.has_value());
  ExpectSameEstimate(reference, *end->summary->curvature, id);
  EXPECT_OK(again.DeleteSession(id));
}

TEST_F(ShardedCurvatureEndToEnd, AShardReplicaKilledMidDiagnosis) {
  KillMidDiagnosis(2, /*direct=*/false, "kill-diagnosis");
}

TEST_F(ShardedCurvatureEndToEnd, TheHomeKilledMidDiagnosis) {
  KillMidDiagnosis(0, /*direct=*/true, "kill-home-diagnosis");
}

TEST_F(ShardedCurvatureEndToEnd, ErrorsNameTheProblemAndChangeNothing) {
  Client client = Connect(0);
  SessionOptions options;
  options.session_id = "sharded-errors";
  options.shards = 2;
  options.direct = false;
  absl::StatusOr<Session> session =
      Session::Create(client, StartPoint(kN),
                      SolverSpec::Curvature(
                          Options(v1::CurvatureOptions::SOURCE_HESSIAN_VECTOR)),
                      options);
  ASSERT_OK(session);
  const Trial trial = session->first_trials()[0];
  Evaluation bad;
  bad.hessian_vector = ApplyH(trial.vector);
  bad.hessian_vector[5000] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THAT(session->Tell(trial.id, bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the Hessian-vector product's element 5000 is "
                                 "not finite (nan)")));
  absl::StatusOr<v1::Session> after = client.GetSession("sharded-errors");
  ASSERT_OK(after);
  EXPECT_EQ(after->iterations(), 0);
  EXPECT_EQ(after->evaluations(), 0);
  // The same trial, told right, is taken.
  Evaluation good;
  good.hessian_vector = ApplyH(trial.vector);
  ASSERT_OK(session->Tell(trial.id, good).status());
  EXPECT_OK(client.DeleteSession("sharded-errors"));
}

}  // namespace
}  // namespace optd::testing
