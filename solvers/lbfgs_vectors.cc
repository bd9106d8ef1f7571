#include "solvers/lbfgs_vectors.h"

#include "absl/strings/str_cat.h"

namespace optd {

LocalLbfgsVectors::LocalLbfgsVectors(const ShardLayout& layout, int memory)
    : layout_(layout) {
  slices_.reserve(layout.ranges().size());
  for (const ShardRange& r : layout.ranges()) slices_.emplace_back(r, memory);
}

absl::Status LocalLbfgsVectors::SetTrialPoint(const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "point"); !s.ok()) return s;
  for (LbfgsSlice& slice : slices_) slice.SetTrialPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::SetTrialGradient(const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "gradient"); !s.ok())
    return s;
  // Slices are in index order, so the first bad index found is the global
  // first.
  for (LbfgsSlice& slice : slices_) {
    const int64_t bad = slice.SetTrialGradient(full);
    if (bad >= 0) {
      return NonFiniteElementError("gradient", bad, full.Get(bad));
    }
  }
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::ReadTrialPoint(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const LbfgsSlice& slice : slices_) slice.ReadTrialPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::ReadPoint(const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const LbfgsSlice& slice : slices_) slice.ReadPoint(full);
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::SetDirection(absl::Span<const double> delta) {
  for (LbfgsSlice& slice : slices_) slice.SetDirection(delta);
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::FormTrial(double stp) {
  for (LbfgsSlice& slice : slices_) slice.FormTrial(stp);
  return absl::OkStatus();
}

absl::StatusOr<Reduction> LocalLbfgsVectors::ReduceTrial(double stp,
                                                         bool with_candidate) {
  std::vector<BlockPartials> parts;
  parts.reserve(slices_.size());
  for (const LbfgsSlice& slice : slices_) {
    parts.push_back(slice.ReduceTrial(stp, with_candidate));
  }
  std::vector<const BlockPartials*> ptrs;
  for (const BlockPartials& p : parts) ptrs.push_back(&p);
  return SumInBlockOrder(ptrs);
}

absl::Status LocalLbfgsVectors::Accept(bool push_pair, double stp) {
  for (LbfgsSlice& slice : slices_) slice.Accept(push_pair, stp);
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::ClearMemory() {
  for (LbfgsSlice& slice : slices_) slice.ClearMemory();
  return absl::OkStatus();
}

}  // namespace optd
