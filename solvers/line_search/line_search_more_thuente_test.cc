// Tests of the Moré–Thuente line search against known answers: the paper's
// Tables 1–6, trial-step sequences recorded from scipy's MINPACK-2 dcsrch,
// and optd's failed-evaluation policy.
#include "solvers/line_search/line_search_more_thuente.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

// The test functions must round exactly like the Python that recorded the
// scipy traces below: no fused multiply-add, even under -march=native.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

struct Value {
  double f, g;  // phi(a), phi'(a)
};
using Function = Value (*)(double);

// The test functions of Moré & Thuente 1994 §5, eqs. (5.1)–(5.4), written
// without pow() so that they round exactly like the generator below.
Value Phi1(double a) {  // (5.1), beta = 2.
  const double b = 2.0;
  return {-a / (a * a + b), (a * a - b) / ((a * a + b) * (a * a + b))};
}
Value Phi2(double a) {  // (5.2), beta = 0.004.
  const double t = a + 0.004, t3 = t * t * t, t4 = t3 * t;
  return {t4 * t - 2.0 * t4, 5.0 * t4 - 8.0 * t3};
}
constexpr double kPi = 3.141592653589793;  // == M_PI == math.pi
Value Phi3(double a) {                     // (5.3), l = 39, beta = 0.01.
  const double l = 39.0, b = 0.01;
  double f0 = a - 1.0, g0 = 1.0;
  if (a <= 1.0 - b) {
    f0 = 1.0 - a;
    g0 = -1.0;
  } else if (a < 1.0 + b) {
    f0 = (a - 1.0) * (a - 1.0) / (2.0 * b) + b / 2.0;
    g0 = (a - 1.0) / b;
  }
  const double w = l * kPi / 2.0 * a;
  return {f0 + 2.0 * (1.0 - b) / (l * kPi) * std::sin(w),
          g0 + (1.0 - b) * std::cos(w)};
}
Value Yanai(double a, double b1, double b2) {  // (5.4), Yanai et al.
  const double g1 = std::sqrt(1.0 + b1 * b1) - b1;
  const double g2 = std::sqrt(1.0 + b2 * b2) - b2;
  const double s1 = std::sqrt((1.0 - a) * (1.0 - a) + b2 * b2);
  const double s2 = std::sqrt(a * a + b1 * b1);
  return {g1 * s1 + g2 * s2, g1 * (a - 1.0) / s1 + g2 * a / s2};
}
Value Phi4(double a) { return Yanai(a, 0.001, 0.001); }
Value Phi5(double a) { return Yanai(a, 0.01, 0.001); }
Value Phi6(double a) { return Yanai(a, 0.001, 0.01); }
// phi = a told with slope -1: every trial is worse (a wrong gradient).
Value PhiWrongSlope(double a) { return {a, -1.0}; }

struct SearchResult {
  LineSearchState state;
  std::string message;
  std::vector<double> steps;  // Every step evaluated, in order.
  double stp, f, g;           // Final step and the values told there.
};

SearchResult Search(Function phi, double stp0,
                    const MoreThuenteOptions& options) {
  MoreThuenteLineSearch search;
  const Value v0 = phi(0.0);
  EXPECT_OK(search.Start(v0.f, v0.g, stp0, options));
  SearchResult run{LineSearchState::kEvaluate, "", {}, 0, 0, 0};
  while (run.state == LineSearchState::kEvaluate && run.steps.size() < 200) {
    run.steps.push_back(search.step());
    const Value v = phi(search.step());
    run.state = search.Tell(v.f, v.g);
  }
  EXPECT_EQ(search.evaluations(), static_cast<int>(run.steps.size()));
  run.message = std::string(search.message());
  run.stp = search.step();
  run.f = search.value();
  run.g = search.derivative();
  return run;
}

void ExpectStrongWolfe(Function phi, const SearchResult& run,
                       const MoreThuenteOptions& o) {
  const Value v0 = phi(0.0);
  EXPECT_LE(run.f, v0.f + o.ftol * run.stp * v0.g) << "at " << run.stp;
  EXPECT_LE(std::abs(run.g), o.gtol * -v0.g) << "at " << run.stp;
}

