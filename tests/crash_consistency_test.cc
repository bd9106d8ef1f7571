// The crash-consistency suite (issue 17; docs/durability.md): for each fault
// class, sessions of every solver (one replica and K = 2, 3; durable and
// checkpointed; the direct path and the gateway) on real in-process replicas
// whose disks fail through a FaultInjectionEnv; after recovery every
// acknowledged tell is there, every replica started, and every session ends
// bitwise as an uninterrupted run (bench/fault_harness.h). Deterministic:
// fixed sweeps and seeds; bench/faults sweeps wider.
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/fault_harness.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::faults {
namespace {

using Loss = server::FaultInjectionEnv::Loss;

std::string Root(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/crash_", getpid(), "_", name);
}

// Runs `scenario` and checks the promise.
void Expect(const Scenario& scenario) {
  SCOPED_TRACE(scenario.name);
  absl::StatusOr<Outcome> outcome = Run(scenario, Root(scenario.name));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->refused_to_start);
  EXPECT_EQ(outcome->acked_lost, 0);
  EXPECT_EQ(outcome->mismatched, 0);
  EXPECT_GT(outcome->acked, 0);
  EXPECT_GT(outcome->faults_fired, 0) << "the fault never fired";
  EXPECT_TRUE(outcome->problems.empty())
      << absl::StrJoin(outcome->problems, "\n");
}

Scenario Make(std::string name, int replicas, FaultKind fault, int64_t k) {
  Scenario s;
  s.name = std::move(name);
  s.replicas = replicas;
  s.sessions = StandardSessions(replicas);
  s.fault = fault;
  s.k = k;
  return s;
}

// ENOSPC from the k-th write on, for a sweep of k: the sessions refuse tells
// while the disk is full and take them again once it has room.
TEST(CrashConsistency, DiskFullAtEveryKthWriteThenRoomAgain) {
  for (int64_t k : {1, 2, 3, 4, 6, 9, 14, 22, 35, 60}) {
    Expect(Make(absl::StrCat("full-", k), 1, FaultKind::kDiskFull, k));
  }
}

TEST(CrashConsistency, DiskFullOnShardedReplicasThenRoomAgain) {
  for (int64_t k : {1, 5, 25}) {
    Expect(Make(absl::StrCat("full-k3-", k), 3, FaultKind::kDiskFull, k));
  }
  // One replica's disk alone.
  Scenario one = Make("full-replica-1", 3, FaultKind::kDiskFull, 3);
  one.victim = 1;
  Expect(one);
}

// A full disk, then the power goes before there is room: recovery.
TEST(CrashConsistency, DiskFullThenPowerLoss) {
  for (int64_t k : {1, 3, 7, 20}) {
    for (Loss loss : {Loss::kDrop, Loss::kGarbage}) {
      Scenario s =
          Make(absl::StrCat("full-loss-", k, "-", static_cast<int>(loss)),
               k == 7 ? 3 : 1, FaultKind::kDiskFull, k);
      s.then_power_loss = true;
      s.loss = loss;
      s.seed = static_cast<uint64_t>(k);
      Expect(s);
    }
  }
}

// The k-th fdatasync fails (EIO): what it was to write is lost at the next
// power loss whatever later syncs say, so the file must be rewritten.
TEST(CrashConsistency, SyncFailureAtEveryKthSync) {
  for (int64_t k : {1, 2, 3, 5, 8, 13}) {
    Expect(Make(absl::StrCat("sync-", k), 1, FaultKind::kSyncFailure, k));
    Scenario crash = Make(absl::StrCat("sync-loss-", k), k % 2 == 0 ? 3 : 1,
                          FaultKind::kSyncFailure, k);
    crash.then_power_loss = true;
    crash.seed = static_cast<uint64_t>(k);
    Expect(crash);
  }
}

// Power loss at several points, every loss mode: the unsynced tail dropped,
// torn, or garbage followed by valid-looking records.
TEST(CrashConsistency, PowerLossDropsTearsOrGarblesWhatWasNotSynced) {
  int run = 0;
  for (Loss loss : {Loss::kDrop, Loss::kTear, Loss::kGarbage}) {
    for (uint64_t seed : {1, 2, 3}) {
      Scenario s = Make(absl::StrCat("power-", run), run % 3 == 2 ? 3 : 1,
                        FaultKind::kPowerLoss, 1 + run % 4);
      s.loss = loss;
      s.seed = seed;
      Expect(s);
      ++run;
    }
  }
}

// kill -9 of each replica in turn: the home of some sessions, a shard holder
// of others.
TEST(CrashConsistency, KillOfHomeAndShardReplicas) {
  for (int victim : {0, 1, 2}) {
    for (int64_t k : {1, 4}) {
      Scenario s =
          Make(absl::StrCat("kill-", victim, "-", k), 3, FaultKind::kKill, k);
      s.victim = victim;
      Expect(s);
    }
  }
}

}  // namespace
}  // namespace optd::faults
