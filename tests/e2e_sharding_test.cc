// End to end: sessions sharded across four real optd replicas on loopback
// (ZeRO stage 1, DESIGN §3). Every solver (Adafactor with a matrix that shard
// boundaries cut inside rows) gives bitwise the same trials and final x for
// K = 1, 2, 3, 4; an L-BFGS evaluation costs one reduction; a
// replica killed mid-run (a shard holder, or the home) makes the session
// answer UNAVAILABLE until it is back, after which the session ends bitwise
// as an uninterrupted one; an exported session continues bitwise on another
// number of shards. Sessions with bounds (L-BFGS-B among them), gradient
// checks, data parallelism and finite differences do the same (issue 22), a
// data-parallel step surviving a replica killed in it.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "optd/v1/shard.grpc.pb.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/replica_set.h"
#include "tests/resume.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::Evaluation;
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

// What a run produced: every trial point told, and the end.
struct Trace {
  std::vector<std::vector<double>> points;
  std::vector<double> x;
  double value = 0;
  int64_t evaluations = 0;
  v1::TerminationReason reason = v1::TERMINATION_REASON_UNSPECIFIED;
};

// Tells `session` its trials until it ends or `max_tells` tells were made;
// appends to `run`. Returns the last answer.
// With `batches`, every trial of a batch (a gradient check's stencil) is
// told, in order, and counts as one tell.
absl::StatusOr<Answer> Drive(const Session& session, Answer answer,
                             int max_tells, Trace* run, bool batches = false) {
  for (int t = 0; t < max_tells && !answer.finished(); ++t) {
    if (answer.trials.size() != 1 && !batches) {
      return absl::InternalError("expected one outstanding trial");
    }
    const std::vector<Trial> trials = answer.trials;
    for (const Trial& trial : trials) {
      run->points.push_back(trial.x);
      absl::StatusOr<Answer> next =
          session.Tell(trial.id, ExtendedRosenbrock(trial));
      if (!next.ok()) return next.status();
      answer = *std::move(next);
    }
  }
  if (answer.finished()) {
    run->x = answer.summary->x;
    run->value = answer.summary->value;
    run->evaluations = answer.summary->evaluations;
    run->reason = answer.summary->reason;
  }
  return answer;
}

void ExpectSameRun(const Trace& expected, const Trace& actual,
                   const std::string& what) {
  ASSERT_EQ(expected.points.size(), actual.points.size()) << what;
  for (size_t i = 0; i < expected.points.size(); ++i) {
    ASSERT_TRUE(expected.points[i] == actual.points[i])
        << what << ": trial " << i + 1 << " differs";
  }
  EXPECT_TRUE(expected.x == actual.x) << what << ": final x differs";
  // Bitwise, NaN included.
  EXPECT_EQ(std::memcmp(&expected.value, &actual.value, sizeof(double)), 0)
      << what << ": " << expected.value << " vs " << actual.value;
  EXPECT_EQ(expected.evaluations, actual.evaluations) << what;
  EXPECT_EQ(expected.reason, actual.reason) << what;
}

struct Case {
  Case(std::string name, SolverSpec solver, int64_t n)
      : name(std::move(name)), solver(std::move(solver)), n(n) {}

  std::string name;
  SolverSpec solver;
  int64_t n;
  // Box bounds (empty: none) and a gradient check, for the session.
  std::vector<double> lower, upper;
  std::optional<v1::GradientCheckOptions> gradient_check;
};

// The session options of case `c` other than its id, shards and path.
SessionOptions OptionsOf(const Case& c) {
  SessionOptions options;
  options.lower = c.lower;
  options.upper = c.upper;
  options.gradient_check = c.gradient_check;
  return options;
}

// AdamW with two parameter groups over [0, n), whose boundary falls inside
// a slice and a block.
SolverSpec AdamWGroups(int64_t n) {
  v1::AdamOptions adamw;
  adamw.set_lr(1e-2);
  adamw.set_max_steps(15);
  const int64_t split = n / 3 + 7;
  v1::AdamGroup* first = adamw.add_groups();
  first->set_begin(0);
  first->set_end(split);
  v1::AdamGroup* second = adamw.add_groups();
  second->set_begin(split);
  second->set_end(n);
  second->set_lr(3e-3);
  second->set_beta1(0.8);
  second->set_eps(1e-6);
  second->set_weight_decay(0.0);
  return SolverSpec::AdamW(adamw);
}

// Adafactor over a vector layer of 88, a 130-wide matrix and a vector layer
// of the rest (at least 200): shard boundaries (multiples of the 4096-element
// reduction block) cut the matrix inside rows, so its row and column sums
// are carried from slice to slice mid-row.
SolverSpec AdafactorLayers(int64_t n, const v1::AdafactorOptions& options) {
  std::vector<v1::Layer> layers(3);
  layers[0].set_rows(88);
  const int64_t rows = (n - 88 - 200) / 130;
  layers[1].set_rows(rows);
  layers[1].set_cols(130);
  layers[2].set_rows(n - 88 - rows * 130);
  return SolverSpec::Adafactor(options, layers);
}

// Adafactor with a first moment and weight decay in float64, and with
// transformers' defaults in float32.
v1::AdafactorOptions AdafactorMomentum() {
  v1::AdafactorOptions options;
  options.set_beta1(0.9);
  options.set_weight_decay(1e-2);
  options.set_max_steps(15);
  return options;
}
v1::AdafactorOptions AdafactorF32() {
  v1::AdafactorOptions options;
  options.set_dtype(v1::STATE_DTYPE_FLOAT32);
  options.set_max_steps(15);
  return options;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(25);
  cases.push_back({"lbfgs", SolverSpec::Lbfgs(lbfgs), kN});
  v1::TrustRegionOptions tr;
  tr.set_max_iterations(25);
  tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
  cases.push_back({"tr-lbfgs", SolverSpec::TrustRegion(tr), kN});
  tr.set_quasi_newton_update(v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1);
  cases.push_back({"tr-lsr1", SolverSpec::TrustRegion(tr), kN});
  v1::TrustRegionOptions cg;
  cg.set_max_iterations(8);
  cg.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
  cases.push_back({"tr-newton-cg", SolverSpec::TrustRegion(cg), kN});
  cg.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD);
  cases.push_back({"tr-newton-cg-fd", SolverSpec::TrustRegion(cg), kN});
  v1::TrustRegionOptions exact;
  exact.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_EXACT);
  // A dense Hessian: small n, so most shards hold empty slices.
  cases.push_back({"tr-exact", SolverSpec::TrustRegion(exact), 10});
  v1::AdamOptions adam;
  adam.set_lr(1e-2);
  adam.set_max_steps(15);
  adam.set_max_grad_norm(50.0);
  cases.push_back({"adam", SolverSpec::Adam(adam), kN});
  v1::AdamOptions adamw = adam;
  adamw.set_dtype(v1::STATE_DTYPE_FLOAT32);
  adamw.set_amsgrad(true);
  cases.push_back({"adamw-f32-amsgrad", SolverSpec::AdamW(adamw), kN});
  cases.push_back({"adamw-groups", AdamWGroups(kN), kN});
  // The rest of the first-order family: each keeps other slots (none for
  // plain SGD, three for RMSprop centered with momentum) and NAdam a
  // running product on the home.
  v1::SgdOptions sgd;
  sgd.set_lr(1e-5);  // Rosenbrock's gradients are in the hundreds
  sgd.set_momentum(0.9);
  sgd.set_nesterov(true);
  sgd.set_weight_decay(1e-2);
  sgd.set_max_steps(15);
  cases.push_back({"sgd-nesterov", SolverSpec::Sgd(sgd), kN});
  v1::SgdOptions plain_sgd;
  plain_sgd.set_lr(1e-5);
  plain_sgd.set_max_steps(15);
  plain_sgd.set_dtype(v1::STATE_DTYPE_FLOAT32);
  cases.push_back({"sgd-plain-f32", SolverSpec::Sgd(plain_sgd), kN});
  v1::RmspropOptions rmsprop;
  rmsprop.set_centered(true);
  rmsprop.set_momentum(0.5);
  rmsprop.set_max_steps(15);
  rmsprop.set_max_grad_norm(50.0);
  cases.push_back({"rmsprop-centered", SolverSpec::Rmsprop(rmsprop), kN});
  v1::AdagradOptions adagrad;
  adagrad.set_lr_decay(1e-2);
  adagrad.set_initial_accumulator_value(0.1);
  adagrad.set_max_steps(15);
  cases.push_back({"adagrad", SolverSpec::Adagrad(adagrad), kN});
  v1::AdamaxOptions adamax;
  adamax.set_max_steps(15);
  cases.push_back({"adamax", SolverSpec::Adamax(adamax), kN});
  v1::NadamOptions nadam;
  nadam.set_max_steps(15);
  nadam.set_dtype(v1::STATE_DTYPE_FLOAT32);
  cases.push_back({"nadam-f32", SolverSpec::Nadam(nadam), kN});
  v1::RadamOptions radam;
  radam.set_max_steps(15);  // past rho_t > 5 (step 6)
  cases.push_back({"radam", SolverSpec::Radam(radam), kN});
  v1::LionOptions lion;
  lion.set_weight_decay(0.1);
  lion.set_max_steps(15);
  cases.push_back({"lion", SolverSpec::Lion(lion), kN});
  cases.push_back({"adafactor", AdafactorLayers(kN, AdafactorMomentum()), kN});
  cases.push_back({"adafactor-f32", AdafactorLayers(kN, AdafactorF32()), kN});
  return cases;
}

