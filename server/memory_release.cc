#include "server/memory_release.h"

#include <malloc.h>

#include <atomic>

namespace optd::server {
namespace {
std::atomic<size_t> large_bytes{0};
}  // namespace

void NoteMessageBytes(size_t bytes) {
  if (bytes >= kLargeMessageBytes) large_bytes.fetch_add(bytes);
}

bool ReleaseFreedMemory() {
  if (large_bytes.exchange(0) == 0) return false;
  malloc_trim(0);
  return true;
}

}  // namespace optd::server
