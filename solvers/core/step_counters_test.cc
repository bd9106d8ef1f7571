#include "solvers/core/step_counters.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;

StepCounters Sample() {
  StepCounters c;
  c.step = 7;
  c.evaluations = 9;
  c.failed = 2;
  c.last_value = 0.5;
  c.best_value = 0.25;
  c.gradient_max_norm = 3.0;
  c.last_lr = 1e-3;
  c.reason = static_cast<int64_t>(TerminationReason::kMaxSteps);
  return c;
}

TEST(StepCounters, RoundTripsItsEightWords) {
  std::string words;
  Sample().Append(&words);
  ASSERT_EQ(words.size(), StepCounters::kBytes);
  absl::StatusOr<StepCounters> parsed = StepCounters::Parse(
      words + "the vectors follow", "adam", {TerminationReason::kMaxSteps});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->step, 7);
  EXPECT_EQ(parsed->evaluations, 9);
  EXPECT_EQ(parsed->failed, 2);
  EXPECT_EQ(parsed->last_value, 0.5);
  EXPECT_EQ(parsed->best_value, 0.25);
  EXPECT_EQ(parsed->gradient_max_norm, 3.0);
  EXPECT_EQ(parsed->last_lr, 1e-3);
  const Progress p = parsed->ToProgress();
  EXPECT_EQ(p.iterations, 7);
  EXPECT_EQ(p.evaluations, 9);
  EXPECT_EQ(p.best_value, 0.25);
  EXPECT_EQ(p.last_step, 1e-3);
  EXPECT_EQ(p.current_value, 0.5);
}

TEST(StepCounters, RefusesWordsThatCannotBeASolversCounters) {
  std::string words;
  Sample().Append(&words);
  EXPECT_THAT(StepCounters::Parse(words.substr(0, 63), "adam", {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the state has 63 bytes of counters; adam's have 64"));
  StepCounters more_steps = Sample();
  more_steps.step = 10;  // more steps than evaluations
  words.clear();
  more_steps.Append(&words);
  EXPECT_THAT(
      StepCounters::Parse(words, "adam", {TerminationReason::kMaxSteps}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "the state counts 10 steps and 2 failures in 9 evaluations; "
               "each is in [0, evaluations] and evaluations in [0, 2^53]"));
  words.clear();
  Sample().Append(&words);
  EXPECT_THAT(StepCounters::Parse(words, "adafactor",
                                  {TerminationReason::kStoppedByClient}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::StartsWith("the state ends with reason ")));
  EXPECT_THAT(
      StepCounters::Parse(words, "adafactor",
                          {TerminationReason::kStoppedByClient}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::EndsWith(", which adafactor never finishes with")));
}

}  // namespace
}  // namespace optd