std::vector<double> StartPoint(int64_t n) {
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0 + 1e-4 * i;
  return x0;
}

// The box of the bounded cases: some sides infinite, and the start point
// (StartPoint) and Rosenbrock's minimizer (all ones) outside it in places,
// so that the projection moves the start and holds variables at bounds.
void SetBox(Case* c) {
  c->lower.resize(static_cast<size_t>(c->n));
  c->upper.resize(static_cast<size_t>(c->n));
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < c->n; ++i) {
    c->lower[i] = i % 3 == 0 ? -kInf : -1.1;
    c->upper[i] = i % 5 == 0 ? kInf : 0.95 + 1e-3 * (i % 7);
  }
}

// Sharded sessions with bounds: L-BFGS-B (L-BFGS in a box: its Cauchy
// search merges the slices' breakpoints, remote_lbfgsb_vectors.h), the
// first-order family (each slice projects onto its range of the box) and the
// trust region's quasi-Newton subproblem (its box operations are slice
// reductions).
std::vector<Case> BoundedCases() {
  std::vector<Case> cases;
  for (const Case& c : Cases()) {
    if (c.name == "lbfgs" || c.name == "adam" ||
        c.name == "adamw-f32-amsgrad" || c.name == "sgd-nesterov" ||
        c.name == "tr-lbfgs" || c.name == "tr-lsr1") {
      Case bounded = c;
      bounded.name = "box-" + c.name;
      SetBox(&bounded);
      cases.push_back(std::move(bounded));
    }
  }
  return cases;
}

class ShardingEndToEnd : public ReplicaSetTest<kReplicas> {
 protected:
  // Whether replica r holds a slice of session `id`.
  static bool HoldsSliceOf(int r, const std::string& id) {
    const v1::GetReplicaStatusResponse status = ReplicaStatus(r);
    for (const v1::ReplicaSlice& s : status.slices()) {
      if (s.key().session_id() == id) return true;
    }
    return false;
  }

  // A whole run of `c` with `shards` shards on replica `home`, on the direct
  // data path or through the home (gateway).
  static Trace RunCase(const Case& c, int shards, int home,
                       const std::string& id, v1::Session* described = nullptr,
                       bool direct = true) {
    Client client = Connect(home);
    SessionOptions options = OptionsOf(c);
    options.session_id = id;
    options.shards = shards;
    options.direct = direct;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(c.n), c.solver, options);
    EXPECT_TRUE(session.ok())
        << c.name << " K=" << shards << ": " << session.status();
    Trace run;
    if (!session.ok()) return run;
    Answer first;
    first.trials = session->first_trials();
    absl::StatusOr<Answer> end =
        Drive(*session, first, 100000, &run,
              /*batches=*/c.gradient_check.has_value());
    EXPECT_TRUE(end.ok()) << c.name << " K=" << shards << ": " << end.status();
    if (described != nullptr) {
      absl::StatusOr<v1::Session> s = client.GetSession(id);
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) *described = *s;
    }
    EXPECT_OK(client.DeleteSession(id));
    return run;
  }
};

TEST_F(ShardingEndToEnd, EverySolverIsBitwiseTheSameForOneToFourShards) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-k1");
    ASSERT_GT(reference.points.size(), 3u);
    EXPECT_TRUE(std::isfinite(reference.x[0]));
    for (int k = 2; k <= kReplicas; ++k) {
      // Homes other than replica 0 place the shards around the ring.
      const int home = k % kReplicas;
      v1::Session described;
      const Trace sharded =
          RunCase(c, k, home, absl::StrCat(c.name, "-k", k), &described);
      ExpectSameRun(reference, sharded, absl::StrCat(c.name, " K=", k));
      // Both data paths: whole vectors through the home, too.
      const Trace gateway = RunCase(c, k, home, absl::StrCat(c.name, "-gw", k),
                                    nullptr, /*direct=*/false);
      ExpectSameRun(reference, gateway, absl::StrCat(c.name, " gateway K=", k));
      ASSERT_EQ(described.shard_map_size(), k);
      int64_t end = 0;
      for (int s = 0; s < k; ++s) {
        const v1::ShardInfo& info = described.shard_map(s);
        EXPECT_EQ(info.shard(), s);
        EXPECT_EQ(info.replica(), (home + s) % kReplicas);
        EXPECT_EQ(info.address(), peer(info.replica()));
        EXPECT_EQ(info.begin(), end);
        // Whole blocks; past the last block a slice is empty.
        if (info.end() > info.begin()) {
          EXPECT_EQ(info.begin() % 4096, 0);
        }
        end = info.end();
      }
      EXPECT_EQ(end, c.n);
    }
  }
}

TEST_F(ShardingEndToEnd, AnLbfgsEvaluationCostsOneReduction) {
  const Case c = Cases()[0];
  v1::Session described;
  const Trace run = RunCase(c, 4, 0, "lbfgs-rounds", &described);
  ASSERT_GT(run.evaluations, 10);
  // One round of reductions per evaluation: the partial dot products of the
  // told gradient with the direction, itself and the stored pairs.
  EXPECT_EQ(described.shard_reductions(), run.evaluations);
  // Besides it, per evaluation: the gradient's scatter and the next point's
  // gather (the step and the pair update ride along with them), plus the
  // creation's x0 scatter and the final summary's gather.
  EXPECT_LE(described.shard_round_trips(), 3 * run.evaluations + 3)
      << described.shard_round_trips() << " round trips for " << run.evaluations
      << " evaluations";

  // The limited-memory trust region too: one reduction per trial, its Gram
  // matrices updated from it.
  const Trace tr = RunCase(Cases()[1], 4, 0, "tr-rounds", &described);
  ASSERT_GT(tr.evaluations, 10);
  EXPECT_EQ(described.shard_reductions(), tr.evaluations);
}

TEST_F(ShardingEndToEnd, AnAdafactorStepCostsTwoRoundTripsPerShard) {
  const Case c{"adafactor", AdafactorLayers(kN, AdafactorMomentum()), kN};
  constexpr int kShards = 3;
  v1::Session described;
  const Trace run = RunCase(c, kShards, 0, "adafactor-rounds", &described);
  ASSERT_EQ(run.evaluations, 15);
  // No block reductions: the sums go from slice to slice instead, one slice
  // at a time for each of the two passes that accumulate (2K round trips a
  // step), besides the gradient's scatter and the next point's gather (the
  // update rides along with it), the creation's x0 scatter and the final
  // summary's gather.
  EXPECT_EQ(described.shard_reductions(), 0);
  EXPECT_GE(described.shard_round_trips(), 2 * kShards * run.evaluations);
  EXPECT_LE(described.shard_round_trips(),
            (2 * kShards + 2) * run.evaluations + 3)
      << described.shard_round_trips() << " round trips for " << run.evaluations
      << " steps";
}

