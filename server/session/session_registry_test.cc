#include "server/session/session_registry.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solvers/testing/status_matchers.h"

namespace optd::server {
namespace {

using ::optd::testing::StatusIs;
using ::testing::HasSubstr;

SessionBytes Bytes(int64_t solver) {
  SessionBytes bytes;
  bytes.solver = solver;
  return bytes;
}

TEST(SessionRegistry, ReservedIdIsTakenButNotFoundUntilRegistered) {
  SessionRegistry registry(SessionLimits{});
  ASSERT_TRUE(registry.Reserve("a", Bytes(100)).ok());
  EXPECT_TRUE(registry.Holds("a"));
  EXPECT_EQ(registry.Find("a")->residency, Residency::kReserved);
  EXPECT_EQ(registry.FindLocal("a"), nullptr);
  EXPECT_EQ(registry.sessions(), 0);
  EXPECT_THAT(registry.NotFound("a"), StatusIs(absl::StatusCode::kUnavailable,
                                               HasSubstr("is being created")));
  EXPECT_THAT(registry.Reserve("a", Bytes(1)).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));
  registry.Unreserve("a");
  EXPECT_FALSE(registry.Holds("a"));
  EXPECT_THAT(registry.NotFound("a"),
              StatusIs(absl::StatusCode::kNotFound, "session \"a\" not found"));
}

TEST(SessionRegistry, EveryResidencyTakesItsId) {
  SessionRegistry registry(SessionLimits{});
  registry.SetDamaged("d", "bad header");
  registry.SetDormant("s", nullptr, absl::InfiniteFuture());
  EXPECT_THAT(registry.Reserve("d", Bytes(1)).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(registry.Reserve("s", Bytes(1)).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(registry.Find("d")->damage, "bad header");
  EXPECT_EQ(registry.Find("s")->residency, Residency::kDormant);
  // Dormant sessions are held; damaged entries are not sessions.
  EXPECT_EQ(registry.sessions(), 1);
  // Unreserve leaves what is not a reservation alone.
  registry.Unreserve("d");
  EXPECT_TRUE(registry.Holds("d"));
  registry.Erase("d");
  EXPECT_FALSE(registry.Holds("d"));
}

TEST(SessionRegistry, RandomIdWhenNoneIsRequested) {
  SessionRegistry registry(SessionLimits{});
  absl::StatusOr<std::string> id = registry.Reserve("", Bytes(1));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->size(), 32u);
  EXPECT_TRUE(registry.Holds(*id));
}

TEST(SessionRegistry, SessionLimitCountsEveryEntry) {
  SessionLimits limits;
  limits.max_sessions = 2;
  SessionRegistry registry(limits);
  registry.SetDamaged("d", "bad");
  ASSERT_TRUE(registry.Reserve("a", Bytes(1)).ok());
  EXPECT_THAT(registry.Reserve("b", Bytes(1)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max_sessions=2")));
}

TEST(SessionRegistry, UsageCountsReservationsByTenant) {
  SessionLimits limits;
  limits.tenant_memory_bytes = 1000;
  SessionRegistry registry(limits);
  ASSERT_TRUE(registry.Reserve("t.a", Bytes(600)).ok());
  registry.SetDamaged("t.b", "bad");
  ASSERT_TRUE(registry.Reserve("u.a", Bytes(10)).ok());
  const TenantUsage usage = registry.Usage("t.");
  EXPECT_EQ(usage.sessions, 2);
  EXPECT_EQ(usage.state_bytes, 600);
  EXPECT_EQ(registry.UsageByTenant().at("u").state_bytes, 10);
  EXPECT_THAT(registry.Reserve("t.c", Bytes(500)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("tenant \"t\" holds 600 of its 1000")));
  EXPECT_TRUE(registry.Reserve("t.c", Bytes(400)).ok());
}

}  // namespace
}  // namespace optd::server
