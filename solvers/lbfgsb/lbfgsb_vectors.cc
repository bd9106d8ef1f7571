#include "solvers/lbfgsb/lbfgsb_vectors.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace optd {

LocalLbfgsbVectors::LocalLbfgsbVectors(const ShardLayout& layout, int memory,
                                       const Bounds& bounds)
    : layout_(layout) {
  slices_.reserve(layout.ranges().size());
  const ConstVectorView lower = ConstVectorView::Float64(
      bounds.lower().data(), static_cast<int64_t>(bounds.lower().size()));
  const ConstVectorView upper = ConstVectorView::Float64(
      bounds.upper().data(), static_cast<int64_t>(bounds.upper().size()));
  for (const ShardRange& r : layout.ranges()) {
    slices_.emplace_back(r, memory);
    slices_.back().SetBounds(lower, upper);
  }
}

Reduction LocalLbfgsbVectors::Combine(const std::vector<BlockPartials>& parts) {
  std::vector<const BlockPartials*> pointers;
  pointers.reserve(parts.size());
  for (const BlockPartials& p : parts) pointers.push_back(&p);
  return SumInBlockOrder(pointers);
}

absl::StatusOr<BoxFlags> LocalLbfgsbVectors::Start(const ConstVectorView& x0) {
  if (auto s = layout_.CheckDimension(x0.size(), "x0"); !s.ok()) return s;
  BoxFlags flags;
  for (LbfgsbSlice& slice : slices_) {
    bool projected, constrained, boxed;
    slice.SetTrialPoint(x0);
    slice.Activate(&projected, &constrained, &boxed);
    flags.projected |= projected;
    flags.constrained |= constrained;
    flags.boxed &= boxed;
  }
  return flags;
}

absl::Status LocalLbfgsbVectors::SetTrialGradient(const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "gradient"); !s.ok()) {
    return s;
  }
  // Slices are in index order: the first bad index found is the global first.
  for (LbfgsbSlice& slice : slices_) {
    const int64_t bad = slice.SetTrialGradient(full);
    if (bad >= 0) return NonFiniteElementError("gradient", bad, full.Get(bad));
  }
  return absl::OkStatus();
}

absl::Status LocalLbfgsbVectors::ReadTrialPoint(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const LbfgsbSlice& slice : slices_) slice.ReadTrialPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLbfgsbVectors::ReadPoint(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const LbfgsbSlice& slice : slices_) slice.ReadPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLbfgsbVectors::ReadGradient(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const LbfgsbSlice& slice : slices_) slice.ReadGradient(full);
  return absl::OkStatus();
}

absl::Status LocalLbfgsbVectors::ReadPairs(
    int pairs, std::vector<std::vector<double>>* s,
    std::vector<std::vector<double>>* y) const {
  const size_t n = static_cast<size_t>(layout_.dimension());
  for (int j = 0; j < pairs; ++j) {
    std::vector<double> sj(n), yj(n);
    for (const LbfgsbSlice& slice : slices_) {
      slice.ReadPair(
          j, MutableVectorView::Float64(sj.data(), static_cast<int64_t>(n)),
          MutableVectorView::Float64(yj.data(), static_cast<int64_t>(n)));
    }
    s->push_back(std::move(sj));
    y->push_back(std::move(yj));
  }
  return absl::OkStatus();
}

absl::Status LocalLbfgsbVectors::AcceptInitial() {
  for (LbfgsbSlice& slice : slices_) slice.AcceptInitial();
  return absl::OkStatus();
}

absl::StatusOr<double> LocalLbfgsbVectors::ProjectedGradientNorm() {
  double norm = 0.0;  // a maximum: exact in any order
  for (const LbfgsbSlice& slice : slices_) {
    norm = std::max(norm, slice.ProjectedGradientNorm());
  }
  return norm;
}

absl::Status LocalLbfgsbVectors::SetCauchyPointToIterate() {
  for (LbfgsbSlice& slice : slices_) slice.SetCauchyPointToIterate();
  return absl::OkStatus();
}

absl::StatusOr<CauchyStartResult> LocalLbfgsbVectors::CauchyStart() {
  CauchyStartResult result;
  std::vector<BlockPartials> parts;
  for (LbfgsbSlice& slice : slices_) {
    CauchyCounts counts;
    parts.push_back(slice.CauchyStart(&counts));
    result.counts.breakpoints += counts.breakpoints;
    result.counts.movable += counts.movable;
    result.counts.unbounded_moving += counts.unbounded_moving;
  }
  result.sums = Combine(parts);
  return result;
}

