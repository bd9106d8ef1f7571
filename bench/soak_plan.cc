// bench/soak's objectives, plan drawing and solver specs (soak_plan.h).
#include "bench/soak_plan.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "optd/v1/optimizer.pb.h"

namespace optd::bench::soak {

namespace v1 = ::optd::v1;
namespace oc = ::optd::client;

// The extended Rosenbrock function (Moré, Garbow, Hillstrom 1981, problem
// 21), n even: what `trial` wants of it, with its 2x2-block Hessian.
oc::Evaluation Rosenbrock(const oc::Trial& trial) {
  const std::vector<double>& x = trial.x;
  const size_t n = x.size();
  oc::Evaluation e;
  double f = 0;
  std::vector<double> g(n);
  std::vector<double> hv;
  if (oc::WantsHessianVector(trial.wants)) hv.resize(n);
  if (oc::WantsHessian(trial.wants)) e.hessian.assign(n * n, 0.0);
  for (size_t i = 0; i + 1 < n; i += 2) {
    const double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    f += 100 * t * t + u * u;
    g[i] = -400 * x[i] * t - 2 * u;
    g[i + 1] = 200 * t;
    const double h11 = 1200 * x[i] * x[i] - 400 * x[i + 1] + 2;
    const double h12 = -400 * x[i], h22 = 200;
    if (!hv.empty()) {
      hv[i] = h11 * trial.vector[i] + h12 * trial.vector[i + 1];
      hv[i + 1] = h12 * trial.vector[i] + h22 * trial.vector[i + 1];
    }
    if (!e.hessian.empty()) {
      e.hessian[i * n + i] = h11;
      e.hessian[i * n + i + 1] = e.hessian[(i + 1) * n + i] = h12;
      e.hessian[(i + 1) * n + i + 1] = h22;
    }
  }
  if (oc::WantsValue(trial.wants)) e.value = f;
  if (oc::WantsGradient(trial.wants)) e.gradient = std::move(g);
  e.hessian_vector = std::move(hv);
  return e;
}

// The chained (generalized) Rosenbrock function, sum_{i<n-1} 100 (x_{i+1} -
// x_i^2)^2 + (1 - x_i)^2 (Moré, Garbow, Hillstrom's problem 21 with the
// pairs overlapping): its tridiagonal Hessian couples every variable, and
// L-BFGS needs hundreds to thousands of steps from (-1.2, 1, ...), so these
// sessions run to their budget.
oc::Evaluation ChainedRosenbrock(const oc::Trial& trial) {
  const std::vector<double>& x = trial.x;
  const size_t n = x.size();
  oc::Evaluation e;
  double f = 0;
  std::vector<double> g(n, 0.0), diagonal(n, 0.0), off(n, 0.0);
  for (size_t i = 0; i + 1 < n; ++i) {
    const double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    f += 100 * t * t + u * u;
    g[i] += -400 * x[i] * t - 2 * u;
    g[i + 1] += 200 * t;
    diagonal[i] += 1200 * x[i] * x[i] - 400 * x[i + 1] + 2;
    diagonal[i + 1] += 200;
    off[i] = -400 * x[i];  // H(i, i+1) = H(i+1, i)
  }
  if (oc::WantsHessianVector(trial.wants)) {
    const std::vector<double>& v = trial.vector;
    e.hessian_vector.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      double hv = diagonal[i] * v[i];
      if (i + 1 < n) hv += off[i] * v[i + 1];
      if (i > 0) hv += off[i - 1] * v[i - 1];
      e.hessian_vector[i] = hv;
    }
  }
  if (oc::WantsHessian(trial.wants)) {
    e.hessian.assign(n * n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      e.hessian[i * n + i] = diagonal[i];
      if (i + 1 < n)
        e.hessian[i * n + i + 1] = e.hessian[(i + 1) * n + i] = off[i];
    }
  }
  if (oc::WantsValue(trial.wants)) e.value = f;
  if (oc::WantsGradient(trial.wants)) e.gradient = std::move(g);
  return e;
}

