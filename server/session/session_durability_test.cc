#include "server/session/session_durability.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/fault_injection_env.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "server/testing/fake_solver.h"
#include "server/testing/rosenbrock.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::FakeSolver;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

v1::TellRequest Tell(uint64_t trial_id) {
  v1::TellRequest tell;
  tell.set_trial_id(trial_id);
  tell.set_value(1.0 / trial_id);
  *tell.mutable_gradient() = Values({1.0, 2.0});
  return tell;
}

// The session's side of a checkpoint: counts the calls, and fails them
// while `error` is set.
struct CheckpointBuilder {
  int calls = 0;
  absl::Status error;
  absl::Status operator()(v1::SessionCheckpoint* checkpoint) {
    ++calls;
    checkpoint->set_last_trial_id(calls);
    return error;
  }
};

class SessionDurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/session_durability_test_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    StoreOptions options;
    options.data_dir = dir_;
    options.commit_threads = 1;
    // Repairs happen when a test calls Maintain(), not on a timer.
    options.retry_interval = absl::Seconds(3600);
    options.env = &env_;
    absl::StatusOr<std::unique_ptr<SessionStore>> store =
        SessionStore::Open(options);
    ASSERT_OK(store.status());
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The journal of session "s", with its own syncs (no shared log).
  std::shared_ptr<SessionJournal> NewJournal(int64_t checkpoint_interval) {
    v1::SessionSnapshot header;
    header.set_format_version(1);
    header.mutable_create()->set_session_id("s");
    absl::StatusOr<std::shared_ptr<SessionJournal>> journal = store_->Create(
        "s", FrameRecord(header.SerializeAsString()), 0, checkpoint_interval,
        /*use_wal=*/false, 0);
    EXPECT_OK(journal.status());
    return journal.ok() ? *journal : nullptr;
  }

  // One tell as a Session applies it: BeforeTell, the tell, AfterTell.
  absl::Status ApplyTell(SessionDurability& durability, const Solver& solver,
                         const v1::TellRequest& tell,
                         CheckpointBuilder& builder, int64_t dimension = 2) {
    auto build = [&builder](v1::SessionCheckpoint* checkpoint) {
      return builder(checkpoint);
    };
    if (absl::Status s = durability.BeforeTell(tell.trial_id(), build);
        !s.ok()) {
      return s;
    }
    durability.CountTell();
    durability.AfterTell(tell, kNow, solver, dimension, tell.trial_id(), build);
    return absl::OkStatus();
  }

  void Flush(SessionDurability& durability, const Solver& solver,
             CheckpointBuilder& builder) {
    durability.Flush(
        solver, 1, [&builder](v1::SessionCheckpoint* c) { return builder(c); });
  }

  std::string dir_;
  FaultInjectionEnv env_;
  std::unique_ptr<SessionStore> store_;
};

TEST_F(SessionDurabilityTest, CheckpointsOnlyNeedAnIntervalAndASavableState) {
  FakeSolver solver(2, 1);
  EXPECT_FALSE(SessionDurability("s", 0, nullptr).CheckpointsOnly(solver));
  EXPECT_FALSE(SessionDurability("s", 5, nullptr).CheckpointsOnly(solver));
  solver.set_state_bytes(100);
  EXPECT_FALSE(SessionDurability("s", 0, nullptr).CheckpointsOnly(solver));
  EXPECT_TRUE(SessionDurability("s", 5, nullptr).CheckpointsOnly(solver));
}

TEST_F(SessionDurabilityTest, WithoutAJournalTellsAreCountedOnly) {
  FakeSolver solver(2, 1);
  solver.set_state_bytes(100);
  SessionDurability durability("s", 1, nullptr);
  CheckpointBuilder builder;
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_OK(ApplyTell(durability, solver, Tell(id), builder));
  }
  EXPECT_EQ(durability.tells(), 3);
  EXPECT_EQ(durability.durable_step(), 0);
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 0);
  DurableTicket ticket;
  EXPECT_FALSE(durability.Ticket(&ticket));
  // An empty ticket answers at once.
  bool answered = false;
  ticket.WhenDurable([&](absl::Status s) {
    EXPECT_OK(s);
    answered = true;
  });
  EXPECT_TRUE(answered);
}

