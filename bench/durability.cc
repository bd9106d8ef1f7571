// bench/durability: what per-tell durability (--data_dir: every tell on disk,
// fdatasync'ed, before its answer leaves — through the shared write-ahead log
// for sessions up to --wal_max_dimension, such as n = 10; through the
// session's own journal for larger ones, such as n = 10^6) costs,
// measured against the same optd keeping sessions in memory (--data_dir=)
// and against the disk's own fdatasync, all in one run on one disk (ratios,
// not absolute times: the machines these run on are shared and noisy).
//
// Everything lives in a fresh temporary directory under --dir (default: the
// current directory, so that it measures the disk the user runs it on),
// removed at the end. It starts two optd child processes on 127.0.0.1, each
// on a port it picks (--port=0 --port_file): one with
// --data_dir=<tmp>/durable (sessions up to --durable_tell_max_dimension,
// default 2^20, make every tell durable; checked through GetSession), one
// with --data_dir= (memory only). Through the C++ client (client/session.h,
// unary Tell) it measures:
//   fsync     one fdatasync after appending 200 bytes to a small file in the
//             same directory (what a tell record of n = 10 costs the disk),
//             timed between the steps below, in turn with them, so that it
//             sees the machine in the state the server's fsyncs see. (The
//             same probe on an otherwise idle machine is printed too, as
//             fsync_idle_p50_us: on some virtual machines an fsync that
//             finds every CPU idle completes only at the next timer tick,
//             e.g. 4 ms instead of 0.2 ms.)
//   step      one Tell round trip of an Adam session (float64, n = 10): the
//             value and gradient at the trial in, the next trial out;
//             --samples per server after 100 warm-up steps, the servers (and
//             the fsync probe) taking turns so that noise hits all alike
//   step1e6   the same with n = 10^6 (8 MB each way; the durable server
//             journals and syncs 8 MB per tell); --samples_1e6 per server
//   steps/s   --sessions (64) client threads, each with its own session, its
//             own channel and its own TCP connection (as 64 training workers
//             in separate processes would have), n = 10, each telling as
//             soon as its answer comes; counted for --seconds per server,
//             one server at a time in two halves (memory, durable, durable,
//             memory), each after --warmup_seconds. Also printed: CPU
//             microseconds per step of the server and of this client, the
//             machine's idle CPU share, and the disk's write and flush
//             requests per step (from /sys/dev/block; flushes per step
//             below 1 means concurrent fsyncs shared a cache flush).
// Targets: a durable step costs at most the in-memory step plus 1.5 fsyncs
// (step_cost_fsyncs = (durable_p50_us - mem_p50_us) / fsync_p50_us <= 1.5),
// and 64 concurrent sessions keep at least half the in-memory throughput
// (throughput_ratio_64 = durable / mem >= 0.5). Last line:
//   fsync_p50_us=.. mem_p50_us=.. durable_p50_us=.. mem_p50_us_1e6=..
//   durable_p50_us_1e6=.. mem_steps_s_64=.. durable_steps_s_64=..
//   step_cost_fsyncs=.. throughput_ratio_64=.. step_cost_target=pass|fail
//   throughput_target=pass|fail fsync_idle_p50_us=..
// The exit status is 0 whether or not the targets are met (1 when the
// measurement itself fails). About 25 s with the defaults.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/fleet.h"
#include "client/client.h"
#include "client/session.h"
#include "grpcpp/grpcpp.h"

#ifndef OPTD_BINARY
#define OPTD_BINARY "optd"
#endif

ABSL_FLAG(std::string, optd, OPTD_BINARY,
          "Path of the optd binary to benchmark.");
ABSL_FLAG(std::string, dir, ".",
          "Parent of the temporary directory holding the data directories "
          "(the disk measured).");
ABSL_FLAG(int, fsync_samples, 300,
          "fdatasyncs timed on the idle machine (fsync_idle_p50_us); "
          "fsync_p50_us takes --samples, between the n = 10 steps.");