// f = 1/2 sum_i d_i (x_i - 1)^2, d_i = 1 + i mod 10: Adam's objective.
oc::Evaluation Quadratic(const oc::Trial& trial) {
  oc::Evaluation e;
  double f = 0;
  std::vector<double> g(trial.x.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const double d = 1 + static_cast<double>(i % 10), r = trial.x[i] - 1;
    f += 0.5 * d * r * r;
    g[i] = d * r;
  }
  if (oc::WantsValue(trial.wants)) e.value = f;
  if (oc::WantsGradient(trial.wants)) e.gradient = std::move(g);
  return e;
}

Plan DrawPlan(const std::string& id, std::mt19937_64& rng, bool faults,
              bool journals, const PlanOptions& options) {
  std::uniform_real_distribution<double> unit(0, 1);
  Plan plan;
  plan.id = id;
  plan.faults = faults;
  // Weights: L-BFGS 30, quasi-Newton 20, Newton-CG 10, its FD form 5, exact
  // 10, Adam 15, AdamW 10 (of 100).
  const double r = unit(rng);
  plan.solver = r < 0.30   ? SolverKind::kLbfgs
                : r < 0.50 ? SolverKind::kQuasiNewton
                : r < 0.60 ? SolverKind::kNewtonCg
                : r < 0.65 ? SolverKind::kNewtonCgFd
                : r < 0.75 ? SolverKind::kExact
                : r < 0.90 ? SolverKind::kAdam
                           : SolverKind::kAdamW;
  int max_n = options.max_dimension;
  if (plan.solver == SolverKind::kExact) {
    max_n = std::min(max_n, options.max_hessian_dimension);
  }
  const int min_n = std::min(options.min_dimension, max_n);
  const double log_n =
      std::log(std::max(min_n, 2)) +
      unit(rng) * (std::log(std::max(max_n, 2)) - std::log(std::max(min_n, 2)));
  plan.n = std::max<int64_t>(2, 2 * std::llround(std::exp(log_n) / 2));
  plan.budget = std::uniform_int_distribution<int>(
      options.min_tells, std::max(options.min_tells, options.max_tells))(rng);
  plan.stream = unit(rng) < options.stream_fraction;
  plan.ask_each_step = unit(rng) < 0.25;
  plan.delete_running = unit(rng) < 0.3;
  plan.chained = unit(rng) < 0.5;
  plan.check_journal =
      faults && journals && unit(rng) < options.export_fraction;
  return plan;
}

oc::SolverSpec SpecFor(const Plan& plan, std::mt19937_64& rng) {
  v1::TrustRegionOptions tr;
  switch (plan.solver) {
    case SolverKind::kLbfgs:
      return oc::SolverSpec::Lbfgs();
    case SolverKind::kQuasiNewton:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_QUASI_NEWTON);
      tr.set_quasi_newton_update(
          rng() % 2 == 0 ? v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LSR1
                         : v1::TrustRegionOptions::QUASI_NEWTON_UPDATE_LBFGS);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kNewtonCg:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kNewtonCgFd:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_NEWTON_CG_FD);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kExact:
      tr.set_subproblem(v1::TrustRegionOptions::SUBPROBLEM_EXACT);
      return oc::SolverSpec::TrustRegion(tr);
    case SolverKind::kAdam:
    case SolverKind::kAdamW:
      break;
  }
  v1::AdamOptions adam;
  adam.set_lr(1e-2);
  // Half end on their own (max_steps), half when the client stops them.
  if (rng() % 2 == 0) adam.set_max_steps(plan.budget / 2 + 1);
  return plan.solver == SolverKind::kAdam ? oc::SolverSpec::Adam(adam)
                                          : oc::SolverSpec::AdamW(adam);
}

}  // namespace optd::bench::soak
