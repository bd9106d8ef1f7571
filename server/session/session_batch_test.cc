// Sessions whose solver hands out batches of trials (finite-difference
// stencils, gradient checks, data-parallel steps): consecutive ids, tells in
// any order, a lease per trial, the trial log, and the creation checks of the
// session layers (DESIGN §2 "Workers"; docs/api.md "Many workers").
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<Session> Make(const v1::CreateSessionRequest& request,
                              SessionSettings settings = {}) {
  absl::StatusOr<ConstVectorView> x0 = DecodeVector(request.x0(), "x0");
  EXPECT_TRUE(x0.ok()) << x0.status();
  absl::StatusOr<SolverSetup> setup = CreateSolver(request, *x0);
  EXPECT_TRUE(setup.ok()) << setup.status();
  if (!setup.ok()) return nullptr;
  SetCreationEcho(request, &settings.creation_echo);
  return std::make_shared<Session>("batch", std::move(*setup), Labels{},
                                   v1::VECTOR_ENCODING_VALUES, settings);
}

v1::CreateSessionRequest FiniteDifferenceLbfgs(std::vector<double> x0) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  *request.mutable_x0() = Values(x0);
  request.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  return request;
}

std::vector<v1::Trial> Outstanding(Session& session) {
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  return WithPoints(ask);
}

v1::TellRequest ValueTell(const v1::Trial& trial) {
  v1::TellRequest tell;
  tell.set_trial_id(trial.trial_id());
  std::vector<double> unused;
  tell.set_value(Rosenbrock(ToDoubles(trial.x()), &unused));
  return tell;
}

// Runs a finite-difference session to its end, telling each batch in the
// order `order` gives (a permutation of the batch indices).
std::vector<double> RunToEnd(
    Session& session, const std::function<std::vector<int>(int batch)>& order) {
  for (int rounds = 0; rounds < 100000; ++rounds) {
    const std::vector<v1::Trial> batch = Outstanding(session);
    if (batch.empty()) break;
    for (int k : order(static_cast<int>(batch.size()))) {
      v1::TellResponse answer;
      EXPECT_OK(session.Tell(ValueTell(batch[k]), &answer));
    }
  }
  v1::Session out;
  EXPECT_OK(session.Describe(true, v1::VECTOR_ENCODING_VALUES, &out));
  EXPECT_EQ(out.state(), v1::SESSION_STATE_CONVERGED);
  return ToDoubles(out.summary().x());
}

TEST(SessionBatch, FiniteDifferenceStencilIsOneBatchOfConsecutiveIds) {
  std::shared_ptr<Session> session = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  const std::vector<v1::Trial> first = Outstanding(*session);
  // x, then x -/+ h e_i for i = 0, 1 (central differences, 2n + 1 points).
  ASSERT_EQ(first.size(), 5u);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(first[k].trial_id(), static_cast<uint64_t>(k + 1));
    EXPECT_EQ(first[k].batch_index(), k);
    EXPECT_EQ(first[k].batch_size(), 5);
    EXPECT_EQ(first[k].wants(), v1::EVALUATION_VALUE);
  }
  EXPECT_THAT(ToDoubles(first[0].x()), ElementsAre(-1.2, 1.0));

  // Told from the last: each answer lists the trials still untold.
  for (int k = 4; k >= 1; --k) {
    v1::TellResponse answer;
    ASSERT_OK(session->Tell(ValueTell(first[k]), &answer));
    EXPECT_EQ(answer.trials_size(), k);
    EXPECT_EQ(answer.trials(0).trial_id(), 1u);
  }
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  EXPECT_THAT(described.pending_trial_ids(), ElementsAre(1u));
  EXPECT_EQ(described.evaluations(), 4);

  // The last tell of the batch issues the next one: the line search's first
  // point and its stencil, ids 6..10.
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(ValueTell(first[0]), &answer));
  ASSERT_EQ(answer.trials_size(), 5);
  EXPECT_EQ(answer.trials(0).trial_id(), 6u);
  EXPECT_EQ(answer.trials(4).trial_id(), 10u);
}