// Moré & Thuente 1994, Tables 1–6: for each function the parameters
// (mu = ftol, eta = gtol) and, per starting step a0 = 1e-3, 1e-1, 10, 1000,
// the number of function evaluations and the final step to the 2 digits
// printed. The paper gives no xtol; its counts are reproduced for xtol = 0
// and 1e-10 (with 0.1 some searches stop early on the xtol test).
struct PaperTable {
  Function phi;
  double ftol, gtol;
  int evaluations[4];
  double stp[4];
};
constexpr double kPaperStarts[4] = {1e-3, 1e-1, 1e1, 1e3};
const PaperTable kPaperTables[6] = {
    {Phi1, 1e-3, 0.1, {6, 3, 1, 4}, {1.4, 1.4, 10, 37}},
    {Phi2, 0.1, 0.1, {12, 8, 8, 11}, {1.6, 1.6, 1.6, 1.6}},
    {Phi3, 0.1, 0.1, {12, 12, 10, 13}, {1.0, 1.0, 1.0, 1.0}},
    {Phi4, 1e-3, 1e-3, {4, 1, 3, 4}, {0.085, 0.10, 0.35, 0.83}},
    {Phi5, 1e-3, 1e-3, {6, 3, 7, 8}, {0.075, 0.078, 0.073, 0.076}},
    {Phi6, 1e-3, 1e-3, {13, 11, 8, 11}, {0.93, 0.93, 0.92, 0.92}},
};

TEST(MoreThuenteLineSearch, ReproducesMoreThuenteTables1To6) {
  for (int t = 0; t < 6; ++t) {
    const PaperTable& table = kPaperTables[t];
    MoreThuenteOptions options;
    options.ftol = table.ftol;
    options.gtol = table.gtol;
    options.xtol = 0.0;
    for (int i = 0; i < 4; ++i) {
      SCOPED_TRACE(::testing::Message()
                   << "Table " << t + 1 << ", a0 = " << kPaperStarts[i]);
      const SearchResult run = Search(table.phi, kPaperStarts[i], options);
      EXPECT_EQ(run.state, LineSearchState::kConverged) << run.message;
      EXPECT_EQ(run.steps.size(), table.evaluations[i]);
      // Two significant digits, as printed.
      const double unit = std::pow(10.0, std::floor(std::log10(table.stp[i])));
      EXPECT_NEAR(run.stp, table.stp[i], 0.05 * unit);
      ExpectStrongWolfe(table.phi, run, options);
    }
  }
}

TEST(MoreThuenteLineSearch, AcceptsFirstStepOnQuadratic) {
  // phi(a) = (a - 1)^2 - 1: the unit step is the exact minimizer.
  const Function phi = [](double a) -> Value {
    return {(a - 1.0) * (a - 1.0) - 1.0, 2.0 * (a - 1.0)};
  };
  const SearchResult run = Search(phi, 1.0, MoreThuenteOptions());
  EXPECT_EQ(run.state, LineSearchState::kConverged);
  EXPECT_EQ(run.message, "CONVERGENCE");
  EXPECT_THAT(run.steps, ElementsAreArray({1.0}));
  EXPECT_EQ(run.f, -1.0);
}

// Trial steps of scipy 1.10's MINPACK-2 dcsrch
// (scipy.optimize._minpack2.dcsrch, as scipy.optimize._linesearch calls it),
// run with /usr/bin/python3 on Debian 12 on the functions above written the
// same way in Python, printed with float.hex():
//   stp, task, steps = a0, b'START', []
//   isave, dsave = np.zeros(2, np.intc), np.zeros(13)
//   f, g = phi(0.0)
//   while True:
//     stp, f, g, task = minpack2.dcsrch(stp, f, g, ftol, gtol, xtol, task,
//                                       stpmin, stpmax, isave, dsave)
//     if task[:2] != b'FG': break
//     steps.append(stp); f, g = phi(stp)
// Replaying 1750 such runs (these functions, 40 random quartics, 8 option
// sets, 5 starts) matched every step and final task bit-for-bit, as did the
// 217 line searches that scipy's L-BFGS-B (setulb, with lbfgsb.f's own copy
// of dcsrch) made on 36 one-dimensional problems. These nine cover dcstep's
// cases, psi, the p66 bisection and every warning.
struct ScipyTrace {
  Function phi;
  double stp0;
  MoreThuenteOptions options;
  const char* message;
  std::vector<double> steps;
};

