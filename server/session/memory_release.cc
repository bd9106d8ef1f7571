#include "server/session/memory_release.h"

#include <malloc.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace optd::server {
namespace {

// Large messages noted since the last release; their buffers may still be
// in use (a message is freed after its handler returns).
std::atomic<size_t> large_bytes{0};
// Whether the previous housekeeping release saw large messages: it runs
// once more, for buffers freed after it.
std::atomic<bool> release_again{false};
std::atomic<bool> enabled{true};
// Session state freed since it last added up to a large message.
std::atomic<size_t> freed_bytes{0};

// A thread that releases when asked, so that the request that crossed the
// budget does not wait for malloc_trim (tens of milliseconds after a 40 MB
// message, measured with bench/latency).
class Trimmer {
 public:
  Trimmer() {
    std::thread([this] { Loop(); }).detach();
  }
  void Ask() {
    absl::MutexLock lock(&mu_);
    wanted_ = true;
  }

 private:
  void Loop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(&wanted_));
        wanted_ = false;
      }
      malloc_trim(0);
    }
  }

  absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
};

Trimmer& TheTrimmer() {
  static Trimmer* const trimmer = new Trimmer();  // lives with the process
  return *trimmer;
}

}  // namespace

void SetReleaseFreedMemory(bool on) { enabled.store(on); }

void NoteMessageBytes(size_t bytes) {
  if (bytes < kLargeMessageBytes || !enabled.load()) return;
  // Past the budget, the earlier messages' pages go now rather than at the
  // next housekeeping tick: a replica stepping several times a second would
  // otherwise hold several gradients' worth of freed buffers, one set per
  // gRPC thread's malloc arena. This message stays counted: it is freed
  // later.
  if (large_bytes.fetch_add(bytes) + bytes >= kTrimNowBytes) {
    large_bytes.store(bytes);
    TheTrimmer().Ask();
  }
}

void NoteFreedBytes(size_t bytes) {
  if (!enabled.load()) return;
  size_t total = freed_bytes.fetch_add(bytes) + bytes;
  // Whoever takes the sum to zero hands it on (on failure `total` is
  // reloaded, so a concurrent taker leaves nothing to hand on twice).
  while (total >= kLargeMessageBytes) {
    if (freed_bytes.compare_exchange_weak(total, 0)) {
      large_bytes.fetch_add(total);
      break;
    }
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
