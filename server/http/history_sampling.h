// Down-sampling a session's history for plots (the JSON API's
// GET /api/v1/sessions/{id}/history?max_points=N, json_api.h), in two
// stages: the server keeps a bounded overview of the whole run beside the
// recent history (History in server/session/trial_log.h), which
// MergeHistory() joins; then at most N of the merged entries, always with
// the first, the last and the best one, the rest spread evenly over the
// entries between them.
//
//   std::vector<const v1::HistoryEntry*> history =
//       MergeHistory(session.history_overview(), session.history());
//   std::vector<int> kept = SampleHistory(values_of(history), 1000);
//   for (int i : kept) out.push_back(*history[i]);
//
// Thread-safety: a pure function.
#ifndef OPTD_SERVER_HTTP_HISTORY_SAMPLING_H_
#define OPTD_SERVER_HTTP_HISTORY_SAMPLING_H_

#include <vector>

#include "optd/v1/optimizer.pb.h"

namespace optd::server {

// The fewest points SampleHistory() keeps out of a longer history: the first,
// the last and the best.
inline constexpr int kMinHistoryPoints = 3;

// MergeHistory()
//
// The entries of `overview` and `recent` (each oldest first, iterations
// increasing) merged in order of iteration, each iteration once (from
// `recent` when both hold it). The pointers point into the arguments.
std::vector<const v1::HistoryEntry*> MergeHistory(
    const google::protobuf::RepeatedPtrField<v1::HistoryEntry>& overview,
    const google::protobuf::RepeatedPtrField<v1::HistoryEntry>& recent);

// SampleHistory()
//
// The indices, ascending and distinct, of the entries of a history whose
// values are `values` (oldest first; NaN for unknown) to keep for at most
// `max_points` points:
//   - every index when values.size() <= max_points;
//   - else 0, the last, and the best (the lowest value that is not NaN, the
//     earliest of equals; none when every value is NaN), and max_points minus
//     those many more at evenly spaced positions floor(j (n - 1) / (m + 1)),
//     j = 1..m, of which duplicates are dropped (so a few fewer may come).
// The result depends on the values only: the same history gives the same
// points. REQUIRES: max_points >= kMinHistoryPoints.
std::vector<int> SampleHistory(const std::vector<double>& values,
                               int max_points);

}  // namespace optd::server

#endif  // OPTD_SERVER_HTTP_HISTORY_SAMPLING_H_