TEST(SessionBatch, TellOrderWithinABatchDoesNotChangeTheIterates) {
  std::shared_ptr<Session> in_order = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  std::shared_ptr<Session> reversed = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  const std::vector<double> a = RunToEnd(*in_order, [](int b) {
    std::vector<int> order(b);
    for (int k = 0; k < b; ++k) order[k] = k;
    return order;
  });
  const std::vector<double> b = RunToEnd(*reversed, [](int b) {
    std::vector<int> order(b);
    for (int k = 0; k < b; ++k) order[k] = b - 1 - k;
    return order;
  });
  EXPECT_EQ(a, b);  // bitwise
  EXPECT_NEAR(a[0], 1.0, 1e-4);
  EXPECT_NEAR(a[1], 1.0, 1e-4);
}

TEST(SessionBatch, RetriesAndStrayTellsOfABatch) {
  std::shared_ptr<Session> session = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  const std::vector<v1::Trial> batch = Outstanding(*session);
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(ValueTell(batch[2]), &answer));
  // The same tell again: a duplicate that changes nothing.
  v1::TellResponse again;
  ASSERT_OK(session->Tell(ValueTell(batch[2]), &again));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.trials_size(), 4);
  // Another payload for a told trial of the batch is refused.
  v1::TellRequest other = ValueTell(batch[2]);
  other.set_value(other.value() + 1);
  EXPECT_THAT(session->Tell(other, &again),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already answered with a different payload; "
                                 "a retry must repeat the original tell "
                                 "exactly (the outstanding trials are 1, 2, "
                                 "4, 5)")));
  v1::TellRequest stray = ValueTell(batch[0]);
  stray.set_trial_id(9);
  EXPECT_THAT(session->Tell(stray, &again),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "trial 9 was never issued by session \"batch\"; the "
                       "outstanding trials are 1, 2, 4, 5"));
  EXPECT_EQ(Outstanding(*session).size(), 4u);
}

TEST(SessionBatch, EachWorkerLeasesItsOwnTrials) {
  SessionSettings settings;
  settings.lease = absl::Milliseconds(300);
  std::shared_ptr<Session> session =
      Make(FiniteDifferenceLbfgs({-1.2, 1.0}), settings);
  auto ask = [&](const std::string& worker, int max_trials = 1) {
    v1::AskResponse response;
    EXPECT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, worker,
                                   &response, false, max_trials));
    return response;
  };
  auto ids = [](const v1::AskResponse& response) {
    std::vector<uint64_t> out;
    for (const v1::Trial& t : response.trials()) {
      EXPECT_TRUE(t.has_lease_expire_time());
      out.push_back(t.trial_id());
    }
    return out;
  };
  EXPECT_THAT(ids(ask("a")), ElementsAre(1u));
  EXPECT_THAT(ids(ask("b")), ElementsAre(2u));
  EXPECT_THAT(ids(ask("a")), ElementsAre(1u));  // renewed, not a second one
  EXPECT_THAT(ids(ask("c", 2)), ElementsAre(3u, 4u));
  EXPECT_THAT(ids(ask("d", 5)), ElementsAre(5u));
  const v1::AskResponse late = ask("e");
  EXPECT_EQ(late.trials_size(), 0);
  EXPECT_GT(late.retry_after_seconds(), 0.0);
  EXPECT_LE(late.retry_after_seconds(), 0.3);

  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  ASSERT_EQ(described.leases_size(), 5);
  EXPECT_EQ(described.leases(2).trial_id(), 3u);
  EXPECT_EQ(described.leases(2).worker_id(), "c");

  // A worker's tell answers with its next trial; none is free, so none.
  const std::vector<v1::Trial> batch = Outstanding(*session);
  v1::TellRequest tell = ValueTell(batch[1]);
  tell.set_worker_id("b");
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  EXPECT_EQ(answer.trials_size(), 0);

  // Worker a dies; once its lease ends, e takes trial 1 over.
  absl::SleepFor(absl::Milliseconds(350));
  EXPECT_THAT(ids(ask("e")), ElementsAre(1u));
}

