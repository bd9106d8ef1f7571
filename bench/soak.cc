// bench/soak: a soak and load test of one optd process. --clients (64)
// threads drive --sessions (1,000) sessions of mixed solvers to their end
// while a fraction of the calls expire or are cancelled mid-call; it checks
// that only the expected errors happen, that no tell is lost or applied
// twice, and that the server's resident memory returns to its baseline once
// every session is deleted.
//
// The server: one optd child (bench/fleet.h) on 127.0.0.1 with
// --data_dir=<tmp>/data, so every tell is journaled and fsync'ed before its
// answer, then --optd_flags (a later --data_dir= wins: memory only). The
// default --optd_flags, --wal_max_dimension=256, sends sessions up to n = 256
// through the shared write-ahead log and larger ones through their own
// journal files, so both durable paths are soaked.
//
// The clients: each thread has its own channel and its own TCP connection
// (GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL), as 64 workers in 64 processes would;
// sharing a few channels would multiplex everything on a few HTTP/2
// connections and leave the server's per-connection paths (accept, flow
// control, RST_STREAM on cancel, teardown) unsoaked. The calls use the C++
// client library: Client, SolverSpec, MakeCreateSessionRequest,
// MakeTellRequest, DecodeTrials, DecodeSummary, and the library's stub with
// PrepareUnaryContext / PrepareStreamContext for the RPCs themselves, since
// a fault needs the call's grpc::ClientContext (Session hides it).
//
// Each session: a solver drawn from L-BFGS; trust region QUASI_NEWTON (LSR1
// or LBFGS update), NEWTON_CG (Hessian-vector tells), NEWTON_CG_FD, EXACT
// (dense Hessian tells, n <= --max_hessian_dimension); Adam and AdamW. n is
// log-uniform in [--min_dimension, --max_dimension] (even). L-BFGS and the
// trust region minimize the extended Rosenbrock function (most converge in
// tens of steps) or the chained one (most run to their budget), half each;
// Adam a diagonal quadratic. A session runs ask/tell over unary calls (some Ask
// before each Tell) or over Optimize streams (--stream_fraction), until it ends
// or its step budget (uniform in [--min_tells, --max_tells]) is spent; then it
// is stopped (a stop tell) or deleted while running. About 1% of evaluations
// are told as failed.
//
// Faults: a unary Create/Ask/Tell/Delete gets, with probability
// --deadline_fraction, a deadline log-uniform in [0.01, --fault_max_ms] ms,
// and with probability --cancel_fraction a TryCancel() from a canceller
// thread after such a delay (log-uniform, so that faults land before the
// request leaves, while the server applies and syncs it, and after). An
// Optimize stream is cut the same way (deadline or cancel) with probability
// --stream_fault_fraction, log-uniform in [0.01, --stream_fault_max_ms] ms; the
// session then goes on over a new stream that attaches to it. On a faulted
// call, DEADLINE_EXCEEDED and CANCELLED are expected; so are ALREADY_EXISTS
// when an ambiguous CreateSession is retried (then UNAVAILABLE "is being
// created" while its journal is written, waited out and counted in
// create_races) and NOT_FOUND when an ambiguous DeleteSession is retried. Every
// other error code, on any call, counts in `errors`.
//
// Accounting of ambiguous tells. A tell that expired or was cancelled may or
// may not have been applied (the server applies it, then waits for the fsync
// before it answers). The server's rule (server/session/session.cc,
// TellLocked): telling a trial again with the same payload is answered
// `duplicate` and changes nothing; with another payload it is
// FAILED_PRECONDITION. So the client resolves an ambiguous tell in two steps:
//   1. GetSession (not faulted): `tells`, the server's count of applied
//      tells, against `known`, the count of tells this client knows were
//      applied: known + 1 means applied (verified_applied), known means not
//      applied yet (the call may still be queued; the server drops a call
//      whose client has gone before running it, but one already running
//      lands).
//   2. Applied: half the time the careful client Asks for the next trial;
//      otherwise (and always when not applied) it tells the same payload
//      again, unfaulted. A retry of an applied tell must come back
//      `duplicate`; a retry of an unapplied one that comes back `duplicate`
//      means the original landed in between (late_applied). Either way the
//      trial is now applied once, and known += 1.
// Before each session is deleted, GetSession's `tells` is compared with
// `known`: lost += known - tells if positive (acknowledged or verified but
// not applied), doubled += tells - known if positive (applied twice). For
// --export_fraction of the sessions (with a --data_dir) the durable record is
// checked too:
// ExportSession returns the journal (a checkpoint of its first c tells, if
// any, and every tell since, as applied), whose trial ids must be exactly the
// ids this client knows were applied, after the first c, in order; a missing
// id counts as lost, a repeated or unknown one as doubled. At the end
// ListSessions must be empty (leaked_sessions), the data directory must
// hold no session journal (journals_left), and optd, stopped with
// SIGTERM, must exit 0 (optd_exit; a sanitizer's report makes it non-zero).
//
// Latency: the round trip of every successful, unfaulted Ask and Tell (unary)
// and of every tell answered on a stream; p50_ms and p99_ms.
//
// Memory: before the run, every client thread runs --warmup_sessions short
// sessions at the same concurrency, which are deleted; the server's VmRSS
// (/proc/PID/status) once it has settled is the baseline, so gRPC's threads,
// malloc's per-thread arenas, the journals and the connections are in it.
// After the run and the deletes it polls VmRSS until it holds still for a
// second (at most --settle_seconds) and reports rss_growth_mb = final -
// baseline. optd hands freed pages back (malloc_trim) only after messages of
// 1 MB or more (server/session/memory_release.h), which these sessions rarely
// send, so what the deleted sessions freed mostly stays in malloc's free lists:
// measured here, 6-8 MB of growth, of which all but ~0.6 MB goes when
// malloc_trim(0) is called in optd by hand (gdb). Pass: growth <=
// --rss_growth_limit_mb, 16 MB by default: twice that retention, and below
// what a leak of 16 KB per session (a small session's state) or 70 bytes per
// tell (~236,000 of them) would add.
//
// The exit status is 1 when errors, lost, doubled, leaked_sessions,
// journals_left or optd_exit is not 0, the growth exceeds its limit, or
// --seconds ran out before every session ran (a stall is a finding); the last
// line is printed either way (about a minute with the defaults on 2 cores):
//   clients=64 sessions=1000 errors=0 lost=0 p99_ms=.. rss_growth_mb=..
//   p50_ms=.. doubled=0 leaked_sessions=0 journals_left=0 tells=.. calls=..
//   faulted=..
//   expired=.. cancelled=.. ambiguous_tells=.. verified_applied=..
//   late_applied=.. streams=.. stream_cuts=.. create_races=0 seconds=..
//   baseline_rss_mb=.. final_rss_mb=.. peak_rss_mb=.. rss_limit_mb=..
//   exported=.. optd_exit=0 complete=1 pass=1
// Under AddressSanitizer the RSS means nothing (freed memory waits in ASan's
// quarantine): run it with --rss_growth_limit_mb=1e9.
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/fleet.h"
#include "client/client.h"
#include "client/session.h"
#include "grpcpp/grpcpp.h"

