// Slice states (LbfgsSlice, TrustRegionSlice ::SaveState), the portable
// state of the local vectors, and MergeXxxSliceStates / SplitXxxState
// (slice_state.h) for K = 1..4 slices, empty ones included.
#include "solvers/sharding/slice_state.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/sharding/lbfgs_slice.h"
#include "solvers/lbfgs/lbfgs_vectors.h"
#include "solvers/core/state_bytes.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/sharding/trust_region_slice.h"
#include "solvers/trust_region/trust_region_vectors.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

// One reduction block (slices 1..K-1 empty for K > 1), three blocks with the
// last one short (K = 4 leaves one slice empty), and five.
constexpr int64_t kDimensions[] = {10, 2 * kReductionBlock + 3,
                                   5 * kReductionBlock - 7};

std::vector<double> RandomVector(int64_t n, std::mt19937_64& random) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = uniform(random);
  return v;
}

ConstVectorView View(const std::vector<double>& v) {
  return ConstVectorView::Float64(v.data(), static_cast<int64_t>(v.size()));
}

bool SameSums(const BlockPartials& a, const BlockPartials& b) {
  // (An empty slice's sums are empty: no memcmp of null pointers.)
  return a.sums().size() == b.sums().size() &&
         (a.sums().empty() || std::memcmp(a.sums().data(), b.sums().data(),
                                          8 * a.sums().size()) == 0) &&
         a.max_abs() == b.max_abs();
}

// Applies the same L-BFGS operations to `slices` and `vectors`: a start and
// `iterations` accepted steps that push pairs into a memory of 3.
void RunLbfgs(int64_t n, int iterations, std::vector<LbfgsSlice>* slices,
              LbfgsVectors* vectors) {
  std::mt19937_64 random(n);
  const std::vector<double> x0 = RandomVector(n, random);
  for (LbfgsSlice& s : *slices) s.SetTrialPoint(View(x0));
  ASSERT_OK(vectors->SetTrialPoint(View(x0)));
  std::vector<double> g = RandomVector(n, random);
  for (LbfgsSlice& s : *slices) s.SetTrialGradient(View(g));
  ASSERT_OK(vectors->SetTrialGradient(View(g)));
  for (LbfgsSlice& s : *slices) s.Accept(false, 0.0);
  ASSERT_OK(vectors->Accept(false, 0.0));
  for (int it = 0; it < iterations; ++it) {
    const int k = (*slices)[0].pairs();
    const std::vector<double> delta = RandomVector(2 * k + 1, random);
    const double stp = 0.5 + it;
    g = RandomVector(n, random);
    for (LbfgsSlice& s : *slices) {
      s.SetDirection(delta);
      s.FormTrial(stp);
      s.SetTrialGradient(View(g));
      s.Accept(true, stp);
    }
    ASSERT_OK(vectors->SetDirection(delta));
    ASSERT_OK(vectors->FormTrial(stp));
    ASSERT_OK(vectors->SetTrialGradient(View(g)));
    ASSERT_OK(vectors->Accept(true, stp));
  }
  // A trial in flight: x_trial and g_trial differ from x and g.
  const std::vector<double> delta =
      RandomVector(2 * (*slices)[0].pairs() + 1, random);
  g = RandomVector(n, random);
  for (LbfgsSlice& s : *slices) {
    s.SetDirection(delta);
    s.FormTrial(0.25);
    s.SetTrialGradient(View(g));
  }
  ASSERT_OK(vectors->SetDirection(delta));
  ASSERT_OK(vectors->FormTrial(0.25));
  ASSERT_OK(vectors->SetTrialGradient(View(g)));
}

std::vector<LbfgsSlice> LbfgsSlices(const ShardLayout& layout, int memory) {
  std::vector<LbfgsSlice> slices;
  for (const ShardRange& r : layout.ranges()) slices.emplace_back(r, memory);
  return slices;
}

