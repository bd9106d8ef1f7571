#include "server/http/long_poll.h"

namespace optd::server {

LongPoll::LongPoll(int max_waiters) : max_waiters_(max_waiters) {}

LongPoll::Outcome LongPoll::Wait(const std::shared_ptr<Session>& session,
                                 int64_t since_tells, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_.load()) return Outcome::kStopped;
    if (waiters_ >= max_waiters_) return Outcome::kBusy;
    ++waiters_;
    ++waiting_[session.get()];
  }
  // Stop() sets stopped_ before it reads waiting_ under mu_, and wakes the
  // sessions there: this session was entered above, or the wait's first
  // look at stopped_ sees it set.
  const bool changed = session->AwaitChange(since_tells, deadline, &stopped_);
  absl::MutexLock lock(&mu_);
  --waiters_;
  if (--waiting_[session.get()] == 0) waiting_.erase(session.get());
  if (changed) return Outcome::kChanged;
  return stopped_.load() ? Outcome::kStopped : Outcome::kTimedOut;
}

void LongPoll::Stop() {
  // Under mu_, so that a session in waiting_ is not freed meanwhile (its
  // waiter holds a shared_ptr until it leaves waiting_, which needs mu_).
  // Lock order: LongPoll::mu_, then the session's; Wait() never holds both.
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  for (const auto& [session, count] : waiting_) session->WakeWaiters();
}

int LongPoll::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiters_;
}

}  // namespace optd::server
