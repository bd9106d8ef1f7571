// Objectives and loops shared by the end-to-end tests.
//
//   absl::StatusOr<Session> s = Session::Create(client, {-1.2, 1.0},
//                                               SolverSpec::Lbfgs());
//   absl::StatusOr<Result> r = RunUnary(*s, Rosenbrock);   // Ask/Tell loop
//
// Thread-safety: stateless functions; safe from any thread.
#ifndef OPTD_TESTS_TEST_OBJECTIVES_H_
#define OPTD_TESTS_TEST_OBJECTIVES_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/minimize.h"
#include "client/session.h"

namespace optd::testing {

// The extended Rosenbrock function (Moré, Garbow & Hillstrom 1981, problem
// 21; for n = 2 the classic one), minimum 0 at (1, ..., 1).
inline client::Evaluation Rosenbrock(const std::vector<double>& x,
                                     client::Wants wants) {
  double f = 0.0;
  std::vector<double> g(x.size(), 0.0);
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    const double a = 1.0 - x[i];
    const double b = x[i + 1] - x[i] * x[i];
    f += a * a + 100.0 * b * b;
    g[i] = -2.0 * a - 400.0 * x[i] * b;
    g[i + 1] = 200.0 * b;
  }
  client::Evaluation e;
  if (client::WantsValue(wants)) e.value = f;
  if (client::WantsGradient(wants)) e.gradient = std::move(g);
  return e;
}

// What `trial` wants of the extended Rosenbrock function: value, gradient,
// the Hessian-vector product with trial.vector, or (small n) the dense
// Hessian.
inline client::Evaluation ExtendedRosenbrock(const client::Trial& trial) {
  const std::vector<double>& x = trial.x;
  const size_t n = x.size();
  double f = 0;
  std::vector<double> g(n, 0.0), hv, h;
  const bool product = trial.wants == client::Wants::kHessianVector;
  const bool dense = trial.wants == client::Wants::kHessian;
  if (product) hv.assign(n, 0.0);
  if (dense) h.assign(n * n, 0.0);
  for (size_t i = 0; i + 1 < n; i += 2) {
    const double a = 1.0 - x[i];
    const double b = x[i + 1] - x[i] * x[i];
    f += a * a + 100.0 * b * b;
    g[i] = -2.0 * a - 400.0 * x[i] * b;
    g[i + 1] = 200.0 * b;
    const double h00 = 2.0 - 400.0 * b + 800.0 * x[i] * x[i];
    const double h01 = -400.0 * x[i];
    if (product) {
      hv[i] = h00 * trial.vector[i] + h01 * trial.vector[i + 1];
      hv[i + 1] = h01 * trial.vector[i] + 200.0 * trial.vector[i + 1];
    }
    if (dense) {
      h[i * n + i] = h00;
      h[i * n + i + 1] = h[(i + 1) * n + i] = h01;
      h[(i + 1) * n + i + 1] = 200.0;
    }
  }
  client::Evaluation e;
  switch (trial.wants) {
    case client::Wants::kHessianVector:
      e.hessian_vector = std::move(hv);
      break;
    case client::Wants::kGradient:
      e.gradient = std::move(g);
      break;
    default:
      e.value = f;
      if (trial.wants != client::Wants::kValue) e.gradient = std::move(g);
      e.hessian = std::move(h);
  }
  return e;
}

// Runs `session` to its end with unary Ask/Tell: Ask once, then tell each
// trial's evaluation and continue from the answer. INTERNAL when an answer
// holds other than one trial (these solvers hand out one at a time).
inline absl::StatusOr<client::Result> RunUnary(
    const client::Session& session, const client::Objective& objective) {
  absl::StatusOr<client::Answer> answer = session.Ask();
  while (answer.ok() && !answer->finished()) {
    if (answer->trials.size() != 1) {
      return absl::InternalError("expected exactly one outstanding trial");
    }
    const client::Trial& trial = answer->trials[0];
    answer = session.Tell(trial.id, objective(trial.x, trial.wants));
  }
  if (!answer.ok()) return answer.status();
  return *answer->summary;
}

}  // namespace optd::testing

#endif  // OPTD_TESTS_TEST_OBJECTIVES_H_