TEST_F(ShardingEndToEnd, ShardsBeyondTheReplicasAreRefused) {
  Client client = Connect(0);
  SessionOptions options;
  options.session_id = "too-many";
  options.shards = kReplicas + 1;
  absl::StatusOr<Session> session =
      Session::Create(client, StartPoint(kN), SolverSpec::Lbfgs(), options);
  EXPECT_THAT(session.status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("shards is 5 but this server has 4 replicas "
                                 "(--peers); use at most 4")));
  options.shards = -1;
  session =
      Session::Create(client, StartPoint(kN), SolverSpec::Lbfgs(), options);
  EXPECT_THAT(session.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("shards is -1")));
  // Nothing was created.
  EXPECT_THAT(client.GetSession("too-many").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  // No replica holds a slice of it.
  for (int r = 0; r < kReplicas; ++r) {
    EXPECT_FALSE(HoldsSliceOf(r, "too-many")) << "replica " << r;
  }
}

TEST_F(ShardingEndToEnd, DirectPathErrorsNameTheProblemAndChangeNothing) {
  Client home = Connect(0);
  SessionOptions options;
  options.session_id = "direct-errors";
  options.shards = 2;
  absl::StatusOr<Session> session =
      Session::Create(home, StartPoint(kN), Cases()[0].solver, options);
  ASSERT_OK(session);
  const Trial trial = session->first_trials()[0];
  const Evaluation e = ExtendedRosenbrock(trial);
  absl::StatusOr<v1::Session> before = home.GetSession("direct-errors");
  ASSERT_OK(before);
  const std::string shard1 = before->shard_map(1).address();
  const int64_t begin1 = before->shard_map(1).begin();
  Client replica1 = *Client::Connect(shard1);

  // A sliced tell whose slices were never sent.
  v1::TellRequest tell;
  tell.set_session_id("direct-errors");
  tell.set_trial_id(trial.id);
  tell.set_value(*e.value);
  tell.set_sliced(true);
  {
    grpc::ClientContext context;
    v1::TellResponse response;
    grpc::Status status = home.stub().Tell(&context, tell, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(),
                HasSubstr("the tell is sliced but replica 0 (" + peer(0) +
                          ") has no gradient slice of trial 1 "
                          "for shard 0"));
  }
  // A sliced tell that also carries the gradient.
  {
    v1::TellRequest both = tell;
    both.mutable_gradient()->mutable_values()->Add(1.0);
    grpc::ClientContext context;
    v1::TellResponse response;
    grpc::Status status = home.stub().Tell(&context, both, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("sliced is set, so gradient and hessian_vector must "
                          "be unset"));
  }
  // A slice sent to a replica that does not hold it.
  v1::PutSliceRequest put;
  put.set_session_id("direct-errors");
  put.set_trial_id(trial.id);
  put.set_shard(1);
  put.set_field(v1::SLICE_FIELD_GRADIENT);
  for (int64_t i = begin1; i < kN; ++i) {
    put.mutable_values()->add_values(e.gradient[i]);
  }
  {
    grpc::ClientContext context;
    v1::PutSliceResponse response;
    grpc::Status status = home.stub().PutSlice(&context, put, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(),
                HasSubstr("replica 0 holds no shard 1 of session "
                          "\"direct-errors\""));
  }
  // A non-finite element, named by its global index.
  {
    v1::PutSliceRequest nan = put;
    nan.mutable_values()->set_values(3, std::nan(""));
    grpc::ClientContext context;
    v1::PutSliceResponse response;
    grpc::Status status = replica1.stub().PutSlice(&context, nan, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr(absl::StrCat("gradient[", begin1 + 3, "] is nan")));
  }
  // A point asked of a trial that is not the one published.
  {
    v1::GetSliceRequest get;
    get.set_session_id("direct-errors");
    get.set_shard(1);
    get.set_trial_id(trial.id + 1);
    get.set_field(v1::SLICE_FIELD_POINT);
    grpc::ClientContext context;
    v1::GetSliceResponse response;
    grpc::Status status = replica1.stub().GetSlice(&context, get, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  // Nothing changed: the same trial is outstanding, and the proper tell
  // goes through as the first.
  absl::StatusOr<v1::Session> after = home.GetSession("direct-errors");
  ASSERT_OK(after);
  EXPECT_EQ(after->tells(), before->tells());
  EXPECT_EQ(after->evaluations(), before->evaluations());
  ASSERT_EQ(after->pending_trial_ids_size(), 1);
  EXPECT_EQ(after->pending_trial_ids(0), trial.id);
  absl::StatusOr<Answer> told = session->Tell(trial.id, e);
  ASSERT_OK(told);
  EXPECT_EQ(told->trials[0].id, trial.id + 1);
  // A sliced tell to a session that is not sharded.
  options.session_id = "direct-unsharded";
  options.shards = 1;
  absl::StatusOr<Session> single =
      Session::Create(home, StartPoint(10), Cases()[0].solver, options);
  ASSERT_OK(single);
  tell.set_session_id("direct-unsharded");
  {
    grpc::ClientContext context;
    v1::TellResponse response;
    grpc::Status status = home.stub().Tell(&context, tell, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("session \"direct-unsharded\" is not sharded"));
  }
  EXPECT_OK(home.DeleteSession("direct-errors"));
  EXPECT_OK(home.DeleteSession("direct-unsharded"));
}

TEST_F(ShardingEndToEnd, OptctlShowsTheShardMapAndEachReplicasMemory) {
  Client home = Connect(1);
  SessionOptions options;
  options.session_id = "optctl-shards";
  options.shards = 3;
  ASSERT_OK(Session::Create(home, StartPoint(kN), Cases()[0].solver, options)
                .status());
  const CommandRun get = Optctl(peer(1), "get optctl-shards");
  EXPECT_EQ(get.exit_code, 0) << get.output;
  // Four blocks over three shards: the first gets two.
  EXPECT_THAT(get.output, HasSubstr(absl::StrCat("0: replica 1 (", peer(1),
                                                 ") elements [0, 8192)")));
  EXPECT_THAT(get.output,
              HasSubstr(absl::StrCat("2: replica 3 (", peer(3),
                                     ") elements [12288, ", kN, ")")));
  EXPECT_THAT(get.output, HasSubstr("round trips"));
  const CommandRun shards = Optctl(peer(1), "shards optctl-shards");
  EXPECT_EQ(shards.exit_code, 0) << shards.output;
  EXPECT_THAT(shards.output, HasSubstr("STATE MB"));
  // L-BFGS, m = 10: x, g, trial x and g, d and 20 curvature vectors of 4096
  // doubles = 0.8 MB on each full shard.
  EXPECT_THAT(shards.output,
              ::testing::ContainsRegex(absl::StrCat(
                  "1 +2 +", peer(2), " +\\[8192, 12288\\) +0\\.8")));
  // Each replica journals what clients send its slice (the direct path), in
  // a file named with the session's incarnation.
  const auto staged_files = [] {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(
             replica(2).data_dir() + "/slices")) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("optctl-shards.1.", 0) == 0) files.push_back(name);
    }
    return files;
  };
  for (int r : {1, 2, 3}) EXPECT_TRUE(HoldsSliceOf(r, "optctl-shards"));
  ASSERT_EQ(staged_files().size(), 1u);
  EXPECT_THAT(staged_files()[0],
              ::testing::MatchesRegex("optctl-shards\\.1\\.[0-9a-f]{16}"
                                      "\\.staged"));
  EXPECT_OK(home.DeleteSession("optctl-shards"));
  // Deleting the session frees its slices and their files on every replica.
  EXPECT_TRUE(staged_files().empty());
  for (int r : {1, 2, 3}) {
    EXPECT_FALSE(HoldsSliceOf(r, "optctl-shards")) << "replica " << r;
  }
}