ABSL_FLAG(int, samples, 300, "Round trips measured per server, n = 10.");
ABSL_FLAG(int, samples_1e6, 30, "Round trips measured per server, n = 10^6.");
ABSL_FLAG(int, sessions, 64, "Concurrent sessions (client threads).");
ABSL_FLAG(double, seconds, 3.0,
          "Throughput measurement time per server (in two halves).");
ABSL_FLAG(double, warmup_seconds, 0.5,
          "Throughput warm-up per server before --seconds.");

namespace {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;
using Clock = std::chrono::steady_clock;

using ::optd::bench::Fail;
using ::optd::bench::Micros;
using ::optd::bench::Percentile;
using ::optd::bench::SpawnOptd;
using ::optd::bench::StopOptd;
using ::optd::bench::TempDir;

// ---------------------------------------------------------------------------
// The disk.

// A small file in the measured directory; Sample() appends 200 bytes (about
// a tell record of n = 10) and times the fdatasync that follows.
class FsyncProbe {
 public:
  explicit FsyncProbe(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd_ < 0)
      Fail(absl::StrCat("cannot create ", path_, ": ", strerror(errno)));
  }
  ~FsyncProbe() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }

  double Sample() {
    if (::write(fd_, record_.data(), record_.size()) !=
        static_cast<ssize_t>(record_.size())) {
      Fail(absl::StrCat("cannot write ", path_, ": ", strerror(errno)));
    }
    const auto t0 = Clock::now();
    if (::fdatasync(fd_) != 0) {
      Fail(absl::StrCat("cannot fdatasync ", path_, ": ", strerror(errno)));
    }
    return Micros(Clock::now() - t0);
  }

 private:
  const std::string path_;
  const std::string record_ = std::string(200, 'r');
  int fd_ = -1;
};

// fdatasyncs per second from `threads` threads, each appending 200 bytes to
// and syncing its own file, for `seconds`.
double FsyncRate(const std::string& dir, int threads, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> syncs{0};
  std::vector<std::thread> workers;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string path = absl::StrCat(dir, "/fsync-rate-", t);
      const int fd =
          ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
      if (fd < 0) return;
      const std::string record(200, 'r');
      int64_t count = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (::write(fd, record.data(), record.size()) < 0) break;
        if (::fdatasync(fd) != 0) break;
        ++count;
      }
      ::close(fd);
      ::unlink(path.c_str());
      syncs += count;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& w : workers) w.join();
  return syncs.load() /
         std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------------------
// Sessions.

absl::StatusOr<oc::Client> TryConnect(int port, bool own_connection) {
  oc::ClientOptions options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // Channels with equal arguments share one TCP connection (gRPC's global
  // subchannel pool); a local pool gives this channel its own.
  if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                 std::chrono::seconds(10))) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to 127.0.0.1:", port));
  }
  return oc::Client::FromChannel(std::move(channel), options);
}

oc::Client Connect(int port) {
  absl::StatusOr<oc::Client> client = TryConnect(port, false);
  if (!client.ok()) Fail(client.status().ToString());
  return *std::move(client);
}

