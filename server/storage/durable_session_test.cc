// SessionManager with a SessionStore: sessions survive a "restart" (a new
// store and manager on the same directory) bit for bit, retries stay
// exactly-once across it, damaged journals are reported and the rest load,
// export/import reproduce a session, leases and TTL behave as documented.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rpc/server.h"
#include "server/session/session_manager.h"
#include "server/session/solver_factory.h"
#include "server/storage/journal.h"
#include "server/storage/session_store.h"
#include "server/testing/rosenbrock.h"
#include "server/testing/session_steps.h"
#include "server/testing/trial_points.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"

namespace optd::server {
namespace {

using ::optd::server::testing::NextRosenbrockTell;
using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::TellDurably;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::server::testing::WithPoints;
using ::optd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Bits of a vector, for bitwise comparisons.
std::vector<uint64_t> Bits(const std::vector<double>& x) {
  std::vector<uint64_t> bits(x.size());
  std::memcpy(bits.data(), x.data(), x.size() * sizeof(double));
  return bits;
}

class DurableSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/durable_test_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Restart();
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Drops the manager and store (syncing nothing more) and opens new ones on
  // the same directory, as a restarted optd does.
  SessionManager::RecoveryCounts Restart(SessionDefaults defaults = {},
                                         int64_t wal_segment_bytes = 1 << 26) {
    manager_.reset();
    store_.reset();
    return Open(dir_, defaults, wal_segment_bytes);
  }

  // What a kill -9 leaves, without killing this process: the data directory
  // copied as it is now (the files as the page cache has them, nothing
  // flushed by a shutdown), the store and manager dropped, the copy put in
  // place and recovered. `inspect` runs on the copy before recovery.
  SessionManager::RecoveryCounts CrashAndRecover(
      const std::function<void()>& inspect = [] {}) {
    const std::string copy = dir_ + "-copy";
    std::filesystem::remove_all(copy);
    std::filesystem::copy(dir_, copy, std::filesystem::copy_options::recursive);
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
    std::filesystem::rename(copy, dir_);
    inspect();
    return Open(dir_);
  }

  // A store and manager on `dir`, recovered.
  SessionManager::RecoveryCounts Open(const std::string& dir,
                                      SessionDefaults defaults = {},
                                      int64_t wal_segment_bytes = 1 << 26) {
    absl::StatusOr<std::unique_ptr<SessionStore>> store =
        SessionStore::Open({.data_dir = dir,
                            .commit_threads = 2,
                            .wal_segment_bytes = wal_segment_bytes});
    EXPECT_OK(store);
    store_ = *std::move(store);
    manager_ = std::make_unique<SessionManager>(SessionLimits{}, defaults,
                                                store_.get());
    absl::StatusOr<SessionManager::RecoveryCounts> counts = manager_->Recover();
    EXPECT_OK(counts);
    return counts.value_or(SessionManager::RecoveryCounts{});
  }

  // Rewrites the journal at `path` as a version-1 file (no salt, no sync
  // marks) with `edit` applied to its header and the tells as they were.
  static void RewriteJournalHeader(
      const std::string& path,
      const std::function<void(v1::SessionSnapshot*)>& edit) {
    std::string file(kJournalMagic);
    ASSERT_OK(ReadJournal(
                  Env::Default(), path,
                  [&](const v1::SessionSnapshot& header) {
                    v1::SessionSnapshot edited = header;
                    edit(&edited);
                    file += FrameRecord(edited.SerializeAsString());
                    return absl::OkStatus();
                  },
                  [&](int64_t, const v1::SnapshotTell& tell) {
                    file += FrameRecord(tell.SerializeAsString());
                    return absl::OkStatus();
                  })
                  .status());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
  }

  static v1::CreateSessionRequest Lbfgs(const std::string& id) {
    v1::CreateSessionRequest request;
    request.set_session_id(id);
    *request.mutable_x0() = Values({-1.2, 1.0, -1.2, 1.0});
    request.mutable_lbfgs();
    return request;
  }

  std::shared_ptr<Session> Find(const std::string& id) {
    absl::StatusOr<std::shared_ptr<Session>> session = manager_->Find(id);
    EXPECT_OK(session);
    return session.value_or(nullptr);
  }

  // The outstanding trial as (id, bits of x).
  std::pair<uint64_t, std::vector<uint64_t>> Outstanding(Session& session) {
    v1::AskResponse ask;
    EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
    if (ask.trials_size() == 0) return {0, {}};
    return {ask.trials(0).trial_id(), Bits(ToDoubles(ask.trials(0).x()))};
  }

