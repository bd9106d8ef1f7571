// Parallel workers on one finite-difference session: how much of the
// stencil's parallelism W workers get through one real optd.
//
// A bounded extended Rosenbrock problem (n = --n, x_i <= 0.5 on the even
// coordinates, so that the box cuts the minimizer) runs as an L-BFGS-B
// session with gradient_source FINITE_DIFFERENCE: every gradient is a batch
// of 2n + 1 value trials. W worker threads (each its own connection) serve
// it with Ask(worker_id) / Tell(worker_id), each evaluation sleeping
// --eval_ms first, as a slow objective (a training run) would. The baseline
// is W = 1 in the same run; the ideal speedup with batches of b = 2n + 1 is
// b / ceil(b / W) (the last round of a batch waits for the slowest worker).
// Every run must end at the same point, bit for bit, after the same number
// of evaluations (the tell order within a batch does not matter).
//
// Last line: n, eval_ms, evaluations, w<W>_s (wall seconds), speedup_w<W>
// and ideal_w<W> per W, same_result.
//
//   build/bench/workers [--n=8] [--eval_ms=20] [--workers=1,2,4,8]
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/fleet.h"
#include "client/client.h"
#include "client/session.h"
#include "client/vector_codec.h"

ABSL_FLAG(std::string, optd, OPTD_BINARY, "The optd binary.");
ABSL_FLAG(int, n, 8, "Dimension of the problem (even).");
ABSL_FLAG(int, eval_ms, 20, "Milliseconds each evaluation sleeps.");
ABSL_FLAG(std::string, workers, "1,2,4,8", "Worker counts to run.");

namespace optd::bench {
namespace {

// Extended Rosenbrock (Moré, Garbow & Hillstrom 1981, problem 21).
double Rosenbrock(const std::vector<double>& x) {
  double f = 0;
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    const double a = 10 * (x[i + 1] - x[i] * x[i]), b = 1 - x[i];
    f += a * a + b * b;
  }
  return f;
}

struct Run {
  double seconds = 0;
  int64_t evaluations = 0;
  std::vector<double> x;
};

Run Serve(const client::Client& client, int n, int workers, int eval_ms,
          const std::string& id) {
  std::vector<double> x0(n), lower(n, -2.0), upper(n, 2.0);
  for (int i = 0; i < n; ++i) {
    x0[i] = i % 2 == 0 ? -1.2 : 1.0;
    if (i % 2 == 0) upper[i] = 0.5;
  }
  client::SessionOptions options;
  options.session_id = id;
  options.lower = lower;
  options.upper = upper;
  options.gradient_source = v1::GRADIENT_SOURCE_FINITE_DIFFERENCE;
  absl::StatusOr<client::Session> session =
      client::Session::Create(client, x0, client::SolverSpec::Lbfgs(), options);
  if (!session.ok()) Fail(session.status().ToString());
  const auto start = std::chrono::steady_clock::now();
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      const std::string worker = absl::StrCat("worker-", w);
      absl::StatusOr<client::Answer> answer = session->AskAsWorker(worker);
      while (answer.ok() && !answer->finished()) {
        if (answer->trials.empty()) {
          absl::SleepFor(std::clamp(answer->retry_after, absl::Milliseconds(1),
                                    absl::Milliseconds(5)));
          answer = session->AskAsWorker(worker);
          continue;
        }
        const client::Trial& trial = answer->trials.front();
        absl::SleepFor(absl::Milliseconds(eval_ms));
        client::Evaluation evaluation;
        evaluation.value = Rosenbrock(trial.x);
        v1::TellRequest tell = client::MakeTellRequest(trial.id, evaluation,
                                                       v1::VECTOR_ENCODING_F64);
        tell.set_worker_id(worker);
        answer = session->Tell(tell);
      }
      if (!answer.ok()) {
        std::cerr << worker << ": " << answer.status() << "\n";
        failed = true;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failed) Fail("a worker failed");
  Run run;
  run.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  absl::StatusOr<v1::Session> info = session->Get(/*include_x=*/true);
  if (!info.ok()) Fail(info.status().ToString());
  if (info->state() != v1::SESSION_STATE_CONVERGED) {
    Fail(absl::StrCat(id, " ended ", v1::SessionState_Name(info->state())));
  }
  run.evaluations = info->evaluations();
  absl::StatusOr<std::vector<double>> x = client::DecodeVector(info->best_x());
  if (!x.ok()) Fail(x.status().ToString());
  run.x = *x;
  (void)session->Delete();
  return run;
}

int Main() {
  const int n = absl::GetFlag(FLAGS_n);
  const int eval_ms = absl::GetFlag(FLAGS_eval_ms);
  if (n < 2 || n % 2 != 0) Fail("--n must be even and at least 2");
  std::vector<int> counts;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_workers), ',')) {
    int w = 0;
    if (!absl::SimpleAtoi(part, &w) || w < 1) Fail("bad --workers");
    counts.push_back(w);
  }
  if (counts.empty() || counts.front() != 1) {
    Fail("--workers must start with 1 (the baseline)");
  }
  pid_t pid;
  const int port = SpawnOptd(
      "optd", {absl::StrCat("--data_dir=", TempDir(), "/data")}, &pid);
  absl::StatusOr<client::Client> client =
      client::Client::Connect(absl::StrCat("127.0.0.1:", port));
  if (!client.ok()) Fail(client.status().ToString());

  const int batch = 2 * n + 1;
  std::vector<Run> runs;
  std::string last = absl::StrFormat("n=%d eval_ms=%d", n, eval_ms);
  bool same = true;
  std::cout << absl::StrFormat("%8s %10s %12s %9s %7s\n", "workers", "seconds",
                               "evaluations", "speedup", "ideal");
  for (int w : counts) {
    runs.push_back(Serve(*client, n, w, eval_ms, absl::StrCat("w", w)));
    const Run& run = runs.back();
    const double speedup = runs.front().seconds / run.seconds;
    const double ideal =
        static_cast<double>(batch) / std::ceil(static_cast<double>(batch) / w);
    same = same && run.x == runs.front().x &&
           run.evaluations == runs.front().evaluations;
    std::cout << absl::StrFormat("%8d %10.2f %12d %9.2f %7.2f\n", w,
                                 run.seconds, run.evaluations, speedup, ideal);
    if (w == 1) {
      absl::StrAppend(&last, " evaluations=", run.evaluations);
    }
    absl::StrAppendFormat(&last, " w%d_s=%.2f", w, run.seconds);
    if (w > 1) {
      absl::StrAppendFormat(&last, " speedup_w%d=%.2f ideal_w%d=%.2f", w,
                            speedup, w, ideal);
    }
  }
  absl::StrAppend(&last, " same_result=", same ? "true" : "false");
  if (StopOptd(pid) != 0) Fail("optd did not exit cleanly");
  std::cout << last << std::endl;
  return same ? 0 : 1;
}

}  // namespace
}  // namespace optd::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "W workers on one finite-difference session against one worker; see "
      "the top of bench/workers.cc.");
  absl::ParseCommandLine(argc, argv);
  optd::bench::InitFleet("workers", absl::GetFlag(FLAGS_optd), ".");
  return optd::bench::Main();
}