TEST_F(SessionDurabilityTest, PerTellDurabilityJournalsEveryTell) {
  FakeSolver solver(2, 1);
  SessionDurability durability("s", 0, nullptr);
  durability.Attach(NewJournal(0));
  CheckpointBuilder builder;
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_OK(ApplyTell(durability, solver, Tell(id), builder));
  }
  EXPECT_EQ(builder.calls, 0);
  EXPECT_GT(durability.journal()->bytes_since_checkpoint(), 0u);
  // The answer to the last tell waits for its record: the third.
  DurableTicket ticket;
  ASSERT_TRUE(durability.Ticket(&ticket));
  EXPECT_EQ(ticket.journal, durability.journal());
  EXPECT_EQ(ticket.seq, 3u);
  absl::Notification durable;
  ticket.WhenDurable([&](absl::Status s) {
    EXPECT_OK(s);
    durable.Notify();
  });
  durable.WaitForNotification();
  EXPECT_EQ(durability.durable_step(), 3);
  // Nothing to flush: the journal holds every tell.
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 0);
}

TEST_F(SessionDurabilityTest, CheckpointModeCheckpointsEveryIntervalTells) {
  FakeSolver solver(2, 1);
  solver.set_state_bytes(100);
  SessionDurability durability("s", 3, nullptr);
  durability.Attach(NewJournal(3));
  CheckpointBuilder builder;
  for (uint64_t id = 1; id <= 5; ++id) {
    ASSERT_OK(ApplyTell(durability, solver, Tell(id), builder));
    EXPECT_EQ(builder.calls, id >= 3 ? 1 : 0) << "after tell " << id;
  }
  // No tell is journaled, and answers do not wait.
  EXPECT_EQ(durability.journal()->bytes_since_checkpoint(), 0u);
  DurableTicket ticket;
  EXPECT_FALSE(durability.Ticket(&ticket));
  // Shutdown checkpoints the two tells since, once.
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 2);
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 2);
  ASSERT_OK(durability.journal()->SyncNow());
  EXPECT_EQ(durability.journal()->durable_checkpoint(), 5u);
}

TEST_F(SessionDurabilityTest, CheckpointModeCheckpointsTheFinalState) {
  FakeSolver solver(2, 1);
  solver.set_state_bytes(100);
  SessionDurability durability("s", 1000, nullptr);
  durability.Attach(NewJournal(1000));
  CheckpointBuilder builder;
  ASSERT_OK(ApplyTell(durability, solver, Tell(1), builder));
  EXPECT_EQ(builder.calls, 0);
  solver.set_finished(true);
  ASSERT_OK(ApplyTell(durability, solver, Tell(2), builder));
  EXPECT_EQ(builder.calls, 1);
}

TEST_F(SessionDurabilityTest, PerTellJournalIsCompactedOnceTellsOutweighIt) {
  FakeSolver solver(2, 1);
  solver.set_state_bytes(8);
  SessionDurability durability("s", 0, nullptr);
  durability.Attach(NewJournal(0));
  CheckpointBuilder builder;
  // Small tells stay far below the 4 MiB a checkpoint waits for.
  ASSERT_OK(ApplyTell(durability, solver, Tell(1), builder));
  EXPECT_EQ(builder.calls, 0);
  // A direct-path tell of dimension 2^19 left 4 MiB on the replicas.
  v1::TellRequest sliced = Tell(2);
  sliced.set_sliced(true);
  ASSERT_OK(ApplyTell(durability, solver, sliced, builder, int64_t{1} << 19));
  EXPECT_EQ(builder.calls, 1);
  EXPECT_EQ(durability.journal()->bytes_since_checkpoint(), 0u);
  // The count starts over after the checkpoint.
  ASSERT_OK(ApplyTell(durability, solver, Tell(3), builder));
  EXPECT_EQ(builder.calls, 1);
  // Neither a finished solver nor one that cannot save its state compacts.
  solver.set_finished(true);
  ASSERT_OK(ApplyTell(durability, solver, sliced, builder, int64_t{1} << 19));
  solver.set_finished(false);
  solver.set_state_bytes(0);
  ASSERT_OK(ApplyTell(durability, solver, sliced, builder, int64_t{1} << 19));
  EXPECT_EQ(builder.calls, 1);
}

