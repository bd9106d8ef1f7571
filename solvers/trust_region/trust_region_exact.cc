#include "solvers/trust_region/trust_region_exact.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "Eigen/Cholesky"

namespace optd {
namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
// CGT §7.3.5 (scipy's defaults): stop when ||p|| is within k_easy of the
// radius, or when the hard-case correction reduces the model by a fraction
// k_hard of the model's value.
constexpr double kEasy = 0.1;
constexpr double kHard = 0.2;
// CGT eq. 7.3.14, "theta": lambda is kept this far inside its interval.
constexpr double kUpdateCoefficient = 0.01;
// scipy loops until it converges; we give up after this many factorizations
// and return a Cauchy step (never observed on the test problems).
constexpr int kMaxIterations = 200;

// A lambda well inside [lower, upper] (CGT eq. 7.3.14). An empty interval
// (possible when g = 0 and lambda sits at -lambda_min(H)) is widened a
// little, where scipy would loop.
double Safeguard(double lower, double* upper) {
  if (!(*upper > lower)) {
    *upper = lower + std::sqrt(kEpsilon) * std::max(1.0, std::fabs(lower));
  }
  return std::max(std::sqrt(lower * *upper),
                  lower + kUpdateCoefficient * (*upper - lower));
}

}  // namespace

std::pair<double, double> BoundaryIntersections(double zz, double zd, double dd,
                                                double radius) {
  const double a = dd, b = 2.0 * zd, c = zz - radius * radius;
  const double sqrt_discriminant = std::sqrt(b * b - 4.0 * a * c);
  // ta = (-b - sqrt(disc)) / 2a and tb = (-b + sqrt(disc)) / 2a, without
  // cancellation (scipy get_boundaries_intersections).
  const double aux = b + std::copysign(sqrt_discriminant, b);
  const double ta = -aux / (2.0 * a), tb = -2.0 * c / aux;
  return {std::min(ta, tb), std::max(ta, tb)};
}

ExactSubproblem::ExactSubproblem(Eigen::MatrixXd hessian,
                                 Eigen::VectorXd gradient)
    : hessian_(std::move(hessian)), gradient_(std::move(gradient)) {
  const Eigen::Index n = hessian_.rows();
  gradient_norm_ = gradient_.norm();
  // Gershgorin bounds on the eigenvalues (CGT p. 19; scipy gershgorin_bounds).
  const Eigen::VectorXd diagonal = hessian_.diagonal();
  const Eigen::VectorXd row_sums = hessian_.cwiseAbs().rowwise().sum();
  gershgorin_lower_ = (diagonal + diagonal.cwiseAbs() - row_sums).minCoeff();
  gershgorin_upper_ = (diagonal - diagonal.cwiseAbs() + row_sums).maxCoeff();
  norm_inf_ = row_sums.maxCoeff();
  norm_frobenius_ = hessian_.norm();
  // Golub & Van Loan p. 165: below this, back substitution is unreliable.
  close_to_zero_ = static_cast<double>(n) * kEpsilon * norm_inf_;
}

Eigen::Index ExactSubproblem::Factor(double lambda) {
  factor_ = hessian_;
  factor_.diagonal().array() += lambda;
  // Eigen's blocked right-looking Cholesky reports where it stopped; the rows
  // above and the stopping row left of the diagonal are then final.
  return Eigen::internal::llt_inplace<double, Eigen::Lower>::blocked(factor_);
}

void ExactSubproblem::InitialValues(double radius, double* lambda,
                                    double* lower, double* upper) const {
  const double bound = std::min(norm_frobenius_, norm_inf_);
  *upper = std::max(
      0.0, gradient_norm_ / radius + std::min(-gershgorin_lower_, bound));
  *lower =
      std::max({0.0, -hessian_.diagonal().minCoeff(),
                gradient_norm_ / radius - std::min(gershgorin_upper_, bound)});
  // A smaller radius at the same iterate needs a larger lambda.
  if (radius < previous_radius_) *lower = std::max(lambda_lower_, *lower);
  *lambda = *lower == 0.0 ? 0.0 : Safeguard(*lower, upper);
}

double ExactSubproblem::SmallestSingularValue(Eigen::VectorXd* vector) const {
  // U = L^T; choose w with U^T w = e, e_k = +-1 picked so that w grows
  // (Cline, Moler, Stewart & Wilkinson 1979), then solve U v = w.
  const Eigen::Index n = factor_.rows();
  Eigen::VectorXd p = Eigen::VectorXd::Zero(n), w(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    const double diagonal = factor_(k, k);
    const double wp = (1.0 - p(k)) / diagonal, wm = (-1.0 - p(k)) / diagonal;
    const Eigen::Index rest = n - k - 1;
    const auto column = factor_.col(k).tail(rest);
    const Eigen::VectorXd pp = p.tail(rest) + column * wp;
    const Eigen::VectorXd pm = p.tail(rest) + column * wm;
    if (std::fabs(wp) + pp.lpNorm<1>() >= std::fabs(wm) + pm.lpNorm<1>()) {
      w(k) = wp;
      p.tail(rest) = pp;
    } else {
      w(k) = wm;
      p.tail(rest) = pm;
    }
  }
  Eigen::VectorXd v =
      factor_.transpose().triangularView<Eigen::Upper>().solve(w);
  const double v_norm = v.norm();
  *vector = v / v_norm;
  return w.norm() / v_norm;
}

