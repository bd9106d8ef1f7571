// bench/sharding: what sharding an Adam session across replicas buys (ZeRO
// stage 1, DESIGN §3), measured on real optd processes on this machine.
//
// (1) Memory. A float32 Adam session of --memory_n parameters (default
//     5*10^7: x, m, v and the gradient are 800 MB) on K = 1, 2 and 4 fresh
//     replicas, driven through the C++ client (the direct data path for
//     K > 1). Each replica's peak resident set size (VmHWM) is read after
//     --memory_steps steps; the peak is reset (/proc/PID/clear_refs) once the
//     session exists and optd has returned the creation's buffers (it does
//     within a second), so the figure is the steady state of stepping; the
//     creation's own peak (x0 arrives whole at the home) is printed apart.
//     Target: every replica at K <= RSS(K=1) / K + 100 MB.
// (2) Throughput. Adam steps per second for --throughput_n float32
//     parameters (default 2*10^7) on a fleet of 4 replicas: K = 1 (one
//     replica, the baseline), K = 2 and 4 on the direct path, K = 2 through
//     the home (gateway). Each step is one tell of a gradient and the next
//     point read back, as a training loop does. The replicas and the client
//     share this machine's cores, so this measures the protocol's cost and
//     overlap, not K machines' bandwidth.
//
// The last line:
//   rss_k1_mb=... rss_k2_max_mb=... rss_k4_max_mb=... rss_k2_target_mb=...
//   rss_k4_target_mb=... memory_ok=... steps_s_k1=... steps_s_k2=...
//   steps_s_k4=... steps_s_gateway_k2=... ratio_k2=... ratio_k4=...
//   ratio_gateway_k2=...
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/fleet.h"
#include "client/client.h"
#include "client/session.h"

ABSL_FLAG(std::string, optd, OPTD_BINARY, "The optd binary.");
ABSL_FLAG(std::string, dir, ".", "Where the temporary directory goes.");
ABSL_FLAG(int64_t, memory_n, 50'000'000, "Parameters of the memory case.");
ABSL_FLAG(int, memory_steps, 4, "Adam steps of each memory run.");
ABSL_FLAG(int64_t, throughput_n, 20'000'000,
          "Parameters of the throughput case.");
ABSL_FLAG(int, throughput_steps, 8, "Adam steps timed per configuration.");

namespace {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;
using ::optd::bench::Fail;
using ::optd::bench::ReplicaSet;
using ::optd::bench::StartReplicaSet;
using ::optd::bench::StatusMb;
using ::optd::bench::StopReplicaSet;
using Clock = std::chrono::steady_clock;

// Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux 4.0+).
void ResetPeak(pid_t pid) {
  std::ofstream out(absl::StrCat("/proc/", pid, "/clear_refs"));
  out << "5";
  if (!out.good()) Fail(absl::StrCat("cannot reset the peak RSS of ", pid));
}

oc::Client ConnectOrFail(const std::string& address) {
  absl::StatusOr<oc::Client> client = oc::Client::Connect(address);
  if (!client.ok()) Fail(client.status().ToString());
  return *std::move(client);
}

// A float32 Adam session of n parameters with `shards` shards.
oc::Session CreateAdam(const oc::Client& client, int64_t n, int shards,
                       bool direct, const std::string& id) {
  v1::CreateSessionRequest request;
  request.set_session_id(id);
  std::vector<float> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = 0.01f * static_cast<float>(i % 97);
  request.mutable_x0()->set_f32(reinterpret_cast<const char*>(x0.data()),
                                4 * x0.size());
  request.mutable_adam()->set_lr(1e-3);
  request.mutable_adam()->set_dtype(v1::STATE_DTYPE_FLOAT32);
  request.set_vector_encoding(v1::VECTOR_ENCODING_F32);
  request.set_shards(shards);
  absl::StatusOr<oc::Session> session =
      oc::Session::Create(client, request, direct);
  if (!session.ok()) {
    Fail(absl::StrCat("CreateSession (n = ", n, ", shards = ", shards,
                      "): ", session.status().ToString()));
  }
  return *std::move(session);
}

// One training-loop step: tell the gradient of the outstanding trial (a
// fixed pattern), receive the next point. Returns the new trial id.
uint64_t Step(const oc::Session& session, uint64_t trial,
              const std::vector<float>& gradient) {
  absl::StatusOr<oc::Answer> answer =
      session.TellF32(trial, std::nullopt, gradient);
  if (!answer.ok() || answer->trials.size() != 1) {
    Fail(absl::StrCat("Tell: ",
                      answer.ok() ? "no trial" : answer.status().ToString()));
  }
  return answer->trials[0].id;
}

std::vector<float> Gradient(int64_t n) {
  std::vector<float> g(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) g[i] = 1e-3f * static_cast<float>(i % 13 - 6);
  return g;
}

struct MemoryRun {
  double create_peak_max_mb = 0;
  double peak_max_mb = 0;  // the largest replica's steady-state peak
  double peak_sum_mb = 0;
};

MemoryRun MeasureMemory(int shards, int64_t n, int steps) {
  const ReplicaSet fleet =
      StartReplicaSet(absl::StrCat("memory-k", shards), shards);
  MemoryRun run;
  {
    oc::Client client = ConnectOrFail(fleet.addresses[0]);
    oc::Session session = CreateAdam(client, n, shards, /*direct=*/true,
                                     absl::StrCat("memory-k", shards));
    // optd returns the buffers of large messages (here x0) to the OS within
    // a second (server/session/memory_release.h); the steady state starts then.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    for (pid_t pid : fleet.pids) {
      run.create_peak_max_mb =
          std::max(run.create_peak_max_mb, StatusMb(pid, "VmHWM"));
      std::printf("  K=%d replica pid %d: RSS %.0f MB once created\n", shards,
                  pid, StatusMb(pid, "VmRSS"));
      ResetPeak(pid);
    }
    const std::vector<float> gradient = Gradient(n);
    uint64_t trial = session.first_trials()[0].id;
    for (int s = 0; s < steps; ++s) trial = Step(session, trial, gradient);
    for (pid_t pid : fleet.pids) {
      const double peak = StatusMb(pid, "VmHWM");
      run.peak_max_mb = std::max(run.peak_max_mb, peak);
      run.peak_sum_mb += peak;
      std::printf("  K=%d replica pid %d: peak RSS %.0f MB while stepping\n",
                  shards, pid, peak);
    }
    if (absl::Status s = session.Delete(); !s.ok()) Fail(s.ToString());
  }
  StopReplicaSet(fleet);
  std::printf(
      "memory K=%d n=%lld: peak RSS per replica while stepping %.0f MB "
      "(largest), %.0f MB (all replicas); at creation %.0f MB\n",
      shards, static_cast<long long>(n), run.peak_max_mb, run.peak_sum_mb,
      run.create_peak_max_mb);
  std::fflush(stdout);
  return run;
}

