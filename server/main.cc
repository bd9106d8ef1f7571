// optd: the optimization server binary. Parses flags, starts an OptdServer
// (server.h), prints `optd listening on HOST:PORT` once it accepts calls, and
// on SIGTERM or SIGINT drains in-flight calls and streams for up to
// --shutdown_grace_seconds before exiting 0. A second signal exits at once.
//
//   optd --port=0 --port_file=/tmp/optd.port --log_level=debug
//
// Signals are taken by a thread blocked in sigwait() rather than by an async
// handler, so the shutdown runs as ordinary code (it may lock and log).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "Address to listen on. 127.0.0.1 (the default) accepts local clients "
          "only; 0.0.0.0 or :: accepts every interface (e.g. in a container).");
ABSL_FLAG(int, port, 50051,
          "TCP port to listen on. 0 picks a free port; combine it with "
          "--port_file to learn which.");
ABSL_FLAG(
    std::string, port_file, "",
    "If set, the bound port is written to this file (as decimal text and "
    "a newline) once the server accepts calls. Tests that start optd with "
    "--port=0 wait for this file.");
ABSL_FLAG(int64_t, max_sessions, 10000,
          "Most sessions held at once (finished ones count until deleted). "
          "CreateSession beyond it fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_dimension, int64_t{1} << 27,
          "Largest dimension n of a session; default 2^27 = 134217728 (a 1 GiB "
          "float64 vector). Larger x0 fails with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_message_bytes, (int64_t{1} << 30) + (int64_t{1} << 20),
          "Largest gRPC message received or sent, in bytes; default 1 GiB + 1 "
          "MiB, enough for a 2^27-element vector. At most 2147483647.");
ABSL_FLAG(std::string, log_level, "info",
          "Log verbosity on stderr: debug (one line per tell), info (one per "
          "session created, finished or deleted), warn or error.");
ABSL_FLAG(double, shutdown_grace_seconds, 10,
          "On SIGTERM/SIGINT, how long in-flight calls and streams may run "
          "before they are cancelled.");

namespace {

bool SetLogLevel(const std::string& name) {
  const spdlog::level::level_enum level = spdlog::level::from_str(name);
  // from_str maps unknown names to "off"; only the four documented ones count.
  if (name != "debug" && name != "info" && name != "warn" && name != "error") {
    return false;
  }
  spdlog::set_level(level);
  return true;
}

// Writes the port to a temporary file and renames it, so that a reader never
// sees a half-written number.
bool WritePortFile(const std::string& path, int port) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "a stateful ask-tell optimization server (gRPC service "
      "optd.v1.Optimizer with L-BFGS, trust-region and Adam/AdamW "
      "sessions).\n"
      "Usage: optd [--host=127.0.0.1] [--port=50051] [--port_file=PATH] ...");
  // --help lists this file's flags (Abseil's default matches only files named
  // after the binary).
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/main.cc");
  };
  usage_config.normalize_filename = [](absl::string_view file) {
    return std::string(file);
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::ParseCommandLine(argc, argv);

  // Logs go to stderr; stdout carries only the "listening" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("optd"));
  if (!SetLogLevel(absl::GetFlag(FLAGS_log_level))) {
    std::cerr << "optd: --log_level=" << absl::GetFlag(FLAGS_log_level)
              << " is not one of debug, info, warn, error\n";
    return 2;
  }
  const double grace = absl::GetFlag(FLAGS_shutdown_grace_seconds);
  if (!(grace >= 0)) {
    std::cerr << "optd: --shutdown_grace_seconds must be >= 0\n";
    return 2;
  }

  // Block the signals before gRPC starts its threads (they inherit the mask),
  // so that only the sigwait() thread below ever receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  optd::server::ServerOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.limits.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  options.limits.max_dimension = absl::GetFlag(FLAGS_max_dimension);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  absl::StatusOr<std::unique_ptr<optd::server::OptdServer>> started =
      optd::server::OptdServer::Start(options);
  if (!started.ok()) {
    spdlog::error("cannot start: {}", started.status().ToString());
    return 1;
  }
  optd::server::OptdServer& server = **started;

  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, server.port())) {
    spdlog::error("cannot write --port_file={}", port_file);
    server.Shutdown(absl::Now());
    return 1;
  }
  std::cout << "optd listening on " << server.address() << std::endl;
  spdlog::info(
      "listening on {} (max_sessions {}, max_dimension {}, max_message_bytes "
      "{})",
      server.address(), options.limits.max_sessions,
      options.limits.max_dimension, options.max_message_bytes);

  std::thread signal_thread([&server, &signals, grace] {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) return;
    spdlog::info("received {}; draining for up to {} s", strsignal(signal),
                 grace);
    // A second signal while draining means "now": exit without waiting.
    std::thread impatient([&signals] {
      int second = 0;
      if (sigwait(&signals, &second) == 0) {
        spdlog::warn("received {} again; exiting without draining",
                     strsignal(second));
        spdlog::shutdown();
        std::_Exit(1);
      }
    });
    impatient.detach();
    server.Shutdown(absl::Now() + absl::Seconds(grace));
  });
  server.Wait();
  signal_thread.join();
  spdlog::info("optd exiting");
  spdlog::shutdown();
  return 0;
}
