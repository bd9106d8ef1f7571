// What the elementwise kernel's replays of torch's trajectories share
// (adam_kernel_test.cc, first_order_kernel_test.cc): one slice's parameters
// and three state slots stepped by ApplyAdamUpdate, bitwise comparison of
// states, and the statistics of a comparison against torch's records.
//
//   KernelState<float> simd(run.records[0], AdamSlotMask(run.hyper));
//   KernelState<float> portable = simd;
//   simd.Step(scalars, g);
//   portable.Step(scalars, g, /*portable=*/true);
//   EXPECT_TRUE(simd == portable);
//   ReplayStats stats;
//   stats.Compare(simd.param[i], static_cast<float>(expected[i]));
#ifndef OPTD_SOLVERS_TESTING_KERNEL_REPLAY_H_
#define OPTD_SOLVERS_TESTING_KERNEL_REPLAY_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "solvers/adam/adam_kernel.h"
#include "solvers/testing/torch_adam_data.h"

namespace optd::testing {

template <typename T>
bool SameBits(const std::vector<T>& a, const std::vector<T>& b) {
  // An absent slot is an empty vector, whose data() may be null: memcmp
  // must not see it (UBSan).
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// The parameters and the three slots of one slice; a slot outside
// `slot_mask` is not allocated and is handed to the kernel as nullptr.
template <typename T>
struct KernelState {
  KernelState(const std::vector<double>& p0, int slot_mask)
      : mask(slot_mask), param(p0.begin(), p0.end()) {
    for (int k = 0; k < 3; ++k) {
      if (mask & (1 << k)) slot[k].assign(p0.size(), T{0});
    }
  }
  bool operator==(const KernelState& o) const {
    return SameBits(param, o.param) && SameBits(slot[0], o.slot[0]) &&
           SameBits(slot[1], o.slot[1]) && SameBits(slot[2], o.slot[2]);
  }
  T* Slot(int k, int64_t offset = 0) {
    return (mask & (1 << k)) ? slot[k].data() + offset : nullptr;
  }
  // One step of elements [lo, hi) (hi < 0: to the end), on the SIMD loop
  // where the CPU has it or on the portable one.
  template <typename G>
  void Step(const AdamStepScalars& scalars, const std::vector<G>& grad,
            bool portable = false, int64_t lo = 0, int64_t hi = -1) {
    if (hi < 0) hi = static_cast<int64_t>(grad.size());
    auto apply = portable ? adam_kernel_internal::ApplyAdamUpdatePortable<T, G>
                          : ApplyAdamUpdate<T, G>;
    apply(scalars, hi - lo, grad.data() + lo, param.data() + lo, Slot(0, lo),
          Slot(1, lo), Slot(2, lo));
  }
  int mask;
  std::vector<T> param;
  std::vector<T> slot[3];
};

// How close a replay came to torch's records.
struct ReplayStats {
  int64_t compared = 0;
  int64_t bitwise_equal = 0;
  int64_t max_ulp = 0;        // float32 runs
  double max_relative = 0.0;  // float64 runs, over the elements that differ

  // Counts one recorded element; true when `got` has `want`'s bits.
  template <typename T>
  bool Compare(T got, T want) {
    ++compared;
    const bool same = std::memcmp(&want, &got, sizeof(T)) == 0;
    if (same) ++bitwise_equal;
    if constexpr (std::is_same_v<T, float>) {
      max_ulp = std::max(max_ulp, UlpDistance(got, want));
    } else if (!same) {
      max_relative =
          std::max(max_relative, std::abs(got - want) / std::abs(want));
    }
    return same;
  }
};

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_KERNEL_REPLAY_H_
