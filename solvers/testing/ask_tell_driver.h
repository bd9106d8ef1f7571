// Drives any Solver (solver.h) through the ask-tell interface against an
// in-process objective, answering every kind of trial: value, gradient,
// value and gradient, dense Hessian, Hessian-vector product. Shared by the
// solvers' tests and bench/solver_quality.cc.
//
//   Objective objective{problem.evaluate, *HessianOf(problem.name)};
//   DriveResult run = Drive(*solver, objective);
//   EXPECT_TRUE(run.summary.success());
//
// A non-finite value or gradient is told as a failed evaluation, as a client
// should (optd rejects non-finite gradients).
//
// Thread-safety: a function of its arguments; the solver is used by one
// thread.
#ifndef OPTD_SOLVERS_TESTING_ASK_TELL_DRIVER_H_
#define OPTD_SOLVERS_TESTING_ASK_TELL_DRIVER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "Eigen/Core"
#include "solvers/core/solver.h"
#include "solvers/testing/mgh_hessians.h"

namespace optd::testing {

struct Objective {
  // f(x), and the gradient when the pointer is not null.
  std::function<double(const Eigen::VectorXd&, Eigen::VectorXd*)> evaluate;
  // Needed for kHessian and kHessianVector trials.
  problems::HessianFunction hessian;
};

struct DriveOptions {
  // Keep every trial point (and vector), in order.
  bool record_trials = false;
  // Tell the i-th trial (0-based) as failed.
  std::function<bool(int64_t)> fail_at;
  // Give up (leaving the solver unfinished) after this many tells.
  int64_t max_tells = 10'000'000;
};

struct DriveResult {
  Summary summary;  // valid when finished
  bool finished = false;
  Eigen::VectorXd x;  // ReadBestPoint
  std::vector<Eigen::VectorXd> trials;
  // Calls of the objective by kind: f and g together (kValue,
  // kValueAndGradient, kHessian's f and g), gradients alone (kGradient),
  // dense Hessians, Hessian-vector products.
  int64_t value_calls = 0, gradient_calls = 0, hessian_calls = 0,
          product_calls = 0;
};

DriveResult Drive(Solver& solver, const Objective& objective,
                  const DriveOptions& options = {});

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_ASK_TELL_DRIVER_H_