// Runs case `c` with K = 3 from replica 0, killing replica `victim` (kill -9)
// after 8 tells and restarting it after the next tell failed.
void KillAndRestart(const Case& c, int victim, const std::string& id,
                    const Trace& reference, bool direct,
                    std::function<absl::Status(int)> restart,
                    std::function<OptdProcess&(int)> replica_of,
                    std::function<Client(int)> connect) {
  Client client = connect(0);
  SessionOptions options = OptionsOf(c);
  options.session_id = id;
  options.shards = 3;
  options.direct = direct;
  absl::StatusOr<Session> session =
      Session::Create(client, StartPoint(c.n), c.solver, options);
  ASSERT_OK(session);
  Trace run;
  Answer first;
  first.trials = session->first_trials();
  absl::StatusOr<Answer> answer = Drive(*session, first, 8, &run);
  ASSERT_OK(answer);

  replica_of(victim).Signal(SIGKILL);
  replica_of(victim).Wait(absl::Seconds(10));
  const Trial trial = answer->trials[0];
  if (victim != 0) {
    // The home answers, but the shard on the dead replica does not.
    absl::StatusOr<Answer> failed =
        session->Tell(trial.id, ExtendedRosenbrock(trial));
    // Through the home: the home says so. Directly: the replica's own call.
    EXPECT_THAT(failed.status(),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr(direct ? "shard 2" : "retry")));
    // A session this replica does not hold may live on the one that is
    // down: not NOT_FOUND, but UNAVAILABLE naming it.
    EXPECT_THAT(client.GetSession("no-such-session").status(),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("could not be asked")));
  }
  ASSERT_OK(restart(victim));
  // The retry (through a new connection when the home restarted) rebuilds
  // the session from its journal and applies the tell once.
  Client again = connect(0);
  Session attached = Session::Attach(again, id);
  // A client retries UNAVAILABLE: the first call may meet the connection to
  // the killed process, or the session being rebuilt.
  absl::StatusOr<Answer> resumed = AskAfterRestart(attached, direct);
  ASSERT_OK(resumed);
  ASSERT_EQ(resumed->trials.size(), 1u);
  EXPECT_EQ(resumed->trials[0].id, trial.id);
  EXPECT_TRUE(resumed->trials[0].x == trial.x);
  absl::StatusOr<Answer> end = Drive(attached, *resumed, 100000, &run);
  ASSERT_OK(end);
  ExpectSameRun(reference, run, id);
  EXPECT_OK(again.DeleteSession(id));
}

TEST_F(ShardingEndToEnd, AShardReplicaKilledAndRestartedMidRun) {
  const Trace reference = RunCase(Cases()[0], 1, 0, "kill-reference");
  for (bool direct : {false, true}) {
    SCOPED_TRACE(direct ? "direct" : "gateway");
    // The restarted replica's slices are rebuilt; on the direct path it
    // reads back the gradient slices clients sent it from its data directory.
    KillAndRestart(
        Cases()[0], 2, direct ? "kill-shard-direct" : "kill-shard", reference,
        direct, [](int r) { return StartReplica(r); },
        [](int r) -> OptdProcess& { return replica(r); },
        [](int r) { return Connect(r); });
  }
}

TEST_F(ShardingEndToEnd, TheHomeReplicaKilledAndRestartedMidRun) {
  const Trace reference = RunCase(Cases()[0], 1, 0, "kill-home-reference");
  KillAndRestart(
      Cases()[0], 0, "kill-home", reference, /*direct=*/true,
      [](int r) { return StartReplica(r); },
      [](int r) -> OptdProcess& { return replica(r); },
      [](int r) { return Connect(r); });
}

// Adafactor's per-tell durable sessions: the passes that carry running sums
// from slice to slice are rebuilt from the journal like any other, on both
// data paths.
TEST_F(ShardingEndToEnd, AnAdafactorShardReplicaKilledAndRestartedMidRun) {
  for (const Case& c : Cases()) {
    if (c.name.rfind("adafactor", 0) != 0) continue;
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-kill-reference");
    for (bool direct : {false, true}) {
      SCOPED_TRACE(direct ? "direct" : "gateway");
      KillAndRestart(
          c, 2, absl::StrCat(c.name, "-kill-", direct ? "direct" : "gateway"),
          reference, direct, [](int r) { return StartReplica(r); },
          [](int r) -> OptdProcess& { return replica(r); },
          [](int r) { return Connect(r); });
    }
  }
}

// Issue 17's second finding: a sharded session that checkpoints
// (checkpoint_interval > 0, the default for n > 2^20) could not survive the
// kill -9 of a replica: replaying its journal needed gradient slices that
// were gone. Each replica now checkpoints its slices with the home's
// checkpoint, so the session resumes at its durable step, whichever replica
// died, and ends bitwise as an uninterrupted run, for every solver and both
// data paths.
TEST_F(ShardingEndToEnd, CheckpointedSessionsSurviveTheLossOfAnyReplica) {
  constexpr int64_t kCheckpointedN = 20000;
  int run = 0;
  for (Case c : Cases()) {
    if (c.name == "tr-exact") continue;  // a dense Hessian: small n only
    c.n = kCheckpointedN;
    if (c.name == "adamw-groups") c.solver = AdamWGroups(c.n);
    if (c.name == "adafactor") {
      c.solver = AdafactorLayers(c.n, AdafactorMomentum());
    }
    if (c.name == "adafactor-f32") {
      c.solver = AdafactorLayers(c.n, AdafactorF32());
    }
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-ckpt-reference");
    ASSERT_GT(reference.points.size(), 14u);
    // L-BFGS in all four ways; the others alternate.
    for (int variant = 0; variant < 4; ++variant) {
      if (c.name != "lbfgs" && variant != run % 4) continue;
      const int victim = variant % 2 == 0 ? 0 : 1;  // the home, or not
      const bool direct = variant < 2;
      const int shards = run % 2 == 0 ? 3 : 2;
      SCOPED_TRACE(absl::StrCat(victim == 0 ? "home" : "shard", " killed, ",
                                direct ? "direct" : "gateway", ", K=", shards));
      const std::string id = absl::StrCat("ckpt-", run++);
      Client client = Connect(0);
      SessionOptions options;
      options.session_id = id;
      options.shards = shards;
      options.direct = direct;
      options.checkpoint_interval = 5;
      absl::StatusOr<Session> session =
          Session::Create(client, StartPoint(c.n), c.solver, options);
      ASSERT_OK(session);
      Trace before;
      Answer first;
      first.trials = session->first_trials();
      ASSERT_OK(Drive(*session, first, 12, &before).status());

      replica(victim).Signal(SIGKILL);
      replica(victim).Wait(absl::Seconds(10));
      ASSERT_OK(StartReplica(victim));
      Client again = Connect(0);
      Session attached = Session::Attach(again, id);
      // The first call rebuilds the session from its checkpoint.
      absl::StatusOr<Answer> resumed = AskAfterRestart(attached, direct);
      ASSERT_OK(resumed);
      // Checkpoints after tells 5 and 10 (the home writes its part on a
      // commit thread: when the home is killed the last may not have
      // landed): it resumes at its durable step, at the very point the
      // uninterrupted run had there.
      absl::StatusOr<v1::Session> described = again.GetSession(id);
      ASSERT_OK(described);
      const int64_t durable = described->durable_step();
      EXPECT_TRUE(durable == 10 || (victim == 0 && durable == 5)) << durable;
      EXPECT_EQ(described->tells(), durable);
      ASSERT_EQ(resumed->trials.size(), 1u);
      EXPECT_EQ(resumed->trials[0].id, static_cast<uint64_t>(durable + 1));
      Trace after;
      absl::StatusOr<Answer> end = Drive(attached, *resumed, 100000, &after);
      ASSERT_OK(end);
      ASSERT_EQ(durable + after.points.size(), reference.points.size());
      for (size_t i = 0; i < after.points.size(); ++i) {
        ASSERT_TRUE(after.points[i] == reference.points[durable + i])
            << "trial " << durable + 1 + i << " differs";
      }
      Trace whole = reference;
      whole.x = after.x;
      whole.value = after.value;
      whole.evaluations = after.evaluations;
      whole.reason = after.reason;
      ExpectSameRun(reference, whole, id);
      EXPECT_OK(again.DeleteSession(id));
    }
  }
}

TEST_F(ShardingEndToEnd, ASessionNotRebuiltSinceARestartStillExpires) {
  Client home = Connect(3);
  SessionOptions options;
  options.session_id = "dormant-ttl";
  options.shards = 2;
  v1::CreateSessionRequest request = client::MakeCreateSessionRequest(
      StartPoint(kN), Cases()[0].solver, options);
  request.set_ttl_seconds(2);
  ASSERT_OK(Session::Create(home, request).status());
  replica(3).Signal(SIGKILL);
  replica(3).Wait(absl::Seconds(10));
  ASSERT_OK(StartReplica(3));
  // Nobody touches it after the restart: it expires by its TTL, counted from
  // its journal's last write, and its slices go from every replica.
  absl::SleepFor(absl::Seconds(3.5));
  Client again = Connect(3);
  // Retried past the old connection's error.
  const absl::Status got = RetryWhileUnavailable(
      [&] { return again.GetSession("dormant-ttl").status(); });
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  for (int r : {3, 0}) {
    EXPECT_FALSE(HoldsSliceOf(r, "dormant-ttl")) << "replica " << r;
  }
}

