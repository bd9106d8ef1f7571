// bench/soak's faults (soak_faults.h).
#include "bench/soak_faults.h"

#include "absl/time/clock.h"

namespace optd::bench::soak {

Canceller::Canceller() : thread_([this] { Loop(); }) {}

Canceller::~Canceller() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

uint64_t Canceller::Arm(grpc::ClientContext* context, absl::Duration delay) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t token = next_token_++;
  armed_[token] = context;
  due_.push({Clock::now() + absl::ToChronoNanoseconds(delay), token});
  wake_.notify_one();
  return token;
}

void Canceller::Disarm(uint64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_.erase(token);
}

void Canceller::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (due_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const auto [when, token] = due_.top();
    if (Clock::now() < when) {
      wake_.wait_until(lock, when);
      continue;
    }
    due_.pop();
    auto it = armed_.find(token);
    if (it == armed_.end()) continue;
    it->second->TryCancel();  // under mu_: Disarm waits, context lives
    armed_.erase(it);
  }
}

FaultGuard::FaultGuard(Canceller* canceller, const Fault& fault,
                       grpc::ClientContext* context)
    : canceller_(canceller) {
  if (fault.kind == Fault::kDeadline) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + fault.after));
  } else if (fault.kind == Fault::kCancel) {
    token_ = canceller_->Arm(context, fault.after);
  }
}

FaultGuard::~FaultGuard() {
  if (token_ != 0) canceller_->Disarm(token_);
}

bool Ambiguous(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::CANCELLED;
}

}  // namespace optd::bench::soak
