#include "server/http/history_sampling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace optd::server {

std::vector<const v1::HistoryEntry*> MergeHistory(
    const google::protobuf::RepeatedPtrField<v1::HistoryEntry>& overview,
    const google::protobuf::RepeatedPtrField<v1::HistoryEntry>& recent) {
  std::vector<const v1::HistoryEntry*> merged;
  merged.reserve(overview.size() + recent.size());
  int i = 0, j = 0;
  while (i < overview.size() || j < recent.size()) {
    if (j == recent.size() ||
        (i < overview.size() &&
         overview[i].iteration() < recent[j].iteration())) {
      merged.push_back(&overview[i++]);
    } else {
      if (i < overview.size() &&
          overview[i].iteration() == recent[j].iteration()) {
        ++i;
      }
      merged.push_back(&recent[j++]);
    }
  }
  return merged;
}

std::vector<int> SampleHistory(const std::vector<double>& values,
                               int max_points) {
  const int n = static_cast<int>(values.size());
  std::vector<int> kept;
  if (n <= max_points) {
    kept.resize(n);
    std::iota(kept.begin(), kept.end(), 0);
    return kept;
  }
  kept = {0, n - 1};
  int best = -1;
  for (int i = 0; i < n; ++i) {
    if (std::isnan(values[i])) continue;
    if (best < 0 || values[i] < values[best]) best = i;
  }
  if (best > 0 && best < n - 1) kept.push_back(best);
  const int64_t spread = max_points - static_cast<int64_t>(kept.size());
  for (int64_t j = 1; j <= spread; ++j) {
    kept.push_back(static_cast<int>(j * (n - 1) / (spread + 1)));
  }
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  return kept;
}

}  // namespace optd::server
