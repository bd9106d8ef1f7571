// End to end: durable sessions (DESIGN §2, §4) on real optd processes.
//
//   DurabilityCrash      kill -9 at random moments while clients run L-BFGS
//                        and Adam sessions: every session ends bitwise as an
//                        uninterrupted run, nothing lost, nothing doubled.
//   DurabilityJournal    damaged journals (DAMAGED, DATA_LOSS, DeleteSession)
//                        and a torn final record (dropped, the tell retried).
//   DurabilityLeases     two workers, one trial, a lease that expires.
//   DurabilityExport     ExportSession / ImportSession between servers.
//   DurabilityTtl        idle sessions expire with their journal.
//   DurabilityRestart    SIGTERM and kill -9 between tells resume exactly.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/minimize.h"
#include "client/session.h"
#include "client/vector_codec.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "solvers/adam/adam.h"
#include "solvers/core/solver.h"
#include "solvers/core/vector_view.h"
#include "solvers/testing/status_matchers.h"
#include "tests/optd_process.h"
#include "tests/test_objectives.h"

namespace optd::testing {
namespace {

using ::optd::client::Answer;
using ::optd::client::Client;
using ::optd::client::ClientOptions;
using ::optd::client::Evaluation;
using ::optd::client::Objective;
using ::optd::client::Result;
using ::optd::client::Session;
using ::optd::client::SessionOptions;
using ::optd::client::SolverSpec;
using ::optd::client::Trial;
using ::optd::client::Wants;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------
// Helpers

// Bit-for-bit equality (== would call -0.0 and 0.0 equal, NaN unequal).
bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() ||
          std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

std::string Hex(const std::vector<double>& x) {
  std::string out = "[";
  for (size_t i = 0; i < x.size(); ++i) {
    absl::StrAppendFormat(&out, "%s%a", i == 0 ? "" : ", ", x[i]);
  }
  return out + "]";
}

#define EXPECT_SAME_BITS(a, b) \
  EXPECT_TRUE(SameBits((a), (b))) << Hex(a) << "\n  vs " << Hex(b)

std::vector<double> Decoded(const v1::Vector& v) {
  absl::StatusOr<std::vector<double>> x = client::DecodeVector(v);
  EXPECT_OK(x);
  return x.ok() ? *std::move(x) : std::vector<double>();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string JournalPath(const OptdProcess& optd, const std::string& id) {
  return absl::StrCat(optd.data_dir(), "/sessions/", id, ".journal");
}

bool FileExists(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::exists(path, ignored);
}

// One record of a journal file: where its 8-byte header starts and how long
// its payload is (server/storage/journal.h: u32 length | u32 crc32 | payload,
// little-endian).
struct RecordSpan {
  size_t offset;
  size_t length;
  size_t payload() const { return offset + 8; }
  size_t end() const { return offset + 8 + length; }
};

// The records of a journal (server/storage/journal.h: "OPTDJNL2", an 8-byte
// salt, then length | crc | payload records), sync marks left out.
std::vector<RecordSpan> JournalRecords(const std::string& bytes) {
  std::vector<RecordSpan> records;
  EXPECT_EQ(bytes.substr(0, 8), "OPTDJNL2");
  size_t offset = 16;
  while (offset + 8 <= bytes.size()) {
    uint32_t length = 0;
    for (int i = 3; i >= 0; --i) {
      length = (length << 8) | static_cast<uint8_t>(bytes[offset + i]);
    }
    if (offset + 8 + length > bytes.size()) break;
    const bool mark =
        length == 24 && bytes.compare(offset + 8, 8, "OPTDSYNC") == 0;
    if (!mark) records.push_back({offset, length});
    offset += 8 + length;
  }
  EXPECT_EQ(offset, bytes.size()) << "journal with a partial record";
  return records;
}

// A channel of its own (no subchannel shared with earlier channels to a port
// the kernel may hand out again) that retries a refused connection quickly.
Client ConnectFresh(const std::string& address,
                    absl::Duration call_timeout = absl::Seconds(10)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  ClientOptions options;
  options.call_timeout = call_timeout;
  return Client::FromChannel(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                args),
      options);
}

absl::StatusOr<Client> Connect(const OptdProcess& optd) {
  return Client::Connect(optd.address());
}

// A session to run: its starting point, solver and objective.
struct Problem {
  std::string name;
  std::vector<double> x0;
  SolverSpec solver = SolverSpec::Lbfgs();
  Objective objective;
};

// f(x) = sum_i (i + 1) / 2 (x_i - i / 10)^2; always reports the value (Adam
// records it in the history) and the gradient when wanted.
Evaluation Quadratic(const std::vector<double>& x, Wants wants) {
  Evaluation e;
  double f = 0.0;
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double a = static_cast<double>(i + 1);
    const double d = x[i] - 0.1 * static_cast<double>(i);
    f += 0.5 * a * d * d;
    g[i] = a * d;
  }
  e.value = f;
  if (client::WantsGradient(wants)) e.gradient = std::move(g);
  return e;
}

Problem ExtendedRosenbrockLbfgs() {
  Problem p;
  p.name = "lbfgs";
  p.x0.resize(10);
  for (size_t i = 0; i < p.x0.size(); ++i) p.x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  p.solver = SolverSpec::Lbfgs();
  p.objective = Rosenbrock;
  return p;
}

Problem QuadraticAdam(int64_t steps) {
  Problem p;
  p.name = "adam";
  p.x0 = {1.0, -2.0, 0.5, 3.0, -1.0};
  v1::AdamOptions adam;
  adam.set_lr(0.05);
  adam.set_max_steps(steps);
  p.solver = SolverSpec::Adam(adam);
  p.objective = Quadratic;
  return p;
}

// Everything an uninterrupted session hands out and ends with.
struct Reference {
  // Trial id -> point and what it wants.
  std::map<uint64_t, Trial> trials;
  Result result;
  v1::SessionState state = v1::SESSION_STATE_UNSPECIFIED;
};

absl::StatusOr<Reference> RunReference(const Client& client,
                                       const std::string& id,
                                       const Problem& problem) {
  SessionOptions options;
  options.session_id = id;
  absl::StatusOr<Session> session =
      Session::Create(client, problem.x0, problem.solver, options);
  if (!session.ok()) return session.status();
  Reference ref;
  std::vector<Trial> trials = session->first_trials();
  while (true) {
    if (trials.size() != 1) return absl::InternalError("not one trial");
    const Trial trial = trials[0];
    ref.trials[trial.id] = trial;
    absl::StatusOr<Answer> answer =
        session->Tell(trial.id, problem.objective(trial.x, trial.wants));
    if (!answer.ok()) return answer.status();
    if (answer->finished()) {
      ref.result = *answer->summary;
      ref.state = answer->state;
      return ref;
    }
    trials = std::move(answer->trials);
  }
}

// Tells `count` trials of `session` starting from `trials`; returns every
// trial handed out, the first ones included.
absl::StatusOr<std::vector<Trial>> TellSome(const Session& session,
                                            std::vector<Trial> trials,
                                            const Objective& objective,
                                            int count) {
  std::vector<Trial> seen = trials;
  for (int i = 0; i < count; ++i) {
    if (trials.size() != 1) return absl::InternalError("not one trial");
    absl::StatusOr<Answer> answer =
        session.Tell(trials[0].id, objective(trials[0].x, trials[0].wants));
    if (!answer.ok()) return answer.status();
    if (answer->finished()) return absl::InternalError("finished early");
    trials = std::move(answer->trials);
    seen.insert(seen.end(), trials.begin(), trials.end());
  }
  return seen;
}

void ExpectSameTrial(const Trial& a, const Trial& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_SAME_BITS(a.x, b.x) << " (trial " << a.id << ")";
  EXPECT_EQ(a.wants, b.wants) << " (trial " << a.id << ")";
}

// ---------------------------------------------------------------------------
// 1. kill -9 at random moments

// One optd that a killer thread kills and restarts on the same data directory,
// and the address clients should use now.
//
// Thread-safety: KillAndRestart/Terminate from one thread (the killer, then
// the test thread after joining it); the rest from any thread.
class CrashingServer {
 public:
  absl::Status Start() {
    absl::Status started = optd_.Start();
    if (started.ok()) Publish();
    return started;
  }

  // kill -9, reap, restart, publish the new address. The server of
  // generation g is signalled by kill number g, and `kills` counts up before
  // the signal: a client connected to generation g that reads fewer than g
  // kills after a call knows that server answered it.
  absl::Status KillAndRestart() {
    ++kills_;
    optd_.Signal(SIGKILL);
    const std::optional<int> code = optd_.Wait(absl::Seconds(10));
    if (code != std::optional<int>(128 + SIGKILL)) {
      return absl::InternalError(
          absl::StrCat("optd did not die of SIGKILL (code ", code.value_or(-1),
                       "); log:\n", optd_.Log()));
    }
    const absl::Time restart = absl::Now();
    absl::Status started = optd_.Start();
    restart_time_ += absl::Now() - restart;
    if (!started.ok()) return started;
    Publish();
    return absl::OkStatus();
  }

