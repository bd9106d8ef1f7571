#include "server/session/trial_ledger.h"

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codec/time.h"
#include "server/testing/fake_solver.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::server::testing::FakeSolver;
using ::optd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);
const absl::Duration kLease = absl::Seconds(30);

// LeaseTrials with the retry hint it gives.
struct Leased {
  std::vector<uint64_t> ids;
  absl::Duration retry_after;
};
Leased Lease(TrialLedger& ledger, const FakeSolver& solver,
             absl::string_view worker, size_t wanted, absl::Time now,
             bool served = false) {
  Leased leased;
  leased.ids = ledger.LeaseTrials(worker, wanted, served, now, kLease, solver,
                                  "s", &leased.retry_after);
  return leased;
}

TEST(TrialLedger, FirstBatchGetsIdsOneToBatchSize) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  EXPECT_TRUE(ledger.has_pending_trial());
  EXPECT_EQ(ledger.batch_first_id(), 1u);
  EXPECT_EQ(ledger.last_trial_id(), 3u);
  EXPECT_EQ(ledger.batch_start(), kStart);
  EXPECT_THAT(ledger.OutstandingIds(solver), ElementsAre(1, 2, 3));
  EXPECT_FALSE(ledger.Outstanding(0, solver));
  EXPECT_TRUE(ledger.Outstanding(3, solver));
  EXPECT_FALSE(ledger.Outstanding(4, solver));
  EXPECT_THAT(ledger.leases(), IsEmpty());
}

TEST(TrialLedger, SolverFinishedAtOnceLeavesNothingPending) {
  FakeSolver solver(2, 0);
  TrialLedger ledger(0, kStart);
  EXPECT_FALSE(ledger.has_pending_trial());
  EXPECT_FALSE(ledger.Outstanding(1, solver));
  EXPECT_THAT(ledger.OutstandingIds(solver), IsEmpty());
  EXPECT_EQ(ledger.OutstandingText(solver), "no trial is outstanding");
}

TEST(TrialLedger, ToldTrialsAreNoLongerOutstanding) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  EXPECT_EQ(ledger.OutstandingText(solver),
            "the outstanding trials are 1, 2, 3");
  solver.set_told(1);
  EXPECT_FALSE(ledger.Outstanding(2, solver));
  EXPECT_THAT(ledger.OutstandingIds(solver), ElementsAre(1, 3));
  EXPECT_EQ(ledger.OutstandingText(solver), "the outstanding trials are 1, 3");
  solver.set_told(0);
  EXPECT_EQ(ledger.OutstandingText(solver), "the outstanding trial is 3");
  solver.set_told(2);
  EXPECT_EQ(ledger.OutstandingText(solver), "no trial is outstanding");
}

TEST(TrialLedger, OutstandingTextShowsEightIdsAndCountsTheRest) {
  FakeSolver solver(1, 11);
  TrialLedger ledger(11, kStart);
  EXPECT_EQ(ledger.OutstandingText(solver),
            "the outstanding trials are 1, 2, 3, 4, 5, 6, 7, 8 and 3 more");
}

TEST(TrialLedger, NextBatchContinuesTheIdsAndDropsTheLeases) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  ASSERT_THAT(Lease(ledger, solver, "w", 1, kStart).ids, ElementsAre(1));
  const absl::Time next = kStart + absl::Seconds(5);
  ledger.NextBatch(2, next);
  solver.NewBatch(2);
  EXPECT_EQ(ledger.batch_first_id(), 4u);
  EXPECT_EQ(ledger.last_trial_id(), 5u);
  EXPECT_EQ(ledger.batch_start(), next);
  EXPECT_THAT(ledger.leases(), IsEmpty());
  EXPECT_THAT(ledger.OutstandingIds(solver), ElementsAre(4, 5));
  EXPECT_FALSE(ledger.Outstanding(3, solver));
}

TEST(TrialLedger, NotOutstandingSaysWhetherTheIdWasEverIssued) {
  FakeSolver solver(2, 2);
  TrialLedger ledger(3, kStart);
  ledger.NextBatch(2, kStart);  // trials 4 and 5
  EXPECT_THAT(ledger.NotOutstanding(9, "exp", solver),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "trial 9 was never issued by session \"exp\"; the "
                       "outstanding trials are 4, 5"));
  EXPECT_THAT(
      ledger.NotOutstanding(2, "exp", solver),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "trial 2 of session \"exp\" was answered long ago and is no "
               "longer outstanding; the outstanding trials are 4, 5"));
  // The last id issued was issued, even once told.
  solver.set_told(1);
  EXPECT_THAT(
      ledger.NotOutstanding(5, "exp", solver),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               "trial 5 of session \"exp\" was answered long ago and is no "
               "longer outstanding; the outstanding trial is 4"));
}