TEST_F(ShardingEndToEnd, AnyReplicaAnswersForASessionThatLivesElsewhere) {
  // Created on replica 2 (unsharded) and on replica 1 (K = 2); driven through
  // replica 0, as a client behind a load-balanced Service may be.
  const Case c = Cases()[0];
  const Trace reference = RunCase(c, 1, 0, "routed-reference");
  for (int shards : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("shards ", shards));
    const std::string id = absl::StrCat("routed-", shards);
    SessionOptions options;
    options.session_id = id;
    options.shards = shards;
    options.direct = false;
    ASSERT_OK(Session::Create(Connect(shards == 1 ? 2 : 1), StartPoint(c.n),
                              c.solver, options)
                  .status());
    Client elsewhere = Connect(0);
    Session routed = Session::Attach(elsewhere, id);
    // The sharded one on the direct path: slices to and from the replicas,
    // the tells (scalars) through replica 0 to the home.
    if (shards > 1) {
      ASSERT_OK(routed.EnableDirectPath());
    }
    absl::StatusOr<Answer> first = routed.Ask();
    ASSERT_OK(first);
    Trace run;
    ASSERT_OK(Drive(routed, *first, 100000, &run).status());
    ExpectSameRun(reference, run, id);
    absl::StatusOr<v1::Session> described = elsewhere.GetSession(id);
    ASSERT_OK(described);
    EXPECT_EQ(described->state(), v1::SESSION_STATE_LIMIT_REACHED);
    ASSERT_OK(elsewhere.ExportSession(id).status());
    ASSERT_OK(elsewhere.DeleteSession(id));
    EXPECT_THAT(
        elsewhere.GetSession(id).status(),
        StatusIs(absl::StatusCode::kNotFound,
                 HasSubstr(absl::StrCat("session \"", id, "\" not found"))));
  }
}

TEST_F(ShardingEndToEnd, ExportedSessionsContinueBitwiseOnOtherShardCounts) {
  // L-BFGS, Adam, RMSprop with three slots, and NAdam, whose running
  // product the import recomputes.
  for (const Case& c : {Cases()[0], Cases()[6], Cases()[11], Cases()[14]}) {
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-reshard-ref");
    Client client = Connect(0);
    SessionOptions options;
    options.session_id = c.name + "-reshard-4";
    options.shards = 4;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(c.n), c.solver, options);
    ASSERT_OK(session);
    Trace run;
    Answer first;
    first.trials = session->first_trials();
    absl::StatusOr<Answer> answer = Drive(*session, first, 4, &run);
    ASSERT_OK(answer);
    // 4 shards from replica 0 -> 2 from replica 1 -> 3 from replica 3.
    std::string from = options.session_id;
    int from_home = 0;
    for (const auto& [home, shards] :
         std::vector<std::pair<int, int>>{{1, 2}, {3, 3}}) {
      absl::StatusOr<v1::SessionSnapshot> snapshot =
          Connect(from_home).ExportSession(from);
      ASSERT_OK(snapshot);
      const std::string to = absl::StrCat(c.name, "-reshard-", shards);
      Client target = Connect(home);
      ASSERT_OK(target.ImportSession(*snapshot, to, shards));
      absl::StatusOr<v1::Session> described = target.GetSession(to);
      ASSERT_OK(described);
      EXPECT_EQ(described->shard_map_size(), shards);
      Session moved = Session::Attach(target, to);
      answer = moved.Ask();
      ASSERT_OK(answer);
      answer = Drive(moved, *answer, home == 1 ? 4 : 100000, &run);
      ASSERT_OK(answer);
      EXPECT_OK(Connect(from_home).DeleteSession(from));
      from = to;
      from_home = home;
    }
    ExpectSameRun(reference, run, c.name + " resharded 4 -> 2 -> 3");
    EXPECT_OK(Connect(from_home).DeleteSession(from));
  }
}

// Adafactor's export carries the slices' x, m and v and the home's row and
// column statistics: exported from three shards, imported on two (the
// matrix cut at other places), it goes on bitwise.
TEST_F(ShardingEndToEnd, AdafactorExportedFromThreeShardsContinuesOnTwo) {
  for (const Case& c : Cases()) {
    if (c.name.rfind("adafactor", 0) != 0) continue;
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-3to2-ref");
    for (bool direct : {true, false}) {
      SCOPED_TRACE(direct ? "direct" : "gateway");
      const std::string tag = direct ? "-direct" : "-gateway";
      Client client = Connect(0);
      SessionOptions options;
      options.session_id = c.name + "-3to2-from" + tag;
      options.shards = 3;
      options.direct = direct;
      absl::StatusOr<Session> session =
          Session::Create(client, StartPoint(c.n), c.solver, options);
      ASSERT_OK(session);
      Trace run;
      Answer first;
      first.trials = session->first_trials();
      ASSERT_OK(Drive(*session, first, 6, &run));
      absl::StatusOr<v1::SessionSnapshot> snapshot =
          client.ExportSession(options.session_id);
      ASSERT_OK(snapshot);
      const std::string to = c.name + "-3to2-to" + tag;
      Client target = Connect(1);
      ASSERT_OK(target.ImportSession(*snapshot, to, 2));
      absl::StatusOr<v1::Session> described = target.GetSession(to);
      ASSERT_OK(described);
      EXPECT_EQ(described->shard_map_size(), 2);
      EXPECT_EQ(described->tells(), 6);
      Session moved = Session::Attach(target, to);
      absl::StatusOr<Answer> answer = moved.Ask();
      ASSERT_OK(answer);
      ASSERT_OK(Drive(moved, *answer, 100000, &run));
      ExpectSameRun(reference, run, c.name + " exported from 3, onto 2");
      EXPECT_OK(client.DeleteSession(options.session_id));
      EXPECT_OK(target.DeleteSession(to));
    }
  }
}

TEST_F(ShardingEndToEnd, ForksContinueBitwiseOnOtherShardCounts) {
  // A sharded session checkpoints, so it forks from its current step; the
  // fork, asked for on a replica that does not hold the source (forwarded
  // to its home), continues on three shards as the source would have.
  for (const Case& c : {Cases()[0], Cases()[6]}) {
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-fork-ref");
    Client client = Connect(0);
    SessionOptions options;
    options.session_id = c.name + "-fork-src";
    options.shards = 2;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(c.n), c.solver, options);
    ASSERT_OK(session);
    Trace run;
    Answer first;
    first.trials = session->first_trials();
    ASSERT_OK(Drive(*session, first, 4, &run));

    v1::ForkSessionRequest request;
    request.set_session_id(options.session_id);
    request.set_new_session_id(c.name + "-fork-3");
    request.set_shards(3);
    absl::StatusOr<v1::ForkSessionResponse> forked =
        Connect(1).ForkSession(request);
    ASSERT_OK(forked);
    EXPECT_EQ(forked->step(), 4);
    // Another step than the current one is not held.
    request.set_step(2);
    request.set_new_session_id(c.name + "-fork-old");
    EXPECT_THAT(Connect(0).ForkSession(request),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("can fork from steps [4, 4]")));

    Client home = Connect(0);
    absl::StatusOr<v1::Session> described =
        home.GetSession(forked->session_id());
    ASSERT_OK(described);
    EXPECT_EQ(described->shard_map_size(), 3);
    Session fork = Session::Attach(home, forked->session_id());
    absl::StatusOr<Answer> answer = fork.Ask();
    ASSERT_OK(answer);
    ASSERT_OK(Drive(fork, *answer, 100000, &run));
    ExpectSameRun(reference, run, c.name + " forked from 2 shards onto 3");
    EXPECT_OK(home.DeleteSession(forked->session_id()));
    EXPECT_OK(home.DeleteSession(options.session_id));
  }
}

// Data parallelism (docs/sharding.md "Data parallelism"): worker k of a
// step evaluates its share of the data, here the objective scaled by
// 1 + k/4, told with weight k + 1.5 in reverse order (the last worker
// first), so that the mean depends on the weights and on the order.
constexpr int kWorkers = 3;

Evaluation WorkerShare(const Trial& trial) {
  Evaluation e = ExtendedRosenbrock(trial);
  const double scale = 1.0 + 0.25 * trial.batch_index;
  *e.value *= scale;
  for (double& g : e.gradient) g *= scale;
  e.weight = trial.batch_index + 1.5;
  return e;
}