  std::optional<int> Terminate() { return optd_.Terminate(absl::Seconds(10)); }

  // The newest server's address and generation.
  std::pair<std::string, int> Current() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return {address_, generation_};
  }
  // Waits up to `timeout` for a server newer than `generation`.
  void AwaitNewer(int generation, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto newer = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return generation_ > generation;
    };
    mu_.AwaitWithTimeout(absl::Condition(&newer), timeout);
  }
  int kills() const { return kills_.load(); }
  absl::Duration restart_time() const { return restart_time_; }
  const OptdProcess& process() const { return optd_; }

 private:
  void Publish() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    address_ = optd_.address();
    ++generation_;
  }

  OptdProcess optd_;
  std::atomic<int> kills_{0};
  absl::Duration restart_time_;
  mutable absl::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// What one client saw while driving its sessions through the crashes.
struct ClientLog {
  int sessions = 0;
  int tells = 0;
  // Tells sent again after their answer was lost: answered as duplicates
  // (the first one was applied and durable) or applied now.
  int retried_tells = 0;
  int duplicates = 0;
  int retried_applied = 0;
  int reconnects = 0;
  int lost_creates = 0;
};

// A failure a restarted server can cure: the transport broke. UNKNOWN and
// INTERNAL count only when a kill happened during the call (gRPC reports
// some torn connections so).
bool Retryable(const absl::Status& status, bool killed_meanwhile) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
      return true;
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
      return killed_meanwhile;
    default:
      return false;
  }
}

// Runs session `id` of `problem` to its end against `server`, which is being
// killed: reconnects to each new server, Attach + Ask for the outstanding
// trial, evaluates it once, and retries a tell whose answer was lost with the
// same payload. Checks every trial handed out against `ref` (id, point,
// wants), and at the end the summary, GetSession's best_x and its counters.
void DriveThroughCrashes(const CrashingServer& server, const std::string& id,
                         const Problem& problem, const Reference& ref,
                         absl::Time deadline, ClientLog* log) {
  SCOPED_TRACE(id);
  ++log->sessions;
  int generation = 0;
  std::optional<Client> client;
  bool created = false;
  // The outstanding trial as this client knows it: the last one an answer
  // handed out.
  std::optional<Trial> current;
  // Set after a reconnect or a lost answer: Attach + Ask before going on.
  bool need_ask = false;
  // The last trial any answer handed out (what an Ask must show, or the one
  // after it if a tell of it is in doubt).
  uint64_t last_handed = 0;
  // A tell sent whose answer has not come yet.
  struct PendingTell {
    uint64_t trial_id;
    Evaluation evaluation;
    bool retry = false;
  };
  std::optional<PendingTell> pending;
  // What the latest Ask showed, and the generation of the server that
  // answered it when that server was not yet signalled: a retried tell
  // answered by the same process must agree with it.
  // -1: unknown; 0: the session had finished.
  int64_t asked_outstanding = -1;
  int asked_generation = -1;
  std::map<uint64_t, std::vector<double>> evaluated;
  std::optional<Result> result;

  auto check_trials = [&](const std::vector<Trial>& trials) {
    EXPECT_EQ(trials.size(), 1u);
    for (const Trial& t : trials) {
      auto it = ref.trials.find(t.id);
      if (it == ref.trials.end()) {
        ADD_FAILURE() << "trial " << t.id << " is not in the reference run";
        continue;
      }
      EXPECT_SAME_BITS(t.x, it->second.x) << " trial " << t.id;
      EXPECT_EQ(t.wants, it->second.wants) << " trial " << t.id;
      last_handed = std::max(last_handed, t.id);
    }
  };

  while (!result.has_value()) {
    if (absl::Now() > deadline) {
      ADD_FAILURE() << "session " << id << " did not finish in time; it has "
                    << evaluated.size() << " trials evaluated";
      return;
    }
    if (::testing::Test::HasFatalFailure()) return;
    auto [address, newest] = server.Current();
    if (newest != generation || !client.has_value()) {
      client = ConnectFresh(address, absl::Seconds(5));
      generation = newest;
      need_ask = true;
      ++log->reconnects;
    }
    const int kills_before = server.kills();
    absl::Status failure;
    if (!created) {
      SessionOptions options;
      options.session_id = id;
      absl::StatusOr<Session> session =
          Session::Create(*client, problem.x0, problem.solver, options);
      if (session.ok()) {
        created = true;
        check_trials(session->first_trials());
        current = session->first_trials().at(0);
      } else if (absl::IsAlreadyExists(session.status())) {
        // An earlier create was applied but its answer was lost.
        created = true;
        ++log->lost_creates;
      } else {
        failure = session.status();
      }
    } else if (need_ask) {
      absl::StatusOr<Answer> answer =
          Session::Attach(*client, id, v1::VECTOR_ENCODING_F64).Ask();
      if (answer.ok()) {
        need_ask = false;
        // Server g is signalled by kill number g: with fewer kills before
        // the call, server `generation` answered it.
        asked_generation = kills_before < generation ? generation : -1;
        if (answer->finished()) {
          asked_outstanding = 0;
          // Only a tell in doubt can have finished the session.
          EXPECT_TRUE(pending.has_value())
              << "the session ended without an answered last tell";
          if (!pending.has_value()) return;
        } else {
          check_trials(answer->trials);
          current = answer->trials.at(0);
          asked_outstanding = static_cast<int64_t>(current->id);
        }
        // Every acknowledged tell survived: the outstanding trial is the last
        // one handed out, or the next if our tell of it was applied.
        const uint64_t shown = static_cast<uint64_t>(asked_outstanding);
        if (pending.has_value()) {
          // (0: the session ended, which only the last trial's tell does.)
          EXPECT_TRUE(
              shown == pending->trial_id || shown == pending->trial_id + 1 ||
              (shown == 0 && pending->trial_id == ref.trials.rbegin()->first))
              << "Ask shows trial " << shown << " with trial "
              << pending->trial_id << " told but unanswered";
        } else if (last_handed > 0) {
          EXPECT_EQ(shown, last_handed) << "Ask after a restart";
        }
        if (!pending.has_value() && current.has_value() &&
            evaluated.count(current->id) > 0) {
          ADD_FAILURE() << "trial " << current->id
                        << " was answered, yet it is outstanding again";
          return;
        }
      } else {
        failure = answer.status();
      }
    } else if (pending.has_value()) {
      absl::StatusOr<Answer> answer =
          Session::Attach(*client, id, v1::VECTOR_ENCODING_F64)
              .Tell(pending->trial_id, pending->evaluation);
      if (answer.ok()) {
        ++log->tells;
        if (pending->retry) {
          ++log->retried_tells;
          if (answer->duplicate) {
            ++log->duplicates;
          } else {
            ++log->retried_applied;
          }
          // The Ask just before, when the same process answered it and this
          // tell (not signalled before the tell's answer came), said whether
          // the first send was applied.
          if (asked_generation == generation && server.kills() < generation &&
              asked_outstanding >= 0) {
            EXPECT_EQ(
                answer->duplicate,
                static_cast<uint64_t>(asked_outstanding) != pending->trial_id)
                << "retry of trial " << pending->trial_id
                << " after Ask showed " << asked_outstanding;
          }
        } else {
          EXPECT_FALSE(answer->duplicate)
              << "the first tell of trial " << pending->trial_id;
        }
        pending.reset();
        asked_outstanding = -1;
        if (answer->finished()) {
          result = *answer->summary;
        } else {
          check_trials(answer->trials);
          current = answer->trials.at(0);
        }
      } else {
        failure = answer.status();
      }
    } else {
      // Evaluate the outstanding trial, once per id.
      const Trial& trial = *current;
      auto [it, inserted] = evaluated.emplace(trial.id, trial.x);
      if (!inserted) {
        ADD_FAILURE() << "trial " << trial.id << " handed out again after "
                      << "its tell was answered";
        return;
      }
      pending = PendingTell{trial.id, problem.objective(trial.x, trial.wants)};
    }

    if (!failure.ok()) {
      const bool killed = server.kills() != kills_before;
      if (!Retryable(failure, killed)) {
        ADD_FAILURE() << "session " << id << ": " << failure
                      << (pending ? absl::StrCat(" (telling trial ",
                                                 pending->trial_id, ")")
                                  : "");
        return;
      }
      // The answer is lost: ask what the (maybe new) server has, and send a
      // tell in doubt again.
      need_ask = true;
      if (pending.has_value()) pending->retry = true;
      server.AwaitNewer(generation, absl::Milliseconds(50));
    }
  }

  // The end, bitwise the uninterrupted run's.
  EXPECT_SAME_BITS(result->x, ref.result.x);
  EXPECT_EQ(result->evaluations, ref.result.evaluations);
  EXPECT_EQ(result->iterations, ref.result.iterations);
  EXPECT_EQ(result->reason, ref.result.reason);
  EXPECT_EQ(static_cast<int64_t>(evaluated.size()), ref.result.evaluations);
  // Trials 1..N, each evaluated once.
  if (!evaluated.empty()) {
    EXPECT_EQ(evaluated.begin()->first, 1u);
    EXPECT_EQ(evaluated.rbegin()->first, evaluated.size());
  }

  // What the server keeps of it (asked again across kills).
  while (absl::Now() < deadline) {
    auto [address, newest] = server.Current();
    if (newest != generation) {
      client = ConnectFresh(address, absl::Seconds(5));
      generation = newest;
    }
    const int kills_before = server.kills();
    absl::StatusOr<v1::Session> s = client->GetSession(id, /*include_x=*/true);
    if (!s.ok()) {
      if (!Retryable(s.status(), server.kills() != kills_before)) {
        ADD_FAILURE() << s.status();
        return;
      }
      server.AwaitNewer(generation, absl::Milliseconds(50));
      continue;
    }
    EXPECT_EQ(s->state(), ref.state);
    EXPECT_EQ(s->evaluations(), static_cast<int64_t>(evaluated.size()));
    EXPECT_EQ(s->tells(), static_cast<int64_t>(evaluated.size()));
    EXPECT_EQ(s->durable_step(), s->tells());
    EXPECT_SAME_BITS(Decoded(s->best_x()), ref.result.x);
    EXPECT_SAME_BITS(Decoded(s->summary().x()), ref.result.x);
    EXPECT_TRUE(s->pending_trial_ids().empty());
    return;
  }
  ADD_FAILURE() << "GetSession " << id << " did not answer in time";
}

