// The crash-consistency harness (docs/durability.md): real optd replicas in
// this process, each on its own loopback port with its data directory behind
// a FaultInjectionEnv, driven by the real C++ client, with one fault injected
// per scenario. tests/crash_consistency_test.cc runs a fixed set of scenarios
// in CI; bench/faults runs a wider sweep and prints
//   scenarios=.. acked=.. acked_lost=0 refused_to_start=0 mismatched=0
//
// A scenario creates its sessions, tells each a few trials, injects its
// fault, lets the sessions run on through it (retrying what the server
// refuses), recovers (restarts replicas, frees the disk), and then checks
//   - that every replica started again;
//   - that every acknowledged tell is in its session (a per-tell durable
//     session holds at least every trial it acknowledged; a checkpointed one
//     at least its last durable step the client saw);
//   - that every session then ends bitwise as an uninterrupted run of the
//     same session on one replica in memory: the same point for every trial
//     id (rewound trials included) and the same summary.
//
//   faults::Scenario scenario = ...;
//   absl::StatusOr<faults::Outcome> outcome = faults::Run(scenario, dir);
//
// Thread-safety: a scenario runs on the calling thread (the servers have
// their own).
#ifndef OPTD_BENCH_FAULT_HARNESS_H_
#define OPTD_BENCH_FAULT_HARNESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/session.h"
#include "server/rpc/server.h"
#include "server/storage/fault_injection_env.h"

namespace optd::faults {

// Cluster: R optd replicas in this process (OptdServer), each on a loopback
// port picked up front (so that they know each other: --peers), with its own
// data directory under `root` (created, and removed with the cluster)
// reached through its own FaultInjectionEnv.
// Storage retries every 20 ms, replica calls give up after 1 s, log segments
// are 64 KiB: faults show quickly.
class Cluster {
 public:
  Cluster(int replicas, std::string root);
  // Stops every replica still running.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts replica r (again) on its port and directory.
  absl::Status Start(int r);
  absl::Status StartAll();
  // Stops replica r as it is (a clean shutdown, for what its disk allows).
  void Stop(int r);
  // Replica r loses power (`loss`; kill -9 is Loss::kKeep): nothing more
  // reaches its disk, it stops, and its machine is on again, not restarted.
  void PowerLoss(int r, server::FaultInjectionEnv::Loss loss, uint64_t seed);

  server::FaultInjectionEnv& env(int r) { return *envs_[r]; }
  int size() const { return replicas_; }
  const std::string& address(int r) const { return peers_[r]; }
  absl::StatusOr<client::Client> Connect(int r) const;

 private:
  const int replicas_;
  const std::string root_;
  std::vector<int> ports_;
  std::vector<std::string> peers_;
  std::vector<std::unique_ptr<server::FaultInjectionEnv>> envs_;
  std::vector<std::unique_ptr<server::OptdServer>> servers_;
};

// One session of a scenario.
struct Plan {
  std::string id;
  // "lbfgs", "tr-lsr1", "tr-lbfgs", "tr-newton-cg" or "adam".
  std::string solver = "lbfgs";
  int64_t n = 8;
  // 0 or 1: one replica; K: sharded over K replicas.
  int shards = 0;
  // Sharded: the direct data path (PutSlice/GetSlice), else the gateway.
  bool direct = true;
  // 0: every tell durable; N > 0: a checkpoint every N tells.
  int64_t checkpoint_interval = 0;
  // The replica it is created on.
  int home = 0;
  // "lbfgs": after its warmup tells, before the fault, the session (of the
  // first-order family, on one replica, durable tell by tell: the acked
  // count of a checkpointed one would not add the old solver's tells)
  // switches to L-BFGS in place
  // (SwitchSolver); the uninterrupted run switches at the same step.
  std::string switch_to;
  // The id of an earlier plan: after that plan's warmup, this session is its
  // ForkSession copy at its last durable step, on `shards` replicas (solver
  // and n must be the source's), and goes on as the source would have.
  std::string fork_of;
};

enum class FaultKind {
  // Every write from the k-th on fails with ENOSPC (a full disk) until the
  // disk is freed.
  kDiskFull,
  // The k-th sync fails with EIO, once.
  kSyncFailure,
  // After k more tells, the whole cluster loses power (`loss`, `seed`).
  kPowerLoss,
  // After k more tells, replica `victim` is killed (kill -9: the page cache
  // survives) and started again.
  kKill,
};

struct Scenario {
  std::string name;
  int replicas = 1;
  std::vector<Plan> sessions;
  FaultKind fault = FaultKind::kDiskFull;
  int64_t k = 1;
  // kDiskFull, kSyncFailure: the replicas whose disks fail (-1: all).
  int victim = -1;
  server::FaultInjectionEnv::Loss loss = server::FaultInjectionEnv::Loss::kDrop;
  uint64_t seed = 1;
  // kDiskFull, kSyncFailure: after the fault, the power goes too (with
  // `loss`) before the disk is freed: recovery instead of repair.
  bool then_power_loss = false;
  // Tells each session gets before the fault, and at most during it.
  int warmup_tells = 6;
  int tells_during_fault = 12;
};

struct Outcome {
  int64_t sessions = 0;
  // Tells acknowledged (per-tell durable) or made durable (checkpointed)
  // before the recovery, and how many of them recovery lost.
  int64_t acked = 0;
  int64_t acked_lost = 0;
  bool refused_to_start = false;
  // Sessions that did not end bitwise as the uninterrupted run.
  int64_t mismatched = 0;
  // Faults the environment injected (a scenario whose fault never fired
  // tested nothing).
  int64_t faults_fired = 0;
  // What went wrong, one line each.
  std::vector<std::string> problems;
};

// faults::Run()
//
// Runs `scenario` with its replicas' data directories under `root` (created
// and removed). An error only for a harness failure (no port, no directory).
absl::StatusOr<Outcome> Run(const Scenario& scenario, const std::string& root);

// The sessions every scenario of the suite uses on `replicas` replicas:
// each solver, one replica and sharded (K = 2, 3 when there are replicas for
// it), durable and checkpointed, direct path and gateway.
std::vector<Plan> StandardSessions(int replicas);

}  // namespace optd::faults

#endif  // OPTD_BENCH_FAULT_HARNESS_H_
