// End to end: SwitchSolver and ForkSession into another solver (docs/api.md
// "Switch") on real optd processes.
//
//   SwitchSolver.AdamToLbfgs...   the switched session goes on bitwise as a
//                                 session created from its warm start (an
//                                 import of its export), through kill -9.
//   SwitchSolver.Refusals...      every refusal: its code, its message, and
//                                 the session unchanged.
//   SwitchSolver.ForkInto...      a fork with another solver's options.
//   SwitchSolver.LbfgsToTrust...  a fork of an L-BFGS session into the trust
//                                 region carries L-BFGS's pairs and goes on
//                                 bitwise as its warm start, through kill -9.
#include <signal.h>

#include <cstdint>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"

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

bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// f(x) = sum_i (i + 1) / 2 (x_i - i / 10)^2 with its gradient.
Evaluation Quadratic(const std::vector<double>& x, Wants) {
  Evaluation e;
  double f = 0.0;
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double a = static_cast<double>(i + 1);
    const double d = x[i] - 0.1 * static_cast<double>(i);
    f += 0.5 * a * d * d;
    g[i] = a * d;
  }
  e.value = f;
  e.gradient = std::move(g);
  return e;
}

SolverSpec AdamSpec(int64_t max_steps) {
  v1::AdamOptions adam;
  adam.set_lr(0.05);
  adam.set_max_steps(max_steps);
  return SolverSpec::Adam(adam);
}

const std::vector<double> kX0 = {1.0, -2.0, 0.5, 3.0, -1.0};

// Tells `count` trials from `trials` on; returns the trials handed out
// after each tell (the first ones not included). Stops at the end.
absl::StatusOr<std::vector<Trial>> TellSome(const Session& session,
                                            std::vector<Trial> trials,
                                            int count) {
  std::vector<Trial> seen;
  for (int i = 0; i < count; ++i) {
    if (trials.size() != 1) return absl::InternalError("not one trial");
    absl::StatusOr<Answer> answer =
        session.Tell(trials[0].id, Quadratic(trials[0].x, trials[0].wants));
    if (!answer.ok()) return answer.status();
    if (answer->finished()) break;
    trials = std::move(answer->trials);
    seen.push_back(trials[0]);
  }
  return seen;
}

void ExpectSameTrial(const Trial& a, const Trial& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_TRUE(SameBits(a.x, b.x)) << "trial " << a.id;
}

absl::StatusOr<Session> CreateAdam(const Client& client, const std::string& id,
                                   int tells, int64_t max_steps = 1000) {
  SessionOptions options;
  options.session_id = id;
  absl::StatusOr<Session> session =
      Session::Create(client, kX0, AdamSpec(max_steps), options);
  if (!session.ok()) return session.status();
  absl::StatusOr<std::vector<Trial>> told =
      TellSome(*session, session->first_trials(), tells);
  if (!told.ok()) return told.status();
  return session;
}

