// TrialLog and History: what a session remembers of its past, for
// GetSession (include_trials, history) and its checkpoints.
//
// TrialLog owns the records of applied tells of trials, oldest first, up to
// kMaxBytes of records (the oldest go first, and are counted as dropped).
// History owns the last kLength accepted iterates, and an overview of every
// accepted iterate since the start, decimated to at most kOverviewLength
// points by stride doubling (as in round-robin databases), plus the best one.
//
//   TrialLog log;
//   log.Append(TrialLog::Record(request, solver, k, gradient,
//                               /*keep_point=*/true, now));
//   log.WriteAfter(trials_after_id, &session_proto);
//
// Thread-safety: none of their own; a Session keeps them under its mutex,
// except TrialLog::memory(), which any thread may read.
#ifndef OPTD_SERVER_SESSION_TRIAL_LOG_H_
#define OPTD_SERVER_SESSION_TRIAL_LOG_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "optd/v1/optimizer.pb.h"
#include "solvers/core/solver.h"
#include "solvers/core/vector_view.h"

namespace optd::server {

class TrialLog {
 public:
  // The newest records up to this many bytes are kept; points are kept up to
  // dimension kMaxDimension, gradient norms up to kMaxGradientNorm elements.
  // A checkpoint keeps the newest kCheckpointRecords records (the journal's
  // tells after it rebuild the rest).
  static constexpr size_t kMaxBytes = size_t{8} << 20;
  static constexpr int64_t kMaxDimension = 100;
  static constexpr size_t kCheckpointRecords = 1000;
  static constexpr int64_t kMaxGradientNorm = 100000;

  // TrialLog::Record()
  //
  // The record of a tell of batch trial `k` about to be applied (its point
  // is read before the solver moves on; only with `keep_point`).
  static v1::TrialRecord Record(const v1::TellRequest& request,
                                const Solver& solver, int k,
                                const ConstVectorView& gradient,
                                bool keep_point, absl::Time now);

  // Keeps `record`; the oldest records go while over kMaxBytes.
  void Append(v1::TrialRecord record);
  // Whether `worker` told a trial with an id >= `first_id` that is still in
  // the log.
  bool WorkerToldSince(absl::string_view worker, uint64_t first_id) const;
  // GetSession: the records of trials after `trials_after_id`, and the count
  // of dropped ones.
  void WriteAfter(uint64_t trials_after_id, v1::Session* out) const;
  // The newest kCheckpointRecords records (the others count as dropped).
  void WriteCheckpoint(v1::SessionCheckpoint* checkpoint) const;
  void Restore(const v1::SessionCheckpoint& checkpoint);
  void Clear();

  // Bytes the records hold in memory (their SpaceUsedLong), for the memory
  // quotas. Lock-free: written under the session's lock, read by any thread.
  int64_t memory() const { return memory_.load(std::memory_order_relaxed); }

 private:
  std::deque<v1::TrialRecord> records_;
  int64_t dropped_ = 0;
  size_t bytes_ = 0;
  std::atomic<int64_t> memory_{0};
};

class History {
 public:
  // How many accepted iterates it keeps (Session.history in sessions.proto).
  static constexpr size_t kLength = 100;
  // The most points the overview keeps (Session.history_overview), besides
  // the best one.
  static constexpr size_t kOverviewLength = 512;

  // Records the solver's progress at `now` when it completed an iteration
  // since the last one recorded.
  void Update(const Progress& progress, absl::Time now);
  // Oldest first.
  void Write(google::protobuf::RepeatedPtrField<v1::HistoryEntry>* out) const;
  // The overview, oldest first, with the best point in its place when the
  // decimation dropped it.
  void WriteOverview(
      google::protobuf::RepeatedPtrField<v1::HistoryEntry>* out) const;
  void WriteCheckpoint(v1::SessionCheckpoint* checkpoint) const;
  // A checkpoint without an overview (written before it existed) restores
  // one rebuilt from its recent points.
  void Restore(const v1::SessionCheckpoint& checkpoint);

 private:
  struct Point {
    int64_t iteration;
    int64_t evaluations;
    double value;
    double gradient_max_norm;
    double step_length;
    absl::Time time;
    double current_value;  // NaN: unknown
    double trust_radius;   // NaN: not a trust-region session
  };
  static Point FromProto(const v1::HistoryEntry& entry);
  static void ToProto(const Point& point, v1::HistoryEntry* entry);
  // Adds `point` to the overview and the best point.
  void Record(const Point& point);

  std::deque<Point> points_;
  int64_t iterations_ = 0;
  // The overview: the points recorded (0-based ordinals k < recorded_) with
  // k % stride_ == 0, oldest first, so overview_[i] is ordinal i * stride_.
  std::vector<Point> overview_;
  int64_t stride_ = 1;
  int64_t recorded_ = 0;
  // The recorded point of the lowest value that is not NaN (the earliest of
  // equals), if any.
  std::optional<Point> best_;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_SESSION_TRIAL_LOG_H_
