// bench/faults: the crash-consistency sweep (bench/fault_harness.h), wider
// than the CI suite: every fault class over a range of k, every power-loss
// mode over many seeds, the kill of each replica, on one replica and on
// three. Sessions of every solver, durable and checkpointed, both data paths.
// Prints a line per failed scenario and, last,
//   scenarios=.. acked=.. acked_lost=0 refused_to_start=0 mismatched=0
//   faults_fired=.. seconds=..
// Exit status 1 when anything acknowledged was lost, a replica refused to
// start or a session did not end as its uninterrupted run.
//
//   build/bench/faults --max_k=40 --seeds=10 --dir=/dev/shm/faults
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/fault_harness.h"

ABSL_FLAG(int, max_k, 40,
          "Disk-full and sync-failure scenarios for k = 1..max_k (the write "
          "or sync that fails first).");
ABSL_FLAG(int, seeds, 8, "Power-loss scenarios per loss mode.");
ABSL_FLAG(uint64_t, first_seed, 1, "The first seed of the power losses.");
ABSL_FLAG(std::string, dir, "",
          "Where the replicas' data directories go (default: $TMPDIR or "
          "/tmp); a tmpfs makes it faster.");

namespace {

using optd::faults::FaultKind;
using optd::faults::Scenario;
using Loss = optd::server::FaultInjectionEnv::Loss;

Scenario Make(std::string name, int replicas, FaultKind fault, int64_t k) {
  Scenario s;
  s.name = std::move(name);
  s.replicas = replicas;
  s.sessions = optd::faults::StandardSessions(replicas);
  s.fault = fault;
  s.k = k;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    dir = tmp != nullptr ? tmp : "/tmp";
  }
  dir = absl::StrCat(dir, "/optd-faults-", getpid());

  std::vector<Scenario> scenarios;
  for (int k = 1; k <= absl::GetFlag(FLAGS_max_k); ++k) {
    const int replicas = k % 3 == 0 ? 3 : 1;
    scenarios.push_back(
        Make(absl::StrCat("full-", k), replicas, FaultKind::kDiskFull, k));
    Scenario full_loss =
        Make(absl::StrCat("full-loss-", k), replicas, FaultKind::kDiskFull, k);
    full_loss.then_power_loss = true;
    full_loss.loss = k % 2 == 0 ? Loss::kGarbage : Loss::kDrop;
    full_loss.seed = static_cast<uint64_t>(k);
    scenarios.push_back(full_loss);
    scenarios.push_back(
        Make(absl::StrCat("sync-", k), replicas, FaultKind::kSyncFailure, k));
    Scenario sync_loss = Make(absl::StrCat("sync-loss-", k), replicas,
                              FaultKind::kSyncFailure, k);
    sync_loss.then_power_loss = true;
    sync_loss.seed = static_cast<uint64_t>(k);
    scenarios.push_back(sync_loss);
  }
  const uint64_t first = absl::GetFlag(FLAGS_first_seed);
  for (Loss loss : {Loss::kDrop, Loss::kTear, Loss::kGarbage}) {
    for (int i = 0; i < absl::GetFlag(FLAGS_seeds); ++i) {
      const uint64_t seed = first + static_cast<uint64_t>(i);
      Scenario s =
          Make(absl::StrCat("power-", static_cast<int>(loss), "-", seed),
               i % 2 == 0 ? 1 : 3, FaultKind::kPowerLoss,
               1 + static_cast<int64_t>(seed % 6));
      s.loss = loss;
      s.seed = seed;
      scenarios.push_back(s);
    }
  }
  for (int victim = 0; victim < 3; ++victim) {
    for (int64_t k : {1, 3, 7}) {
      Scenario s =
          Make(absl::StrCat("kill-", victim, "-", k), 3, FaultKind::kKill, k);
      s.victim = victim;
      scenarios.push_back(s);
    }
  }

  const absl::Time start = absl::Now();
  int64_t acked = 0, lost = 0, refused = 0, mismatched = 0, fired = 0;
  for (const Scenario& s : scenarios) {
    absl::StatusOr<optd::faults::Outcome> outcome =
        optd::faults::Run(s, absl::StrCat(dir, "/", s.name));
    if (!outcome.ok()) {
      std::printf("%s: harness error: %s\n", s.name.c_str(),
                  std::string(outcome.status().message()).c_str());
      return 2;
    }
    acked += outcome->acked;
    lost += outcome->acked_lost;
    refused += outcome->refused_to_start ? 1 : 0;
    mismatched += outcome->mismatched;
    fired += outcome->faults_fired;
    for (const std::string& problem : outcome->problems) {
      std::printf("%s: %s\n", s.name.c_str(), problem.c_str());
    }
  }
  std::printf(
      "scenarios=%zu acked=%lld acked_lost=%lld refused_to_start=%lld "
      "mismatched=%lld faults_fired=%lld seconds=%.1f\n",
      scenarios.size(), static_cast<long long>(acked),
      static_cast<long long>(lost), static_cast<long long>(refused),
      static_cast<long long>(mismatched), static_cast<long long>(fired),
      absl::ToDoubleSeconds(absl::Now() - start));
  return lost == 0 && refused == 0 && mismatched == 0 ? 0 : 1;
}