#ifndef OPTD_BINARY
#define OPTD_BINARY "optd"
#endif

ABSL_FLAG(std::string, optd, OPTD_BINARY, "The optd binary to soak.");
ABSL_FLAG(std::string, dir, ".",
          "Parent of the temporary directory (optd's --data_dir is in it).");
ABSL_FLAG(std::string, optd_flags, "--wal_max_dimension=256",
          "Extra optd flags, separated by spaces, after --data_dir=<tmp>/data "
          "(so --data_dir= runs the server in memory).");
ABSL_FLAG(int, clients, 64, "Client threads, each with its own connection.");
ABSL_FLAG(int, sessions, 1000, "Sessions to run, in all.");
ABSL_FLAG(double, seconds, 300,
          "Bound on the run: no session starts after it and running ones "
          "stop; not reaching --sessions in time fails the run.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the session plans and the faults.");
ABSL_FLAG(int, min_dimension, 2, "Smallest n (log-uniform; rounded to even).");
ABSL_FLAG(int, max_dimension, 2000, "Largest n.");
ABSL_FLAG(int, max_hessian_dimension, 200,
          "Largest n of trust-region EXACT sessions (dense Hessian tells).");
ABSL_FLAG(int, min_tells, 50, "Smallest step budget of a session.");
ABSL_FLAG(int, max_tells, 1000, "Largest step budget of a session.");
ABSL_FLAG(double, stream_fraction, 0.3,
          "Share of sessions run over Optimize streams.");
ABSL_FLAG(double, deadline_fraction, 0.03,
          "Share of unary calls given a deadline in [0.01, --fault_max_ms].");
ABSL_FLAG(double, cancel_fraction, 0.03,
          "Share of unary calls cancelled after [0.01, --fault_max_ms].");
ABSL_FLAG(double, fault_max_ms, 8, "Longest delay of a unary call's fault.");
ABSL_FLAG(double, stream_fault_fraction, 0.5,
          "Share of Optimize streams cut (deadline or cancel, half each).");
ABSL_FLAG(double, stream_fault_max_ms, 100,
          "Longest time before a stream is cut.");
ABSL_FLAG(double, export_fraction, 0.2,
          "Share of sessions whose journal (ExportSession) is checked "
          "against the trial ids the client knows were applied.");
ABSL_FLAG(int, warmup_sessions, 2,
          "Unfaulted warm-up sessions per client before the baseline.");
ABSL_FLAG(double, settle_seconds, 10,
          "How long to poll the server's RSS after the deletes.");
ABSL_FLAG(double, rss_growth_limit_mb, 16,
          "Pass threshold of rss_growth_mb (final - baseline VmRSS).");

namespace {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;
using ::optd::bench::Fail;
using ::optd::bench::StatusMb;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Objectives.

// The extended Rosenbrock function (Moré, Garbow, Hillstrom 1981, problem
// 21), n even: what `trial` wants of it, with its 2x2-block Hessian.
oc::Evaluation Rosenbrock(const oc::Trial& trial) {
  const std::vector<double>& x = trial.x;
  const size_t n = x.size();
  oc::Evaluation e;
  double f = 0;
  std::vector<double> g(n);
  std::vector<double> hv;
  if (oc::WantsHessianVector(trial.wants)) hv.resize(n);
  if (oc::WantsHessian(trial.wants)) e.hessian.assign(n * n, 0.0);
  for (size_t i = 0; i + 1 < n; i += 2) {
    const double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    f += 100 * t * t + u * u;
    g[i] = -400 * x[i] * t - 2 * u;
    g[i + 1] = 200 * t;
    const double h11 = 1200 * x[i] * x[i] - 400 * x[i + 1] + 2;
    const double h12 = -400 * x[i], h22 = 200;
    if (!hv.empty()) {
      hv[i] = h11 * trial.vector[i] + h12 * trial.vector[i + 1];
      hv[i + 1] = h12 * trial.vector[i] + h22 * trial.vector[i + 1];
    }
    if (!e.hessian.empty()) {
      e.hessian[i * n + i] = h11;
      e.hessian[i * n + i + 1] = e.hessian[(i + 1) * n + i] = h12;
      e.hessian[(i + 1) * n + i + 1] = h22;
    }
  }
  if (oc::WantsValue(trial.wants)) e.value = f;
  if (oc::WantsGradient(trial.wants)) e.gradient = std::move(g);
  e.hessian_vector = std::move(hv);
  return e;
}

// The chained (generalized) Rosenbrock function, sum_{i<n-1} 100 (x_{i+1} -
// x_i^2)^2 + (1 - x_i)^2 (Moré, Garbow, Hillstrom's problem 21 with the
// pairs overlapping): its tridiagonal Hessian couples every variable, and
// L-BFGS needs hundreds to thousands of steps from (-1.2, 1, ...), so these
// sessions run to their budget.
oc::Evaluation ChainedRosenbrock(const oc::Trial& trial) {
  const std::vector<double>& x = trial.x;
  const size_t n = x.size();
  oc::Evaluation e;
  double f = 0;
  std::vector<double> g(n, 0.0), diagonal(n, 0.0), off(n, 0.0);
  for (size_t i = 0; i + 1 < n; ++i) {
    const double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    f += 100 * t * t + u * u;
    g[i] += -400 * x[i] * t - 2 * u;
    g[i + 1] += 200 * t;
    diagonal[i] += 1200 * x[i] * x[i] - 400 * x[i + 1] + 2;
    diagonal[i + 1] += 200;
    off[i] = -400 * x[i];  // H(i, i+1) = H(i+1, i)
  }
  if (oc::WantsHessianVector(trial.wants)) {
    const std::vector<double>& v = trial.vector;
    e.hessian_vector.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      double hv = diagonal[i] * v[i];
      if (i + 1 < n) hv += off[i] * v[i + 1];
      if (i > 0) hv += off[i - 1] * v[i - 1];
      e.hessian_vector[i] = hv;
    }
  }
  if (oc::WantsHessian(trial.wants)) {
    e.hessian.assign(n * n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      e.hessian[i * n + i] = diagonal[i];
      if (i + 1 < n)
        e.hessian[i * n + i + 1] = e.hessian[(i + 1) * n + i] = off[i];
    }
  }
  if (oc::WantsValue(trial.wants)) e.value = f;
  if (oc::WantsGradient(trial.wants)) e.gradient = std::move(g);
  return e;
}