  std::string dir_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<SessionManager> manager_;
};

TEST_F(DurableSessionTest, ARestartResumesBitwiseWhereTheSessionWas) {
  ASSERT_OK(manager_->Create(Lbfgs("rosen")).status());
  // A reference session in memory, told the same things.
  SessionManager reference;
  ASSERT_OK(reference.Create(Lbfgs("rosen")).status());
  for (int step = 0; step < 25; ++step) {
    if (step % 5 == 0) {
      EXPECT_EQ(Restart().loaded, 1);
    }
    std::shared_ptr<Session> session = Find("rosen");
    std::shared_ptr<Session> twin = *reference.Find("rosen");
    ASSERT_EQ(Outstanding(*session), Outstanding(*twin)) << "step " << step;
    const v1::TellRequest tell = NextRosenbrockTell(*session);
    v1::TellResponse answer, twin_answer;
    ASSERT_OK(TellDurably(*session, tell, &answer));
    ASSERT_OK(twin->Tell(tell, &twin_answer));
  }
  Restart();
  v1::Session described;
  ASSERT_OK(Find("rosen")->Describe(true, v1::VECTOR_ENCODING_UNSPECIFIED,
                                    &described));
  EXPECT_EQ(described.tells(), 25);
  EXPECT_EQ(described.durable_step(), 25);
  v1::Session twin_described;
  ASSERT_OK(
      (*reference.Find("rosen"))
          ->Describe(true, v1::VECTOR_ENCODING_UNSPECIFIED, &twin_described));
  EXPECT_EQ(described.evaluations(), twin_described.evaluations());
  EXPECT_EQ(described.iterations(), twin_described.iterations());
  EXPECT_EQ(Bits(ToDoubles(described.best_x())),
            Bits(ToDoubles(twin_described.best_x())));
  // The history keeps its times across the restart.
  ASSERT_GT(described.history_size(), 0);
  EXPECT_EQ(described.history(0).time().seconds(),
            twin_described.history(0).time().seconds());
}

TEST_F(DurableSessionTest, ARetryAfterARestartIsStillADuplicate) {
  ASSERT_OK(manager_->Create(Lbfgs("retry")).status());
  const v1::TellRequest tell = NextRosenbrockTell(*Find("retry"));
  v1::TellResponse first;
  ASSERT_OK(TellDurably(*Find("retry"), tell, &first));
  Restart();
  v1::TellResponse again;
  ASSERT_OK(TellDurably(*Find("retry"), tell, &again));
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.trials(0).trial_id(), first.trials(0).trial_id());
  EXPECT_EQ(Find("retry")->tells(), 1);
  // A different payload for the answered trial is refused, after a restart
  // as before it.
  v1::TellRequest other = tell;
  other.set_value(tell.value() + 1);
  v1::TellResponse refused;
  EXPECT_THAT(Find("retry")->Tell(other, &refused),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already answered with a different payload")));
}

TEST_F(DurableSessionTest, DamagedJournalsAreReportedAndTheOthersLoad) {
  for (const char* id : {"good", "flipped"}) {
    ASSERT_OK(manager_->Create(Lbfgs(id)).status());
    for (int i = 0; i < 2; ++i) {
      v1::TellResponse answer;
      ASSERT_OK(TellDurably(*Find(id), NextRosenbrockTell(*Find(id)), &answer));
    }
  }
  const auto before = Outstanding(*Find("good"));
  const std::string path = store_->JournalPath("flipped");
  manager_.reset();
  store_.reset();
  {
    // A byte inside the first tell.
    int64_t first_tell = 0;
    ASSERT_OK(
        ReadRecords(Env::Default(), path, kJournalFamily, true,
                    [&](int64_t index, int64_t offset, absl::string_view) {
                      if (index == 1) first_tell = offset;
                      return absl::OkStatus();
                    })
            .status());
    ASSERT_GT(first_tell, 0);
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(first_tell + kRecordHeaderBytes + 10);
    file.put('\x7f');
  }
  const SessionManager::RecoveryCounts counts = Restart();
  EXPECT_EQ(counts.loaded, 1);
  EXPECT_EQ(counts.damaged, 1);
  EXPECT_EQ(Outstanding(*Find("good")), before);

  EXPECT_THAT(manager_->Find("flipped"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("session \"flipped\" is damaged"),
                             HasSubstr("checksum mismatch"),
                             HasSubstr("(record 1 at byte"),
                             HasSubstr("DeleteSession removes it"))));
  v1::GetSessionRequest get;
  get.set_session_id("flipped");
  v1::Session described;
  ASSERT_OK(manager_->Get(get, &described));
  EXPECT_EQ(described.state(), v1::SESSION_STATE_DAMAGED);
  EXPECT_THAT(described.damage(), HasSubstr(path));
  v1::ListSessionsResponse listed;
  ASSERT_OK(manager_->List({}, &listed));
  ASSERT_EQ(listed.sessions_size(), 2);
  EXPECT_EQ(listed.sessions(0).state(), v1::SESSION_STATE_DAMAGED);
  // The id stays taken until the damaged session is deleted.
  EXPECT_THAT(manager_->Create(Lbfgs("flipped")),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
  ASSERT_OK(manager_->Delete("flipped"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_OK(manager_->Create(Lbfgs("flipped")).status());
}

TEST_F(DurableSessionTest, DeleteAndExpiryRemoveTheJournal) {
  v1::CreateSessionRequest request = Lbfgs("short");
  request.set_ttl_seconds(60);
  ASSERT_OK(manager_->Create(request).status());
  ASSERT_OK(manager_->Create(Lbfgs("deleted")).status());
  const std::string short_path = store_->JournalPath("short");
  const std::string deleted_path = store_->JournalPath("deleted");
  EXPECT_TRUE(std::filesystem::exists(short_path));
  ASSERT_OK(manager_->Delete("deleted"));
  EXPECT_FALSE(std::filesystem::exists(deleted_path));

  EXPECT_EQ(manager_->ExpireIdle(absl::Now() + absl::Seconds(59)), 0);
  // The TTL is part of the journal: it survives a restart with other defaults.
  Restart({.ttl = absl::Hours(1000)});
  EXPECT_EQ(manager_->ExpireIdle(absl::Now() + absl::Seconds(61)), 1);
  EXPECT_THAT(manager_->Find("short"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_FALSE(std::filesystem::exists(short_path));
  EXPECT_EQ(Restart().loaded, 0);
}

TEST_F(DurableSessionTest, ExportThenImportContinuesBitwise) {
  ASSERT_OK(manager_->Create(Lbfgs("origin")).status());
  for (int i = 0; i < 7; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("origin"), NextRosenbrockTell(*Find("origin")),
                          &answer));
  }
  v1::SessionSnapshot snapshot;
  ASSERT_OK(manager_->Export("origin", &snapshot));
  EXPECT_EQ(snapshot.format_version(), 1u);
  EXPECT_EQ(snapshot.tells_size(), 7);
  EXPECT_EQ(snapshot.create().session_id(), "origin");

  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = snapshot;
  import.set_session_id("copy");
  absl::StatusOr<std::shared_ptr<Session>> copy = manager_->Import(import);
  ASSERT_OK(copy);
  EXPECT_EQ((*copy)->tells(), 7);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Outstanding(*Find("origin")), Outstanding(*Find("copy")));
    const v1::TellRequest tell = NextRosenbrockTell(*Find("origin"));
    v1::TellResponse a, b;
    ASSERT_OK(TellDurably(*Find("origin"), tell, &a));
    ASSERT_OK(TellDurably(*Find("copy"), tell, &b));
  }
  Restart();
  EXPECT_EQ(Outstanding(*Find("origin")), Outstanding(*Find("copy")));

  // Refusals name what is wrong and leave nothing behind.
  import.set_session_id("bad");
  import.mutable_snapshot()->set_format_version(2);
  EXPECT_THAT(manager_->Import(import),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("snapshot.format_version is 2")));
  import.mutable_snapshot()->set_format_version(1);
  import.mutable_snapshot()->mutable_tells(3)->mutable_tell()->set_trial_id(99);
  EXPECT_THAT(manager_->Import(import),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("snapshot.tells[3] (trial 99)"),
                             HasSubstr("never issued"))));
  EXPECT_THAT(manager_->Find("bad"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_FALSE(std::filesystem::exists(store_->JournalPath("bad")));
  import.set_session_id("origin");
  EXPECT_THAT(manager_->Import(import),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
}

// ExportSessionRequest.compact: the state now as one checkpoint and no tells,
// for L-BFGS and Adam alike; the import continues bitwise.
TEST_F(DurableSessionTest, ACompactExportIsTheStateNowAndContinuesBitwise) {
  ASSERT_OK(manager_->Create(Lbfgs("long")).status());
  for (int i = 0; i < 12; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(
        TellDurably(*Find("long"), NextRosenbrockTell(*Find("long")), &answer));
  }
  v1::SessionSnapshot whole, compact;
  ASSERT_OK(manager_->Export("long", &whole));
  ASSERT_OK(manager_->Export("long", &compact, /*compact=*/true));
  EXPECT_EQ(whole.tells_size(), 12);
  EXPECT_EQ(compact.tells_size(), 0);
  ASSERT_TRUE(compact.has_checkpoint());
  EXPECT_EQ(compact.create().session_id(), "long");

  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = compact;
  import.set_session_id("resumed");
  ASSERT_OK(manager_->Import(import).status());
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(Outstanding(*Find("long")), Outstanding(*Find("resumed")));
    const v1::TellRequest tell = NextRosenbrockTell(*Find("long"));
    v1::TellResponse a, b;
    ASSERT_OK(TellDurably(*Find("long"), tell, &a));
    ASSERT_OK(TellDurably(*Find("resumed"), tell, &b));
    ASSERT_EQ(a.SerializeAsString(), b.SerializeAsString());
  }
}

// History's whole-run overview (Session.history_overview) is in the
// checkpoint, and the tells replayed after it continue it: a restart gives
// bitwise the overview the session had, and it matches the session that
// was never checkpointed in all but the times of the tells.
TEST_F(DurableSessionTest, ARestartKeepsTheHistoryOverviewBitwise) {
  v1::CreateSessionRequest create = Lbfgs("adam");
  create.mutable_adam();
  ASSERT_OK(manager_->Create(create).status());
  const auto tell_both = [&](const std::vector<std::string>& ids) {
    const v1::TellRequest tell = NextRosenbrockTell(*Find(ids[0]));
    for (const std::string& id : ids) {
      v1::TellResponse answer;
      ASSERT_OK(TellDurably(*Find(id), tell, &answer));
    }
  };
  for (int i = 0; i < 600; ++i) tell_both({"adam"});
  v1::SessionSnapshot compact;
  ASSERT_OK(manager_->Export("adam", &compact, /*compact=*/true));
  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = compact;
  import.set_session_id("resumed");
  ASSERT_OK(manager_->Import(import).status());
  // 600 + 400 iterates: decimated once (stride 2) at the 513th.
  for (int i = 0; i < 400; ++i) tell_both({"adam", "resumed"});

  v1::GetSessionRequest get;
  get.set_include_history_overview(true);
  const auto describe = [&](const std::string& id) {
    v1::Session session;
    get.set_session_id(id);
    EXPECT_OK(Find(id)->Describe(get, &session));
    return session;
  };
  const v1::Session before = describe("resumed");
  ASSERT_EQ(before.iterations(), 1000);
  // Iterations 1, 3, ..., 999, and the best when it is not among them.
  ASSERT_GE(before.history_overview_size(), 500);
  ASSERT_LE(before.history_overview_size(), 501);
  EXPECT_EQ(before.history_overview(0).iteration(), 1);

  const SessionManager::RecoveryCounts counts = Restart();
  EXPECT_EQ(counts.checkpoints, 1);
  EXPECT_EQ(counts.tells, 1000 + 400);  // "adam" has no checkpoint
  const v1::Session after = describe("resumed");
  EXPECT_EQ(after.iterations(), 1000);
  EXPECT_EQ(after.history_overview().size(), before.history_overview().size());
  for (int i = 0; i < before.history_overview_size(); ++i) {
    EXPECT_EQ(after.history_overview(i).SerializeAsString(),
              before.history_overview(i).SerializeAsString())
        << "entry " << i;
  }
  EXPECT_EQ(after.history(0).SerializeAsString(),
            before.history(0).SerializeAsString());

  // The same tells without a checkpoint: the same iterates and values.
  v1::Session uninterrupted = describe("adam");
  v1::Session resumed = after;
  for (auto* overview : {uninterrupted.mutable_history_overview(),
                         resumed.mutable_history_overview()}) {
    for (v1::HistoryEntry& entry : *overview) entry.clear_time();
  }
  EXPECT_EQ(resumed.history_overview().size(),
            uninterrupted.history_overview().size());
  for (int i = 0; i < uninterrupted.history_overview_size(); ++i) {
    EXPECT_EQ(resumed.history_overview(i).SerializeAsString(),
              uninterrupted.history_overview(i).SerializeAsString())
        << "entry " << i;
  }
}

// A journal header records the solver revision its session was created
// under, and the session replays with that revision's arithmetic: a
// trust-region session written before revisions were recorded (0) keeps no
// ftol test after an import or a restart (solver_revision.h kSolverRevision).
TEST_F(DurableSessionTest, SessionsReplayWithTheArithmeticOfTheirRevision) {
  v1::CreateSessionRequest request = Lbfgs("tr");
  request.mutable_trust_region();
  ASSERT_OK(manager_->Create(request).status());
  for (int i = 0; i < 6; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(
        TellDurably(*Find("tr"), NextRosenbrockTell(*Find("tr")), &answer));
  }
  const auto ftol = [&](const std::string& id) {
    v1::Session described;
    EXPECT_OK(
        Find(id)->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
    return described.trust_region().ftol();
  };
  v1::SessionSnapshot snapshot;
  ASSERT_OK(manager_->Export("tr", &snapshot));
  EXPECT_EQ(snapshot.solver_revision(), kSolverRevision);
  EXPECT_EQ(ftol("tr"), TrustRegionOptions().ftol);

  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = snapshot;
  import.mutable_snapshot()->set_solver_revision(0);
  import.set_session_id("legacy");
  ASSERT_OK(manager_->Import(import).status());
  EXPECT_EQ(ftol("legacy"), 0.0);
  EXPECT_EQ(Restart().loaded, 2);
  EXPECT_EQ(ftol("legacy"), 0.0);
  EXPECT_EQ(ftol("tr"), TrustRegionOptions().ftol);
  EXPECT_EQ(Outstanding(*Find("legacy")).first, Outstanding(*Find("tr")).first);
  v1::SessionSnapshot again;
  ASSERT_OK(manager_->Export("legacy", &again));
  EXPECT_EQ(again.solver_revision(), 0u);

  // A snapshot from a newer build is refused and leaves nothing behind.
  import.mutable_snapshot()->set_solver_revision(kSolverRevision + 1);
  import.set_session_id("newer");
  EXPECT_THAT(
      manager_->Import(import),
      StatusIs(absl::StatusCode::kInvalidArgument,
               absl::StrCat("snapshot.solver_revision is ", kSolverRevision + 1,
                            "; this server has revision ", kSolverRevision,
                            " (import it into a server of its revision or "
                            "newer)")));
  EXPECT_FALSE(std::filesystem::exists(store_->JournalPath("newer")));

  // A journal a newer build wrote does not load; it stays damaged, with its
  // file and its write-ahead log records, until a build of its revision
  // runs: then every acknowledged tell is there.
  const auto before = Outstanding(*Find("tr"));
  for (int i = 0; i < 3; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(
        TellDurably(*Find("tr"), NextRosenbrockTell(*Find("tr")), &answer));
  }
  const auto told = Outstanding(*Find("tr"));
  ASSERT_NE(told, before);
  const std::string path = store_->JournalPath("tr");
  // Rewrites the journal header's revision (no server running on it).
  const auto set_revision = [&](uint32_t revision) {
    RewriteJournalHeader(path, [&](v1::SessionSnapshot* header) {
      header->set_solver_revision(revision);
    });
  };
  // A crash, so that the last tells are in the write-ahead log only.
  SessionManager::RecoveryCounts counts =
      CrashAndRecover([&] { set_revision(kSolverRevision + 1); });
  EXPECT_EQ(counts.damaged, 1);
  EXPECT_THAT(manager_->Find("tr"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr(absl::StrCat(
                           "solver_revision is ", kSolverRevision + 1,
                           "; this server has revision ", kSolverRevision))));
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(Restart().damaged, 1);
  manager_.reset();
  store_.reset();
  set_revision(kSolverRevision);
  counts = Open(dir_);
  EXPECT_EQ(counts.damaged, 0);
  EXPECT_EQ(Find("tr")->tells(), 9);
  EXPECT_EQ(Outstanding(*Find("tr")), told);
}

// Found by fuzz/stored_session_fuzzer (regression
// fuzz/regressions/stored_session/export-without-create-time): a journal
// header without create_time recovers as of the epoch, and its export used
// to leave the field out, so that the import started the clock anew.
TEST_F(DurableSessionTest, AnExportKeepsTheCreateTimeRecoveryUsed) {
  ASSERT_OK(manager_->Create(Lbfgs("old")).status());
  v1::TellResponse answer;
  ASSERT_OK(
      TellDurably(*Find("old"), NextRosenbrockTell(*Find("old")), &answer));
  const std::string path = store_->JournalPath("old");
  manager_.reset();
  store_.reset();
  // The journal rewritten with a header that has no create_time.
  RewriteJournalHeader(
      path, [](v1::SessionSnapshot* header) { header->clear_create_time(); });
  Restart();

  v1::SessionSnapshot snapshot;
  ASSERT_OK(manager_->Export("old", &snapshot));
  ASSERT_TRUE(snapshot.has_create_time());
  SessionManager other;
  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = snapshot;
  ASSERT_OK(other.Import(import).status());
  v1::GetSessionRequest get;
  get.set_session_id("old");
  v1::Session recovered, imported;
  ASSERT_OK(manager_->Get(get, &recovered));
  ASSERT_OK(other.Get(get, &imported));
  EXPECT_EQ(imported.create_time().seconds(),
            recovered.create_time().seconds());
  EXPECT_EQ(imported.create_time().nanos(), recovered.create_time().nanos());
}

// A solver restored only by replaying its tells (L-BFGS-B: bounds) journals
// every tell with a checkpoint interval too, and syncs them in batches.
TEST_F(DurableSessionTest, CheckpointIntervalSyncsInBatches) {
  v1::CreateSessionRequest request = Lbfgs("batched");
  *request.mutable_bounds()->mutable_lower() = Values({-5, -5, -5, -5});
  request.mutable_durability()->set_checkpoint_interval(4);
  ASSERT_OK(manager_->Create(request).status());
  for (int i = 0; i < 6; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("batched"),
                          NextRosenbrockTell(*Find("batched")), &answer));
  }
  // Commits run on their own threads: wait for the first batch.
  std::shared_ptr<SessionJournal> journal = Find("batched")->journal();
  for (int i = 0; i < 1000 && journal->durable() < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  v1::Session described;
  ASSERT_OK(Find("batched")->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED,
                                      &described));
  EXPECT_EQ(described.tells(), 6);
  // A sync covers whatever was written by then: at least the first 4.
  EXPECT_GE(described.durable_step(), 4);
  EXPECT_LE(described.durable_step(), 6);
  EXPECT_EQ(described.durability().checkpoint_interval(), 4);
  // A clean shutdown syncs the rest.
  store_->SyncAll();
  EXPECT_EQ(journal->durable(), 6u);
  EXPECT_EQ(Restart().tells, 6);
}

