// End to end: the server's limits (RESOURCE_EXHAUSTED), a dead server
// (UNAVAILABLE), and SIGTERM while a stream is open (drain, exit 0).
#include <signal.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Client;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::testing::HasSubstr;

using LifecycleEndToEnd = OptdServerTest;

TEST_F(LifecycleEndToEnd, HealthIsServing) {
  absl::StatusOr<client::ServingStatus> status = client().Health();
  ASSERT_OK(status);
  EXPECT_EQ(*status, client::ServingStatus::kServing);
  // The standard service answers NOT_FOUND for a service it does not know.
  EXPECT_THAT(client().Health("no.such.Service"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(LifecycleEndToEnd, LimitsAreResourceExhaustedNamingTheFlag) {
  // A second server, beside the fixture's, with small limits.
  OptdProcess limited;
  ASSERT_OK(limited.Start({"--max_sessions=1", "--max_dimension=10"}));
  // Scoped: the connection closes before the SIGTERM below, which optd then
  // need not wait for.
  {
    absl::StatusOr<Client> client = Client::Connect(limited.address());
    ASSERT_OK(client);

    SessionOptions options;
    options.session_id = "too-big";
    EXPECT_THAT(Session::Create(*client, std::vector<double>(11, 1.0),
                                SolverSpec::Lbfgs(), options),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr("x0 has 11 elements; this server's limit is "
                                   "10 (--max_dimension)")));
    EXPECT_THAT(client->GetSession("too-big"),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("too-big")));

    options.session_id = "first";
    absl::StatusOr<Session> first = Session::Create(
        *client, std::vector<double>(10, 1.0), SolverSpec::Lbfgs(), options);
    ASSERT_OK(first);
    absl::StatusOr<v1::Session> before = first->Get(/*include_x=*/true);
    ASSERT_OK(before);

    options.session_id = "second";
    EXPECT_THAT(Session::Create(*client, {1.0}, SolverSpec::Adam(), options),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         HasSubstr("its limit (--max_sessions=1)")));
    absl::StatusOr<std::vector<v1::Session>> sessions = client->ListSessions();
    ASSERT_OK(sessions);
    ASSERT_EQ(sessions->size(), 1u);
    EXPECT_EQ((*sessions)[0].session_id(), "first");
    absl::StatusOr<v1::Session> after = first->Get(/*include_x=*/true);
    ASSERT_OK(after);
    EXPECT_EQ(after->DebugString(), before->DebugString());

    // Deleting the first makes room again.
    ASSERT_OK(first->Delete());
    EXPECT_OK(Session::Create(*client, {1.0}, SolverSpec::Adam(), options));
  }

  EXPECT_EQ(limited.Terminate(absl::Seconds(10)), std::optional<int>(0))
      << limited.Log();
}

TEST_F(LifecycleEndToEnd, KilledServerIsUnavailable) {
  absl::StatusOr<Session> session =
      Session::Create(client(), {-1.2, 1.0}, SolverSpec::Lbfgs());
  ASSERT_OK(session);
  optd().Signal(SIGKILL);
  EXPECT_EQ(optd().Wait(absl::Seconds(10)), std::optional<int>(128 + SIGKILL));

  const client::Trial& first = session->first_trials().at(0);
  EXPECT_THAT(session->Tell(first.id, Rosenbrock(first.x, first.wants)),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::Not(::testing::IsEmpty())));
  EXPECT_THAT(client().GetSession(session->id()),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::Not(::testing::IsEmpty())));
  EXPECT_THAT(client().Health(),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  // A new connection says where it tried.
  client::ClientOptions options;
  options.connect_timeout = absl::Milliseconds(300);
  EXPECT_THAT(
      Client::Connect(optd().address(), options),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr(optd().address())));
}

TEST_F(LifecycleEndToEnd, SigtermWhileAStreamIsOpenExitsZeroWithinGrace) {
  constexpr double kGraceSeconds = 2;
  OptdProcess draining;
  ASSERT_OK(draining.Start({"--shutdown_grace_seconds=2"}));
  absl::StatusOr<Client> client = Client::Connect(draining.address());
  ASSERT_OK(client);

  // An Adam session that never ends on its own, evaluated slowly.
  std::atomic<int> evaluations{0};
  absl::StatusOr<client::Result> result;
  std::thread worker([&] {
    result =
        client::RunStream(*client, {1.0, 2.0, 3.0}, SolverSpec::Adam(),
                          [&](const std::vector<double>& x, client::Wants) {
                            ++evaluations;
                            absl::SleepFor(absl::Milliseconds(20));
                            client::Evaluation e;
                            e.gradient = x;
                            return e;
                          });
  });
  const absl::Time wait_until = absl::Now() + absl::Seconds(30);
  while (evaluations < 5 && absl::Now() < wait_until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  // No ASSERT before join(): the worker must be joined on every path.
  EXPECT_GE(evaluations.load(), 5) << draining.Log();

  const absl::Time signalled = absl::Now();
  draining.Signal(SIGTERM);
  // Grace plus a margin for process teardown.
  const std::optional<int> code =
      draining.Wait(absl::Seconds(kGraceSeconds + 3));
  const absl::Duration took = absl::Now() - signalled;
  EXPECT_EQ(code, std::optional<int>(0)) << draining.Log();
  EXPECT_LT(took, absl::Seconds(kGraceSeconds + 3));
  worker.join();
  // The stream did not end with a summary: the server went away.
  EXPECT_FALSE(result.ok());
  if (!code.has_value()) draining.Terminate(absl::Seconds(1));
}

}  // namespace
}  // namespace optd::testing