absl::Status LocalLbfgsbVectors::Breakpoints(
    int slice, int64_t from, int count, std::vector<BreakpointRecord>* out) {
  slices_[slice].Breakpoints(from, count, out);
  return absl::OkStatus();
}

absl::Status LocalLbfgsbVectors::CauchyFinish(bool any_visited, double last_t,
                                              int64_t last_index, double tsum,
                                              bool move) {
  for (LbfgsbSlice& slice : slices_) {
    slice.CauchyFinish(any_visited, last_t, last_index, tsum, move);
  }
  return absl::OkStatus();
}

absl::StatusOr<FreeCounts> LocalLbfgsbVectors::FreeVariables(
    bool track_changes) {
  FreeCounts total;
  for (LbfgsbSlice& slice : slices_) {
    const FreeCounts c = slice.FreeVariables(track_changes);
    total.free += c.free;
    total.entering += c.entering;
    total.leaving += c.leaving;
  }
  return total;
}

absl::StatusOr<Reduction> LocalLbfgsbVectors::FormkSums(bool updated) {
  std::vector<BlockPartials> parts;
  for (const LbfgsbSlice& slice : slices_) {
    parts.push_back(slice.FormkSums(updated));
  }
  return Combine(parts);
}

absl::Status LocalLbfgsbVectors::ReducedGradient(bool negative_gradient,
                                                 double theta,
                                                 absl::Span<const double> wa) {
  for (LbfgsbSlice& slice : slices_) {
    slice.ReducedGradient(negative_gradient, theta, wa);
  }
  return absl::OkStatus();
}

absl::StatusOr<Reduction> LocalLbfgsbVectors::SubspaceProducts() {
  std::vector<BlockPartials> parts;
  for (const LbfgsbSlice& slice : slices_) {
    parts.push_back(slice.SubspaceProducts());
  }
  return Combine(parts);
}

absl::StatusOr<SubspaceStepResult> LocalLbfgsbVectors::SubspaceStep(
    double theta, absl::Span<const double> wv) {
  SubspaceStepResult result;
  std::vector<BlockPartials> parts;
  for (LbfgsbSlice& slice : slices_) {
    SubspaceStepPartials p = slice.SubspaceStep(theta, wv);
    parts.push_back(std::move(p.dd_p));
    result.projected |= p.projected;
    // Slices in index order with a strict test: ties go to the first index.
    if (p.alpha < result.alpha) {
      result.alpha = p.alpha;
      result.alpha_index = p.alpha_index;
    }
  }
  result.dd_p = Combine(parts).sums[0];
  return result;
}

absl::Status LocalLbfgsbVectors::SubspaceBacktrack(double alpha,
                                                   int64_t alpha_index) {
  for (LbfgsbSlice& slice : slices_) {
    slice.SubspaceBacktrack(alpha, alpha_index);
  }
  return absl::OkStatus();
}

absl::StatusOr<SearchDirectionResult>
LocalLbfgsbVectors::FormSearchDirection() {
  SearchDirectionResult result;
  result.step_bound = std::numeric_limits<double>::infinity();
  std::vector<BlockPartials> parts;
  for (LbfgsbSlice& slice : slices_) {
    SearchDirectionPartials p = slice.FormSearchDirection();
    parts.push_back(std::move(p.dots));
    result.step_bound = std::min(result.step_bound, p.step_bound);
  }
  const Reduction sums = Combine(parts);
  result.dtd = sums.sums[0];
  result.gd = sums.sums[1];
  return result;
}

absl::StatusOr<bool> LocalLbfgsbVectors::FormTrial(double stp, bool clip) {
  bool finite = true;
  for (LbfgsbSlice& slice : slices_) finite &= slice.FormTrial(stp, clip);
  return finite;
}

absl::StatusOr<double> LocalLbfgsbVectors::TrialSlope() {
  std::vector<BlockPartials> parts;
  for (const LbfgsbSlice& slice : slices_) parts.push_back(slice.TrialSlope());
  return Combine(parts).sums[0];
}

absl::StatusOr<double> LocalLbfgsbVectors::AcceptTrial() {
  double norm = 0.0;
  for (LbfgsbSlice& slice : slices_) norm = std::max(norm, slice.AcceptTrial());
  return norm;
}

absl::StatusOr<Reduction> LocalLbfgsbVectors::PushPair(double stp) {
  std::vector<BlockPartials> parts;
  for (LbfgsbSlice& slice : slices_) parts.push_back(slice.PushPair(stp));
  return Combine(parts);
}

absl::Status LocalLbfgsbVectors::ClearMemory() {
  for (LbfgsbSlice& slice : slices_) slice.ClearMemory();
  return absl::OkStatus();
}

}  // namespace optd
