// The durability promise (DESIGN §4, docs/durability.md) under the faults a
// storage system is tested against, injected through the file-system seam
// (FaultInjectionEnv): a full disk, failed writes and syncs, power loss with
// the unsynced tail dropped, torn or garbled, damage to synced records of the
// shared log, and a checkpoint racing DeleteSession. Each test drives real
// sessions through SessionManager and SessionStore and checks that every
// acknowledged tell survives, that recovery starts, and that the session then
// continues bit for bit as a twin in memory told the same tells.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/internal/endian.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/session_manager.h"
#include "server/storage/fault_injection_env.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "server/testing/rosenbrock.h"
#include "server/testing/session_steps.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::NextRosenbrockTell;
using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Op = FaultInjectionEnv::Op;
using Loss = FaultInjectionEnv::Loss;

// A session as its client saw it: every tell the server applied (in order)
// and how many of them were acknowledged.
struct ClientView {
  std::vector<v1::TellRequest> applied;
  size_t acked = 0;
};

class StorageFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/storage_faults_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(Open().ok());
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A store and manager on dir_ through env_, recovered.
  absl::StatusOr<SessionManager::RecoveryCounts> Open() {
    absl::StatusOr<std::unique_ptr<SessionStore>> store =
        SessionStore::Open({.data_dir = dir_,
                            .commit_threads = 2,
                            .wal_segment_bytes = segment_bytes_,
                            .retry_interval = absl::Hours(1),
                            .env = &env_});
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    manager_ = std::make_unique<SessionManager>(SessionLimits{}, defaults_,
                                                store_.get());
    return manager_->Recover();
  }

  // The machine loses power (`loss` applied to what was not synced), then
  // optd starts again on what is left.
  SessionManager::RecoveryCounts Crash(Loss loss, uint64_t seed = 1) {
    env_.PowerLoss(loss, seed);
    manager_.reset();
    store_.reset();
    env_.PowerOn();
    absl::StatusOr<SessionManager::RecoveryCounts> counts = Open();
    EXPECT_OK(counts);
    return counts.value_or(SessionManager::RecoveryCounts{});
  }

  static v1::CreateSessionRequest Request(const std::string& id,
                                          const std::string& solver,
                                          int n = 4) {
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    std::vector<double> x0(n);
    for (int i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
    *request.mutable_x0() = Values(x0);
    if (solver == "adam") {
      request.mutable_adam()->set_lr(0.01);
    } else if (solver == "trust_region") {
      request.mutable_trust_region();
    } else {
      request.mutable_lbfgs();
    }
    return request;
  }

  std::shared_ptr<Session> Find(const std::string& id) {
    absl::StatusOr<std::shared_ptr<Session>> session = manager_->Find(id);
    EXPECT_OK(session);
    return session.value_or(nullptr);
  }

  // Tells as the service does (the answer waits until durable); records what
  // was applied and acknowledged in `view`. Returns the answer's status.
  absl::Status Tell(const std::string& id, const v1::TellRequest& tell,
                    ClientView* view) {
    std::shared_ptr<Session> session = Find(id);
    if (session == nullptr) return absl::NotFoundError(id);
    DurableTicket ticket;
    v1::TellResponse answer;
    absl::Status status = session->Tell(tell, &answer, &ticket);
    if (!status.ok()) return status;  // refused: nothing applied
    if (!answer.duplicate()) view->applied.push_back(tell);
    absl::Notification done;
    ticket.WhenDurable([&](absl::Status durable) {
      status = durable;
      done.Notify();
    });
    done.WaitForNotification();
    if (status.ok()) view->acked = view->applied.size();
    return status;
  }

  // Tells the next trial of `id`; true when acknowledged.
  bool Step(const std::string& id, ClientView* view) {
    std::shared_ptr<Session> session = Find(id);
    return session != nullptr &&
           Tell(id, NextRosenbrockTell(*session), view).ok();
  }

  // Every acknowledged tell is in the recovered session, which is exactly a
  // twin told the same first tells() tells of what was applied.
  void ExpectNothingAckedLost(const std::string& id,
                              const v1::CreateSessionRequest& request,
                              const ClientView& view) {
    std::shared_ptr<Session> session = Find(id);
    ASSERT_NE(session, nullptr);
    const int64_t tells = session->tells();
    EXPECT_GE(tells, static_cast<int64_t>(view.acked)) << id;
    ASSERT_LE(tells, static_cast<int64_t>(view.applied.size())) << id;
    SessionManager memory;
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Session> twin, memory.Create(request));
    for (int64_t i = 0; i < tells; ++i) {
      v1::TellResponse answer;
      ASSERT_OK(twin->Tell(view.applied[i], &answer));
    }
    v1::AskResponse a, b;
    ASSERT_OK(session->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &a));
    ASSERT_OK(twin->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &b));
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString()) << id;
  }

  std::vector<std::string> WalSegments() {
    std::vector<std::string> segments;
    for (const auto& entry :
         std::filesystem::directory_iterator(dir_ + "/wal")) {
      segments.push_back(entry.path().string());
    }
    std::sort(segments.begin(), segments.end());
    return segments;
  }

  FaultInjectionEnv env_;
  std::string dir_;
  int64_t segment_bytes_ = int64_t{1} << 26;
  SessionDefaults defaults_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<SessionManager> manager_;
};

