// GoogleMock matchers for absl::Status, missing from Abseil 20220623.
//
//   EXPECT_THAT(session.Tell(bad), StatusIs(absl::StatusCode::kInvalidArgument,
//                                            HasSubstr("gradient has 99
//                                            elements")));
//   EXPECT_OK(solver.Tell(good));
#ifndef OPTD_SOLVERS_TESTING_STATUS_MATCHERS_H_
#define OPTD_SOLVERS_TESTING_STATUS_MATCHERS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optd::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// StatusIs(code, message_matcher): matches an absl::Status or absl::StatusOr<T>
// whose code equals `code` and whose message matches `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + ::testing::PrintToString(code)) {
  const absl::Status& status = GetStatus(arg);
  if (status.code() != code) {
    *result_listener << "whose status is " << status;
    return false;
  }
  return ::testing::ExplainMatchResult(
      message_matcher, std::string(status.message()), result_listener);
}

}  // namespace optd::testing

#define EXPECT_OK(expr) \
  EXPECT_TRUE((expr).ok()) << ::optd::testing::GetStatus(expr)
#define ASSERT_OK(expr) \
  ASSERT_TRUE((expr).ok()) << ::optd::testing::GetStatus(expr)

#endif  // OPTD_SOLVERS_TESTING_STATUS_MATCHERS_H_
