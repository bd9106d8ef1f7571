#include "solvers/lbfgs/lbfgs_termination.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd {
namespace {

using ::testing::StrEq;

TEST(LbfgsFinishMessage, IsScipysTextForEachReasonAndNullForOthers) {
  EXPECT_THAT(LbfgsFinishMessage(TerminationReason::kGradientTolerance),
              StrEq("CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL"));
  EXPECT_THAT(LbfgsFinishMessage(TerminationReason::kLineSearchFailed),
              StrEq("ABNORMAL_TERMINATION_IN_LNSRCH"));
  EXPECT_THAT(LbfgsFinishMessage(TerminationReason::kStoppedByClient),
              StrEq("STOP: REQUESTED BY CLIENT"));
  EXPECT_EQ(LbfgsFinishMessage(TerminationReason::kNone), nullptr);
  EXPECT_EQ(LbfgsFinishMessage(TerminationReason::kTrustRegionFailed), nullptr);
}

TEST(NextAfterLineSearch, FailsAtTheLastAllowedEvaluation) {
  LbfgsOptions options;
  options.max_line_search = 3;
  EXPECT_EQ(*NextAfterLineSearch(LineSearchState::kEvaluate, 2, options, false),
            LineSearchNext::kEvaluate);
  EXPECT_EQ(*NextAfterLineSearch(LineSearchState::kEvaluate, 3, options, false),
            LineSearchNext::kFail);
}

TEST(NextAfterLineSearch, AcceptsAWarningUnlessTheLastTrialFailed) {
  const LbfgsOptions options;
  EXPECT_EQ(*NextAfterLineSearch(LineSearchState::kWarning, 1, options, false),
            LineSearchNext::kAccept);
  EXPECT_EQ(*NextAfterLineSearch(LineSearchState::kConverged, 1, options, true),
            LineSearchNext::kFail);
  EXPECT_EQ(*NextAfterLineSearch(LineSearchState::kError, 1, options, false),
            LineSearchNext::kFail);
}

TEST(TestNewIterate, ChecksTheLimitsBeforeTheTolerances) {
  LbfgsOptions options;
  options.max_iterations = 5;
  options.max_evaluations = 10;
  // Converged by both tolerances, yet the limits come first (scipy's driver).
  EXPECT_EQ(TestNewIterate(options, 5, 11, 0.0, 1.0, 1.0),
            TerminationReason::kMaxIterations);
  EXPECT_EQ(TestNewIterate(options, 4, 11, 0.0, 1.0, 1.0),
            TerminationReason::kMaxEvaluations);
  EXPECT_EQ(TestNewIterate(options, 4, 10, 0.0, 1.0, 1.0),
            TerminationReason::kGradientTolerance);
  EXPECT_EQ(TestNewIterate(options, 4, 10, 1.0, 1.0, 1.0),
            TerminationReason::kFunctionTolerance);
  EXPECT_EQ(TestNewIterate(options, 4, 10, 1.0, 2.0, 1.0),
            TerminationReason::kNone);
}

}  // namespace
}  // namespace optd