TEST(SwitchSolver, AdamToLbfgsContinuesAsItsWarmStartThroughKillNine) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Client::Connect(optd.address());
    ASSERT_OK(client);
    absl::StatusOr<Session> adam = CreateAdam(*client, "run", 8);
    ASSERT_OK(adam);

    v1::SwitchSolverRequest request;
    request.set_session_id("run");
    request.mutable_lbfgs()->set_memory(5);
    absl::StatusOr<v1::SwitchSolverResponse> switched =
        client->SwitchSolver(request);
    ASSERT_OK(switched);
    EXPECT_EQ(switched->session_id(), "run");
    EXPECT_EQ(switched->state(), v1::SESSION_STATE_RUNNING);
    EXPECT_EQ(switched->step(), 8);
    // Eight consecutive tells on a convex quadratic give seven pairs with
    // s.y = s'As > 0; the memory keeps five.
    EXPECT_EQ(switched->pairs(), 5);
    absl::StatusOr<std::vector<Trial>> first =
        client::DecodeTrials(switched->trials());
    ASSERT_OK(first);
    ASSERT_EQ(first->size(), 1u);
    // Adam issued trials 1..9 (9 untold); the new solver's ids follow.
    EXPECT_EQ((*first)[0].id, 10u);

    absl::StatusOr<v1::Session> described = client->GetSession("run");
    ASSERT_OK(described);
    EXPECT_EQ(described->solver(), "lbfgs");
    EXPECT_EQ(described->switched_from(), "adam");
    EXPECT_EQ(described->switched_at_step(), 8);
    EXPECT_EQ(described->tells(), 0);

    // The old solver's outstanding trial is cancelled.
    const Session run = Session::Attach(*client, "run");
    EXPECT_THAT(
        run.Tell(9, Quadratic(kX0, Wants())),
        StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("trial 9")));

    // The switched session is its creation request with the warm start:
    // imported elsewhere, it hands out the same trials.
    absl::StatusOr<v1::SessionSnapshot> snapshot = client->ExportSession("run");
    ASSERT_OK(snapshot);
    EXPECT_TRUE(snapshot->create().has_warm_start());
    EXPECT_EQ(snapshot->create().warm_start().s_size(), 5);
    EXPECT_EQ(snapshot->tells_size(), 0);
    absl::StatusOr<v1::ImportSessionResponse> imported =
        client->ImportSession(*snapshot, "direct");
    ASSERT_OK(imported);
    absl::StatusOr<std::vector<Trial>> direct_first =
        client::DecodeTrials(imported->trials());
    ASSERT_OK(direct_first);
    ExpectSameTrial((*direct_first)[0], (*first)[0]);
    const Session direct = Session::Attach(*client, "direct");
    absl::StatusOr<std::vector<Trial>> direct_told =
        TellSome(direct, *direct_first, 100);
    ASSERT_OK(direct_told);
    ASSERT_GE(direct_told->size(), 4u);

    absl::StatusOr<std::vector<Trial>> told = TellSome(run, *first, 3);
    ASSERT_OK(told);
    for (int k = 0; k < 3; ++k) ExpectSameTrial((*told)[k], (*direct_told)[k]);

    // kill -9 after the switch: the session recovers as the new solver.
    optd.Signal(SIGKILL);
    optd.Wait(absl::Seconds(10));
    ASSERT_OK(optd.Start());
    absl::StatusOr<Client> again = Client::Connect(optd.address());
    ASSERT_OK(again);
    const Session recovered = Session::Attach(*again, "run");
    absl::StatusOr<Answer> asked = recovered.Ask();
    ASSERT_OK(asked);
    ASSERT_EQ(asked->trials.size(), 1u);
    ExpectSameTrial(asked->trials[0], (*told)[2]);
    absl::StatusOr<std::vector<Trial>> rest =
        TellSome(recovered, asked->trials, 100);
    ASSERT_OK(rest);
    ASSERT_EQ(rest->size() + 3, direct_told->size());
    for (size_t k = 0; k < rest->size(); ++k) {
      ExpectSameTrial((*rest)[k], (*direct_told)[k + 3]);
    }
    absl::StatusOr<v1::Session> ended = again->GetSession("run");
    absl::StatusOr<v1::Session> direct_ended = again->GetSession("direct");
    ASSERT_OK(ended);
    ASSERT_OK(direct_ended);
    EXPECT_EQ(ended->state(), direct_ended->state());
    EXPECT_EQ(ended->summary().reason(), direct_ended->summary().reason());
    EXPECT_TRUE(SameBits({ended->summary().value()},
                         {direct_ended->summary().value()}));
    EXPECT_TRUE(ended->summary().success()) << ended->summary().DebugString();
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