// One Adam (float64) session stepped by f(x) = |x|^2 / 2, g = x: every tell
// carries the value and the gradient at the trial and is one Adam step.
class Stepper {
 public:
  static absl::StatusOr<Stepper> Open(const oc::Client& client, int64_t n) {
    std::vector<double> x0(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x0[i] = 1.0 + 1e-3 * (i % 1000);
    absl::StatusOr<oc::Session> session =
        oc::Session::Create(client, x0, oc::SolverSpec::Adam());
    if (!session.ok()) return session.status();
    if (session->first_trials().empty()) {
      return absl::InternalError("CreateSession returned no trial");
    }
    const oc::Trial& first = session->first_trials().front();
    return Stepper(*std::move(session), first.id, first.x);
  }

  // One Tell; returns its round trip in microseconds.
  absl::StatusOr<double> Step() {
    double f = 0;
    for (size_t i = 0; i < x_.size(); ++i) f += 0.5 * x_[i] * x_[i];
    const auto t0 = Clock::now();
    absl::StatusOr<oc::Answer> answer = session_.Tell(trial_, f, x_);
    const double us = Micros(Clock::now() - t0);
    if (!answer.ok()) return answer.status();
    if (answer->trials.size() != 1 || answer->trials[0].x.size() != x_.size()) {
      return absl::InternalError("Tell did not answer with one next trial");
    }
    trial_ = answer->trials[0].id;
    x_ = std::move(answer->trials[0].x);
    return us;
  }

  const oc::Session& session() const { return session_; }

 private:
  Stepper(oc::Session session, uint64_t trial, std::vector<double> x)
      : session_(std::move(session)), trial_(trial), x_(std::move(x)) {}

  oc::Session session_;
  uint64_t trial_;
  std::vector<double> x_;
};

Stepper OpenOrFail(const oc::Client& client, int64_t n, const char* server) {
  absl::StatusOr<Stepper> stepper = Stepper::Open(client, n);
  if (!stepper.ok()) {
    Fail(absl::StrCat("CreateSession (", server, ", n = ", n,
                      "): ", stepper.status().ToString()));
  }
  return *std::move(stepper);
}

double StepOrFail(Stepper& stepper, const char* server) {
  absl::StatusOr<double> us = stepper.Step();
  if (!us.ok()) {
    Fail(absl::StrCat("Tell (", server, "): ", us.status().ToString()));
  }
  return *us;
}

// Checks that the durable server really synced every tell of `stepper`'s
// session (per-tell durability in force) and that the memory one did not.
void CheckDurability(const Stepper& stepper, bool durable, int64_t n) {
  absl::StatusOr<v1::Session> got = stepper.session().Get();
  if (!got.ok()) Fail(absl::StrCat("GetSession: ", got.status().ToString()));
  if (durable && (got->durability().checkpoint_interval() != 0 ||
                  got->durable_step() != got->tells())) {
    Fail(absl::StrCat("n = ", n,
                      ": the durable server's session has "
                      "checkpoint_interval ",
                      got->durability().checkpoint_interval(), ", ",
                      got->durable_step(), " of ", got->tells(),
                      " tells durable; per-tell durability is not in force"));
  }
  if (!durable && got->durable_step() != 0) {
    Fail("the memory server reports durable tells");
  }
}

struct Latency {
  double mem_p50 = 0, durable_p50 = 0, mem_p90 = 0, durable_p90 = 0;
  // The fsync probe, interleaved with the steps (when asked for).
  double fsync_p50 = 0, fsync_p90 = 0;
};

// Round trips of one session per server and, with `probe`, one probe
// fdatasync per round: the three take turns in a rotating order so that
// noise (and the state the machine is in) hits all of them alike.
Latency MeasureSteps(const oc::Client& mem, const oc::Client& durable,
                     int64_t n, int warmup, int samples, FsyncProbe* probe) {
  Stepper m = OpenOrFail(mem, n, "memory");
  Stepper d = OpenOrFail(durable, n, "durable");
  std::vector<double> ms, ds, fs;
  for (int i = 0; i < warmup + samples; ++i) {
    double mu = 0, du = 0, fu = 0;
    for (int k = 0; k < 3; ++k) {
      switch ((i + k) % 3) {
        case 0:
          mu = StepOrFail(m, "memory");
          break;
        case 1:
          du = StepOrFail(d, "durable");
          break;
        case 2:
          if (probe != nullptr) fu = probe->Sample();
          break;
      }
    }
    if (i >= warmup) {
      ms.push_back(mu);
      ds.push_back(du);
      fs.push_back(fu);
    }
  }
  CheckDurability(m, false, n);
  CheckDurability(d, true, n);
  (void)m.session().Delete();
  (void)d.session().Delete();
  return {Percentile(ms, 0.5), Percentile(ds, 0.5), Percentile(ms, 0.9),
          Percentile(ds, 0.9), Percentile(fs, 0.5), Percentile(fs, 0.9)};
}

// CPU seconds (user + system) used so far by process `pid`.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  // Fields 3.. after "pid (comm) "; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / sysconf(_SC_CLK_TCK);
}