// f = 1/2 sum_i d_i (x_i - 1)^2, d_i = 1 + i mod 10: Adam's objective.
oc::Evaluation Quadratic(const oc::Trial& trial) {
  oc::Evaluation e;
  double f = 0;
  std::vector<double> g(trial.x.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const double d = 1 + static_cast<double>(i % 10), r = trial.x[i] - 1;
    f += 0.5 * d * r * r;
    g[i] = d * r;
  }
  if (oc::WantsValue(trial.wants)) e.value = f;
  if (oc::WantsGradient(trial.wants)) e.gradient = std::move(g);
  return e;
}

// ---------------------------------------------------------------------------
// Faults.

// Cancels calls from its own thread, a chosen time after they start (a client
// giving up mid-call). Thread-safety: thread-safe.
class Canceller {
 public:
  Canceller() : thread_([this] { Loop(); }) {}
  ~Canceller() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  // TryCancel()s `context` after `delay` unless disarmed first; `context`
  // must outlive the Disarm() of the returned token.
  uint64_t Arm(grpc::ClientContext* context, absl::Duration delay) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t token = next_token_++;
    armed_[token] = context;
    due_.push({Clock::now() + absl::ToChronoNanoseconds(delay), token});
    wake_.notify_one();
    return token;
  }
  void Disarm(uint64_t token) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_.erase(token);
  }

 private:
  void Loop() {
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
             grpc::ClientContext* context)
      : canceller_(canceller) {
    if (fault.kind == Fault::kDeadline) {
      context->set_deadline(absl::ToChronoTime(absl::Now() + fault.after));
    } else if (fault.kind == Fault::kCancel) {
      token_ = canceller_->Arm(context, fault.after);
    }
  }
  ~FaultGuard() {
    if (token_ != 0) canceller_->Disarm(token_);
  }

 private:
  Canceller* const canceller_;
  uint64_t token_ = 0;
};

bool Ambiguous(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::CANCELLED;
}

// ---------------------------------------------------------------------------
// What the run counts (shared by the client threads).

struct Tally {
  std::atomic<int64_t> sessions{0}, errors{0}, lost{0}, doubled{0}, tells{0},
      calls{0}, faulted{0}, expired{0}, cancelled{0}, ambiguous_tells{0},
      verified_applied{0}, late_applied{0}, streams{0}, stream_cuts{0},
      failed_evaluations{0}, create_races{0}, exported{0};
  std::mutex mu;
  std::vector<double> latencies_ms;  // merged from each thread at its end
};

// Prints the first few unexpected events in full.
void Report(const std::string& what) {
  static std::atomic<int> printed{0};
  if (printed.fetch_add(1) < 20)
    std::fprintf(stderr, "soak: %s\n", what.c_str());
}

// ---------------------------------------------------------------------------
// One session.

enum class SolverKind {
  kLbfgs,
  kQuasiNewton,
  kNewtonCg,
  kNewtonCgFd,
  kExact,
  kAdam,
  kAdamW
};
constexpr int kSolverKinds = 7;

struct Plan {
  std::string id;
  SolverKind solver = SolverKind::kLbfgs;
  int64_t n = 2;
  int budget = 10;  // tells before the client ends the session
  bool stream = false;
  bool ask_each_step = false;   // unary: Ask before every Tell
  bool delete_running = false;  // at the budget: delete without a stop
  bool faults = true;
  bool chained = false;        // L-BFGS and trust region: ChainedRosenbrock
  bool check_journal = false;  // ExportSession at the end (CheckJournal)
};

// A plan drawn from `rng` alone, so that a seed gives the same sessions
// whichever thread runs them.
Plan DrawPlan(const std::string& id, std::mt19937_64& rng, bool faults,
              bool journals) {
  std::uniform_real_distribution<double> unit(0, 1);
  Plan plan;
  plan.id = id;
  plan.faults = faults;
  // Weights: L-BFGS 30, quasi-Newton 20, Newton-CG 10, its FD form 5, exact
  // 10, Adam 15, AdamW 10 (of 100).
  const double r = unit(rng);
  plan.solver = r < 0.30   ? SolverKind::kLbfgs
                : r < 0.50 ? SolverKind::kQuasiNewton
                : r < 0.60 ? SolverKind::kNewtonCg
                : r < 0.65 ? SolverKind::kNewtonCgFd
                : r < 0.75 ? SolverKind::kExact
                : r < 0.90 ? SolverKind::kAdam
                           : SolverKind::kAdamW;
  int max_n = absl::GetFlag(FLAGS_max_dimension);
  if (plan.solver == SolverKind::kExact) {
    max_n = std::min(max_n, absl::GetFlag(FLAGS_max_hessian_dimension));
  }
  const int min_n = std::min(absl::GetFlag(FLAGS_min_dimension), max_n);
  const double log_n =
      std::log(std::max(min_n, 2)) +
      unit(rng) * (std::log(std::max(max_n, 2)) - std::log(std::max(min_n, 2)));
  plan.n = std::max<int64_t>(2, 2 * std::llround(std::exp(log_n) / 2));
  plan.budget = std::uniform_int_distribution<int>(
      absl::GetFlag(FLAGS_min_tells),
      std::max(absl::GetFlag(FLAGS_min_tells), absl::GetFlag(FLAGS_max_tells)))(
      rng);
  plan.stream = unit(rng) < absl::GetFlag(FLAGS_stream_fraction);
  plan.ask_each_step = unit(rng) < 0.25;
  plan.delete_running = unit(rng) < 0.3;
  plan.chained = unit(rng) < 0.5;
  plan.check_journal =
      faults && journals && unit(rng) < absl::GetFlag(FLAGS_export_fraction);
  return plan;
}

