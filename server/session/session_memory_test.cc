// The memory quotas (--tenant_memory_bytes per tenant, --server_memory_bytes
// over the server): what they count besides the solver state — the session
// layers' batch buffers, the trial logs, an export's snapshot — and that
// each refusal is RESOURCE_EXHAUSTED naming the limit and its flag, and
// changes nothing.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session/session_manager.h"
#include "server/session/solver_factory.h"
#include "server/sharding/finite_difference_slices.h"
#include "server/storage/session_store.h"
#include "server/testing/rosenbrock.h"
#include "solvers/adapters/finite_difference.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::Rosenbrock;
using ::optd::server::testing::ToDoubles;
using ::optd::server::testing::Values;
using ::optd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

v1::CreateSessionRequest LbfgsRequest(const std::string& id, int64_t n) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  *request.mutable_x0() = Values(x0);
  request.mutable_lbfgs();
  return request;
}

v1::CreateSessionRequest FiniteDifference(v1::CreateSessionRequest request) {
  request.set_gradient_source(v1::GRADIENT_SOURCE_FINITE_DIFFERENCE);
  return request;
}

// Tells the outstanding trial of an L-BFGS session its Rosenbrock value and
// gradient, with a note of `note_bytes` bytes (kept in the trial log).
void TellOnce(Session& session, size_t note_bytes) {
  v1::AskResponse ask;
  ASSERT_OK(session.Ask(v1::VECTOR_ENCODING_UNSPECIFIED, &ask));
  ASSERT_EQ(ask.trials_size(), 1);
  std::vector<double> g;
  v1::TellRequest tell;
  tell.set_trial_id(ask.trials(0).trial_id());
  tell.set_value(Rosenbrock(ToDoubles(ask.trials(0).x()), &g));
  *tell.mutable_gradient() = Values(g);
  tell.set_note(std::string(note_bytes, 'n'));
  v1::TellResponse answer;
  ASSERT_OK(session.Tell(tell, &answer));
}

TEST(SessionBytes, CountTheLayersBatchesAndLeases) {
  const int64_t n = 1000;
  const v1::CreateSessionRequest plain = LbfgsRequest("p", n);
  const SessionBytes lbfgs = EstimateSessionBytes(plain, n);
  EXPECT_EQ(lbfgs.solver, (2 * 10 + 6) * n * 8);
  EXPECT_EQ(lbfgs.layers, 0);
  EXPECT_EQ(lbfgs.batch_trials, 1);
  EXPECT_EQ(EstimateStateBytes(plain, n), lbfgs.solver);

  const SessionBytes central = EstimateSessionBytes(FiniteDifference(plain), n);
  EXPECT_EQ(central.solver, lbfgs.solver);
  EXPECT_EQ(central.batch_trials, 2 * n + 1);
  EXPECT_EQ(central.layers,
            FiniteDifferenceBytes(n, FiniteDifferenceScheme::kCentral) +
                (2 * n + 1) * kLeaseBytes);
  EXPECT_EQ(central.layers_name, "finite-difference stencil");
  // Each coordinate: x, its plan, the gradient, two trials' index and value.
  EXPECT_GT(FiniteDifferenceBytes(n, FiniteDifferenceScheme::kCentral),
            9 * n * 8);

  v1::CreateSessionRequest forward = FiniteDifference(plain);
  forward.mutable_finite_difference()->set_scheme(
      v1::FiniteDifferenceOptions::SCHEME_FORWARD);
  EXPECT_EQ(EstimateSessionBytes(forward, n).batch_trials, n + 1);
  EXPECT_LT(EstimateSessionBytes(forward, n).layers, central.layers);

  // Sharded, the stencil is on the slices: the home keeps a told value and
  // flag per trial (under a quarter of the unsharded adapter's bytes).
  v1::CreateSessionRequest sharded = FiniteDifference(plain);
  sharded.set_shards(4);
  EXPECT_EQ(
      EstimateSessionBytes(sharded, n).layers,
      FiniteDifferenceOnSlicesBytes(n, FiniteDifferenceScheme::kCentral, 4) +
          (2 * n + 1) * kLeaseBytes);
  EXPECT_LT(4 * (2 * n + 1) * 9,
            FiniteDifferenceBytes(n, FiniteDifferenceScheme::kCentral));

  // A gradient check keeps a report of 3 n doubles per check, up to 100.
  v1::CreateSessionRequest once = plain;
  once.mutable_gradient_check();
  v1::CreateSessionRequest every = plain;
  every.mutable_gradient_check()->set_every_iterations(10);
  const SessionBytes checked_once = EstimateSessionBytes(once, n);
  const SessionBytes checked_often = EstimateSessionBytes(every, n);
  EXPECT_EQ(checked_once.batch_trials, 2 * n + 1);
  EXPECT_GE(checked_often.layers - checked_once.layers, 99 * 3 * n * 8);

  v1::CreateSessionRequest parallel = plain;
  parallel.mutable_data_parallel()->set_workers(8);
  const SessionBytes data_parallel = EstimateSessionBytes(parallel, n);
  EXPECT_EQ(data_parallel.batch_trials, 8);
  EXPECT_EQ(data_parallel.layers, 2 * n * 8 + 8 + 8 * kLeaseBytes);

  v1::CreateSessionRequest bounded = plain;
  *bounded.mutable_bounds()->mutable_upper() =
      Values(std::vector<double>(n, 5.0));
  EXPECT_EQ(EstimateSessionBytes(bounded, n).layers, 4 * n * 8);
  // Bounds make the session L-BFGS-B, whose slice holds more vectors.
  EXPECT_EQ(EstimateSessionBytes(bounded, n).solver, (2 * 10 + 13) * n * 8 + n);
}

