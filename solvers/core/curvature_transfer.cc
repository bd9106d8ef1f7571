// The checks and the pair selection of curvature_transfer.h.
#include "solvers/core/curvature_transfer.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace optd {
namespace {

// In index order, so that every server forms the same pairs.
double Dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

absl::Status CheckVector(const std::vector<double>& v, int64_t dimension,
                         const std::string& name) {
  if (static_cast<int64_t>(v.size()) != dimension) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " has ", v.size(), " elements; the dimension is ", dimension));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, "[", i, "] is ", v[i],
                       "; every element of a curvature pair must be finite"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCurvaturePairs(const std::vector<std::vector<double>>& s,
                                 const std::vector<std::vector<double>>& y,
                                 int64_t dimension, absl::string_view prefix) {
  if (s.size() != y.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ".s has ", s.size(), " vectors and ", prefix,
                     ".y has ", y.size(), "; a pair is one of each"));
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if (absl::Status status =
            CheckVector(s[i], dimension, absl::StrCat(prefix, ".s[", i, "]"));
        !status.ok()) {
      return status;
    }
    if (absl::Status status =
            CheckVector(y[i], dimension, absl::StrCat(prefix, ".y[", i, "]"));
        !status.ok()) {
      return status;
    }
    const double sy = Dot(s[i], y[i]);
    if (!(sy > 0.0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, " pair ", i, " has s.y = ", sy,
          "; a curvature pair needs s.y > 0 (Nocedal & Wright eq. 6.7)"));
    }
  }
  return absl::OkStatus();
}

bool CurvaturePairAccepted(const std::vector<double>& s,
                           const std::vector<double>& y,
                           const std::vector<double>& g_first) {
  const double sy = Dot(s, y);
  const double descent = -Dot(g_first, s);
  return std::isfinite(sy) &&
         sy > std::numeric_limits<double>::epsilon() * std::max(descent, 0.0);
}

int CurvaturePairsFromIterates(
    const std::vector<std::vector<double>>& points,
    const std::vector<std::vector<double>>& gradients, int memory,
    std::vector<std::vector<double>>* s, std::vector<std::vector<double>>* y) {
  std::vector<std::vector<double>> kept_s, kept_y;
  int dropped = 0;
  for (size_t i = 0; i + 1 < points.size() && i + 1 < gradients.size(); ++i) {
    std::vector<double> si(points[i].size()), yi(points[i].size());
    for (size_t e = 0; e < si.size(); ++e) {
      si[e] = points[i + 1][e] - points[i][e];
      yi[e] = gradients[i + 1][e] - gradients[i][e];
    }
    if (!CurvaturePairAccepted(si, yi, gradients[i])) {
      ++dropped;
      continue;
    }
    kept_s.push_back(std::move(si));
    kept_y.push_back(std::move(yi));
  }
  const size_t first =
      kept_s.size() > static_cast<size_t>(std::max(memory, 0))
          ? kept_s.size() - static_cast<size_t>(std::max(memory, 0))
          : 0;
  for (size_t i = first; i < kept_s.size(); ++i) {
    s->push_back(std::move(kept_s[i]));
    y->push_back(std::move(kept_y[i]));
  }
  return dropped;
}

}  // namespace optd