// A full disk: the tell that met it is not acknowledged, the session refuses
// tells with UNAVAILABLE naming the error, and takes them again once there
// is room, without a restart; a power loss afterwards loses nothing
// acknowledged. For a session through the shared log and for one that syncs
// its own journal.
TEST_F(StorageFaultsTest, AFullDiskRefusesTellsAndResumesWhenThereIsRoom) {
  defaults_.wal_max_dimension = 4;  // "small" through the log, "big" not
  manager_.reset();
  store_.reset();
  ASSERT_TRUE(Open().ok());
  const auto small = Request("small", "lbfgs", 4);
  const auto big = Request("big", "lbfgs", 8);
  ASSERT_OK(manager_->Create(small).status());
  ASSERT_OK(manager_->Create(big).status());
  ASSERT_TRUE(Find("small")->journal()->uses_wal());
  ASSERT_FALSE(Find("big")->journal()->uses_wal());
  ClientView views[2];
  const std::string ids[2] = {"small", "big"};
  for (int i = 0; i < 5; ++i) {
    for (int s = 0; s < 2; ++s) ASSERT_TRUE(Step(ids[s], &views[s]));
  }
  env_.Fail(Op::kAppend, ENOSPC, /*skip=*/0, /*sticky=*/true);
  for (int s = 0; s < 2; ++s) {
    const v1::TellRequest tell = NextRosenbrockTell(*Find(ids[s]));
    EXPECT_THAT(Tell(ids[s], tell, &views[s]),
                StatusIs(absl::StatusCode::kUnavailable,
                         AllOf(HasSubstr("journal cannot be written"),
                               HasSubstr("No space left on device"),
                               HasSubstr("retry the tell"))));
    // Later tells are refused before they change anything.
    EXPECT_THAT(Tell(ids[s], NextRosenbrockTell(*Find(ids[s])), &views[s]),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("No space left on device")));
    // The retry of the refused tell too, while the disk is full.
    EXPECT_THAT(Tell(ids[s], tell, &views[s]),
                StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  }
  store_->Maintain();  // still full: nothing changes
  EXPECT_EQ(store_->unhealthy_journals(), 2);
  env_.ClearFaults();
  store_->Maintain();
  EXPECT_EQ(store_->unhealthy_journals(), 0);
  for (int s = 0; s < 2; ++s) {
    // The client retries its unacknowledged tell: applied exactly once.
    ASSERT_OK(Tell(ids[s], views[s].applied.back(), &views[s]));
    EXPECT_EQ(views[s].acked, views[s].applied.size());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Step(ids[s], &views[s]));
  }
  Crash(Loss::kDrop);
  ExpectNothingAckedLost("small", small, views[0]);
  ExpectNothingAckedLost("big", big, views[1]);
  EXPECT_EQ(Find("small")->tells(), 9);
  EXPECT_EQ(Find("big")->tells(), 9);
}