TEST(LbfgsSliceState, MergeAndSplitMatchTheLocalVectorsForOneToFourShards) {
  for (const int64_t n : kDimensions) {
    for (int shards = 1; shards <= 4; ++shards) {
      SCOPED_TRACE("n = " + std::to_string(n) +
                   ", K = " + std::to_string(shards));
      ASSERT_OK_AND_ASSIGN(ShardLayout layout, ShardLayout::Make(n, shards));
      std::vector<LbfgsSlice> slices = LbfgsSlices(layout, 3);
      LocalLbfgsVectors local(layout, 3);
      RunLbfgs(n, 5, &slices, &local);
      std::vector<std::string> states;
      for (const LbfgsSlice& s : slices) {
        std::string& state = states.emplace_back();
        s.SaveState(&state);
        EXPECT_EQ(static_cast<int64_t>(state.size()), s.StateBytes());
      }
      std::string portable;
      ASSERT_OK(local.SaveState(&portable));
      EXPECT_EQ(static_cast<int64_t>(portable.size()), local.StateBytes());
      std::string merged = "prefix";
      ASSERT_OK(MergeLbfgsSliceStates(layout, states, &merged));
      EXPECT_TRUE(merged == "prefix" + portable);
      ASSERT_OK_AND_ASSIGN(std::vector<std::string> split,
                           SplitLbfgsState(layout, 3, portable));
      EXPECT_TRUE(split == states);

      // Restored slices answer the next operations bitwise as the saved.
      std::vector<LbfgsSlice> restored = LbfgsSlices(layout, 3);
      for (size_t k = 0; k < restored.size(); ++k) {
        ASSERT_OK(restored[k].RestoreState(split[k]));
        EXPECT_EQ(restored[k].pairs(), 3);
        EXPECT_TRUE(SameSums(restored[k].ReduceTrial(0.25, true),
                             slices[k].ReduceTrial(0.25, true)));
        restored[k].Accept(true, 0.25);
        slices[k].Accept(true, 0.25);
        std::string a, b;
        restored[k].SaveState(&a);
        slices[k].SaveState(&b);
        EXPECT_TRUE(a == b);
      }
      // The portable state restores into every other K.
      for (int other = 1; other <= 4; ++other) {
        ASSERT_OK_AND_ASSIGN(ShardLayout l, ShardLayout::Make(n, other));
        LocalLbfgsVectors v(l, 3);
        ASSERT_OK(v.RestoreState(portable));
        std::string again;
        ASSERT_OK(v.SaveState(&again));
        EXPECT_TRUE(again == portable) << other;
      }
    }
  }
}

