// bench/latency: what optd adds to a round trip, measured against a bare gRPC
// echo of the same payload in the same run (ratios, not absolute times: the
// machines these run on are shared and noisy).
//
// It starts two servers as child processes on 127.0.0.1, each on a port it
// picks: the real `optd` binary, and this program in --echo_server mode (the
// same gRPC callback API, answering optd's own messages with the least work
// that gives a response of the same size). One client in this process then
// measures:
//   unary   one Tell round trip of an L-BFGS session, n = 10 (extended
//           Rosenbrock; sessions are restarted when they converge)
//   stream  the same on the Optimize stream
//   adam1e7 one Tell of an Adam session with n = 10^7 float32 state: a 40 MB
//           gradient in, the 40 MB new parameters out (f32 bytes both ways)
// and the echo of each. Last line:
//   unary_p50_us=.. echo_unary_p50_us=.. unary_ratio=.. stream_p50_us=..
//   echo_stream_p50_us=.. stream_ratio=.. adam1e7_ms=.. echo1e7_ms=..
//   adam_ratio=..
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "optd/v1/optimizer.grpc.pb.h"

#ifndef OPTD_BINARY
#define OPTD_BINARY "optd"
#endif

ABSL_FLAG(std::string, optd, OPTD_BINARY,
          "Path of the optd binary to benchmark.");
ABSL_FLAG(std::vector<std::string>, optd_flags, {},
          "More flags for optd, comma-separated (e.g. "
          "--release_freed_memory=false).");
ABSL_FLAG(int, steps, 2000, "Round trips measured per small-vector case.");
ABSL_FLAG(int64_t, adam_n, 10'000'000, "Dimension of the large Adam case.");
ABSL_FLAG(int, adam_steps, 8, "Adam steps measured in the large case.");
ABSL_FLAG(bool, echo_server, false, "Internal: run as the echo server.");
ABSL_FLAG(std::string, port_file, "",
          "Internal: where the echo server writes its port.");