TEST(MoreThuenteLineSearch, MatchesScipyDcsrchBitForBit) {
  const ScipyTrace traces[] = {
      {Phi1,
       1e-3,
       {1e-3, 0.9, 0.1, 0, 1e10},
       "CONVERGENCE",
       {0x1.0624dd2f1a9fcp-10, 0x1.47ae147ae147bp-8, 0x1.5810624dd2f1bp-6,
        0x1.5c28f5c28f5c3p-4, 0x1.5d2f1a9fbe76dp-2}},
      {Phi2,
       1e-3,
       {0.1, 0.1, 0, 0, 1e10},
       "CONVERGENCE",
       {0x1.0624dd2f1a9fcp-10, 0x1.47ae147ae147bp-8, 0x1.5810624dd2f1bp-6,
        0x1.5c28f5c28f5c3p-4, 0x1.5d2f1a9fbe76dp-2, 0x1.5d70a3d70a3d7p+0,
        0x1.5d810624dd2f2p+2, 0x1.0db2fcd0cd922p+1, 0x1.8d3bba7e84612p+0,
        0x1.98fb33d27bc12p+0, 0x1.988a5b3083eeap+0, 0x1.989374bd371cdp+0}},
      {Phi3,
       1000,
       {0.1, 0.1, 0, 0, 1e10},
       "CONVERGENCE",
       {0x1.f400000000000p+9, 0x1.388928495e507p+2, 0x1.05329c00b1d55p-6,
        0x1.03f1dfd8edab6p-1, 0x1.590764447c05ep+1, 0x1.2576a298fc7ecp-1,
        0x1.12b5eac700228p+0, 0x1.0b48a8cc6117ep+0, 0x1.db1ee073f6c19p-1,
        0x1.0304d9846702dp+0, 0x1.ff3387e262fe9p-1, 0x1.000cd09ee0992p+0,
        0x1.fffffcb3bc33ep-1}},
      {Phi5,
       10,
       {1e-3, 1e-3, 0, 0, 1e10},
       "CONVERGENCE",
       {0x1.4000000000000p+3, 0x1.fd5933b31087bp-1, 0x1.58592b983b32ep-2,
        0x1.e0e1d0196012ep-4, 0x1.46fff3e84b91ep-5, 0x1.49dce1ebeeacap-4,
        0x1.2b96f51813b3ap-4}},
      {Phi6,
       1e-3,
       {1e-3, 1e-3, 0.1, 0, 1e10},
       "WARNING: XTOL TEST SATISFIED",
       {0x1.0624dd2f1a9fcp-10, 0x1.47ae147ae147bp-8, 0x1.5810624dd2f1bp-6,
        0x1.5c28f5c28f5c3p-4, 0x1.5d2f1a9fbe76dp-2, 0x1.5d70a3d70a3d7p+0,
        0x1.6eb7a91f86f0ap-2, 0x1.05cd274f53822p+0, 0x1.2f3bef430b00cp-1,
        0x1.c0ad6ba3585f4p-1, 0x1.f220ce3ef7cc2p-1, 0x1.c0ad6ba3585f4p-1}},
      {Phi1,
       0.1,
       {1e-3, 0.1, 0.1, 0, 0.5},
       "WARNING: STP = STPMAX",
       {0x1.999999999999ap-4, 0x1.0000000000000p-1}},
      {PhiWrongSlope,
       1,
       {1e-3, 0.9, 0.1, 0.01, 1e10},
       "WARNING: STP = STPMIN",
       {0x1.0000000000000p+0, 0x1.77d0a3fcf4f05p-4, 0x1.47ae147ae147bp-7}},
      {Phi4,
       1e-3,
       {0.3, 0.01, 0.1, 0, 1e10},
       "WARNING: ROUNDING ERRORS PREVENT PROGRESS",
       {0x1.0624dd2f1a9fcp-10, 0x1.47ae147ae147bp-8, 0x1.0624dd2f1a9fcp-10}},
      {Phi3,
       1e-3,
       {1e-3, 0.9, 0.1, 0, 1e10},
       "WARNING: XTOL TEST SATISFIED",
       {0x1.0624dd2f1a9fcp-10, 0x1.47ae147ae147bp-8, 0x1.5810624dd2f1bp-6,
        0x1.5c28f5c28f5c3p-4, 0x1.0b85635369077p-2, 0x1.eeb8fd6f3ee48p-1,
        0x1.e4a48b215a19ep+1, 0x1.9abba98716fbdp+0, 0x1.159a8f6dec766p+0,
        0x1.fe5648b4bf2e4p-1, 0x1.fe5648b4bf2e4p-1}},
  };
  for (const ScipyTrace& trace : traces) {
    SCOPED_TRACE(trace.message);
    const SearchResult run = Search(trace.phi, trace.stp0, trace.options);
    EXPECT_THAT(run.steps, ElementsAreArray(trace.steps));
    EXPECT_EQ(run.message, trace.message);
    EXPECT_EQ(run.stp, trace.steps.back());
  }
}