// A solver that saves its state (L-BFGS) journals no tell with a checkpoint
// interval: every `interval` tells a checkpoint replaces the journal, and a
// clean shutdown writes one of where the session is.
TEST_F(DurableSessionTest, CheckpointIntervalCheckpointsSolversWithState) {
  v1::CreateSessionRequest request = Lbfgs("checkpointed");
  request.mutable_durability()->set_checkpoint_interval(4);
  ASSERT_OK(manager_->Create(request).status());
  SessionManager reference;
  ASSERT_OK(reference.Create(request).status());
  for (int i = 0; i < 6; ++i) {
    const v1::TellRequest tell = NextRosenbrockTell(*Find("checkpointed"));
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("checkpointed"), tell, &answer));
    ASSERT_OK((*reference.Find("checkpointed"))->Tell(tell, &answer));
  }
  std::shared_ptr<SessionJournal> journal = Find("checkpointed")->journal();
  for (int i = 0; i < 1000 && journal->durable() < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(journal->durable(), 4u);
  manager_->FlushCheckpoints();
  store_->SyncAll();
  EXPECT_EQ(journal->durable(), 6u);
  const SessionManager::RecoveryCounts counts = Restart();
  EXPECT_EQ(counts.checkpoints, 1);
  EXPECT_EQ(counts.tells, 0);
  EXPECT_EQ(Find("checkpointed")->tells(), 6);
  EXPECT_EQ(Outstanding(*Find("checkpointed")),
            Outstanding(**reference.Find("checkpointed")));
}