// Tells every step of `session` (its trials in reverse batch order) until it
// ends or `max_tells` tells were made; appends to `run` each step's point
// and, at the end, the summary. `answer` holds the outstanding trials of a
// step, possibly some of them only (a step interrupted).
absl::StatusOr<Answer> DriveSteps(const Session& session, Answer answer,
                                  int max_tells, Trace* run) {
  int tells = 0;
  while (!answer.finished() && tells < max_tells) {
    std::vector<Trial> trials = answer.trials;
    if (trials.empty()) return absl::InternalError("no outstanding trial");
    if (trials.size() == static_cast<size_t>(kWorkers))
      run->points.push_back(trials[0].x);
    for (size_t j = trials.size(); j-- > 0 && tells < max_tells;) {
      const Trial& trial = trials[j];
      if (trial.x != trials[0].x) {
        return absl::InternalError("the workers of a step got other points");
      }
      absl::StatusOr<Answer> next = session.Tell(trial.id, WorkerShare(trial));
      if (!next.ok()) return next.status();
      ++tells;
      answer = *std::move(next);
    }
  }
  if (answer.finished()) {
    run->x = answer.summary->x;
    run->value = answer.summary->value;
    run->evaluations = answer.summary->evaluations;
    run->reason = answer.summary->reason;
  }
  return answer;
}

Trace RunDataParallel(const Client& client, const SolverSpec& solver,
                      int shards, bool direct, const std::string& id) {
  SessionOptions options;
  options.session_id = id;
  options.shards = shards;
  options.direct = direct;
  options.data_parallel_workers = kWorkers;
  absl::StatusOr<Session> session =
      Session::Create(client, StartPoint(kN), solver, options);
  EXPECT_TRUE(session.ok()) << id << ": " << session.status();
  Trace run;
  if (!session.ok()) return run;
  Answer first;
  first.trials = session->first_trials();
  EXPECT_EQ(first.trials.size(), static_cast<size_t>(kWorkers)) << id;
  absl::StatusOr<Answer> end = DriveSteps(*session, first, 100000, &run);
  EXPECT_TRUE(end.ok()) << id << ": " << end.status();
  EXPECT_OK(client.DeleteSession(id));
  return run;
}

std::vector<Case> DataParallelCases() {
  v1::AdamOptions adam;
  adam.set_lr(1e-2);
  adam.set_max_steps(12);
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(15);
  return {{"dp-adam", SolverSpec::Adam(adam), kN},
          {"dp-lbfgs", SolverSpec::Lbfgs(lbfgs), kN}};
}

TEST_F(ShardingEndToEnd, DataParallelStepsAreBitwiseTheSameForOneToFourShards) {
  for (const Case& c : DataParallelCases()) {
    SCOPED_TRACE(c.name);
    const Trace reference =
        RunDataParallel(Connect(0), c.solver, 1, true, c.name + "-k1");
    ASSERT_GT(reference.points.size(), 5u);
    EXPECT_EQ(reference.evaluations,
              kWorkers * static_cast<int64_t>(reference.points.size()));
    for (int k = 2; k <= kReplicas; ++k) {
      const int home = k % kReplicas;
      for (bool direct : {true, false}) {
        const std::string id = absl::StrCat(c.name, direct ? "-k" : "-gw", k);
        const Trace sharded =
            RunDataParallel(Connect(home), c.solver, k, direct, id);
        ExpectSameRun(reference, sharded, id);
      }
    }
  }
}

TEST_F(ShardingEndToEnd, ADataParallelStepSurvivesAReplicaKilledInIt) {
  const Case c = DataParallelCases()[1];
  const Trace reference =
      RunDataParallel(Connect(0), c.solver, 1, true, "dp-kill-reference");
  // Per-tell durable through the home and directly; and checkpointed every
  // 4 tells (in the middle of a step), resuming at its durable step.
  for (int variant = 0; variant < 3; ++variant) {
    const bool direct = variant > 0;
    const bool checkpointed = variant == 2;
    const std::string id = absl::StrCat("dp-kill-", variant);
    SCOPED_TRACE(id);
    Client client = Connect(0);
    SessionOptions options;
    options.session_id = id;
    options.shards = 3;
    options.direct = direct;
    options.data_parallel_workers = kWorkers;
    if (checkpointed) options.checkpoint_interval = 4;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(c.n), c.solver, options);
    ASSERT_OK(session);
    Trace run;
    Answer first;
    first.trials = session->first_trials();
    // Two workers of the fourth step told: its gradients wait on the slices.
    absl::StatusOr<Answer> answer = DriveSteps(*session, first, 11, &run);
    ASSERT_OK(answer);
    ASSERT_EQ(answer->trials.size(), 1u);
    const Trial last = answer->trials[0];
    EXPECT_EQ(last.batch_index, 0);

    replica(2).Signal(SIGKILL);
    replica(2).Wait(absl::Seconds(10));
    EXPECT_THAT(session->Tell(last.id, WorkerShare(last)).status(),
                StatusIs(absl::StatusCode::kUnavailable));
    ASSERT_OK(StartReplica(2));
    Client again = Connect(0);
    Session attached = Session::Attach(again, id);
    absl::StatusOr<Answer> resumed = AskAfterRestart(attached, direct);
    ASSERT_OK(resumed);
    ASSERT_EQ(resumed->trials.size(), 1u);
    if (checkpointed) {
      // Resumed after tell 8, in the third step: two of its workers told
      // (their gradients kept on the replicas), its first one not.
      absl::StatusOr<v1::Session> described = again.GetSession(id);
      ASSERT_OK(described);
      EXPECT_EQ(described->durable_step(), 8);
      EXPECT_EQ(resumed->trials[0].id, 7u);
      EXPECT_TRUE(resumed->trials[0].x == run.points[2]);
      run.points.resize(3);
    } else {
      // The rebuilt session still waits for the last worker of the step.
      EXPECT_EQ(resumed->trials[0].id, last.id);
      EXPECT_TRUE(resumed->trials[0].x == last.x);
    }
    ASSERT_OK(DriveSteps(attached, *resumed, 100000, &run).status());
    ExpectSameRun(reference, run, id);
    EXPECT_OK(again.DeleteSession(id));
  }
}

TEST_F(ShardingEndToEnd, DataParallelErrorsAreTheUnshardedSessionsErrors) {
  Client client = Connect(0);
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "gateway");
    const std::string id = direct ? "dp-errors-direct" : "dp-errors-gateway";
    SessionOptions options;
    options.session_id = id;
    options.shards = 2;
    options.direct = direct;
    options.data_parallel_workers = kWorkers;
    absl::StatusOr<Session> session = Session::Create(
        client, StartPoint(kN), DataParallelCases()[1].solver, options);
    ASSERT_OK(session);
    const std::vector<Trial> trials = session->first_trials();
    ASSERT_EQ(trials.size(), static_cast<size_t>(kWorkers));
    Evaluation first = WorkerShare(trials[0]);
    first.weight = 1e300;
    ASSERT_OK(session->Tell(trials[0].id, first));
    // 1e300 g_0 + 1e300 g_1 overflows where |g_1| > ~1.8e8: one element
    // of the second gradient (on shard 1, [8192, kN)) past it.
    Evaluation second = WorkerShare(trials[1]);
    second.weight = 1e300;
    second.gradient[9000] = 1e10;
    EXPECT_THAT(session->Tell(trials[1].id, second).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         absl::StrCat("weight 1e+300 times gradient[9000] = "
                                      "1e+10 overflows the step's weighted "
                                      "gradient sum; give weights on the "
                                      "scale of each worker's share of the "
                                      "data (e.g. its batch size)")));
    // Refused before anything changed: the same trial is told again.
    second.gradient[9000] = 1.0;
    EXPECT_OK(session->Tell(trials[1].id, second));
    Evaluation zero = WorkerShare(trials[2]);
    zero.weight = 0.0;
    EXPECT_THAT(session->Tell(trials[2].id, zero).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "weight is 0; a data-parallel weight is finite and "
                         "> 0"));
    EXPECT_OK(client.DeleteSession(id));
  }
  // A float32 state refuses an element beyond float's range, on the direct
  // path when the replicas check the staged slice.
  v1::AdamOptions adam;
  adam.set_dtype(v1::STATE_DTYPE_FLOAT32);
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "gateway");
    const std::string id = direct ? "dp-f32-direct" : "dp-f32-gateway";
    SessionOptions options;
    options.session_id = id;
    options.shards = 2;
    options.direct = direct;
    options.data_parallel_workers = kWorkers;
    absl::StatusOr<Session> session = Session::Create(
        client, StartPoint(kN), SolverSpec::Adam(adam), options);
    ASSERT_OK(session);
    const Trial trial = session->first_trials()[0];
    Evaluation e = WorkerShare(trial);
    e.gradient[9000] = 1e39;
    EXPECT_THAT(session->Tell(trial.id, e).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "gradient[9000] is 1e+39, which overflows the "
                         "session's float32 state; every gradient element "
                         "must be finite (report a failed evaluation "
                         "instead)"));
    EXPECT_OK(client.DeleteSession(id));
  }
}

