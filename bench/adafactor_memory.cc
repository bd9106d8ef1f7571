// bench/adafactor_memory: the optimizer state Adafactor keeps on a replica
// against Adam's, for a model of --matrices 1024 x 1024 matrices (default
// 95: 99,614,720 float32 parameters, the "10^8"), measured with
// bench/sharding's RSS method on real optd processes on this machine.
//
// For each solver, a fresh optd (sessions in memory, --data_dir=) gets one
// float32 session of the model (adam with torch's defaults; adafactor with
// transformers' defaults, no beta1, and `layers` listing the matrices),
// driven through the C++ client. optd returns the creation's buffers to the
// OS within a second (server/session/memory_release.h); then the peak
// resident set size (VmHWM) is reset (/proc/PID/clear_refs) and read again
// after --steps steps: the steady state of stepping. The empty server's RSS
// is read before the session is made and subtracted, giving what the session
// itself holds (its state, the gradient and the messages in flight).
//
// The last line:
//   matrices=... n=... baseline_mb=... adam_rss_mb=... adafactor_rss_mb=...
//   adam_session_mb=... adafactor_session_mb=... ratio=...
// where *_rss_mb are the peaks while stepping, *_session_mb those less the
// empty server's RSS, and ratio = adafactor_session_mb / adam_session_mb.
// The lines before it also print each server's RSS once the session exists
// (its state at rest, before the stepping's messages).
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
#include "bench/fleet.h"
#include "client/client.h"
#include "client/session.h"

ABSL_FLAG(std::string, optd, OPTD_BINARY, "The optd binary.");
ABSL_FLAG(std::string, dir, ".", "Where the temporary directory goes.");
ABSL_FLAG(int, matrices, 95, "1024 x 1024 matrices in the model.");
ABSL_FLAG(int, steps, 3, "Steps of each run.");

namespace {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;
using ::optd::bench::Fail;
using ::optd::bench::StatusMb;

constexpr int64_t kSide = 1024;

// Resets the peak RSS (VmHWM) of `pid` to its current RSS (Linux 4.0+).
void ResetPeak(pid_t pid) {
  std::ofstream out(absl::StrCat("/proc/", pid, "/clear_refs"));
  out << "5";
  if (!out.good()) Fail(absl::StrCat("cannot reset the peak RSS of ", pid));
}

struct Run {
  double baseline_mb = 0;
  double peak_mb = 0;
};

Run Measure(bool adafactor, int matrices, int steps) {
  const int64_t n = matrices * kSide * kSide;
  const char* name = adafactor ? "adafactor" : "adam";
  pid_t pid;
  const int port = optd::bench::SpawnOptd(name, {"--data_dir="}, &pid);
  Run run;
  {
    // 400 MB messages on a shared machine: no per-call deadline.
    oc::ClientOptions options;
    options.call_timeout = absl::InfiniteDuration();
    absl::StatusOr<oc::Client> client =
        oc::Client::Connect(absl::StrCat("127.0.0.1:", port), options);
    if (!client.ok()) Fail(client.status().ToString());
    run.baseline_mb = StatusMb(pid, "VmRSS");
    v1::CreateSessionRequest request;
    request.set_session_id(name);
    {
      std::vector<float> x0(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        x0[i] = 0.01f * static_cast<float>(i % 97 - 48);
      }
      request.mutable_x0()->set_f32(reinterpret_cast<const char*>(x0.data()),
                                    4 * x0.size());
    }
    if (adafactor) {
      request.mutable_adafactor()->set_dtype(v1::STATE_DTYPE_FLOAT32);
      for (int m = 0; m < matrices; ++m) {
        v1::Layer* layer = request.add_layers();
        layer->set_rows(kSide);
        layer->set_cols(kSide);
      }
    } else {
      request.mutable_adam()->set_dtype(v1::STATE_DTYPE_FLOAT32);
    }
    request.set_vector_encoding(v1::VECTOR_ENCODING_F32);
    absl::StatusOr<oc::Session> session = oc::Session::Create(*client, request);
    request.Clear();
    if (!session.ok()) {
      Fail(absl::StrCat("CreateSession ", name, ": ",
                        session.status().ToString()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::printf("  %s: RSS %.0f MB once created (empty server %.0f MB)\n", name,
                StatusMb(pid, "VmRSS"), run.baseline_mb);
    ResetPeak(pid);
    std::vector<float> gradient(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      gradient[i] = 1e-3f * static_cast<float>(i % 13 - 6);
    }
    uint64_t trial = session->first_trials()[0].id;
    for (int s = 0; s < steps; ++s) {
      absl::StatusOr<oc::Answer> answer =
          session->TellF32(trial, std::nullopt, gradient);
      if (!answer.ok() || answer->trials.size() != 1) {
        Fail(absl::StrCat(
            "Tell: ", answer.ok() ? "no trial" : answer.status().ToString()));
      }
      trial = answer->trials[0].id;
    }
    run.peak_mb = StatusMb(pid, "VmHWM");
    std::printf("  %s: peak RSS %.0f MB while stepping\n", name, run.peak_mb);
    std::fflush(stdout);
    if (absl::Status s = session->Delete(); !s.ok()) Fail(s.ToString());
  }
  optd::bench::StopOptd(pid);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Adafactor's replica memory against Adam's for a model of 1024 x 1024 "
      "matrices (see the file's header).");
  absl::ParseCommandLine(argc, argv);
  const int matrices = absl::GetFlag(FLAGS_matrices);
  const int steps = absl::GetFlag(FLAGS_steps);
  if (matrices < 1 || steps < 1) Fail("--matrices and --steps must be >= 1");
  optd::bench::InitFleet("adafactor_memory", absl::GetFlag(FLAGS_optd),
                         absl::GetFlag(FLAGS_dir));
  const Run adam = Measure(/*adafactor=*/false, matrices, steps);
  const Run adafactor = Measure(/*adafactor=*/true, matrices, steps);
  optd::bench::CleanupFleet();
  const double adam_session = adam.peak_mb - adam.baseline_mb;
  const double adafactor_session = adafactor.peak_mb - adafactor.baseline_mb;
  std::printf(
      "matrices=%d n=%lld baseline_mb=%.0f adam_rss_mb=%.0f "
      "adafactor_rss_mb=%.0f adam_session_mb=%.0f adafactor_session_mb=%.0f "
      "ratio=%.3f\n",
      matrices, static_cast<long long>(matrices * kSide * kSide),
      adam.baseline_mb, adam.peak_mb, adafactor.peak_mb, adam_session,
      adafactor_session, adafactor_session / adam_session);
  return 0;
}