TEST(DurabilityCrash, KillNineAtRandomMomentsLosesAndDoublesNothing) {
  constexpr int kMinKills = 50;
  constexpr uint32_t kSeed = 20240607;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + absl::Seconds(100);
  const Problem lbfgs = ExtendedRosenbrockLbfgs();
  const Problem adam = QuadraticAdam(/*steps=*/300);

  // The uninterrupted runs, on a server of their own.
  Reference lbfgs_ref, adam_ref;
  {
    OptdProcess reference;
    ASSERT_OK(reference.Start());
    {
      absl::StatusOr<Client> client = Connect(reference);
      ASSERT_OK(client);
      absl::StatusOr<Reference> r = RunReference(*client, "ref-lbfgs", lbfgs);
      ASSERT_OK(r);
      lbfgs_ref = *std::move(r);
      r = RunReference(*client, "ref-adam", adam);
      ASSERT_OK(r);
      adam_ref = *std::move(r);
    }
    EXPECT_EQ(reference.Terminate(absl::Seconds(10)), std::optional<int>(0));
  }
  ASSERT_TRUE(lbfgs_ref.result.success) << lbfgs_ref.result.brief_report;
  ASSERT_EQ(adam_ref.result.evaluations, 300);
  ASSERT_EQ(adam_ref.result.reason, v1::TERMINATION_REASON_MAX_STEPS);

  CrashingServer server;
  ASSERT_OK(server.Start());
  std::atomic<bool> clients_done{false};
  std::atomic<bool> killer_failed{false};
  ClientLog lbfgs_log, adam_log;
  // Each client runs its sessions one after another, starting a new one while
  // the killer has not yet killed kMinKills times.
  auto client_thread = [&](const Problem& problem, const Reference& ref,
                           ClientLog* log) {
    for (int round = 0;
         server.kills() < kMinKills && !killer_failed && absl::Now() < deadline;
         ++round) {
      DriveThroughCrashes(server, absl::StrCat(problem.name, "-", round),
                          problem, ref, deadline, log);
      if (::testing::Test::HasFailure()) break;
    }
  };
  std::thread lbfgs_client(client_thread, std::cref(lbfgs),
                           std::cref(lbfgs_ref), &lbfgs_log);
  std::thread adam_client(client_thread, std::cref(adam), std::cref(adam_ref),
                          &adam_log);
  std::thread killer([&] {
    std::mt19937 random(kSeed);
    // Mostly a few ms to tens of ms; now and then long enough for the clients
    // to get going.
    std::uniform_int_distribution<int> delay_ms(2, 60);
    while (!clients_done) {
      absl::SleepFor(absl::Milliseconds(delay_ms(random)));
      if (clients_done) break;
      absl::Status status = server.KillAndRestart();
      if (!status.ok()) {
        ADD_FAILURE() << status;
        killer_failed = true;
        break;
      }
    }
  });
  lbfgs_client.join();
  adam_client.join();
  clients_done = true;
  killer.join();

  const int kills = server.kills();
  std::cerr << absl::StrFormat(
      "[crash] %d kills (seed %u) in %.1f s, restarts took %.1f s in all; "
      "lbfgs: %d sessions, %d tells, %d retried (%d duplicate, %d applied), "
      "%d reconnects, %d lost creates; adam: %d sessions, %d tells, %d "
      "retried (%d duplicate, %d applied), %d reconnects, %d lost creates\n",
      kills, kSeed, absl::ToDoubleSeconds(absl::Now() - start),
      absl::ToDoubleSeconds(server.restart_time()), lbfgs_log.sessions,
      lbfgs_log.tells, lbfgs_log.retried_tells, lbfgs_log.duplicates,
      lbfgs_log.retried_applied, lbfgs_log.reconnects, lbfgs_log.lost_creates,
      adam_log.sessions, adam_log.tells, adam_log.retried_tells,
      adam_log.duplicates, adam_log.retried_applied, adam_log.reconnects,
      adam_log.lost_creates);
  EXPECT_GE(kills, kMinKills);
  EXPECT_GE(lbfgs_log.sessions, 1);
  EXPECT_GE(adam_log.sessions, 1);

  // A last restart: every session is still there, ended as the reference.
  if (!HasFailure()) {
    ASSERT_OK(server.KillAndRestart());
    Client client = ConnectFresh(server.Current().first);
    absl::StatusOr<std::vector<v1::Session>> sessions = client.ListSessions();
    ASSERT_OK(sessions);
    EXPECT_EQ(static_cast<int>(sessions->size()),
              lbfgs_log.sessions + adam_log.sessions);
    for (const v1::Session& brief : *sessions) {
      const bool is_adam = brief.session_id().rfind("adam-", 0) == 0;
      const Reference& ref = is_adam ? adam_ref : lbfgs_ref;
      absl::StatusOr<v1::Session> s =
          client.GetSession(brief.session_id(), /*include_x=*/true);
      ASSERT_OK(s);
      EXPECT_EQ(s->state(), ref.state) << brief.session_id();
      EXPECT_EQ(s->tells(), ref.result.evaluations) << brief.session_id();
      EXPECT_SAME_BITS(Decoded(s->best_x()), ref.result.x)
          << brief.session_id();
    }
  }
  EXPECT_EQ(server.Terminate(), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << server.process().Log();
}

// ---------------------------------------------------------------------------
// 2. Damaged journals

// Sessions on Rosenbrock n=2: the uninterrupted trials of one, to compare.
std::vector<Trial> RosenbrockTrajectory(const Client& client, int tells) {
  SessionOptions options;
  options.session_id = "trajectory";
  absl::StatusOr<Session> s =
      Session::Create(client, {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
  EXPECT_OK(s);
  if (!s.ok()) return {};
  absl::StatusOr<std::vector<Trial>> trials =
      TellSome(*s, s->first_trials(), Rosenbrock, tells);
  EXPECT_OK(trials);
  EXPECT_OK(s->Delete());
  return trials.ok() ? *trials : std::vector<Trial>();
}

absl::StatusOr<Session> CreateRosenbrock(const Client& client,
                                         const std::string& id) {
  SessionOptions options;
  options.session_id = id;
  return Session::Create(client, {-1.2, 1.0}, SolverSpec::Lbfgs(), options);
}

TEST(DurabilityJournal, DamagedJournalsAreReportedAndTheOthersLoad) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  std::vector<Trial> expected;
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    expected = RosenbrockTrajectory(*client, 8);
    ASSERT_EQ(expected.size(), 9u);
    for (const char* id : {"flipped", "cut-header", "healthy"}) {
      absl::StatusOr<Session> s = CreateRosenbrock(*client, id);
      ASSERT_OK(s);
      absl::StatusOr<std::vector<Trial>> trials =
          TellSome(*s, s->first_trials(), Rosenbrock, 4);
      ASSERT_OK(trials);
      ExpectSameTrial(trials->back(), expected[4]);
    }
  }
  ASSERT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));

  // A byte in the middle of the payload of record 2 (the second tell).
  const std::string flipped = JournalPath(optd, "flipped");
  std::string bytes = ReadBytes(flipped);
  std::vector<RecordSpan> records = JournalRecords(bytes);
  ASSERT_EQ(records.size(), 5u);  // header + 4 tells
  const RecordSpan target = records[2];
  bytes[target.payload() + target.length / 2] ^= 0x5a;
  WriteBytes(flipped, bytes);
  // Cut inside the header record's payload.
  const std::string cut = JournalPath(optd, "cut-header");
  bytes = ReadBytes(cut);
  records = JournalRecords(bytes);
  ASSERT_GT(records[0].length, 4u);
  WriteBytes(cut,
             bytes.substr(0, records[0].payload() + records[0].length / 2));

  ASSERT_OK(optd.Start());
  {  // Scoped: optd waits for open connections when it drains.
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);

    absl::StatusOr<v1::Session> s = client->GetSession("flipped");
    ASSERT_OK(s);
    EXPECT_EQ(s->state(), v1::SESSION_STATE_DAMAGED);
    EXPECT_THAT(s->damage(), HasSubstr(flipped));
    EXPECT_THAT(s->damage(), HasSubstr("checksum mismatch"));
    EXPECT_THAT(s->damage(),
                HasSubstr(absl::StrCat("record 2 at byte ", target.offset)));
    s = client->GetSession("cut-header");
    ASSERT_OK(s);
    EXPECT_EQ(s->state(), v1::SESSION_STATE_DAMAGED);
    EXPECT_THAT(s->damage(), HasSubstr(cut));
    EXPECT_THAT(s->damage(), HasSubstr("record 0 at byte 16"));
    EXPECT_THAT(optd.Log(), HasSubstr("\"flipped\" is damaged"));

    // Every other call on them is DATA_LOSS, naming the damage.
    for (const char* id : {"flipped", "cut-header"}) {
      SCOPED_TRACE(id);
      const Session damaged = Session::Attach(*client, id);
      EXPECT_THAT(damaged.Ask(), StatusIs(absl::StatusCode::kDataLoss,
                                          HasSubstr("is damaged")));
      EXPECT_THAT(damaged.AskAsWorker("w"),
                  StatusIs(absl::StatusCode::kDataLoss, HasSubstr("journal")));
      EXPECT_THAT(damaged.Tell(5, Rosenbrock(expected[4].x, expected[4].wants)),
                  StatusIs(absl::StatusCode::kDataLoss, HasSubstr(id)));
      EXPECT_THAT(client->ExportSession(id),
                  StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
      // The id stays taken until deleted.
      EXPECT_THAT(CreateRosenbrock(*client, id),
                  StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
    }
    absl::StatusOr<std::vector<v1::Session>> listed = client->ListSessions();
    ASSERT_OK(listed);
    ASSERT_EQ(listed->size(), 3u);
    EXPECT_EQ((*listed)[0].session_id(), "cut-header");
    EXPECT_EQ((*listed)[0].state(), v1::SESSION_STATE_DAMAGED);
    EXPECT_EQ((*listed)[1].session_id(), "flipped");
    EXPECT_EQ((*listed)[1].state(), v1::SESSION_STATE_DAMAGED);
    EXPECT_EQ((*listed)[2].session_id(), "healthy");
    EXPECT_EQ((*listed)[2].state(), v1::SESSION_STATE_RUNNING);

    // The healthy one goes on where it was.
    const Session healthy = Session::Attach(*client, "healthy");
    absl::StatusOr<Answer> asked = healthy.Ask();
    ASSERT_OK(asked);
    ASSERT_EQ(asked->trials.size(), 1u);
    ExpectSameTrial(asked->trials[0], expected[4]);
    absl::StatusOr<std::vector<Trial>> more =
        TellSome(healthy, asked->trials, Rosenbrock, 4);
    ASSERT_OK(more);
    for (size_t i = 0; i < more->size(); ++i) {
      ExpectSameTrial((*more)[i], expected[4 + i]);
    }

    // DeleteSession removes a damaged session and its file.
    for (const std::string& path : {flipped, cut})
      EXPECT_TRUE(FileExists(path));
    EXPECT_OK(client->DeleteSession("flipped"));
    EXPECT_FALSE(FileExists(flipped));
    EXPECT_THAT(client->GetSession("flipped"),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
    EXPECT_OK(client->DeleteSession("cut-header"));
    EXPECT_FALSE(FileExists(cut));
    // The ids are free again.
    EXPECT_OK(CreateRosenbrock(*client, "flipped"));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

// Sessions outside the write-ahead log (--wal_max_dimension=0) sync their own
// journal, so its last record is the last word: cut short, it is dropped.
// (A session in the log would get the record back from the log.)
TEST(DurabilityJournal, TornLastRecordDropsThatTellOnly) {
  OptdProcess optd;
  const std::vector<std::string> own_journal = {"--wal_max_dimension=0"};
  ASSERT_OK(optd.Start(own_journal));
  std::vector<Trial> expected;
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    expected = RosenbrockTrajectory(*client, 8);
    ASSERT_EQ(expected.size(), 9u);
    absl::StatusOr<Session> s = CreateRosenbrock(*client, "torn");
    ASSERT_OK(s);
    ASSERT_OK(TellSome(*s, s->first_trials(), Rosenbrock, 5));
  }
  ASSERT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));

  // The last record (the tell of trial 5) cut short, as a crash during its
  // write would leave it: inside its 8-byte header, one byte into it, in the
  // middle of its payload, one byte short of its end. Each time the server
  // drops it, says so, and loads the other four tells.
  const std::string path = JournalPath(optd, "torn");
  const std::string whole = ReadBytes(path);
  const std::vector<RecordSpan> records = JournalRecords(whole);
  ASSERT_EQ(records.size(), 6u);
  const RecordSpan last = records.back();
  for (const size_t cut : {last.offset + 1, last.offset + 5, last.payload(),
                           last.payload() + last.length / 2, last.end() - 1}) {
    SCOPED_TRACE(absl::StrCat("cut at byte ", cut));
    WriteBytes(path, whole.substr(0, cut));
    ASSERT_OK(optd.Start(own_journal));
    EXPECT_THAT(optd.Log(),
                HasSubstr(absl::StrCat("dropped ", cut - last.offset,
                                       " bytes at the end of ", path)));
    {
      absl::StatusOr<Client> client = Connect(optd);
      ASSERT_OK(client);
      absl::StatusOr<v1::Session> s = client->GetSession("torn");
      ASSERT_OK(s);
      EXPECT_EQ(s->state(), v1::SESSION_STATE_RUNNING);
      EXPECT_EQ(s->tells(), 4);
      EXPECT_THAT(s->pending_trial_ids(), ::testing::ElementsAre(5u));
    }
    // kill -9: nothing was told, and the next start finds the same file
    // (cut back to the four whole tells, or still torn).
    optd.Signal(SIGKILL);
    ASSERT_EQ(optd.Wait(absl::Seconds(10)), std::optional<int>(128 + SIGKILL));
  }
  WriteBytes(path, whole.substr(0, last.payload() + last.length / 2));

  ASSERT_OK(optd.Start(own_journal));
  {  // Scoped: optd waits for open connections when it drains.
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    EXPECT_THAT(optd.Log(),
                HasSubstr(absl::StrCat("dropped ", 8 + last.length / 2,
                                       " bytes at the end of ", path)));
    const Session torn = Session::Attach(*client, "torn");
    absl::StatusOr<v1::Session> s = torn.Get();
    ASSERT_OK(s);
    EXPECT_EQ(s->state(), v1::SESSION_STATE_RUNNING);
    EXPECT_EQ(s->tells(), 4);
    EXPECT_EQ(s->evaluations(), 4);
    EXPECT_EQ(s->durable_step(), 4);
    EXPECT_THAT(s->pending_trial_ids(), ::testing::ElementsAre(5u));
    absl::StatusOr<Answer> asked = torn.Ask();
    ASSERT_OK(asked);
    ASSERT_EQ(asked->trials.size(), 1u);
    ExpectSameTrial(asked->trials[0], expected[4]);

    // The client's retry of that tell is applied (it was never acknowledged as
    // far as the server knows) and the session goes on as it would have.
    absl::StatusOr<Answer> retried =
        torn.Tell(5, Rosenbrock(expected[4].x, expected[4].wants));
    ASSERT_OK(retried);
    EXPECT_FALSE(retried->duplicate);
    ASSERT_EQ(retried->trials.size(), 1u);
    ExpectSameTrial(retried->trials[0], expected[5]);
  }
  // The file was cut back before the append: it reads whole again.
  ASSERT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  EXPECT_EQ(JournalRecords(ReadBytes(path)).size(), 6u);
  ASSERT_OK(optd.Start(own_journal));
  EXPECT_THAT(optd.Log(), ::testing::Not(HasSubstr("dropped")));
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    absl::StatusOr<v1::Session> s = client->GetSession("torn");
    ASSERT_OK(s);
    EXPECT_EQ(s->tells(), 5);
    EXPECT_THAT(s->pending_trial_ids(), ::testing::ElementsAre(6u));
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

// ---------------------------------------------------------------------------
// 3. Leases

TEST(DurabilityLeases, ExpiredLeasePassesTheTrialToAnotherWorker) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    v1::CreateSessionRequest request =
        client::MakeCreateSessionRequest({-1.2, 1.0}, SolverSpec::Lbfgs());
    request.set_session_id("leased");
    request.set_lease_seconds(1);
    absl::StatusOr<Session> session = Session::Create(*client, request);
    ASSERT_OK(session);
    const Trial first = session->first_trials().at(0);

    // Worker a takes the trial (the raw answer, for lease_expire_time).
    v1::AskRequest ask;
    ask.set_session_id("leased");
    ask.set_worker_id("a");
    v1::AskResponse a_response;
    {
      grpc::ClientContext context;
      client->PrepareUnaryContext(&context);
      const absl::Time before = absl::Now();
      ASSERT_TRUE(client->stub().Ask(&context, ask, &a_response).ok());
      ASSERT_EQ(a_response.trials_size(), 1);
      EXPECT_EQ(a_response.trials(0).trial_id(), first.id);
      EXPECT_SAME_BITS(Decoded(a_response.trials(0).x()), first.x);
      ASSERT_TRUE(a_response.trials(0).has_lease_expire_time());
      const absl::Time expiry =
          absl::FromUnixSeconds(
              a_response.trials(0).lease_expire_time().seconds()) +
          absl::Nanoseconds(a_response.trials(0).lease_expire_time().nanos());
      EXPECT_GE(expiry, before + absl::Milliseconds(990));
      EXPECT_LE(expiry, absl::Now() + absl::Milliseconds(1010));
      EXPECT_EQ(a_response.retry_after_seconds(), 0);
    }
    absl::StatusOr<v1::Session> described = session->Get();
    ASSERT_OK(described);
    EXPECT_EQ(described->lease_seconds(), 1);
    ASSERT_EQ(described->leases_size(), 1);
    EXPECT_EQ(described->leases(0).trial_id(), first.id);
    EXPECT_EQ(described->leases(0).worker_id(), "a");
    EXPECT_EQ(described->leases(0).expire_time().seconds(),
              a_response.trials(0).lease_expire_time().seconds());
    EXPECT_EQ(described->leases(0).expire_time().nanos(),
              a_response.trials(0).lease_expire_time().nanos());

    // Worker b gets nothing while a holds it, and is told when to come back.
    absl::StatusOr<Answer> b_early = session->AskAsWorker("b");
    ASSERT_OK(b_early);
    EXPECT_TRUE(b_early->trials.empty());
    EXPECT_EQ(b_early->state, v1::SESSION_STATE_RUNNING);
    EXPECT_GT(b_early->retry_after, absl::ZeroDuration());
    EXPECT_LE(b_early->retry_after, absl::Seconds(1));
    // A plain Ask still shows the trial (no lease taken).
    absl::StatusOr<Answer> look = session->Ask();
    ASSERT_OK(look);
    ASSERT_EQ(look->trials.size(), 1u);
    EXPECT_EQ(look->trials[0].id, first.id);

    absl::SleepFor(b_early->retry_after + absl::Milliseconds(100));
    absl::StatusOr<Answer> b_late = session->AskAsWorker("b");
    ASSERT_OK(b_late);
    ASSERT_EQ(b_late->trials.size(), 1u);
    ExpectSameTrial(b_late->trials[0], first);
    EXPECT_EQ(b_late->retry_after, absl::ZeroDuration());
    described = session->Get();
    ASSERT_OK(described);
    ASSERT_EQ(described->leases_size(), 1);
    EXPECT_EQ(described->leases(0).worker_id(), "b");
    // Now a is the one kept waiting.
    absl::StatusOr<Answer> a_again = session->AskAsWorker("a");
    ASSERT_OK(a_again);
    EXPECT_TRUE(a_again->trials.empty());
    EXPECT_GT(a_again->retry_after, absl::ZeroDuration());

    const Evaluation e = Rosenbrock(first.x, first.wants);
    absl::StatusOr<Answer> b_told = session->Tell(first.id, e);
    ASSERT_OK(b_told);
    EXPECT_FALSE(b_told->duplicate);
    ASSERT_EQ(b_told->trials.size(), 1u);
    EXPECT_EQ(b_told->trials[0].id, first.id + 1);
    described = session->Get();
    ASSERT_OK(described);
    EXPECT_EQ(described->leases_size(), 0);  // the leased trial was answered

    // a finishes its (same) evaluation late: the same payload is a harmless
    // duplicate, another one is refused.
    absl::StatusOr<Answer> a_late = session->Tell(first.id, e);
    ASSERT_OK(a_late);
    EXPECT_TRUE(a_late->duplicate);
    ASSERT_EQ(a_late->trials.size(), 1u);
    ExpectSameTrial(a_late->trials[0], b_told->trials[0]);
    Evaluation other = e;
    other.value = *e.value * 2;
    EXPECT_THAT(session->Tell(first.id, other),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("already answered with a different "
                                   "payload")));
    described = session->Get();
    ASSERT_OK(described);
    EXPECT_EQ(described->tells(), 1);
    EXPECT_EQ(described->evaluations(), 1);
    // Either worker may take the next trial.
    absl::StatusOr<Answer> a_next = session->AskAsWorker("a");
    ASSERT_OK(a_next);
    ASSERT_EQ(a_next->trials.size(), 1u);
    EXPECT_EQ(a_next->trials[0].id, first.id + 1);
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

