#include "solvers/sharding/block_reduction.h"

#include <algorithm>
#include <cmath>

namespace optd {

Reduction SumInBlockOrder(absl::Span<const BlockPartials* const> parts) {
  std::vector<const BlockPartials*> ordered;
  int quantities = 0;
  Reduction out;
  for (const BlockPartials* p : parts) {
    if (p->num_blocks() == 0) continue;
    ordered.push_back(p);
    quantities = p->quantities();
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const BlockPartials* a, const BlockPartials* b) {
              return a->first_block() < b->first_block();
            });
  out.sums.assign(static_cast<size_t>(quantities), 0.0);
  for (const BlockPartials* p : ordered) {
    for (int64_t b = 0; b < p->num_blocks(); ++b) {
      for (int q = 0; q < quantities; ++q) out.sums[q] += p->at(b, q);
    }
    // A NaN anywhere must survive; std::max would drop it depending on order.
    if (std::isnan(p->max_abs()) || std::isnan(out.max_abs)) {
      out.max_abs = std::numeric_limits<double>::quiet_NaN();
    } else {
      out.max_abs = std::max(out.max_abs, p->max_abs());
    }
  }
  return out;
}

double BlockDot(const double* a, const double* b, int64_t len) {
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= len; i += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += a[i + j] * b[i + j];
  }
  for (int j = 0; i < len; ++i, ++j) lane[j] += a[i] * b[i];
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
         ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

double MaxAbs(const double* a, int64_t len) {
  double m = 0.0;
  for (int64_t i = 0; i < len; ++i) {
    const double v = std::fabs(a[i]);
    if (!(v <= m)) m = v;  // also takes NaN, which then sticks
    if (std::isnan(m)) return m;
  }
  return m;
}

}  // namespace optd