TEST(TenantMemory, BatchBuffersCountAndTheRefusalNamesThem) {
  const int64_t n = 100;
  const SessionBytes plain = EstimateSessionBytes(LbfgsRequest("", n), n);
  const SessionBytes stencil =
      EstimateSessionBytes(FiniteDifference(LbfgsRequest("", n)), n);
  // Room for the L-BFGS state twice, not for the stencil's buffers.
  SessionManager manager(
      {.tenant_memory_bytes = 2 * plain.total() + stencil.layers / 2});
  ASSERT_OK(manager.Create(LbfgsRequest("alice.plain", n)));
  EXPECT_THAT(
      manager.Create(FiniteDifference(LbfgsRequest("alice.fd", n))),
      StatusIs(
          absl::StatusCode::kResourceExhausted,
          AllOf(HasSubstr(absl::StrCat(
                    "this session's solver state needs about ", plain.total(),
                    " bytes and its finite-difference stencil (batches "
                    "of up to 201 trials, each leased on its own) "
                    "about ",
                    stencil.layers, " more, ", stencil.total(),
                    " in all, and tenant \"alice\" holds ", plain.total(),
                    " of its ")),
                HasSubstr("(--tenant_memory_bytes); delete sessions"))));
  // Nothing changed: one session, its bytes; the plain one still fits.
  EXPECT_EQ(manager.size(), 1);
  EXPECT_EQ(manager.Usage("alice.").state_bytes, plain.total());
  EXPECT_THAT(manager.Find("alice.fd"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(manager.Create(LbfgsRequest("alice.plain2", n)));
  EXPECT_EQ(manager.Usage("alice.").state_bytes, 2 * plain.total());
}

TEST(TenantMemory, TrialLogsCountAsTheyGrow) {
  const int64_t state = EstimateStateBytes(LbfgsRequest("", 2), 2);  // 416
  SessionManager manager({.tenant_memory_bytes = 20000});
  absl::StatusOr<std::shared_ptr<Session>> logged =
      manager.Create(LbfgsRequest("alice.logged", 2));
  ASSERT_OK(logged);
  EXPECT_EQ(manager.Usage("alice.").trial_log_bytes, 0);
  // Five tells with 4096-byte notes: over 20 KB of trial log. Tells are
  // never refused for it (the log keeps at most kTrialLogBytes).
  for (int i = 0; i < 5; ++i) TellOnce(**logged, 4096);
  const TenantUsage usage = manager.Usage("alice.");
  EXPECT_EQ(usage.state_bytes, state);
  EXPECT_GT(usage.trial_log_bytes, 5 * 4096);
  EXPECT_EQ(usage.trial_log_bytes, (*logged)->trial_log_memory());
  EXPECT_GT(usage.memory_bytes() + state, 20000);
  EXPECT_THAT(manager.Create(LbfgsRequest("alice.next", 2)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr(absl::StrCat(
                           "needs about 416 bytes and tenant \"alice\" holds ",
                           usage.memory_bytes(),
                           " of its 20000 (--tenant_memory_bytes), ",
                           usage.trial_log_bytes,
                           " of them in the trial logs of its sessions; "
                           "delete sessions")))));
  // Nothing changed.
  EXPECT_EQ(manager.size(), 1);
  EXPECT_EQ(manager.Usage("alice.").memory_bytes(), usage.memory_bytes());
  EXPECT_EQ((*logged)->tells(), 5);
  // Another tenant is not held back; deleting the session frees its log.
  EXPECT_OK(manager.Create(LbfgsRequest("bob.next", 2)));
  ASSERT_OK(manager.Delete("alice.logged"));
  EXPECT_EQ(manager.Usage("alice.").trial_log_bytes, 0);
  EXPECT_OK(manager.Create(LbfgsRequest("alice.next", 2)));
}

TEST(ServerMemory, CountsEverySessionAndNamesTheFlag) {
  const int64_t n = 100;
  const SessionBytes plain = EstimateSessionBytes(LbfgsRequest("", n), n);
  const SessionBytes stencil =
      EstimateSessionBytes(FiniteDifference(LbfgsRequest("", n)), n);
  SessionManager manager(
      {.server_memory_bytes = plain.total() + stencil.total() - 1});
  // Without a tenant, and with one: the server's limit holds for both.
  ASSERT_OK(manager.Create(LbfgsRequest("anonymous", n)));
  EXPECT_THAT(
      manager.Create(FiniteDifference(LbfgsRequest("alice.fd", n))),
      StatusIs(absl::StatusCode::kResourceExhausted,
               AllOf(HasSubstr(absl::StrCat(stencil.total(),
                                            " in all, and this server holds ",
                                            plain.total(), " of its ",
                                            plain.total() + stencil.total() - 1,
                                            " (--server_memory_bytes)")),
                     HasSubstr("or start optd with a larger "
                               "--server_memory_bytes"))));
  EXPECT_EQ(manager.size(), 1);
  EXPECT_EQ(manager.Usage("").state_bytes, plain.total());
  ASSERT_OK(manager.Delete("anonymous"));
  EXPECT_OK(manager.Create(FiniteDifference(LbfgsRequest("alice.fd", n))));
}

class ExportMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/export_memory_test_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    absl::StatusOr<std::unique_ptr<SessionStore>> store =
        SessionStore::Open({.data_dir = dir_, .commit_threads = 1});
    ASSERT_OK(store);
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The bytes of `id`'s journal file.
  int64_t JournalBytes(const std::string& id) {
    return static_cast<int64_t>(
        std::filesystem::file_size(store_->JournalPath(id)));
  }

  std::string dir_;
  std::unique_ptr<SessionStore> store_;
};