TEST(SwitchSolver, ForkIntoAnotherSolverLeavesTheSourceAsItWas) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Client::Connect(optd.address());
    ASSERT_OK(client);
    absl::StatusOr<Session> adam = CreateAdam(*client, "trunk", 8);
    ASSERT_OK(adam);
    v1::ForkSessionRequest fork;
    fork.set_session_id("trunk");
    fork.set_step(6);
    fork.set_new_session_id("branch");
    fork.mutable_overrides()->mutable_lbfgs();
    absl::StatusOr<v1::ForkSessionResponse> forked = client->ForkSession(fork);
    ASSERT_OK(forked);
    EXPECT_EQ(forked->step(), 6);
    absl::StatusOr<v1::Session> branch = client->GetSession("branch");
    ASSERT_OK(branch);
    EXPECT_EQ(branch->solver(), "lbfgs");
    EXPECT_EQ(branch->switched_from(), "adam");
    EXPECT_EQ(branch->switched_at_step(), 6);
    absl::StatusOr<v1::Session> trunk = client->GetSession("trunk");
    ASSERT_OK(trunk);
    EXPECT_EQ(trunk->solver(), "adam");
    EXPECT_EQ(trunk->tells(), 8);

    // The same switch in place from step 6 hands out the same trial.
    absl::StatusOr<Session> twin = CreateAdam(*client, "twin", 6);
    ASSERT_OK(twin);
    v1::SwitchSolverRequest request;
    request.set_session_id("twin");
    request.mutable_lbfgs();
    absl::StatusOr<v1::SwitchSolverResponse> switched =
        client->SwitchSolver(request);
    ASSERT_OK(switched);
    ASSERT_EQ(switched->trials_size(), 1);
    ASSERT_EQ(forked->trials_size(), 1);
    EXPECT_EQ(switched->trials(0).DebugString(),
              forked->trials(0).DebugString());
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

