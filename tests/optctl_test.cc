// End to end: the optctl CLI run as a process against a real optd: exit codes
// and the lines a user (or a script) relies on.
#include <stdio.h>
#include <sys/wait.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class OptctlEndToEnd : public OptdServerTest {
 protected:
  CommandRun Optctl(const std::string& args) {
    return testing::Optctl(optd().address(), args);
  }

  // An L-BFGS Rosenbrock session named `id` with its first trial answered.
  void CreateSession(const std::string& id) {
    SessionOptions options;
    options.session_id = id;
    absl::StatusOr<Session> session =
        Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
    ASSERT_OK(session);
    const client::Trial& t = session->first_trials().at(0);
    ASSERT_OK(session->Tell(t.id, Rosenbrock(t.x, t.wants)));
  }
};

TEST_F(OptctlEndToEnd, HealthPrintsServing) {
  const CommandRun run = Optctl("health");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "SERVING\n");
}

TEST_F(OptctlEndToEnd, DemoConvergesOnRosenbrock) {
  const CommandRun run = Optctl("demo");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const std::vector<std::string> lines = absl::StrSplit(run.output, '\n');
  ASSERT_GE(lines.size(), 3u) << run.output;
  EXPECT_THAT(lines[0], StartsWith("session "));
  EXPECT_THAT(lines[1], HasSubstr("lbfgs n=2"));
  EXPECT_THAT(lines[1], HasSubstr("CONVERGENCE"));
  EXPECT_THAT(lines[2],
              ContainsRegex("^x = \\[(1|0\\.9999[0-9]*|1\\.0000[0-9]*), "
                            "(1|0\\.9999[0-9]*|1\\.0000[0-9]*)\\]$"));
  // The session stays on the server, converged.
  const std::string id = lines[0].substr(std::string("session ").size());
  absl::StatusOr<v1::Session> session = client().GetSession(id);
  ASSERT_OK(session);
  EXPECT_EQ(session->state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(session->labels().at("demo"), "rosenbrock");
}

TEST_F(OptctlEndToEnd, DemoRunsTheExtendedRosenbrockAndRefusesOddN) {
  CommandRun run = Optctl("demo --n=20");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("lbfgs n=20"));
  EXPECT_THAT(run.output, HasSubstr("CONVERGENCE"));
  run = Optctl("demo --n=3");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, StartsWith("INVALID_ARGUMENT: --n=3"));
}

TEST_F(OptctlEndToEnd, ListPrintsATableOfSessions) {
  CreateSession("listed-1");
  CreateSession("listed-2");
  const CommandRun run = Optctl("list");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const std::vector<std::string> lines =
      absl::StrSplit(run.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << run.output;
  EXPECT_THAT(lines[0], ContainsRegex("^ID +SOLVER +STATE +N +ITERATIONS +"
                                      "EVALUATIONS +BEST VALUE$"));
  EXPECT_THAT(lines[1],
              ContainsRegex("^listed-1 +lbfgs +RUNNING +2 +0 +1 +(24\\.2|-)$"));
  EXPECT_THAT(lines[2], StartsWith("listed-2 "));
}

TEST_F(OptctlEndToEnd, GetPrintsTheSessionAndItsJson) {
  CreateSession("got");
  CommandRun run = Optctl("get got");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, ContainsRegex("session +got\n"));
  EXPECT_THAT(run.output, ContainsRegex("solver +lbfgs\n"));
  EXPECT_THAT(run.output, ContainsRegex("state +RUNNING\n"));
  EXPECT_THAT(run.output, ContainsRegex("dimension +2\n"));
  EXPECT_THAT(run.output, ContainsRegex("evaluations +1\n"));
  EXPECT_THAT(run.output, ContainsRegex("pending +trial 2\n"));
  EXPECT_THAT(run.output, HasSubstr("memory: 10"));

  run = Optctl("get got --json --include_x");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("\"sessionId\": \"got\""));
  EXPECT_THAT(run.output, HasSubstr("\"state\": \"SESSION_STATE_RUNNING\""));
  EXPECT_THAT(run.output,
              ContainsRegex("\"bestX\": \\{[[:space:]]*\"values\": \\["));
  EXPECT_THAT(run.output, HasSubstr("\"memory\": 10"));
}

