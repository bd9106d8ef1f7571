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

// sessions() is kept as entries come, go and change residency; it must say
// what a walk over the entries counting local and dormant ones says.
TEST(SessionRegistry, SessionCountFollowsEveryResidencyChange) {
  SessionRegistry registry(SessionLimits{});
  const auto walked = [&registry] {
    int64_t count = 0;
    for (const auto& [id, entry] : registry.entries()) {
      count += entry.residency == Residency::kLocal ||
               entry.residency == Residency::kDormant;
    }
    return count;
  };
  const auto expect_sessions = [&](int64_t expected) {
    EXPECT_EQ(registry.sessions(), expected);
    EXPECT_EQ(walked(), expected);
  };
  expect_sessions(0);
  // Reservations are not sessions, until registered.
  ASSERT_TRUE(registry.Reserve("a", Bytes(1)).ok());
  ASSERT_TRUE(registry.Reserve("b", Bytes(1)).ok());
  expect_sessions(0);
  registry.SetLocal("a", nullptr);
  expect_sessions(1);
  // A refused reservation changes nothing.
  EXPECT_THAT(registry.Reserve("a", Bytes(1)).status(),
              StatusIs(absl::StatusCode::kAlreadyExists));
  expect_sessions(1);
  // A failed create gives its reservation back; a session is not unreserved.
  registry.Unreserve("b");
  registry.Unreserve("a");
  expect_sessions(1);
  // Recovery: dormant sessions count, damaged entries do not.
  registry.SetDormant("s", nullptr, absl::InfiniteFuture());
  registry.SetDamaged("d", "bad header");
  expect_sessions(2);
  // Registering the same id again replaces its entry, not adds one.
  registry.SetLocal("a", nullptr);
  expect_sessions(2);
  // A dormant session rebuilt is still one session; one that fails to
  // rebuild is damaged, and no longer a session.
  registry.SetLocal("s", nullptr);
  expect_sessions(2);
  registry.SetDamaged("s", "journal unreadable");
  expect_sessions(1);
  registry.SetDormant("d", nullptr, absl::InfiniteFuture());
  expect_sessions(2);
  // Erasing counts down once; erasing what is gone changes nothing.
  registry.Erase("a");
  expect_sessions(1);
  registry.Erase("a");
  registry.Erase("never");
  expect_sessions(1);
  registry.Erase("s");
  registry.Erase("d");
  expect_sessions(0);
  EXPECT_TRUE(registry.entries().empty());
}

}  // namespace
}  // namespace optd::server
