// GoogleMock matchers for absl::Status, missing from Abseil 20220623.
//
//   EXPECT_THAT(session.Tell(bad), StatusIs(absl::StatusCode::kInvalidArgument,
//                                            HasSubstr("gradient has 99
//                                            elements")));
//   EXPECT_OK(solver.Tell(good));
//   ASSERT_OK_AND_ASSIGN(Session s, Create(...));
#ifndef OPTD_SOLVERS_TESTING_STATUS_MATCHERS_H_
#define OPTD_SOLVERS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <utility>

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
// whose code equals (or matches) `code` and whose message matches
// `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + ::testing::PrintToString(code)) {
  const absl::Status& status = GetStatus(arg);
  if (!::testing::Matches(code)(status.code())) {
    *result_listener << "whose status is " << status;
    return false;
  }
  return ::testing::ExplainMatchResult(
      message_matcher, std::string(status.message()), result_listener);
}

// StatusIs(code): as above, with any message.
MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  const absl::Status& status = GetStatus(arg);
  if (status.code() != code) {
    *result_listener << "whose status is " << status;
    return false;
  }
  return true;
}

// IsOkAndHolds(matcher): an OK absl::StatusOr<T> whose value matches.
MATCHER_P(IsOkAndHolds, matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

}  // namespace optd::testing

// ASSERT_OK_AND_ASSIGN(lhs, expr): asserts that the absl::StatusOr `expr` is
// OK and moves its value into `lhs` (which may be a declaration).
#define OPTD_TESTING_CONCAT_INNER_(a, b) a##b
#define OPTD_TESTING_CONCAT_(a, b) OPTD_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                             \
  auto OPTD_TESTING_CONCAT_(optd_assert_or_, __LINE__) = (expr);    \
  ASSERT_TRUE(OPTD_TESTING_CONCAT_(optd_assert_or_, __LINE__).ok()) \
      << OPTD_TESTING_CONCAT_(optd_assert_or_, __LINE__).status();  \
  lhs = std::move(OPTD_TESTING_CONCAT_(optd_assert_or_, __LINE__)).value()

#define EXPECT_OK(expr) \
  EXPECT_TRUE((expr).ok()) << ::optd::testing::GetStatus(expr)
#define ASSERT_OK(expr) \
  ASSERT_TRUE((expr).ok()) << ::optd::testing::GetStatus(expr)

#endif  // OPTD_SOLVERS_TESTING_STATUS_MATCHERS_H_
