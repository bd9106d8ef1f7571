// Tests of History's whole-run overview (Session.history_overview): the
// stride-doubling decimation, the best point, and its checkpoints.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/codec/time.h"
#include "server/session/trial_log.h"

namespace optd::server {
namespace {

using Entries = google::protobuf::RepeatedPtrField<v1::HistoryEntry>;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr int64_t kOverview = History::kOverviewLength;

Progress At(int64_t iterations, double value) {
  Progress progress;
  progress.iterations = iterations;
  progress.evaluations = 2 * iterations;
  progress.best_value = value;
  progress.gradient_max_norm = value / 10;
  progress.last_step = 1.0;
  return progress;
}

// Iteration i (1-based) at kNow + i seconds with value 1 / i: the best is
// always the newest.
void UpdateThrough(History* history, int64_t first, int64_t last) {
  for (int64_t i = first; i <= last; ++i) {
    history->Update(At(i, 1.0 / static_cast<double>(i)),
                    kNow + absl::Seconds(i));
  }
}

Entries Overview(const History& history) {
  Entries entries;
  history.WriteOverview(&entries);
  return entries;
}

// The overview's serialized bytes, for bitwise comparisons.
std::string OverviewBytes(const History& history) {
  v1::Session session;
  history.WriteOverview(session.mutable_history_overview());
  return session.SerializeAsString();
}

std::vector<int64_t> Iterations(const Entries& entries) {
  std::vector<int64_t> out;
  for (const v1::HistoryEntry& entry : entries)
    out.push_back(entry.iteration());
  return out;
}

TEST(HistoryOverview, KeepsEveryIterateUpToItsLength) {
  History history;
  UpdateThrough(&history, 1, kOverview);
  const Entries entries = Overview(history);
  ASSERT_EQ(entries.size(), kOverview);
  for (int64_t i = 0; i < kOverview; ++i) {
    EXPECT_EQ(entries[i].iteration(), i + 1);
  }
  EXPECT_EQ(entries[0].evaluations(), 2);
  EXPECT_EQ(entries[0].value(), 1.0);
  EXPECT_EQ(entries[0].gradient_max_norm(), 0.1);
  EXPECT_EQ(entries[0].step_length(), 1.0);
  EXPECT_EQ(TimeFromProto(entries[0].time()), kNow + absl::Seconds(1));
}

TEST(HistoryOverview, HalvesAndDoublesItsStrideWhenFull) {
  History history;
  UpdateThrough(&history, 1, kOverview + 1);
  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  // Ordinals 0, 2, ..., 512 (iterations 1, 3, ..., 513).
  EXPECT_EQ(checkpoint.history_overview_stride(), 2);
  EXPECT_EQ(checkpoint.history_overview_recorded(), kOverview + 1);
  ASSERT_EQ(checkpoint.history_overview_size(), kOverview / 2 + 1);
  for (int i = 0; i < checkpoint.history_overview_size(); ++i) {
    EXPECT_EQ(checkpoint.history_overview(i).iteration(), 2 * i + 1);
  }
  // The best (the newest, 513) was kept, so it is not added again.
  EXPECT_EQ(Overview(history).size(), kOverview / 2 + 1);
}

TEST(HistoryOverview, BoundedEvenlySpacedFromTheFirstWithTheBest) {
  // Values fall to a minimum at iteration 777777 and rise again after it.
  constexpr int64_t kTotal = 1000000;
  constexpr int64_t kBest = 777777;
  History history;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 1; i <= kTotal; ++i) {
    const double value = std::abs(static_cast<double>(i - kBest)) + 1.0;
    history.Update(At(i, value), kNow + absl::Milliseconds(i));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  // About 30 ms on a laptop; well under a second even under sanitizers.
  EXPECT_LT(seconds, 1.0);

  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  const int64_t stride = checkpoint.history_overview_stride();
  EXPECT_EQ(checkpoint.history_overview_recorded(), kTotal);
  // 2^11 = 2048: 10^6 / 2048 = 488.3 points (the smallest stride that fits).
  EXPECT_EQ(stride, 2048);
  ASSERT_LE(checkpoint.history_overview_size(), kOverview);
  EXPECT_GT(checkpoint.history_overview_size(), kOverview / 2);
  for (int i = 0; i < checkpoint.history_overview_size(); ++i) {
    EXPECT_EQ(checkpoint.history_overview(i).iteration(), 1 + i * stride);
  }
  EXPECT_EQ(checkpoint.history_best().iteration(), kBest);
  EXPECT_EQ(checkpoint.history_best().value(), 1.0);

  // The written overview: the kept points and the best in its place.
  const Entries entries = Overview(history);
  ASSERT_EQ(entries.size(), checkpoint.history_overview_size() + 1);
  EXPECT_EQ(entries[0].iteration(), 1);
  int best = -1;
  for (int i = 0; i < entries.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(entries[i - 1].iteration(), entries[i].iteration());
    }
    if (entries[i].iteration() == kBest) best = i;
  }
  ASSERT_GE(best, 0);
  EXPECT_EQ(entries[best].value(), 1.0);
  EXPECT_EQ(TimeFromProto(entries[best].time()),
            kNow + absl::Milliseconds(kBest));
}

TEST(HistoryOverview, BestIsTheEarliestLowestValueThatIsNotNaN) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  History history;
  history.Update(At(1, kNaN), kNow);
  EXPECT_EQ(Overview(history).size(), 1);  // no best yet: just the point
  history.Update(At(2, 3.0), kNow);
  history.Update(At(3, 2.0), kNow);
  history.Update(At(4, 2.0), kNow);
  history.Update(At(5, kNaN), kNow);
  // 2048 iterates: the stride grows to 4 (ordinals 0, 4, ...: iterations
  // 1, 5, 9, ...), so the best, iteration 3, is no longer among them.
  for (int64_t i = 6; i <= 4 * kOverview; ++i) history.Update(At(i, 9.0), kNow);
  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  EXPECT_EQ(checkpoint.history_overview_stride(), 4);
  EXPECT_EQ(checkpoint.history_best().iteration(), 3);
  EXPECT_EQ(checkpoint.history_best().value(), 2.0);
  const std::vector<int64_t> iterations = Iterations(Overview(history));
  ASSERT_EQ(iterations.size(), static_cast<size_t>(kOverview) + 1);
  EXPECT_EQ(iterations[0], 1);
  EXPECT_EQ(iterations[1], 3);
  EXPECT_EQ(iterations[2], 5);
  EXPECT_EQ(iterations[3], 9);
}