// A failed fdatasync cannot be retried into success: Linux may have dropped
// the pages it failed to write. The repair writes a new journal from the old
// one read back; the injected fault loses the failed pages at the next
// power loss, so a journal that was merely synced again would lose tells.
TEST_F(StorageFaultsTest, AFailedSyncIsRepairedByRewritingTheJournal) {
  defaults_.wal_max_dimension = 0;
  manager_.reset();
  store_.reset();
  ASSERT_TRUE(Open().ok());
  const auto request = Request("s", "trust_region");
  ASSERT_OK(manager_->Create(request).status());
  ClientView view;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Step("s", &view));
  env_.Fail(Op::kSync, EIO, 0, false, "/sessions/s.journal");
  EXPECT_THAT(Tell("s", NextRosenbrockTell(*Find("s")), &view),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("Input/output error")));
  store_->Maintain();
  EXPECT_OK(Find("s")->journal()->health());
  ASSERT_OK(Tell("s", view.applied.back(), &view));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Step("s", &view));
  Crash(Loss::kDrop);
  ExpectNothingAckedLost("s", request, view);
  EXPECT_EQ(Find("s")->tells(), 9);
}

// When the shared log cannot be written, its tells are made durable in their
// own journals instead: the client sees nothing but an answer.
TEST_F(StorageFaultsTest, ALogFailureFailsOverToTheJournals) {
  const auto request = Request("s", "lbfgs");
  ASSERT_OK(manager_->Create(request).status());
  ClientView view;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Step("s", &view));
  env_.Fail(Op::kSync, EIO, 0, false, "/wal/");
  ASSERT_TRUE(Step("s", &view));
  EXPECT_FALSE(Find("s")->journal()->uses_wal());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Step("s", &view));
  EXPECT_EQ(view.acked, 7u);
  Crash(Loss::kDrop);
  ExpectNothingAckedLost("s", request, view);
  EXPECT_EQ(Find("s")->tells(), 7);
}

// Issue 17's first finding: six Adam sessions telling on a 600 KiB disk until
// it is full, then a power loss and a restart with room. The log rotated and
// removed segments holding the only durable copy of tells whose journals
// could not be written; recovery lost 28 of 153 acknowledged tells. A
// retired segment now stays until every journal is synced.
TEST_F(StorageFaultsTest, AFullDiskThenAPowerLossLosesNothingAcknowledged) {
  segment_bytes_ = 1 << 16;
  manager_.reset();
  store_.reset();
  ASSERT_TRUE(Open().ok());
  env_.SetSpaceLimit(dir_, 600 << 10);
  std::vector<v1::CreateSessionRequest> requests;
  std::vector<ClientView> views(6);
  for (int s = 0; s < 6; ++s) {
    requests.push_back(Request(absl::StrCat("s", s), "adam", 500));
    ASSERT_OK(manager_->Create(requests.back()).status());
  }
  int refused_in_a_row = 0;
  for (int round = 0; round < 200 && refused_in_a_row < 12; ++round) {
    for (int s = 0; s < 6; ++s) {
      refused_in_a_row =
          Step(requests[s].session_id(), &views[s]) ? 0 : refused_in_a_row + 1;
    }
  }
  EXPECT_GE(refused_in_a_row, 12);
  size_t acked = 0;
  for (const ClientView& view : views) acked += view.acked;
  EXPECT_GT(acked, 60u);
  Crash(Loss::kDrop);
  for (int s = 0; s < 6; ++s) {
    ExpectNothingAckedLost(requests[s].session_id(), requests[s], views[s]);
  }
}

// The same, made exact: one session's journal cannot be written (its last
// acknowledged tells live in the log only) while the others tell on and the
// log rotates past them. The retired segments stay until the journal is
// repaired; a power loss before that loses nothing.
TEST_F(StorageFaultsTest, RotationKeepsTheLogWhileAJournalCannotBeSynced) {
  segment_bytes_ = 1 << 16;
  manager_.reset();
  store_.reset();
  ASSERT_TRUE(Open().ok());
  std::vector<v1::CreateSessionRequest> requests;
  std::vector<ClientView> views(4);
  for (int s = 0; s < 4; ++s) {
    requests.push_back(Request(absl::StrCat("s", s), "adam", 500));
    ASSERT_OK(manager_->Create(requests.back()).status());
    ASSERT_TRUE(Step(requests.back().session_id(), &views[s]));
  }
  env_.Fail(Op::kAppend, ENOSPC, 0, /*sticky=*/true, "/sessions/s0.journal");
  for (int round = 0; round < 30; ++round) {
    for (int s = 0; s < 4; ++s) Step(requests[s].session_id(), &views[s]);
  }
  // s0's tells until the failed write is noticed are acknowledged through
  // the log; the later ones are refused.
  EXPECT_GE(views[0].acked, 2u);
  EXPECT_LT(views[0].acked, 31u);
  EXPECT_EQ(views[0].applied.size(), views[0].acked);
  EXPECT_EQ(views[1].acked, 31u);
  EXPECT_GT(store_->wal().retired_segments(), 0);
  Crash(Loss::kDrop);
  for (int s = 0; s < 4; ++s) {
    ExpectNothingAckedLost(requests[s].session_id(), requests[s], views[s]);
  }
  // Repaired, the journal takes the log's segments' place.
  EXPECT_EQ(Find("s0")->tells(), static_cast<int64_t>(views[0].acked));
}

