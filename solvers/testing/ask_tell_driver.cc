#include "solvers/testing/ask_tell_driver.h"

#include <cmath>

#include "Eigen/Dense"
#include "Eigen/SparseCore"

namespace optd::testing {

DriveResult Drive(Solver& solver, const Objective& objective,
                  const DriveOptions& options) {
  DriveResult run;
  const int64_t n = solver.dimension();
  Eigen::VectorXd x(n), g(n), v(n);
  int64_t count = 0;
  while (!solver.finished() && count < options.max_tells) {
    if (!solver.ReadTrialPoint(MutableVectorView::Float64(x.data(), n)).ok()) {
      break;
    }
    if (options.record_trials) run.trials.push_back(x);
    const Evaluation wants = solver.wants();
    TrialResult r;
    absl::Status status;
    if (options.fail_at && options.fail_at(count)) {
      r.failed = true;
    } else if (wants == Evaluation::kHessianVector) {
      status = solver.ReadTrialVector(MutableVectorView::Float64(v.data(), n));
      if (options.record_trials) run.trials.push_back(v);
      const Eigen::VectorXd hv = objective.hessian(x) * v;
      ++run.product_calls;
      if (hv.allFinite()) {
        r.has_hessian_vector = true;
        status.Update(solver.SetTrialHessianVector(
            ConstVectorView::Float64(hv.data(), n)));
      } else {
        r.failed = true;
      }
    } else {
      const bool need_gradient = wants != Evaluation::kValue;
      const double f = objective.evaluate(x, need_gradient ? &g : nullptr);
      if (wants == Evaluation::kGradient) {
        ++run.gradient_calls;
      } else {
        ++run.value_calls;
        r.value = f;
      }
      const bool finite =
          (wants == Evaluation::kGradient || std::isfinite(f)) &&
          (!need_gradient || g.allFinite());
      if (!finite) {
        r.failed = true;
      } else if (need_gradient) {
        r.has_gradient = true;
        status = solver.SetTrialGradient(ConstVectorView::Float64(g.data(), n));
      }
      if (finite && wants == Evaluation::kHessian) {
        // Row-major; the matrix is symmetric.
        const Eigen::MatrixXd h = Eigen::MatrixXd(objective.hessian(x));
        ++run.hessian_calls;
        if (h.allFinite()) {
          r.has_hessian = true;
          status.Update(solver.SetTrialHessian(
              ConstVectorView::Float64(h.data(), n * n)));
        } else {
          r.failed = true;
        }
      }
    }
    if (!status.ok()) break;
    if (!solver.Tell(r).ok()) break;
    ++count;
  }
  run.finished = solver.finished();
  if (run.finished) run.summary = solver.summary();
  run.x.resize(n);
  (void)solver.ReadBestPoint(MutableVectorView::Float64(run.x.data(), n));
  return run;
}

}  // namespace optd::testing