// Jiffies of all CPUs: idle (idle + iowait) and total, from /proc/stat.
std::pair<double, double> SystemJiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double value, idle = 0, total = 0;
  for (int i = 0; i < 8 && in >> value; ++i) {
    total += value;
    if (i == 3 || i == 4) idle += value;
  }
  return {idle, total};
}

// Write requests and flush requests completed so far by the block device
// holding `dir` (/sys/dev/block/MAJ:MIN/stat, fields 5 and 16); -1 if
// unknown. Other processes' I/O on the same disk counts too.
std::pair<double, double> DiskRequests(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return {-1, -1};
  std::ifstream in(absl::StrCat("/sys/dev/block/", major(st.st_dev), ":",
                                minor(st.st_dev), "/stat"));
  std::vector<double> fields;
  double value;
  while (in >> value) fields.push_back(value);
  return {fields.size() >= 5 ? fields[4] : -1,
          fields.size() >= 16 ? fields[15] : -1};
}

struct Throughput {
  double steps_s = 0;
  // Block-device write and flush requests per step (-1: unknown).
  double writes_per_step = -1, flushes_per_step = -1;
  // CPU microseconds per step of the server and of this client process, and
  // the share of the machine's CPU time left idle, over the measured window.
  double server_cpu_us = 0, client_cpu_us = 0, idle_share = 0;
};

// Steps per second of `sessions` concurrent n = 10 sessions, one thread and
// one connection each.
Throughput MeasureThroughput(int port, pid_t server, int sessions,
                             double warmup, double seconds) {
  struct alignas(64) Counter {
    std::atomic<int64_t> steps{0};
  };
  std::vector<Counter> counters(static_cast<size_t>(sessions));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false};
  std::mutex error_mu;
  std::string error;
  std::vector<std::thread> threads;
  for (int t = 0; t < sessions; ++t) {
    threads.emplace_back([&, t] {
      auto fail = [&](const std::string& what) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (error.empty()) error = what;
      };
      absl::StatusOr<oc::Client> client =
          TryConnect(port, /*own_connection=*/true);
      absl::StatusOr<Stepper> stepper =
          client.ok() ? Stepper::Open(*client, 10)
                      : absl::StatusOr<Stepper>(client.status());
      ready++;
      if (!stepper.ok()) return fail(stepper.status().ToString());
      while (!go.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      while (!stop.load(std::memory_order_relaxed)) {
        absl::StatusOr<double> us = stepper->Step();
        if (!us.ok()) return fail(us.status().ToString());
        counters[t].steps.fetch_add(1, std::memory_order_relaxed);
      }
      (void)stepper->session().Delete();
    });
  }
  while (ready.load() < sessions) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto total = [&] {
    int64_t sum = 0;
    for (const Counter& c : counters) sum += c.steps.load();
    return sum;
  };
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  const int64_t start_steps = total();
  const double server_cpu0 = ProcessCpuSeconds(server);
  const double client_cpu0 = ProcessCpuSeconds(getpid());
  const auto jiffies0 = SystemJiffies();
  const auto disk0 = DiskRequests(TempDir());
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const int64_t end_steps = total();
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - t0).count();
  const double server_cpu = ProcessCpuSeconds(server) - server_cpu0;
  const double client_cpu = ProcessCpuSeconds(getpid()) - client_cpu0;
  const auto jiffies = SystemJiffies();
  const auto disk = DiskRequests(TempDir());
  stop = true;
  for (std::thread& thread : threads) thread.join();
  if (!error.empty()) Fail(absl::StrCat("throughput run: ", error));
  const double steps = std::max<double>(1, end_steps - start_steps);
  Throughput result;
  result.steps_s = steps / elapsed;
  result.server_cpu_us = 1e6 * server_cpu / steps;
  result.client_cpu_us = 1e6 * client_cpu / steps;
  const double total_jiffies = jiffies.second - jiffies0.second;
  result.idle_share =
      total_jiffies > 0 ? (jiffies.first - jiffies0.first) / total_jiffies : 0;
  if (disk0.first >= 0 && disk.first >= 0) {
    result.writes_per_step = (disk.first - disk0.first) / steps;
  }
  if (disk0.second >= 0 && disk.second >= 0) {
    result.flushes_per_step = (disk.second - disk0.second) / steps;
  }
  return result;
}

