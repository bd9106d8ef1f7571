// bench/sharded_lbfgsb: what bounds cost a sharded lbfgs session. With a box
// the session is L-BFGS-B, whose Cauchy search, subspace step and line
// search each wait for the slices' sums (docs/sharding.md "Bounds and
// gradient checks"), against L-BFGS's one reduction per evaluation.
//
// On a fleet of 4 real optd replicas on this machine, the same extended
// Rosenbrock problem of --n variables (the client evaluates it) runs
// --evaluations evaluations four ways: lbfgs without and with a box (x_2i <=
// 0.8 on every third pair, active at the end; x_2i+1 >= -0.5), each on one
// replica (K = 1) and on K = 4 shards over the direct path. The client and
// the replicas share this machine's cores, so the figures are the protocol's
// cost, not K machines' bandwidth; compare the ratios.
//
// The last line:
//   evals_s_lbfgs_k1=... evals_s_lbfgs_k4=... evals_s_lbfgsb_k1=...
//   evals_s_lbfgsb_k4=... round_trips_per_eval_lbfgs_k4=...
//   round_trips_per_eval_lbfgsb_k4=... ratio_lbfgsb_k4_over_k1=...
//   ratio_lbfgsb_over_lbfgs_k4=...
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "bench/fleet.h"
#include "client/client.h"
#include "client/session.h"

ABSL_FLAG(std::string, optd, OPTD_BINARY, "The optd binary.");
ABSL_FLAG(std::string, dir, ".", "Where the temporary directory goes.");
ABSL_FLAG(int64_t, n, 2'000'000, "Variables of the problem.");
ABSL_FLAG(int, evaluations, 40, "Evaluations timed per configuration.");

namespace {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;
using ::optd::bench::Fail;
using Clock = std::chrono::steady_clock;

// Extended Rosenbrock (Moré, Garbow & Hillstrom 1981, problem 21) and its
// gradient.
double Rosenbrock(const std::vector<double>& x, std::vector<double>* g) {
  double f = 0.0;
  g->assign(x.size(), 0.0);
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    const double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
    f += 100.0 * a * a + b * b;
    (*g)[i] = -400.0 * a * x[i] - 2.0 * b;
    (*g)[i + 1] = 200.0 * a;
  }
  return f;
}

struct Run {
  double evals_per_second = 0.0;
  double round_trips_per_eval = 0.0;
};

Run Measure(const oc::Client& client, int64_t n, int shards, bool box,
            int evaluations) {
  const std::string id = absl::StrCat(box ? "lbfgsb" : "lbfgs", "-k", shards);
  std::vector<double> x0(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  oc::SessionOptions options;
  options.session_id = id;
  options.shards = shards;
  if (box) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    options.lower.assign(static_cast<size_t>(n), -kInf);
    options.upper.assign(static_cast<size_t>(n), kInf);
    for (int64_t i = 0; i + 1 < n; i += 2) {
      if ((i / 2) % 3 == 0) options.upper[i] = 0.8;
      options.lower[i + 1] = -0.5;
    }
  }
  v1::LbfgsOptions lbfgs;
  lbfgs.set_max_evaluations(evaluations + 10);
  absl::StatusOr<oc::Session> session =
      oc::Session::Create(client, x0, oc::SolverSpec::Lbfgs(lbfgs), options);
  if (!session.ok()) Fail(absl::StrCat(id, ": ", session.status().ToString()));
  std::vector<double> g;
  oc::Trial trial = session->first_trials()[0];
  int told = 0;
  const auto t0 = Clock::now();
  for (; told < evaluations; ++told) {
    const double f = Rosenbrock(trial.x, &g);
    absl::StatusOr<oc::Answer> answer = session->Tell(trial.id, f, g);
    if (!answer.ok()) Fail(absl::StrCat(id, ": ", answer.status().ToString()));
    if (answer->finished() || answer->trials.empty()) {
      ++told;
      break;
    }
    trial = answer->trials[0];
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - t0).count();
  absl::StatusOr<v1::Session> described = client.GetSession(id);
  if (!described.ok()) Fail(described.status().ToString());
  Run run;
  run.evals_per_second = told / seconds;
  run.round_trips_per_eval =
      static_cast<double>(described->shard_round_trips()) / told;
  if (absl::Status s = session->Delete(); !s.ok()) Fail(s.ToString());
  std::printf(
      "%s K=%d n=%lld: %d evaluations, %.2f evaluations/s, %.1f round trips "
      "to the shards per evaluation\n",
      box ? "lbfgs with a box (L-BFGS-B)" : "lbfgs", shards,
      static_cast<long long>(n), told, run.evals_per_second,
      run.round_trips_per_eval);
  std::fflush(stdout);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Evaluations per second of sharded lbfgs sessions with and without "
      "bounds on K = 1 and 4 real optd replicas (see the file's header).");
  absl::ParseCommandLine(argc, argv);
  const int64_t n = absl::GetFlag(FLAGS_n);
  const int evaluations = absl::GetFlag(FLAGS_evaluations);
  if (n < 2 || evaluations < 1) {
    std::fprintf(stderr, "sharded_lbfgsb: --n >= 2, --evaluations >= 1\n");
    return 2;
  }
  optd::bench::InitFleet("sharded_lbfgsb", absl::GetFlag(FLAGS_optd),
                         absl::GetFlag(FLAGS_dir));
  const optd::bench::ReplicaSet fleet =
      optd::bench::StartReplicaSet("fleet", 4);
  absl::StatusOr<oc::Client> client = oc::Client::Connect(fleet.addresses[0]);
  if (!client.ok()) Fail(client.status().ToString());
  const Run lbfgs1 = Measure(*client, n, 1, false, evaluations);
  const Run lbfgs4 = Measure(*client, n, 4, false, evaluations);
  const Run box1 = Measure(*client, n, 1, true, evaluations);
  const Run box4 = Measure(*client, n, 4, true, evaluations);
  optd::bench::StopReplicaSet(fleet);
  optd::bench::CleanupFleet();
  std::printf(
      "evals_s_lbfgs_k1=%.3f evals_s_lbfgs_k4=%.3f evals_s_lbfgsb_k1=%.3f "
      "evals_s_lbfgsb_k4=%.3f round_trips_per_eval_lbfgs_k4=%.1f "
      "round_trips_per_eval_lbfgsb_k4=%.1f ratio_lbfgsb_k4_over_k1=%.2f "
      "ratio_lbfgsb_over_lbfgs_k4=%.2f\n",
      lbfgs1.evals_per_second, lbfgs4.evals_per_second, box1.evals_per_second,
      box4.evals_per_second, lbfgs4.round_trips_per_eval,
      box4.round_trips_per_eval, box4.evals_per_second / box1.evals_per_second,
      box4.evals_per_second / lbfgs4.evals_per_second);
  return 0;
}
