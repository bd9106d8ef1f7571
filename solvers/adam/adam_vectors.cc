#include "solvers/adam/adam_vectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optd {

AdamSlots AdamSlots::For(const AdamHyper& hyper) {
  AdamSlots slots;
  slots.mask = AdamSlotMask(hyper);
  slots.s0_init = hyper.method == ElementwiseMethod::kAdagrad
                      ? hyper.initial_accumulator_value
                      : 0.0;
  return slots;
}

int AdamStepSlotMask(const AdamStepScalars& scalars) {
  return ElementwiseSlotMask(scalars.method, scalars.amsgrad, scalars.momentum,
                             scalars.centered);
}

template <typename T>
AdamSlice<T>::AdamSlice(ShardRange r, AdamSlots kept) : range(r), slots(kept) {
  const size_t n = static_cast<size_t>(r.size());
  x.assign(n, T(0));
  for (int i = 0; i < 3; ++i) {
    if (slots.has(i)) s[i].assign(n, T(0));
  }
  g.assign(n, T(0));
}

template <typename T>
absl::Status RoundBoundsInward(const double* lower, const double* upper,
                               int64_t n, int64_t first, T* lo_out, T* hi_out) {
  constexpr T kInf = std::numeric_limits<T>::infinity();
  constexpr double kMax = std::numeric_limits<T>::max();
  for (int64_t e = 0; e < n; ++e) {
    const int64_t i = first + e;
    const double l = lower[e], u = upper[e];
    // Out-of-range conversions are spelled out (they are undefined in C++).
    T lo = l > kMax ? kInf : (l < -kMax ? -kInf : static_cast<T>(l));
    T hi = u > kMax ? kInf : (u < -kMax ? -kInf : static_cast<T>(u));
    // Inward, so that a point read back in double is inside the box.
    if (lo < l) lo = std::nextafter(lo, kInf);
    if (hi > u) hi = std::nextafter(hi, -kInf);
    if (lo > hi) lo = hi = static_cast<T>(l);
    if ((std::isfinite(l) && !std::isfinite(lo)) ||
        (std::isfinite(u) && !std::isfinite(hi))) {
      const bool bad_lower = std::isfinite(l) && !std::isfinite(lo);
      return absl::InvalidArgumentError(
          absl::StrCat(bad_lower ? "bounds.lower[" : "bounds.upper[", i,
                       "] = ", bad_lower ? l : u,
                       " is outside the range of the session's float32 state"));
    }
    if (lo_out != nullptr) {
      lo_out[e] = lo;
      hi_out[e] = hi;
    }
  }
  return absl::OkStatus();
}

template absl::Status RoundBoundsInward<float>(const double*, const double*,
                                               int64_t, int64_t, float*,
                                               float*);
template absl::Status RoundBoundsInward<double>(const double*, const double*,
                                                int64_t, int64_t, double*,
                                                double*);

template <typename T>
absl::Status AdamSlice<T>::SetBounds(const Bounds& box) {
  return SetBounds(box.lower().data() + range.begin,
                   box.upper().data() + range.begin);
}

template <typename T>
absl::Status AdamSlice<T>::SetBounds(const double* lower_range,
                                     const double* upper_range) {
  const size_t n = static_cast<size_t>(range.size());
  std::vector<T> lo_t(n), hi_t(n);
  OPTD_RETURN_IF_ERROR(RoundBoundsInward(lower_range, upper_range, range.size(),
                                         range.begin, lo_t.data(),
                                         hi_t.data()));
  lower = std::move(lo_t);
  upper = std::move(hi_t);
  return absl::OkStatus();
}

template <typename T>
T AdamSlice<T>::Projected(int64_t e, T value) const {
  // torch.clamp(x, min, max) = min(max(x, min), max), elementwise.
  return lower.empty() ? value : std::min(std::max(value, lower[e]), upper[e]);
}

template <typename T>
void AdamSlice<T>::Project() {
  for (size_t e = 0; e < lower.size(); ++e) x[e] = Projected(e, x[e]);
}

template <typename T>
void AdamSlice<T>::SetPoint(const ConstVectorView& full) {
  full.CopyTo(range.begin, range.size(), x.data());
  Project();
  // torch: Adagrad's state_sum = full_like(p, initial_accumulator_value);
  // every other slot starts at zeros_like(p).
  for (int i = 0; i < 3; ++i) {
    std::fill(s[i].begin(), s[i].end(),
              static_cast<T>(i == 0 ? slots.s0_init : 0.0));
  }
}

template <typename T>
int64_t AdamSlice<T>::SetGradient(const ConstVectorView& full,
                                  double* max_abs) {
  // g is scratch: overwriting it changes no state the solver has committed.
  full.CopyTo(range.begin, range.size(), g.data());
  T max = 0;
  bool finite = true;
  for (const T value : g) {
    const T a = std::fabs(value);
    finite &= std::isfinite(a);
    max = std::max(max, a);
  }
  *max_abs = static_cast<double>(max);
  if (finite) return -1;
  for (int64_t i = 0; i < range.size(); ++i) {
    if (!std::isfinite(g[i])) return range.begin + i;
  }
  return -1;
}

