#include "server/memory_release.h"

#include <malloc.h>

#include <atomic>

namespace optd::server {
namespace {
// Large messages noted since the last release; their buffers may still be
// in use (a message is freed after its handler returns).
std::atomic<size_t> large_bytes{0};
// Whether the previous housekeeping release saw large messages: it runs
// once more, for buffers freed after it.
std::atomic<bool> release_again{false};
}  // namespace

void NoteMessageBytes(size_t bytes) {
  if (bytes < kLargeMessageBytes) return;
  // Past the budget, the earlier messages' pages go now rather than at the
  // next housekeeping tick: a replica stepping several times a second would
  // otherwise hold several gradients' worth of freed buffers, one set per
  // gRPC thread's malloc arena. This message stays counted: it is freed
  // later.
  if (large_bytes.fetch_add(bytes) + bytes >= kTrimNowBytes) {
    large_bytes.store(bytes);
    malloc_trim(0);
  }
}

bool ReleaseFreedMemory() {
  const bool seen = large_bytes.exchange(0) > 0;
  const bool again = release_again.exchange(seen);
  if (!seen && !again) return false;
  malloc_trim(0);
  return true;
}

}  // namespace optd::server
