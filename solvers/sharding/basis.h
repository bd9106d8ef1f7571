// The vector-free basis b = [s_0..s_{k-1}, y_0..y_{k-1}, g] of limited-memory
// quasi-Newton methods on one slice (Chen, Wang & Zhou, NeurIPS 2014): the
// controller keeps coefficients, the slices form vectors from them.
//
//   CombineBasis(delta, s, y, g, &d);   // d = sum_j delta_j b_j
//
// Thread-safety: a pure function of its arguments.
#ifndef OPTD_SOLVERS_SHARDING_BASIS_H_
#define OPTD_SOLVERS_SHARDING_BASIS_H_

#include <deque>
#include <utility>
#include <vector>

#include "absl/types/span.h"

namespace optd {

// The k curvature vectors s_i (or y_i) of one slice, oldest first.
using CurvatureRing = std::deque<std::vector<double>>;

// out <- c[2k] g + sum_i c[i] s_i + sum_i c[k + i] y_i, accumulated in that
// fixed order (g, then s oldest first, then y oldest first). The operation is
// elementwise, so the result is the same on every slice layout.
// REQUIRES: coefficients.size() == 2k + 1 with k = s.size() == y.size();
// every vector has g.size() elements; out != &g.
void CombineBasis(absl::Span<const double> coefficients, const CurvatureRing& s,
                  const CurvatureRing& y, const std::vector<double>& g,
                  std::vector<double>* out);

// Appends a pair of n-element vectors to the rings and returns them for the
// caller to fill; when `memory` pairs are already held, the oldest is dropped
// first and its storage reused. REQUIRES: s.size() == y.size() <= memory.
std::pair<std::vector<double>*, std::vector<double>*> AppendCurvaturePair(
    int memory, size_t n, CurvatureRing* s, CurvatureRing* y);

}  // namespace optd

#endif  // OPTD_SOLVERS_SHARDING_BASIS_H_