// Drives a search on `phi`, failing every evaluation beyond `fail_above`.
SearchResult SearchWithFailures(Function phi, double fail_above, double stp0,
                                const MoreThuenteOptions& options) {
  MoreThuenteLineSearch search;
  const Value v0 = phi(0.0);
  EXPECT_OK(search.Start(v0.f, v0.g, stp0, options));
  SearchResult run{LineSearchState::kEvaluate, "", {}, 0, 0, 0};
  while (run.state == LineSearchState::kEvaluate && run.steps.size() < 200) {
    const double stp = search.step();
    EXPECT_TRUE(std::isfinite(stp));
    run.steps.push_back(stp);
    const Value v = phi(stp);
    run.state = stp > fail_above ? search.TellFailed() : search.Tell(v.f, v.g);
  }
  run.message = std::string(search.message());
  run.stp = search.step();
  run.f = search.value();
  run.g = search.derivative();
  return run;
}

TEST(MoreThuenteLineSearch, FailedEvaluationsBracketThenRecover) {
  // Failures beyond 5 halve the step from 1000 to 3.90625, which converges.
  const MoreThuenteOptions options;
  const SearchResult run = SearchWithFailures(Phi1, 5.0, 1000.0, options);
  EXPECT_EQ(run.state, LineSearchState::kConverged);
  EXPECT_THAT(run.steps, ElementsAreArray({1000.0, 500.0, 250.0, 125.0, 62.5,
                                           31.25, 15.625, 7.8125, 3.90625}));
  ExpectStrongWolfe(Phi1, run, options);
}

TEST(MoreThuenteLineSearch, NonFiniteValuesCountAsFailures) {
  for (const Value bad : {Value{NAN, -1.0}, Value{INFINITY, -1.0},
                          Value{-INFINITY, -1.0}, Value{1.0, NAN}}) {
    MoreThuenteLineSearch search;
    ASSERT_OK(search.Start(0.0, -1.0, 8.0, MoreThuenteOptions()));
    EXPECT_EQ(search.Tell(bad.f, bad.g), LineSearchState::kEvaluate);
    EXPECT_EQ(search.step(), 4.0);
    EXPECT_EQ(search.failures(), 1);
    EXPECT_EQ(search.snapshot().sty, 8.0);
    EXPECT_TRUE(search.snapshot().brackt);
  }
}