// ---------------------------------------------------------------------------
// 4. Export, import and fork

TEST(DurabilityExport, ImportedSessionContinuesBitwise) {
  OptdProcess source, target, memory;
  ASSERT_OK(source.Start());
  ASSERT_OK(target.Start());
  ASSERT_OK(memory.Start({"--data_dir="}));
  {
    absl::StatusOr<Client> from = Connect(source);
    ASSERT_OK(from);
    absl::StatusOr<Client> to = Connect(target);
    ASSERT_OK(to);
    const Problem problem = ExtendedRosenbrockLbfgs();
    SessionOptions options;
    options.session_id = "moving";
    absl::StatusOr<Session> original =
        Session::Create(*from, problem.x0, problem.solver, options);
    ASSERT_OK(original);
    absl::StatusOr<std::vector<Trial>> told =
        TellSome(*original, original->first_trials(), problem.objective, 7);
    ASSERT_OK(told);

    absl::StatusOr<v1::SessionSnapshot> snapshot =
        from->ExportSession("moving");
    ASSERT_OK(snapshot);
    EXPECT_EQ(snapshot->format_version(), 1u);
    EXPECT_EQ(snapshot->create().session_id(), "moving");
    EXPECT_EQ(snapshot->tells_size(), 7);

    absl::StatusOr<v1::ImportSessionResponse> imported =
        to->ImportSession(*snapshot, "moved");
    ASSERT_OK(imported);
    EXPECT_EQ(imported->session_id(), "moved");
    EXPECT_EQ(imported->tells(), 7);
    EXPECT_EQ(imported->state(), v1::SESSION_STATE_RUNNING);
    absl::StatusOr<std::vector<Trial>> imported_trials =
        client::DecodeTrials(imported->trials());
    ASSERT_OK(imported_trials);
    ASSERT_EQ(imported_trials->size(), 1u);
    ExpectSameTrial((*imported_trials)[0], told->back());
    // Its journal is on the target's disk.
    EXPECT_TRUE(FileExists(JournalPath(target, "moved")));

    // Both go on in lockstep, to the end.
    const Session copy = Session::Attach(*to, "moved");
    std::vector<Trial> a = {told->back()}, b = *imported_trials;
    int steps = 0;
    while (true) {
      ASSERT_EQ(a.size(), 1u);
      ASSERT_EQ(b.size(), 1u);
      ExpectSameTrial(a[0], b[0]);
      if (HasFailure()) return;
      const Evaluation e = problem.objective(a[0].x, a[0].wants);
      absl::StatusOr<Answer> next_a = original->Tell(a[0].id, e);
      absl::StatusOr<Answer> next_b = copy.Tell(b[0].id, e);
      ASSERT_OK(next_a);
      ASSERT_OK(next_b);
      ++steps;
      ASSERT_EQ(next_a->finished(), next_b->finished());
      if (next_a->finished()) {
        EXPECT_SAME_BITS(next_a->summary->x, next_b->summary->x);
        EXPECT_EQ(next_a->summary->evaluations, next_b->summary->evaluations);
        EXPECT_EQ(next_a->summary->reason, next_b->summary->reason);
        break;
      }
      a = next_a->trials;
      b = next_b->trials;
    }
    EXPECT_GT(steps, 10);

    // Import refuses a layout it does not know, and an id in use.
    v1::SessionSnapshot future = *snapshot;
    future.set_format_version(2);
    EXPECT_THAT(to->ImportSession(future, "future"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("format_version is 2")));
    EXPECT_THAT(to->GetSession("future"),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
    EXPECT_THAT(to->ImportSession(*snapshot, "moved"),
                StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));

    // A server without --data_dir keeps no tells to export.
    absl::StatusOr<Client> in_memory = Connect(memory);
    ASSERT_OK(in_memory);
    options.session_id = "volatile";
    ASSERT_OK(
        Session::Create(*in_memory, {1.0, 2.0}, SolverSpec::Lbfgs(), options));
    EXPECT_THAT(in_memory->ExportSession("volatile"),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("--data_dir")));
    // It can still import (into memory).
    absl::StatusOr<v1::ImportSessionResponse> into_memory =
        in_memory->ImportSession(*snapshot);
    ASSERT_OK(into_memory);
    ASSERT_OK(client::DecodeTrials(into_memory->trials()));
    ExpectSameTrial(client::DecodeTrials(into_memory->trials())->at(0),
                    told->back());
  }
  for (OptdProcess* optd : {&source, &target, &memory}) {
    EXPECT_EQ(optd->Terminate(absl::Seconds(10)), std::optional<int>(0));
    if (HasFailure()) std::cerr << "--- optd log ---\n" << optd->Log();
  }
}

