// bench/client_adam_step: milliseconds per Adam step (n float32 parameters)
// through the C++ client library (optd::client::Session::TellF32), against a
// running optd. bench/python_client.py runs it beside the same measurement
// from the Python client. Last line: cpp_ms=<median>.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/client.h"
#include "client/session.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "optd address.");
ABSL_FLAG(int64_t, n, 10'000'000, "Number of float32 parameters.");
ABSL_FLAG(int, steps, 8, "Steps measured (after two warm-up steps).");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  namespace client = ::optd::client;
  auto connection = client::Client::Connect(absl::GetFlag(FLAGS_server));
  if (!connection.ok()) {
    std::fprintf(stderr, "%s\n", connection.status().ToString().c_str());
    return 1;
  }
  const int64_t n = absl::GetFlag(FLAGS_n);
  std::vector<float> gradient(static_cast<size_t>(n));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& g : gradient) g = u(rng);

  optd::v1::AdamOptions adam;
  adam.set_dtype(optd::v1::STATE_DTYPE_FLOAT32);
  client::SessionOptions options;
  options.encoding = optd::v1::VECTOR_ENCODING_F32;
  const std::vector<double> x0(static_cast<size_t>(n), 0.5);
  auto session = client::Session::Create(
      *connection, x0, client::SolverSpec::Adam(adam), options);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  uint64_t trial_id = session->first_trials().front().id;
  std::vector<double> samples;
  const int steps = absl::GetFlag(FLAGS_steps);
  for (int i = 0; i < steps + 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto answer = session->TellF32(trial_id, std::nullopt, gradient);
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
    if (!answer.ok() || answer->trials.empty()) {
      std::fprintf(stderr, "%s\n", answer.status().ToString().c_str());
      return 1;
    }
    trial_id = answer->trials.front().id;
    if (i >= 2) samples.push_back(ms);
  }
  (void)session->Delete();
  std::sort(samples.begin(), samples.end());
  std::printf("cpp_ms=%.1f\n", samples[samples.size() / 2]);
  return 0;
}