TEST(MoreThuenteLineSearch, AnOverflowingInterpolationBisectsNeverNan) {
  // session_requests_fuzzer (lbfgsb-nan-trial-after-huge-values): phi(0) =
  // 5.3e303 and phi falls to 1e26 at the first step, where phi' > 0. The
  // cubic steps of dcstep overflow on the third trial; dcsrch would go on
  // with stp = NaN. Along L-BFGS-B's direction d = (-1.5e-4, -1, -7) from
  // x0 = (-1.2, 1, 0.5): phi(a) = 6.1e-5 |x0 + a d - 8.4e14|^2 + 3.
  const Function phi = [](double a) -> Value {
    if (a == 0.0) return {5.3147664032538223e+303, -57.0005};
    constexpr double c = 844424930131968.0, scale = 6.1012804508209229e-05;
    constexpr double x0[3] = {-1.2, 1.0, 0.5};
    constexpr double d[3] = {-1.2001487731933593 + 1.2, -1.0, -7.0};
    double f = 3.0, g = 0.0;
    for (int i = 0; i < 3; ++i) {
      const double r = x0[i] + a * d[i] - c;
      f += scale * r * r;
      g += 2 * scale * r * d[i];
    }
    return {f, g};
  };
  MoreThuenteLineSearch search;
  const Value v0 = phi(0.0);
  ASSERT_OK(search.Start(v0.f, v0.g, 0.141421, MoreThuenteOptions()));
  std::vector<double> steps;
  for (int tell = 0; tell < 40; ++tell) {
    steps.push_back(search.step());
    const Value v = phi(search.step());
    ASSERT_EQ(search.Tell(v.f, v.g), LineSearchState::kEvaluate);
  }
  // phi' > 0 at every trial, so the best step is the smallest one tried and
  // the bracket [0, stx] halves from the third trial on; a solver's limit on
  // line-search evaluations (L-BFGS-B: 20) ends the search.
  EXPECT_EQ(steps[1], 9.7787333785959163e-12);  // dcstep's cubic step.
  for (size_t i = 3; i < steps.size(); ++i) {
    ASSERT_TRUE(std::isfinite(steps[i])) << i;
    EXPECT_EQ(steps[i], steps[i - 1] / 2) << i;
  }
}

TEST(MoreThuenteLineSearch, RunOfFailuresEndsWithWarningAtBestStep) {
  // phi = -a - a^2 keeps falling ever faster (dcstep case 4) but fails
  // beyond 2: bisect towards the best step 2, give up on the xtol test and
  // ask once more for 2.
  const Function phi = [](double a) -> Value {
    return {-a - a * a, -1 - 2 * a};
  };
  const SearchResult run =
      SearchWithFailures(phi, 2.0, 1.0, MoreThuenteOptions());
  EXPECT_EQ(run.state, LineSearchState::kWarning);
  EXPECT_EQ(run.message, "WARNING: FAILED EVALUATIONS PREVENT PROGRESS");
  EXPECT_THAT(run.steps,
              ElementsAreArray({1.0, 5.0, 3.0, 2.0, 2.5, 2.25, 2.125, 2.0}));
  EXPECT_EQ(run.stp, 2.0);
  EXPECT_EQ(run.f, -6.0);
  EXPECT_EQ(run.g, -5.0);
}

TEST(MoreThuenteLineSearch, AllEvaluationsFailingEndsAtZeroNeverNan) {
  MoreThuenteLineSearch search;
  ASSERT_OK(search.Start(3.0, -1.0, 1.0, MoreThuenteOptions()));
  int failures = 0;
  while (search.step() > 0.0 && failures < 100) {
    ASSERT_EQ(search.TellFailed(), LineSearchState::kEvaluate);
    ++failures;
  }
  // Bisection stops once [0, sty] is below epsilon times the first step.
  EXPECT_EQ(failures, 53);
  EXPECT_EQ(search.step(), 0.0);
  EXPECT_EQ(search.Tell(3.0, -1.0), LineSearchState::kWarning);
  EXPECT_EQ(search.message(), "WARNING: FAILED EVALUATIONS PREVENT PROGRESS");
  EXPECT_EQ(search.evaluations(), 54);
  EXPECT_EQ(search.failures(), 53);
}