// Fork: a new session from a durable step of another (ForkSession).

// Steps an Adam solver of the library as a session would: tells `f` at each
// trial point, `tells` times. The reference a fork with other options must
// equal, computed without a server.
absl::Status StepLibraryAdam(Adam& adam, const Objective& f, int tells) {
  for (int i = 0; i < tells; ++i) {
    std::vector<double> x(adam.dimension());
    OPTD_RETURN_IF_ERROR(adam.ReadTrialPoint(
        MutableVectorView::Float64(x.data(), static_cast<int64_t>(x.size()))));
    const Evaluation e = f(x, Wants::kValueAndGradient);
    OPTD_RETURN_IF_ERROR(adam.SetTrialGradient(ConstVectorView::Float64(
        e.gradient.data(), static_cast<int64_t>(e.gradient.size()))));
    TrialResult result;
    result.value = *e.value;
    result.has_gradient = true;
    OPTD_RETURN_IF_ERROR(adam.Tell(result));
  }
  return absl::OkStatus();
}

std::vector<double> LibraryTrialPoint(const Adam& adam) {
  std::vector<double> x(adam.dimension());
  EXPECT_OK(adam.ReadTrialPoint(
      MutableVectorView::Float64(x.data(), static_cast<int64_t>(x.size()))));
  return x;
}