TEST_F(SessionDurabilityTest, AFailedCheckpointIsTriedAgain) {
  FakeSolver solver(2, 1);
  solver.set_state_bytes(100);
  SessionDurability durability("s", 2, nullptr);
  durability.Attach(NewJournal(2));
  CheckpointBuilder builder;
  builder.error = absl::InternalError("cannot save");
  ASSERT_OK(ApplyTell(durability, solver, Tell(1), builder));
  ASSERT_OK(ApplyTell(durability, solver, Tell(2), builder));
  EXPECT_EQ(builder.calls, 1);
  // Not sharded: the session still takes tells, and the checkpoint stays
  // due.
  ASSERT_OK(ApplyTell(durability, solver, Tell(3), builder));
  EXPECT_EQ(builder.calls, 2);
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 3);
  builder.error = absl::OkStatus();
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 4);
  Flush(durability, solver, builder);
  EXPECT_EQ(builder.calls, 4);
  ASSERT_OK(durability.journal()->SyncNow());
  EXPECT_EQ(durability.journal()->durable_checkpoint(), 3u);
}

TEST_F(SessionDurabilityTest, RestoredTellsCountTowardsTheNextCheckpoint) {
  FakeSolver solver(2, 1);
  solver.set_state_bytes(100);
  SessionDurability durability("s", 3, nullptr);
  durability.Attach(NewJournal(3));
  durability.NoteRestored(5);
  durability.RestoreTells(5);
  EXPECT_EQ(durability.tells(), 5);
  CheckpointBuilder builder;
  Flush(durability, solver, builder);  // nothing since the restored one
  EXPECT_EQ(builder.calls, 0);
  ASSERT_OK(ApplyTell(durability, solver, Tell(6), builder));
  ASSERT_OK(ApplyTell(durability, solver, Tell(7), builder));
  EXPECT_EQ(builder.calls, 0);
  ASSERT_OK(ApplyTell(durability, solver, Tell(8), builder));
  EXPECT_EQ(builder.calls, 1);
  ASSERT_OK(durability.journal()->SyncNow());
  EXPECT_EQ(durability.journal()->durable_checkpoint(), 8u);
}

TEST_F(SessionDurabilityTest, TellsAreRefusedWhileTheJournalCannotBeWritten) {
  FakeSolver solver(2, 1);
  SessionDurability durability("s", 0, nullptr);
  durability.Attach(NewJournal(0));
  CheckpointBuilder builder;
  ASSERT_OK(ApplyTell(durability, solver, Tell(1), builder));
  ASSERT_OK(durability.journal()->SyncNow());
  env_.Fail(FaultInjectionEnv::Op::kAppend, ENOSPC, /*skip=*/0,
            /*sticky=*/true, "/sessions/s.journal");
  ASSERT_OK(ApplyTell(durability, solver, Tell(2), builder));
  EXPECT_THAT(durability.journal()->SyncNow(),
              StatusIs(absl::StatusCode::kUnavailable));
  const auto refused = StatusIs(
      absl::StatusCode::kUnavailable,
      AllOf(StartsWith("the session's journal cannot be written ("),
            HasSubstr("No space left on device"),
            HasSubstr("; its last tells are not durable. optd tries again "
                      "every 3600 s and the session takes tells again once "
                      "that succeeds (free space or fix the disk), with "
                      "nothing acknowledged lost; retry the tell")));
  EXPECT_THAT(ApplyTell(durability, solver, Tell(3), builder), refused);
  EXPECT_EQ(durability.tells(), 2);  // the refused tell was not counted
  store_->Maintain();                // still failing
  EXPECT_THAT(ApplyTell(durability, solver, Tell(3), builder), refused);
  env_.ClearFaults();
  store_->Maintain();
  ASSERT_OK(ApplyTell(durability, solver, Tell(3), builder));
  ASSERT_OK(durability.journal()->SyncNow());
  EXPECT_EQ(durability.durable_step(), 3);
}

}  // namespace
}  // namespace optd::server
