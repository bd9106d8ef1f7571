#include "solvers/core/option_checks.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd {
namespace {

using ::optd::testing::StatusIs;
using ::testing::StrEq;

TEST(OptionOutOfRange, SaysMustBeInByDefault) {
  EXPECT_THAT(OptionOutOfRange("lbfgs", "memory", 0, "[1, 1000]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StrEq("lbfgs.memory is 0; it must be in [1, 1000]")));
}

TEST(OptionOutOfRange, SaysIsOutOfRangeInTheOtherStyle) {
  EXPECT_THAT(OptionOutOfRange("MoreThuenteOptions", "ftol", 1.5, "[0, 1)",
                               OptionRangeStyle::kIsOutOfRange),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StrEq("MoreThuenteOptions.ftol = 1.5 is out of range: "
                             "[0, 1)")));
}

}  // namespace
}  // namespace optd
