// bench/soak's sessions: the objectives its clients evaluate (the extended
// and the chained Rosenbrock function, a diagonal quadratic), the plan of one
// session drawn from a seed (solver, n, step budget, unary calls or Optimize
// streams, how it ends), and the solver spec that creates it. bench/soak.cc's
// header describes the mix.
//
//   std::mt19937_64 rng(seed);
//   optd::bench::soak::Plan plan =
//       optd::bench::soak::DrawPlan("soak-1-0", rng, true, true, options);
//   optd::client::SolverSpec spec = optd::bench::soak::SpecFor(plan, rng);
#ifndef OPTD_BENCH_SOAK_PLAN_H_
#define OPTD_BENCH_SOAK_PLAN_H_

#include <cstdint>
#include <random>
#include <string>

#include "client/session.h"

namespace optd::bench::soak {

// Objectives: what `trial` wants of the function at trial.x (value,
// gradient, Hessian-vector product, dense Hessian).

// The extended Rosenbrock function (Moré, Garbow, Hillstrom 1981, problem
// 21), n even, with its 2x2-block Hessian.
optd::client::Evaluation Rosenbrock(const optd::client::Trial& trial);

// The chained (generalized) Rosenbrock function, sum_{i<n-1} 100 (x_{i+1} -
// x_i^2)^2 + (1 - x_i)^2, with its tridiagonal Hessian.
optd::client::Evaluation ChainedRosenbrock(const optd::client::Trial& trial);

// f = 1/2 sum_i d_i (x_i - 1)^2, d_i = 1 + i mod 10: Adam's objective.
optd::client::Evaluation Quadratic(const optd::client::Trial& trial);

enum class SolverKind {
  kLbfgs,
  kQuasiNewton,
  kNewtonCg,
  kNewtonCgFd,
  kExact,
  kAdam,
  kAdamW
};
constexpr int kSolverKinds = 7;

struct Plan {
  std::string id;
  SolverKind solver = SolverKind::kLbfgs;
  int64_t n = 2;
  int budget = 10;  // tells before the client ends the session
  bool stream = false;
  bool ask_each_step = false;   // unary: Ask before every Tell
  bool delete_running = false;  // at the budget: delete without a stop
  bool faults = true;
  bool chained = false;        // L-BFGS and trust region: ChainedRosenbrock
  bool check_journal = false;  // ExportSession at the end (CheckJournal)
};

// The ranges plans are drawn from. main() fills each field from the flag of
// the same name; the defaults here are those flags' defaults.
struct PlanOptions {
  // n is log-uniform in [min_dimension, max_dimension], rounded to even.
  int min_dimension = 2;
  int max_dimension = 2000;
  // Largest n of trust-region EXACT sessions (dense Hessian tells).
  int max_hessian_dimension = 200;
  // The step budget is uniform in [min_tells, max_tells].
  int min_tells = 50;
  int max_tells = 1000;
  // Share of sessions run over Optimize streams.
  double stream_fraction = 0.3;
  // Share of (faulted, journaled) sessions whose journal is checked.
  double export_fraction = 0.2;
};

// A plan drawn from `rng` alone, so that a seed gives the same sessions
// whichever thread runs them.
Plan DrawPlan(const std::string& id, std::mt19937_64& rng, bool faults,
              bool journals, const PlanOptions& options);

// The solver of `plan`, its options drawn from `rng` where they vary.
optd::client::SolverSpec SpecFor(const Plan& plan, std::mt19937_64& rng);

}  // namespace optd::bench::soak

#endif  // OPTD_BENCH_SOAK_PLAN_H_