TEST_F(OptctlEndToEnd, HistoryPrintsTheTrialLogAsCsvAndJson) {
  SessionOptions options;
  options.session_id = "hpo";
  options.encoding = v1::VECTOR_ENCODING_VALUES;
  options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  options.lower = {-2.0, -2.0};
  options.upper = {0.5, 2.0};
  absl::StatusOr<Session> session =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
  ASSERT_OK(session);
  ASSERT_EQ(session->first_trials().size(), 5u);  // x and the 2n stencil
  for (int k : {2, 0}) {
    const client::Trial& t = session->first_trials()[k];
    client::Evaluation e = Rosenbrock(t.x, t.wants);
    e.note = k == 2 ? "lr=0.1, seed 3" : "center";
    v1::TellRequest tell =
        client::MakeTellRequest(t.id, e, v1::VECTOR_ENCODING_VALUES);
    tell.set_worker_id(absl::StrCat("worker-", k));
    ASSERT_OK(session->Tell(tell));
  }

  CommandRun run = Optctl("history hpo");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const std::vector<std::string> lines =
      absl::StrSplit(run.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << run.output;
  EXPECT_EQ(lines[0],
            "trial_id,time,worker_id,wants,value,gradient_max_norm,failed,"
            "weight,note,x0,x1");
  EXPECT_THAT(lines[1], StartsWith("3,"));
  // Trial 3 is x + h e_0 (h = cbrt(eps) * 1.2), a note with a comma quoted.
  EXPECT_THAT(lines[1], ContainsRegex(",worker-2,VALUE,24.198[0-9]+,,false,1,"
                                      "\"lr=0.1, seed 3\",-1.19999[0-9]+,1$"));
  EXPECT_THAT(lines[2], ContainsRegex("^1,.*,worker-0,VALUE,24.19999[0-9]+,,"
                                      "false,1,center,-1.2,1$"));

  run = Optctl("history hpo --after=1 --format=json");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const std::vector<std::string> json =
      absl::StrSplit(run.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(json.size(), 1u) << run.output;
  EXPECT_THAT(json[0], HasSubstr("\"trialId\":\"3\""));
  EXPECT_THAT(json[0], HasSubstr("\"note\":\"lr=0.1, seed 3\""));
  EXPECT_THAT(json[0], HasSubstr("\"workerId\":\"worker-2\""));

  run = Optctl("history hpo --format=xml");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output,
              HasSubstr("--format is \"xml\"; history prints csv or json"));
}

TEST_F(OptctlEndToEnd, GetPrintsGradientChecks) {
  SessionOptions options;
  options.session_id = "checked";
  options.gradient_check = v1::GradientCheckOptions();
  absl::StatusOr<Session> session =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
  ASSERT_OK(session);
  for (const client::Trial& t : session->first_trials()) {
    client::Evaluation e = Rosenbrock(t.x, t.wants);
    if (!e.gradient.empty()) e.gradient[1] += 1.0;  // a wrong coordinate
    ASSERT_OK(session->Tell(t.id, e));
  }
  CommandRun run = Optctl("get checked");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output,
              ContainsRegex("gradient check +iteration 0: max relative error "
                            "[0-9.e-]+ \\(coordinate 1: told -87, central "
                            "difference -88"));
}

TEST_F(OptctlEndToEnd, GetPrintsEachSolversResolvedOptions) {
  // optctl reads Session.options by reflection, so every solver's options
  // print without optctl knowing them: a first-order method and least
  // squares, with their defaults resolved by the server.
  v1::SgdOptions sgd;
  sgd.set_lr(0.05);
  sgd.set_momentum(0.9);
  sgd.set_nesterov(true);
  v1::LionOptions lion;
  v1::LeastSquaresOptions least_squares;
  least_squares.set_residuals(3);
  struct Case {
    std::string id;
    SolverSpec spec;
    std::vector<std::string> expected;
  };
  for (const Case& c : std::vector<Case>{
           {"sgd-1",
            SolverSpec::Sgd(sgd),
            {"solver +sgd\n", "options +.*lr: 0.05", "options +.*momentum: 0.9",
             "options +.*nesterov: true"}},
           {"lion-1",
            SolverSpec::Lion(lion),
            {"solver +lion\n", "options +.*lr: 0.0001",
             "options +.*beta1: 0.9"}},
           {"lsq-1",
            SolverSpec::LeastSquares(least_squares),
            {"solver +least_squares\n", "options +.*residuals: 3",
             "options +.*ftol: 1e-08"}},
       }) {
    SessionOptions options;
    options.session_id = c.id;
    ASSERT_OK(Session::Create(client(), {-1.2, 1.0}, c.spec, options));
    const CommandRun run = Optctl("get " + c.id);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    for (const std::string& pattern : c.expected) {
      EXPECT_THAT(run.output, ContainsRegex(pattern)) << c.id;
    }
  }
}

