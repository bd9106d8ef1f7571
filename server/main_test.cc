// End-to-end tests of the `optd` binary: a real server process on a loopback
// port it picks itself (--port=0 --port_file), driven over gRPC, stopped with
// SIGTERM.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "optd/v1/optimizer.grpc.pb.h"
#include "server/testing/grpc_matchers.h"
#include "server/testing/rosenbrock.h"

extern char** environ;

namespace optd::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// A child process with its stdout on a pipe.
class Process {
 public:
  explicit Process(std::vector<std::string> args) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv;
    args.insert(args.begin(), OPTD_BINARY_PATH);
    // Each process its own data directory (optd locks it).
    static int count = 0;
    args.push_back(absl::StrCat("--data_dir=", ::testing::TempDir(),
                                "/optd_main_test_", getpid(), "_data_",
                                ++count));
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, OPTD_BINARY_PATH, &actions, nullptr,
                          argv.data(), environ),
              0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stdout_fd_ = fds[0];
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_fd_);
  }

  // Reads stdout until a newline or EOF or `timeout`.
  std::string ReadLine(
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::string line;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char c;
      if (read(stdout_fd_, &c, 1) != 1) break;
      if (c == '\n') break;
      line.push_back(c);
    }
    return line;
  }

  // Everything on stdout until EOF.
  std::string ReadAll() {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = read(stdout_fd_, buffer, sizeof(buffer))) > 0)
      out.append(buffer, n);
    return out;
  }

  // The exit status, or -1 if it did not exit within `timeout`.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  void Signal(int signal) { kill(pid_, signal); }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool exited_ = false;
};

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/optd_main_test_", getpid(), "_",
                      name);
}

int ReadPortFile(const std::string& path) {
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(path);
    int port = 0;
    if (in >> port && port > 0) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

TEST(OptdBinary, ServesAndDrainsOnSigterm) {
  const std::string port_file = TempPath("port");
  std::remove(port_file.c_str());
  Process optd({"--port=0", "--port_file=" + port_file,
                "--shutdown_grace_seconds=1", "--log_level=debug"});
  const std::string line = optd.ReadLine();
  EXPECT_THAT(line, MatchesRegex("optd listening on 127\\.0\\.0\\.1:[0-9]+"));
  const int port = ReadPortFile(port_file);
  ASSERT_GT(port, 0);
  EXPECT_EQ(line, absl::StrCat("optd listening on 127.0.0.1:", port));

  auto stub = v1::Optimizer::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext create_context;
  v1::CreateSessionRequest create;
  create.set_session_id("e2e");
  *create.mutable_x0() = testing::Values({-1.2, 1.0});
  create.mutable_lbfgs();
  v1::CreateSessionResponse created;
  ASSERT_GRPC_OK(stub->CreateSession(&create_context, create, &created));
  EXPECT_EQ(created.trials(0).trial_id(), 1u);

  // An idle open stream must not keep the server from exiting after the grace.
  grpc::ClientContext stream_context;
  auto stream = stub->Optimize(&stream_context);
  v1::OptimizeRequest attach;
  attach.set_attach_session_id("e2e");
  ASSERT_TRUE(stream->Write(attach));
  v1::OptimizeResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.session_id(), "e2e");

  const auto start = std::chrono::steady_clock::now();
  optd.Signal(SIGTERM);
  EXPECT_EQ(optd.Wait(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_FALSE(stream->Finish().ok());
}

TEST(OptdBinary, SigintExitsZeroToo) {
  const std::string port_file = TempPath("port_int");
  std::remove(port_file.c_str());
  Process optd({"--port=0", "--port_file=" + port_file});
  EXPECT_THAT(optd.ReadLine(), HasSubstr("optd listening on"));
  optd.Signal(SIGINT);
  EXPECT_EQ(optd.Wait(), 0);
}

TEST(OptdBinary, HelpExplainsTheFlags) {
  Process optd({"--help"});
  const std::string out = optd.ReadAll();
  optd.Wait();
  for (const char* flag : {"--host",
                           "--port",
                           "--port_file",
                           "--max_sessions",
                           "--max_dimension",
                           "--max_message_bytes",
                           "--log_level",
                           "--shutdown_grace_seconds",
                           "--data_dir",
                           "--durable_tell_max_dimension",
                           "--default_checkpoint_interval",
                           "--session_ttl_seconds",
                           "--lease_seconds",
                           "--wal_max_dimension",
                           "--wal_segment_bytes",
                           "--commit_threads",
                           "--peers",
                           "--replica_index",
                           "--replica_index_from_hostname",
                           "--shard_call_timeout_seconds",
                           "--release_freed_memory",
                           "--tls_cert",
                           "--tls_key",
                           "--tls_client_ca",
                           "--peer_tls_ca",
                           "--peer_tls_cert",
                           "--peer_tls_key",
                           "--peer_tls_server_name",
                           "--tokens_file",
                           "--max_sessions_per_tenant",
                           "--tenant_memory_bytes",
                           "--server_memory_bytes",
                           "--max_concurrent_streams",
                           "--metrics_port",
                           "--metrics_host",
                           "--http_api_allow_unauthenticated"}) {
    EXPECT_THAT(out, HasSubstr(flag));
  }
  EXPECT_THAT(out, HasSubstr("default: \"127.0.0.1\""));
}

TEST(OptdBinary, BadFlagsExitNonZero) {
  Process bad_level({"--port=0", "--log_level=loud"});
  EXPECT_EQ(bad_level.Wait(), 2);
  Process bad_port({"--port=70000"});
  EXPECT_EQ(bad_port.Wait(), 1);
}

TEST(OptdBinary, PortInUseExitsNonZero) {
  const std::string port_file = TempPath("port_busy");
  std::remove(port_file.c_str());
  Process first({"--port=0", "--port_file=" + port_file});
  const int port = ReadPortFile(port_file);
  ASSERT_GT(port, 0);
  Process second({absl::StrCat("--port=", port)});
  EXPECT_EQ(second.Wait(), 1);
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(), 0);
}

}  // namespace
}  // namespace optd::server
