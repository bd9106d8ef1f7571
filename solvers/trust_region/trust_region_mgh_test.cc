// The trust-region variants on Moré, Garbow & Hillstrom (1981) problems with
// known minima.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"

namespace optd {
namespace {

struct Variant {
  const char* name;
  TrustRegionSubproblem subproblem;
  QuasiNewtonUpdate update;
};

constexpr Variant kVariants[] = {
    {"exact", TrustRegionSubproblem::kExact, QuasiNewtonUpdate::kLsr1},
    {"newton_cg", TrustRegionSubproblem::kNewtonCg, QuasiNewtonUpdate::kLsr1},
    {"newton_cg_fd", TrustRegionSubproblem::kNewtonCgFiniteDifference,
     QuasiNewtonUpdate::kLsr1},
    {"lsr1", TrustRegionSubproblem::kQuasiNewton, QuasiNewtonUpdate::kLsr1},
    {"lbfgs", TrustRegionSubproblem::kQuasiNewton, QuasiNewtonUpdate::kLbfgs},
};

testing::DriveResult Minimize(const problems::TestProblem& p, const Variant& v,
                              int64_t max_iterations = 0) {
  TrustRegionOptions options;
  // Tighter than scipy's 1e-4: f within max(1e-8, 1e-6 |f_min|) of the
  // minimum on the singular and flat problems (Powell, Watson 9) needs it.
  options.gtol = 1e-8;
  options.subproblem = v.subproblem;
  options.quasi_newton_update = v.update;
  options.max_iterations = max_iterations;
  auto solver =
      TrustRegion::Create(options, ConstVectorView::Float64(p.x0.data(), p.n));
  EXPECT_OK(solver);
  auto hessian = problems::HessianOf(p.name);
  EXPECT_OK(hessian);
  return testing::Drive(**solver, {p.evaluate, *hessian});
}

TEST(TrustRegionMgh, EveryVariantReachesTheKnownMinima) {
  std::vector<problems::TestProblem> set;
  for (const char* name : {"rosenbrock", "beale", "wood", "helical_valley",
                           "powell_singular", "watson_6", "watson_9"}) {
    auto p = problems::FindProblem(name);
    ASSERT_OK(p);
    set.push_back(*p);
  }
  for (int n : {100, 1000}) {
    auto p = problems::ScalableProblem("extended_rosenbrock", n);
    ASSERT_OK(p);
    set.push_back(*p);
  }
  for (const Variant& v : kVariants) {
    for (const problems::TestProblem& p : set) {
      const testing::DriveResult run = Minimize(p, v);
      SCOPED_TRACE(std::string(v.name) + " on " + p.name);
      ASSERT_TRUE(run.finished);
      std::printf("%-14s %-26s %5d %6lld %6lld %-14.8g %s\n", v.name,
                  p.name.c_str(), p.n,
                  static_cast<long long>(run.summary.iterations),
                  static_cast<long long>(run.summary.evaluations),
                  run.summary.value, run.summary.message.c_str());
      EXPECT_LE(std::fabs(run.summary.value - p.f_min), p.f_tolerance)
          << run.summary.FullReport();
    }
  }
}

// Brown badly scaled: the minimum (1e6, 2e-6) is 1e6 away along a valley
// whose curvature is 2 along it and up to 2e12 across it, so with scipy's
// max_radius 1000 every variant needs about 1000 steps (scipy's
// trust-ncg with BFGS() 1068 evaluations): hence the larger iteration cap.
// The L-BFGS model used to lose its s directions to rounding-level rank
// decisions there and crawl in steps of |g| / gamma (gamma ~ 1e9).
TEST(TrustRegionMgh, EveryVariantFollowsTheBrownBadlyScaledValley) {
  auto p = problems::FindProblem("brown_badly_scaled");
  ASSERT_OK(p);
  for (const Variant& v : kVariants) {
    const testing::DriveResult run = Minimize(*p, v, /*max_iterations=*/5000);
    SCOPED_TRACE(v.name);
    ASSERT_TRUE(run.finished);
    std::printf("%-14s %-26s %6lld %6lld %-14.8g %s\n", v.name, p->name.c_str(),
                static_cast<long long>(run.summary.iterations),
                static_cast<long long>(run.summary.evaluations),
                run.summary.value, run.summary.message.c_str());
    EXPECT_LE(std::fabs(run.summary.value - p->f_min), p->f_tolerance)
        << run.summary.FullReport();
    EXPECT_LT(run.summary.iterations, 5000);
  }
}

// Meyer's problem (x* ~ (0.0056, 6181, 345), f* = 87.95) climbs a curved,
// badly scaled valley (curvature ~1e14 across it). With scipy's defaults
// (gtol 1e-4) and a cap of 5000 iterations as in bench/solver_quality:
//   - L-SR1 used to run to the cap (f = 312.9, its last 2,700 iterations
//     lowering f by 4e-7 relative) on a model frozen at one pair; the ftol
//     test now ends it (measured: 1,627 evaluations, f = 3,995.8; scipy's
//     trust-ncg with SR1() stops at 51,992 after 1,366);
//   - L-BFGS keeps the pairs whose steps turn by less than 1e-4 rad
//     (trust_region_obs.h kPairDependence) and reaches the minimum (measured:
//     1,002 evaluations, 3,044 before).
TEST(TrustRegionMgh, QuasiNewtonOnMeyerStopsOrSolvesWellBeforeTheCap) {
  auto p = problems::FindProblem("meyer");
  ASSERT_OK(p);
  const auto run = [&](QuasiNewtonUpdate update, double ftol) {
    TrustRegionOptions options;
    options.quasi_newton_update = update;
    options.max_iterations = 5000;
    options.ftol = ftol;
    auto solver = TrustRegion::Create(
        options, ConstVectorView::Float64(p->x0.data(), p->n));
    EXPECT_OK(solver);
    return testing::Drive(**solver,
                          {p->evaluate, *problems::HessianOf("meyer")});
  };
  const testing::DriveResult lsr1 =
      run(QuasiNewtonUpdate::kLsr1, TrustRegionOptions().ftol);
  EXPECT_EQ(lsr1.summary.reason, TerminationReason::kFunctionTolerance)
      << lsr1.summary.FullReport();
  EXPECT_LT(lsr1.summary.evaluations, 2000);
  EXPECT_LT(lsr1.summary.value, 51992.0);
  // Without the test it spends the whole budget.
  const testing::DriveResult lsr1_off = run(QuasiNewtonUpdate::kLsr1, 0.0);
  EXPECT_EQ(lsr1_off.summary.reason, TerminationReason::kMaxIterations);

  // Sessions of solver revision 0 (server/session/solver_revision.h) replay
  // with the earlier arithmetic: ftol off and the pair threshold 1e-8 end where
  // that build's bench run ended, bit for bit (f = 312.86305650212245 after
  // 5000 iterations, README before revision 1).
  {
    TrustRegionOptions options;
    options.max_iterations = 5000;
    options.ftol = 0;
    options.pair_dependence = 1e-8;
    auto solver = TrustRegion::Create(
        options, ConstVectorView::Float64(p->x0.data(), p->n));
    ASSERT_OK(solver);
    const testing::DriveResult legacy =
        testing::Drive(**solver, {p->evaluate, *problems::HessianOf("meyer")});
    EXPECT_EQ(legacy.summary.iterations, 5000);
    EXPECT_EQ(legacy.summary.value, 312.86305650212245);
  }

  const testing::DriveResult lbfgs =
      run(QuasiNewtonUpdate::kLbfgs, TrustRegionOptions().ftol);
  EXPECT_LE(std::fabs(lbfgs.summary.value - p->f_min), p->f_tolerance)
      << lbfgs.summary.FullReport();
  EXPECT_LT(lbfgs.summary.evaluations, 1500);
}

}  // namespace
}  // namespace optd