oc::SolverSpec SpecFor(const Plan& plan, std::mt19937_64& rng) {
  v1::TrustRegionOptions tr;
  switch (plan.solver) {
    case SolverKind::kLbfgs:
      return oc::SolverSpec::Lbfgs();
    case SolverKind::kQuasiNewton:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
      tr.set_quasi_newton_update(
          rng() % 2 == 0 ? v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1
                         : v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kNewtonCg:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kNewtonCgFd:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kExact:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_EXACT);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kAdam:
    case SolverKind::kAdamW:
      break;
  }
  v1::AdamOptions adam;
  adam.set_lr(1e-2);
  // Half end on their own (max_steps), half when the client stops them.
  if (rng() % 2 == 0) adam.set_max_steps(plan.budget / 2 + 1);
  return plan.solver == SolverKind::kAdam ? oc::SolverSpec::Adam(adam)
                                          : oc::SolverSpec::AdamW(adam);
}

// Runs one session from creation to deletion, with faults; each method is
// one protocol step and counts into the Tally. Thread-safety: one thread.
class SessionRun {
 public:
  SessionRun(const oc::Client& client, Canceller* canceller, Tally* tally,
             std::vector<double>* latencies_ms, std::mt19937_64* rng, Plan plan,
             Clock::time_point end)
      : client_(client),
        canceller_(canceller),
        tally_(tally),
        latencies_ms_(latencies_ms),
        rng_(*rng),
        plan_(std::move(plan)),
        end_(end) {}

  // Returns false after an unexpected error (counted); the session is
  // deleted either way.
  bool Run() {
    const bool ok = RunSteps();
    const bool verified = ok && Verify();
    const bool deleted = Delete();
    if (ok && verified && deleted) tally_->sessions++;
    return ok && verified && deleted;
  }

 private:
  bool RunSteps() {
    if (plan_.stream) {
      bool created = false;
      for (int segment = 0;
           !finished_ && told_ < plan_.budget && Clock::now() < end_;
           ++segment) {
        // Past 10 segments the stream is not cut: the session must end.
        if (!StreamSegment(&created, segment < 10 && plan_.faults)) {
          return false;
        }
      }
      if (!created) return Create();  // the budget was 0 or time ran out
    } else {
      if (!Create()) return false;
      while (!finished_ && told_ < plan_.budget && Clock::now() < end_) {
        if (plan_.ask_each_step && !AskStep(PickFault())) return false;
        if (!TellStep(NextTell())) return false;
      }
    }
    if (finished_ || plan_.delete_running) return true;
    v1::TellRequest stop;  // trial 0: stop the session, no trial answered
    stop.set_session_id(plan_.id);
    stop.set_stop(true);
    return TellStep(stop);
  }

  // -- faults and errors --

  Fault PickFault() {
    Fault fault;
    if (!plan_.faults) return fault;
    const double r = Unit();
    if (r < absl::GetFlag(FLAGS_deadline_fraction)) {
      fault.kind = Fault::kDeadline;
    } else if (r < absl::GetFlag(FLAGS_deadline_fraction) +
                       absl::GetFlag(FLAGS_cancel_fraction)) {
      fault.kind = Fault::kCancel;
    }
    fault.after = FaultDelay(absl::GetFlag(FLAGS_fault_max_ms));
    return fault;
  }

  // Log-uniform in [10 us, max_ms]: about as many faults land before the
  // request leaves (or before the server runs it) as while the server
  // applies it and syncs, and after.
  absl::Duration FaultDelay(double max_ms) {
    const double lo = std::log(0.01), hi = std::log(std::max(max_ms, 0.01));
    return absl::Microseconds(1e3 * std::exp(lo + Unit() * (hi - lo)));
  }

  double Unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  // Counts the outcome of one call; true when the caller may go on, i.e. OK,
  // or an expected fault (*ambiguous set), or `allowed`.
  bool Count(const char* rpc, const Fault& fault, const grpc::Status& status,
             bool* ambiguous = nullptr,
             grpc::StatusCode allowed = grpc::StatusCode::OK) {
    tally_->calls++;
    if (fault.kind != Fault::kNone) tally_->faulted++;
    if (ambiguous != nullptr) *ambiguous = false;
    if (status.ok() || status.error_code() == allowed) return true;
    if (fault.kind != Fault::kNone && Ambiguous(status)) {
      (status.error_code() == grpc::StatusCode::CANCELLED ? tally_->cancelled
                                                          : tally_->expired)++;
      if (ambiguous != nullptr) *ambiguous = true;
      return ambiguous != nullptr;
    }
    return Error(absl::StrCat(rpc, " of session \"", plan_.id, "\" (fault ",
                              fault.kind, "): code ", status.error_code(), ": ",
                              status.error_message()));
  }

  bool Error(const std::string& what) {
    tally_->errors++;
    Report(what);
    return false;
  }

  void Latency(Clock::time_point t0) {
    latencies_ms_->push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }

  // Trial `trial_id` (0: a stop) is known to be applied, once.
  void Applied(uint64_t trial_id) {
    ++known_;
    applied_.push_back(trial_id);
    tally_->tells++;
  }

  // -- answers --

  template <typename Response>
  bool Accept(const Response& response) {
    absl::StatusOr<std::vector<oc::Trial>> trials =
        oc::DecodeTrials(response.trials(), response.base_points());
    if (!trials.ok()) return Error(trials.status().ToString());
    if constexpr (!std::is_same_v<Response, v1::CreateSessionResponse>) {
      if (response.has_summary()) {
        absl::StatusOr<oc::Result> result =
            oc::DecodeSummary(plan_.id, response.summary());
        if (!result.ok()) return Error(result.status().ToString());
        finished_ = true;
      }
    }
    trial_.reset();
    for (oc::Trial& t : *trials) {
      if (t.id > last_told_) {
        trial_ = std::move(t);
        break;
      }
    }
    if (!finished_ && !trial_.has_value()) {
      return Error(absl::StrCat("session \"", plan_.id,
                                "\" runs but has no trial to evaluate"));
    }
    return true;
  }