TEST(SessionBatch, AWorkersTellAnswersWithEveryTrialItHolds) {
  std::shared_ptr<Session> session = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  v1::AskResponse held;
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "w", &held,
                                 false, 3));
  ASSERT_EQ(held.trials_size(), 3);
  const std::vector<v1::Trial> points = WithPoints(held);
  v1::TellRequest tell = ValueTell(points[1]);
  tell.set_worker_id("w");
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(tell, &answer));
  ASSERT_EQ(answer.trials_size(), 2);
  EXPECT_EQ(answer.trials(0).trial_id(), 1u);
  EXPECT_EQ(answer.trials(1).trial_id(), 3u);
  // Once it holds none, the answer leases it the next free trial.
  for (int k : {0, 2}) {
    tell = ValueTell(points[k]);
    tell.set_worker_id("w");
    ASSERT_OK(session->Tell(tell, &answer));
  }
  ASSERT_EQ(answer.trials_size(), 1);
  EXPECT_EQ(answer.trials(0).trial_id(), 4u);
  EXPECT_TRUE(answer.trials(0).has_lease_expire_time());
}

TEST(SessionBatch, ADataParallelWorkerGetsOneTrialOfAStep) {
  v1::CreateSessionRequest request;
  request.mutable_adam();
  *request.mutable_x0() = Values({1.0, 2.0});
  request.mutable_data_parallel()->set_workers(2);
  SessionSettings settings;
  settings.lease = absl::Milliseconds(300);
  std::shared_ptr<Session> session = Make(request, settings);
  auto ask = [&](const std::string& worker) {
    v1::AskResponse response;
    EXPECT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, worker,
                                   &response, false, /*max_trials=*/2));
    return response;
  };
  auto tell = [&](const std::string& worker, uint64_t trial_id) {
    v1::TellRequest t;
    t.set_trial_id(trial_id);
    *t.mutable_gradient() = Values({0.5, -0.5});
    t.set_worker_id(worker);
    v1::TellResponse answer;
    EXPECT_OK(session->Tell(t, &answer));
    return answer;
  };
  // Step 1 (trials 1, 2): one trial each, even when asking for two.
  v1::AskResponse a = ask("a");
  ASSERT_EQ(a.trials_size(), 1);
  EXPECT_EQ(a.trials(0).trial_id(), 1u);
  // Having told its share, a gets no second trial of the step, neither in
  // the tell's answer nor by asking; it is told when the step's free trial
  // counts as abandoned.
  EXPECT_EQ(tell("a", 1).trials_size(), 0);
  a = ask("a");
  EXPECT_EQ(a.trials_size(), 0);
  EXPECT_GT(a.retry_after_seconds(), 0.0);
  EXPECT_LE(a.retry_after_seconds(), 0.3);
  v1::AskResponse b = ask("b");
  ASSERT_EQ(b.trials_size(), 1);
  EXPECT_EQ(b.trials(0).trial_id(), 2u);
  // Step 2 comes with b's tell; b takes trial 3.
  v1::TellResponse next = tell("b", 2);
  ASSERT_EQ(next.trials_size(), 1);
  EXPECT_EQ(next.trials(0).trial_id(), 3u);
  EXPECT_EQ(ask("a").trials(0).trial_id(), 4u);
  tell("a", 4);
  // b dies holding trial 3: once its lease ends, a takes it over.
  EXPECT_EQ(ask("a").trials_size(), 0);
  absl::SleepFor(absl::Milliseconds(350));
  a = ask("a");
  ASSERT_EQ(a.trials_size(), 1);
  EXPECT_EQ(a.trials(0).trial_id(), 3u);
  // Step 3: a trial nobody takes within a lease goes to a worker that
  // already served the step.
  next = tell("a", 3);
  ASSERT_EQ(next.trials_size(), 1);
  EXPECT_EQ(next.trials(0).trial_id(), 5u);
  tell("a", 5);
  EXPECT_EQ(ask("a").trials_size(), 0);
  absl::SleepFor(absl::Milliseconds(350));
  a = ask("a");
  ASSERT_EQ(a.trials_size(), 1);
  EXPECT_EQ(a.trials(0).trial_id(), 6u);
}

TEST(SessionBatch, AskRefusesOutOfRangeMaxTrials) {
  std::shared_ptr<Session> session = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  v1::AskResponse response;
  EXPECT_THAT(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "w",
                                   &response, false, 1025),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "max_trials is 1025; the range is [0, 1024] (0 means "
                       "1)"));
}