TEST(MoreThuenteLineSearch, FailureAtTheBestStepIsAnError) {
  MoreThuenteLineSearch search;
  ASSERT_OK(search.Start(3.0, -1.0, 1.0, MoreThuenteOptions()));
  while (search.step() > 0.0) search.TellFailed();
  EXPECT_EQ(search.TellFailed(), LineSearchState::kError);
  EXPECT_EQ(search.message(), "ERROR: EVALUATION FAILED AT THE BEST STEP");
}

TEST(MoreThuenteLineSearch, FailuresDownToStpminEndWithWarning) {
  MoreThuenteOptions options;
  options.stpmin = 0.1;
  // Finite at stpmin (but worse): dcsrch's STPMIN warning.
  SearchResult run = SearchWithFailures(PhiWrongSlope, 0.15, 1.0, options);
  EXPECT_EQ(run.message, "WARNING: STP = STPMIN");
  EXPECT_EQ(run.stp, 0.1);
  // Failing at stpmin too: back to the best step 0.
  run = SearchWithFailures(PhiWrongSlope, 0.05, 1.0, options);
  EXPECT_EQ(run.message, "WARNING: FAILED EVALUATIONS PREVENT PROGRESS");
  EXPECT_THAT(run.steps, ElementsAreArray({1.0, 0.5, 0.25, 0.125, 0.1, 0.0}));
}

TEST(MoreThuenteLineSearch, ValidateNamesFieldValueAndRange) {
  struct Case {
    MoreThuenteOptions options;
    const char* message;
  };
  const Case cases[] = {
      {{-1e-3, 0.9, 0.1, 0, 1e10}, "ftol = -0.001 is out of range: [0, 1)"},
      {{1.0, 0.9, 0.1, 0, 1e10}, "ftol = 1 is out of range: [0, 1)"},
      {{1e-3, -0.5, 0.1, 0, 1e10}, "gtol = -0.5 is out of range: [0, 1)"},
      {{1e-3, 1.5, 0.1, 0, 1e10}, "gtol = 1.5 is out of range: [0, 1)"},
      {{1e-3, 0.9, -0.1, 0, 1e10}, "xtol = -0.1 is out of range: [0, inf)"},
      {{1e-3, 0.9, NAN, 0, 1e10}, "xtol = nan is out of range"},
      {{1e-3, 0.9, 0.1, -1, 1e10}, "stpmin = -1 is out of range: [0, inf)"},
      {{1e-3, 0.9, 0.1, 2, 1}, "stpmax = 1 is out of range: [stpmin = 2, inf)"},
      {{1e-3, 0.9, 0.1, 0, INFINITY}, "stpmax = inf is out of range"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(
        c.options.Validate(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)));
  }
  EXPECT_OK(MoreThuenteOptions().Validate());
  // gtol < ftol is dcsrch's to handle (paper §3), not an error.
  EXPECT_OK((MoreThuenteOptions{0.5, 0.1, 0.1, 0, 1e10}.Validate()));
}

TEST(MoreThuenteLineSearch, StartRejectsBadArguments) {
  const MoreThuenteOptions ok;
  MoreThuenteOptions bad;
  bad.ftol = -1;
  MoreThuenteLineSearch search;
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_THAT(search.Start(0, -1, 1, bad),
              StatusIs(kInvalid, HasSubstr("ftol")));
  EXPECT_THAT(search.Start(0, 0, 1, ok),
              StatusIs(kInvalid, HasSubstr("g0 = 0 must be finite and < 0")));
  EXPECT_THAT(search.Start(0, 2, 1, ok),
              StatusIs(kInvalid, HasSubstr("g0 = 2")));
  EXPECT_THAT(search.Start(NAN, -1, 1, ok),
              StatusIs(kInvalid, HasSubstr("f0 = nan must be finite")));
  EXPECT_THAT(search.Start(0, -1, 0, ok),
              StatusIs(kInvalid, HasSubstr("stp = 0 must be > 0")));
  EXPECT_THAT(search.Start(0, -1, 2e10, ok),
              StatusIs(kInvalid, HasSubstr("stpmax = 1e+10")));
  EXPECT_EQ(search.state(), LineSearchState::kError);
  EXPECT_EQ(search.message(), "ERROR: INVALID ARGUMENT");
}