// Recovery never refuses to start: a full disk at start leaves the sessions
// loaded but refusing tells, and the log in place, until there is room.
TEST_F(StorageFaultsTest, RecoveryWithAFullDiskStartsAndResumesLater) {
  const auto request = Request("s", "lbfgs");
  ASSERT_OK(manager_->Create(request).status());
  ClientView view;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Step("s", &view));
  // Only the log was synced; the journal's tells die with the power.
  env_.PowerLoss(Loss::kDrop, 1);
  manager_.reset();
  store_.reset();
  env_.PowerOn();
  env_.Fail(Op::kAppend, ENOSPC, 0, /*sticky=*/true);
  env_.Fail(Op::kCreate, ENOSPC, 0, /*sticky=*/true);
  ASSERT_OK_AND_ASSIGN(SessionManager::RecoveryCounts counts, Open());
  EXPECT_EQ(counts.loaded, 1);
  EXPECT_EQ(counts.damaged, 0);
  EXPECT_TRUE(store_->wal().down());
  EXPECT_THAT(Tell("s", NextRosenbrockTell(*Find("s")), &view),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("No space left on device")));
  const size_t segments = WalSegments().size();
  EXPECT_GE(segments, 1u);
  env_.ClearFaults();
  store_->Maintain();
  EXPECT_FALSE(store_->wal().down());
  EXPECT_EQ(store_->wal().retired_segments(), 0);
  EXPECT_EQ(WalSegments().size(), 1u);  // the new one
  ASSERT_TRUE(Step("s", &view));
  Crash(Loss::kDrop);
  ExpectNothingAckedLost("s", request, view);
  EXPECT_EQ(Find("s")->tells(), 6);
}

// Power loss with garbage after the log's last sync (pages written out of
// order): the torn tail is cut, every acknowledged tell is there.
TEST_F(StorageFaultsTest, GarbageAfterTheLastSyncIsCutForEveryLossMode) {
  for (const Loss loss :
       {Loss::kKeep, Loss::kDrop, Loss::kTear, Loss::kGarbage}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const std::string id = absl::StrCat("s", static_cast<int>(loss), seed);
      const auto request = Request(id, "lbfgs");
      ASSERT_OK(manager_->Create(request).status());
      ClientView view;
      for (int i = 0; i < 6; ++i) ASSERT_TRUE(Step(id, &view));
      // One more tell, written but not yet synced when the power goes.
      env_.SetHook([&](Op op, const std::string& path) {
        if (op == Op::kSync && path.find("/wal/") != std::string::npos) {
          env_.SetHook(nullptr);
          env_.PowerLoss(loss, seed);
        }
      });
      EXPECT_FALSE(Step(id, &view));
      manager_.reset();
      store_.reset();
      env_.PowerOn();
      ASSERT_OK_AND_ASSIGN(SessionManager::RecoveryCounts counts, Open());
      EXPECT_EQ(counts.damaged, 0);
      ExpectNothingAckedLost(id, request, view);
      ASSERT_OK(manager_->Delete(id));
    }
  }
}