TEST(SessionBatch, TrialLogKeepsEveryTellWithWorkerAndNote) {
  std::shared_ptr<Session> session = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  const std::vector<v1::Trial> batch = Outstanding(*session);
  v1::TellRequest first = ValueTell(batch[3]);
  first.set_worker_id("gpu-7");
  first.set_note("run 3, checkpoint /tmp/ckpt");
  v1::TellResponse answer;
  ASSERT_OK(session->Tell(first, &answer));
  v1::TellRequest failed;
  failed.set_trial_id(batch[1].trial_id());
  failed.set_failed(true);
  ASSERT_OK(session->Tell(failed, &answer));

  v1::Session described;
  ASSERT_OK(session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED,
                              &described, /*include_trials=*/true));
  ASSERT_EQ(described.trial_log_size(), 2);
  const v1::TrialRecord& r = described.trial_log(0);
  EXPECT_EQ(r.trial_id(), 4u);
  EXPECT_EQ(ToDoubles(r.x()), ToDoubles(batch[3].x()));
  EXPECT_EQ(r.value(), first.value());
  EXPECT_EQ(r.wants(), v1::EVALUATION_VALUE);
  EXPECT_EQ(r.worker_id(), "gpu-7");
  EXPECT_EQ(r.note(), "run 3, checkpoint /tmp/ckpt");
  EXPECT_EQ(r.weight(), 1.0);
  EXPECT_FALSE(r.failed());
  EXPECT_TRUE(std::isnan(r.gradient_max_norm()));
  const v1::TrialRecord& f = described.trial_log(1);
  EXPECT_EQ(f.trial_id(), 2u);
  EXPECT_TRUE(f.failed());
  EXPECT_TRUE(std::isnan(f.value()));

  v1::Session later;
  ASSERT_OK(session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &later,
                              /*include_trials=*/true,
                              /*trials_after_id=*/3));
  ASSERT_EQ(later.trial_log_size(), 1);
  EXPECT_EQ(later.trial_log(0).trial_id(), 4u);
  // Without include_trials there is no log.
  v1::Session plain;
  ASSERT_OK(session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &plain));
  EXPECT_EQ(plain.trial_log_size(), 0);
  EXPECT_EQ(plain.gradient_source(), v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
}

TEST(SessionBatch, TheTrialLogKeepsTheNewestEightMebibytes) {
  // 4 KiB notes: about 2,050 records fill the 8 MiB; the oldest go first
  // and are counted. (Adam never ends on its own.)
  v1::CreateSessionRequest request;
  request.mutable_adam();
  *request.mutable_x0() = Values({-1.2, 1.0});
  std::shared_ptr<Session> session = Make(request);
  int told = 0;
  for (; told < 2600; ++told) {
    const std::vector<v1::Trial> batch = Outstanding(*session);
    ASSERT_EQ(batch.size(), 1u);
    v1::TellRequest tell;
    tell.set_trial_id(batch[0].trial_id());
    *tell.mutable_gradient() = Values({0.5, -0.25});
    tell.set_note(std::string(Session::kMaxNoteBytes, 'a' + told % 26));
    v1::TellResponse answer;
    ASSERT_OK(session->Tell(tell, &answer));
  }
  v1::Session described;
  ASSERT_OK(session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED,
                              &described, /*include_trials=*/true));
  EXPECT_GT(described.trial_log_dropped(), 0);
  EXPECT_EQ(described.trial_log_size() + described.trial_log_dropped(), told);
  size_t bytes = 0;
  for (const v1::TrialRecord& r : described.trial_log()) {
    bytes += r.ByteSizeLong();
  }
  EXPECT_LE(bytes, Session::kTrialLogBytes);
  EXPECT_GT(bytes, Session::kTrialLogBytes - 2 * 4200);
  // The newest record is the last tell, and ids only grow.
  EXPECT_EQ(described.trial_log(described.trial_log_size() - 1).note()[0],
            'a' + (told - 1) % 26);
  for (int i = 1; i < described.trial_log_size(); ++i) {
    EXPECT_GT(described.trial_log(i).trial_id(),
              described.trial_log(i - 1).trial_id());
  }
}

