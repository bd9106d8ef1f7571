// Shared by the trust-region tests: options for a subproblem, a solver made
// from them, and two objectives with analytic Hessians.
//
//   auto solver =
//   MakeTrustRegion(WithSubproblem(TrustRegionSubproblem::kExact),
//                                 x0);
//   testing::Drive(*solver, RosenbrockObjective());
//
// Thread-safety: plain functions.
#ifndef OPTD_SOLVERS_TESTING_TRUST_REGION_FIXTURES_H_
#define OPTD_SOLVERS_TESTING_TRUST_REGION_FIXTURES_H_

#include <cmath>
#include <memory>
#include <utility>

#include "Eigen/Dense"
#include "Eigen/SparseCore"
#include "solvers/testing/ask_tell_driver.h"
#include "solvers/testing/mgh_hessians.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/status_matchers.h"
#include "solvers/trust_region/trust_region.h"

namespace optd::testing {

inline constexpr TrustRegionSubproblem kAllSubproblems[] = {
    TrustRegionSubproblem::kExact, TrustRegionSubproblem::kNewtonCg,
    TrustRegionSubproblem::kNewtonCgFiniteDifference,
    TrustRegionSubproblem::kQuasiNewton};

inline TrustRegionOptions WithSubproblem(
    TrustRegionSubproblem subproblem,
    QuasiNewtonUpdate update = QuasiNewtonUpdate::kLsr1) {
  TrustRegionOptions options;
  options.subproblem = subproblem;
  options.quasi_newton_update = update;
  return options;
}

inline std::unique_ptr<TrustRegion> MakeTrustRegion(
    const TrustRegionOptions& options, const Eigen::VectorXd& x0,
    int shards = 1) {
  auto solver = TrustRegion::Create(
      options, ConstVectorView::Float64(x0.data(), x0.size()), shards);
  EXPECT_OK(solver);
  return solver.ok() ? *std::move(solver) : nullptr;
}

// Moré, Garbow & Hillstrom problem 1.
inline Objective RosenbrockObjective() {
  const problems::TestProblem p = *problems::FindProblem("rosenbrock");
  return {p.evaluate, *problems::HessianOf("rosenbrock")};
}

// f = x^2 - y^2 + y^4/4: a saddle at the origin, minima f = -1 at
// (0, +-sqrt(2)). The line y = 0 is the saddle's stable manifold.
inline Objective SaddleObjective() {
  return {[](const Eigen::VectorXd& x, Eigen::VectorXd* g) {
            if (g != nullptr) {
              g->resize(2);
              (*g) << 2 * x(0), -2 * x(1) + x(1) * x(1) * x(1);
            }
            return x(0) * x(0) - x(1) * x(1) + std::pow(x(1), 4) / 4;
          },
          [](const Eigen::VectorXd& x) {
            Eigen::SparseMatrix<double> h(2, 2);
            h.insert(0, 0) = 2;
            h.insert(1, 1) = -2 + 3 * x(1) * x(1);
            return h;
          }};
}

// Answers the outstanding trial from `objective`, as Drive does, once.
inline void TellOne(Solver& solver, const Objective& objective) {
  DriveOptions once;
  once.max_tells = 1;
  Drive(solver, objective, once);
}

}  // namespace optd::testing

#endif  // OPTD_SOLVERS_TESTING_TRUST_REGION_FIXTURES_H_
