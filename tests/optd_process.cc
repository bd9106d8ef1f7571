#include "tests/optd_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

extern char** environ;

namespace optd::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

}  // namespace

OptdProcess::~OptdProcess() {
  if (running()) {
    Signal(SIGKILL);
    Wait(absl::InfiniteDuration());
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

absl::Status OptdProcess::Start(const std::vector<std::string>& extra_flags,
                                absl::Duration timeout) {
  if (running()) return absl::FailedPreconditionError("optd already started");
  // One directory for the object's lifetime: a restart (Start after a kill)
  // finds the same data directory, as a restarted server would.
  if (dir_.empty()) {
    std::string dir_template = ::testing::TempDir() + "optd_e2e_XXXXXX";
    if (mkdtemp(dir_template.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
    }
    dir_ = dir_template;
  }
  log_path_ = absl::StrCat(dir_, "/optd.", ++starts_, ".log");
  const std::string port_file = dir_ + "/port";
  std::remove(port_file.c_str());

  std::vector<std::string> args = {OPTD_BINARY, "--host=127.0.0.1", "--port=0",
                                   "--port_file=" + port_file,
                                   "--data_dir=" + data_dir()};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int error =
      posix_spawn(&pid_, OPTD_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    pid_ = -1;
    return absl::InternalError(
        absl::StrCat("posix_spawn ", OPTD_BINARY, ": ", strerror(error)));
  }

  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    // The server writes the file under another name and renames it, so any
    // content seen is the whole number.
    const std::string text = ReadFile(port_file);
    if (!text.empty() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port_) &&
        port_ > 0) {
      return absl::OkStatus();
    }
    if (std::optional<int> code = Wait(absl::ZeroDuration())) {
      return absl::InternalError(absl::StrCat(
          "optd exited with code ", *code, " before listening; log:\n", Log()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("optd wrote no port file within ",
                   absl::FormatDuration(timeout), "; log:\n", Log()));
}

std::string OptdProcess::data_dir() const { return dir_ + "/data"; }

std::string OptdProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void OptdProcess::Signal(int signal) {
  if (running()) kill(pid_, signal);
}

std::optional<int> OptdProcess::Wait(absl::Duration timeout) {
  if (!running()) return std::nullopt;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (done < 0 && errno != EINTR) {
      pid_ = -1;
      return std::nullopt;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::optional<int> OptdProcess::Terminate(absl::Duration grace) {
  Signal(SIGTERM);
  std::optional<int> code = Wait(grace);
  if (!code.has_value() && running()) {
    Signal(SIGKILL);
    Wait(absl::InfiniteDuration());
  }
  return code;
}

std::string OptdProcess::Log() const {
  return log_path_.empty() ? "" : ReadFile(log_path_);
}

void OptdServerTest::SetUp() {
  const absl::Status started = optd_.Start();
  ASSERT_TRUE(started.ok()) << started;
  absl::StatusOr<client::Client> client =
      client::Client::Connect(optd_.address());
  ASSERT_TRUE(client.ok()) << client.status();
  client_ = std::make_unique<client::Client>(*std::move(client));
}

void OptdServerTest::TearDown() {
  // Close the connection first: optd drains open connections on SIGTERM.
  client_.reset();
  if (optd_.running()) {
    const std::optional<int> code = optd_.Terminate(absl::Seconds(10));
    EXPECT_EQ(code, std::optional<int>(0))
        << "optd did not exit cleanly on SIGTERM";
  }
  if (HasFailure()) std::cerr << "--- optd log ---\n" << optd_.Log();
}

CommandRun Optctl(const std::string& address, const std::string& args) {
  const std::string command =
      absl::StrCat(OPTCTL_BINARY, " --server=", address, " ", args, " 2>&1");
  CommandRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    run.output.append(buffer, n);
  }
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace optd::testing