TEST(SessionBatch, TellRefusesBadNotesWorkersAndWeights) {
  std::shared_ptr<Session> session = Make(FiniteDifferenceLbfgs({-1.2, 1.0}));
  const std::vector<v1::Trial> batch = Outstanding(*session);
  const struct {
    const char* name;
    std::function<void(v1::TellRequest*)> spoil;
    std::string message;
  } cases[] = {
      {"long note",
       [](v1::TellRequest* t) { t->set_note(std::string(4097, 'n')); },
       "note has 4097 bytes; at most 4096 are allowed"},
      {"long worker",
       [](v1::TellRequest* t) { t->set_worker_id(std::string(129, 'w')); },
       "worker_id has 129 characters; at most 128 are allowed"},
      {"zero weight", [](v1::TellRequest* t) { t->set_weight(0); },
       "weight is 0; a data-parallel weight is finite and > 0"},
      {"weight off data parallel", [](v1::TellRequest* t) { t->set_weight(2); },
       "weight is set but session \"batch\" is not data-parallel "
       "(data_parallel.workers <= 1); leave it unset"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    v1::TellRequest tell = ValueTell(batch[0]);
    c.spoil(&tell);
    v1::TellResponse answer;
    EXPECT_THAT(session->Tell(tell, &answer),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message));
    EXPECT_EQ(Outstanding(*session).size(), 5u);
  }
}

TEST(SessionBatch, DataParallelStepsOnTheWeightedMean) {
  // Two workers' gradients with weights 1 and 3 against one session told
  // their weighted mean: the same next point, bit for bit.
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  *request.mutable_x0() = Values({-1.2, 1.0});
  request.mutable_data_parallel()->set_workers(2);
  std::shared_ptr<Session> parallel = Make(request);
  request.clear_data_parallel();
  std::shared_ptr<Session> single = Make(request);

  const std::vector<v1::Trial> batch = Outstanding(*parallel);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(ToDoubles(batch[0].x()), ToDoubles(batch[1].x()));
  EXPECT_EQ(batch[0].wants(), v1::EVALUATION_VALUE_AND_GRADIENT);
  const std::vector<double> g1 = {3.0, -1.0}, g2 = {-2.0, 5.0};
  const double f1 = 10.0, f2 = 2.0;
  v1::TellRequest a;
  a.set_trial_id(batch[0].trial_id());
  a.set_value(f1);
  *a.mutable_gradient() = Values(g1);
  a.set_weight(1.0);
  v1::TellRequest b;
  b.set_trial_id(batch[1].trial_id());
  b.set_value(f2);
  *b.mutable_gradient() = Values(g2);
  b.set_weight(3.0);
  v1::TellResponse answer;
  ASSERT_OK(parallel->Tell(b, &answer));
  ASSERT_OK(parallel->Tell(a, &answer));
  ASSERT_EQ(answer.trials_size(), 2);

  // The adapter adds w_k g_k in tell order into a sum that starts at zero.
  std::vector<double> mean(2);
  for (int i = 0; i < 2; ++i) mean[i] = ((0.0 + 3.0 * g2[i]) + 1.0 * g1[i]) / 4;
  v1::TellRequest told;
  told.set_trial_id(1);
  told.set_value(((0.0 + 3.0 * f2) + 1.0 * f1) / 4);
  *told.mutable_gradient() = Values(mean);
  v1::TellResponse reference;
  ASSERT_OK(single->Tell(told, &reference));
  EXPECT_EQ(ToDoubles(answer.trials(0).x()),
            ToDoubles(reference.trials(0).x()));
}

TEST(SessionBatch, AWeightWhoseProductOverflowsIsTheClientsError) {
  // Found by the fixed-seed run of session_requests_fuzzer (regression
  // fuzz/regressions/session_requests/data-parallel-tell-weight-overflows):
  // the data-parallel adapter refuses weight 3 times gradient 9e307, but
  // Session took any refusal of a validated tell for a solver bug and
  // answered INTERNAL. Now INVALID_ARGUMENT, nothing changed, and the same
  // trial with a sane weight goes through.
  v1::CreateSessionRequest request;
  request.mutable_adam();
  *request.mutable_x0() = Values({-1.2, 1.0});
  request.mutable_data_parallel()->set_workers(2);
  std::shared_ptr<Session> session = Make(request);
  const std::vector<v1::Trial> batch = Outstanding(*session);
  ASSERT_EQ(batch.size(), 2u);
  v1::TellRequest tell;
  tell.set_trial_id(batch[0].trial_id());
  *tell.mutable_gradient() = Values({8.98846567431158e+307, 1.0});
  tell.set_weight(3.0);
  v1::TellResponse answer;
  EXPECT_THAT(session->Tell(tell, &answer),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("weight 3 times gradient[0] = 8.98847e+307 "
                                 "overflows")));
  EXPECT_EQ(Outstanding(*session).size(), 2u);
  tell.set_weight(1.0);
  EXPECT_OK(session->Tell(tell, &answer));
}

