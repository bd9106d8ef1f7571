#include "solvers/lbfgs/lbfgs_vectors.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/slice_state.h"

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

absl::Status LbfgsVectors::ReadGradient(const MutableVectorView& full) const {
  return absl::FailedPreconditionError(
      "the gradient of a sharded L-BFGS session lives on its replicas and is "
      "not gathered");
}

absl::Status LocalLbfgsVectors::ReadGradient(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const LbfgsSlice& slice : slices_) {
    full.CopyFrom(slice.range().begin, slice.range().size(),
                  slice.state_vector(1).data());  // g (LbfgsSlice)
  }
  return absl::OkStatus();
}

absl::Status LbfgsVectors::ReadPairs(
    std::vector<std::vector<double>>* s,
    std::vector<std::vector<double>>* y) const {
  return absl::FailedPreconditionError(
      "the curvature pairs of a sharded L-BFGS session live on its replicas "
      "and are not gathered");
}

absl::Status LocalLbfgsVectors::ReadPairs(
    std::vector<std::vector<double>>* s,
    std::vector<std::vector<double>>* y) const {
  // State vectors 5 .. 5 + k - 1 are s_0..s_{k-1}, then y_0..y_{k-1}
  // (LbfgsSlice::state_vector), each slice holding its range.
  const int k = pairs();
  const int64_t n = layout_.dimension();
  for (int i = 0; i < 2 * k; ++i) {
    std::vector<double> full(static_cast<size_t>(n));
    for (const LbfgsSlice& slice : slices_) {
      const std::vector<double>& part = slice.state_vector(5 + i);
      std::copy(part.begin(), part.end(), full.begin() + slice.range().begin);
    }
    (i < k ? s : y)->push_back(std::move(full));
  }
  return absl::OkStatus();
}

absl::Status LbfgsVectors::SaveState(std::string* out) const {
  return absl::UnimplementedError("these L-BFGS vectors cannot save a state");
}

absl::Status LbfgsVectors::RestoreState(std::string_view in) {
  return absl::UnimplementedError(
      "these L-BFGS vectors cannot restore a state");
}

int64_t LocalLbfgsVectors::StateBytes() const {
  return StateSize(kLbfgsSliceHeaderBytes, slices_.front().state_vectors(),
                   layout_.dimension());
}

// Vector by vector (x of every slice, then g of every slice, ...), so that
// the bytes are the whole vectors whatever the slicing.
absl::Status LocalLbfgsVectors::SaveState(std::string* out) const {
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  AppendLbfgsSliceHeader({pairs()}, out);
  for (int v = 0; v < slices_.front().state_vectors(); ++v) {
    for (const LbfgsSlice& slice : slices_) {
      AppendF64s(slice.state_vector(v).data(),
                 static_cast<size_t>(slice.range().size()), out);
    }
  }
  return absl::OkStatus();
}

absl::Status LocalLbfgsVectors::RestoreState(std::string_view in) {
  OPTD_ASSIGN_OR_RETURN(LbfgsSliceHeader header,
                        ParseLbfgsSliceHeader(in, slices_.front().memory()));
  const int64_t n = layout_.dimension();
  const int64_t expected =
      StateSize(kLbfgsSliceHeaderBytes, header.state_vectors(), n);
  if (static_cast<int64_t>(in.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("the L-BFGS vectors state has ", in.size(), " bytes; ",
                     header.state_vectors(), " vectors of dimension ", n,
                     " need ", expected));
  }
  const std::string_view vectors = in.substr(kLbfgsSliceHeaderBytes);
  for (LbfgsSlice& slice : slices_) {
    slice.LoadState(header.pairs, vectors, n, slice.range().begin);
  }
  return absl::OkStatus();
}

}  // namespace optd
