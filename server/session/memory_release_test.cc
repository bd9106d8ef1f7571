#include "server/session/memory_release.h"

#include "gtest/gtest.h"

namespace optd::server {
namespace {

// Clears what earlier calls (other tests in this process) left noted.
void Settle() {
  while (ReleaseFreedMemory()) {
  }
}

TEST(MemoryRelease, LargeMessagesAreReleasedOnTheNextTwoTicks) {
  SetReleaseFreedMemory(true);
  Settle();
  NoteMessageBytes(kLargeMessageBytes - 1);  // small: not counted
  EXPECT_FALSE(ReleaseFreedMemory());
  NoteMessageBytes(kLargeMessageBytes);
  EXPECT_TRUE(ReleaseFreedMemory());
  // Once more, for buffers freed after that tick.
  EXPECT_TRUE(ReleaseFreedMemory());
  EXPECT_FALSE(ReleaseFreedMemory());
}

TEST(MemoryRelease, FreedSessionStateAddsUpToARelease) {
  SetReleaseFreedMemory(true);
  Settle();
  NoteFreedBytes(kLargeMessageBytes / 2);
  EXPECT_FALSE(ReleaseFreedMemory());
  NoteFreedBytes(kLargeMessageBytes / 2);
  EXPECT_TRUE(ReleaseFreedMemory());
  Settle();
  // What was handed on is not counted again.
  NoteFreedBytes(kLargeMessageBytes / 4);
  EXPECT_FALSE(ReleaseFreedMemory());
}

TEST(MemoryRelease, OffReleasesNothing) {
  SetReleaseFreedMemory(false);
  Settle();
  NoteMessageBytes(kLargeMessageBytes * 2);
  NoteFreedBytes(kLargeMessageBytes * 2);
  EXPECT_FALSE(ReleaseFreedMemory());
  SetReleaseFreedMemory(true);
}

}  // namespace
}  // namespace optd::server
