// Curvature pairs carried from one solver into another when a session
// switches solvers (docs/api.md "Switch"): the checks a pair handed to a
// quasi-Newton memory must pass, and the pairs a first-order run's told
// gradients give.
//
//   std::vector<std::vector<double>> s, y;
//   OPTD_RETURN_IF_ERROR(CheckCurvaturePairs(s, y, n, "warm_start"));
//   CurvaturePairsFromIterates(points, gradients, memory, &s, &y);
//
// Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_CORE_CURVATURE_TRANSFER_H_
#define OPTD_SOLVERS_CORE_CURVATURE_TRANSFER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace optd {

// CheckCurvaturePairs()
//
// OK when s and y hold as many vectors, each of `dimension` finite elements,
// and every pair meets the curvature condition s.y > 0 (Nocedal & Wright,
// Numerical Optimization, 2nd ed., eq. 6.7: the condition under which the
// BFGS update keeps its matrix positive definite). INVALID_ARGUMENT naming
// the pair ("<prefix>.s[2]"), the value and the rule otherwise.
absl::Status CheckCurvaturePairs(const std::vector<std::vector<double>>& s,
                                 const std::vector<std::vector<double>>& y,
                                 int64_t dimension, absl::string_view prefix);

// CurvaturePairAccepted()
//
// Whether the pair s = x_{i+1} - x_i, y = g_{i+1} - g_i formed from two
// iterates with gradient g_i at the first is kept: s.y > eps * max(-g_i.s,
// 0). On a descent step (g_i.s < 0) this is L-BFGS-B's own test (lbfgsb.f
// mainlb: the update is skipped when dr = s.y <= epsmch * ddum = -g_i.s,
// which our Lbfgs::AcceptStep applies too); otherwise it is the curvature
// condition s.y > 0, which L-BFGS-B never needs to test because its line
// search gives only descent steps.
bool CurvaturePairAccepted(const std::vector<double>& s,
                           const std::vector<double>& y,
                           const std::vector<double>& g_first);

// CurvaturePairsFromIterates()
//
// The pairs that consecutive iterates points[i], gradients[i] (oldest
// first, as many of each, every vector of one size) give, oldest first,
// those CurvaturePairAccepted keeps, at most the newest `memory` of them,
// appended to *s and *y. Returns how many pairs were formed and not kept.
int CurvaturePairsFromIterates(
    const std::vector<std::vector<double>>& points,
    const std::vector<std::vector<double>>& gradients, int memory,
    std::vector<std::vector<double>>* s, std::vector<std::vector<double>>* y);

}  // namespace optd

#endif  // OPTD_SOLVERS_CORE_CURVATURE_TRANSFER_H_