// Finite differences: the home gathers x to plan the stencil and forms the
// gradient from the told values; the inner solver's vectors stay on the
// slices. A small problem: one slice holds it, the others are empty.
TEST_F(ShardingEndToEnd,
       FiniteDifferenceLbfgsIsBitwiseTheSameForOneToFourShards) {
  constexpr int64_t kSmallN = 6;
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(10);
  const SolverSpec solver = SolverSpec::Lbfgs(lbfgs);
  const auto run_fd = [&](int shards, int home, bool direct) {
    Client client = Connect(home);
    SessionOptions options;
    options.session_id = absl::StrCat("fd-", shards, direct ? "-d" : "-gw");
    options.shards = shards;
    options.direct = direct;
    options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(kSmallN), solver, options);
    EXPECT_TRUE(session.ok()) << session.status();
    Trace run;
    if (!session.ok()) return run;
    std::vector<Trial> trials = session->first_trials();
    while (true) {
      absl::StatusOr<Answer> answer;
      for (const Trial& t : trials) {
        run.points.push_back(t.x);
        answer = session->Tell(t.id, ExtendedRosenbrock(t).value);
        EXPECT_TRUE(answer.ok()) << answer.status();
        if (!answer.ok()) return run;
      }
      if (answer->finished()) {
        run.x = answer->summary->x;
        run.value = answer->summary->value;
        run.evaluations = answer->summary->evaluations;
        run.reason = answer->summary->reason;
        break;
      }
      trials = answer->trials;
    }
    EXPECT_OK(client.DeleteSession(options.session_id));
    return run;
  };
  const Trace reference = run_fd(1, 0, true);
  ASSERT_GT(reference.points.size(), static_cast<size_t>(2 * kSmallN + 1));
  for (int k = 2; k <= kReplicas; ++k) {
    for (bool direct : {true, false}) {
      ExpectSameRun(reference, run_fd(k, k % kReplicas, direct),
                    absl::StrCat("K=", k, direct ? " direct" : " gateway"));
    }
  }
}

TEST_F(ShardingEndToEnd, ForksIntoLbfgsAreBitwiseTheSameOnEveryShardCount) {
  // An Adam session on one shard journals its tells, so a fork into L-BFGS
  // (a solver switch into a new id, docs/api.md "Switch") carries curvature
  // pairs; they go into remote slices through the vectors' portable state,
  // and the fork runs the same on 1, 2 and 3 shards, also when exported on
  // 2 shards and imported on 3 halfway.
  Client client = Connect(0);
  v1::AdamOptions adam;
  adam.set_lr(1e-3);
  SessionOptions options;
  options.session_id = "switch-src";
  absl::StatusOr<Session> source =
      Session::Create(client, StartPoint(kN), SolverSpec::Adam(adam), options);
  ASSERT_OK(source);
  Trace told;
  Answer first;
  first.trials = source->first_trials();
  ASSERT_OK(Drive(*source, first, 5, &told));
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(15);
  std::vector<Trace> runs;
  for (int shards : {1, 2, 3}) {
    const std::string id = absl::StrCat("switch-", shards);
    v1::ForkSessionRequest request;
    request.set_session_id("switch-src");
    request.set_new_session_id(id);
    request.set_shards(shards);
    *request.mutable_overrides()->mutable_lbfgs() = lbfgs;
    absl::StatusOr<v1::ForkSessionResponse> forked =
        client.ForkSession(request);
    ASSERT_OK(forked);
    EXPECT_EQ(forked->step(), 5);
    absl::StatusOr<v1::Session> described = client.GetSession(id);
    ASSERT_OK(described);
    EXPECT_EQ(described->solver(), "lbfgs");
    EXPECT_EQ(described->switched_from(), "adam");
    EXPECT_EQ(described->shard_map_size(), shards > 1 ? shards : 0);
    Session fork = Session::Attach(client, id);
    absl::StatusOr<Answer> answer = fork.Ask();
    ASSERT_OK(answer);
    Trace run;
    if (shards == 2) {
      // Three tells on two shards, then on three from the export.
      ASSERT_OK(Drive(fork, *answer, 3, &run));
      absl::StatusOr<v1::SessionSnapshot> snapshot = client.ExportSession(id);
      ASSERT_OK(snapshot);
      // Rosenbrock's Hessian is positive definite near the start: every
      // pair of Adam's five tells passes (four pairs).
      EXPECT_EQ(snapshot->create().warm_start().s_size(), 4);
      ASSERT_OK(client.ImportSession(*snapshot, "switch-2to3", 3));
      EXPECT_OK(client.DeleteSession(id));
      fork = Session::Attach(client, "switch-2to3");
      answer = fork.Ask();
      ASSERT_OK(answer);
    }
    ASSERT_OK(Drive(fork, *answer, 100000, &run));
    runs.push_back(run);
    EXPECT_OK(client.DeleteSession(shards == 2 ? "switch-2to3" : id));
  }
  EXPECT_GT(runs[0].points.size(), 3u);
  ExpectSameRun(runs[0], runs[1], "forked onto 2 shards, imported onto 3");
  ExpectSameRun(runs[0], runs[2], "forked onto 3 shards");
  EXPECT_OK(client.DeleteSession("switch-src"));
}

// SwitchSolver of a sharded session (Adam on K = 3 to L-BFGS): the new
// solver's slices take the old ones' places on the same replicas, under the
// session's incarnation, and the switched run is bitwise the unsharded
// switch's (the transfer is read from a replay on one shard, with the told
// gradients the replicas kept); so is the run when the home is killed with
// -9 right after the switch and restarted (the new journal holds the switch).
TEST_F(ShardingEndToEnd, ASwitchOnShardsIsBitwiseTheUnshardedSwitch) {
  v1::AdamOptions adam;
  adam.set_lr(1e-3);
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_iterations(15);
  const auto run = [&](int shards, bool direct, bool kill_home) {
    const std::string id =
        absl::StrCat("switch-in-place-k", shards, direct ? "-d" : "-gw",
                     kill_home ? "-kill" : "");
    Client client = Connect(0);
    SessionOptions options;
    options.session_id = id;
    options.shards = shards;
    options.direct = direct;
    Trace run;
    absl::StatusOr<Session> source = Session::Create(
        client, StartPoint(kN), SolverSpec::Adam(adam), options);
    EXPECT_OK(source);
    if (!source.ok()) return run;
    Answer first;
    first.trials = source->first_trials();
    EXPECT_OK(Drive(*source, first, 5, &run).status());
    v1::SwitchSolverRequest request;
    request.set_session_id(id);
    *request.mutable_lbfgs() = lbfgs;
    absl::StatusOr<v1::SwitchSolverResponse> switched =
        client.SwitchSolver(request);
    EXPECT_OK(switched);
    if (!switched.ok()) return run;
    EXPECT_EQ(switched->step(), 5);
    // Rosenbrock's curvature is positive near the start: each pair of
    // Adam's five tells passes (four pairs), on shards as on one replica.
    EXPECT_EQ(switched->pairs(), 4) << id;
    absl::StatusOr<v1::Session> described = client.GetSession(id);
    EXPECT_OK(described);
    if (described.ok()) {
      EXPECT_EQ(described->solver(), "lbfgs");
      EXPECT_EQ(described->shard_map_size(), shards > 1 ? shards : 0);
    }
    for (int r = 0; r < shards && shards > 1; ++r) {
      int held = 0;
      const v1::GetReplicaStatusResponse status = ReplicaStatus(r);
      for (const v1::ReplicaSlice& s : status.slices()) {
        if (s.key().session_id() != id) continue;
        ++held;
        EXPECT_EQ(s.kind(), v1::SLICE_KIND_LBFGS) << "replica " << r;
      }
      EXPECT_EQ(held, 1) << "replica " << r;
    }
    if (kill_home) {
      replica(0).Signal(SIGKILL);
      replica(0).Wait(absl::Seconds(10));
      EXPECT_OK(StartReplica(0));
      client = Connect(0);
    }
    Session attached = Session::Attach(client, id);
    absl::StatusOr<Answer> answer = AskAfterRestart(attached, direct);
    EXPECT_OK(answer);
    if (!answer.ok()) return run;
    EXPECT_OK(Drive(attached, *answer, 100000, &run).status());
    EXPECT_OK(client.DeleteSession(id));
    return run;
  };
  const Trace reference = run(1, false, false);
  ASSERT_GT(reference.points.size(), 10u);
  for (bool direct : {true, false}) {
    ExpectSameRun(reference, run(3, direct, false),
                  direct ? "switched on 3 shards, direct"
                         : "switched on 3 shards, gateway");
  }
  ExpectSameRun(reference, run(3, true, true),
                "switched on 3 shards, home killed after the switch");
}