// Found by fuzz/stored_session_fuzzer (regression
// fuzz/regressions/stored_session/checkpoint-batch-ids-out-of-range): the
// trial ids of a checkpoint were taken as they came, and the loops over the
// batch's ids trusted them (a last_trial_id of 2^40 ran out of memory
// listing the outstanding trials).
TEST(SessionBatch, RestoreCheckpointRefusesIdsThatDoNotFitTheBatch) {
  v1::CreateSessionRequest request;
  request.mutable_adam()->set_lr(0.1);
  *request.mutable_x0() = Values({-1.2, 1.0});
  request.mutable_data_parallel()->set_workers(3);
  absl::StatusOr<ConstVectorView> x0 = DecodeVector(request.x0(), "x0");
  ASSERT_OK(x0);
  absl::StatusOr<SolverSetup> setup = CreateSolver(request, *x0);
  ASSERT_OK(setup);
  v1::SessionCheckpoint checkpoint;
  ASSERT_OK(setup->solver->SaveState(checkpoint.mutable_solver_state()));
  checkpoint.set_has_pending_trial(true);
  const auto restore = [&](uint64_t first, uint64_t last, bool pending) {
    v1::SessionCheckpoint c = checkpoint;
    c.set_batch_first_id(first);
    c.set_last_trial_id(last);
    c.set_has_pending_trial(pending);
    return Make(request)->RestoreCheckpoint(c);
  };
  EXPECT_THAT(restore(1, uint64_t{1} << 40, true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("running a batch of 3 trials")));
  EXPECT_THAT(restore(5, 3, true),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 <= batch_first_id <= last_trial_id")));
  EXPECT_THAT(restore(0, 0, true), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("last_trial_id 0")));
  EXPECT_THAT(restore(4, 6, false), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("with none pending")));
  checkpoint.set_tells(-1);
  EXPECT_THAT(restore(4, 6, true), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("tells -1")));
  checkpoint.set_tells(3);
  std::shared_ptr<Session> session = Make(request);
  v1::SessionCheckpoint good = checkpoint;
  good.set_batch_first_id(4);
  good.set_last_trial_id(6);
  ASSERT_OK(session->RestoreCheckpoint(good));
  std::vector<uint64_t> ids;
  for (const v1::Trial& trial : Outstanding(*session)) {
    ids.push_back(trial.trial_id());
  }
  EXPECT_THAT(ids, ElementsAre(4, 5, 6));
}

TEST(SessionBatch, GradientCheckReportsTheWrongCoordinate) {
  v1::CreateSessionRequest request;
  request.mutable_lbfgs();
  *request.mutable_x0() = Values({-1.2, 1.0, 0.5});
  request.mutable_gradient_check();  // at iteration 0
  std::shared_ptr<Session> session = Make(request);
  const std::vector<v1::Trial> batch = Outstanding(*session);
  ASSERT_EQ(batch.size(), 7u);  // the trial and 2n stencil values
  EXPECT_EQ(batch[0].wants(), v1::EVALUATION_VALUE_AND_GRADIENT);
  for (size_t k = 1; k < batch.size(); ++k) {
    EXPECT_EQ(batch[k].wants(), v1::EVALUATION_VALUE);
  }
  for (const v1::Trial& trial : batch) {
    std::vector<double> g;
    v1::TellRequest tell;
    tell.set_trial_id(trial.trial_id());
    tell.set_value(Rosenbrock(ToDoubles(trial.x()), &g));
    if (trial.wants() == v1::EVALUATION_VALUE_AND_GRADIENT) {
      g[1] *= 2;  // a bug in the client's coordinate 1
      *tell.mutable_gradient() = Values(g);
    }
    v1::TellResponse answer;
    ASSERT_OK(session->Tell(tell, &answer));
  }
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  ASSERT_EQ(described.gradient_checks_size(), 1);
  const v1::GradientCheck& check = described.gradient_checks(0);
  EXPECT_EQ(check.iteration(), 0);
  ASSERT_EQ(check.relative_error_size(), 3);
  EXPECT_LT(check.relative_error(0), 1e-7);
  EXPECT_NEAR(check.relative_error(1), 0.5, 1e-6);  // |2g - g| / |2g|
  EXPECT_LT(check.relative_error(2), 1e-7);
  EXPECT_EQ(check.max_relative_error(), check.relative_error(1));
  EXPECT_TRUE(described.has_gradient_check());
}