namespace {

namespace v1 = ::optd::v1;
using Clock = std::chrono::steady_clock;
constexpr int kMaxMessage = (1 << 30) + (1 << 20);

// ---------------------------------------------------------------------------
// The echo server.

void EchoTrial(const v1::TellRequest& request, v1::Trial* trial) {
  trial->set_trial_id(request.trial_id() + 1);
  trial->set_wants(v1::EVALUATION_VALUE_AND_GRADIENT);
  *trial->mutable_x() = request.gradient();
}

class EchoService final : public optd::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Tell(grpc::CallbackServerContext* context,
                                 const v1::TellRequest* request,
                                 v1::TellResponse* response) override {
    EchoTrial(*request, response->add_trials());
    response->set_state(v1::SESSION_STATE_RUNNING);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerBidiReactor<v1::OptimizeRequest, v1::OptimizeResponse>* Optimize(
      grpc::CallbackServerContext*) override {
    class Reactor : public grpc::ServerBidiReactor<v1::OptimizeRequest,
                                                   v1::OptimizeResponse> {
     public:
      Reactor() { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        response_.Clear();
        EchoTrial(request_.tell(), response_.add_trials());
        response_.set_state(v1::SESSION_STATE_RUNNING);
        StartWrite(&response_);
      }
      void OnWriteDone(bool ok) override {
        if (!ok)
          return Finish(
              grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
        StartRead(&request_);
      }
      void OnDone() override { delete this; }

     private:
      v1::OptimizeRequest request_;
      v1::OptimizeResponse response_;
    };
    return new Reactor();
  }
};

int RunEchoServer() {
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(kMaxMessage);
  builder.SetMaxSendMessageSize(kMaxMessage);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return 1;
  {
    const std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  server->Wait();
  return 0;
}

// ---------------------------------------------------------------------------
// Child processes.

struct Child {
  pid_t pid = -1;
  int port = 0;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

bool Spawn(std::vector<std::string> args, const std::string& port_file,
           Child* child) {
  std::remove(port_file.c_str());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&child->pid, argv[0], nullptr, nullptr, argv.data(),
                  environ) != 0) {
    std::fprintf(stderr, "cannot start %s\n", argv[0]);
    return false;
  }
  for (int i = 0; i < 600; ++i) {
    std::ifstream in(port_file);
    if (in >> child->port && child->port > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "%s did not write %s\n", argv[0], port_file.c_str());
  return false;
}

std::shared_ptr<grpc::Channel> Connect(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessage);
  args.SetMaxSendMessageSize(kMaxMessage);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

// ---------------------------------------------------------------------------
// Measurements.

double Percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  return samples[static_cast<size_t>(p * (samples.size() - 1))];
}

double Micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Extended Rosenbrock value and gradient (Moré, Garbow & Hillstrom problem 21).
double Rosenbrock(const v1::Vector& xv, v1::TellRequest* tell) {
  const auto& x = xv.values();
  tell->mutable_gradient()->mutable_values()->Resize(x.size(), 0.0);
  double* g = tell->mutable_gradient()->mutable_values()->mutable_data();
  double f = 0;
  for (int i = 0; i + 1 < x.size(); i += 2) {
    const double t1 = 10 * (x[i + 1] - x[i] * x[i]), t2 = 1 - x[i];
    f += t1 * t1 + t2 * t2;
    g[i] = -40 * x[i] * t1 - 2 * t2;
    g[i + 1] = 20 * t1;
  }
  tell->set_value(f);
  return f;
}

v1::CreateSessionRequest RosenbrockSession(int n) {
  v1::CreateSessionRequest create;
  for (int i = 0; i < n; ++i)
    create.mutable_x0()->add_values(i % 2 ? 1.0 : -1.2);
  create.mutable_lbfgs();
  return create;
}

// Unary Tell round trips of L-BFGS sessions (n = 10), restarting on the end.
std::vector<double> OptdUnary(v1::Optimizer::Stub& stub, int steps) {
  std::vector<double> samples;
  while (static_cast<int>(samples.size()) < steps) {
    grpc::ClientContext cc;
    v1::CreateSessionResponse created;
    grpc::Status s = stub.CreateSession(&cc, RosenbrockSession(10), &created);
    if (!s.ok()) {
      std::fprintf(stderr, "CreateSession: %s\n", s.error_message().c_str());
      std::exit(1);
    }
    v1::Trial trial = created.trials(0);
    while (static_cast<int>(samples.size()) < steps) {
      v1::TellRequest tell;
      tell.set_session_id(created.session_id());
      tell.set_trial_id(trial.trial_id());
      Rosenbrock(trial.x(), &tell);
      grpc::ClientContext c;
      v1::TellResponse answer;
      const auto t0 = Clock::now();
      s = stub.Tell(&c, tell, &answer);
      samples.push_back(Micros(Clock::now() - t0));
      if (!s.ok()) {
        std::fprintf(stderr, "Tell: %s\n", s.error_message().c_str());
        std::exit(1);
      }
      if (answer.trials_size() == 0) break;
      trial = answer.trials(0);
    }
    grpc::ClientContext dc;
    v1::DeleteSessionRequest del;
    del.set_session_id(created.session_id());
    v1::DeleteSessionResponse deleted;
    stub.DeleteSession(&dc, del, &deleted);
  }
  return samples;
}

std::vector<double> OptdStream(v1::Optimizer::Stub& stub, int steps) {
  std::vector<double> samples;
  while (static_cast<int>(samples.size()) < steps) {
    grpc::ClientContext cc;
    auto stream = stub.Optimize(&cc);
    v1::OptimizeRequest open;
    *open.mutable_create() = RosenbrockSession(10);
    v1::OptimizeResponse response;
    if (!stream->Write(open) || !stream->Read(&response) ||
        response.trials_size() == 0) {
      std::fprintf(stderr, "Optimize: cannot open a session\n");
      std::exit(1);
    }
    while (static_cast<int>(samples.size()) < steps &&
           response.trials_size() > 0) {
      v1::OptimizeRequest request;
      v1::TellRequest* tell = request.mutable_tell();
      tell->set_trial_id(response.trials(0).trial_id());
      Rosenbrock(response.trials(0).x(), tell);
      const auto t0 = Clock::now();
      if (!stream->Write(request) || !stream->Read(&response)) break;
      samples.push_back(Micros(Clock::now() - t0));
      if (response.error_code() != 0) {
        std::fprintf(stderr, "Optimize: %s\n",
                     response.error_message().c_str());
        std::exit(1);
      }
    }
    stream->WritesDone();
    stream->Finish();
  }
  return samples;
}

v1::TellRequest EchoRequest(int n) {
  v1::TellRequest tell;
  tell.set_trial_id(1);
  tell.set_value(1.0);
  for (int i = 0; i < n; ++i) tell.mutable_gradient()->add_values(0.5 + i);
  return tell;
}

std::vector<double> EchoUnary(optd::bench::Echo::Stub& stub, int steps) {
  std::vector<double> samples;
  const v1::TellRequest tell = EchoRequest(10);
  for (int i = 0; i < steps; ++i) {
    grpc::ClientContext c;
    v1::TellResponse answer;
    const auto t0 = Clock::now();
    stub.Tell(&c, tell, &answer);
    samples.push_back(Micros(Clock::now() - t0));
  }
  return samples;
}

std::vector<double> EchoStream(optd::bench::Echo::Stub& stub, int steps) {
  std::vector<double> samples;
  grpc::ClientContext cc;
  auto stream = stub.Optimize(&cc);
  v1::OptimizeRequest request;
  *request.mutable_tell() = EchoRequest(10);
  v1::OptimizeResponse response;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = Clock::now();
    if (!stream->Write(request) || !stream->Read(&response)) break;
    samples.push_back(Micros(Clock::now() - t0));
  }
  stream->WritesDone();
  stream->Finish();
  return samples;
}

std::string RandomF32Bytes(int64_t n, uint32_t seed) {
  std::string bytes(static_cast<size_t>(n) * 4, '\0');
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float v = u(rng);
    std::memcpy(&bytes[static_cast<size_t>(i) * 4], &v, 4);
  }
  return bytes;
}

