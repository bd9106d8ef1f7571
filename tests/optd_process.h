// OptdProcess: a real `optd` server process for end-to-end tests, and
// OptdServerTest, a GoogleTest fixture holding one plus a connected Client.
//
// The process listens on 127.0.0.1 with --port=0 (a free port the kernel
// picks) and --port_file, which the test polls until optd has written the
// bound port; its stdout and stderr go to a log file that failures print.
//
//   OptdProcess optd;
//   ASSERT_TRUE(optd.Start({"--max_sessions=1"}).ok());
//   absl::StatusOr<Client> client = Client::Connect(optd.address());
//   ...
//   std::optional<int> code = optd.Terminate(absl::Seconds(10));  // SIGTERM
//
// The destructor kills (SIGKILL) and reaps a process still running.
//
// Thread-safety: not thread-safe; one test thread drives each OptdProcess.
#ifndef OPTD_TESTS_OPTD_PROCESS_H_
#define OPTD_TESTS_OPTD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/free_ports.h"

namespace optd::testing {

class OptdProcess {
 public:
  OptdProcess() = default;
  OptdProcess(const OptdProcess&) = delete;
  OptdProcess& operator=(const OptdProcess&) = delete;
  ~OptdProcess();

  // Starts OPTD_BINARY with --host=127.0.0.1 --port=0 --port_file=...
  // --data_dir=data_dir() and `extra_flags` (a later --data_dir wins), and
  // waits up to `timeout` for the port file. An error carries the log's tail
  // when optd exited or never wrote the port. Starting again after the
  // process exited (or was killed) restarts it on the same data directory.
  absl::Status Start(const std::vector<std::string>& extra_flags = {},
                     absl::Duration timeout = absl::Seconds(30));

  // The data directory, the same for every Start of this object; removed
  // with it.
  std::string data_dir() const;
  // "127.0.0.1:PORT" once started.
  std::string address() const;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // Sends `signal` (SIGTERM, SIGKILL, ...) without waiting.
  void Signal(int signal);

  // Waits up to `timeout` for the process to exit and reaps it. Returns its
  // exit code, 128 + the signal number when a signal killed it, or nullopt
  // when it is still running after `timeout`.
  std::optional<int> Wait(absl::Duration timeout);

  // SIGTERM, then Wait(grace); SIGKILL and reap if it is still running.
  // Returns the exit code as Wait() does (nullopt when SIGKILL was needed).
  std::optional<int> Terminate(absl::Duration grace);

  // The stdout and stderr of the latest start so far.
  std::string Log() const;

 private:
  std::string dir_;
  std::string log_path_;
  int starts_ = 0;
  pid_t pid_ = -1;
  int port_ = 0;
};

// What a command printed and how it exited.
struct CommandRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `optctl --server=ADDRESS ARGS` (OPTCTL_BINARY) through the shell.
CommandRun Optctl(const std::string& address, const std::string& args);

// A fixture that starts one optd (no extra flags) and connects `client()`.
// TearDown stops it with SIGTERM (SIGKILL after 10 s), expects exit code 0,
// and prints its log when the test failed. Fixtures deriving from it drop
// their own Client copies before calling OptdServerTest::TearDown(), since
// optd waits for open connections while it drains.
//
// Thread-safety: as for any GoogleTest fixture, the test thread only.
class OptdServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  OptdProcess& optd() { return optd_; }
  const client::Client& client() const { return *client_; }

 private:
  OptdProcess optd_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace optd::testing

#endif  // OPTD_TESTS_OPTD_PROCESS_H_
