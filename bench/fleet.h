// Child optd processes for benchmark programs: started with --port=0 and a
// port file in a temporary directory, stopped (SIGTERM) and the directory
// removed when the program exits, fails (Fail) or is interrupted.
//
//   optd::bench::InitFleet("sharding", absl::GetFlag(FLAGS_optd), ".");
//   pid_t pid;
//   int port = optd::bench::SpawnOptd("k1", {"--data_dir="}, &pid);
//   ...
//   optd::bench::StopOptd(pid);
//
// Thread-safety: thread-safe after InitFleet (called once, first, from main).
#ifndef OPTD_BENCH_FLEET_H_
#define OPTD_BENCH_FLEET_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/free_ports.h"

namespace optd::bench {

// Blocks SIGINT/SIGTERM (a thread cleans up on them), registers the cleanup
// at exit, and creates <dir>/optd-<program>-XXXXXX. `optd` is the binary.
void InitFleet(const std::string& program, const std::string& optd,
               const std::string& dir);
// The temporary directory.
const std::string& TempDir();

// Prints "<program>: what" and exits 1 (the cleanup runs).
[[noreturn]] void Fail(const std::string& what);

// Starts optd with `flags` (after --port=0 --port_file=... --log_level=warn,
// so a later --port wins) and waits for it to serve; returns its port.
int SpawnOptd(const std::string& name, std::vector<std::string> flags,
              pid_t* pid);
// SIGTERM and wait; returns its exit code (128 + the signal that killed
// it), so that a caller can check that it drained and exited cleanly.
int StopOptd(pid_t pid);
// Stops every child and removes the temporary directory now (also at exit).
void CleanupFleet();

// `replicas` optd processes that know each other (--peers, --replica_index
// when more than one), sessions in memory (--data_dir=: the state is what a
// benchmark measures, not the journal), plus `extra` flags.
struct ReplicaSet {
  std::vector<pid_t> pids;
  std::vector<std::string> addresses;
};
ReplicaSet StartReplicaSet(const std::string& name, int replicas,
                           const std::vector<std::string>& extra = {});
void StopReplicaSet(const ReplicaSet& set);

// A /proc/PID/status field given in kB (VmRSS, VmHWM, ...), as MB; Fail()s
// when `pid` has no such field.
double StatusMb(pid_t pid, const std::string& field);

// Free loopback ports (tests/free_ports.h).
using ::optd::testing::FreePorts;

inline double Micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}
// The p-quantile (0..1) of `samples`, nearest rank below.
double Percentile(std::vector<double> samples, double p);

}  // namespace optd::bench

#endif  // OPTD_BENCH_FLEET_H_