TEST(TrialLedger, FinishLeavesNothingOutstanding) {
  FakeSolver solver(2, 2);
  TrialLedger ledger(2, kStart);
  ASSERT_THAT(Lease(ledger, solver, "w", 2, kStart).ids, ElementsAre(1, 2));
  ledger.Finish();
  EXPECT_FALSE(ledger.has_pending_trial());
  EXPECT_THAT(ledger.leases(), IsEmpty());
  EXPECT_THAT(ledger.OutstandingIds(solver), IsEmpty());
  EXPECT_THAT(ledger.NotOutstanding(2, "exp", solver),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "trial 2 of session \"exp\" was answered long ago and "
                       "is no longer outstanding; no trial is outstanding"));
  // Nothing pending: nothing to lease, and nothing to wait for.
  const Leased leased = Lease(ledger, solver, "w", 1, kStart);
  EXPECT_THAT(leased.ids, IsEmpty());
  EXPECT_EQ(leased.retry_after, absl::ZeroDuration());
}

TEST(TrialLedger, AnsweredDigestsDetectRetriesWithinTheWindow) {
  TrialLedger ledger(1, kStart);
  EXPECT_EQ(ledger.FindAnswered(1), nullptr);
  ledger.RecordAnswered(1, 0xabc);
  ledger.RecordAnswered(0, 0xdef);  // a stop without a trial
  ASSERT_NE(ledger.FindAnswered(1), nullptr);
  EXPECT_EQ(ledger.FindAnswered(1)->digest, 0xabcu);
  ASSERT_NE(ledger.FindAnswered(0), nullptr);
  EXPECT_EQ(ledger.FindAnswered(0)->digest, 0xdefu);
  EXPECT_EQ(ledger.FindAnswered(2), nullptr);
  // The oldest digests go once kAnsweredDigests newer ones are kept.
  for (uint64_t id = 2; id <= TrialLedger::kAnsweredDigests; ++id) {
    ledger.RecordAnswered(id, id);
  }
  EXPECT_EQ(ledger.FindAnswered(1), nullptr);
  ASSERT_NE(ledger.FindAnswered(0), nullptr);
  ledger.RecordAnswered(TrialLedger::kAnsweredDigests + 1, 7);
  EXPECT_EQ(ledger.FindAnswered(0), nullptr);
  ASSERT_NE(ledger.FindAnswered(2), nullptr);
  EXPECT_EQ(ledger.FindAnswered(TrialLedger::kAnsweredDigests + 1)->digest, 7u);
}

TEST(TrialLedger, WorkersLeaseFreeTrialsInIdOrder) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  Leased a = Lease(ledger, solver, "a", 2, kStart);
  EXPECT_THAT(a.ids, ElementsAre(1, 2));
  EXPECT_EQ(a.retry_after, absl::ZeroDuration());
  const absl::Time later = kStart + absl::Seconds(10);
  Leased b = Lease(ledger, solver, "b", 2, later);
  EXPECT_THAT(b.ids, ElementsAre(3));
  EXPECT_EQ(ledger.leases().at(1).worker, "a");
  EXPECT_EQ(ledger.leases().at(1).expiry, kStart + kLease);
  EXPECT_EQ(ledger.leases().at(3).expiry, later + kLease);
  EXPECT_EQ(ledger.HeldBy("a", later), 2);
  EXPECT_EQ(ledger.HeldBy("b", later), 1);
  // Nothing free: come back when the earliest lease of another ends.
  Leased c = Lease(ledger, solver, "c", 1, later);
  EXPECT_THAT(c.ids, IsEmpty());
  EXPECT_EQ(c.retry_after, kStart + kLease - later);
  EXPECT_EQ(ledger.HeldBy("c", later), 0);
}

TEST(TrialLedger, AskingAgainRenewsTheWorkersLeases) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  ASSERT_THAT(Lease(ledger, solver, "a", 2, kStart).ids, ElementsAre(1, 2));
  const absl::Time later = kStart + absl::Seconds(20);
  EXPECT_THAT(Lease(ledger, solver, "a", 2, later).ids, ElementsAre(1, 2));
  EXPECT_EQ(ledger.leases().at(1).expiry, later + kLease);
  EXPECT_EQ(ledger.leases().at(2).expiry, later + kLease);
  // Asking for more takes the next free trial as well.
  EXPECT_THAT(Lease(ledger, solver, "a", 5, later).ids, ElementsAre(1, 2, 3));
  EXPECT_EQ(ledger.HeldBy("a", later), 3);
  // Leases lapse: none is held once they expired.
  EXPECT_EQ(ledger.HeldBy("a", later + kLease), 0);
}