TEST(HistoryOverview, CheckpointAndResumeGiveTheUninterruptedOverview) {
  History uninterrupted;
  UpdateThrough(&uninterrupted, 1, 5000);

  History first;
  UpdateThrough(&first, 1, 1234);
  v1::SessionCheckpoint checkpoint;
  first.WriteCheckpoint(&checkpoint);
  History resumed;
  resumed.Restore(checkpoint);
  // A replay repeats the checkpoint's last iteration; it is not recorded
  // twice.
  UpdateThrough(&resumed, 1234, 5000);

  EXPECT_EQ(OverviewBytes(resumed), OverviewBytes(uninterrupted));
  v1::SessionCheckpoint a, b;
  uninterrupted.WriteCheckpoint(&a);
  resumed.WriteCheckpoint(&b);
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

TEST(HistoryOverview, OldCheckpointStartsTheOverviewFromItsRecentPoints) {
  History history;
  UpdateThrough(&history, 1, 300);
  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  // As written before the overview existed.
  checkpoint.clear_history_overview();
  checkpoint.clear_history_overview_stride();
  checkpoint.clear_history_overview_recorded();
  checkpoint.clear_history_best();

  History restored;
  restored.Restore(checkpoint);
  Entries entries = Overview(restored);
  ASSERT_EQ(entries.size(), static_cast<int>(History::kLength));
  EXPECT_EQ(entries[0].iteration(), 201);
  EXPECT_EQ(entries[entries.size() - 1].iteration(), 300);
  // It goes on from there, counting ordinals from iteration 201.
  UpdateThrough(&restored, 301, 201 + kOverview);
  v1::SessionCheckpoint after;
  restored.WriteCheckpoint(&after);
  EXPECT_EQ(after.history_overview_stride(), 2);
  EXPECT_EQ(after.history_overview_recorded(), kOverview + 1);
  EXPECT_EQ(after.history_overview(0).iteration(), 201);
  EXPECT_EQ(after.history_overview(1).iteration(), 203);
  EXPECT_EQ(after.history_best().iteration(), 201 + kOverview);
}

TEST(HistoryOverview, EmptyUntilAnIterationCompletes) {
  History history;
  history.Update(At(0, 1.0), kNow);
  EXPECT_TRUE(Overview(history).empty());
  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  EXPECT_EQ(checkpoint.history_overview_stride(), 1);
  EXPECT_FALSE(checkpoint.has_history_best());
  History restored;
  restored.Restore(checkpoint);
  EXPECT_TRUE(Overview(restored).empty());
}

}  // namespace
}  // namespace optd::server

namespace optd::server {
namespace {

// current_value and trust_radius travel when a solver reports them, and are
// absent (not 0) when it does not, in the recent history, the overview and
// through a checkpoint.
TEST(HistoryFields, CurrentValueAndTrustRadiusAreAbsentUnlessReported) {
  History history;
  Progress adam = At(1, 2.0);
  adam.current_value = 3.5;
  history.Update(adam, kNow);
  Progress trust = At(2, 1.0);
  trust.current_value = 1.0;
  trust.trust_radius = 0.25;
  history.Update(trust, kNow + absl::Seconds(1));
  history.Update(At(3, 0.5), kNow + absl::Seconds(2));  // neither
  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  History restored;
  restored.Restore(checkpoint);
  for (const History* h : {&history, &restored}) {
    Entries recent;
    h->Write(&recent);
    ASSERT_EQ(recent.size(), 3);
    EXPECT_EQ(recent[0].current_value(), 3.5);
    EXPECT_FALSE(recent[0].has_trust_radius());
    EXPECT_EQ(recent[1].current_value(), 1.0);
    EXPECT_EQ(recent[1].trust_radius(), 0.25);
    EXPECT_FALSE(recent[2].has_current_value());
    EXPECT_FALSE(recent[2].has_trust_radius());
    const Entries overview = Overview(*h);
    ASSERT_EQ(overview.size(), 3);
    EXPECT_EQ(overview[1].trust_radius(), 0.25);
    EXPECT_FALSE(overview[2].has_current_value());
  }
}

}  // namespace
}  // namespace optd::server
