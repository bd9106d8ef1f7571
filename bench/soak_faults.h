// bench/soak's faults: a call given a deadline or cancelled from another
// thread a chosen time after it starts (a client giving up mid-call), and the
// status codes such a fault leaves the call's outcome ambiguous with.
//
//   Canceller canceller;  // one per run, shared by the client threads
//   grpc::ClientContext context;
//   FaultGuard guard(&canceller, {Fault::kCancel, absl::Milliseconds(2)},
//                    &context);
//   grpc::Status status = stub.Tell(&context, request, &response);
//   if (Ambiguous(status)) ...  // applied or not: ask the server
#ifndef OPTD_BENCH_SOAK_FAULTS_H_
#define OPTD_BENCH_SOAK_FAULTS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace optd::bench::soak {

using Clock = std::chrono::steady_clock;

// How often and how late calls are faulted. main() fills each field from the
// flag of the same name; the defaults here are those flags' defaults.
struct FaultOptions {
  // Shares of unary calls given a deadline, and cancelled, after a delay
  // log-uniform in [0.01, fault_max_ms] ms.
  double deadline_fraction = 0.03;
  double cancel_fraction = 0.03;
  double fault_max_ms = 8;
  // Share of Optimize streams cut (deadline or cancel, half each) after a
  // delay log-uniform in [0.01, stream_fault_max_ms] ms.
  double stream_fault_fraction = 0.5;
  double stream_fault_max_ms = 100;
};

// Cancels calls from its own thread, a chosen time after they start (a client
// giving up mid-call). Thread-safety: thread-safe.
class Canceller {
 public:
  Canceller();
  ~Canceller();

  // TryCancel()s `context` after `delay` unless disarmed first; `context`
  // must outlive the Disarm() of the returned token.
  uint64_t Arm(grpc::ClientContext* context, absl::Duration delay);
  void Disarm(uint64_t token);

 private:
  void Loop();

  using Due = std::pair<Clock::time_point, uint64_t>;
  std::mutex mu_;
  std::condition_variable wake_;
  std::map<uint64_t, grpc::ClientContext*> armed_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  uint64_t next_token_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

struct Fault {
  enum Kind { kNone, kDeadline, kCancel } kind = kNone;
  absl::Duration after;
};

// Applies `fault` to `context` before its call; the destructor disarms.
class FaultGuard {
 public:
  FaultGuard(Canceller* canceller, const Fault& fault,
             grpc::ClientContext* context);
  ~FaultGuard();

 private:
  Canceller* const canceller_;
  uint64_t token_ = 0;
};

// DEADLINE_EXCEEDED or CANCELLED: what a faulted call may end with, whether
// or not the server applied it.
bool Ambiguous(const grpc::Status& status);

}  // namespace optd::bench::soak

#endif  // OPTD_BENCH_SOAK_FAULTS_H_
