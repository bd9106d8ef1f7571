#include "solvers/testing/trust_region_reference.h"

#include <algorithm>
#include <cmath>

namespace optd::testing {

ReferenceStep SolveTrustRegionSubproblem(const Eigen::MatrixXd& b,
                                         const Eigen::VectorXd& g,
                                         double radius) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(b);
  const Eigen::VectorXd mu = eig.eigenvalues();  // ascending
  const Eigen::MatrixXd q = eig.eigenvectors();
  const Eigen::VectorXd a = q.transpose() * g;
  const double mu_min = mu(0);
  const double tie = 1e-9 * std::max(1.0, mu.cwiseAbs().maxCoeff());
  auto step_at = [&](double sigma, bool skip_min) {
    Eigen::VectorXd c = Eigen::VectorXd::Zero(mu.size());
    for (int i = 0; i < mu.size(); ++i) {
      if (skip_min && mu(i) - mu_min <= tie) continue;
      c(i) = -a(i) / (mu(i) + sigma);
    }
    return c;
  };
  ReferenceStep out;
  Eigen::VectorXd c;
  if (mu_min > 0 && step_at(0.0, false).norm() <= radius) {
    c = step_at(0.0, false);
  } else {
    const double lo = std::max(0.0, -mu_min);
    double a2_min = 0.0;
    for (int i = 0; i < mu.size(); ++i) {
      if (mu(i) - mu_min <= tie) a2_min += a(i) * a(i);
    }
    if (mu_min <= 0 && a2_min <= 1e-20 * g.squaredNorm() &&
        step_at(lo, true).norm() <= radius) {
      out.hard_case = true;
      out.sigma = lo;
      c = step_at(lo, true);
      c(0) = std::sqrt(radius * radius - c.squaredNorm());
    } else {
      // ||p(sigma)|| decreases on (lo, inf): bisect to rounding.
      double left = lo, right = lo + g.norm() / radius + std::fabs(mu_min) + 1;
      for (int it = 0; it < 400 && right - left > 0; ++it) {
        const double mid = 0.5 * (left + right);
        if (mid == left || mid == right) break;
        (step_at(mid, false).norm() > radius ? left : right) = mid;
      }
      out.sigma = right;
      c = step_at(right, false);
    }
  }
  out.p = q * c;
  out.model_change = g.dot(out.p) + 0.5 * out.p.dot(b * out.p);
  return out;
}

}  // namespace optd::testing