// Two equally long runs as one.
Throughput Mean(const Throughput& a, const Throughput& b) {
  const double wa = a.steps_s / (a.steps_s + b.steps_s), wb = 1 - wa;
  auto per_step = [&](double x, double y) {
    return x < 0 || y < 0 ? -1 : wa * x + wb * y;
  };
  Throughput m;
  m.steps_s = (a.steps_s + b.steps_s) / 2;
  m.writes_per_step = per_step(a.writes_per_step, b.writes_per_step);
  m.flushes_per_step = per_step(a.flushes_per_step, b.flushes_per_step);
  m.server_cpu_us = per_step(a.server_cpu_us, b.server_cpu_us);
  m.client_cpu_us = per_step(a.client_cpu_us, b.client_cpu_us);
  m.idle_share = (a.idle_share + b.idle_share) / 2;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows when piped
  if (absl::GetFlag(FLAGS_fsync_samples) < 1 ||
      absl::GetFlag(FLAGS_samples) < 1 ||
      absl::GetFlag(FLAGS_samples_1e6) < 1 ||
      absl::GetFlag(FLAGS_sessions) < 1 ||
      !(absl::GetFlag(FLAGS_seconds) > 0) ||
      !(absl::GetFlag(FLAGS_warmup_seconds) >= 0)) {
    std::fprintf(stderr,
                 "durability: --fsync_samples, --samples, --samples_1e6, "
                 "--sessions and --seconds must be positive\n");
    return 2;
  }
  optd::bench::InitFleet("durability", absl::GetFlag(FLAGS_optd),
                         absl::GetFlag(FLAGS_dir));
  const std::string temp_dir = TempDir();
  std::printf("measuring in %s\n", temp_dir.c_str());

  // The disk alone, before any server runs: one thread syncing (see the
  // header: on some virtual machines this reads far above fsync_p50_us), and
  // fdatasyncs per second from 1 thread and from 8 threads on 8 files.
  double idle_p50, idle_p90;
  {
    FsyncProbe probe(temp_dir + "/fsync-idle");
    std::vector<double> idle;
    for (int i = 0; i < 20; ++i) probe.Sample();
    for (int i = 0; i < absl::GetFlag(FLAGS_fsync_samples); ++i) {
      idle.push_back(probe.Sample());
    }
    idle_p50 = Percentile(idle, 0.5);
    idle_p90 = Percentile(idle, 0.9);
  }
  const double rate1 = FsyncRate(temp_dir, 1, 0.5);
  const double rate8 = FsyncRate(temp_dir, 8, 0.5);
  std::printf(
      "disk alone, fdatasync after a 200-byte append: p50 %.1f us, p90 %.1f "
      "us; %.0f/s from 1 thread, %.0f/s from 8 threads on 8 files (x%.1f)\n",
      idle_p50, idle_p90, rate1, rate8, rate8 / rate1);

  pid_t mem_pid = -1, durable_pid = -1;
  const int mem_port = SpawnOptd("memory", {"--data_dir="}, &mem_pid);
  const int durable_port = SpawnOptd(
      "durable", {"--data_dir=" + temp_dir + "/durable"}, &durable_pid);
  // Reset before the servers are stopped: an idle connected client holds
  // optd's SIGTERM drain for up to 5 s.
  std::optional<oc::Client> mem(Connect(mem_port));
  std::optional<oc::Client> durable(Connect(durable_port));

  // fsync_p50_us: the probe interleaved with the n = 10 steps, so that it
  // sees the machine in the state the durable server's fsyncs see.
  Latency small;
  {
    FsyncProbe probe(temp_dir + "/fsync-probe");
    small = MeasureSteps(*mem, *durable, 10, 100, absl::GetFlag(FLAGS_samples),
                         &probe);
  }
  std::printf(
      "n=10 Adam step round trip: memory p50 %.1f us (p90 %.1f), durable p50 "
      "%.1f us (p90 %.1f); fdatasync probe between them p50 %.1f us (p90 "
      "%.1f)\n",
      small.mem_p50, small.mem_p90, small.durable_p50, small.durable_p90,
      small.fsync_p50, small.fsync_p90);
  const Latency large = MeasureSteps(*mem, *durable, 1'000'000, 3,
                                     absl::GetFlag(FLAGS_samples_1e6), nullptr);
  std::printf(
      "n=10^6 Adam step round trip: memory p50 %.1f us (p90 %.1f), durable "
      "p50 %.1f us (p90 %.1f)\n",
      large.mem_p50, large.mem_p90, large.durable_p50, large.durable_p90);

  const int sessions = absl::GetFlag(FLAGS_sessions);
  const double warmup = absl::GetFlag(FLAGS_warmup_seconds);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  // Two halves in the order memory, durable, durable, memory, so that a
  // drift in the machine's load hits both alike.
  const Throughput mem_a =
      MeasureThroughput(mem_port, mem_pid, sessions, warmup, seconds / 2);
  const Throughput durable_a = MeasureThroughput(durable_port, durable_pid,
                                                 sessions, warmup, seconds / 2);
  const Throughput durable_b = MeasureThroughput(durable_port, durable_pid,
                                                 sessions, warmup, seconds / 2);
  const Throughput mem_b =
      MeasureThroughput(mem_port, mem_pid, sessions, warmup, seconds / 2);
  const Throughput mem_rate = Mean(mem_a, mem_b);
  const Throughput durable_rate = Mean(durable_a, durable_b);
  for (const auto& [name, t] :
       {std::pair<const char*, const Throughput&>{"memory", mem_rate},
        {"durable", durable_rate}}) {
    std::printf(
        "%d concurrent n=10 sessions (one thread and connection each), %s: "
        "%.0f steps/s; CPU per step: server %.1f us, client %.1f us; CPU "
        "idle %.0f%%; disk requests per step: %.2f writes, %.2f flushes\n",
        sessions, name, t.steps_s, t.server_cpu_us, t.client_cpu_us,
        100 * t.idle_share, t.writes_per_step, t.flushes_per_step);
  }

  mem.reset();
  durable.reset();
  // SIGTERM; a server that drains slowly (--shutdown_grace_seconds) shows.
  for (const auto& [name, pid] :
       {std::pair<const char*, pid_t>{"durable", durable_pid},
        {"memory", mem_pid}}) {
    const auto t0 = Clock::now();
    StopOptd(pid);
    std::printf("%s server stopped (SIGTERM) in %.2f s\n", name,
                Micros(Clock::now() - t0) / 1e6);
  }
  optd::bench::CleanupFleet();

  const double step_cost =
      (small.durable_p50 - small.mem_p50) / small.fsync_p50;
  const double ratio = durable_rate.steps_s / mem_rate.steps_s;
  std::printf(
      "fsync_p50_us=%.1f mem_p50_us=%.1f durable_p50_us=%.1f "
      "mem_p50_us_1e6=%.1f durable_p50_us_1e6=%.1f mem_steps_s_%d=%.0f "
      "durable_steps_s_%d=%.0f step_cost_fsyncs=%.3f throughput_ratio_%d=%.3f "
      "step_cost_target=%s throughput_target=%s fsync_idle_p50_us=%.1f\n",
      small.fsync_p50, small.mem_p50, small.durable_p50, large.mem_p50,
      large.durable_p50, sessions, mem_rate.steps_s, sessions,
      durable_rate.steps_s, step_cost, sessions, ratio,
      step_cost <= 1.5 ? "pass" : "fail", ratio >= 0.5 ? "pass" : "fail",
      idle_p50);
  return 0;
}
