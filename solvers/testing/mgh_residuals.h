// Internal to mgh_hessians.cc and mgh_least_squares.cc: the Moré, Garbow &
// Hillstrom (1981) residuals on Jet2 (jet2.h) and the Assembler that turns them
// into f, grad f and Hess f = 2 (J^T J + sum_i r_i Hess r_i). Problems 1-19 are
// in mgh_residuals.cc, 20-35 in mgh_residuals_variable.cc.
//
//   Assembler a(x);
//   residuals::Rosenbrock(a);
//   Eigen::SparseMatrix<double> h = a.Hessian();
//
// Thread-safety: an Assembler is used by one thread.
#ifndef OPTD_SOLVERS_TESTING_MGH_RESIDUALS_H_
#define OPTD_SOLVERS_TESTING_MGH_RESIDUALS_H_

#include <string_view>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "Eigen/SparseCore"
#include "solvers/testing/jet2.h"

namespace optd::problems {

// Accumulates f, grad f and Hess f from residuals over a few local variables,
// and keeps the residuals and their gradients (r and J, for least squares:
// mgh_least_squares.h).
class Assembler {
 public:
  explicit Assembler(const Eigen::VectorXd& x)
      : x_(x), gradient_(Eigen::VectorXd::Zero(x.size())) {}

  int n() const { return static_cast<int>(x_.size()); }

  // Makes x[indices] the variables of the following residuals and returns
  // them as jets.
  std::vector<Jet2> Use(std::vector<int> indices) {
    indices_ = std::move(indices);
    const int k = static_cast<int>(indices_.size());
    std::vector<Jet2> v;
    v.reserve(k);
    for (int i = 0; i < k; ++i)
      v.push_back(Jet2::Variable(x_(indices_[i]), k, i));
    return v;
  }
  std::vector<Jet2> UseAll() {
    std::vector<int> all(n());
    for (int i = 0; i < n(); ++i) all[i] = i;
    return Use(std::move(all));
  }
  // A constant with the current variables' dimension.
  Jet2 Constant(double c) const {
    return Jet2(c, static_cast<int>(indices_.size()));
  }

  // f += r^2, grad += 2 r grad r, Hess += 2 (grad r grad r^T + r Hess r).
  void Add(const Jet2& r) {
    value_ += r.v * r.v;
    const int k = static_cast<int>(indices_.size());
    const int row = static_cast<int>(residuals_.size());
    residuals_.push_back(r.v);
    for (int a = 0; a < k; ++a) {
      if (r.g(a) != 0.0) jacobian_.emplace_back(row, indices_[a], r.g(a));
    }
    for (int a = 0; a < k; ++a) {
      gradient_(indices_[a]) += 2.0 * r.v * r.g(a);
      for (int b = 0; b < k; ++b) {
        const double h = 2.0 * (r.g(a) * r.g(b) + r.v * r.h(a, b));
        if (h != 0.0) triplets_.emplace_back(indices_[a], indices_[b], h);
      }
    }
  }

  double value() const { return value_; }
  const Eigen::VectorXd& gradient() const { return gradient_; }
  Eigen::SparseMatrix<double> Hessian() const {
    Eigen::SparseMatrix<double> h(n(), n());
    h.setFromTriplets(triplets_.begin(), triplets_.end());
    return h;
  }
  // The residuals added so far, in order, and their Jacobian (m x n).
  Eigen::VectorXd Residuals() const {
    return Eigen::Map<const Eigen::VectorXd>(
        residuals_.data(), static_cast<Eigen::Index>(residuals_.size()));
  }
  Eigen::MatrixXd Jacobian() const {
    Eigen::MatrixXd j = Eigen::MatrixXd::Zero(
        static_cast<Eigen::Index>(residuals_.size()), n());
    for (const auto& t : jacobian_) j(t.row(), t.col()) += t.value();
    return j;
  }

 private:
  const Eigen::VectorXd& x_;
  std::vector<int> indices_;
  double value_ = 0.0;
  Eigen::VectorXd gradient_;
  std::vector<Eigen::Triplet<double>> triplets_;
  std::vector<double> residuals_;
  std::vector<Eigen::Triplet<double>> jacobian_;
};

namespace residuals {

using Residuals = void (*)(Assembler&);

// One per problem, named as in mgh_objectives.h; each adds every residual.
void Rosenbrock(Assembler& a);
void FreudensteinRoth(Assembler& a);
void PowellBadlyScaled(Assembler& a);
void BrownBadlyScaled(Assembler& a);
void Beale(Assembler& a);
void JennrichSampson(Assembler& a);
void HelicalValley(Assembler& a);
void Bard(Assembler& a);
void Gaussian(Assembler& a);
void Meyer(Assembler& a);
void Gulf(Assembler& a);
void Box3d(Assembler& a);
void ExtendedPowellSingular(Assembler& a);
void Wood(Assembler& a);
void KowalikOsborne(Assembler& a);
void BrownDennis(Assembler& a);
void Osborne1(Assembler& a);
void BiggsExp6(Assembler& a);
void Osborne2(Assembler& a);
void Watson(Assembler& a);
void ExtendedRosenbrock(Assembler& a);
void Penalty1(Assembler& a);
void Penalty2(Assembler& a);
void VariablyDimensioned(Assembler& a);
void Trigonometric(Assembler& a);
void BrownAlmostLinear(Assembler& a);
void DiscreteBoundaryValue(Assembler& a);
void DiscreteIntegralEquation(Assembler& a);
void BroydenTridiagonal(Assembler& a);
void BroydenBanded(Assembler& a);
void LinearFullRank(Assembler& a);
void LinearRank1(Assembler& a);
void LinearRank1Zero(Assembler& a);
void Chebyquad(Assembler& a);

// The residuals of problem `name`: any name of StandardProblems() or
// "<family>_<n>" for a family of ScalableFamilies() (mgh_hessians.h); null
// for any other name (n is not checked against the family's multiple).
Residuals Find(std::string_view name);

}  // namespace residuals
}  // namespace optd::problems

#endif  // OPTD_SOLVERS_TESTING_MGH_RESIDUALS_H_
