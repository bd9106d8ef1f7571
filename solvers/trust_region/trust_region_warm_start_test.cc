#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/bounds_testing.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

using ::optd::testing::MakeBounds;
using ::optd::testing::StatusIs;
using ::testing::HasSubstr;
using Vectors = std::vector<std::vector<double>>;

// f = 0.5 sum_i a_i x_i^2, a_i = 1 + (i mod 7) (g_i = a_i x_i).
double Diagonal(int64_t i) { return 1.0 + static_cast<double>(i % 7); }

std::vector<double> Trial(const Solver& solver) {
  std::vector<double> x(static_cast<size_t>(solver.dimension()));
  EXPECT_OK(solver.ReadTrialPoint(
      MutableVectorView::Float64(x.data(), solver.dimension())));
  return x;
}

void TellAtTrial(Solver& solver) {
  const std::vector<double> x = Trial(solver);
  std::vector<double> g(x.size());
  TrialResult r;
  r.value = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    g[i] = Diagonal(static_cast<int64_t>(i)) * x[i];
    r.value += 0.5 * x[i] * g[i];
  }
  r.has_gradient = true;
  ASSERT_OK(solver.SetTrialGradient(
      ConstVectorView::Float64(g.data(), solver.dimension())));
  ASSERT_OK(solver.Tell(r));
}

// Every trial point to the end (at most 200).
std::vector<std::vector<double>> RunToTheEnd(Solver& solver) {
  std::vector<std::vector<double>> trials;
  while (!solver.finished() && trials.size() < 200) {
    trials.push_back(Trial(solver));
    TellAtTrial(solver);
  }
  return trials;
}

// The pair (s, A s) for s = scale * e_j.
void AddAxisPair(int64_t n, int64_t j, double scale, Vectors* s, Vectors* y) {
  std::vector<double> si(static_cast<size_t>(n), 0.0), yi(si);
  si[j] = scale;
  yi[j] = Diagonal(j) * scale;
  s->push_back(si);
  y->push_back(yi);
}

std::unique_ptr<TrustRegion> Create(const TrustRegionOptions& options,
                                    int64_t n, int shards = 1) {
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = 1.0 - 0.01 * static_cast<double>(i);
  auto solver = TrustRegion::Create(
      options, ConstVectorView::Float64(x0.data(), n), shards);
  EXPECT_OK(solver.status());
  return std::move(*solver);
}

// The pair (s, A s).
void AddPair(const std::vector<double>& s_new, Vectors* s, Vectors* y) {
  std::vector<double> y_new(s_new.size());
  for (size_t i = 0; i < s_new.size(); ++i) {
    y_new[i] = Diagonal(static_cast<int64_t>(i)) * s_new[i];
  }
  s->push_back(s_new);
  y->push_back(y_new);
}

// With n pairs of linearly independent steps on a quadratic the SR1 matrix
// is A (Nocedal & Wright, Numerical Optimization, 2nd ed., Theorem 6.1), and
// so is the BFGS matrix when the steps are A-conjugate (axis steps of a
// diagonal A): the first step inside a large radius is the Newton step to
// the minimizer 0. (Axis steps do not serve L-SR1: with B0 = gamma I,
// gamma = y.y / s.y of the newest pair, that pair has y = B0 s and the skip
// rule leaves it out.)
TEST(TrustRegionWarmStart, FirstStepIsTheNewtonStepOfThePairsModel) {
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
    SCOPED_TRACE(UpdateName(update));
    TrustRegionOptions options;
    options.quasi_newton_update = update;
    options.initial_radius = 10.0;
    const int64_t n = 3;
    Vectors s, y;
    if (update == QuasiNewtonUpdate::kLsr1) {
      AddPair({1.0, 0.5, 0.0}, &s, &y);
      AddPair({0.0, 1.0, 0.5}, &s, &y);
      AddPair({0.5, 0.0, 1.0}, &s, &y);
    } else {
      for (int64_t j = 0; j < n; ++j) AddAxisPair(n, j, 0.5 + j, &s, &y);
    }
    std::unique_ptr<TrustRegion> warm = Create(options, n);
    ASSERT_OK(warm->SetCurvaturePairs(s, y));
    TellAtTrial(*warm);  // x0
    const std::vector<double> first = Trial(*warm);
    for (double xi : first) EXPECT_NEAR(xi, 0.0, 1e-12);
    RunToTheEnd(*warm);
    EXPECT_EQ(warm->summary().reason, TerminationReason::kGradientTolerance);
    EXPECT_EQ(warm->summary().evaluations, 2);

    // Cold, the first step is along -g and the run takes longer.
    std::unique_ptr<TrustRegion> cold = Create(options, n);
    TellAtTrial(*cold);
    EXPECT_GT(std::fabs(Trial(*cold)[2]), 1e-3);
    RunToTheEnd(*cold);
    EXPECT_GT(cold->summary().evaluations, warm->summary().evaluations);
  }
}

