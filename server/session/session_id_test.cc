#include "server/session/session_id.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

TEST(StoredSessionIds, AcceptATenantPrefix) {
  EXPECT_OK(ValidateStoredSessionId("exp1", "id"));
  EXPECT_OK(ValidateStoredSessionId("alice.exp1", "id"));
  EXPECT_THAT(ValidateStoredSessionId("Alice.exp1", "id"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a tenant name")));
  EXPECT_THAT(ValidateStoredSessionId("@replicas.exp1", "id"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateStoredSessionId("alice.b.c", "id"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Visible ids never hold a dot.
  EXPECT_THAT(ValidateSessionId("alice.exp1", "session_id"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NewSessionId, Is128RandomBitsInHex) {
  const std::string a = NewSessionId(), b = NewSessionId();
  EXPECT_THAT(a, ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(a, b);
  EXPECT_OK(ValidateSessionId(a, "id"));
}

}  // namespace
}  // namespace optd::server