TEST_F(DurableSessionTest, LargeSessionsDefaultToCheckpoints) {
  Restart({.durable_tell_max_dimension = 3, .checkpoint_interval = 50});
  ASSERT_OK(manager_->Create(Lbfgs("big")).status());  // n = 4 > 3
  v1::CreateSessionRequest small = Lbfgs("small");
  *small.mutable_x0() = Values({1.0, 2.0});
  ASSERT_OK(manager_->Create(small).status());
  EXPECT_EQ(Find("big")->settings().checkpoint_interval, 50);
  EXPECT_EQ(Find("small")->settings().checkpoint_interval, 0);
  // An explicit durability wins, even 0 for a large session.
  v1::CreateSessionRequest explicit_request = Lbfgs("big-durable");
  explicit_request.mutable_durability()->set_checkpoint_interval(0);
  ASSERT_OK(manager_->Create(explicit_request).status());
  EXPECT_EQ(Find("big-durable")->settings().checkpoint_interval, 0);
  v1::CreateSessionRequest bad = Lbfgs("bad");
  bad.mutable_durability()->set_checkpoint_interval(-1);
  EXPECT_THAT(manager_->Create(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("durability.checkpoint_interval is -1")));
  bad.mutable_durability()->set_checkpoint_interval(0);
  bad.set_ttl_seconds(-5);
  EXPECT_THAT(manager_->Create(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ttl_seconds is -5")));
  bad.set_ttl_seconds(0);
  bad.set_lease_seconds(1e9);
  EXPECT_THAT(manager_->Create(bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("lease_seconds is 1e+09")));
  EXPECT_FALSE(std::filesystem::exists(store_->JournalPath("bad")));
}

TEST_F(DurableSessionTest, LeasesHandTheTrialToOneWorkerAtATime) {
  v1::CreateSessionRequest request = Lbfgs("leased");
  request.set_lease_seconds(30);
  ASSERT_OK(manager_->Create(request).status());
  std::shared_ptr<Session> session = Find("leased");
  v1::AskResponse a, b, a_again;
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "a", &a));
  ASSERT_EQ(a.trials_size(), 1);
  EXPECT_TRUE(a.trials(0).has_lease_expire_time());
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "b", &b));
  EXPECT_EQ(b.trials_size(), 0);
  EXPECT_GT(b.retry_after_seconds(), 29);
  EXPECT_LE(b.retry_after_seconds(), 30);
  ASSERT_OK(
      session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "a", &a_again));
  EXPECT_EQ(a_again.trials_size(), 1);
  v1::Session described;
  ASSERT_OK(
      session->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described));
  ASSERT_EQ(described.leases_size(), 1);
  EXPECT_EQ(described.leases(0).worker_id(), "a");
  EXPECT_EQ(described.lease_seconds(), 30);
  // Answering the trial frees the next one for anyone.
  v1::TellResponse answer;
  ASSERT_OK(TellDurably(*session, NextRosenbrockTell(*session), &answer));
  ASSERT_OK(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED, "b", &b));
  EXPECT_EQ(b.trials_size(), 1);
  EXPECT_THAT(session->AskAsWorker(v1::VECTOR_ENCODING_UNSPECIFIED,
                                   std::string(129, 'w'), &b),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("worker_id has 129 characters")));
}

