// Races between replicas (issue 17), on real replicas in this process
// (bench/fault_harness.h's Cluster) through the C++ client: the same named
// session created through two replicas at once, and a rebuild racing
// DeleteSession. The file-system seam holds an operation where the race needs
// it, so each test is deterministic.
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "bench/fault_harness.h"
#include "client/session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"
#include "tests/test_objectives.h"

namespace optd::faults {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using Op = server::FaultInjectionEnv::Op;

std::string Root(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/races_", getpid(), "_", name);
}

absl::StatusOr<client::Session> CreateNamed(const client::Client& client,
                                            const std::string& id,
                                            int shards = 0) {
  client::SessionOptions options;
  options.session_id = id;
  options.shards = shards;
  options.direct = false;
  return client::Session::Create(client, {-1.2, 1.0, -1.2, 1.0},
                                 client::SolverSpec::Lbfgs(), options);
}

// Behind a load balancer two clients may create the same session id through
// two replicas. Each replica alone saw the id free and created its own
// session; any replica then answered for one or the other. The id's arbiter
// now grants it once.
TEST(ReplicaRaces, ANamedSessionIsCreatedOnceWhicheverReplicasAreAsked) {
  Cluster cluster(3, Root("named"));
  ASSERT_OK(cluster.StartAll());
  std::vector<client::Client> clients;
  for (int r = 0; r < 3; ++r) {
    ASSERT_OK_AND_ASSIGN(client::Client c, cluster.Connect(r));
    clients.push_back(std::move(c));
  }
  // One after the other.
  ASSERT_OK(CreateNamed(clients[1], "dup").status());
  for (int r : {0, 2}) {
    EXPECT_THAT(CreateNamed(clients[r], "dup").status(),
                StatusIs(absl::StatusCode::kAlreadyExists,
                         HasSubstr("session \"dup\" already exists on replica "
                                   "1")));
  }
  // Three at once, for several ids (several arbiters).
  for (int i = 0; i < 8; ++i) {
    const std::string id = absl::StrCat("race-", i);
    std::atomic<int> created{0}, refused{0};
    absl::Notification go;
    std::vector<std::thread> threads;
    for (int r = 0; r < 3; ++r) {
      threads.emplace_back([&, r] {
        go.WaitForNotification();
        absl::Status status = CreateNamed(clients[r], id).status();
        if (status.ok()) {
          ++created;
        } else if (absl::IsAlreadyExists(status)) {
          ++refused;
        } else {
          ADD_FAILURE() << status;
        }
      });
    }
    go.Notify();
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(created.load(), 1) << id;
    EXPECT_EQ(refused.load(), 2) << id;
  }
  // Deleted, the id is free again, through any replica.
  ASSERT_OK(clients[0].DeleteSession("dup"));
  EXPECT_OK(CreateNamed(clients[2], "dup").status());
}

// A sharded session is rebuilt when a replica it needs comes back; a
// DeleteSession while the rebuild ran used to leave the rebuilt session in
// place with a closed journal, where every tell waited forever.
TEST(ReplicaRaces, ARebuildRacingDeleteIsThrownAway) {
  Cluster cluster(2, Root("rebuild"));
  ASSERT_OK(cluster.StartAll());
  ASSERT_OK_AND_ASSIGN(client::Client client, cluster.Connect(0));
  client::SessionOptions options;
  options.session_id = "r";
  options.shards = 2;
  options.direct = false;
  const std::vector<double> x0(9000, 0.5);
  ASSERT_OK_AND_ASSIGN(client::Session session,
                       client::Session::Create(
                           client, x0, client::SolverSpec::Lbfgs(), options));
  std::vector<client::Trial> trials = session.first_trials();
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(
        client::Answer answer,
        session.Tell(trials[0].id, testing::ExtendedRosenbrock(trials[0])));
    trials = answer.trials;
  }
  // Replica 1 is killed and back: the session must be rebuilt.
  cluster.PowerLoss(1, server::FaultInjectionEnv::Loss::kKeep, 1);
  EXPECT_THAT(session.Tell(trials[0].id, testing::ExtendedRosenbrock(trials[0]))
                  .status(),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ASSERT_OK(cluster.Start(1));
  // The rebuild stops while replica 1 creates its slice (reading its staged
  // vectors from disk)...
  absl::Notification reached, release;
  cluster.env(1).SetHook([&](Op op, const std::string& path) {
    if (op == Op::kRead && path.find("/slices/r.") != std::string::npos &&
        !reached.HasBeenNotified()) {
      reached.Notify();
      release.WaitForNotification();
    }
  });
  absl::Status rebuilt;
  std::thread rebuild([&] { rebuilt = client.GetSession("r").status(); });
  reached.WaitForNotification();
  // ...and the session is deleted meanwhile.
  ASSERT_OK_AND_ASSIGN(client::Client other, cluster.Connect(0));
  ASSERT_OK(other.DeleteSession("r"));
  release.Notify();
  rebuild.join();
  cluster.env(1).SetHook(nullptr);
  EXPECT_THAT(rebuilt, StatusIs(absl::StatusCode::kNotFound,
                                HasSubstr("was deleted while it was being "
                                          "rebuilt")));
  // Gone for good: a tell is answered at once, not left waiting.
  EXPECT_THAT(other.GetSession("r").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(session.Tell(trials[0].id, testing::ExtendedRosenbrock(trials[0]))
                  .status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

}  // namespace
}  // namespace optd::faults