double MeasureSteps(const ReplicaSet& fleet, int shards, bool direct, int64_t n,
                    int steps) {
  oc::Client client = ConnectOrFail(fleet.addresses[0]);
  const std::string id = absl::StrCat("steps-k", shards, direct ? "" : "-gw");
  oc::Session session = CreateAdam(client, n, shards, direct, id);
  const std::vector<float> gradient = Gradient(n);
  uint64_t trial = session.first_trials()[0].id;
  for (int s = 0; s < 2; ++s) trial = Step(session, trial, gradient);  // warm
  const auto t0 = Clock::now();
  for (int s = 0; s < steps; ++s) trial = Step(session, trial, gradient);
  const double seconds =
      std::chrono::duration<double>(Clock::now() - t0).count();
  if (absl::Status s = session.Delete(); !s.ok()) Fail(s.ToString());
  const double rate = steps / seconds;
  std::printf("throughput K=%d %s n=%lld: %.2f steps/s (%.0f ms per step)\n",
              shards,
              shards == 1 ? "one replica"
              : direct    ? "direct"
                          : "gateway",
              static_cast<long long>(n), rate, 1e3 / rate);
  std::fflush(stdout);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Per-replica memory and Adam throughput of sharded sessions on K = 1, "
      "2, 4 real optd replicas (see the file's header).");
  absl::ParseCommandLine(argc, argv);
  const int64_t memory_n = absl::GetFlag(FLAGS_memory_n);
  const int64_t throughput_n = absl::GetFlag(FLAGS_throughput_n);
  const int memory_steps = absl::GetFlag(FLAGS_memory_steps);
  const int throughput_steps = absl::GetFlag(FLAGS_throughput_steps);
  if (memory_n < 1 || throughput_n < 1 || memory_steps < 1 ||
      throughput_steps < 1) {
    std::fprintf(stderr, "sharding: the sizes and step counts must be >= 1\n");
    return 2;
  }
  optd::bench::InitFleet("sharding", absl::GetFlag(FLAGS_optd),
                         absl::GetFlag(FLAGS_dir));

  const MemoryRun k1 = MeasureMemory(1, memory_n, memory_steps);
  const MemoryRun k2 = MeasureMemory(2, memory_n, memory_steps);
  const MemoryRun k4 = MeasureMemory(4, memory_n, memory_steps);
  const double target2 = k1.peak_max_mb / 2 + 100;
  const double target4 = k1.peak_max_mb / 4 + 100;

  const ReplicaSet fleet = StartReplicaSet("throughput", 4);
  const double s1 =
      MeasureSteps(fleet, 1, true, throughput_n, throughput_steps);
  const double s2 =
      MeasureSteps(fleet, 2, true, throughput_n, throughput_steps);
  const double s4 =
      MeasureSteps(fleet, 4, true, throughput_n, throughput_steps);
  const double g2 =
      MeasureSteps(fleet, 2, false, throughput_n, throughput_steps);
  StopReplicaSet(fleet);
  optd::bench::CleanupFleet();

  std::printf(
      "rss_k1_mb=%.0f rss_k2_max_mb=%.0f rss_k4_max_mb=%.0f "
      "rss_k2_target_mb=%.0f rss_k4_target_mb=%.0f memory_ok=%d "
      "steps_s_k1=%.3f steps_s_k2=%.3f steps_s_k4=%.3f "
      "steps_s_gateway_k2=%.3f ratio_k2=%.2f ratio_k4=%.2f "
      "ratio_gateway_k2=%.2f\n",
      k1.peak_max_mb, k2.peak_max_mb, k4.peak_max_mb, target2, target4,
      k2.peak_max_mb <= target2 && k4.peak_max_mb <= target4 ? 1 : 0, s1, s2,
      s4, g2, s2 / s1, s4 / s1, g2 / s1);
  return 0;
}
