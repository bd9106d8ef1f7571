#include "server/session/payload_digest.h"

#include <chrono>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::server {
namespace {

uint64_t Digest(const TellPayload& payload, const std::vector<double>& g) {
  return PayloadDigest(payload, {ConstVectorView::Float64(g.data(), g.size())});
}

TEST(PayloadDigest, IsDeterministic) {
  const std::vector<double> g = {1.5, -2.25, 3.0, 4.0, 5.0};
  EXPECT_EQ(Digest({7, false, false, 1.25, std::nullopt}, g),
            Digest({7, false, false, 1.25, std::nullopt}, g));
}

TEST(PayloadDigest, SameDoublesInAnyEncodingGiveTheSameDigest) {
  // Values exactly representable in float32, so the f32 encoding is the same
  // numbers.
  const std::vector<double> g = {1.5, -2.25, 3.0, 0.0, 1e-3f, 7.0, 8.5};
  const std::vector<float> g32(g.begin(), g.end());
  EXPECT_EQ(Digest({3, false, false, 2.0, std::nullopt}, g),
            PayloadDigest({3, false, false, 2.0, std::nullopt},
                          {ConstVectorView::Float32(g32.data(), g32.size())}));
}

TEST(PayloadDigest, EveryFieldMatters) {
  const std::vector<double> g = {1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  const uint64_t base = Digest({1, false, false, 0.5, std::nullopt}, g);
  EXPECT_NE(base, Digest({2, false, false, 0.5, std::nullopt}, g));
  EXPECT_NE(base, Digest({1, true, false, 0.5, std::nullopt}, g));
  EXPECT_NE(base, Digest({1, false, true, 0.5, std::nullopt}, g));
  EXPECT_NE(base, Digest({1, false, false, 0.75, std::nullopt}, g));
  EXPECT_NE(base, Digest({1, false, false, std::nullopt, std::nullopt}, g));
  for (size_t i = 0; i < g.size(); ++i) {
    std::vector<double> changed = g;
    changed[i] = std::nextafter(changed[i], 10.0);
    EXPECT_NE(base, Digest({1, false, false, 0.5, std::nullopt}, changed))
        << "element " << i;
  }
  std::vector<double> longer = g;
  longer.push_back(0.0);
  EXPECT_NE(base, Digest({1, false, false, 0.5, std::nullopt}, longer));
  EXPECT_NE(Digest({1, false, false, std::nullopt, std::nullopt}, {}),
            Digest({1, false, false, 0.0, std::nullopt}, {}));
}

TEST(PayloadDigest, AWeightCountsOnlyWhenSet) {
  // Set, every weight gives another digest; unset, the weight adds nothing
  // to the hash (PayloadDigest skips it), so stored digests stay valid.
  const std::vector<double> g = {1.0, 2.0};
  const uint64_t unset = Digest({1, false, false, 0.5, std::nullopt}, g);
  EXPECT_NE(unset, Digest({1, false, false, 0.5, 1.0}, g));
  EXPECT_NE(Digest({1, false, false, 0.5, 1.0}, g),
            Digest({1, false, false, 0.5, 2.0}, g));
}

TEST(PayloadDigest, ElementsCannotMoveBetweenVectors) {
  const std::vector<double> a = {1.0, 2.0, 3.0}, b = {4.0};
  const std::vector<double> a2 = {1.0, 2.0}, b2 = {3.0, 4.0};
  const ConstVectorView none;
  EXPECT_NE(PayloadDigest({1, false, false, 0.0, std::nullopt},
                          {ConstVectorView::Float64(a.data(), 3),
                           ConstVectorView::Float64(b.data(), 1), none}),
            PayloadDigest({1, false, false, 0.0, std::nullopt},
                          {ConstVectorView::Float64(a2.data(), 2),
                           ConstVectorView::Float64(b2.data(), 2), none}));
  EXPECT_NE(PayloadDigest({1, false, false, 0.0, std::nullopt},
                          {ConstVectorView::Float64(a.data(), 3), none, none}),
            PayloadDigest({1, false, false, 0.0, std::nullopt},
                          {none, ConstVectorView::Float64(a.data(), 3), none}));
}

TEST(PayloadDigest, SwappedElementsDiffer) {
  EXPECT_NE(
      Digest({1, false, false, 0.0, std::nullopt}, {1.0, 2.0, 3.0, 4.0, 5.0}),
      Digest({1, false, false, 0.0, std::nullopt}, {2.0, 1.0, 3.0, 4.0, 5.0}));
  EXPECT_NE(
      Digest({1, false, false, 0.0, std::nullopt}, {1.0, 2.0, 3.0, 4.0, 5.0}),
      Digest({1, false, false, 0.0, std::nullopt}, {5.0, 2.0, 3.0, 4.0, 1.0}));
}

TEST(PayloadDigest, TenMillionElementsTakeMilliseconds) {
  std::vector<double> g(10'000'000);
  for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<double>(i) * 1e-3;
  const auto start = std::chrono::steady_clock::now();
  const uint64_t d = Digest({1, false, false, 1.0, std::nullopt}, g);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_NE(d, 0u);
  // About 10 ms on one core; the bound leaves room for a loaded CI machine.
  EXPECT_LT(seconds, 0.5);
}

}  // namespace
}  // namespace optd::server