absl::StatusOr<std::vector<Trial>> ForkedTrials(
    const absl::StatusOr<v1::ForkSessionResponse>& forked) {
  if (!forked.ok()) return forked.status();
  return client::DecodeTrials(forked->trials());
}

TEST(DurabilityFork, ForksContinueBitwiseAsTheSourceDidFromTheirStep) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    const Problem problem = ExtendedRosenbrockLbfgs();
    SessionOptions options;
    options.session_id = "trunk";
    options.labels = {{"run", "a"}};
    absl::StatusOr<Session> trunk =
        Session::Create(*client, problem.x0, problem.solver, options);
    ASSERT_OK(trunk);
    // told[k] is the trial handed out after k tells.
    absl::StatusOr<std::vector<Trial>> told =
        TellSome(*trunk, trunk->first_trials(), problem.objective, 12);
    ASSERT_OK(told);

    // From step 5: the trial the trunk handed out after 5 tells, then, told
    // the same results, the trunk's next ones.
    v1::ForkSessionRequest request;
    request.set_session_id("trunk");
    request.set_step(5);
    request.set_new_session_id("branch");
    absl::StatusOr<v1::ForkSessionResponse> forked =
        client->ForkSession(request);
    ASSERT_OK(forked);
    EXPECT_EQ(forked->session_id(), "branch");
    EXPECT_EQ(forked->step(), 5);
    EXPECT_EQ(forked->state(), v1::SESSION_STATE_RUNNING);
    absl::StatusOr<std::vector<Trial>> branch_trials = ForkedTrials(forked);
    ASSERT_OK(branch_trials);
    ASSERT_EQ(branch_trials->size(), 1u);
    ExpectSameTrial((*branch_trials)[0], (*told)[5]);
    const Session branch = Session::Attach(*client, "branch");
    absl::StatusOr<std::vector<Trial>> branch_told =
        TellSome(branch, *branch_trials, problem.objective, 4);
    ASSERT_OK(branch_told);
    for (int k = 0; k <= 4; ++k) {
      ExpectSameTrial((*branch_told)[k], (*told)[5 + k]);
    }
    absl::StatusOr<v1::Session> described = client->GetSession("branch");
    ASSERT_OK(described);
    EXPECT_EQ(described->tells(), 9);
    EXPECT_EQ(described->labels().at("run"), "a");  // the source's labels

    // Without a step: the trunk's last one. Step 0: the trunk as created.
    request.clear_step();
    request.set_new_session_id("tip");
    forked = client->ForkSession(request);
    ASSERT_OK(forked);
    EXPECT_EQ(forked->step(), 12);
    ExpectSameTrial(ForkedTrials(forked)->at(0), (*told)[12]);
    request.set_step(0);
    request.set_new_session_id("root");
    request.mutable_overrides()->mutable_labels()->insert({"run", "b"});
    forked = client->ForkSession(request);
    ASSERT_OK(forked);
    ExpectSameTrial(ForkedTrials(forked)->at(0), (*told)[0]);
    described = client->GetSession("root");
    ASSERT_OK(described);
    EXPECT_EQ(described->labels().at("run"), "b");

    // The trunk is unchanged and goes on.
    described = client->GetSession("trunk");
    ASSERT_OK(described);
    EXPECT_EQ(described->tells(), 12);
    ASSERT_OK(TellSome(*trunk, {told->back()}, problem.objective, 1));

    // A fork is durable like any session: after kill -9 its pending trial
    // is the same, and it goes on as the trunk did.
    optd.Signal(SIGKILL);
    optd.Wait(absl::Seconds(10));
    ASSERT_OK(optd.Start());
    absl::StatusOr<Client> again = Connect(optd);
    ASSERT_OK(again);
    const Session recovered = Session::Attach(*again, "branch");
    absl::StatusOr<Answer> asked = recovered.Ask();
    ASSERT_OK(asked);
    ASSERT_EQ(asked->trials.size(), 1u);
    ExpectSameTrial(asked->trials[0], (*told)[9]);
    absl::StatusOr<std::vector<Trial>> after =
        TellSome(recovered, asked->trials, problem.objective, 2);
    ASSERT_OK(after);
    ExpectSameTrial(after->back(), (*told)[11]);
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

TEST(DurabilityFork, ChangedAdamOptionsTakeOverFromTheSourcesStateAtTheStep) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    const Problem problem = QuadraticAdam(/*steps=*/0);
    SessionOptions options;
    options.session_id = "adam-trunk";
    absl::StatusOr<Session> trunk =
        Session::Create(*client, problem.x0, problem.solver, options);
    ASSERT_OK(trunk);
    absl::StatusOr<std::vector<Trial>> told =
        TellSome(*trunk, trunk->first_trials(), problem.objective, 8);
    ASSERT_OK(told);

    // From step 3 with lr 0.2 and beta1 0.5 instead of 0.05 and 0.9.
    v1::ForkSessionRequest request;
    request.set_session_id("adam-trunk");
    request.set_step(3);
    request.set_new_session_id("adam-hot");
    request.mutable_overrides()->mutable_adam()->set_lr(0.2);
    request.mutable_overrides()->mutable_adam()->set_beta1(0.5);
    absl::StatusOr<std::vector<Trial>> hot_trials =
        ForkedTrials(client->ForkSession(request));
    ASSERT_OK(hot_trials);
    ASSERT_EQ(hot_trials->size(), 1u);
    ExpectSameTrial((*hot_trials)[0], (*told)[3]);
    const Session hot = Session::Attach(*client, "adam-hot");
    absl::StatusOr<std::vector<Trial>> hot_told =
        TellSome(hot, *hot_trials, problem.objective, 3);
    ASSERT_OK(hot_told);

    // The library: three steps with the trunk's options, its state saved,
    // restored into an Adam with the fork's, three more steps.
    AdamOptions original;
    original.lr = 0.05;
    absl::StatusOr<std::unique_ptr<Adam>> before = Adam::Create(
        original,
        ConstVectorView::Float64(problem.x0.data(),
                                 static_cast<int64_t>(problem.x0.size())));
    ASSERT_OK(before);
    ASSERT_OK(StepLibraryAdam(**before, problem.objective, 3));
    std::string state;
    ASSERT_OK((*before)->SaveState(&state));
    AdamOptions changed = original;
    changed.lr = 0.2;
    changed.hyper.beta1 = 0.5;
    absl::StatusOr<std::unique_ptr<Adam>> after = Adam::Create(
        changed,
        ConstVectorView::Float64(problem.x0.data(),
                                 static_cast<int64_t>(problem.x0.size())));
    ASSERT_OK(after);
    ASSERT_OK((*after)->RestoreState(state));
    for (int k = 0; k <= 3; ++k) {
      EXPECT_SAME_BITS((*hot_told)[k].x, LibraryTrialPoint(**after))
          << " step " << 3 + k;
      ASSERT_OK(StepLibraryAdam(**after, problem.objective, 1));
    }
    // And the options changed: the trunk went elsewhere.
    EXPECT_FALSE(SameBits((*hot_told)[3].x, (*told)[6].x));
    absl::StatusOr<v1::Session> described = client->GetSession("adam-hot");
    ASSERT_OK(described);
    EXPECT_EQ(described->adam().lr(), 0.2);
    EXPECT_EQ(described->adam().beta1(), 0.5);
    EXPECT_EQ(described->adam().beta2(), 0.999);  // kept
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

