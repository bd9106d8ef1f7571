#include "server/session/payload_digest.h"

#include <cstring>

namespace optd::server {
namespace {

// Odd 64-bit multipliers with well-mixed bits (splitmix64 / Murmur3 fmix64).
constexpr uint64_t kMul = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kLaneSeeds[4] = {
    0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL,
    0x082efa98ec4e6c89ULL};

inline uint64_t Absorb(uint64_t lane, uint64_t word) {
  lane = (lane ^ word) * kMul;
  return lane ^ (lane >> 32);
}

// Murmur3's fmix64: every input bit affects every output bit.
inline uint64_t Finalize(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

inline uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

// Loads element i as the bits of the double the solver will see.
struct Float64Words {
  const char* data;
  uint64_t operator()(int64_t i) const {
    uint64_t bits;
    std::memcpy(&bits, data + 8 * i, 8);
    return bits;
  }
};
struct Float32Words {
  const char* data;
  uint64_t operator()(int64_t i) const {
    float v;
    std::memcpy(&v, data + 4 * i, 4);
    return Bits(static_cast<double>(v));
  }
};

// Four lanes over the n words; the lanes are independent so the multiplies
// pipeline, which is what makes a 10^7-element gradient cost milliseconds.
template <typename Words>
void AbsorbWords(Words words, int64_t n, uint64_t lanes[4]) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    lanes[0] = Absorb(lanes[0], words(i));
    lanes[1] = Absorb(lanes[1], words(i + 1));
    lanes[2] = Absorb(lanes[2], words(i + 2));
    lanes[3] = Absorb(lanes[3], words(i + 3));
  }
  for (; i < n; ++i) lanes[i & 3] = Absorb(lanes[i & 3], words(i));
}

}  // namespace

uint64_t PayloadDigest(const TellPayload& payload,
                       absl::Span<const ConstVectorView> vectors) {
  uint64_t lanes[4] = {kLaneSeeds[0], kLaneSeeds[1], kLaneSeeds[2],
                       kLaneSeeds[3]};
  const uint64_t flags = (payload.failed ? 1u : 0u) | (payload.stop ? 2u : 0u) |
                         (payload.value.has_value() ? 4u : 0u);
  lanes[0] = Absorb(lanes[0], payload.trial_id);
  lanes[1] = Absorb(lanes[1], flags);
  lanes[2] =
      Absorb(lanes[2], payload.value.has_value() ? Bits(*payload.value) : 0);
  if (payload.weight.has_value()) {
    lanes[1] = Absorb(lanes[1], 8u);
    lanes[2] = Absorb(lanes[2], Bits(*payload.weight));
  }
  if (!payload.group_lr.empty()) {
    lanes[1] = Absorb(lanes[1], 16u);
    lanes[2] = Absorb(lanes[2], payload.group_lr.size());
    for (double lr : payload.group_lr) lanes[2] = Absorb(lanes[2], Bits(lr));
  }
  lanes[3] = Absorb(lanes[3], vectors.size());
  for (const ConstVectorView& vector : vectors) {
    // The length goes in first, so that a vector of zeros differs from none
    // and elements cannot shift between vectors unnoticed.
    lanes[3] = Absorb(lanes[3], static_cast<uint64_t>(vector.size()));
    const char* data = static_cast<const char*>(vector.data());
    if (vector.type() == ScalarType::kFloat64) {
      AbsorbWords(Float64Words{data}, vector.size(), lanes);
    } else {
      AbsorbWords(Float32Words{data}, vector.size(), lanes);
    }
  }
  uint64_t h = Finalize(lanes[0]);
  h = Finalize(h ^ lanes[1]);
  h = Finalize(h ^ lanes[2]);
  return Finalize(h ^ lanes[3]);
}

}  // namespace optd::server