template <typename T>
BlockPartials AdamSlice<T>::GradientSquares() const {
  BlockPartials p(range.first_block(), range.num_blocks(), 1);
  std::vector<double> widened;
  for (int64_t b = 0; b < range.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range.size() - lo);
    widened.assign(g.begin() + lo, g.begin() + lo + len);
    p.at(b, 0) = BlockDot(widened.data(), widened.data(), len);
  }
  return p;
}

template <typename T>
void AdamSlice<T>::Step(const AdamStepScalars& scalars) {
  const AdamSegmentStep all{range.begin, range.end, scalars};
  Step(absl::MakeConstSpan(&all, 1));
}

template <typename T>
void AdamSlice<T>::Step(absl::Span<const AdamSegmentStep> segments) {
  // The kernel gives every element the same bits whichever loop (vector body
  // or scalar tail) it falls in (adam_kernel.h), so a segment updated on its
  // own is what one pass with its scalars over the whole slice would give.
  for (const AdamSegmentStep& segment : segments) {
    const int64_t lo = std::max(segment.begin, range.begin) - range.begin;
    const int64_t hi = std::min(segment.end, range.end) - range.begin;
    if (lo >= hi) continue;
    ApplyAdamUpdate<T, T>(segment.scalars, hi - lo, g.data() + lo,
                          x.data() + lo, Slot(0, lo), Slot(1, lo), Slot(2, lo));
  }
  // Projected Adam as torch users write it: `optimizer.step()` followed by
  // `p.data.clamp_(lower, upper)` (the torch forums' answer to "constrain
  // parameters to a range"); the moments m, v keep the unprojected update's
  // values. This is projected (sub)gradient descent with Adam's scaling, the
  // x <- P(x - lr d) of Bertsekas, Nonlinear Programming, 3rd ed., §3.3.
  Project();
}

template <typename T>
int64_t AdamSlice<T>::FirstNotFiniteAfterStep(
    const AdamStepScalars& scalars) const {
  const AdamSegmentStep all{range.begin, range.end, scalars};
  return FirstNotFiniteAfterStep(absl::MakeConstSpan(&all, 1));
}

template <typename T>
int64_t AdamSlice<T>::FirstNotFiniteAfterStep(
    absl::Span<const AdamSegmentStep> segments) const {
  // The update is elementwise, and the kernel's vector and scalar paths give
  // every element the same bits (adam_kernel.h), so a block updated on its
  // own is exactly what Step() would make of it.
  constexpr int64_t kBlock = 256;
  T x_copy[kBlock], s_copy[3][kBlock];
  for (const AdamSegmentStep& segment : segments) {
    const int64_t first = std::max(segment.begin, range.begin) - range.begin;
    const int64_t last = std::min(segment.end, range.end) - range.begin;
    for (int64_t lo = first; lo < last; lo += kBlock) {
      const int64_t len = std::min(kBlock, last - lo);
      std::copy_n(x.begin() + lo, len, x_copy);
      T* copies[3];
      for (int i = 0; i < 3; ++i) {
        copies[i] = slots.has(i) ? s_copy[i] : nullptr;
        if (slots.has(i)) std::copy_n(s[i].begin() + lo, len, s_copy[i]);
      }
      ApplyAdamUpdate<T, T>(segment.scalars, len, g.data() + lo, x_copy,
                            copies[0], copies[1], copies[2]);
      for (int64_t e = 0; e < len; ++e) {
        if (!std::isfinite(Projected(lo + e, x_copy[e]))) {
          return range.begin + lo + e;
        }
      }
    }
  }
  return -1;
}

template <typename T>
int64_t AdamSlice<T>::FirstBadPoint(const char* point) const {
  for (int64_t e = 0; e < range.size(); ++e) {
    T value;
    std::memcpy(&value, point + e * sizeof(T), sizeof(T));
    const bool inside =
        lower.empty() || (value >= lower[e] && value <= upper[e]);
    if (!std::isfinite(value) || !inside) return range.begin + e;
  }
  return -1;
}

template <typename T>
void AdamSlice<T>::ReadPoint(const MutableVectorView& full) const {
  full.CopyFrom(range.begin, range.size(), x.data());
}

template <typename T>
std::vector<T>& AdamSlice<T>::state_vector(int which) {
  if (which == 0) return x;
  for (int i = 0; i < 3; ++i) {
    if (slots.has(i) && --which == 0) return s[i];
  }
  return s[2];  // Unreachable for which < state_vectors().
}

template <typename T>
T* AdamSlice<T>::Slot(int i, int64_t offset) {
  return slots.has(i) ? s[i].data() + offset : nullptr;
}

template <typename T>
const std::vector<T>& AdamSlice<T>::state_vector(int which) const {
  return const_cast<AdamSlice<T>*>(this)->state_vector(which);
}

absl::Status AdamGradientError(int64_t index, double value, bool float32) {
  return absl::InvalidArgumentError(absl::StrCat(
      "gradient[", index, "] is ", value,
      float32 && std::isfinite(value)
          ? ", which overflows the session's float32 state"
          : "",
      "; every gradient element must be finite (report a failed evaluation "
      "instead)"));
}