TEST_F(DurableSessionTest, ConcurrentSessionsAllBecomeDurable) {
  constexpr int kSessions = 16;
  constexpr int kTells = 20;
  std::vector<std::thread> threads;
  for (int s = 0; s < kSessions; ++s) {
    ASSERT_OK(manager_->Create(Lbfgs(absl::StrCat("c", s))).status());
  }
  for (int s = 0; s < kSessions; ++s) {
    threads.emplace_back([&, s] {
      std::shared_ptr<Session> session = *manager_->Find(absl::StrCat("c", s));
      for (int i = 0;
           i < kTells && session->state() == v1::SESSION_STATE_RUNNING; ++i) {
        v1::TellResponse answer;
        EXPECT_OK(TellDurably(*session, NextRosenbrockTell(*session), &answer));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<int64_t> tells;
  for (int s = 0; s < kSessions; ++s) {
    tells.push_back(Find(absl::StrCat("c", s))->tells());
  }
  const SessionManager::RecoveryCounts counts = Restart();
  EXPECT_EQ(counts.loaded, kSessions);
  for (int s = 0; s < kSessions; ++s) {
    EXPECT_EQ(Find(absl::StrCat("c", s))->tells(), tells[s]);
  }
}

// An Adam session of dimension n told gradient g_i = x_i - 0.1 t.
v1::CreateSessionRequest AdamRequest(const std::string& id, int64_t n,
                                     int64_t checkpoint_interval,
                                     int64_t max_steps = 0) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  std::vector<double> x0(n);
  for (int64_t i = 0; i < n; ++i) x0[i] = std::sin(0.01 * i);
  *request.mutable_x0() = Values(x0);
  request.mutable_adamw()->set_lr(0.01);
  request.mutable_adamw()->set_max_steps(max_steps);
  request.mutable_durability()->set_checkpoint_interval(checkpoint_interval);
  return request;
}

v1::TellRequest AdamTell(Session& session) {
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  EXPECT_EQ(ask.trials_size(), 1);
  const std::vector<double> x = ToDoubles(ask.trials(0).x());
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = x[i] - 0.1 * static_cast<double>(ask.trials(0).trial_id());
  }
  v1::TellRequest tell;
  tell.set_session_id(session.id());
  tell.set_trial_id(ask.trials(0).trial_id());
  tell.set_value(static_cast<double>(ask.trials(0).trial_id()));
  *tell.mutable_gradient() = Values(g);
  return tell;
}

TEST_F(DurableSessionTest, CheckpointModeKeepsStateNotGradients) {
  // Adam in checkpoint mode: no tell is journaled, the state is written
  // every 5 tells; a crash resumes from the last one, bitwise.
  ASSERT_OK(manager_->Create(AdamRequest("adam", 300, 5)).status());
  SessionManager reference;
  ASSERT_OK(reference.Create(AdamRequest("adam", 300, 5)).status());
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> trials;
  for (int i = 0; i < 13; ++i) {
    std::shared_ptr<Session> twin = *reference.Find("adam");
    trials.push_back(Outstanding(*twin));
    const v1::TellRequest tell = AdamTell(*twin);
    v1::TellResponse a, b;
    ASSERT_OK(TellDurably(*Find("adam"), tell, &a));
    ASSERT_OK(twin->Tell(tell, &b));
  }
  trials.push_back(Outstanding(**reference.Find("adam")));
  std::shared_ptr<SessionJournal> journal = Find("adam")->journal();
  for (int i = 0; i < 1000 && journal->durable() < 10; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(journal->durable(), 10u);
  // Header and checkpoint only: x0 and three 300-double vectors.
  EXPECT_LT(std::filesystem::file_size(store_->JournalPath("adam")), 12000u);
  journal.reset();

  // "kill -9": no flush. The session is back at tell 10.
  EXPECT_EQ(Restart().checkpoints, 1);
  EXPECT_EQ(Find("adam")->tells(), 10);
  EXPECT_EQ(Outstanding(*Find("adam")), trials[10]);
  // The client retries the tells it saw acknowledged after 10: trial ids and
  // points are the same, so its cached results apply, and the session ends
  // where the uninterrupted one is.
  for (int i = 10; i < 13; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("adam"), AdamTell(*Find("adam")), &answer));
  }
  EXPECT_EQ(Outstanding(*Find("adam")), trials[13]);
  // A clean shutdown checkpoints the rest.
  manager_->FlushCheckpoints();
  store_->SyncAll();
  EXPECT_EQ(Restart().checkpoints, 1);
  EXPECT_EQ(Find("adam")->tells(), 13);
  EXPECT_EQ(Outstanding(*Find("adam")), trials[13]);
}

TEST_F(DurableSessionTest, ACheckpointingSessionIsExportedAsOfNow) {
  ASSERT_OK(manager_->Create(AdamRequest("now", 40, 100)).status());
  for (int i = 0; i < 3; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("now"), AdamTell(*Find("now")), &answer));
  }
  v1::SessionSnapshot snapshot;
  ASSERT_OK(manager_->Export("now", &snapshot));
  ASSERT_TRUE(snapshot.has_checkpoint());
  EXPECT_EQ(snapshot.checkpoint().tells(), 3);
  EXPECT_EQ(snapshot.tells_size(), 0);
  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = snapshot;
  import.set_session_id("now-copy");
  ASSERT_OK(manager_->Import(import).status());
  EXPECT_EQ(Outstanding(*Find("now-copy")), Outstanding(*Find("now")));
}