// Damage inside synced records of the log marks only the sessions it took
// tells from DAMAGED, naming the byte range; the others load, and the server
// starts.
TEST_F(StorageFaultsTest, DamageInTheLogMarksOnlyTheSessionsItTouches) {
  const std::vector<std::string> ids = {"a", "b", "c"};
  std::vector<ClientView> views(3);
  for (const std::string& id : ids) {
    ASSERT_OK(manager_->Create(Request(id, "lbfgs")).status());
  }
  for (int round = 0; round < 4; ++round) {
    for (int s = 0; s < 3; ++s) ASSERT_TRUE(Step(ids[s], &views[s]));
  }
  // The journals lose their unsynced tells; the log keeps them.
  env_.PowerLoss(Loss::kDrop, 1);
  manager_.reset();
  store_.reset();
  env_.PowerOn();
  // Zeros over b's second tell in the log, with b's later tells after it.
  const std::vector<std::string> segments = WalSegments();
  ASSERT_EQ(segments.size(), 1u);
  int64_t begin = -1, end = -1;
  int b_records = 0;
  ASSERT_OK(
      ReadRecords(Env::Default(), segments[0], kWalFamily, false,
                  [&](int64_t, int64_t offset, absl::string_view payload) {
                    const uint16_t length =
                        absl::little_endian::Load16(payload.data());
                    if (payload.substr(2, length) == "b" && ++b_records == 2) {
                      begin = offset;
                      end = offset + 8 + static_cast<int64_t>(payload.size());
                    }
                    return absl::OkStatus();
                  })
          .status());
  ASSERT_GT(begin, 0);
  ASSERT_OK(CorruptFile(segments[0], begin, end - begin));
  ASSERT_OK_AND_ASSIGN(SessionManager::RecoveryCounts counts, Open());
  EXPECT_EQ(counts.loaded, 2);
  EXPECT_EQ(counts.damaged, 1);
  ExpectNothingAckedLost("a", Request("a", "lbfgs"), views[0]);
  ExpectNothingAckedLost("c", Request("c", "lbfgs"), views[2]);
  v1::GetSessionRequest get;
  get.set_session_id("b");
  v1::Session b;
  ASSERT_OK(manager_->Get(get, &b));
  EXPECT_EQ(b.state(), v1::SESSION_STATE_DAMAGED);
  EXPECT_THAT(b.damage(),
              AllOf(HasSubstr("the write-ahead log has tell 3 but the journal "
                              "ends at 1"),
                    HasSubstr(absl::StrCat(segments[0], " bytes [", begin))));
  // The log stays while it damaged a session: the next start says the same.
  manager_.reset();
  store_.reset();
  ASSERT_OK_AND_ASSIGN(counts, Open());
  EXPECT_EQ(counts.damaged, 1);
}

// A checkpoint (written on a commit thread: a new file renamed over the
// journal) racing DeleteSession: the delete waits for the rename, so the
// deleted journal never comes back, and a session re-created under the same
// id keeps its own file.
TEST_F(StorageFaultsTest, ACheckpointRacingDeleteNeverBringsTheJournalBack) {
  auto request = Request("s", "adam", 64);
  request.mutable_durability()->set_checkpoint_interval(2);
  ASSERT_OK(manager_->Create(request).status());
  ClientView view;
  ASSERT_TRUE(Step("s", &view));
  const std::string path = store_->JournalPath("s");
  absl::Notification at_rename, release;
  env_.SetHook([&](Op op, const std::string& to) {
    if (op == Op::kRename && to == path && !at_rename.HasBeenNotified()) {
      at_rename.Notify();
      release.WaitForNotification();
    }
  });
  Step("s", &view);  // the second tell: a checkpoint is written
  at_rename.WaitForNotification();
  std::thread remove([&] {
    ASSERT_OK(manager_->Delete("s"));
    ASSERT_OK(manager_->Create(Request("s", "lbfgs")).status());
  });
  absl::SleepFor(absl::Milliseconds(200));
  release.Notify();
  remove.join();
  env_.SetHook(nullptr);
  // The journal is the re-created L-BFGS session's.
  ASSERT_OK_AND_ASSIGN(v1::SessionSnapshot header,
                       ReadJournalHeader(Env::Default(), path));
  EXPECT_TRUE(header.create().has_lbfgs());
  EXPECT_FALSE(header.has_checkpoint());
  Crash(Loss::kKeep);
  EXPECT_EQ(Find("s")->solver_name(), "lbfgs");
  EXPECT_EQ(Find("s")->tells(), 0);
}

