// bench/soak's workload: one session run from creation to deletion over
// unary calls or Optimize streams, with faults, each outcome counted into the
// run's Tally; ambiguous creates, tells and deletes are resolved as
// bench/soak.cc's header describes, and the server's count of applied tells
// (and, for some sessions, the journal) checked against the client's at the
// end.
//
//   Tally tally;
//   std::vector<double> latencies_ms;
//   RunSession(client, &canceller, fault_options, &tally, &latencies_ms,
//              &fault_rng, std::move(plan), end);
#ifndef OPTD_BENCH_SOAK_SESSION_RUN_H_
#define OPTD_BENCH_SOAK_SESSION_RUN_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <vector>

#include "bench/soak_faults.h"
#include "bench/soak_plan.h"
#include "client/client.h"

namespace optd::bench::soak {

// What the run counts (shared by the client threads).
struct Tally {
  std::atomic<int64_t> sessions{0}, errors{0}, lost{0}, doubled{0}, tells{0},
      calls{0}, faulted{0}, expired{0}, cancelled{0}, ambiguous_tells{0},
      verified_applied{0}, late_applied{0}, streams{0}, stream_cuts{0},
      failed_evaluations{0}, create_races{0}, exported{0};
  std::mutex mu;
  std::vector<double> latencies_ms;  // merged from each thread at its end
};

// Runs the session `plan` from creation to deletion, faulted as `faults`
// says (when plan.faults) with delays drawn from `rng`; no step starts after
// `end`. Counts into `tally` and appends the round trips of unfaulted calls
// to `latencies_ms`. Returns false after an unexpected error (counted, and
// the first few printed to stderr); the session is deleted either way.
// Thread-safety: `tally` and `canceller` may be shared, the rest belongs to
// the calling thread.
bool RunSession(const optd::client::Client& client, Canceller* canceller,
                const FaultOptions& faults, Tally* tally,
                std::vector<double>* latencies_ms, std::mt19937_64* rng,
                Plan plan, Clock::time_point end);

}  // namespace optd::bench::soak

#endif  // OPTD_BENCH_SOAK_SESSION_RUN_H_