// What SIGTERM does (OptdServer::Shutdown): sessions that checkpoint
// instead of journaling write where they are before the server stops.
TEST_F(DurableSessionTest, AServerShutdownCheckpointsWhereSessionsAre) {
  manager_.reset();
  store_.reset();
  ServerOptions options;
  options.data_dir = dir_;
  absl::StatusOr<std::unique_ptr<OptdServer>> server =
      OptdServer::Start(options);
  ASSERT_OK(server);
  ASSERT_OK(
      (*server)->sessions().Create(AdamRequest("sigterm", 30, 100)).status());
  std::shared_ptr<Session> session = *(*server)->sessions().Find("sigterm");
  for (int i = 0; i < 5; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*session, AdamTell(*session), &answer));
  }
  const auto before = Outstanding(*session);
  session.reset();
  (*server)->Shutdown(absl::Now());
  server->reset();
  EXPECT_EQ(Open(dir_).checkpoints, 1);
  EXPECT_EQ(Find("sigterm")->tells(), 5);
  EXPECT_EQ(Outstanding(*Find("sigterm")), before);
}

TEST_F(DurableSessionTest, RetriesOfCheckpointedTellsStayDuplicates) {
  ASSERT_OK(manager_->Create(AdamRequest("dup", 50, 2)).status());
  std::vector<v1::TellRequest> told;
  for (int i = 0; i < 4; ++i) {
    told.push_back(AdamTell(*Find("dup")));
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("dup"), told.back(), &answer));
  }
  manager_->FlushCheckpoints();
  store_->SyncAll();
  Restart();
  v1::TellResponse answer;
  ASSERT_OK(TellDurably(*Find("dup"), told[2], &answer));
  EXPECT_TRUE(answer.duplicate());
  v1::TellRequest changed = told[2];
  changed.set_value(-1);
  EXPECT_THAT(Find("dup")->Tell(changed, &answer),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("different payload")));
}

TEST_F(DurableSessionTest, AFinishedCheckpointedSessionStaysFinished) {
  ASSERT_OK(manager_->Create(AdamRequest("done", 20, 100, 7)).status());
  for (int i = 0; i < 7; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("done"), AdamTell(*Find("done")), &answer));
  }
  EXPECT_EQ(Find("done")->state(), v1::SESSION_STATE_LIMIT_REACHED);
  // The last tell finished it: checkpointed at once, not at tell 100.
  std::shared_ptr<SessionJournal> journal = Find("done")->journal();
  for (int i = 0; i < 1000 && journal->durable() < 7; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  journal.reset();
  Restart();
  EXPECT_EQ(Find("done")->state(), v1::SESSION_STATE_LIMIT_REACHED);
  v1::Session described;
  ASSERT_OK(Find("done")->Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED,
                                   &described));
  EXPECT_EQ(described.summary().iterations(), 7);
}

TEST_F(DurableSessionTest, PerTellJournalsOfLargeSessionsAreCompacted) {
  // n = 10^5 float64: 0.8 MB per tell, 2.4 MB of state. Compaction replaces
  // the tells once they pass max(4 MiB, 2 x state).
  ASSERT_OK(manager_->Create(AdamRequest("big", 100000, 0)).status());
  SessionManager reference;
  ASSERT_OK(reference.Create(AdamRequest("big", 100000, 0)).status());
  uintmax_t largest = 0;
  for (int i = 0; i < 24; ++i) {
    const v1::TellRequest tell = AdamTell(**reference.Find("big"));
    v1::TellResponse a, b;
    ASSERT_OK(TellDurably(*Find("big"), tell, &a));
    ASSERT_OK((*reference.Find("big"))->Tell(tell, &b));
    largest = std::max(largest,
                       std::filesystem::file_size(store_->JournalPath("big")));
  }
  // Without compaction the journal would hold 24 x 0.8 MB.
  EXPECT_LT(largest, uintmax_t{9} << 20);
  v1::SessionSnapshot snapshot;
  ASSERT_OK(manager_->Export("big", &snapshot));
  EXPECT_TRUE(snapshot.has_checkpoint());
  EXPECT_EQ(snapshot.checkpoint().tells() + snapshot.tells_size(), 24);

  Restart();
  EXPECT_EQ(Find("big")->tells(), 24);
  EXPECT_EQ(Outstanding(*Find("big")), Outstanding(**reference.Find("big")));
  v1::ImportSessionRequest import;
  *import.mutable_snapshot() = snapshot;
  import.set_session_id("big-copy");
  ASSERT_OK(manager_->Import(import).status());
  EXPECT_EQ(Outstanding(*Find("big-copy")),
            Outstanding(**reference.Find("big")));
}

// What a power loss can leave: the journals of small sessions lack their
// latest records (written to the file but never synced), the write-ahead log
// has them.
TEST_F(DurableSessionTest, TellsOnlyInTheWriteAheadLogAreRecovered) {
  ASSERT_OK(manager_->Create(Lbfgs("logged")).status());
  ASSERT_TRUE(Find("logged")->journal()->uses_wal());
  for (int i = 0; i < 9; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("logged"), NextRosenbrockTell(*Find("logged")),
                          &answer));
  }
  const auto before = Outstanding(*Find("logged"));
  const SessionManager::RecoveryCounts counts = CrashAndRecover([&] {
    // The journal file keeps its header and the first three tells.
    const std::string path = dir_ + "/sessions/logged.journal";
    std::string file(kJournalMagic);
    ASSERT_OK(
        ReadRecords(Env::Default(), path, kJournalFamily, true,
                    [&](int64_t index, int64_t, absl::string_view payload) {
                      if (index <= 3) file += FrameRecord(payload);
                      return absl::OkStatus();
                    })
            .status());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
  });
  EXPECT_EQ(counts.loaded, 1);
  EXPECT_EQ(Find("logged")->tells(), 9);
  EXPECT_EQ(Outstanding(*Find("logged")), before);
  // Recovery wrote the missing records into the journal and removed the old
  // log: a second restart finds them there.
  EXPECT_EQ(Restart().loaded, 1);
  EXPECT_EQ(Find("logged")->tells(), 9);
  EXPECT_EQ(Outstanding(*Find("logged")), before);
}