TEST(DurabilityFork, RefusalsNameTheProblemAndCreateNothing) {
  OptdProcess optd, memory;
  ASSERT_OK(optd.Start());
  ASSERT_OK(memory.Start({"--data_dir="}));
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    SessionOptions options;
    options.session_id = "lbfgs-src";
    const Problem lbfgs = ExtendedRosenbrockLbfgs();
    absl::StatusOr<Session> source =
        Session::Create(*client, lbfgs.x0, lbfgs.solver, options);
    ASSERT_OK(source);
    ASSERT_OK(TellSome(*source, source->first_trials(), lbfgs.objective, 3));
    const Problem adam = QuadraticAdam(/*steps=*/0);
    options.session_id = "adam-src";
    absl::StatusOr<Session> adam_source =
        Session::Create(*client, adam.x0, adam.solver, options);
    ASSERT_OK(adam_source);
    ASSERT_OK(
        TellSome(*adam_source, adam_source->first_trials(), adam.objective, 2));

    struct Case {
      std::string what;
      v1::ForkSessionRequest request;
      absl::StatusCode code;
      std::string message;
    };
    std::vector<Case> cases;
    auto add = [&](std::string what, const std::string& source_id,
                   absl::StatusCode code, std::string message,
                   const std::function<void(v1::ForkSessionRequest&)>& edit) {
      Case c{std::move(what), {}, code, std::move(message)};
      c.request.set_session_id(source_id);
      c.request.set_new_session_id("fork-x");
      edit(c.request);
      cases.push_back(std::move(c));
    };
    add("unknown source", "nobody", absl::StatusCode::kNotFound,
        "session \"nobody\" not found", [](auto&) {});
    add("step beyond the source", "lbfgs-src",
        absl::StatusCode::kInvalidArgument,
        "step is 4; session \"lbfgs-src\" can fork from steps [0, 3]",
        [](auto& r) { r.set_step(4); });
    add("negative step", "lbfgs-src", absl::StatusCode::kInvalidArgument,
        "step is -1; it must be >= 0", [](auto& r) { r.set_step(-1); });
    add("bad new id", "lbfgs-src", absl::StatusCode::kInvalidArgument,
        "new_session_id", [](auto& r) { r.set_new_session_id("Bad Id!"); });
    add("id in use", "lbfgs-src", absl::StatusCode::kAlreadyExists, "adam-src",
        [](auto& r) { r.set_new_session_id("adam-src"); });
    add("a field a fork cannot change", "lbfgs-src",
        absl::StatusCode::kInvalidArgument,
        "overrides.bounds cannot change in a fork",
        [](auto& r) { r.mutable_overrides()->mutable_bounds(); });
    add("another solver", "adam-src", absl::StatusCode::kInvalidArgument,
        "switching session \"adam-src\" from adam to sgd is not supported; "
        "a switch carries state from the first-order family",
        [](auto& r) { r.mutable_overrides()->mutable_sgd()->set_lr(0.1); });
    add("options of a solver that replays", "lbfgs-src",
        absl::StatusCode::kInvalidArgument,
        "overrides.lbfgs: lbfgs sessions fork with their own options",
        [](auto& r) { r.mutable_overrides()->mutable_lbfgs()->set_memory(3); });
    add("an option out of range", "adam-src",
        absl::StatusCode::kInvalidArgument,
        "the fork's options (overrides.adam over the source's) are refused",
        [](auto& r) { r.mutable_overrides()->mutable_adam()->set_lr(-1.0); });
    add("a change of the state's layout", "adam-src",
        absl::StatusCode::kInvalidArgument,
        "the fork's options (overrides.adam over the source's) are refused",
        [](auto& r) {
          r.mutable_overrides()->mutable_adam()->set_amsgrad(true);
        });
    for (const Case& c : cases) {
      EXPECT_THAT(client->ForkSession(c.request),
                  StatusIs(c.code, HasSubstr(c.message)))
          << c.what;
    }
    // Nothing was created, and the sources are as they were.
    EXPECT_THAT(client->GetSession("fork-x"),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
    absl::StatusOr<v1::Session> described = client->GetSession("lbfgs-src");
    ASSERT_OK(described);
    EXPECT_EQ(described->tells(), 3);
    described = client->GetSession("adam-src");
    ASSERT_OK(described);
    EXPECT_EQ(described->tells(), 2);
    EXPECT_EQ(described->adam().lr(), 0.05);

    // A server without --data_dir keeps no tells to fork from.
    absl::StatusOr<Client> in_memory = Connect(memory);
    ASSERT_OK(in_memory);
    options.session_id = "volatile";
    ASSERT_OK(
        Session::Create(*in_memory, {1.0, 2.0}, SolverSpec::Lbfgs(), options));
    v1::ForkSessionRequest request;
    request.set_session_id("volatile");
    EXPECT_THAT(in_memory->ForkSession(request),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("--data_dir")));
  }
  for (OptdProcess* p : {&optd, &memory}) {
    EXPECT_EQ(p->Terminate(absl::Seconds(10)), std::optional<int>(0));
    if (HasFailure()) std::cerr << "--- optd log ---\n" << p->Log();
  }
}

// ---------------------------------------------------------------------------
// 5. TTL and deletion

