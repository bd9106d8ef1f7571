#include "solvers/trust_region/trust_region_vectors.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/slice_state.h"

namespace optd {

LocalTrustRegionVectors::LocalTrustRegionVectors(const ShardLayout& layout,
                                                 int memory, bool cg_vectors)
    : layout_(layout) {
  slices_.reserve(layout.ranges().size());
  for (const ShardRange& r : layout.ranges()) {
    slices_.emplace_back(r, memory, cg_vectors);
  }
}

absl::Status LocalTrustRegionVectors::CheckSize(int64_t size,
                                                const char* what) const {
  return layout_.CheckDimension(size, what);
}

template <typename Setter>
absl::Status LocalTrustRegionVectors::SetChecked(const ConstVectorView& full,
                                                 const char* what, Setter set) {
  if (auto s = CheckSize(full.size(), what); !s.ok()) return s;
  // Slices are in index order, so the first bad index found is the global
  // first.
  for (TrustRegionSlice& slice : slices_) {
    const int64_t bad = set(slice);
    if (bad >= 0) {
      return NonFiniteElementError(what, bad, full.Get(bad));
    }
  }
  return absl::OkStatus();
}

template <typename Reduce>
Reduction LocalTrustRegionVectors::Combine(Reduce reduce) {
  std::vector<BlockPartials> parts;
  parts.reserve(slices_.size());
  for (TrustRegionSlice& slice : slices_) parts.push_back(reduce(slice));
  std::vector<const BlockPartials*> ptrs;
  for (const BlockPartials& p : parts) ptrs.push_back(&p);
  return SumInBlockOrder(ptrs);
}

absl::Status LocalTrustRegionVectors::SetTrialPoint(
    const ConstVectorView& full) {
  if (auto s = CheckSize(full.size(), "point"); !s.ok()) return s;
  for (TrustRegionSlice& slice : slices_) slice.SetTrialPoint(full);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::SetTrialGradient(
    const ConstVectorView& full) {
  return SetChecked(full, "gradient", [&](TrustRegionSlice& slice) {
    return slice.SetTrialGradient(full);
  });
}

absl::Status LocalTrustRegionVectors::SetProduct(const ConstVectorView& full) {
  return SetChecked(full, "hessian_vector", [&](TrustRegionSlice& slice) {
    return slice.SetProduct(full);
  });
}

absl::Status LocalTrustRegionVectors::ReadTrialPoint(
    const MutableVectorView& full) const {
  if (auto s = CheckSize(full.size(), "output"); !s.ok()) return s;
  for (const TrustRegionSlice& slice : slices_) slice.ReadTrialPoint(full);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::ReadPoint(
    const MutableVectorView& full) const {
  if (auto s = CheckSize(full.size(), "output"); !s.ok()) return s;
  for (const TrustRegionSlice& slice : slices_) slice.ReadPoint(full);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::ReadGradient(
    const MutableVectorView& full) const {
  if (auto s = CheckSize(full.size(), "output"); !s.ok()) return s;
  for (const TrustRegionSlice& slice : slices_) slice.ReadGradient(full);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::ReadDirection(
    const MutableVectorView& full) const {
  if (auto s = CheckSize(full.size(), "output"); !s.ok()) return s;
  for (const TrustRegionSlice& slice : slices_) slice.ReadDirection(full);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::SetStep(const ConstVectorView& full) {
  if (auto s = CheckSize(full.size(), "step"); !s.ok()) return s;
  for (TrustRegionSlice& slice : slices_) slice.SetStep(full);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::FormStep(
    absl::Span<const double> coefficients) {
  if (coefficients.size() != static_cast<size_t>(2 * pairs() + 1)) {
    return absl::InternalError(absl::StrCat("step has ", coefficients.size(),
                                            " coefficients for ", pairs(),
                                            " pairs"));
  }
  for (TrustRegionSlice& slice : slices_) slice.FormStep(coefficients);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::FormCgStep(double tau) {
  for (TrustRegionSlice& slice : slices_) slice.FormCgStep(tau);
  return absl::OkStatus();
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::ReduceTrial(bool with_pair) {
  return Combine(
      [&](TrustRegionSlice& slice) { return slice.ReduceTrial(with_pair); });
}

absl::Status LocalTrustRegionVectors::Advance(bool push_pair, bool accept) {
  for (TrustRegionSlice& slice : slices_) slice.Advance(push_pair, accept);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::CgStart() {
  for (TrustRegionSlice& slice : slices_) slice.CgStart();
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::FormDifferencePoint(double h) {
  for (TrustRegionSlice& slice : slices_) slice.FormDifferencePoint(h);
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::DifferenceProduct(double h) {
  for (TrustRegionSlice& slice : slices_) slice.DifferenceProduct(h);
  return absl::OkStatus();
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::ReduceCurvature() {
  return Combine(
      [](TrustRegionSlice& slice) { return slice.ReduceCurvature(); });
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::CgAdvance(double alpha) {
  return Combine(
      [&](TrustRegionSlice& slice) { return slice.CgAdvance(alpha); });
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::CgDirection(double beta) {
  return Combine(
      [&](TrustRegionSlice& slice) { return slice.CgDirection(beta); });
}

namespace {

absl::Status NoBounds() {
  return absl::FailedPreconditionError("these vectors have no bounds");
}

}  // namespace

absl::Status LocalTrustRegionVectors::SetBounds(const Bounds& box) {
  if (auto s = CheckSize(box.size(), "bounds"); !s.ok()) return s;
  for (TrustRegionSlice& slice : slices_) slice.SetBounds(box);
  return absl::OkStatus();
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::ReduceBox() {
  if (!slices_.front().bounded()) return NoBounds();
  return Combine([](TrustRegionSlice& slice) { return slice.ReduceBox(); });
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::ReduceFreeGram() {
  if (!slices_.front().bounded()) return NoBounds();
  return Combine(
      [](TrustRegionSlice& slice) { return slice.ReduceFreeGram(); });
}

absl::StatusOr<Reduction> LocalTrustRegionVectors::FormProjectedStep(
    absl::Span<const double> coefficients) {
  if (!slices_.front().bounded()) return NoBounds();
  if (coefficients.size() != static_cast<size_t>(2 * pairs() + 1)) {
    return absl::InternalError(absl::StrCat("step has ", coefficients.size(),
                                            " coefficients for ", pairs(),
                                            " pairs"));
  }
  return Combine([&](TrustRegionSlice& slice) {
    return slice.FormProjectedStep(coefficients);
  });
}

absl::Status TrustRegionVectors::SaveState(std::string* out) const {
  return absl::UnimplementedError(
      "these trust-region vectors cannot save a state");
}

absl::Status TrustRegionVectors::RestoreState(std::string_view in) {
  return absl::UnimplementedError(
      "these trust-region vectors cannot restore a state");
}

int64_t LocalTrustRegionVectors::StateBytes() const {
  return StateSize(kTrustRegionSliceHeaderBytes,
                   slices_.front().state_vectors(), layout_.dimension());
}

// Vector by vector (x of every slice, then g of every slice, ...), so that
// the bytes are the whole vectors whatever the slicing.
absl::Status LocalTrustRegionVectors::SaveState(std::string* out) const {
  const TrustRegionSlice& front = slices_.front();
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  AppendTrustRegionSliceHeader(
      {front.pairs(), front.cg_vectors(), front.bounded()}, out);
  for (int v = 0; v < front.state_vectors(); ++v) {
    for (const TrustRegionSlice& slice : slices_) {
      AppendF64s(slice.state_vector(v).data(),
                 static_cast<size_t>(slice.range().size()), out);
    }
  }
  return absl::OkStatus();
}

absl::Status LocalTrustRegionVectors::RestoreState(std::string_view in) {
  OPTD_ASSIGN_OR_RETURN(TrustRegionSliceHeader header,
                        ParseTrustRegionSliceHeader(in, kMaxCurvaturePairs));
  // Every slice has the same memory, CG vectors and (one slice) bounds.
  OPTD_RETURN_IF_ERROR(slices_.front().CheckHeader(
      header.pairs, header.cg_vectors, header.bounded));
  const int64_t n = layout_.dimension();
  const int64_t expected =
      StateSize(kTrustRegionSliceHeaderBytes, header.state_vectors(), n);
  if (static_cast<int64_t>(in.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("the trust-region vectors state has ", in.size(),
                     " bytes; ", header.state_vectors(),
                     " vectors of dimension ", n, " need ", expected));
  }
  const std::string_view vectors = in.substr(kTrustRegionSliceHeaderBytes);
  for (TrustRegionSlice& slice : slices_) {
    slice.LoadState(header.pairs, vectors, n, slice.range().begin);
  }
  return absl::OkStatus();
}

}  // namespace optd