TEST(LbfgsSliceState, RefusesStatesThatDoNotFit) {
  const int64_t n = 2 * kReductionBlock + 3;
  ASSERT_OK_AND_ASSIGN(ShardLayout layout, ShardLayout::Make(n, 3));
  std::vector<LbfgsSlice> slices = LbfgsSlices(layout, 3);
  LocalLbfgsVectors local(layout, 3);
  RunLbfgs(n, 2, &slices, &local);
  std::vector<std::string> states(3);
  for (int k = 0; k < 3; ++k) slices[k].SaveState(&states[k]);
  std::string portable;
  ASSERT_OK(local.SaveState(&portable));

  std::string out = "unchanged";
  EXPECT_THAT(MergeLbfgsSliceStates(layout, {states[0], states[1]}, &out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("merging 2 L-BFGS slice states for a layout "
                                 "of 3 shards")));
  // Slices saved at different points: another pair count.
  std::vector<std::string> mixed = states;
  slices[1].Accept(true, 1.0);
  mixed[1].clear();
  slices[1].SaveState(&mixed[1]);
  EXPECT_THAT(MergeLbfgsSliceStates(layout, mixed, &out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("header of L-BFGS slice state 1 differs")));
  // Slice 0's state where slice 2's belongs: another size.
  mixed = states;
  mixed[2] = states[0];
  EXPECT_THAT(MergeLbfgsSliceStates(layout, mixed, &out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("L-BFGS slice state 2 has")));
  mixed = states;
  mixed[0] = "optd.adam.v1";
  EXPECT_THAT(MergeLbfgsSliceStates(layout, mixed, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tag")));
  EXPECT_EQ(out, "unchanged");

  EXPECT_THAT(
      SplitLbfgsState(layout, 1, portable),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("pairs = 2 at byte 19; it must be in [0, 1]")));
  EXPECT_THAT(SplitLbfgsState(layout, 3, portable.substr(0, 100)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the L-BFGS state has 100 bytes")));
  EXPECT_THAT(SplitLbfgsState(layout, 3, portable.substr(0, 20)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ends at byte 20")));

  // A slice refuses another slice's state, a larger memory's, garbage; and
  // stays as it was.
  std::string before;
  slices[0].SaveState(&before);
  EXPECT_THAT(slices[0].RestoreState(states[2]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a slice of 4096 elements with 2 pairs")));
  LbfgsSlice small(layout.range(0), 1);
  EXPECT_THAT(
      small.RestoreState(states[0]),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pairs = 2")));
  for (size_t length = 0; length < 60; ++length) {
    EXPECT_FALSE(slices[0].RestoreState(states[0].substr(0, length)).ok());
  }
  std::string after;
  slices[0].SaveState(&after);
  EXPECT_TRUE(after == before);
  LocalLbfgsVectors other(layout, 3);
  EXPECT_THAT(other.RestoreState(portable.substr(0, portable.size() - 8)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the L-BFGS vectors state has")));
  EXPECT_THAT(
      LocalLbfgsVectors(layout, 1).RestoreState(portable),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pairs = 2")));
}

// The trust region's operations on `slices` and `vectors`: pairs (memory 2)
// when `memory`, a CG search when `cg`.
void RunTrustRegion(int64_t n, bool memory, bool cg,
                    std::vector<TrustRegionSlice>* slices,
                    TrustRegionVectors* vectors) {
  std::mt19937_64 random(n + 7);
  auto both = [&](auto op) {
    for (TrustRegionSlice& s : *slices) op(s);
  };
  const std::vector<double> x0 = RandomVector(n, random);
  std::vector<double> g = RandomVector(n, random);
  both([&](TrustRegionSlice& s) {
    s.SetTrialPoint(View(x0));
    s.SetTrialGradient(View(g));
    s.Advance(false, true);
  });
  ASSERT_OK(vectors->SetTrialPoint(View(x0)));
  ASSERT_OK(vectors->SetTrialGradient(View(g)));
  ASSERT_OK(vectors->Advance(false, true));
  for (int it = 0; it < 3; ++it) {
    const int k = (*slices)[0].pairs();
    const std::vector<double> c = RandomVector(2 * k + 1, random);
    g = RandomVector(n, random);
    both([&](TrustRegionSlice& s) {
      s.FormStep(c);
      s.SetTrialGradient(View(g));
      s.Advance(memory, it % 2 == 0);
    });
    ASSERT_OK(vectors->FormStep(c));
    ASSERT_OK(vectors->SetTrialGradient(View(g)));
    ASSERT_OK(vectors->Advance(memory, it % 2 == 0));
  }
  if (cg) {
    const std::vector<double> hd = RandomVector(n, random);
    both([&](TrustRegionSlice& s) {
      s.CgStart();
      s.SetProduct(View(hd));
      s.CgAdvance(0.5);
      s.CgDirection(0.25);
      s.FormDifferencePoint(1e-3);
    });
    ASSERT_OK(vectors->CgStart());
    ASSERT_OK(vectors->SetProduct(View(hd)));
    ASSERT_OK(vectors->CgAdvance(0.5).status());
    ASSERT_OK(vectors->CgDirection(0.25).status());
    ASSERT_OK(vectors->FormDifferencePoint(1e-3));
  }
}

std::vector<TrustRegionSlice> TrustRegionSlices(const ShardLayout& layout,
                                                int memory, bool cg) {
  std::vector<TrustRegionSlice> slices;
  for (const ShardRange& r : layout.ranges()) {
    slices.emplace_back(r, memory, cg);
  }
  return slices;
}

TEST(TrustRegionSliceState, MergeAndSplitMatchTheLocalVectorsForOneToFour) {
  for (const bool cg : {false, true}) {
    const int memory = cg ? 0 : 2;
    for (const int64_t n : kDimensions) {
      for (int shards = 1; shards <= 4; ++shards) {
        SCOPED_TRACE("n = " + std::to_string(n) + ", K = " +
                     std::to_string(shards) + (cg ? ", CG" : ", pairs"));
        ASSERT_OK_AND_ASSIGN(ShardLayout layout, ShardLayout::Make(n, shards));
        std::vector<TrustRegionSlice> slices =
            TrustRegionSlices(layout, memory, cg);
        LocalTrustRegionVectors local(layout, memory, cg);
        RunTrustRegion(n, memory > 0, cg, &slices, &local);
        std::vector<std::string> states;
        for (const TrustRegionSlice& s : slices) {
          std::string& state = states.emplace_back();
          s.SaveState(&state);
          EXPECT_EQ(static_cast<int64_t>(state.size()), s.StateBytes());
        }
        std::string portable;
        ASSERT_OK(local.SaveState(&portable));
        EXPECT_EQ(static_cast<int64_t>(portable.size()), local.StateBytes());
        std::string merged;
        ASSERT_OK(MergeTrustRegionSliceStates(layout, states, &merged));
        EXPECT_TRUE(merged == portable);
        ASSERT_OK_AND_ASSIGN(
            std::vector<std::string> split,
            SplitTrustRegionState(layout, memory, cg, portable));
        EXPECT_TRUE(split == states);
        std::vector<TrustRegionSlice> restored =
            TrustRegionSlices(layout, memory, cg);
        for (size_t k = 0; k < restored.size(); ++k) {
          ASSERT_OK(restored[k].RestoreState(split[k]));
          EXPECT_TRUE(SameSums(restored[k].ReduceTrial(memory > 0),
                               slices[k].ReduceTrial(memory > 0)));
          if (cg) {
            EXPECT_TRUE(SameSums(restored[k].ReduceCurvature(),
                                 slices[k].ReduceCurvature()));
          }
        }
        for (int other = 1; other <= 4; ++other) {
          ASSERT_OK_AND_ASSIGN(ShardLayout l, ShardLayout::Make(n, other));
          LocalTrustRegionVectors v(l, memory, cg);
          ASSERT_OK(v.RestoreState(portable));
          std::string again;
          ASSERT_OK(v.SaveState(&again));
          EXPECT_TRUE(again == portable) << other;
        }
      }
    }
  }
}

TEST(TrustRegionSliceState, RefusesStatesThatDoNotFit) {
  const int64_t n = 10;
  ASSERT_OK_AND_ASSIGN(ShardLayout layout, ShardLayout::Make(n, 2));
  std::vector<TrustRegionSlice> slices = TrustRegionSlices(layout, 2, false);
  LocalTrustRegionVectors local(layout, 2, false);
  RunTrustRegion(n, true, false, &slices, &local);
  std::string portable;
  ASSERT_OK(local.SaveState(&portable));
  EXPECT_THAT(SplitTrustRegionState(layout, 2, true, portable),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no CG vectors; the session's slices "
                                 "have CG vectors")));
  EXPECT_THAT(
      SplitTrustRegionState(layout, 1, false, portable),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pairs = 2")));
  EXPECT_THAT(LocalTrustRegionVectors(layout, 2, true).RestoreState(portable),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no CG vectors; this slice has them")));
  EXPECT_THAT(
      LocalTrustRegionVectors(layout, 1, false).RestoreState(portable),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 1")));
  // A bounded slice refuses an unbounded state, and the other way round.
  ASSERT_OK_AND_ASSIGN(ShardLayout one, ShardLayout::Make(n, 1));
  LocalTrustRegionVectors bounded(one, 2, false);
  std::vector<double> lower(n, -1.0), upper(n, 1.0);
  ASSERT_OK_AND_ASSIGN(Bounds box, Bounds::Create(View(lower), View(upper), n));
  ASSERT_OK(bounded.SetBounds(box));
  EXPECT_THAT(bounded.RestoreState(portable),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("of an unbounded session; this slice is "
                                 "bounded")));
  std::string bounded_state;
  ASSERT_OK(bounded.SaveState(&bounded_state));
  EXPECT_THAT(
      LocalTrustRegionVectors(one, 2, false).RestoreState(bounded_state),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("of a bounded session")));
  std::vector<std::string> states(2);
  for (int k = 0; k < 2; ++k) slices[k].SaveState(&states[k]);
  states[1][kTrustRegionSliceTag.size() + 8] = 2;  // cg_vectors = 2
  std::string out;
  EXPECT_THAT(MergeTrustRegionSliceStates(layout, states, &out),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("header of trust-region slice state 1")));
  EXPECT_THAT(slices[1].RestoreState(states[1]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cg_vectors = 2")));
}

}  // namespace
}  // namespace optd
