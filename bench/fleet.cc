#include "bench/fleet.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace optd::bench {
namespace {

std::string program_name = "bench";
std::string optd_binary;
// Set once SIGINT/SIGTERM arrived: the servers are going away on purpose.
std::atomic<bool> interrupted{false};
std::mutex cleanup_mu;
std::vector<pid_t> children;
std::string temp_dir;

int StopChild(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

void Cleanup() {
  std::lock_guard<std::mutex> lock(cleanup_mu);
  for (pid_t pid : children) StopChild(pid);
  children.clear();
  if (!temp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir, ignored);
    temp_dir.clear();
  }
}

}  // namespace

void InitFleet(const std::string& program, const std::string& optd,
               const std::string& dir) {
  program_name = program;
  optd_binary = optd;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Children get an empty mask back (SpawnOptd).
  std::thread([signals] {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) return;
    interrupted = true;
    Cleanup();
    std::fflush(stdout);
    _exit(128 + signal);
  }).detach();
  std::atexit(Cleanup);
  std::string pattern = dir + "/optd-" + program + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    Fail(absl::StrCat("cannot create ", pattern, ": ", strerror(errno)));
  }
  std::lock_guard<std::mutex> lock(cleanup_mu);
  temp_dir = std::filesystem::absolute(pattern).lexically_normal().string();
}

const std::string& TempDir() { return temp_dir; }

void Fail(const std::string& what) {
  // Interrupted: the signal thread cleans up and exits; say nothing.
  while (interrupted.load()) pause();
  std::fprintf(stderr, "%s: %s\n", program_name.c_str(), what.c_str());
  std::exit(1);  // the atexit cleanup stops the servers, removes the dir
}

int SpawnOptd(const std::string& name, std::vector<std::string> flags,
              pid_t* pid) {
  const std::string port_file = temp_dir + "/" + name + ".port";
  std::vector<std::string> args = {
      optd_binary, "--port=0", "--port_file=" + port_file, "--log_level=warn"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const int spawned =
      posix_spawn(pid, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0) {
    Fail(absl::StrCat("cannot start ", args[0], ": ", strerror(spawned)));
  }
  {
    std::lock_guard<std::mutex> lock(cleanup_mu);
    children.push_back(*pid);
  }
  for (int i = 0; i < 600; ++i) {
    int port = 0;
    std::ifstream in(port_file);
    if (in >> port && port > 0) return port;
    if (waitpid(*pid, nullptr, WNOHANG) == *pid) {
      {
        std::lock_guard<std::mutex> lock(cleanup_mu);
        children.erase(std::find(children.begin(), children.end(), *pid));
      }
      Fail(absl::StrCat(args[0], " (", name, ") exited before serving"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Fail(absl::StrCat(args[0], " did not write ", port_file));
}

int StopOptd(pid_t pid) {
  {
    std::lock_guard<std::mutex> lock(cleanup_mu);
    auto it = std::find(children.begin(), children.end(), pid);
    if (it != children.end()) children.erase(it);
  }
  return StopChild(pid);
}

void CleanupFleet() { Cleanup(); }

ReplicaSet StartReplicaSet(const std::string& name, int replicas,
                           const std::vector<std::string>& extra) {
  ReplicaSet set;
  const std::vector<int> ports = FreePorts(replicas);
  for (int port : ports) {
    set.addresses.push_back(absl::StrCat("127.0.0.1:", port));
  }
  std::string peers;
  for (const std::string& address : set.addresses) {
    absl::StrAppend(&peers, peers.empty() ? "" : ",", address);
  }
  for (int r = 0; r < replicas; ++r) {
    std::vector<std::string> flags = {absl::StrCat("--port=", ports[r]),
                                      "--data_dir="};
    if (replicas > 1) {
      flags.push_back(absl::StrCat("--peers=", peers));
      flags.push_back(absl::StrCat("--replica_index=", r));
    }
    flags.insert(flags.end(), extra.begin(), extra.end());
    pid_t pid;
    SpawnOptd(absl::StrCat(name, "-", r), flags, &pid);
    set.pids.push_back(pid);
  }
  return set;
}

void StopReplicaSet(const ReplicaSet& set) {
  for (pid_t pid : set.pids) StopOptd(pid);
}

double Percentile(std::vector<double> samples, double p) {
  std::sort(samples.begin(), samples.end());
  return samples[static_cast<size_t>(p * (samples.size() - 1))];
}

double StatusMb(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stod(line.substr(field.size() + 1)) / 1024.0;
    }
  }
  Fail(absl::StrCat("no ", field, " in /proc/", pid, "/status"));
}

}  // namespace optd::bench