TEST_F(OptctlEndToEnd, ForkStartsANewSessionWithChangedOptions) {
  v1::AdamOptions adam;
  adam.set_lr(0.05);
  SessionOptions options;
  options.session_id = "adam-src";
  absl::StatusOr<Session> source =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Adam(adam), options);
  ASSERT_OK(source);
  std::vector<client::Trial> trials = source->first_trials();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<client::Answer> answer =
        source->Tell(trials.at(0).id, Rosenbrock(trials[0].x, trials[0].wants));
    ASSERT_OK(answer);
    trials = answer->trials;
  }

  CommandRun run =
      Optctl("fork adam-src --id=adam-hot --step=2 --options='lr: 0.5'");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output,
              HasSubstr("forked adam-hot from adam-src at step 2 (RUNNING); "
                        "outstanding trial 3"));
  run = Optctl("get adam-hot");
  EXPECT_THAT(run.output, ContainsRegex("options +.*lr: 0.5"));
  EXPECT_THAT(run.output, ContainsRegex("tells +2 \\("));

  // Options that are not the solver's message, and a step out of range.
  run = Optctl("fork adam-src --options='momentum: 0.9'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output,
              HasSubstr("INVALID_ARGUMENT: --options=momentum: 0.9 is not "
                        "optd.v1.AdamOptions"));
  run = Optctl("fork adam-src --step=9");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output,
              HasSubstr("INVALID_ARGUMENT: step is 9; session \"adam-src\" "
                        "can fork from steps [0, 3]"));
}

TEST_F(OptctlEndToEnd, SwitchContinuesTheSessionUnderLbfgs) {
  v1::AdamOptions adam;
  adam.set_lr(0.01);
  SessionOptions options;
  options.session_id = "adam-run";
  absl::StatusOr<Session> source =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Adam(adam), options);
  ASSERT_OK(source);
  std::vector<client::Trial> trials = source->first_trials();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<client::Answer> answer =
        source->Tell(trials.at(0).id, Rosenbrock(trials[0].x, trials[0].wants));
    ASSERT_OK(answer);
    trials = answer->trials;
  }

  CommandRun run = Optctl("switch adam-run --options='memory: 4'");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, ContainsRegex("switched adam-run to lbfgs after "
                                        "step 3 \\([0-9] curvature pairs "
                                        "carried\\); outstanding trial 5"));
  run = Optctl("get adam-run");
  EXPECT_THAT(run.output, HasSubstr("lbfgs"));

  run = Optctl("switch adam-run --solver=adam");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("INVALID_ARGUMENT: --solver is \"adam\"; "
                                    "switch takes lbfgs"));
  run = Optctl("switch adam-run --options='lr: 1'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("is not optd.v1.LbfgsOptions"));
  run = Optctl("switch adam-run");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("from lbfgs to lbfgs is not supported"));
}

TEST_F(OptctlEndToEnd, DeleteThenGetIsNotFound) {
  CreateSession("doomed");
  CommandRun run = Optctl("delete doomed");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output, "deleted doomed\n");
  run = Optctl("get doomed");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.output, "NOT_FOUND: session \"doomed\" not found\n");
  run = Optctl("delete doomed");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, StartsWith("NOT_FOUND: "));
}

TEST_F(OptctlEndToEnd, WatchPrintsProgressUntilTheSessionEnds) {
  SessionOptions options;
  options.session_id = "watched";
  absl::StatusOr<Session> session =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
  ASSERT_OK(session);
  // A worker evaluates slowly while optctl watches.
  absl::StatusOr<client::Result> result;
  std::thread worker([&] {
    absl::SleepFor(absl::Milliseconds(300));
    result = RunUnary(*session,
                      [](const std::vector<double>& x, client::Wants wants) {
                        absl::SleepFor(absl::Milliseconds(10));
                        return Rosenbrock(x, wants);
                      });
  });
  const CommandRun run = Optctl("watch watched --interval=50ms");
  worker.join();
  ASSERT_OK(result);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const std::vector<std::string> lines =
      absl::StrSplit(run.output, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 3u) << run.output;
  EXPECT_THAT(lines.front(), ContainsRegex("RUNNING +iteration 0 +"
                                           "evaluations 0 +best value"));
  EXPECT_THAT(lines[lines.size() - 2],
              ContainsRegex("CONVERGED +iteration [0-9]+ +evaluations "
                            "[0-9]+ +best value"));
  EXPECT_EQ(lines.back(), result->brief_report);
}

TEST_F(OptctlEndToEnd, UsageErrorsExitOne) {
  CommandRun run = Optctl("frobnicate");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output,
              StartsWith("INVALID_ARGUMENT: unknown command \"frobnicate\""));
  run = Optctl("get");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("takes one argument, ID"));
  run = Optctl("");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, HasSubstr("no command given"));
}

TEST(OptctlWithoutServer, UnreachableServerIsUnavailable) {
  const CommandRun run =
      Optctl("127.0.0.1:1", "--connect_timeout=200ms health");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.output, StartsWith("UNAVAILABLE: cannot connect to optd at "
                                     "127.0.0.1:1"));
}

TEST(OptctlWithoutServer, HelpDocumentsEveryCommand) {
  const CommandRun run = Optctl("127.0.0.1:1", "--help");
  for (const char* command :
       {"health", "list", "get ID", "delete ID", "watch ID", "demo"}) {
    EXPECT_THAT(run.output, HasSubstr(absl::StrCat("\n  ", command, " ")))
        << command;
  }
  EXPECT_THAT(run.output, HasSubstr("--server"));
}

}  // namespace
}  // namespace optd::testing