TEST(TrialLedger, ExpiredLeasesAreTakenOverBeforeLaterFreeTrials) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  ASSERT_THAT(Lease(ledger, solver, "a", 1, kStart).ids, ElementsAre(1));
  const absl::Time expired = kStart + kLease;
  EXPECT_THAT(Lease(ledger, solver, "b", 1, expired).ids, ElementsAre(1));
  EXPECT_EQ(ledger.leases().at(1).worker, "b");
  EXPECT_EQ(ledger.leases().at(1).expiry, expired + kLease);
  EXPECT_EQ(ledger.HeldBy("a", expired), 0);
}

TEST(TrialLedger, ToldTrialsAreNeitherLeasedNorHeld) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  ASSERT_THAT(Lease(ledger, solver, "a", 1, kStart).ids, ElementsAre(1));
  solver.set_told(0);
  ledger.Told(1);
  EXPECT_EQ(ledger.leases().count(1), 0u);
  solver.set_told(1);  // told without a lease
  EXPECT_THAT(Lease(ledger, solver, "a", 3, kStart).ids, ElementsAre(3));
}

TEST(TrialLedger, AServedWorkerGetsUntakenTrialsOnlyAfterALease) {
  FakeSolver solver(2, 3);
  TrialLedger ledger(3, kStart);
  const absl::Time soon = kStart + absl::Seconds(10);
  // A data-parallel worker that already told a trial of this batch leaves
  // the others to the workers that have not, for a lease from the batch's
  // start...
  Leased early = Lease(ledger, solver, "a", 1, soon, /*served=*/true);
  EXPECT_THAT(early.ids, IsEmpty());
  EXPECT_EQ(early.retry_after, kStart + kLease - soon);
  EXPECT_THAT(ledger.leases(), IsEmpty());
  // ...then takes what nobody took.
  EXPECT_THAT(Lease(ledger, solver, "b", 1, soon).ids, ElementsAre(1));
  EXPECT_THAT(
      Lease(ledger, solver, "a", 2, kStart + kLease, /*served=*/true).ids,
      ElementsAre(2, 3));
}

TEST(TrialLedger, CheckpointRestoresIdsBatchAndDigestsButNoLeases) {
  FakeSolver solver(2, 2);
  TrialLedger ledger(3, kStart);
  ledger.NextBatch(2, kStart);  // trials 4 and 5
  ledger.RecordAnswered(3, 33);
  ASSERT_THAT(Lease(ledger, solver, "a", 1, kStart).ids, ElementsAre(4));
  v1::SessionCheckpoint checkpoint;
  ledger.WriteCheckpoint(&checkpoint);
  EXPECT_EQ(checkpoint.last_trial_id(), 5u);
  EXPECT_EQ(checkpoint.batch_first_id(), 4u);
  EXPECT_TRUE(checkpoint.has_pending_trial());
  ASSERT_EQ(checkpoint.answered_size(), 1);
  EXPECT_EQ(checkpoint.answered(0).trial_id(), 3u);
  EXPECT_EQ(checkpoint.answered(0).digest(), 33u);

  const absl::Time saved = kStart + absl::Minutes(3);
  TimeToProto(saved, checkpoint.mutable_update_time());
  TrialLedger restored(1, absl::InfinitePast());
  restored.Restore(checkpoint, 4);
  EXPECT_EQ(restored.last_trial_id(), 5u);
  EXPECT_EQ(restored.batch_first_id(), 4u);
  EXPECT_TRUE(restored.has_pending_trial());
  EXPECT_EQ(restored.batch_start(), saved);
  ASSERT_NE(restored.FindAnswered(3), nullptr);
  EXPECT_EQ(restored.FindAnswered(3)->digest, 33u);
  EXPECT_THAT(restored.leases(), IsEmpty());
  EXPECT_THAT(restored.OutstandingIds(solver), ElementsAre(4, 5));
  // After a restart every trial is free again, the scan included.
  EXPECT_THAT(Lease(restored, solver, "b", 2, saved).ids, ElementsAre(4, 5));
}

}  // namespace
}  // namespace optd::server