double ExactSubproblem::ModelChange(const Eigen::VectorXd& p) const {
  return gradient_.dot(p) + 0.5 * p.dot(hessian_ * p);
}

ExactSubproblem::Step ExactSubproblem::Solve(double radius) {
  const Eigen::Index n = hessian_.rows();
  double lambda, lower, upper;
  InitialValues(radius, &lambda, &lower, &upper);
  Step step;
  step.on_boundary = true;
  bool factored = false;
  Eigen::Index failed_at = -1;
  while (true) {
    if (step.factorizations >= kMaxIterations) {
      // Cauchy step: the model's minimizer along -g inside the region.
      const double gHg = gradient_.dot(hessian_ * gradient_);
      double t = gradient_norm_ > 0 ? radius / gradient_norm_ : 0.0;
      if (gHg > 0) t = std::min(t, gradient_norm_ * gradient_norm_ / gHg);
      step.p = -t * gradient_;
      step.on_boundary = t * gradient_norm_ >= radius;
      break;
    }
    if (!factored) {
      failed_at = Factor(lambda);
      ++step.factorizations;
    }
    factored = false;
    const auto L = factor_.triangularView<Eigen::Lower>();
    const auto U = factor_.transpose().triangularView<Eigen::Upper>();
    if (failed_at < 0 && gradient_norm_ > close_to_zero_) {
      // (L L^T) p = -g.
      Eigen::VectorXd p = U.solve(L.solve(-gradient_));
      const double p_norm = p.norm();
      if (p_norm <= radius && lambda == 0.0) {  // interior Newton step
        step.p = std::move(p);
        step.on_boundary = false;
        break;
      }
      // Newton's step on the secular equation (Nocedal & Wright eq. 4.44):
      // delta = (|p| / |w|)^2 (|p| - radius) / radius, L w = p.
      const double w_norm = L.solve(p).norm();
      const double lambda_new = lambda + (p_norm / w_norm) * (p_norm / w_norm) *
                                             (p_norm - radius) / radius;
      if (p_norm < radius) {
        // Inside: a step along the approximate null vector z of H + lambda I
        // to the boundary, the smaller root (CGT §7.3.3; Moré & Sorensen §3).
        Eigen::VectorXd z;
        const double s_min = SmallestSingularValue(&z);
        const auto [ta, tb] =
            BoundaryIntersections(p.squaredNorm(), p.dot(z), 1.0, radius);
        const double step_length = std::fabs(ta) < std::fabs(tb) ? ta : tb;
        const double quadratic = p.dot(hessian_ * p) + lambda * p_norm * p_norm;
        // CGT eq. 7.3.28: the correction changes the model by at most
        // k_hard of its size.
        const double relative_error = step_length * step_length * s_min *
                                      s_min /
                                      (quadratic + lambda * radius * radius);
        if (relative_error <= kHard) {
          step.p = p + step_length * z;
          break;
        }
        upper = lambda;
        lower = std::max(lower, lambda - s_min * s_min);
        // As scipy 1.10: factor H + lambda_new I, and when that succeeds go on
        // with lambda_new but the previous factor (scipy's `c` goes unused).
        // The next pass then repeats the same Newton increment from
        // lambda_new, a double step; with the fresh factor instead, Meyer's
        // problem took 798 trials instead of scipy's 256.
        Eigen::MatrixXd previous = factor_;
        failed_at = Factor(lambda_new);
        ++step.factorizations;
        if (failed_at < 0) {
          lambda = lambda_new;
          factored = true;
          factor_ = std::move(previous);
        } else {
          lower = std::max(lower, lambda_new);
          lambda = Safeguard(lower, &upper);
        }
      } else {
        // Outside: Newton's step from the left converges monotonically.
        if (std::fabs(p_norm - radius) / radius <= kEasy) {
          step.p = std::move(p);
          break;
        }
        lower = lambda;
        lambda = lambda_new;
      }
    } else if (failed_at < 0) {
      // g is numerically zero: only a step along negative curvature helps.
      if (lambda == 0.0) {
        step.p = Eigen::VectorXd::Zero(n);
        step.on_boundary = false;
        break;
      }
      Eigen::VectorXd z;
      const double s_min = SmallestSingularValue(&z);
      if (radius * radius * s_min * s_min <= kHard * lambda * radius * radius) {
        step.p = radius * z;
        break;
      }
      upper = lambda;
      lower = std::max(lower, lambda - s_min * s_min);
      lambda = Safeguard(lower, &upper);
    } else {
      // H + lambda I is not positive definite: the leading (k+1) x (k+1)
      // block becomes singular when delta is added to its last diagonal
      // element (scipy singular_leading_submatrix), so lambda + delta/|v|^2
      // is a lower bound (Moré & Sorensen §3; CGT §7.3.8).
      const Eigen::Index k = failed_at;
      const double diagonal = hessian_(k, k) + lambda;
      const double delta = factor_.row(k).head(k).squaredNorm() - diagonal;
      Eigen::VectorXd v = Eigen::VectorXd::Zero(n);
      v(k) = 1.0;
      if (k > 0) {
        v.head(k) = factor_.topLeftCorner(k, k)
                        .transpose()
                        .triangularView<Eigen::Upper>()
                        .solve(-factor_.row(k).head(k).transpose());
      }
      lower = std::max(lower, lambda + delta / v.squaredNorm());
      lambda = Safeguard(lower, &upper);
    }
  }
  lambda_lower_ = lower;
  previous_radius_ = radius;
  step.model_change = ModelChange(step.p);
  return step;
}

}  // namespace optd
