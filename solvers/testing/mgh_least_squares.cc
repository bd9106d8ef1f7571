// FindResidualProblem (mgh_least_squares.h): the residual functions of
// mgh_residuals.h by problem name, with r and J read off the Assembler.
#include "solvers/testing/mgh_least_squares.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/testing/mgh_problems.h"
#include "solvers/testing/mgh_residuals.h"

namespace optd::problems {
namespace {

const std::map<std::string, residuals::Residuals>& ByName() {
  static const auto* const table =
      new std::map<std::string, residuals::Residuals>{
          {"rosenbrock", residuals::Rosenbrock},
          {"freudenstein_roth", residuals::FreudensteinRoth},
          {"powell_badly_scaled", residuals::PowellBadlyScaled},
          {"brown_badly_scaled", residuals::BrownBadlyScaled},
          {"beale", residuals::Beale},
          {"jennrich_sampson", residuals::JennrichSampson},
          {"helical_valley", residuals::HelicalValley},
          {"bard", residuals::Bard},
          {"gaussian", residuals::Gaussian},
          {"meyer", residuals::Meyer},
          {"gulf", residuals::Gulf},
          {"box_3d", residuals::Box3d},
          {"powell_singular", residuals::ExtendedPowellSingular},
          {"wood", residuals::Wood},
          {"kowalik_osborne", residuals::KowalikOsborne},
          {"brown_dennis", residuals::BrownDennis},
          {"osborne_1", residuals::Osborne1},
          {"biggs_exp6", residuals::BiggsExp6},
          {"osborne_2", residuals::Osborne2},
          {"watson_6", residuals::Watson},
          {"watson_9", residuals::Watson},
          {"extended_rosenbrock_1000", residuals::ExtendedRosenbrock},
          {"extended_powell_100", residuals::ExtendedPowellSingular},
          {"penalty_1_10", residuals::Penalty1},
          {"penalty_2_10", residuals::Penalty2},
          {"variably_dimensioned_10", residuals::VariablyDimensioned},
          {"trigonometric_10", residuals::Trigonometric},
          {"brown_almost_linear_10", residuals::BrownAlmostLinear},
          {"discrete_boundary_value_10", residuals::DiscreteBoundaryValue},
          {"discrete_integral_equation_10",
           residuals::DiscreteIntegralEquation},
          {"broyden_tridiagonal_10", residuals::BroydenTridiagonal},
          {"broyden_banded_10", residuals::BroydenBanded},
          {"linear_full_rank_10", residuals::LinearFullRank},
          {"linear_rank_1_10", residuals::LinearRank1},
          {"linear_rank_1_zero_10", residuals::LinearRank1Zero},
          {"chebyquad_8", residuals::Chebyquad},
      };
  return *table;
}

}  // namespace

absl::StatusOr<ResidualProblem> FindResidualProblem(std::string_view name) {
  auto it = ByName().find(std::string(name));
  absl::StatusOr<TestProblem> base = FindProblem(name);
  if (it == ByName().end() || !base.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no least-squares problem called ", std::string(name)));
  }
  const residuals::Residuals fn = it->second;
  ResidualProblem p;
  p.name = base->name;
  p.n = base->n;
  p.x0 = base->x0;
  p.evaluate = [fn](const Eigen::VectorXd& x, Eigen::VectorXd* r,
                    Eigen::MatrixXd* jac) {
    Assembler a(x);
    fn(a);
    *r = a.Residuals();
    if (jac != nullptr) *jac = a.Jacobian();
  };
  Eigen::VectorXd r0;
  p.evaluate(p.x0, &r0, nullptr);
  p.m = static_cast<int>(r0.size());
  return p;
}

}  // namespace optd::problems