// Milliseconds per Tell of an Adam session with n float32 parameters.
std::vector<double> OptdAdam(v1::Optimizer::Stub& stub, int64_t n, int steps,
                             const std::string& gradient) {
  v1::CreateSessionRequest create;
  *create.mutable_x0()->mutable_f32() = RandomF32Bytes(n, 1);
  create.mutable_adam()->set_dtype(v1::STATE_DTYPE_FLOAT32);
  create.set_vector_encoding(v1::VECTOR_ENCODING_F32);
  grpc::ClientContext cc;
  v1::CreateSessionResponse created;
  grpc::Status s = stub.CreateSession(&cc, create, &created);
  if (!s.ok()) {
    std::fprintf(stderr, "CreateSession(adam): %s\n",
                 s.error_message().c_str());
    std::exit(1);
  }
  uint64_t trial_id = created.trials(0).trial_id();
  v1::TellRequest tell;
  tell.set_session_id(created.session_id());
  *tell.mutable_gradient()->mutable_f32() = gradient;
  std::vector<double> samples;
  for (int i = 0; i < steps + 2; ++i) {  // two warm-up steps
    tell.set_trial_id(trial_id);
    grpc::ClientContext c;
    v1::TellResponse answer;
    const auto t0 = Clock::now();
    s = stub.Tell(&c, tell, &answer);
    const double ms = Micros(Clock::now() - t0) / 1000;
    if (!s.ok() || answer.trials_size() != 1 ||
        answer.trials(0).x().f32().size() != gradient.size()) {
      std::fprintf(stderr, "Tell(adam): %s\n", s.error_message().c_str());
      std::exit(1);
    }
    trial_id = answer.trials(0).trial_id();
    if (i >= 2) samples.push_back(ms);
  }
  grpc::ClientContext dc;
  v1::DeleteSessionRequest del;
  del.set_session_id(created.session_id());
  v1::DeleteSessionResponse deleted;
  stub.DeleteSession(&dc, del, &deleted);
  return samples;
}

