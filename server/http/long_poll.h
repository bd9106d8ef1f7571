// LongPoll: the waits of the JSON API's long polls (json_api.h), counted and
// ended together at shutdown.
//
// A request with since_tells and wait_seconds waits on its session
// (Session::AwaitChange()) until the session applies a tell, changes state or
// is deleted, or the time passes. At most `max_waiters` requests wait at
// once: the HTTP server has few worker threads, and /metrics scrapes must
// find one free, so a request past the cap is answered at once (kBusy).
// Stop() ends every wait now and every later one at once, so that the HTTP
// server's Stop() need not wait out a poll.
//
//   LongPoll poll;
//   if (poll.Wait(session, since_tells, absl::Seconds(10)) ==
//       LongPoll::Outcome::kChanged) { ... }
//   poll.Stop();  // at shutdown
//
// Thread-safety: thread-safe.
#ifndef OPTD_SERVER_HTTP_LONG_POLL_H_
#define OPTD_SERVER_HTTP_LONG_POLL_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/session/session.h"

namespace optd::server {

class LongPoll {
 public:
  // Requests that may wait at once (of MetricsHttpServer::kWorkerThreads).
  static constexpr int kMaxWaiters = 8;

  explicit LongPoll(int max_waiters = kMaxWaiters);

  LongPoll(const LongPoll&) = delete;
  LongPoll& operator=(const LongPoll&) = delete;

  // How a Wait() ended.
  enum class Outcome {
    kChanged,   // a tell, a new state or a delete
    kTimedOut,  // the time passed first
    kStopped,   // Stop() (before or during the wait)
    kBusy,      // max_waiters requests were waiting: no wait
  };

  // LongPoll::Wait()
  //
  // Waits up to `timeout` for `session` to change since it had
  // `since_tells` tells (Session::AwaitChange()). Returns at once when it
  // has already changed, after Stop(), or when max_waiters requests wait.
  Outcome Wait(const std::shared_ptr<Session>& session, int64_t since_tells,
               absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  // LongPoll::Stop()
  //
  // Ends every wait now; later waits return kStopped at once. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Requests waiting now.
  int waiting() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int max_waiters_;
  // Read by the sessions' wait conditions; set under mu_ by Stop().
  std::atomic<bool> stopped_{false};
  mutable absl::Mutex mu_;
  // The sessions waited on, with how many requests wait on each: Stop()
  // wakes them.
  std::map<Session*, int> waiting_ ABSL_GUARDED_BY(mu_);
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace optd::server

#endif  // OPTD_SERVER_HTTP_LONG_POLL_H_