TEST(DurabilityTtl, IdleSessionExpiresWithItsJournal) {
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    auto create = [&](const std::string& id, double ttl) {
      v1::CreateSessionRequest request =
          client::MakeCreateSessionRequest({-1.2, 1.0}, SolverSpec::Lbfgs());
      request.set_session_id(id);
      request.set_ttl_seconds(ttl);
      return Session::Create(*client, request);
    };
    absl::StatusOr<Session> idle = create("idle", 1);
    ASSERT_OK(idle);
    const absl::Time created = absl::Now();
    absl::StatusOr<Session> busy = create("busy", 1);
    ASSERT_OK(busy);
    absl::StatusOr<Session> lasting = create("lasting", 0);
    ASSERT_OK(lasting);
    absl::StatusOr<v1::Session> described = idle->Get();
    ASSERT_OK(described);
    EXPECT_EQ(described->ttl_seconds(), 1);
    described = lasting->Get();
    ASSERT_OK(described);
    EXPECT_EQ(described->ttl_seconds(), 7 * 24 * 3600);  // the server's
    const std::string idle_path = JournalPath(optd, "idle");
    ASSERT_TRUE(FileExists(idle_path));

    // GetSession does not count as activity; Ask does.
    absl::Time gone = absl::InfiniteFuture();
    while (absl::Now() < created + absl::Seconds(5)) {
      absl::StatusOr<v1::Session> s = idle->Get();
      if (absl::IsNotFound(s.status())) {
        gone = absl::Now();
        break;
      }
      ASSERT_OK(s);
      ASSERT_OK(busy->Ask());
      absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_NE(gone, absl::InfiniteFuture()) << "idle session never expired";
    // (The server's idle clock started a little before `created`.)
    EXPECT_GT(gone - created, absl::Milliseconds(900));
    EXPECT_LT(gone - created, absl::Seconds(3.5));
    EXPECT_FALSE(FileExists(idle_path));
    EXPECT_THAT(idle->Ask(),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
    EXPECT_THAT(optd.Log(), HasSubstr("\"idle\" expired"));
    // Asked every 100 ms, the busy one lives on; so does one on the default.
    EXPECT_OK(busy->Get());
    EXPECT_OK(lasting->Get());

    // DeleteSession removes the journal at once.
    const std::string lasting_path = JournalPath(optd, "lasting");
    ASSERT_TRUE(FileExists(lasting_path));
    ASSERT_OK(lasting->Delete());
    EXPECT_FALSE(FileExists(lasting_path));
    EXPECT_THAT(lasting->Get(),
                StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  }
  // Nothing comes back after a restart.
  ASSERT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  ASSERT_OK(optd.Start());
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    absl::StatusOr<std::vector<v1::Session>> sessions = client->ListSessions();
    ASSERT_OK(sessions);
    ASSERT_EQ(sessions->size(), 1u);
    EXPECT_EQ((*sessions)[0].session_id(), "busy");
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

// ---------------------------------------------------------------------------
// 6. Restarts between tells

// What must survive a restart unchanged.
void ExpectSameSession(const v1::Session& before, const v1::Session& after) {
  EXPECT_EQ(after.state(), before.state());
  EXPECT_EQ(after.tells(), before.tells());
  EXPECT_EQ(after.evaluations(), before.evaluations());
  EXPECT_EQ(after.iterations(), before.iterations());
  EXPECT_EQ(after.durable_step(), before.durable_step());
  EXPECT_EQ(after.best_value(), before.best_value());
  EXPECT_SAME_BITS(Decoded(after.best_x()), Decoded(before.best_x()));
  EXPECT_THAT(after.pending_trial_ids(),
              ::testing::ElementsAreArray(before.pending_trial_ids()));
  EXPECT_EQ(after.create_time().seconds(), before.create_time().seconds());
  EXPECT_EQ(after.update_time().seconds(), before.update_time().seconds());
  EXPECT_EQ(after.update_time().nanos(), before.update_time().nanos());
  EXPECT_EQ(after.history_size(), before.history_size());
}

TEST(DurabilityRestart, SigtermAndKillNineResumeExactly) {
  const Problem lbfgs = ExtendedRosenbrockLbfgs();
  const Problem adam = QuadraticAdam(/*steps=*/40);
  Problem rosenbrock2;
  rosenbrock2.x0 = {-1.2, 1.0};
  rosenbrock2.objective = Rosenbrock;
  OptdProcess optd;
  ASSERT_OK(optd.Start());
  Reference lbfgs_ref, adam_ref, batched_ref;
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    absl::StatusOr<Reference> r = RunReference(*client, "ref-lbfgs", lbfgs);
    ASSERT_OK(r);
    lbfgs_ref = *std::move(r);
    r = RunReference(*client, "ref-adam", adam);
    ASSERT_OK(r);
    adam_ref = *std::move(r);
    r = RunReference(*client, "ref-batched", rosenbrock2);
    ASSERT_OK(r);
    batched_ref = *std::move(r);
  }

  struct Live {
    const Problem* problem;
    const Reference* ref;
    std::string id;
    Trial outstanding;
    v1::Session before;
  };
  std::vector<Live> live = {{&lbfgs, &lbfgs_ref, "lbfgs", {}, {}},
                            {&adam, &adam_ref, "adam", {}, {}}};
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    for (Live& l : live) {
      SessionOptions options;
      options.session_id = l.id;
      absl::StatusOr<Session> s =
          Session::Create(*client, l.problem->x0, l.problem->solver, options);
      ASSERT_OK(s);
      absl::StatusOr<std::vector<Trial>> trials =
          TellSome(*s, s->first_trials(), l.problem->objective, 10);
      ASSERT_OK(trials);
      l.outstanding = trials->back();
    }
    // A session that syncs every 4 tells: after 7, at least 4 are durable
    // (a sync covers whatever was written by then); a clean shutdown syncs
    // the rest.
    v1::CreateSessionRequest request =
        client::MakeCreateSessionRequest(rosenbrock2.x0, rosenbrock2.solver);
    request.set_session_id("batched");
    request.mutable_durability()->set_checkpoint_interval(4);
    absl::StatusOr<Session> batched = Session::Create(*client, request);
    ASSERT_OK(batched);
    absl::StatusOr<std::vector<Trial>> trials =
        TellSome(*batched, batched->first_trials(), Rosenbrock, 7);
    ASSERT_OK(trials);
    for (const Trial& t : *trials)
      ExpectSameTrial(t, batched_ref.trials.at(t.id));
    // Answers do not wait for the sync: give it a moment.
    absl::StatusOr<v1::Session> s = batched->Get();
    for (int i = 0; i < 100 && s.ok() && s->durable_step() < 4; ++i) {
      absl::SleepFor(absl::Milliseconds(20));
      s = batched->Get();
    }
    ASSERT_OK(s);
    EXPECT_EQ(s->tells(), 7);
    EXPECT_EQ(s->durability().checkpoint_interval(), 4);
    EXPECT_GE(s->durable_step(), 4);
    EXPECT_LE(s->durable_step(), 7);
  }

  int64_t batched_durable = 0;
  for (const int signal : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(signal == SIGTERM ? "SIGTERM" : "SIGKILL");
    {
      absl::StatusOr<Client> client = Connect(optd);
      ASSERT_OK(client);
      for (Live& l : live) {
        absl::StatusOr<v1::Session> s =
            client->GetSession(l.id, /*include_x=*/true);
        ASSERT_OK(s);
        EXPECT_EQ(s->durable_step(), s->tells());
        l.before = *std::move(s);
      }
    }
    optd.Signal(signal);
    ASSERT_EQ(optd.Wait(absl::Seconds(10)),
              std::optional<int>(signal == SIGTERM ? 0 : 128 + SIGKILL));
    ASSERT_OK(optd.Start());
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    if (signal == SIGTERM) {
      // Everything synced at shutdown.
      absl::StatusOr<v1::Session> s = client->GetSession("batched");
      ASSERT_OK(s);
      EXPECT_EQ(s->tells(), 7);
      EXPECT_EQ(s->durable_step(), 7);
      EXPECT_THAT(s->pending_trial_ids(), ::testing::ElementsAre(8u));
      // Two more, then kill -9 below.
      const Session batched = Session::Attach(*client, "batched");
      absl::StatusOr<Answer> asked = batched.Ask();
      ASSERT_OK(asked);
      ASSERT_EQ(asked->trials.size(), 1u);
      ExpectSameTrial(asked->trials[0], batched_ref.trials.at(8));
      ASSERT_OK(TellSome(batched, asked->trials, Rosenbrock, 2));
      s = batched.Get();
      ASSERT_OK(s);
      EXPECT_EQ(s->tells(), 9);
      batched_durable = s->durable_step();
      EXPECT_GE(batched_durable, 7);
    } else {
      // Resumes from a point at or after its last durable tell, handing the
      // trials after it out again with the same ids and points.
      absl::StatusOr<v1::Session> s = client->GetSession("batched");
      ASSERT_OK(s);
      EXPECT_GE(s->tells(), batched_durable);
      EXPECT_LE(s->tells(), 9);
      EXPECT_EQ(s->durable_step(), s->tells());
      const uint64_t next = static_cast<uint64_t>(s->tells()) + 1;
      EXPECT_THAT(s->pending_trial_ids(), ::testing::ElementsAre(next));
      absl::StatusOr<Answer> asked = Session::Attach(*client, "batched").Ask();
      ASSERT_OK(asked);
      ASSERT_EQ(asked->trials.size(), 1u);
      ExpectSameTrial(asked->trials[0], batched_ref.trials.at(next));
    }
    for (Live& l : live) {
      SCOPED_TRACE(l.id);
      absl::StatusOr<v1::Session> after =
          client->GetSession(l.id, /*include_x=*/true);
      ASSERT_OK(after);
      ExpectSameSession(l.before, *after);
      const Session session = Session::Attach(*client, l.id);
      absl::StatusOr<Answer> asked = session.Ask();
      ASSERT_OK(asked);
      ASSERT_EQ(asked->trials.size(), 1u);
      ExpectSameTrial(asked->trials[0], l.outstanding);
      ExpectSameTrial(asked->trials[0], l.ref->trials.at(l.outstanding.id));
      // Ten more tells, matching the uninterrupted run.
      absl::StatusOr<std::vector<Trial>> trials =
          TellSome(session, asked->trials, l.problem->objective, 10);
      ASSERT_OK(trials);
      for (const Trial& t : *trials) ExpectSameTrial(t, l.ref->trials.at(t.id));
      l.outstanding = trials->back();
    }
  }

  // And to the end, as the uninterrupted run ended.
  {
    absl::StatusOr<Client> client = Connect(optd);
    ASSERT_OK(client);
    for (Live& l : live) {
      SCOPED_TRACE(l.id);
      absl::StatusOr<Result> result =
          RunUnary(Session::Attach(*client, l.id), l.problem->objective);
      ASSERT_OK(result);
      EXPECT_SAME_BITS(result->x, l.ref->result.x);
      EXPECT_EQ(result->evaluations, l.ref->result.evaluations);
      EXPECT_EQ(result->iterations, l.ref->result.iterations);
    }
    absl::StatusOr<Result> result =
        RunUnary(Session::Attach(*client, "batched"), Rosenbrock);
    ASSERT_OK(result);
    EXPECT_SAME_BITS(result->x, batched_ref.result.x);
    EXPECT_EQ(result->evaluations, batched_ref.result.evaluations);
  }
  EXPECT_EQ(optd.Terminate(absl::Seconds(10)), std::optional<int>(0));
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd.Log();
}

}  // namespace
}  // namespace optd::testing