// The maintenance pass (every --storage_retry_seconds) starts only once the
// log is open: a slow Wal::Open (a stalled disk) with a short retry interval
// used to let it call into a log not yet there.
TEST_F(StorageFaultsTest, MaintenanceWaitsForASlowLogToOpen) {
  manager_.reset();
  store_.reset();  // SetUp's store holds the directory's lock
  env_.SetHook([](FaultInjectionEnv::Op op, const std::string& path) {
    if (op == FaultInjectionEnv::Op::kRead && absl::EndsWith(path, "/wal")) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  absl::StatusOr<std::unique_ptr<SessionStore>> store =
      SessionStore::Open({.data_dir = dir_,
                          .commit_threads = 1,
                          .retry_interval = absl::Milliseconds(1),
                          .env = &env_});
  ASSERT_OK(store.status());
  // A few maintenance passes over the open log (before the fix: a crash).
  absl::SleepFor(absl::Milliseconds(20));
  env_.SetHook(nullptr);
  // And a store whose log cannot be opened at all fails cleanly.
  store->reset();
  env_.Fail(FaultInjectionEnv::Op::kRead, EIO, 0, /*sticky=*/true, "/wal");
  absl::StatusOr<std::unique_ptr<SessionStore>> broken =
      SessionStore::Open({.data_dir = dir_,
                          .commit_threads = 1,
                          .retry_interval = absl::Milliseconds(1),
                          .env = &env_});
  EXPECT_FALSE(broken.ok());
  env_.ClearFaults();
}

// SwitchSolver writes the switched session's journal as a new file renamed
// over the old one (SessionStore::Replace). Should any step of that write
// fail, the old journal is whole: the session shows DAMAGED naming the
// failure until a restart, which recovers the old solver with every
// acknowledged tell, continuing as its twin. A switch whose journal was
// written survives a power loss as the new solver.
TEST_F(StorageFaultsTest, ASwitchThatCannotWriteItsJournalLeavesTheOldOne) {
  int run = 0;
  std::vector<std::pair<std::string, v1::CreateSessionRequest>> failed;
  std::vector<ClientView> views;
  for (Op op : {Op::kCreate, Op::kAppend, Op::kSync, Op::kRename}) {
    const std::string id = absl::StrCat("adam", run++);
    SCOPED_TRACE(id);
    const v1::CreateSessionRequest request = Request(id, "adam");
    ASSERT_OK(manager_->Create(request).status());
    ClientView view;
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(Step(id, &view));
    // The new file only (the export before it syncs the old journal).
    env_.Fail(op, EIO, /*skip=*/0, /*sticky=*/true,
              op == Op::kRename ? "/sessions/" + id : ".tmp");
    v1::SwitchSolverRequest request_switch;
    request_switch.set_session_id(id);
    request_switch.mutable_lbfgs();
    EXPECT_FALSE(manager_->SwitchSolver(request_switch).ok());
    env_.ClearFaults();
    v1::GetSessionRequest get;
    get.set_session_id(id);
    v1::Session described;
    ASSERT_OK(manager_->Get(get, &described));
    EXPECT_EQ(described.state(), v1::SESSION_STATE_DAMAGED);
    EXPECT_THAT(described.damage(),
                AllOf(HasSubstr("a solver switch could not write its journal"),
                      HasSubstr("the journal before the switch is intact")));
    EXPECT_THAT(manager_->Find(id), StatusIs(absl::StatusCode::kDataLoss));
    failed.emplace_back(id, request);
    views.push_back(view);
  }
  // A switch that was written.
  const v1::CreateSessionRequest switched = Request("switched", "adam");
  ASSERT_OK(manager_->Create(switched).status());
  ClientView before;
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(Step("switched", &before));
  v1::SwitchSolverRequest request_switch;
  request_switch.set_session_id("switched");
  request_switch.mutable_lbfgs();
  ASSERT_OK(manager_->SwitchSolver(request_switch).status());
  ClientView after;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Step("switched", &after));

  Crash(Loss::kDrop);
  for (size_t i = 0; i < failed.size(); ++i) {
    SCOPED_TRACE(failed[i].first);
    std::shared_ptr<Session> session = Find(failed[i].first);
    ASSERT_NE(session, nullptr);
    EXPECT_EQ(session->solver_name(), "adam");
    ExpectNothingAckedLost(failed[i].first, failed[i].second, views[i]);
  }
  std::shared_ptr<Session> session = Find("switched");
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->solver_name(), "lbfgs");
  EXPECT_GE(session->tells(), static_cast<int64_t>(after.acked));
  v1::GetSessionRequest get;
  get.set_session_id("switched");
  v1::Session described;
  ASSERT_OK(manager_->Get(get, &described));
  EXPECT_EQ(described.switched_from(), "adam");
  EXPECT_EQ(described.switched_at_step(), 6);
}

}  // namespace
}  // namespace optd::server