  // The tell of the outstanding trial.
  v1::TellRequest NextTell() {
    const oc::Trial& trial = *trial_;
    oc::Evaluation evaluation;
    if (Unit() < 0.01 && trial.wants != oc::Wants::kHessianVector) {
      evaluation = oc::Evaluation::Failed();
      tally_->failed_evaluations++;
    } else if (Adam()) {
      evaluation = Quadratic(trial);
    } else if (plan_.chained) {
      evaluation = ChainedRosenbrock(trial);
    } else {
      evaluation = Rosenbrock(trial);
    }
    v1::TellRequest request =
        oc::MakeTellRequest(trial.id, evaluation, v1::VECTOR_ENCODING_F64);
    request.set_session_id(plan_.id);
    return request;
  }

  // -- unary calls --

  bool Create() {
    BuildCreate();
    return CreateCall(PickFault());
  }

  // create_, the first time: x0 is (-1.2, 1, -1.2, 1, ...) for Rosenbrock
  // (MGH's start), 0 for Adam's quadratic.
  void BuildCreate() {
    if (!create_.session_id().empty()) return;
    std::mt19937_64 spec_rng(std::hash<std::string>()(plan_.id));
    std::vector<double> x0(static_cast<size_t>(plan_.n));
    for (size_t i = 0; i < x0.size(); ++i) {
      x0[i] = Adam() ? 0.0 : (i % 2 == 0 ? -1.2 : 1.0);
    }
    oc::SessionOptions options;
    options.session_id = plan_.id;
    options.labels = {{"bench", "soak"}};
    create_ =
        oc::MakeCreateSessionRequest(x0, SpecFor(plan_, spec_rng), options);
  }

  bool Adam() const {
    return plan_.solver == SolverKind::kAdam ||
           plan_.solver == SolverKind::kAdamW;
  }

  bool CreateCall(const Fault& fault) {
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    v1::CreateSessionResponse response;
    const grpc::Status status =
        client_.stub().CreateSession(&context, create_, &response);
    bool ambiguous;
    if (!Count("CreateSession", fault, status, &ambiguous)) return false;
    if (!ambiguous) return Accept(response);
    // Created or not: the same request again, unfaulted. ALREADY_EXISTS
    // means the first one was, and Ask gives its trial.
    return ResolveCreate();
  }

  bool ResolveCreate() {
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    v1::CreateSessionResponse response;
    const grpc::Status status =
        client_.stub().CreateSession(&context, create_, &response);
    if (!Count("CreateSession (retry)", Fault(), status, nullptr,
               grpc::StatusCode::ALREADY_EXISTS)) {
      return false;
    }
    if (status.ok()) return Accept(response);
    return AskCreated();
  }

