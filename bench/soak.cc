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
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/fleet.h"
#include "bench/soak_faults.h"
#include "bench/soak_plan.h"
#include "bench/soak_session_run.h"
#include "client/client.h"
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
using ::optd::bench::soak::Canceller;
using ::optd::bench::soak::Clock;
using ::optd::bench::soak::FaultOptions;
using ::optd::bench::soak::Plan;
using ::optd::bench::soak::PlanOptions;
using ::optd::bench::soak::Tally;

// The flags of soak_plan.h's and soak_faults.h's options.
PlanOptions PlanOptionsFromFlags() {
  PlanOptions options;
  options.min_dimension = absl::GetFlag(FLAGS_min_dimension);
  options.max_dimension = absl::GetFlag(FLAGS_max_dimension);
  options.max_hessian_dimension = absl::GetFlag(FLAGS_max_hessian_dimension);
  options.min_tells = absl::GetFlag(FLAGS_min_tells);
  options.max_tells = absl::GetFlag(FLAGS_max_tells);
  options.stream_fraction = absl::GetFlag(FLAGS_stream_fraction);
  options.export_fraction = absl::GetFlag(FLAGS_export_fraction);
  return options;
}

FaultOptions FaultOptionsFromFlags() {
  FaultOptions options;
  options.deadline_fraction = absl::GetFlag(FLAGS_deadline_fraction);
  options.cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction);
  options.fault_max_ms = absl::GetFlag(FLAGS_fault_max_ms);
  options.stream_fault_fraction = absl::GetFlag(FLAGS_stream_fault_fraction);
  options.stream_fault_max_ms = absl::GetFlag(FLAGS_stream_fault_max_ms);
  return options;
}

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
  PlanOptions plan_options;
  FaultOptions fault_options;
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
    Plan plan = optd::bench::soak::DrawPlan(
        id, plan_rng,
        /*faults=*/!phase->warmup, phase->journals, phase->plan_options);
    if (phase->warmup) plan.budget = 5;
    optd::bench::soak::RunSession(client, canceller, phase->fault_options,
                                  tally, &latencies_ms, &fault_rng,
                                  std::move(plan), phase->end);
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
    warmup.plan_options = PlanOptionsFromFlags();
    warmup.fault_options = FaultOptionsFromFlags();
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
  soak.plan_options = PlanOptionsFromFlags();
  soak.fault_options = FaultOptionsFromFlags();
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