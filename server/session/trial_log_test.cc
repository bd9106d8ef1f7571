#include "server/session/trial_log.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codec/time.h"
#include "server/testing/fake_solver.h"
#include "server/testing/rosenbrock.h"

namespace optd::server {
namespace {

using ::optd::server::testing::FakeSolver;
using ::optd::server::testing::ToDoubles;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

ConstVectorView View(const std::vector<double>& v) {
  return ConstVectorView::Float64(v.data(), static_cast<int64_t>(v.size()));
}

// A record of trial `id` told by `worker`, with `note` (its size sets the
// record's).
v1::TrialRecord Told(uint64_t id, const std::string& worker = "w",
                     const std::string& note = "") {
  v1::TrialRecord record;
  record.set_trial_id(id);
  record.set_worker_id(worker);
  record.set_note(note);
  return record;
}

std::vector<uint64_t> IdsAfter(const TrialLog& log, uint64_t after,
                               int64_t* dropped = nullptr) {
  v1::Session session;
  log.WriteAfter(after, &session);
  if (dropped != nullptr) *dropped = session.trial_log_dropped();
  std::vector<uint64_t> ids;
  for (const v1::TrialRecord& record : session.trial_log()) {
    ids.push_back(record.trial_id());
  }
  return ids;
}

TEST(TrialLogRecord, HoldsTheTellAndTheTrialsPoint) {
  FakeSolver solver(3, 2);
  solver.set_wants(1, Evaluation::kGradient);
  v1::TellRequest tell;
  tell.set_trial_id(8);
  tell.set_value(2.5);
  tell.set_worker_id("gpu-3");
  tell.set_note("shard 7");
  tell.set_weight(0.25);
  const std::vector<double> gradient = {1.0, -4.0, 3.0};
  const v1::TrialRecord record = TrialLog::Record(
      tell, solver, 1, View(gradient), /*keep_point=*/true, kNow);
  EXPECT_EQ(record.trial_id(), 8u);
  EXPECT_EQ(record.wants(), v1::EVALUATION_GRADIENT);
  EXPECT_THAT(ToDoubles(record.x()), ElementsAre(100.0, 101.0, 102.0));
  EXPECT_FALSE(record.failed());
  EXPECT_EQ(record.value(), 2.5);
  EXPECT_EQ(record.gradient_max_norm(), 4.0);
  EXPECT_EQ(record.worker_id(), "gpu-3");
  EXPECT_EQ(record.note(), "shard 7");
  EXPECT_EQ(record.weight(), 0.25);
  EXPECT_EQ(TimeFromProto(record.time()), kNow);
}

TEST(TrialLogRecord, FailedOrNonFiniteTellsHaveNoValueNorGradientNorm) {
  FakeSolver solver(2, 1);
  const std::vector<double> gradient = {1.0, 2.0};
  v1::TellRequest failed;
  failed.set_trial_id(1);
  failed.set_failed(true);
  failed.set_value(3.0);
  v1::TrialRecord record =
      TrialLog::Record(failed, solver, 0, View(gradient), false, kNow);
  EXPECT_TRUE(record.failed());
  EXPECT_TRUE(std::isnan(record.value()));
  EXPECT_TRUE(std::isnan(record.gradient_max_norm()));
  // Without keep_point there is no point; without a weight it is 1.
  EXPECT_FALSE(record.has_x());
  EXPECT_EQ(record.weight(), 1.0);

  v1::TellRequest infinite;
  infinite.set_value(INFINITY);
  record = TrialLog::Record(infinite, solver, 0, View(gradient), false, kNow);
  EXPECT_TRUE(record.failed());
  EXPECT_TRUE(std::isnan(record.value()));

  // No value told (a gradient-only trial): not failed, value NaN.
  v1::TellRequest gradient_only;
  record =
      TrialLog::Record(gradient_only, solver, 0, View(gradient), false, kNow);
  EXPECT_FALSE(record.failed());
  EXPECT_TRUE(std::isnan(record.value()));
  EXPECT_EQ(record.gradient_max_norm(), 2.0);
}

TEST(TrialLogRecord, GradientNormOnlyUpToItsLimit) {
  FakeSolver solver(1, 1);
  v1::TellRequest tell;
  tell.set_value(1.0);
  std::vector<double> empty;
  EXPECT_TRUE(
      std::isnan(TrialLog::Record(tell, solver, 0, View(empty), false, kNow)
                     .gradient_max_norm()));
  std::vector<double> at_limit(TrialLog::kMaxGradientNorm, -0.5);
  EXPECT_EQ(TrialLog::Record(tell, solver, 0, View(at_limit), false, kNow)
                .gradient_max_norm(),
            0.5);
  std::vector<double> over(TrialLog::kMaxGradientNorm + 1, -0.5);
  EXPECT_TRUE(
      std::isnan(TrialLog::Record(tell, solver, 0, View(over), false, kNow)
                     .gradient_max_norm()));
}

TEST(TrialLog, WriteAfterGivesTheNewerRecordsInOrder) {
  TrialLog log;
  EXPECT_EQ(log.memory(), 0);
  for (uint64_t id = 1; id <= 5; ++id) log.Append(Told(id));
  EXPECT_GT(log.memory(), 0);
  int64_t dropped = -1;
  EXPECT_THAT(IdsAfter(log, 3, &dropped), ElementsAre(4, 5));
  EXPECT_EQ(dropped, 0);
  EXPECT_THAT(IdsAfter(log, 0), ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(IdsAfter(log, 5), IsEmpty());
}

TEST(TrialLog, KeepsTheNewestRecordsWithinItsBytes) {
  TrialLog log;
  const std::string mib(size_t{1} << 20, 'n');
  // kMaxBytes is 8 MiB: seven records of a little over 1 MiB fit, eight not.
  for (uint64_t id = 1; id <= 10; ++id) log.Append(Told(id, "w", mib));
  int64_t dropped = -1;
  EXPECT_THAT(IdsAfter(log, 0, &dropped), ElementsAre(4, 5, 6, 7, 8, 9, 10));
  EXPECT_EQ(dropped, 3);
  const int64_t seven = log.memory();
  EXPECT_GT(seven, 7 * static_cast<int64_t>(mib.size()));
  // A record larger than the whole log is kept alone.
  log.Append(Told(11, "w", std::string(TrialLog::kMaxBytes + 1, 'n')));
  EXPECT_THAT(IdsAfter(log, 0, &dropped), ElementsAre(11));
  EXPECT_EQ(dropped, 10);
  EXPECT_GT(log.memory(), static_cast<int64_t>(TrialLog::kMaxBytes));
  log.Append(Told(12));
  EXPECT_THAT(IdsAfter(log, 0, &dropped), ElementsAre(12));
  EXPECT_EQ(dropped, 11);
  EXPECT_LT(log.memory(), seven);
}

TEST(TrialLog, WorkerToldSinceLooksAtRecordsFromTheId) {
  TrialLog log;
  log.Append(Told(1, "a"));
  log.Append(Told(2, "b"));
  log.Append(Told(3, "c"));
  EXPECT_TRUE(log.WorkerToldSince("a", 1));
  EXPECT_FALSE(log.WorkerToldSince("a", 2));
  EXPECT_TRUE(log.WorkerToldSince("b", 2));
  EXPECT_TRUE(log.WorkerToldSince("c", 3));
  EXPECT_FALSE(log.WorkerToldSince("c", 4));
  EXPECT_FALSE(log.WorkerToldSince("d", 1));
}

TEST(TrialLog, CheckpointKeepsTheNewestRecordsAndCountsTheRestDropped) {
  TrialLog log;
  const uint64_t total = TrialLog::kCheckpointRecords + 5;
  for (uint64_t id = 1; id <= total; ++id) log.Append(Told(id));
  v1::SessionCheckpoint checkpoint;
  log.WriteCheckpoint(&checkpoint);
  ASSERT_EQ(checkpoint.trial_log_size(),
            static_cast<int>(TrialLog::kCheckpointRecords));
  EXPECT_EQ(checkpoint.trial_log(0).trial_id(), 6u);
  EXPECT_EQ(checkpoint.trial_log_dropped(), 5);

  TrialLog restored;
  restored.Restore(checkpoint);
  int64_t dropped = -1;
  const std::vector<uint64_t> ids = IdsAfter(restored, 0, &dropped);
  ASSERT_EQ(ids.size(), TrialLog::kCheckpointRecords);
  EXPECT_EQ(ids.front(), 6u);
  EXPECT_EQ(ids.back(), total);
  EXPECT_EQ(dropped, 5);
  EXPECT_GT(restored.memory(), 0);
  // The restored log counts its bytes: appending still drops the oldest.
  restored.Append(Told(total + 1, "w", std::string(TrialLog::kMaxBytes, 'n')));
  EXPECT_THAT(IdsAfter(restored, 0, &dropped), ElementsAre(total + 1));
  EXPECT_EQ(dropped, 5 + static_cast<int64_t>(TrialLog::kCheckpointRecords));
}

TEST(TrialLog, ClearForgetsTheRecordsAndTheirMemory) {
  TrialLog log;
  log.Append(Told(1));
  log.Append(Told(2));
  log.Clear();
  EXPECT_THAT(IdsAfter(log, 0), IsEmpty());
  EXPECT_EQ(log.memory(), 0);
  EXPECT_FALSE(log.WorkerToldSince("w", 1));
}

Progress At(int64_t iterations, double value) {
  Progress progress;
  progress.iterations = iterations;
  progress.evaluations = 2 * iterations;
  progress.best_value = value;
  progress.gradient_max_norm = value / 10;
  progress.last_step = 1.0;
  return progress;
}

TEST(History, RecordsEachCompletedIterationOnce) {
  History history;
  history.Update(At(0, 9.0), kNow);  // no iteration completed yet
  history.Update(At(1, 5.0), kNow);
  history.Update(At(1, 4.0), kNow + absl::Seconds(1));  // same iteration
  history.Update(At(3, 2.0), kNow + absl::Seconds(2));
  google::protobuf::RepeatedPtrField<v1::HistoryEntry> entries;
  history.Write(&entries);
  ASSERT_EQ(entries.size(), 2);
  EXPECT_EQ(entries[0].iteration(), 1);
  EXPECT_EQ(entries[0].evaluations(), 2);
  EXPECT_EQ(entries[0].value(), 5.0);
  EXPECT_EQ(entries[0].gradient_max_norm(), 0.5);
  EXPECT_EQ(entries[0].step_length(), 1.0);
  EXPECT_EQ(TimeFromProto(entries[0].time()), kNow);
  EXPECT_EQ(entries[1].iteration(), 3);
  EXPECT_EQ(TimeFromProto(entries[1].time()), kNow + absl::Seconds(2));
}

TEST(History, KeepsTheLastIteratesAndSurvivesACheckpoint) {
  History history;
  const int64_t total = History::kLength + 20;
  for (int64_t i = 1; i <= total; ++i) {
    history.Update(At(i, 1.0 / i), kNow + absl::Seconds(i));
  }
  v1::SessionCheckpoint checkpoint;
  history.WriteCheckpoint(&checkpoint);
  ASSERT_EQ(checkpoint.history_size(), static_cast<int>(History::kLength));
  EXPECT_EQ(checkpoint.history(0).iteration(), 21);
  EXPECT_EQ(checkpoint.history_iterations(), total);

  History restored;
  restored.Restore(checkpoint);
  google::protobuf::RepeatedPtrField<v1::HistoryEntry> entries;
  restored.Write(&entries);
  ASSERT_EQ(entries.size(), static_cast<int>(History::kLength));
  EXPECT_EQ(entries[0].iteration(), 21);
  EXPECT_EQ(TimeFromProto(entries[0].time()), kNow + absl::Seconds(21));
  // The restored iteration count: an iterate already recorded is not again.
  restored.Update(At(total, 0.0), kNow);
  restored.Update(At(total + 1, 0.0), kNow);
  entries.Clear();
  restored.Write(&entries);
  ASSERT_EQ(entries.size(), static_cast<int>(History::kLength));
  EXPECT_EQ(entries[entries.size() - 1].iteration(), total + 1);
  EXPECT_EQ(entries[0].iteration(), 22);
}

}  // namespace
}  // namespace optd::server