  // Ask after ALREADY_EXISTS. While a create of the id is still writing its
  // journal (SessionManager::Reserve), the server answers ALREADY_EXISTS to
  // another create and UNAVAILABLE "is being created; retry" to Ask,
  // GetSession and DeleteSession: the client waits (create_races counts
  // these waits). NOT_FOUND there would let a client that deletes orphan the
  // session, so it counts as an error.
  bool AskCreated() {
    v1::AskRequest request;
    request.set_session_id(plan_.id);
    bool raced = false;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      grpc::ClientContext context;
      client_.PrepareUnaryContext(&context);
      v1::AskResponse response;
      const grpc::Status status =
          client_.stub().Ask(&context, request, &response);
      const bool being_created =
          status.error_code() == grpc::StatusCode::UNAVAILABLE &&
          absl::StrContains(status.error_message(), "is being created");
      if (!being_created) {
        if (!Count("Ask", Fault(), status)) return false;
        return Accept(response);
      }
      if (!raced) {
        raced = true;
        tally_->create_races++;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Error(absl::StrCat("session \"", plan_.id,
                              "\" never appeared after ALREADY_EXISTS"));
  }

  bool AskStep(const Fault& fault) {
    v1::AskRequest request;
    request.set_session_id(plan_.id);
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    v1::AskResponse response;
    const auto t0 = Clock::now();
    const grpc::Status status =
        client_.stub().Ask(&context, request, &response);
    bool ambiguous;
    if (!Count("Ask", fault, status, &ambiguous)) return false;
    if (ambiguous) return AskStep(Fault());  // Ask is idempotent: ask again
    if (fault.kind == Fault::kNone) Latency(t0);
    return Accept(response);
  }

  // Sends `request`; resolves it when its fate is unknown.
  bool TellStep(const v1::TellRequest& request) {
    const Fault fault = PickFault();
    v1::TellResponse response;
    bool ambiguous;
    if (!TellCall(request, fault, &response, &ambiguous)) return false;
    ++told_;
    last_told_ = std::max(last_told_, request.trial_id());
    if (ambiguous) return ResolveTell(request);
    if (response.duplicate()) {
      return Error(absl::StrCat("first tell of trial ", request.trial_id(),
                                " of \"", plan_.id, "\" answered duplicate"));
    }
    Applied(request.trial_id());
    return Accept(response);
  }

  bool TellCall(const v1::TellRequest& request, const Fault& fault,
                v1::TellResponse* response, bool* ambiguous) {
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    const auto t0 = Clock::now();
    const grpc::Status status =
        client_.stub().Tell(&context, request, response);
    if (status.ok() && fault.kind == Fault::kNone) Latency(t0);
    return Count("Tell", fault, status, ambiguous);
  }

  // The accounting of the file's header, steps 1 and 2.
  bool ResolveTell(const v1::TellRequest& request) {
    tally_->ambiguous_tells++;
    absl::StatusOr<v1::Session> described = client_.GetSession(plan_.id);
    if (!described.ok()) {
      return Error(absl::StrCat(
          "GetSession of \"", plan_.id,
          "\" after an ambiguous tell: ", described.status().ToString()));
    }
    const int64_t tells = described->tells();
    const bool applied = tells == known_ + 1;
    if (applied) {
      tally_->verified_applied++;
    } else if (tells != known_) {
      Report(absl::StrCat("session \"", plan_.id, "\": server has ", tells,
                          " tells, client knows ", known_,
                          " and one ambiguous"));
    }
    if (applied && Unit() < 0.5) {
      Applied(request.trial_id());
      return AskStep(Fault());
    }
    v1::TellResponse response;
    bool ambiguous;
    if (!TellCall(request, Fault(), &response, &ambiguous)) return false;
    if (applied && !response.duplicate()) {
      Report(absl::StrCat("session \"", plan_.id, "\": trial ",
                          request.trial_id(),
                          " applied, yet its retry was not a "
                          "duplicate"));
    }
    if (!applied && response.duplicate()) tally_->late_applied++;
    Applied(request.trial_id());
    return Accept(response);
  }

  // -- the Optimize stream --

  // One stream: opens (creates the session the first time, attaches after),
  // tells until the session ends, the budget is spent or the stream is cut.
  bool StreamSegment(bool* created, bool faults) {
    tally_->streams++;
    Fault fault;
    if (faults && Unit() < absl::GetFlag(FLAGS_stream_fault_fraction)) {
      fault.kind = Unit() < 0.5 ? Fault::kDeadline : Fault::kCancel;
      fault.after = FaultDelay(absl::GetFlag(FLAGS_stream_fault_max_ms));
    }
    grpc::ClientContext context;
    client_.PrepareStreamContext(&context);
    FaultGuard guard(canceller_, fault, &context);
    auto stream = client_.stub().Optimize(&context);
    v1::OptimizeRequest open;
    if (*created) {
      open.set_attach_session_id(plan_.id);
    } else {
      BuildCreate();
      *open.mutable_create() = create_;
    }
    bool open_pending = true;
    std::optional<v1::TellRequest> pending;  // written, not answered
    Clock::time_point t0 = Clock::now();
    bool ok = true;
    stream->Write(open);
    v1::OptimizeResponse response;
    while (stream->Read(&response)) {
      if (response.error_code() != 0) {
        ok = Error(absl::StrCat("Optimize of \"", plan_.id, "\": code ",
                                response.error_code(), ": ",
                                response.error_message()));
        pending.reset();
        break;
      }
      if (open_pending) {
        open_pending = false;
        *created = true;
      } else {
        Latency(t0);
        if (response.duplicate()) {
          ok = Error(absl::StrCat("stream tell of trial ", pending->trial_id(),
                                  " of \"", plan_.id, "\" answered duplicate"));
          pending.reset();
          break;
        }
        Applied(pending->trial_id());
        pending.reset();
      }
      if (!Accept(response)) {
        ok = false;
        break;
      }
      if (finished_ || told_ >= plan_.budget || Clock::now() >= end_) break;
      v1::OptimizeRequest tell;
      *tell.mutable_tell() = NextTell();
      tell.mutable_tell()->clear_session_id();
      pending = tell.tell();
      pending->set_session_id(plan_.id);  // for a unary retry
      ++told_;
      last_told_ = tell.tell().trial_id();
      t0 = Clock::now();
      if (!stream->Write(tell)) break;
    }
    stream->WritesDone();
    while (stream->Read(&response)) {
    }
    const grpc::Status status = stream->Finish();
    if (!ok) return false;
    bool ambiguous;
    if (!Count("Optimize", fault, status, &ambiguous)) return false;
    if (!open_pending && !pending.has_value()) return true;
    if (!ambiguous) {
      return Error(absl::StrCat("Optimize of \"", plan_.id,
                                "\" ended OK with a request unanswered"));
    }
    // Cut before an answer (this stream was faulted).
    tally_->stream_cuts++;
    if (open_pending && !*created) {
      *created = true;
      return ResolveCreate();
    }
    if (pending.has_value()) return ResolveTell(*pending);
    return true;  // an attach is a read: the next segment attaches again
  }

  // -- the end --

  // The server's count of applied tells against the client's.
  bool Verify() {
    absl::StatusOr<v1::Session> described = client_.GetSession(plan_.id);
    if (!described.ok()) {
      return Error(absl::StrCat("GetSession of \"", plan_.id,
                                "\": ", described.status().ToString()));
    }
    const int64_t tells = described->tells();
    if (tells != known_) {
      Report(absl::StrCat("session \"", plan_.id, "\": server applied ", tells,
                          " tells, the client knows ", known_));
    }
    int64_t lost = std::max<int64_t>(0, known_ - tells);
    int64_t doubled = std::max<int64_t>(0, tells - known_);
    if (finished_ && described->state() == v1::SESSION_STATE_RUNNING) {
      Error(absl::StrCat("session \"", plan_.id,
                         "\" sent its summary but is RUNNING"));
    }
    if (plan_.check_journal && !CheckJournal(&lost, &doubled)) {
      return false;
    }
    tally_->lost += lost;
    tally_->doubled += doubled;
    return true;
  }

  // The session's journal (ExportSession: its checkpoint, if any, and the
  // tells since, as applied) against the trial ids this client knows were
  // applied: each one there exactly once, in order, and nothing else. Raises
  // *lost and *doubled to what it finds missing or repeated.
  bool CheckJournal(int64_t* lost, int64_t* doubled) {
    tally_->exported++;
    absl::StatusOr<v1::SessionSnapshot> snapshot =
        client_.ExportSession(plan_.id);
    if (!snapshot.ok()) {
      return Error(absl::StrCat("ExportSession of \"", plan_.id,
                                "\": ", snapshot.status().ToString()));
    }
    const int64_t base =
        snapshot->has_checkpoint() ? snapshot->checkpoint().tells() : 0;
    std::vector<uint64_t> journal;
    for (const v1::SnapshotTell& tell : snapshot->tells()) {
      journal.push_back(tell.tell().trial_id());
    }
    const std::vector<uint64_t> expected(
        applied_.begin() + std::min<int64_t>(base, applied_.size()),
        applied_.end());
    if (journal == expected && base <= static_cast<int64_t>(applied_.size())) {
      return true;
    }
    std::map<uint64_t, int64_t> balance;  // journal minus expected, per id
    for (uint64_t id : journal) ++balance[id];
    for (uint64_t id : expected) --balance[id];
    int64_t missing = 0, extra = 0;
    for (const auto& [id, count] : balance) {
      (count < 0 ? missing : extra) += std::abs(count);
    }
    extra += std::max<int64_t>(0, base - static_cast<int64_t>(applied_.size()));
    Report(absl::StrCat("session \"", plan_.id, "\": the journal holds ",
                        journal.size(), " tells after a checkpoint of ", base,
                        "; the client knows ", applied_.size(), " applied (",
                        missing, " missing, ", extra, " extra",
                        missing + extra == 0 ? ", out of order" : "", ")"));
    *lost = std::max(*lost, missing);
    *doubled = std::max(*doubled, extra);
    if (missing + extra == 0) {
      return Error(absl::StrCat("the journal of \"", plan_.id,
                                "\" holds its tells out of order"));
    }
    return true;
  }

  bool Delete() {
    const Fault fault = PickFault();
    v1::DeleteSessionRequest request;
    request.set_session_id(plan_.id);
    v1::DeleteSessionResponse response;
    grpc::Status status;
    {
      grpc::ClientContext context;
      client_.PrepareUnaryContext(&context);
      FaultGuard guard(canceller_, fault, &context);
      status = client_.stub().DeleteSession(&context, request, &response);
    }
    bool ambiguous;
    if (!Count("DeleteSession", fault, status, &ambiguous)) {
      client_.DeleteSession(plan_.id).IgnoreError();  // leave nothing
      return false;
    }
    if (!ambiguous) return true;
    grpc::ClientContext context;
    client_.PrepareUnaryContext(&context);
    status = client_.stub().DeleteSession(&context, request, &response);
    return Count("DeleteSession (retry)", Fault(), status, nullptr,
                 grpc::StatusCode::NOT_FOUND);
  }

  const oc::Client& client_;
  Canceller* const canceller_;
  Tally* const tally_;
  std::vector<double>* const latencies_ms_;
  std::mt19937_64& rng_;
  const Plan plan_;
  const Clock::time_point end_;

  v1::CreateSessionRequest create_;
  std::optional<oc::Trial> trial_;  // the outstanding trial
  uint64_t last_told_ = 0;
  int told_ = 0;                   // tells sent (the budget counts them)
  int64_t known_ = 0;              // tells known to be applied
  std::vector<uint64_t> applied_;  // their trial ids, in order
  bool finished_ = false;
};

// ---------------------------------------------------------------------------
// The server's memory.

// VmRSS once it has not moved by more than 0.1 MB for a second (polled every
// 250 ms), or after `seconds`.
double SettledRssMb(pid_t pid, double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  double last = StatusMb(pid, "VmRSS");
  int still = 0;
  while (Clock::now() < end && still < 4) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const double now = StatusMb(pid, "VmRSS");
    still = std::abs(now - last) <= 0.1 ? still + 1 : 0;
    last = now;
  }
  return last;
}