// Issue 22: bounds on sharded sessions. Every slice holds its range of the
// box (sent after the slices are made, and again by every rebuild and import)
// and projects in its update: the trials and the end are bitwise those of the
// unsharded bounded session, for K = 1..4 and both data paths.
TEST_F(ShardingEndToEnd, BoundedSessionsAreBitwiseTheSameForOneToFourShards) {
  for (const Case& c : BoundedCases()) {
    SCOPED_TRACE(c.name);
    const Trace reference = RunCase(c, 1, 0, c.name + "-k1");
    ASSERT_GT(reference.points.size(), 3u);
    // The box is in force: every trial inside it, and variables held at a
    // bound (within float32's rounding of it, inward).
    int64_t on_bounds = 0;
    for (const std::vector<double>& x : reference.points) {
      for (int64_t i = 0; i < c.n; ++i) {
        ASSERT_GE(x[i], c.lower[i]) << i;
        ASSERT_LE(x[i], c.upper[i]) << i;
        on_bounds += x[i] - c.lower[i] < 1e-6 || c.upper[i] - x[i] < 1e-6;
      }
    }
    EXPECT_GT(on_bounds, 0);
    for (int k = 2; k <= kReplicas; ++k) {
      const int home = k % kReplicas;
      ExpectSameRun(reference,
                    RunCase(c, k, home, absl::StrCat(c.name, "-k", k)),
                    absl::StrCat(c.name, " K=", k));
      ExpectSameRun(reference,
                    RunCase(c, k, home, absl::StrCat(c.name, "-gw", k), nullptr,
                            /*direct=*/false),
                    absl::StrCat(c.name, " gateway K=", k));
    }
  }
}

// The slices rebuilt after a kill -9 get the box again from the home's
// create request: the bounded run ends bitwise as an uninterrupted one.
// L-BFGS-B's slices save no state: they are rebuilt by replaying the tells.
TEST_F(ShardingEndToEnd, ABoundedSessionSurvivesAShardReplicaKilledMidRun) {
  int cases = 0;
  for (const Case& c : BoundedCases()) {
    if (c.name != "box-lbfgs" && c.name != "box-adam" &&
        c.name != "box-tr-lbfgs") {
      continue;
    }
    SCOPED_TRACE(c.name);
    ++cases;
    const Trace reference = RunCase(c, 1, 0, c.name + "-kill-reference");
    ASSERT_GT(reference.points.size(), 8u);
    for (bool direct : {false, true}) {
      SCOPED_TRACE(direct ? "direct" : "gateway");
      KillAndRestart(
          c, 2, c.name + (direct ? "-kill-direct" : "-kill-gateway"), reference,
          direct, [](int r) { return StartReplica(r); },
          [](int r) -> OptdProcess& { return replica(r); },
          [](int r) { return Connect(r); });
    }
  }
  EXPECT_EQ(cases, 3);
}

// The home of a sharded L-BFGS-B session killed with -9: restarted, it
// replays its journal against new slices, sends them the box again, and the
// run ends bitwise as an uninterrupted one.
TEST_F(ShardingEndToEnd, TheHomeOfABoundedLbfgsSessionKilledMidRun) {
  const Case c = BoundedCases()[0];
  ASSERT_EQ(c.name, "box-lbfgs");
  const Trace reference = RunCase(c, 1, 0, "box-lbfgs-kill-home-reference");
  ASSERT_GT(reference.points.size(), 8u);
  KillAndRestart(
      c, 0, "box-lbfgs-kill-home", reference, /*direct=*/true,
      [](int r) { return StartReplica(r); },
      [](int r) -> OptdProcess& { return replica(r); },
      [](int r) { return Connect(r); });
}

// An export holds the create request and with it the box: imported on
// another number of shards (3 -> 2) the bounded run continues bitwise.
TEST_F(ShardingEndToEnd, BoundedSessionsContinueBitwiseFromThreeShardsOnTwo) {
  int cases = 0;
  for (const Case& c : BoundedCases()) {
    if (c.name != "box-lbfgs" && c.name != "box-adamw-f32-amsgrad" &&
        c.name != "box-tr-lsr1") {
      continue;
    }
    SCOPED_TRACE(c.name);
    ++cases;
    const Trace reference = RunCase(c, 1, 0, c.name + "-reshard-ref");
    ASSERT_GT(reference.points.size(), 5u);
    Client client = Connect(0);
    SessionOptions options = OptionsOf(c);
    options.session_id = c.name + "-reshard-3";
    options.shards = 3;
    absl::StatusOr<Session> session =
        Session::Create(client, StartPoint(c.n), c.solver, options);
    ASSERT_OK(session);
    Trace run;
    Answer first;
    first.trials = session->first_trials();
    absl::StatusOr<Answer> answer = Drive(*session, first, 5, &run);
    ASSERT_OK(answer);
    absl::StatusOr<v1::SessionSnapshot> snapshot =
        client.ExportSession(options.session_id);
    ASSERT_OK(snapshot);
    const std::string to = c.name + "-reshard-2";
    Client target = Connect(1);
    ASSERT_OK(target.ImportSession(*snapshot, to, 2));
    EXPECT_OK(client.DeleteSession(options.session_id));
    Session moved = Session::Attach(target, to);
    answer = moved.Ask();
    ASSERT_OK(answer);
    ASSERT_OK(Drive(moved, *answer, 100000, &run));
    ExpectSameRun(reference, run, c.name + " resharded 3 -> 2");
    EXPECT_OK(target.DeleteSession(to));
  }
  EXPECT_EQ(cases, 3);
}

// Gradient checks on sharded sessions: the check's stencil (trial 0 and its
// 2n coordinate deltas, handed out whole by the home) and the comparison
// with the told gradient (on the direct path gathered from the slices the
// client sent) give the same reports, bit for bit, for K = 1..4 and both
// paths. Small n: the stencil is 2n + 1 tells.
TEST_F(ShardingEndToEnd, GradientChecksAreTheSameForOneToFourShards) {
  v1::GradientCheckOptions check;
  check.add_at_iterations(0);
  check.add_at_iterations(3);
  std::vector<Case> cases;
  for (const Case& c : Cases()) {
    if (c.name == "lbfgs" || c.name == "adamw-f32-amsgrad" ||
        c.name == "tr-lbfgs") {
      Case checked = c;
      checked.name = "check-" + c.name;
      checked.n = 12;
      checked.gradient_check = check;
      cases.push_back(std::move(checked));
    }
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Session reference_session;
    const Trace reference =
        RunCase(c, 1, 0, c.name + "-k1", &reference_session);
    ASSERT_EQ(reference_session.gradient_checks_size(), 2);
    EXPECT_LT(reference_session.gradient_checks(0).max_relative_error(), 1e-3);
    for (int k = 2; k <= kReplicas; ++k) {
      for (bool direct : {true, false}) {
        const std::string what =
            absl::StrCat(c.name, direct ? " direct" : " gateway", " K=", k);
        v1::Session described;
        const Trace run = RunCase(c, k, k % kReplicas,
                                  absl::StrCat(c.name, direct ? "-d" : "-g", k),
                                  &described, direct);
        ExpectSameRun(reference, run, what);
        ASSERT_EQ(described.gradient_checks_size(), 2) << what;
        for (int i = 0; i < 2; ++i) {
          EXPECT_EQ(described.gradient_checks(i).SerializeAsString(),
                    reference_session.gradient_checks(i).SerializeAsString())
              << what << ", check " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace optd::testing
