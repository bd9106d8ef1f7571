#include "solvers/adam_vectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace optd {

template <typename T>
LocalAdamVectors<T>::LocalAdamVectors(const ShardLayout& layout, bool amsgrad)
    : layout_(layout), amsgrad_(amsgrad) {
  for (const ShardRange& r : layout.ranges()) {
    AdamSlice<T> s;
    s.range = r;
    const size_t n = static_cast<size_t>(r.size());
    s.x.assign(n, T(0));
    s.m.assign(n, T(0));
    s.v.assign(n, T(0));
    if (amsgrad) s.v_max.assign(n, T(0));
    s.g.assign(n, T(0));
    slices_.push_back(std::move(s));
  }
}

template <typename T>
ScalarType LocalAdamVectors<T>::type() const {
  return std::is_same_v<T, float> ? ScalarType::kFloat32 : ScalarType::kFloat64;
}

template <typename T>
absl::Status LocalAdamVectors<T>::SetPoint(const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "point"); !s.ok()) return s;
  for (AdamSlice<T>& s : slices_) {
    full.CopyTo(s.range.begin, s.range.size(), s.x.data());
    std::fill(s.m.begin(), s.m.end(), T(0));
    std::fill(s.v.begin(), s.v.end(), T(0));
    std::fill(s.v_max.begin(), s.v_max.end(), T(0));
  }
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<double> LocalAdamVectors<T>::SetGradient(
    const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "gradient"); !s.ok())
    return s;
  T max_abs = 0;
  for (AdamSlice<T>& s : slices_) {
    // g is scratch: overwriting it changes no state the solver has committed.
    full.CopyTo(s.range.begin, s.range.size(), s.g.data());
    bool finite = true;
    for (const T value : s.g) {
      const T a = std::fabs(value);
      finite &= std::isfinite(a);
      max_abs = std::max(max_abs, a);
    }
    if (!finite) {
      for (int64_t i = 0; i < s.range.size(); ++i) {
        if (!std::isfinite(s.g[i])) {
          const int64_t index = s.range.begin + i;
          return absl::InvalidArgumentError(absl::StrCat(
              "gradient[", index, "] is ", full.Get(index),
              std::is_same_v<T, float> && std::isfinite(full.Get(index))
                  ? ", which overflows the session's float32 state"
                  : "",
              "; every gradient element must be finite (report a failed "
              "evaluation "
              "instead)"));
        }
      }
    }
  }
  return static_cast<double>(max_abs);
}

template <typename T>
absl::StatusOr<double> LocalAdamVectors<T>::GradientSquaredNorm() {
  std::vector<BlockPartials> parts;
  std::vector<double> widened;
  for (const AdamSlice<T>& s : slices_) {
    BlockPartials p(s.range.first_block(), s.range.num_blocks(), 1);
    for (int64_t b = 0; b < s.range.num_blocks(); ++b) {
      const int64_t lo = b * kReductionBlock;
      const int64_t len = std::min(kReductionBlock, s.range.size() - lo);
      widened.assign(s.g.begin() + lo, s.g.begin() + lo + len);
      p.at(b, 0) = BlockDot(widened.data(), widened.data(), len);
    }
    parts.push_back(std::move(p));
  }
  std::vector<const BlockPartials*> ptrs;
  for (const BlockPartials& p : parts) ptrs.push_back(&p);
  return SumInBlockOrder(ptrs).sums[0];
}

template <typename T>
absl::Status LocalAdamVectors<T>::Step(const AdamStepScalars& scalars) {
  for (AdamSlice<T>& s : slices_) {
    ApplyAdamUpdate<T, T>(scalars, s.range.size(), s.g.data(), s.x.data(),
                          s.m.data(), s.v.data(),
                          amsgrad_ ? s.v_max.data() : nullptr);
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status LocalAdamVectors<T>::ReadPoint(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const AdamSlice<T>& s : slices_)
    full.CopyFrom(s.range.begin, s.range.size(), s.x.data());
  return absl::OkStatus();
}

template <typename T>
template <typename Slice, typename Visit>
void LocalAdamVectors<T>::ForEachStateVector(Slice& slice, bool amsgrad,
                                             Visit visit) {
  visit(slice.x);
  visit(slice.m);
  visit(slice.v);
  if (amsgrad) visit(slice.v_max);
}

template <typename T>
int64_t LocalAdamVectors<T>::StateBytes() const {
  return layout_.dimension() * (amsgrad_ ? 4 : 3) *
         static_cast<int64_t>(sizeof(T));
}

// Vector by vector (x of every slice, then m of every slice, ...), so that
// the bytes are the global vectors whatever the slicing.
template <typename T>
void LocalAdamVectors<T>::SaveState(std::string* out) const {
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  for (int which = 0; which < (amsgrad_ ? 4 : 3); ++which) {
    for (const AdamSlice<T>& slice : slices_) {
      int index = 0;
      ForEachStateVector(slice, amsgrad_, [&](const std::vector<T>& v) {
        // Slices past the end of a short vector are empty.
        if (index++ == which && !v.empty()) {
          out->append(reinterpret_cast<const char*>(v.data()),
                      v.size() * sizeof(T));
        }
      });
    }
  }
}

template <typename T>
absl::Status LocalAdamVectors<T>::LoadState(std::string_view in) {
  if (static_cast<int64_t>(in.size()) != StateBytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Adam state has ", in.size(),
                     " bytes; this session needs ", StateBytes()));
  }
  size_t offset = 0;
  for (int which = 0; which < (amsgrad_ ? 4 : 3); ++which) {
    for (AdamSlice<T>& slice : slices_) {
      int index = 0;
      ForEachStateVector(slice, amsgrad_, [&](std::vector<T>& v) {
        if (index++ == which && !v.empty()) {
          std::memcpy(v.data(), in.data() + offset, v.size() * sizeof(T));
          offset += v.size() * sizeof(T);
        }
      });
    }
  }
  return absl::OkStatus();
}

template class LocalAdamVectors<float>;
template class LocalAdamVectors<double>;

}  // namespace optd
