// The residuals of Moré, Garbow & Hillstrom (1981) once more, on a
// second-order forward-mode type, to assemble analytic Hessians
// H = 2 (J^T J + sum_i r_i Hess r_i). The numbers in the comments are the
// paper's problem numbers; mgh_objectives*.cc have the same definitions with
// first derivatives only, and mgh_hessians_test.cc checks that the two agree.
#include "solvers/testing/mgh_hessians.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "solvers/testing/mgh_residuals.h"

namespace optd::problems {
namespace {

using Eigen::VectorXd;

using residuals::Residuals;

const std::map<std::string, Residuals>& FixedProblems() {
  static const auto* const problems = new std::map<std::string, Residuals>{
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
      {"penalty_1_10", residuals::Penalty1},
      {"penalty_2_10", residuals::Penalty2},
      {"variably_dimensioned_10", residuals::VariablyDimensioned},
      {"trigonometric_10", residuals::Trigonometric},
      {"brown_almost_linear_10", residuals::BrownAlmostLinear},
      {"discrete_integral_equation_10", residuals::DiscreteIntegralEquation},
      {"linear_full_rank_10", residuals::LinearFullRank},
      {"linear_rank_1_10", residuals::LinearRank1},
      {"linear_rank_1_zero_10", residuals::LinearRank1Zero},
      {"chebyquad_8", residuals::Chebyquad},
  };
  return *problems;
}

struct Family {
  Residuals residuals;
  const char* standard_name;  // the member of StandardProblems()
  int multiple;               // n must be a multiple of this
};

const std::map<std::string, Family>& Families() {
  static const auto* const families = new std::map<std::string, Family>{
      {"extended_rosenbrock",
       {residuals::ExtendedRosenbrock, "extended_rosenbrock_1000", 2}},
      {"extended_powell",
       {residuals::ExtendedPowellSingular, "extended_powell_100", 4}},
      {"broyden_tridiagonal",
       {residuals::BroydenTridiagonal, "broyden_tridiagonal_10", 1}},
      {"broyden_banded", {residuals::BroydenBanded, "broyden_banded_10", 1}},
      {"discrete_boundary_value",
       {residuals::DiscreteBoundaryValue, "discrete_boundary_value_10", 1}},
  };
  return *families;
}

// Splits "<family>_<n>" into the family and n; false if `name` has no such
// form or the family is unknown.
bool ParseScalableName(const std::string& name, std::string* family, int* n) {
  const size_t cut = name.rfind('_');
  if (cut == std::string::npos) return false;
  *family = name.substr(0, cut);
  return Families().count(*family) > 0 &&
         absl::SimpleAtoi(name.substr(cut + 1), n) && *n > 0;
}

HessianFunction MakeHessian(Residuals residuals) {
  return [residuals](const VectorXd& x) {
    Assembler a(x);
    residuals(a);
    return a.Hessian();
  };
}

}  // namespace

Residuals residuals::Find(std::string_view name) {
  const std::string key(name);
  if (auto it = FixedProblems().find(key); it != FixedProblems().end()) {
    return it->second;
  }
  std::string family;
  int n = 0;
  if (ParseScalableName(key, &family, &n))
    return Families().at(family).residuals;
  return nullptr;
}

absl::StatusOr<HessianFunction> HessianOf(std::string_view name) {
  const std::string key(name);
  const Residuals residuals = residuals::Find(key);
  if (residuals == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no analytic Hessian for test problem '", key, "'"));
  }
  return MakeHessian(residuals);
}

absl::StatusOr<double> SecondOrderValue(std::string_view name,
                                        const VectorXd& x, VectorXd* gradient) {
  const std::string key(name);
  const Residuals residuals = residuals::Find(key);
  if (residuals == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no analytic Hessian for test problem '", key, "'"));
  }
  Assembler a(x);
  residuals(a);
  *gradient = a.gradient();
  return a.value();
}

const std::vector<std::string_view>& ScalableFamilies() {
  static const auto* const names = new std::vector<std::string_view>{
      "extended_rosenbrock", "extended_powell", "broyden_tridiagonal",
      "broyden_banded", "discrete_boundary_value"};
  return *names;
}

absl::StatusOr<TestProblem> ScalableProblem(std::string_view family_name,
                                            int n) {
  const std::string key(family_name);
  auto it = Families().find(key);
  if (it == Families().end()) {
    return absl::NotFoundError(
        absl::StrCat("no scalable test problem family '", key, "'"));
  }
  const Family& family = it->second;
  if (n < 1 || n % family.multiple != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        key, " needs n a positive multiple of ", family.multiple, "; got ", n));
  }
  absl::StatusOr<TestProblem> standard = FindProblem(family.standard_name);
  if (!standard.ok()) return standard.status();
  TestProblem p = *std::move(standard);
  // The paper's starting points: the standard one's pattern repeated, except
  // for the discrete boundary value problem, whose x0 depends on n.
  const VectorXd pattern = p.x0;
  p.x0.resize(n);
  for (int i = 0; i < n; ++i) {
    if (key == "discrete_boundary_value") {
      const double t = (i + 1.0) / (n + 1);
      p.x0(i) = t * (t - 1.0);
    } else {
      p.x0(i) = pattern(i % family.multiple);
    }
  }
  p.name = absl::StrCat(key, "_", n);
  p.n = n;
  return p;
}

}  // namespace optd::problems