TEST_F(ExportMemoryTest, AJournalThatDoesNotFitWhatIsLeftIsNotRead) {
  // n = 1000: 208,000 bytes of L-BFGS state; the journal holds x0 (8,000
  // bytes) and one tell's gradient (8,000 more); the export reads it and
  // serializes it again, 2 x 16 KB, where the tenant has 20,000 left.
  const int64_t n = 1000;
  const int64_t state = EstimateStateBytes(LbfgsRequest("", n), n);
  SessionManager manager({.tenant_memory_bytes = state + 20000}, {},
                         store_.get());
  ASSERT_OK(manager.Recover().status());  // starts the write-ahead log
  absl::StatusOr<std::shared_ptr<Session>> session =
      manager.Create(LbfgsRequest("alice.big", n));
  ASSERT_OK(session);
  TellOnce(**session, 0);
  ASSERT_OK((*session)->journal()->SyncNow());
  const int64_t journal = JournalBytes("alice.big");
  ASSERT_GT(2 * journal, 20000);
  v1::SessionSnapshot snapshot;
  EXPECT_THAT(
      manager.Export("alice.big", &snapshot),
      StatusIs(absl::StatusCode::kResourceExhausted,
               AllOf(HasSubstr(absl::StrCat(
                         "exporting session \"alice.big\" reads its journal "
                         "of ",
                         journal, " bytes into memory, about ", 2 * journal,
                         " bytes with the answer's copy, and tenant "
                         "\"alice\" holds ")),
                     HasSubstr(absl::StrCat(" of its ", state + 20000,
                                            " (--tenant_memory_bytes)")),
                     HasSubstr("delete sessions first"))));
  // Nothing read, nothing changed: the snapshot is empty and the session
  // goes on.
  EXPECT_EQ(snapshot.ByteSizeLong(), 0u);
  EXPECT_EQ(JournalBytes("alice.big"), journal);
  EXPECT_EQ((*session)->tells(), 1);
  TellOnce(**session, 0);
  // A small session of the same tenant exports.
  ASSERT_OK(manager.Create(LbfgsRequest("alice.small", 2)));
  EXPECT_OK(manager.Export("alice.small", &snapshot));
  EXPECT_EQ(snapshot.create().session_id(), "alice.small");
}

TEST_F(ExportMemoryTest, TheServerLimitHoldsForSessionsWithoutATenant) {
  const int64_t n = 1000;
  const int64_t state = EstimateStateBytes(LbfgsRequest("", n), n);
  SessionManager manager({.server_memory_bytes = state + 10000}, {},
                         store_.get());
  ASSERT_OK(manager.Recover().status());
  ASSERT_OK(manager.Create(LbfgsRequest("big", n)));
  v1::SessionSnapshot snapshot;
  EXPECT_THAT(manager.Export("big", &snapshot),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("exporting session \"big\" reads its "
                                       "journal of"),
                             HasSubstr("(--server_memory_bytes)"))));
  EXPECT_EQ(snapshot.ByteSizeLong(), 0u);
}

}  // namespace
}  // namespace optd::server