TEST(SessionBatch, CreateRefusesLayersThatDoNotFit) {
  const struct {
    const char* name;
    std::function<void(v1::CreateSessionRequest*)> spoil;
    std::string message;
  } cases[] = {
      {"lower above upper",
       [](v1::CreateSessionRequest* r) {
         *r->mutable_bounds()->mutable_lower() = Values({0, 2});
         *r->mutable_bounds()->mutable_upper() = Values({1, 1});
       },
       "bounds.lower[1] = 2 is greater than bounds.upper[1] = 1"},
      {"bounds of another length",
       [](v1::CreateSessionRequest* r) {
         *r->mutable_bounds()->mutable_lower() = Values({0});
       },
       "bounds.lower has 1 elements; x0 has 2 (or leave it empty)"},
      {"NaN bound",
       [](v1::CreateSessionRequest* r) {
         *r->mutable_bounds()->mutable_upper() =
             Values({1, std::numeric_limits<double>::quiet_NaN()});
       },
       "bounds.upper[1] is nan"},
      {"bounds with exact trust region",
       [](v1::CreateSessionRequest* r) {
         r->mutable_trust_region()->set_subproblem(
             v1::TrustRegionOptions::SUBPROBLEM_EXACT);
         *r->mutable_bounds()->mutable_lower() = Values({0, 0});
       },
       "bounds are supported by trust_region only with subproblem "
       "QUASI_NEWTON"},
      {"finite differences with newton_cg",
       [](v1::CreateSessionRequest* r) {
         r->mutable_trust_region()->set_subproblem(
             v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
         r->set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
       },
       "gradient_source FINITE_DIFFERENCE needs a solver that takes "
       "gradients"},
      {"finite-difference options without finite differences",
       [](v1::CreateSessionRequest* r) {
         r->mutable_finite_difference()->set_relative_step(1e-4);
       },
       "finite_difference is set but gradient_source is not "
       "FINITE_DIFFERENCE"},
      {"relative step too large",
       [](v1::CreateSessionRequest* r) {
         r->set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
         r->mutable_finite_difference()->set_relative_step(0.5);
       },
       "finite_difference.relative_step"},
      {"gradient check of finite differences",
       [](v1::CreateSessionRequest* r) {
         r->set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
         r->mutable_gradient_check();
       },
       "gradient_check checks the client's gradients"},
      {"gradient check with bounds",
       [](v1::CreateSessionRequest* r) {
         *r->mutable_bounds()->mutable_lower() = Values({-2, -2});
         r->mutable_gradient_check();
       },
       "gradient_check does not go with bounds: its central-difference "
       "points may leave the box"},
      {"too many data-parallel workers",
       [](v1::CreateSessionRequest* r) {
         r->mutable_data_parallel()->set_workers(1025);
       },
       "data_parallel.workers is 1025; the range is [0, 1024]"},
      {"data parallel and finite differences",
       [](v1::CreateSessionRequest* r) {
         r->mutable_data_parallel()->set_workers(4);
         r->set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
       },
       "data_parallel averages the workers' own gradients"},
      // Sharded sessions take data parallelism and finite differences
      // (docs/sharding.md), but not both at once, as unsharded ones.
      {"data parallel and finite differences on a sharded session",
       [](v1::CreateSessionRequest* r) {
         r->set_shards(2);
         r->mutable_data_parallel()->set_workers(4);
         r->set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
       },
       "data_parallel averages the workers' own gradients; it does not go "
       "with gradient_source FINITE_DIFFERENCE or gradient_check"},
      {"unknown gradient source",
       [](v1::CreateSessionRequest* r) {
         r->set_gradient_source(static_cast<v1::GradientSource>(7));
       },
       "gradient_source is 7; it is CLIENT (1) or FINITE_DIFFERENCE (2)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    v1::CreateSessionRequest request;
    request.mutable_lbfgs();
    *request.mutable_x0() = Values({-1.2, 1.0});
    c.spoil(&request);
    const std::vector<double> x0 = {-1.2, 1.0};
    EXPECT_THAT(
        CreateSolver(request, ConstVectorView::Float64(x0.data(), 2)).status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
}

}  // namespace
}  // namespace optd::server
