// Internal to mgh_problems.cc: the Moré, Garbow & Hillstrom (1981) objective
// functions its TestProblems evaluate (mgh_problems.h is the interface),
// f(x) = sum_i f_i(x)^2 with the gradient 2 J^T f stored in *grad when grad
// is not null, and the SumOfSquares that accumulates them. Problems 1-20 are
// in mgh_objectives.cc, 21-35 in mgh_objectives_variable.cc, with each one's
// residuals in the comments there.
//
//   Eigen::VectorXd g;
//   double f = objectives::Rosenbrock(x, &g);
#ifndef OPTD_SOLVERS_TESTING_MGH_OBJECTIVES_H_
#define OPTD_SOLVERS_TESTING_MGH_OBJECTIVES_H_

#include <initializer_list>
#include <utility>

#include "Eigen/Core"

namespace optd::problems::objectives {

inline constexpr double kPi = 3.14159265358979323846;

// Accumulates f = sum_i r_i^2 and, when asked for, grad = 2 J^T r one residual
// (one row of J) at a time.
class SumOfSquares {
 public:
  SumOfSquares(int n, Eigen::VectorXd* grad) : grad_(grad) {
    if (grad_ != nullptr) grad_->setZero(n);
  }

  // Adds the residual r with the nonzero partial derivatives {j, dr/dx_j}.
  void Add(double r, std::initializer_list<std::pair<int, double>> partials) {
    sum_ += r * r;
    if (grad_ == nullptr) return;
    for (const auto& [j, d] : partials) (*grad_)(j) += 2.0 * r * d;
  }

  // Adds the residual r with the dense row dr/dx.
  void AddDense(double r, const Eigen::VectorXd& partials) {
    sum_ += r * r;
    if (grad_ != nullptr) *grad_ += (2.0 * r) * partials;
  }

  bool wants_gradient() const { return grad_ != nullptr; }
  double value() const { return sum_; }

 private:
  Eigen::VectorXd* grad_;
  double sum_ = 0.0;
};

// (1) Rosenbrock.
double Rosenbrock(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (2) Freudenstein and Roth.
double FreudensteinRoth(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (3) Powell badly scaled.
double PowellBadlyScaled(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (4) Brown badly scaled.
double BrownBadlyScaled(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (5) Beale.
double Beale(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (6) Jennrich and Sampson.
double JennrichSampson(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (7) Helical valley.
double HelicalValley(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (8) Bard.
double Bard(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (9) Gaussian.
double Gaussian(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (10) Meyer.
double Meyer(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (11) Gulf research and development.
double Gulf(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (12) Box three-dimensional.
double Box3d(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (13) Powell singular and (22) extended Powell singular.
double ExtendedPowellSingular(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (14) Wood.
double Wood(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (15) Kowalik and Osborne.
double KowalikOsborne(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (16) Brown and Dennis.
double BrownDennis(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (17) Osborne 1.
double Osborne1(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (18) Biggs EXP6.
double BiggsExp6(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (19) Osborne 2.
double Osborne2(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (20) Watson.
double Watson(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (21) Extended Rosenbrock.
double ExtendedRosenbrock(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (23) Penalty function I.
double Penalty1(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (24) Penalty function II.
double Penalty2(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (25) Variably dimensioned.
double VariablyDimensioned(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (26) Trigonometric.
double Trigonometric(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (27) Brown almost-linear.
double BrownAlmostLinear(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (28) Discrete boundary value.
double DiscreteBoundaryValue(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (29) Discrete integral equation.
double DiscreteIntegralEquation(const Eigen::VectorXd& x,
                                Eigen::VectorXd* grad);
// (30) Broyden tridiagonal.
double BroydenTridiagonal(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (31) Broyden banded.
double BroydenBanded(const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (32) Linear function - full rank.
double LinearFullRank(int m, const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (33) Linear function - rank 1.
double LinearRank1(int m, const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (34) Linear function - rank 1 with zero columns and rows.
double LinearRank1Zero(int m, const Eigen::VectorXd& x, Eigen::VectorXd* grad);
// (35) Chebyquad.
double Chebyquad(int m, const Eigen::VectorXd& x, Eigen::VectorXd* grad);

}  // namespace optd::problems::objectives

#endif  // OPTD_SOLVERS_TESTING_MGH_OBJECTIVES_H_