TEST(MoreThuenteLineSearch, TellOutOfTurnIsAnError) {
  MoreThuenteLineSearch search;
  EXPECT_EQ(search.message(), "ERROR: NOT STARTED");
  EXPECT_EQ(search.Tell(0, 0), LineSearchState::kError);
  EXPECT_EQ(search.message(), "ERROR: NO EVALUATION REQUESTED");
  ASSERT_OK(search.Start(0, -2, 1, MoreThuenteOptions()));
  EXPECT_EQ(search.Tell(-1, 0), LineSearchState::kConverged);
  EXPECT_EQ(search.TellFailed(), LineSearchState::kError);
}

TEST(MoreThuenteLineSearch, SnapshotRestoreContinuesIdentically) {
  MoreThuenteOptions options;
  options.ftol = options.gtol = 0.1;
  options.xtol = 0;
  const SearchResult reference = Search(Phi3, 1000.0, options);
  ASSERT_EQ(reference.steps.size(), 13);
  for (size_t cut = 0; cut < reference.steps.size(); ++cut) {
    MoreThuenteLineSearch first;
    const Value v0 = Phi3(0);
    ASSERT_OK(first.Start(v0.f, v0.g, 1000.0, options));
    for (size_t i = 0; i < cut; ++i) {
      const Value v = Phi3(first.step());
      first.Tell(v.f, v.g);
    }
    MoreThuenteLineSearch second;
    ASSERT_OK(second.Restore(first.snapshot()));
    std::vector<double> steps(reference.steps.begin(),
                              reference.steps.begin() + cut);
    while (second.state() == LineSearchState::kEvaluate) {
      steps.push_back(second.step());
      const Value v = Phi3(second.step());
      second.Tell(v.f, v.g);
    }
    EXPECT_THAT(steps, ElementsAreArray(reference.steps)) << "cut " << cut;
    EXPECT_EQ(second.evaluations(), 13);
    EXPECT_EQ(second.message(), "CONVERGENCE");
  }
}

TEST(MoreThuenteLineSearch, SnapshotCarriesPendingGiveUpAfterFailure) {
  MoreThuenteLineSearch search;
  ASSERT_OK(search.Start(3.0, -1.0, 1.0, MoreThuenteOptions()));
  while (search.step() > 0.0) search.TellFailed();
  MoreThuenteLineSearch restored;
  ASSERT_OK(restored.Restore(search.snapshot()));
  EXPECT_EQ(restored.Tell(3.0, -1.0), LineSearchState::kWarning);
  EXPECT_EQ(restored.message(), "WARNING: FAILED EVALUATIONS PREVENT PROGRESS");
}

TEST(MoreThuenteLineSearch, RestoreRejectsCorruptSnapshots) {
  MoreThuenteLineSearch search;
  ASSERT_OK(search.Start(0, -1, 1, MoreThuenteOptions()));
  MoreThuenteLineSearch::Snapshot snapshot = search.snapshot();
  snapshot.stage = 3;
  EXPECT_THAT(
      search.Restore(snapshot),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stage = 3")));
  snapshot = search.snapshot();
  snapshot.task = static_cast<MoreThuenteTask>(99);
  EXPECT_THAT(
      search.Restore(snapshot),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("task = 99")));
  snapshot = search.snapshot();
  snapshot.options.gtol = 2;
  EXPECT_THAT(
      search.Restore(snapshot),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gtol = 2")));
  EXPECT_EQ(search.state(), LineSearchState::kEvaluate);  // Unchanged.
}

}  // namespace
}  // namespace optd