// A pair the memory's skipping rule refuses is left out: the run is bitwise
// the run without it. L-BFGS: s.y <= 1e-8 ||s|| ||y||. L-SR1: y = B s for
// the model of the pairs taken before (a pair repeated).
TEST(TrustRegionWarmStart, PairsTheSkippingRuleRefusesAreLeftOut) {
  const int64_t n = 3;
  Vectors s, y;
  for (int64_t j = 0; j < n; ++j) AddAxisPair(n, j, 0.5 + j, &s, &y);
  for (QuasiNewtonUpdate update :
       {QuasiNewtonUpdate::kLsr1, QuasiNewtonUpdate::kLbfgs}) {
    SCOPED_TRACE(UpdateName(update));
    TrustRegionOptions options;
    options.quasi_newton_update = update;
    if (update == QuasiNewtonUpdate::kLsr1) {
      s.clear();
      y.clear();
      AddPair({1.0, 0.5, 0.0}, &s, &y);
      AddPair({0.0, 1.0, 0.5}, &s, &y);
    }
    Vectors s_more = s, y_more = y;
    if (update == QuasiNewtonUpdate::kLbfgs) {
      s_more.insert(s_more.begin() + 1, {1.0, 0.0, 0.0});
      y_more.insert(y_more.begin() + 1, {1e-9, 1.0, 0.0});
    } else {
      s_more.push_back(s[1]);
      y_more.push_back(y[1]);
    }
    std::unique_ptr<TrustRegion> with = Create(options, n);
    ASSERT_OK(with->SetCurvaturePairs(s_more, y_more));
    std::unique_ptr<TrustRegion> without = Create(options, n);
    ASSERT_OK(without->SetCurvaturePairs(s, y));
    EXPECT_EQ(RunToTheEnd(*with), RunToTheEnd(*without));
  }
}

TEST(TrustRegionWarmStart, KeepsTheNewestPairsUpToItsMemory) {
  const int64_t n = 3;
  Vectors s, y;
  for (int64_t j = 0; j < n; ++j) AddAxisPair(n, j, 0.5 + j, &s, &y);
  TrustRegionOptions options;
  options.memory = 2;
  std::unique_ptr<TrustRegion> all = Create(options, n);
  ASSERT_OK(all->SetCurvaturePairs(s, y));
  std::unique_ptr<TrustRegion> newest = Create(options, n);
  ASSERT_OK(newest->SetCurvaturePairs(Vectors(s.begin() + 1, s.end()),
                                      Vectors(y.begin() + 1, y.end())));
  EXPECT_EQ(RunToTheEnd(*all), RunToTheEnd(*newest));
}

// Three blocks of 4096 on 1 and 3 slices, and through a saved state: the
// same bits.
TEST(TrustRegionWarmStart, SameBitsOnOneAndThreeSlicesAndAfterARestore) {
  const int64_t n = 3 * 4096 - 100;
  Vectors s, y;
  for (int64_t j : {int64_t{5}, int64_t{4200}, int64_t{9000}}) {
    AddAxisPair(n, j, 0.25, &s, &y);
  }
  // A pair across every block.
  std::vector<double> sd(static_cast<size_t>(n)), yd(sd);
  for (int64_t i = 0; i < n; ++i) {
    sd[i] = std::sin(0.001 * static_cast<double>(i));
    yd[i] = Diagonal(i) * sd[i];
  }
  s.push_back(sd);
  y.push_back(yd);
  TrustRegionOptions options;
  std::unique_ptr<TrustRegion> one = Create(options, n, 1);
  ASSERT_OK(one->SetCurvaturePairs(s, y));
  std::unique_ptr<TrustRegion> three = Create(options, n, 3);
  ASSERT_OK(three->SetCurvaturePairs(s, y));
  // Saved after x0's tell, restored into a cold solver.
  TellAtTrial(*one);
  TellAtTrial(*three);
  std::string state;
  ASSERT_OK(one->SaveState(&state));
  std::unique_ptr<TrustRegion> restored = Create(options, n, 3);
  ASSERT_OK(restored->RestoreState(state));
  const std::vector<std::vector<double>> trials = RunToTheEnd(*one);
  EXPECT_GT(trials.size(), 2u);
  EXPECT_EQ(RunToTheEnd(*three), trials);
  EXPECT_EQ(RunToTheEnd(*restored), trials);
}

TEST(TrustRegionWarmStart, Refusals) {
  const int64_t n = 3;
  Vectors s, y;
  AddAxisPair(n, 0, 1.0, &s, &y);
  TrustRegionOptions cg;
  cg.subproblem = TrustRegionSubproblem::kNewtonCg;
  EXPECT_THAT(Create(cg, n)->SetCurvaturePairs(s, y),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("trust_region takes curvature pairs only "
                                 "with the quasi_newton subproblem; this "
                                 "session's is newton_cg")));

  const double kInf = std::numeric_limits<double>::infinity();
  const std::vector<double> x0 = {1, 1, 1};
  auto boxed = TrustRegion::Create(
      TrustRegionOptions(), ConstVectorView::Float64(x0.data(), n),
      MakeBounds({0, -kInf, -kInf}, {2, kInf, kInf}));
  ASSERT_OK(boxed.status());
  EXPECT_THAT((*boxed)->SetCurvaturePairs(s, y),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a bounded trust_region session takes no "
                                 "curvature pairs")));

  std::unique_ptr<TrustRegion> solver = Create(TrustRegionOptions(), n);
  EXPECT_THAT(solver->SetCurvaturePairs(s, Vectors()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("curvature pairs: 1 s and 0 y vectors")));
  EXPECT_THAT(
      solver->SetCurvaturePairs({{1.0, 2.0}}, {{1.0, 2.0}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("curvature pair 0 is not of the dimension 3")));
  TellAtTrial(*solver);
  EXPECT_THAT(solver->SetCurvaturePairs(s, y),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("curvature pairs can start only a session "
                                 "that was told nothing")));
}

}  // namespace
}  // namespace optd
