#include "solvers/curvature/lanczos_vectors.h"

namespace optd {

LocalLanczosVectors::LocalLanczosVectors(const ShardLayout& layout,
                                         bool gradients)
    : layout_(layout) {
  slices_.reserve(layout.ranges().size());
  for (const ShardRange& r : layout.ranges()) {
    slices_.emplace_back(r, layout.dimension(), gradients);
  }
}

template <typename Reduce>
Reduction LocalLanczosVectors::Combine(Reduce reduce) {
  std::vector<BlockPartials> parts;
  parts.reserve(slices_.size());
  for (LanczosSlice& slice : slices_) parts.push_back(reduce(slice));
  std::vector<const BlockPartials*> ptrs;
  for (const BlockPartials& p : parts) ptrs.push_back(&p);
  return SumInBlockOrder(ptrs);
}

absl::Status LocalLanczosVectors::SetPoint(const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "x0"); !s.ok()) return s;
  for (LanczosSlice& slice : slices_) slice.SetPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLanczosVectors::SetProduct(const ConstVectorView& full,
                                             const char* what) {
  if (auto s = layout_.CheckDimension(full.size(), what); !s.ok()) return s;
  // Slices are in index order: the first bad index found is the global
  // first.
  for (LanczosSlice& slice : slices_) {
    const int64_t bad = slice.SetProduct(full);
    if (bad >= 0) return NonFiniteElementError(what, bad, full.Get(bad));
  }
  return absl::OkStatus();
}

absl::Status LocalLanczosVectors::SetGradient(int k,
                                              const ConstVectorView& full,
                                              const char* what) {
  if (auto s = layout_.CheckDimension(full.size(), what); !s.ok()) return s;
  for (LanczosSlice& slice : slices_) {
    const int64_t bad = slice.SetGradient(k, full);
    if (bad >= 0) return NonFiniteElementError(what, bad, full.Get(bad));
  }
  return absl::OkStatus();
}

absl::Status LocalLanczosVectors::ReadPoint(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) {
    return s;
  }
  for (const LanczosSlice& slice : slices_) slice.ReadPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLanczosVectors::ReadVector(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) {
    return s;
  }
  for (const LanczosSlice& slice : slices_) slice.ReadVector(full);
  return absl::OkStatus();
}

absl::Status LocalLanczosVectors::ReadShiftedPoint(
    double h, const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) {
    return s;
  }
  for (const LanczosSlice& slice : slices_) slice.ReadShiftedPoint(h, full);
  return absl::OkStatus();
}

absl::StatusOr<Reduction> LocalLanczosVectors::PointSquares() {
  return Combine([](LanczosSlice& s) { return s.PointSquares(); });
}

absl::StatusOr<int64_t> LocalLanczosVectors::DifferenceProduct(double h) {
  int64_t first = -1;
  for (LanczosSlice& slice : slices_) {
    const int64_t bad = slice.DifferenceProduct(h);
    if (first < 0) first = bad;
  }
  return first;
}

absl::StatusOr<Reduction> LocalLanczosVectors::Rademacher(bool clear_basis,
                                                          uint64_t draws) {
  return Combine(
      [&](LanczosSlice& s) { return s.Rademacher(clear_basis, draws); });
}

absl::StatusOr<LeastCovered> LocalLanczosVectors::LeastCoveredCoordinate() {
  std::vector<LeastCovered> parts;
  for (const LanczosSlice& s : slices_) {
    parts.push_back(s.LeastCoveredCoordinate());
  }
  return CombineLeastCovered(parts);
}

absl::StatusOr<Reduction> LocalLanczosVectors::Coordinate(int64_t index) {
  return Combine([&](LanczosSlice& s) { return s.Coordinate(index); });
}

absl::StatusOr<Reduction> LocalLanczosVectors::Orthogonalize(
    absl::Span<const double> c) {
  return Combine([&](LanczosSlice& s) { return s.Orthogonalize(c); });
}

absl::StatusOr<Reduction> LocalLanczosVectors::PushBasis() {
  return Combine([](LanczosSlice& s) { return s.PushBasis(); });
}

absl::StatusOr<Reduction> LocalLanczosVectors::Residual(double alpha,
                                                        double beta) {
  return Combine([&](LanczosSlice& s) { return s.Residual(alpha, beta); });
}

absl::Status LocalLanczosVectors::NextVector(double scale) {
  for (LanczosSlice& slice : slices_) slice.NextVector(scale);
  return absl::OkStatus();
}

absl::Status LocalLanczosVectors::ClearBasis() {
  for (LanczosSlice& slice : slices_) slice.ClearBasis();
  return absl::OkStatus();
}

}  // namespace optd
