#include "server/session/tenant.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;

TEST(ValidateTenantName, AcceptsLowercaseDigitsDashesAndTheReplicas) {
  EXPECT_OK(ValidateTenantName("alice"));
  EXPECT_OK(ValidateTenantName("team-7"));
  EXPECT_OK(ValidateTenantName("0"));
  EXPECT_OK(ValidateTenantName(std::string(32, 'a')));
  EXPECT_OK(ValidateTenantName(kReplicaTenant));
}

TEST(ValidateTenantName, RefusesOthersNamingTheRule) {
  const std::string rule =
      "\" is not valid; use 1-32 characters of [a-z0-9-] starting with a "
      "letter or digit, or @replicas for the replicas' token";
  EXPECT_THAT(ValidateTenantName(""),
              StatusIs(absl::StatusCode::kInvalidArgument, "tenant \"" + rule));
  EXPECT_THAT(
      ValidateTenantName("-alice"),
      StatusIs(absl::StatusCode::kInvalidArgument, "tenant \"-alice" + rule));
  EXPECT_THAT(
      ValidateTenantName("Alice"),
      StatusIs(absl::StatusCode::kInvalidArgument, "tenant \"Alice" + rule));
  EXPECT_THAT(
      ValidateTenantName("a.b"),
      StatusIs(absl::StatusCode::kInvalidArgument, "tenant \"a.b" + rule));
  EXPECT_THAT(ValidateTenantName(std::string(33, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateTenantName("@other"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The name is escaped, never echoed raw.
  EXPECT_THAT(
      ValidateTenantName("a\nb"),
      StatusIs(absl::StatusCode::kInvalidArgument, "tenant \"a\\nb" + rule));
}

TEST(TenantScope, PrefixesATenantsStoredIds) {
  EXPECT_EQ(TenantScope("alice"), "alice.");
  EXPECT_EQ(ScopedSessionId("alice", "exp1"), "alice.exp1");
  // The anonymous tenant of a server without authentication: ids as they are.
  EXPECT_EQ(TenantScope(""), "");
  EXPECT_EQ(ScopedSessionId("", "exp1"), "exp1");
}

}  // namespace
}  // namespace optd::server