std::vector<double> EchoLarge(optd::bench::Echo::Stub& stub, int steps,
                              const std::string& gradient) {
  v1::TellRequest tell;
  tell.set_trial_id(1);
  *tell.mutable_gradient()->mutable_f32() = gradient;
  std::vector<double> samples;
  for (int i = 0; i < steps + 2; ++i) {
    grpc::ClientContext c;
    v1::TellResponse answer;
    const auto t0 = Clock::now();
    stub.Tell(&c, tell, &answer);
    const double ms = Micros(Clock::now() - t0) / 1000;
    if (i >= 2) samples.push_back(ms);
  }
  return samples;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_echo_server)) return RunEchoServer();

  char dir_template[] = "/tmp/optd-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  Child optd, echo;
  // Sessions in memory: this measures what optd adds to the transport;
  // bench/durability measures what the disk adds.
  std::vector<std::string> optd_args = {absl::GetFlag(FLAGS_optd), "--port=0",
                                        "--port_file=" + dir + "/optd.port",
                                        "--log_level=warn", "--data_dir="};
  for (const std::string& flag : absl::GetFlag(FLAGS_optd_flags)) {
    if (!flag.empty()) optd_args.push_back(flag);
  }
  if (!Spawn(optd_args, dir + "/optd.port", &optd) ||
      !Spawn({"/proc/self/exe", "--echo_server",
              "--port_file=" + dir + "/echo.port"},
             dir + "/echo.port", &echo)) {
    return 1;
  }
  // /proc/self/exe resolves in the child to this same program.
  auto optd_stub = v1::Optimizer::NewStub(Connect(optd.port));
  auto echo_stub = optd::bench::Echo::NewStub(Connect(echo.port));
  const int steps = absl::GetFlag(FLAGS_steps);

  // Warm both up, then interleave the measurements so that noise hits both.
  OptdUnary(*optd_stub, 200);
  EchoUnary(*echo_stub, 200);
  const double echo_unary = Percentile(EchoUnary(*echo_stub, steps), 0.5);
  const double unary = Percentile(OptdUnary(*optd_stub, steps), 0.5);
  OptdStream(*optd_stub, 200);
  EchoStream(*echo_stub, 200);
  const double echo_stream = Percentile(EchoStream(*echo_stub, steps), 0.5);
  const double stream = Percentile(OptdStream(*optd_stub, steps), 0.5);
  std::printf(
      "n=10 round trip p50: unary %.1f us (echo %.1f), stream %.1f us (echo "
      "%.1f)\n",
      unary, echo_unary, stream, echo_stream);

  const int64_t n = absl::GetFlag(FLAGS_adam_n);
  const int adam_steps = absl::GetFlag(FLAGS_adam_steps);
  const std::string gradient = RandomF32Bytes(n, 2);
  const double echo_large =
      Percentile(EchoLarge(*echo_stub, adam_steps, gradient), 0.5);
  const double adam =
      Percentile(OptdAdam(*optd_stub, n, adam_steps, gradient), 0.5);
  std::printf(
      "Adam n=%lld float32 step p50: %.1f ms (echo of the same payload %.1f "
      "ms)\n",
      static_cast<long long>(n), adam, echo_large);

  std::printf(
      "unary_p50_us=%.1f echo_unary_p50_us=%.1f unary_ratio=%.3f "
      "stream_p50_us=%.1f "
      "echo_stream_p50_us=%.1f stream_ratio=%.3f adam1e7_ms=%.1f "
      "echo1e7_ms=%.1f "
      "adam_ratio=%.3f\n",
      unary, echo_unary, unary / echo_unary, stream, echo_stream,
      stream / echo_stream, adam, echo_large, adam / echo_large);
  return 0;
}