TEST(SwitchSolver, LbfgsToTrustRegionContinuesAsItsWarmStartThroughKillNine) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Client::Connect(optd.address());
    ASSERT_OK(client);
    SessionOptions options;
    options.session_id = "lbfgs";
    absl::StatusOr<Session> lbfgs =
        Session::Create(*client, kX0, SolverSpec::Lbfgs(), options);
    ASSERT_OK(lbfgs);
    ASSERT_OK(TellSome(*lbfgs, lbfgs->first_trials(), 4));
    v1::GetSessionRequest get;
    get.set_session_id("lbfgs");
    get.set_include_curvature_pairs(true);
    absl::StatusOr<v1::Session> source = client->GetSession(get);
    ASSERT_OK(source);
    ASSERT_GE(source->curvature_pairs().s_size(), 1);

    v1::ForkSessionRequest fork;
    fork.set_session_id("lbfgs");
    fork.set_new_session_id("tr");
    fork.mutable_overrides()->mutable_trust_region()->set_quasi_newton_update(
        v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
    absl::StatusOr<v1::ForkSessionResponse> forked = client->ForkSession(fork);
    ASSERT_OK(forked);
    EXPECT_EQ(forked->step(), 4);
    absl::StatusOr<v1::Session> described = client->GetSession("tr");
    ASSERT_OK(described);
    EXPECT_EQ(described->solver(), "trust_region");
    EXPECT_EQ(described->switched_from(), "lbfgs");
    EXPECT_EQ(described->switched_at_step(), 4);

    // The warm start holds L-BFGS's memory, pair for pair, bit for bit.
    absl::StatusOr<v1::SessionSnapshot> snapshot = client->ExportSession("tr");
    ASSERT_OK(snapshot);
    const v1::WarmStart& warm = snapshot->create().warm_start();
    EXPECT_EQ(warm.from_solver(), "lbfgs");
    ASSERT_EQ(warm.s_size(), source->curvature_pairs().s_size());
    for (int i = 0; i < warm.s_size(); ++i) {
      for (const auto& [ours, theirs] :
           {std::pair{&warm.s(i), &source->curvature_pairs().s(i)},
            std::pair{&warm.y(i), &source->curvature_pairs().y(i)}}) {
        absl::StatusOr<std::vector<double>> a = client::DecodeVector(*ours);
        absl::StatusOr<std::vector<double>> b = client::DecodeVector(*theirs);
        ASSERT_OK(a);
        ASSERT_OK(b);
        EXPECT_TRUE(SameBits(*a, *b)) << "pair " << i;
      }
    }

    // Imported elsewhere, the warm start hands out the same trials.
    absl::StatusOr<v1::ImportSessionResponse> imported =
        client->ImportSession(*snapshot, "direct");
    ASSERT_OK(imported);
    absl::StatusOr<std::vector<Trial>> first =
        client::DecodeTrials(forked->trials());
    absl::StatusOr<std::vector<Trial>> direct_first =
        client::DecodeTrials(imported->trials());
    ASSERT_OK(first);
    ASSERT_OK(direct_first);
    ASSERT_EQ(first->size(), 1u);
    ExpectSameTrial((*direct_first)[0], (*first)[0]);
    const Session direct = Session::Attach(*client, "direct");
    absl::StatusOr<std::vector<Trial>> direct_told =
        TellSome(direct, *direct_first, 200);
    ASSERT_OK(direct_told);
    ASSERT_GE(direct_told->size(), 4u);
    const Session tr = Session::Attach(*client, "tr");
    absl::StatusOr<std::vector<Trial>> told = TellSome(tr, *first, 3);
    ASSERT_OK(told);
    for (int k = 0; k < 3; ++k) ExpectSameTrial((*told)[k], (*direct_told)[k]);

    optd.Signal(SIGKILL);
    optd.Wait(absl::Seconds(10));
    ASSERT_OK(optd.Start());
    absl::StatusOr<Client> again = Client::Connect(optd.address());
    ASSERT_OK(again);
    const Session recovered = Session::Attach(*again, "tr");
    absl::StatusOr<Answer> asked = recovered.Ask();
    ASSERT_OK(asked);
    ASSERT_EQ(asked->trials.size(), 1u);
    ExpectSameTrial(asked->trials[0], (*told)[2]);
    absl::StatusOr<std::vector<Trial>> rest =
        TellSome(recovered, asked->trials, 200);
    ASSERT_OK(rest);
    ASSERT_EQ(rest->size() + 3, direct_told->size());
    for (size_t k = 0; k < rest->size(); ++k) {
      ExpectSameTrial((*rest)[k], (*direct_told)[k + 3]);
    }
    absl::StatusOr<v1::Session> ended = again->GetSession("tr");
    absl::StatusOr<v1::Session> direct_ended = again->GetSession("direct");
    ASSERT_OK(ended);
    ASSERT_OK(direct_ended);
    EXPECT_EQ(ended->summary().reason(), direct_ended->summary().reason());
    EXPECT_TRUE(SameBits({ended->summary().value()},
                         {direct_ended->summary().value()}));
    EXPECT_TRUE(ended->summary().success()) << ended->summary().DebugString();

    // Refused: another subproblem, and a bounded L-BFGS source.
    v1::ForkSessionRequest cg = fork;
    cg.set_new_session_id("cg");
    cg.mutable_overrides()->mutable_trust_region()->set_subproblem(
        v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
    EXPECT_THAT(
        again->ForkSession(cg),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 HasSubstr("switching session \"lbfgs\" from lbfgs to "
                           "trust_region carries its curvature pairs into "
                           "the quasi_newton subproblem; "
                           "trust_region.subproblem is newton_cg")));
    EXPECT_THAT(again->GetSession("cg"), StatusIs(absl::StatusCode::kNotFound));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

// SwitchSolverRequest.trust_region: the same switch as the fork, in place.
TEST(SwitchSolver, LbfgsToTrustRegionInPlaceIsTheForkUnderTheSameId) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Client::Connect(optd.address());
    ASSERT_OK(client);
    for (const char* id : {"run", "trunk"}) {
      SessionOptions options;
      options.session_id = id;
      absl::StatusOr<Session> lbfgs =
          Session::Create(*client, kX0, SolverSpec::Lbfgs(), options);
      ASSERT_OK(lbfgs);
      ASSERT_OK(TellSome(*lbfgs, lbfgs->first_trials(), 4));
    }
    v1::ForkSessionRequest fork;
    fork.set_session_id("trunk");
    fork.set_new_session_id("branch");
    fork.mutable_overrides()->mutable_trust_region()->set_quasi_newton_update(
        v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
    absl::StatusOr<v1::ForkSessionResponse> forked = client->ForkSession(fork);
    ASSERT_OK(forked);

    // Another subproblem is refused and the session stays L-BFGS.
    v1::SwitchSolverRequest cg;
    cg.set_session_id("run");
    cg.mutable_trust_region()->set_subproblem(
        v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
    EXPECT_THAT(client->SwitchSolver(cg),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("trust_region.subproblem is newton_cg")));
    absl::StatusOr<v1::Session> unchanged = client->GetSession("run");
    ASSERT_OK(unchanged);
    EXPECT_EQ(unchanged->solver(), "lbfgs");
    EXPECT_EQ(unchanged->tells(), 4);

    v1::SwitchSolverRequest request;
    request.set_session_id("run");
    request.mutable_trust_region()->set_quasi_newton_update(
        v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
    absl::StatusOr<v1::SwitchSolverResponse> switched =
        client->SwitchSolver(request);
    ASSERT_OK(switched);
    EXPECT_EQ(switched->session_id(), "run");
    EXPECT_EQ(switched->step(), 4);
    EXPECT_GE(switched->pairs(), 1);
    absl::StatusOr<v1::Session> described = client->GetSession("run");
    ASSERT_OK(described);
    EXPECT_EQ(described->solver(), "trust_region");
    EXPECT_EQ(described->switched_from(), "lbfgs");
    EXPECT_EQ(described->switched_at_step(), 4);

    // The fork from the same step is the same solver: the same trials to
    // the end, bit for bit.
    absl::StatusOr<std::vector<Trial>> first =
        client::DecodeTrials(switched->trials());
    absl::StatusOr<std::vector<Trial>> branch_first =
        client::DecodeTrials(forked->trials());
    ASSERT_OK(first);
    ASSERT_OK(branch_first);
    ASSERT_EQ(first->size(), 1u);
    ASSERT_EQ(branch_first->size(), 1u);
    ExpectSameTrial((*first)[0], (*branch_first)[0]);
    absl::StatusOr<std::vector<Trial>> told =
        TellSome(Session::Attach(*client, "run"), *first, 200);
    absl::StatusOr<std::vector<Trial>> branch_told =
        TellSome(Session::Attach(*client, "branch"), *branch_first, 200);
    ASSERT_OK(told);
    ASSERT_OK(branch_told);
    ASSERT_EQ(told->size(), branch_told->size());
    for (size_t k = 0; k < told->size(); ++k) {
      ExpectSameTrial((*told)[k], (*branch_told)[k]);
    }
    absl::StatusOr<v1::Session> ended = client->GetSession("run");
    ASSERT_OK(ended);
    EXPECT_TRUE(ended->summary().success()) << ended->summary().DebugString();
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

TEST(SwitchSolver, RefusalsNameTheProblemAndChangeNothing) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Client::Connect(optd.address());
    ASSERT_OK(client);
    ASSERT_OK(CreateAdam(*client, "adam-src", 3));
    ASSERT_OK(CreateAdam(*client, "done", 5, /*max_steps=*/2));
    SessionOptions options;
    options.session_id = "lbfgs-src";
    ASSERT_OK(Session::Create(*client, kX0, SolverSpec::Lbfgs(), options));

    struct Case {
      std::string what;
      v1::SwitchSolverRequest request;
      absl::StatusCode code;
      std::string message;
    };
    std::vector<Case> cases;
    auto add = [&](std::string what, std::string id, absl::StatusCode code,
                   std::string message, auto edit) {
      Case c{std::move(what), {}, code, std::move(message)};
      c.request.set_session_id(id);
      c.request.mutable_lbfgs();
      edit(c.request);
      cases.push_back(std::move(c));
    };
    add("unknown session", "nobody", absl::StatusCode::kNotFound,
        "session \"nobody\" not found", [](auto&) {});
    add("no solver", "adam-src", absl::StatusCode::kInvalidArgument,
        "solver is not set", [](auto& r) { r.clear_solver(); });
    add("unsupported pair", "lbfgs-src", absl::StatusCode::kInvalidArgument,
        "switching session \"lbfgs-src\" from lbfgs to lbfgs is not "
        "supported",
        [](auto&) {});
    add("bad options", "adam-src", absl::StatusCode::kInvalidArgument,
        "lbfgs.memory", [](auto& r) { r.mutable_lbfgs()->set_memory(-1); });
    add("finished session", "done", absl::StatusCode::kFailedPrecondition,
        "only a running session switches solvers", [](auto&) {});
    for (const Case& c : cases) {
      absl::StatusOr<v1::Session> before =
          client->GetSession(c.request.session_id());
      EXPECT_THAT(client->SwitchSolver(c.request),
                  StatusIs(c.code, HasSubstr(c.message)))
          << c.what;
      absl::StatusOr<v1::Session> after =
          client->GetSession(c.request.session_id());
      ASSERT_EQ(before.ok(), after.ok()) << c.what;
      if (before.ok()) {
        EXPECT_EQ(before->solver(), after->solver()) << c.what;
        EXPECT_EQ(before->tells(), after->tells()) << c.what;
        EXPECT_EQ(before->pending_trial_ids_size(),
                  after->pending_trial_ids_size())
            << c.what;
        EXPECT_TRUE(after->switched_from().empty()) << c.what;
      }
    }

    // A fork into a solver that takes no transfer.
    v1::ForkSessionRequest fork;
    fork.set_session_id("adam-src");
    fork.set_new_session_id("tr");
    fork.mutable_overrides()->mutable_trust_region();
    EXPECT_THAT(client->ForkSession(fork),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("from adam to trust_region is not "
                                   "supported")));
    EXPECT_THAT(client->GetSession("tr"),
                StatusIs(absl::StatusCode::kNotFound));

    // Warm starts a creation request may not carry (through an import).
    absl::StatusOr<v1::SessionSnapshot> snapshot =
        client->ExportSession("lbfgs-src");
    ASSERT_OK(snapshot);
    snapshot->clear_tells();
    auto import_with = [&](auto edit) {
      v1::SessionSnapshot s = *snapshot;
      edit(*s.mutable_create());
      return client->ImportSession(s, "warm");
    };
    EXPECT_THAT(import_with([](v1::CreateSessionRequest& c) {
                  c.mutable_adam();
                  c.mutable_warm_start();
                }),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("warm_start is set for solver adam; only "
                                   "lbfgs and trust_region (quasi_newton) "
                                   "take a warm start")));
    EXPECT_THAT(import_with([](v1::CreateSessionRequest& c) {
                  v1::WarmStart* w = c.mutable_warm_start();
                  v1::Vector* sv = w->add_s();
                  v1::Vector* yv = w->add_y();
                  for (int i = 0; i < 5; ++i) {
                    sv->add_values(1.0);
                    yv->add_values(-1.0);
                  }
                }),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("warm_start pair 0 has s.y = -5; a "
                                   "curvature pair needs s.y > 0")));
    EXPECT_THAT(import_with([](v1::CreateSessionRequest& c) {
                  c.mutable_warm_start()->set_value(1.0);
                }),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("warm_start.value and warm_start.gradient "
                                   "are set together")));
    EXPECT_THAT(client->GetSession("warm"),
                StatusIs(absl::StatusCode::kNotFound));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

TEST(SwitchSolver, InMemoryServerRefuses) {
  OptdProcess optd;
  ASSERT_OK(optd.Start({"--data_dir="}));
  {
    absl::StatusOr<Client> client = Client::Connect(optd.address());
    ASSERT_OK(client);
    ASSERT_OK(CreateAdam(*client, "mem", 2));
    v1::SwitchSolverRequest request;
    request.set_session_id("mem");
    request.mutable_lbfgs();
    EXPECT_THAT(client->SwitchSolver(request),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("lives in memory only")));
    absl::StatusOr<v1::Session> after = client->GetSession("mem");
    ASSERT_OK(after);
    EXPECT_EQ(after->solver(), "adam");
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

}  // namespace
}  // namespace optd::testing