template <typename T>
LocalAdamVectors<T>::LocalAdamVectors(const ShardLayout& layout,
                                      AdamSlots slots)
    : layout_(layout), slots_(slots) {
  for (const ShardRange& r : layout.ranges()) slices_.emplace_back(r, slots);
}

template <typename T>
absl::Status LocalAdamVectors<T>::SetBounds(const Bounds& box) {
  if (auto s = layout_.CheckDimension(box.size(), "bounds"); !s.ok()) return s;
  for (AdamSlice<T>& s : slices_) OPTD_RETURN_IF_ERROR(s.SetBounds(box));
  return absl::OkStatus();
}

template <typename T>
ScalarType LocalAdamVectors<T>::type() const {
  return std::is_same_v<T, float> ? ScalarType::kFloat32 : ScalarType::kFloat64;
}

template <typename T>
absl::Status LocalAdamVectors<T>::SetPoint(const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "point"); !s.ok()) return s;
  for (AdamSlice<T>& s : slices_) s.SetPoint(full);
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<double> LocalAdamVectors<T>::SetGradient(
    const ConstVectorView& full) {
  if (auto s = layout_.CheckDimension(full.size(), "gradient"); !s.ok())
    return s;
  double max_abs = 0;
  for (AdamSlice<T>& s : slices_) {
    double slice_max = 0;
    const int64_t bad = s.SetGradient(full, &slice_max);
    if (bad >= 0) {
      return AdamGradientError(bad, full.Get(bad), std::is_same_v<T, float>);
    }
    max_abs = std::max(max_abs, slice_max);
  }
  return max_abs;
}

template <typename T>
absl::StatusOr<double> LocalAdamVectors<T>::GradientSquaredNorm() {
  std::vector<BlockPartials> parts;
  for (const AdamSlice<T>& s : slices_) parts.push_back(s.GradientSquares());
  std::vector<const BlockPartials*> ptrs;
  for (const BlockPartials& p : parts) ptrs.push_back(&p);
  return SumInBlockOrder(ptrs).sums[0];
}

template <typename T>
absl::StatusOr<int64_t> LocalAdamVectors<T>::StepSegments(
    absl::Span<const AdamSegmentStep> segments) {
  for (const AdamSlice<T>& s : slices_) {
    const int64_t bad = s.FirstNotFiniteAfterStep(segments);
    if (bad >= 0) return bad;
  }
  for (AdamSlice<T>& s : slices_) s.Step(segments);
  return -1;
}

template <typename T>
absl::Status LocalAdamVectors<T>::ReadPoint(
    const MutableVectorView& full) const {
  if (auto s = layout_.CheckDimension(full.size(), "output"); !s.ok()) return s;
  for (const AdamSlice<T>& s : slices_) s.ReadPoint(full);
  return absl::OkStatus();
}

template <typename T>
int64_t LocalAdamVectors<T>::StateBytes() const {
  return layout_.dimension() * (1 + slots_.count()) *
         static_cast<int64_t>(sizeof(T));
}

// Vector by vector (x of every slice, then s0 of every slice, ...), so that
// the bytes are the global vectors whatever the slicing.
template <typename T>
absl::Status LocalAdamVectors<T>::SaveState(std::string* out) const {
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  for (int which = 0; which < 1 + slots_.count(); ++which) {
    for (const AdamSlice<T>& slice : slices_) {
      const std::vector<T>& v = slice.state_vector(which);
      // Slices past the end of a short vector are empty.
      if (!v.empty()) {
        out->append(reinterpret_cast<const char*>(v.data()),
                    v.size() * sizeof(T));
      }
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status LocalAdamVectors<T>::LoadState(std::string_view in) {
  if (static_cast<int64_t>(in.size()) != StateBytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the state has ", in.size(), " bytes; this session needs ",
                     StateBytes()));
  }
  // x comes first, slice by slice: checked before anything is copied.
  size_t offset = 0;
  for (const AdamSlice<T>& slice : slices_) {
    const int64_t bad = slice.FirstBadPoint(in.data() + offset);
    if (bad >= 0) {
      T value;
      std::memcpy(&value,
                  in.data() + offset + (bad - slice.range.begin) * sizeof(T),
                  sizeof(T));
      return absl::InvalidArgumentError(absl::StrCat(
          "the state has x[", bad, "] = ", static_cast<double>(value),
          ", which is not finite or outside the session's box"));
    }
    offset += static_cast<size_t>(slice.range.size()) * sizeof(T);
  }
  offset = 0;
  for (int which = 0; which < 1 + slots_.count(); ++which) {
    for (AdamSlice<T>& slice : slices_) {
      std::vector<T>& v = slice.state_vector(which);
      if (!v.empty()) {
        std::memcpy(v.data(), in.data() + offset, v.size() * sizeof(T));
        offset += v.size() * sizeof(T);
      }
    }
  }
  return absl::OkStatus();
}

template struct AdamSlice<float>;
template struct AdamSlice<double>;
template class LocalAdamVectors<float>;
template class LocalAdamVectors<double>;

}  // namespace optd