// ---------------------------------------------------------------------------
// The clients.

// A client on its own channel and TCP connection to 127.0.0.1:port.
oc::Client Connect(int port) {
  oc::ClientOptions options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Channels with equal arguments share one connection (gRPC's global
  // subchannel pool); a local pool gives this one its own.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::seconds(10))) {
    Fail(absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  return oc::Client::FromChannel(std::move(channel), options);
}

struct Phase {
  bool warmup = false;
  int sessions = 0;  // soak: in all; warm-up: per client
  Clock::time_point end;
  std::atomic<int> next{0};  // soak: the next session index
  bool journals = true;      // optd keeps journals (ExportSession works)
};

void RunClient(int index, const oc::Client& client, Canceller* canceller,
               Tally* tally, Phase* phase) {
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  std::mt19937_64 fault_rng(seed * 7919 + static_cast<uint64_t>(index));
  std::vector<double> latencies_ms;
  for (int k = 0;; ++k) {
    int session = k;
    if (phase->warmup) {
      if (k >= phase->sessions) break;
    } else {
      session = phase->next.fetch_add(1);
      if (session >= phase->sessions || Clock::now() >= phase->end) break;
    }
    const std::string id = phase->warmup
                               ? absl::StrCat("warmup-", index, "-", k)
                               : absl::StrCat("soak-", seed, "-", session);
    std::mt19937_64 plan_rng(std::hash<std::string>()(id) ^ seed);
    Plan plan =
        DrawPlan(id, plan_rng, /*faults=*/!phase->warmup, phase->journals);
    if (phase->warmup) plan.budget = 5;
    SessionRun(client, canceller, tally, &latencies_ms, &fault_rng,
               std::move(plan), phase->end)
        .Run();
  }
  std::lock_guard<std::mutex> lock(tally->mu);
  tally->latencies_ms.insert(tally->latencies_ms.end(), latencies_ms.begin(),
                             latencies_ms.end());
}

void RunPhase(const std::vector<oc::Client>& clients, Canceller* canceller,
              Tally* tally, Phase* phase) {
  std::vector<std::thread> threads;
  for (size_t i = 0; i < clients.size(); ++i) {
    threads.emplace_back(RunClient, static_cast<int>(i), std::cref(clients[i]),
                         canceller, tally, phase);
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Soak test: --clients threads drive --sessions sessions of mixed "
      "solvers through one optd with random cancellations and deadline "
      "expiries; checks errors, lost tells and RSS (see the file's header).");
  absl::ParseCommandLine(argc, argv);
  const int clients = absl::GetFlag(FLAGS_clients);
  const int sessions = absl::GetFlag(FLAGS_sessions);
  if (clients < 1 || sessions < 0 || absl::GetFlag(FLAGS_min_dimension) < 2 ||
      absl::GetFlag(FLAGS_max_dimension) < 2 ||
      absl::GetFlag(FLAGS_min_tells) < 0 ||
      absl::GetFlag(FLAGS_max_tells) < absl::GetFlag(FLAGS_min_tells) ||
      absl::GetFlag(FLAGS_seconds) <= 0) {
    std::fprintf(stderr,
                 "soak: need --clients >= 1, --sessions >= 0, dimensions >= "
                 "2, 0 <= --min_tells <= --max_tells, --seconds > 0\n");
    return 2;
  }
  optd::bench::InitFleet("soak", absl::GetFlag(FLAGS_optd),
                         absl::GetFlag(FLAGS_dir));
  std::vector<std::string> flags = {
      absl::StrCat("--data_dir=", optd::bench::TempDir(), "/data")};
  for (absl::string_view flag : absl::StrSplit(absl::GetFlag(FLAGS_optd_flags),
                                               ' ', absl::SkipEmpty())) {
    flags.emplace_back(flag);
  }
  pid_t pid;
  const int port = optd::bench::SpawnOptd("optd", flags, &pid);
  std::vector<oc::Client> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(Connect(port));
  Canceller canceller;

  // Warm-up at full concurrency, unfaulted; its sessions are deleted.
  {
    Tally warmup_tally;
    Phase warmup;
    warmup.warmup = true;
    warmup.sessions = absl::GetFlag(FLAGS_warmup_sessions);
    warmup.end = Clock::now() + std::chrono::minutes(10);
    RunPhase(connections, &canceller, &warmup_tally, &warmup);
    if (warmup_tally.errors > 0 || warmup_tally.lost > 0 ||
        warmup_tally.doubled > 0) {
      Fail("the warm-up sessions failed (see above)");
    }
  }
  const double baseline_mb = SettledRssMb(pid, 10);
  std::printf("baseline: optd pid %d, RSS %.1f MB after %d warm-up sessions\n",
              pid, baseline_mb, clients * absl::GetFlag(FLAGS_warmup_sessions));
  std::fflush(stdout);

  Tally tally;
  Phase soak;
  soak.sessions = sessions;
  // The last --data_dir wins; empty: sessions in memory, nothing to export.
  for (const std::string& flag : flags) {
    if (flag.rfind("--data_dir=", 0) == 0) soak.journals = flag.size() > 11;
  }
  const auto t0 = Clock::now();
  soak.end =
      t0 + std::chrono::duration_cast<Clock::duration>(
               std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds)));
  RunPhase(connections, &canceller, &tally, &soak);
  const double seconds =
      std::chrono::duration<double>(Clock::now() - t0).count();
  const int started = std::min(soak.next.load(), sessions);
  const double peak_mb = StatusMb(pid, "VmHWM");
  const double loaded_mb = StatusMb(pid, "VmRSS");

  absl::StatusOr<std::vector<v1::Session>> left = connections[0].ListSessions();
  if (!left.ok())
    Fail(absl::StrCat("ListSessions: ", left.status().ToString()));
  const int64_t leaked = static_cast<int64_t>(left->size());
  // Deleted sessions leave no files (DESIGN §4): no <id>.journal is left in
  // the data directory, sessions/ included (the shared log's segments go as
  // it rotates).
  int64_t journals_left = 0;
  if (soak.journals) {
    std::error_code error;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(
             optd::bench::TempDir() + "/data", error)) {
      if (entry.path().extension() == ".journal") ++journals_left;
    }
  }
  const double final_mb =
      SettledRssMb(pid, absl::GetFlag(FLAGS_settle_seconds));
  const double growth_mb = final_mb - baseline_mb;
  const double limit_mb = absl::GetFlag(FLAGS_rss_growth_limit_mb);

  std::vector<double>& latencies = tally.latencies_ms;
  const double p50 =
      latencies.empty() ? 0 : optd::bench::Percentile(latencies, 0.50);
  const double p99 =
      latencies.empty() ? 0 : optd::bench::Percentile(latencies, 0.99);
  const bool complete =
      started == sessions && tally.sessions + tally.errors.load() >= started;
  // optd must drain and exit 0 on SIGTERM (a sanitizer's report exits 1 or
  // 23).
  const int optd_exit = optd::bench::StopOptd(pid);
  const bool pass = tally.errors == 0 && tally.lost == 0 &&
                    tally.doubled == 0 && leaked == 0 && journals_left == 0 &&
                    complete && growth_mb <= limit_mb && optd_exit == 0;
  std::printf(
      "soak: %d of %d sessions in %.1f s (%s), %lld tells, %lld failed "
      "evaluations told, %lld calls (%lld faulted: %lld expired, %lld "
      "cancelled), %lld Optimize streams (%lld cut mid-tell)\n",
      started, sessions, seconds, complete ? "all" : "TIME BOUND HIT",
      static_cast<long long>(tally.tells.load()),
      static_cast<long long>(tally.failed_evaluations.load()),
      static_cast<long long>(tally.calls.load()),
      static_cast<long long>(tally.faulted.load()),
      static_cast<long long>(tally.expired.load()),
      static_cast<long long>(tally.cancelled.load()),
      static_cast<long long>(tally.streams.load()),
      static_cast<long long>(tally.stream_cuts.load()));
  std::printf(
      "soak: %lld ambiguous tells: %lld verified applied, %lld not (of "
      "which %lld landed before the retry); lost %lld, doubled %lld\n",
      static_cast<long long>(tally.ambiguous_tells.load()),
      static_cast<long long>(tally.verified_applied.load()),
      static_cast<long long>(tally.ambiguous_tells.load() -
                             tally.verified_applied.load()),
      static_cast<long long>(tally.late_applied.load()),
      static_cast<long long>(tally.lost.load()),
      static_cast<long long>(tally.doubled.load()));
  std::printf(
      "soak: optd RSS %.1f MB baseline, %.1f MB at the end of the load, "
      "%.1f MB peak, %.1f MB after the deletes (limit +%.0f MB); %lld "
      "sessions and %lld journal files left\n",
      baseline_mb, loaded_mb, peak_mb, final_mb, limit_mb,
      static_cast<long long>(leaked), static_cast<long long>(journals_left));
  std::printf(
      "clients=%d sessions=%d errors=%lld lost=%lld p99_ms=%.2f "
      "rss_growth_mb=%.1f p50_ms=%.2f doubled=%lld leaked_sessions=%lld "
      "journals_left=%lld "
      "tells=%lld calls=%lld faulted=%lld expired=%lld cancelled=%lld "
      "ambiguous_tells=%lld verified_applied=%lld late_applied=%lld "
      "streams=%lld stream_cuts=%lld create_races=%lld seconds=%.1f "
      "baseline_rss_mb=%.1f "
      "final_rss_mb=%.1f peak_rss_mb=%.1f rss_limit_mb=%.0f exported=%lld "
      "optd_exit=%d complete=%d pass=%d\n",
      clients, started, static_cast<long long>(tally.errors.load()),
      static_cast<long long>(tally.lost.load()), p99, growth_mb, p50,
      static_cast<long long>(tally.doubled.load()),
      static_cast<long long>(leaked), static_cast<long long>(journals_left),
      static_cast<long long>(tally.tells.load()),
      static_cast<long long>(tally.calls.load()),
      static_cast<long long>(tally.faulted.load()),
      static_cast<long long>(tally.expired.load()),
      static_cast<long long>(tally.cancelled.load()),
      static_cast<long long>(tally.ambiguous_tells.load()),
      static_cast<long long>(tally.verified_applied.load()),
      static_cast<long long>(tally.late_applied.load()),
      static_cast<long long>(tally.streams.load()),
      static_cast<long long>(tally.stream_cuts.load()),
      static_cast<long long>(tally.create_races.load()), seconds, baseline_mb,
      final_mb, peak_mb, limit_mb,
      static_cast<long long>(tally.exported.load()), optd_exit,
      complete ? 1 : 0, pass ? 1 : 0);
  std::fflush(stdout);
  optd::bench::CleanupFleet();
  return pass ? 0 : 1;
}