// Found by fuzz/stored_session_fuzzer: a session that the log damaged (here a
// gap: the journal ends at tell 2, the log lacks tell 3) was reported
// damaged once, and the log removed; the next start then loaded it at tell 2
// as if nothing were wrong, without the acknowledged tells 4-6. The log now
// stays while a session it damaged does.
TEST_F(DurableSessionTest, ASessionTheLogDamagedStaysDamagedAcrossRestarts) {
  ASSERT_OK(manager_->Create(Lbfgs("gap")).status());
  for (int i = 0; i < 6; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(
        TellDurably(*Find("gap"), NextRosenbrockTell(*Find("gap")), &answer));
  }
  // Every record in the journal file too, so that the cut below is exact.
  ASSERT_OK(Find("gap")->journal()->SyncNow());
  const std::string journal = dir_ + "/sessions/gap.journal";
  auto rewrite =
      [](const std::string& path, absl::string_view family,
         const std::function<bool(int64_t, absl::string_view)>& keep) {
        std::string file = absl::StrCat(family, "1");
        ASSERT_OK(
            ReadRecords(Env::Default(), path, family,
                        /*first_record_required=*/false,
                        [&](int64_t index, int64_t, absl::string_view payload) {
                          if (keep(index, payload))
                            file += FrameRecord(payload);
                          return absl::OkStatus();
                        })
                .status());
        std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
      };
  const SessionManager::RecoveryCounts counts = CrashAndRecover([&] {
    // The journal: the header and tells 1-2. The log: every tell but 3.
    rewrite(journal, kJournalFamily,
            [](int64_t index, absl::string_view) { return index <= 2; });
    for (const auto& entry :
         std::filesystem::directory_iterator(dir_ + "/wal")) {
      rewrite(entry.path().string(), kWalFamily,
              [](int64_t, absl::string_view payload) {
                // u16 id length | id | u64 incarnation | u64 tell | record
                const size_t at = 2 +
                                  (static_cast<uint8_t>(payload[0]) |
                                   static_cast<uint8_t>(payload[1]) << 8) +
                                  8;
                uint64_t tell;
                std::memcpy(&tell, payload.data() + at, 8);
                return tell != 3;
              });
    }
  });
  EXPECT_EQ(counts.loaded, 0);
  EXPECT_EQ(counts.damaged, 1);
  v1::GetSessionRequest get;
  get.set_session_id("gap");
  v1::Session described;
  ASSERT_OK(manager_->Get(get, &described));
  EXPECT_EQ(described.state(), v1::SESSION_STATE_DAMAGED);
  EXPECT_THAT(described.damage(),
              HasSubstr("the write-ahead log has tell 4 but the journal ends "
                        "at 2"));
  // Still damaged after a restart, for the same reason.
  EXPECT_EQ(Restart().damaged, 1);
  described.Clear();
  ASSERT_OK(manager_->Get(get, &described));
  EXPECT_EQ(described.state(), v1::SESSION_STATE_DAMAGED);
  EXPECT_THAT(described.damage(), HasSubstr("has tell 4"));
  // Deleted, it takes the old log with it at the next start.
  ASSERT_OK(manager_->Delete("gap"));
  const SessionManager::RecoveryCounts after = Restart();
  EXPECT_EQ(after.loaded + after.damaged, 0);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ + "/wal"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(DurableSessionTest, LogRecordsOfADeletedSessionDoNotReachItsSuccessor) {
  ASSERT_OK(manager_->Create(Lbfgs("reused")).status());
  for (int i = 0; i < 6; ++i) {
    v1::TellResponse answer;
    ASSERT_OK(TellDurably(*Find("reused"), NextRosenbrockTell(*Find("reused")),
                          &answer));
  }
  ASSERT_OK(manager_->Delete("reused"));
  ASSERT_OK(manager_->Create(Lbfgs("reused")).status());
  v1::TellResponse answer;
  ASSERT_OK(TellDurably(*Find("reused"), NextRosenbrockTell(*Find("reused")),
                        &answer));
  const auto before = Outstanding(*Find("reused"));
  // The log still holds the first session's six tells.
  EXPECT_EQ(CrashAndRecover().loaded, 1);
  EXPECT_EQ(Find("reused")->tells(), 1);
  EXPECT_EQ(Outstanding(*Find("reused")), before);
}

TEST_F(DurableSessionTest, TheLogRotatesAndSyncsTheJournals) {
  Restart({}, /*wal_segment_bytes=*/1 << 16);
  constexpr int kSessions = 8;
  for (int s = 0; s < kSessions; ++s) {
    v1::CreateSessionRequest request = Lbfgs(absl::StrCat("r", s));
    std::vector<double> x0(100);
    for (size_t i = 0; i < x0.size(); ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
    *request.mutable_x0() = Values(x0);
    ASSERT_OK(manager_->Create(request).status());
  }
  std::vector<std::thread> threads;
  for (int s = 0; s < kSessions; ++s) {
    threads.emplace_back([&, s] {
      std::shared_ptr<Session> session = *manager_->Find(absl::StrCat("r", s));
      for (int i = 0; i < 60 && session->state() == v1::SESSION_STATE_RUNNING;
           ++i) {
        v1::TellResponse answer;
        EXPECT_OK(TellDurably(*session, NextRosenbrockTell(*session), &answer));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // 8 x 60 records of ~900 bytes pass 64 KiB several times.
  std::vector<std::string> segments;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/wal")) {
    segments.push_back(entry.path().filename().string());
  }
  // One log file, not the first one: it rotated, and the old ones went.
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_GT(std::stoll(segments[0].substr(0, 20)), 2) << segments[0];
  // Concurrent tells shared syncs.
  EXPECT_GT(store_->wal_records(), store_->wal_syncs());
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> before;
  for (int s = 0; s < kSessions; ++s) {
    before.push_back(Outstanding(*Find(absl::StrCat("r", s))));
  }
  EXPECT_EQ(CrashAndRecover().loaded, kSessions);
  for (int s = 0; s < kSessions; ++s) {
    EXPECT_EQ(Outstanding(*Find(absl::StrCat("r", s))), before[s]) << s;
  }
}

TEST_F(DurableSessionTest, OneServerPerDataDirectory) {
  EXPECT_THAT(SessionStore::Open({.data_dir = dir_}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is in use by another optd process")));
}

// Every outstanding trial as (id, bits of x), and the trial log without
// its times.
std::pair<std::vector<std::pair<uint64_t, std::vector<uint64_t>>>, std::string>
BatchState(Session& session) {
  v1::AskResponse ask;
  EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  std::vector<std::pair<uint64_t, std::vector<uint64_t>>> trials;
  for (const v1::Trial& t : WithPoints(ask)) {
    trials.emplace_back(t.trial_id(), Bits(ToDoubles(t.x())));
  }
  v1::Session described;
  EXPECT_OK(session.Describe(false, v1::VECTOR_ENCODING_UNSPECIFIED, &described,
                             /*include_trials=*/true));
  v1::Session log;
  *log.mutable_trial_log() = described.trial_log();
  log.set_trial_log_dropped(described.trial_log_dropped());
  return {trials, log.SerializeAsString()};
}

TEST_F(DurableSessionTest, ABatchSessionResumesMidBatchWithItsLog) {
  // A finite-difference L-BFGS-B session told part of a stencil batch, out
  // of order, by named workers: after a crash the same trials are
  // outstanding, the trial log is the same, and the run ends where an
  // uninterrupted one does.
  v1::CreateSessionRequest request = Lbfgs("fd");
  request.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  *request.mutable_bounds()->mutable_upper() = Values({0.5, 2, 2, 2});
  ASSERT_OK(manager_->Create(request).status());
  SessionManager reference;
  ASSERT_OK(reference.Create(request).status());
  auto tell_some = [&](int count) {
    for (int i = 0; i < count; ++i) {
      v1::AskResponse ask;
      ASSERT_OK(Find("fd")->Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
      if (ask.trials_size() == 0) return;
      // The last outstanding trial first.
      const v1::Trial trial = WithPoints(ask).back();
      std::vector<double> g;
      v1::TellRequest tell;
      tell.set_session_id("fd");
      tell.set_trial_id(trial.trial_id());
      tell.set_value(Rosenbrock(ToDoubles(trial.x()), &g));
      tell.set_worker_id(absl::StrCat("w", trial.trial_id() % 4));
      tell.set_note(absl::StrCat("evaluation ", trial.trial_id()));
      v1::TellResponse answer, twin_answer;
      ASSERT_OK(TellDurably(*Find("fd"), tell, &answer));
      ASSERT_OK((*reference.Find("fd"))->Tell(tell, &twin_answer));
    }
  };
  tell_some(9 + 9 + 4);  // two stencils (2n + 1 = 9) and part of a third
  const auto before = BatchState(*Find("fd"));
  ASSERT_EQ(before.first.size(), 5u);
  EXPECT_EQ(CrashAndRecover().loaded, 1);
  EXPECT_EQ(BatchState(*Find("fd")), before);
  tell_some(100000);
  v1::Session done, twin;
  ASSERT_OK(Find("fd")->Describe(true, v1::VECTOR_ENCODING_UNSPECIFIED, &done,
                                 /*include_trials=*/true));
  ASSERT_OK((*reference.Find("fd"))
                ->Describe(true, v1::VECTOR_ENCODING_UNSPECIFIED, &twin));
  EXPECT_EQ(done.state(), v1::SESSION_STATE_CONVERGED);
  EXPECT_EQ(Bits(ToDoubles(done.best_x())), Bits(ToDoubles(twin.best_x())));
  // Every tell is in the log once, in order.
  ASSERT_EQ(done.trial_log_size(), done.tells());
  for (int i = 0; i < done.trial_log_size(); ++i) {
    EXPECT_EQ(done.trial_log(i).note(),
              absl::StrCat("evaluation ", done.trial_log(i).trial_id()));
  }
  // The bound x0 <= 0.5 is active at the end.
  EXPECT_EQ(ToDoubles(done.best_x())[0], 0.5);
}

TEST_F(DurableSessionTest, ADataParallelCheckpointResumesMidStep) {
  // Adam in checkpoint mode, 4 data-parallel workers per step: a checkpoint
  // taken halfway through a step carries the half-made sum, so the session
  // goes on bitwise after a crash.
  v1::CreateSessionRequest request = AdamRequest("dp", 300, 6);
  request.mutable_data_parallel()->set_workers(4);
  ASSERT_OK(manager_->Create(request).status());
  SessionManager reference;
  ASSERT_OK(reference.Create(request).status());
  auto tell_next = [&](Session& session, v1::TellResponse* answer) {
    v1::AskResponse ask;
    EXPECT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
    EXPECT_GT(ask.trials_size(), 0);
    const v1::Trial trial = WithPoints(ask)[0];
    const std::vector<double> x = ToDoubles(trial.x());
    std::vector<double> g(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      g[i] = x[i] - 0.01 * static_cast<double>(trial.trial_id() % 7);
    }
    v1::TellRequest tell;
    tell.set_session_id("dp");
    tell.set_trial_id(trial.trial_id());
    *tell.mutable_gradient() = Values(g);
    tell.set_weight(1 + trial.trial_id() % 3);
    return tell;
  };
  for (int i = 0; i < 14; ++i) {
    v1::TellResponse a, b;
    const v1::TellRequest tell = tell_next(*Find("dp"), &a);
    ASSERT_OK(TellDurably(*Find("dp"), tell, &a));
    ASSERT_OK((*reference.Find("dp"))->Tell(tell, &b));
  }
  std::shared_ptr<SessionJournal> journal = Find("dp")->journal();
  for (int i = 0; i < 1000 && journal->durable() < 12; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  journal.reset();
  // Durable at tell 12: three whole steps. Tell more so that the checkpoint
  // lands mid-step, then crash.
  for (int i = 0; i < 4; ++i) {
    v1::TellResponse a, b;
    const v1::TellRequest tell = tell_next(*Find("dp"), &a);
    ASSERT_OK(TellDurably(*Find("dp"), tell, &a));
    ASSERT_OK((*reference.Find("dp"))->Tell(tell, &b));
  }
  // Tell 18 is a checkpoint: step 5 has two of its four gradients.
  journal = Find("dp")->journal();
  for (int i = 0; i < 1000 && journal->durable() < 18; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(journal->durable(), 18u);
  journal.reset();
  EXPECT_EQ(CrashAndRecover().checkpoints, 1);
  ASSERT_EQ(Find("dp")->tells(), 18);
  EXPECT_EQ(BatchState(*Find("dp")).first,
            BatchState(**reference.Find("dp")).first);
  for (int i = 0; i < 10; ++i) {
    v1::TellResponse a, b;
    const v1::TellRequest tell = tell_next(*Find("dp"), &a);
    ASSERT_OK(TellDurably(*Find("dp"), tell, &a));
    ASSERT_OK((*reference.Find("dp"))->Tell(tell, &b));
    ASSERT_EQ(ToDoubles(WithPoints(a)[0].x()), ToDoubles(WithPoints(b)[0].x()))
        << i;
  }
}

}  // namespace
}  // namespace optd::server
