// The trust-region-reflective helpers (trf_common.h), each after the scipy
// 1.10 function of scipy/optimize/_lsq/common.py (or trf.py) it names, in
// the same order of operations where numpy's elementwise arithmetic allows
// (dot products and norms go through BLAS there and do not round alike).
#include "solvers/least_squares/trf_common.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <utility>
#include <vector>

#include "Eigen/Eigenvalues"

namespace optd::trf {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

std::pair<double, double> IntersectTrustRegion(const Eigen::VectorXd& x,
                                               const Eigen::VectorXd& s,
                                               double delta) {
  const double a = s.dot(s);
  const double b = x.dot(s);
  const double c = x.dot(x) - delta * delta;
  const double d = std::sqrt(b * b - a * c);
  const double q = -(b + std::copysign(d, b));
  const double t1 = q / a;
  const double t2 = c / q;
  return t1 < t2 ? std::make_pair(t1, t2) : std::make_pair(t2, t1);
}

Eigen::VectorXd SolveLsqTrustRegion(int n, int m, const Eigen::VectorXd& uf,
                                    const Eigen::VectorXd& s,
                                    const Eigen::MatrixXd& v, double delta,
                                    double* alpha_io) {
  constexpr double kRtol = 0.01;
  constexpr int kMaxIter = 10;
  const Eigen::VectorXd suf = s.cwiseProduct(uf);
  // phi_and_derivative: |p(alpha)| - delta and its derivative.
  auto phi_and_derivative = [&](double alpha, double* phi_prime) {
    const Eigen::ArrayXd denom = s.array().square() + alpha;
    const double p_norm = (suf.array() / denom).matrix().norm();
    *phi_prime =
        -(suf.array().square() / (denom * denom * denom)).sum() / p_norm;
    return p_norm - delta;
  };
  bool full_rank = false;
  if (m >= n) {
    const double threshold = kEps * m * s(0);
    full_rank = s(s.size() - 1) > threshold;
  }
  if (full_rank) {
    Eigen::VectorXd p = -(v * (uf.array() / s.array()).matrix());
    if (p.norm() <= delta) {
      *alpha_io = 0.0;
      return p;
    }
  }
  double alpha_upper = suf.norm() / delta;
  double alpha_lower = 0.0;
  if (full_rank) {
    double phi_prime;
    const double phi = phi_and_derivative(0.0, &phi_prime);
    alpha_lower = -phi / phi_prime;
  }
  double alpha = *alpha_io;
  auto reset = [&] {
    return std::max(0.001 * alpha_upper, std::sqrt(alpha_lower * alpha_upper));
  };
  if (!full_rank && alpha == 0.0) alpha = reset();
  for (int it = 0; it < kMaxIter; ++it) {
    if (alpha < alpha_lower || alpha > alpha_upper) alpha = reset();
    double phi_prime;
    const double phi = phi_and_derivative(alpha, &phi_prime);
    if (phi < 0) alpha_upper = alpha;
    const double ratio = phi / phi_prime;
    alpha_lower = std::max(alpha_lower, alpha - ratio);
    alpha -= (phi + delta) * ratio / delta;
    if (std::abs(phi) < kRtol * delta) break;
  }
  const Eigen::ArrayXd denom = s.array().square() + alpha;
  Eigen::VectorXd p = -(v * (suf.array() / denom).matrix());
  p *= delta / p.norm();
  *alpha_io = alpha;
  return p;
}

Eigen::Vector2d SolveTrustRegion2d(const Eigen::Matrix2d& b,
                                   const Eigen::Vector2d& g, double delta) {
  // cho_factor(B) (LAPACK potrf, upper: B = R^T R) and cho_solve; potrf
  // fails on a non-positive (or NaN) pivot.
  const double r00_sq = b(0, 0);
  if (r00_sq > 0) {
    const double r00 = std::sqrt(r00_sq);
    const double r01 = b(0, 1) / r00;
    const double r11_sq = b(1, 1) - r01 * r01;
    if (r11_sq > 0) {
      const double r11 = std::sqrt(r11_sq);
      // R^T y = g, R p = y; p = -p.
      const double y0 = g(0) / r00;
      const double y1 = (g(1) - r01 * y0) / r11;
      const double p1 = y1 / r11;
      const double p0 = (y0 - r01 * p1) / r00;
      const Eigen::Vector2d p(-p0, -p1);
      if (p.dot(p) <= delta * delta) return p;
    }
  }
  // The boundary: p = Delta (2t / (1 + t^2), (1 - t^2) / (1 + t^2)), t a
  // real root of the quartic below (np.roots).
  const double a = b(0, 0) * delta * delta;
  const double bb = b(0, 1) * delta * delta;
  const double c = b(1, 1) * delta * delta;
  const double d = g(0) * delta;
  const double f = g(1) * delta;
  const double coeffs[5] = {-bb + d, 2 * (a - c + f), 6 * bb, 2 * (-a + c + f),
                            -bb - d};
  // np.roots: strip leading and trailing zeros (each trailing zero a root
  // 0), then the eigenvalues of the companion matrix.
  int first = 0, last = 4;
  while (first <= 4 && coeffs[first] == 0) ++first;
  while (last >= first && coeffs[last] == 0) --last;
  std::vector<double> roots;
  if (first <= last) {
    const int degree = last - first;
    if (degree > 0) {
      Eigen::MatrixXd companion = Eigen::MatrixXd::Zero(degree, degree);
      for (int k = 0; k < degree; ++k) {
        companion(0, k) = -coeffs[first + 1 + k] / coeffs[first];
      }
      for (int k = 1; k < degree; ++k) companion(k, k - 1) = 1.0;
      Eigen::EigenSolver<Eigen::MatrixXd> eig(companion, false);
      const Eigen::VectorXcd values = eig.eigenvalues();
      for (Eigen::Index k = 0; k < values.size(); ++k) {
        if (values(k).imag() == 0) roots.push_back(values(k).real());
      }
    }
    for (int k = last; k < 4; ++k) roots.push_back(0.0);
  }
  // The root of least model value (np.argmin: the first on ties).
  Eigen::Vector2d best(kNaN, kNaN);
  double best_value = kInf;
  bool have = false;
  for (const double t : roots) {
    const Eigen::Vector2d p(delta * 2 * t / (1 + t * t),
                            delta * (1 - t * t) / (1 + t * t));
    const double value = 0.5 * p.dot(b * p) + g.dot(p);
    if (!have || value < best_value) {
      best = p;
      best_value = value;
      have = true;
    }
  }
  return best;
}

std::pair<double, double> UpdateTrRadius(double delta, double actual_reduction,
                                         double predicted_reduction,
                                         double step_norm, bool bound_hit) {
  double ratio;
  if (predicted_reduction > 0) {
    ratio = actual_reduction / predicted_reduction;
  } else if (predicted_reduction == actual_reduction && actual_reduction == 0) {
    ratio = 1;
  } else {
    ratio = 0;
  }
  if (ratio < 0.25) {
    delta = 0.25 * step_norm;
  } else if (ratio > 0.75 && bound_hit) {
    delta *= 2.0;
  }
  return {delta, ratio};
}

Quadratic1d BuildQuadratic1d(const Eigen::MatrixXd& j, const Eigen::VectorXd& g,
                             const Eigen::VectorXd& s,
                             const Eigen::VectorXd* diag,
                             const Eigen::VectorXd* s0) {
  const Eigen::VectorXd v = j * s;
  if (s0 == nullptr) {
    return BuildQuadratic1dFromProducts(v, g, s, diag, nullptr, nullptr);
  }
  const Eigen::VectorXd u = j * *s0;
  return BuildQuadratic1dFromProducts(v, g, s, diag, s0, &u);
}

Quadratic1d BuildQuadratic1dFromProducts(const Eigen::VectorXd& js,
                                         const Eigen::VectorXd& g,
                                         const Eigen::VectorXd& s,
                                         const Eigen::VectorXd* diag,
                                         const Eigen::VectorXd* s0,
                                         const Eigen::VectorXd* js0) {
  Quadratic1d q;
  const Eigen::VectorXd& v = js;
  q.a = v.dot(v);
  if (diag != nullptr) q.a += s.cwiseProduct(*diag).dot(s);
  q.a *= 0.5;
  q.b = g.dot(s);
  if (s0 != nullptr) {
    const Eigen::VectorXd& u = *js0;
    q.b += u.dot(v);
    q.c = 0.5 * u.dot(u) + g.dot(*s0);
    if (diag != nullptr) {
      q.b += s0->cwiseProduct(*diag).dot(s);
      q.c += 0.5 * s0->cwiseProduct(*diag).dot(*s0);
    }
  }
  return q;
}

std::pair<double, double> MinimizeQuadratic1d(double a, double b, double lb,
                                              double ub, double c) {
  double t[3] = {lb, ub, 0.0};
  int count = 2;
  if (a != 0) {
    const double extremum = -0.5 * b / a;
    if (lb < extremum && extremum < ub) t[count++] = extremum;
  }
  double y[3];
  for (int k = 0; k < count; ++k) y[k] = t[k] * (a * t[k] + b) + c;
  // np.argmin: the first NaN if there is one, else the first minimum.
  int best = 0;
  for (int k = 1; k < count && !std::isnan(y[best]); ++k) {
    if (std::isnan(y[k]) || y[k] < y[best]) best = k;
  }
  return {t[best], y[best]};
}

double EvaluateQuadratic(const Eigen::MatrixXd& j, const Eigen::VectorXd& g,
                         const Eigen::VectorXd& s,
                         const Eigen::VectorXd* diag) {
  return EvaluateQuadraticFromProduct(j * s, g, s, diag);
}

double EvaluateQuadraticFromProduct(const Eigen::VectorXd& js,
                                    const Eigen::VectorXd& g,
                                    const Eigen::VectorXd& s,
                                    const Eigen::VectorXd* diag) {
  double q = js.dot(js);
  if (diag != nullptr) q += s.cwiseProduct(*diag).dot(s);
  const double l = s.dot(g);
  return 0.5 * q + l;
}

bool InBounds(const Eigen::VectorXd& x, const Eigen::VectorXd& lb,
              const Eigen::VectorXd& ub) {
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (!(x(i) >= lb(i) && x(i) <= ub(i))) return false;
  }
  return true;
}

double StepSizeToBound(const Eigen::VectorXd& x, const Eigen::VectorXd& s,
                       const Eigen::VectorXd& lb, const Eigen::VectorXd& ub,
                       Eigen::VectorXi* hits) {
  const Eigen::Index n = x.size();
  Eigen::VectorXd steps = Eigen::VectorXd::Constant(n, kInf);
  for (Eigen::Index i = 0; i < n; ++i) {
    if (s(i) != 0) {
      steps(i) = std::max((lb(i) - x(i)) / s(i), (ub(i) - x(i)) / s(i));
    }
  }
  const double min_step = steps.minCoeff();
  if (hits != nullptr) {
    hits->resize(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      const int sign = s(i) > 0 ? 1 : (s(i) < 0 ? -1 : 0);
      (*hits)(i) = steps(i) == min_step ? sign : 0;
    }
  }
  return min_step;
}

Eigen::VectorXi FindActiveConstraints(const Eigen::VectorXd& x,
                                      const Eigen::VectorXd& lb,
                                      const Eigen::VectorXd& ub, double rtol) {
  const Eigen::Index n = x.size();
  Eigen::VectorXi active = Eigen::VectorXi::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    if (rtol == 0) {
      if (x(i) <= lb(i)) active(i) = -1;
      if (x(i) >= ub(i)) active(i) = 1;
      continue;
    }
    const double lower_dist = x(i) - lb(i);
    const double upper_dist = ub(i) - x(i);
    const double lower_threshold = rtol * std::max(1.0, std::abs(lb(i)));
    const double upper_threshold = rtol * std::max(1.0, std::abs(ub(i)));
    if (std::isfinite(lb(i)) &&
        lower_dist <= std::min(upper_dist, lower_threshold)) {
      active(i) = -1;
    }
    if (std::isfinite(ub(i)) &&
        upper_dist <= std::min(lower_dist, upper_threshold)) {
      active(i) = 1;
    }
  }
  return active;
}

Eigen::VectorXd MakeStrictlyFeasible(const Eigen::VectorXd& x,
                                     const Eigen::VectorXd& lb,
                                     const Eigen::VectorXd& ub, double rstep) {
  Eigen::VectorXd x_new = x;
  const Eigen::VectorXi active = FindActiveConstraints(x, lb, ub, rstep);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (active(i) == -1) {
      x_new(i) = rstep == 0 ? std::nextafter(lb(i), ub(i))
                            : lb(i) + rstep * std::max(1.0, std::abs(lb(i)));
    } else if (active(i) == 1) {
      x_new(i) = rstep == 0 ? std::nextafter(ub(i), lb(i))
                            : ub(i) - rstep * std::max(1.0, std::abs(ub(i)));
    }
    if (x_new(i) < lb(i) || x_new(i) > ub(i)) {
      x_new(i) = 0.5 * (lb(i) + ub(i));
    }
  }
  return x_new;
}

void ClScalingVector(const Eigen::VectorXd& x, const Eigen::VectorXd& g,
                     const Eigen::VectorXd& lb, const Eigen::VectorXd& ub,
                     Eigen::VectorXd* v, Eigen::VectorXd* dv) {
  const Eigen::Index n = x.size();
  v->setOnes(n);
  dv->setZero(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    if (g(i) < 0 && std::isfinite(ub(i))) {
      (*v)(i) = ub(i) - x(i);
      (*dv)(i) = -1;
    }
    if (g(i) > 0 && std::isfinite(lb(i))) {
      (*v)(i) = x(i) - lb(i);
      (*dv)(i) = 1;
    }
  }
}

double InitialRadius(const Eigen::VectorXd& x0, const Eigen::VectorXd& g,
                     const Eigen::VectorXd& lb, const Eigen::VectorXd& ub,
                     const Eigen::VectorXd& scale_inv, bool bounded) {
  double delta;
  if (bounded) {
    // v, dv = CL_scaling_vector(x0, g, lb, ub); v[dv != 0] *= scale_inv[..]
    // Delta = norm(x0 * scale_inv / v**0.5)
    Eigen::VectorXd v, dv;
    ClScalingVector(x0, g, lb, ub, &v, &dv);
    for (Eigen::Index i = 0; i < v.size(); ++i) {
      if (dv(i) != 0) v(i) *= scale_inv(i);
    }
    delta =
        (x0.cwiseProduct(scale_inv).array() / v.array().sqrt()).matrix().norm();
  } else {
    delta = x0.cwiseProduct(scale_inv).norm();  // norm(x0 * scale_inv)
  }
  return delta == 0 ? 1.0 : delta;
}

int CheckTermination(double df, double f, double dx_norm, double x_norm,
                     double ratio, double ftol, double xtol) {
  const bool ftol_satisfied = df < ftol * f && ratio > 0.25;
  const bool xtol_satisfied = dx_norm < xtol * (xtol + x_norm);
  if (ftol_satisfied && xtol_satisfied) return 4;
  if (ftol_satisfied) return 2;
  if (xtol_satisfied) return 3;
  return 0;
}

void ComputeJacScale(const Eigen::MatrixXd& j,
                     const Eigen::VectorXd* scale_inv_old,
                     Eigen::VectorXd* scale, Eigen::VectorXd* scale_inv) {
  Eigen::VectorXd norms = j.colwise().norm().transpose();
  for (Eigen::Index i = 0; i < norms.size(); ++i) {
    if (scale_inv_old == nullptr) {
      if (norms(i) == 0) norms(i) = 1;
    } else {
      norms(i) = std::max(norms(i), (*scale_inv_old)(i));
    }
  }
  *scale_inv = norms;
  *scale = norms.cwiseInverse();
}

Eigen::VectorXd SelectStep(const Eigen::VectorXd& x, const Eigen::MatrixXd& j_h,
                           const Eigen::VectorXd& diag_h,
                           const Eigen::VectorXd& g_h, Eigen::VectorXd p,
                           Eigen::VectorXd p_h, const Eigen::VectorXd& d,
                           double delta, const Eigen::VectorXd& lb,
                           const Eigen::VectorXd& ub, double theta,
                           Eigen::VectorXd* step_h,
                           double* predicted_reduction) {
  Eigen::VectorXd step;
  SelectStepWithProducts(
      x, diag_h, g_h, std::move(p), std::move(p_h), d, delta, lb, ub, theta,
      [&j_h](const Eigen::VectorXd& s, bool, Eigen::VectorXd* js) {
        *js = j_h * s;
        return true;
      },
      &step, step_h, predicted_reduction);
  return step;
}

bool SelectStepWithProducts(const Eigen::VectorXd& x,
                            const Eigen::VectorXd& diag_h,
                            const Eigen::VectorXd& g_h, Eigen::VectorXd p,
                            Eigen::VectorXd p_h, const Eigen::VectorXd& d,
                            double delta, const Eigen::VectorXd& lb,
                            const Eigen::VectorXd& ub, double theta,
                            const JhTimes& jh_times, Eigen::VectorXd* step,
                            Eigen::VectorXd* step_h,
                            double* predicted_reduction) {
  Eigen::VectorXd js, js0;
  if (InBounds(x + p, lb, ub)) {
    jh_times(p_h, true, &js);
    *predicted_reduction = -EvaluateQuadraticFromProduct(js, g_h, p_h, &diag_h);
    *step_h = p_h;
    *step = p;
    return true;
  }
  Eigen::VectorXi hits;
  const double p_stride = StepSizeToBound(x, p, lb, ub, &hits);
  // The reflection of p_h off the bounds it hits first.
  Eigen::VectorXd r_h = p_h;
  for (Eigen::Index i = 0; i < r_h.size(); ++i) {
    if (hits(i) != 0) r_h(i) *= -1;
  }
  Eigen::VectorXd r = d.cwiseProduct(r_h);
  p *= p_stride;
  p_h *= p_stride;
  const Eigen::VectorXd x_on_bound = x + p;
  const double to_tr = IntersectTrustRegion(p_h, r_h, delta).second;
  const double to_bound = StepSizeToBound(x_on_bound, r, lb, ub, nullptr);
  // Reflected direction: from (1 - theta) p_stride / r_stride to theta
  // to_bound (or the trust-region boundary).
  double r_stride = std::min(to_bound, to_tr);
  double r_stride_l, r_stride_u;
  if (r_stride > 0) {
    r_stride_l = (1 - theta) * p_stride / r_stride;
    r_stride_u = r_stride == to_bound ? theta * to_bound : to_tr;
  } else {
    r_stride_l = 0;
    r_stride_u = -1;
  }
  double r_value = kInf;
  if (r_stride_l <= r_stride_u) {
    // J_h r_h first: the one product outside the subspace.
    if (!jh_times(r_h, false, &js)) return false;
    jh_times(p_h, true, &js0);
    const Quadratic1d q =
        BuildQuadratic1dFromProducts(js, g_h, r_h, &diag_h, &p_h, &js0);
    const auto [stride, value] =
        MinimizeQuadratic1d(q.a, q.b, r_stride_l, r_stride_u, q.c);
    r_value = value;
    r_h *= stride;
    r_h += p_h;
    r = r_h.cwiseProduct(d);
  }
  // p cut back to theta of the way to the bound.
  p *= theta;
  p_h *= theta;
  jh_times(p_h, true, &js);
  const double p_value = EvaluateQuadraticFromProduct(js, g_h, p_h, &diag_h);
  // The anti-gradient, cut to the trust region or theta of the way to the
  // bound.
  Eigen::VectorXd ag_h = -g_h;
  Eigen::VectorXd ag = d.cwiseProduct(ag_h);
  const double ag_to_tr = delta / ag_h.norm();
  const double ag_to_bound = StepSizeToBound(x, ag, lb, ub, nullptr);
  double ag_stride = ag_to_bound < ag_to_tr ? theta * ag_to_bound : ag_to_tr;
  jh_times(ag_h, true, &js);
  const Quadratic1d q =
      BuildQuadratic1dFromProducts(js, g_h, ag_h, &diag_h, nullptr, nullptr);
  const auto [ag_min, ag_value] =
      MinimizeQuadratic1d(q.a, q.b, 0, ag_stride, 0.0);
  ag_stride = ag_min;
  ag_h *= ag_stride;
  ag *= ag_stride;
  if (p_value < r_value && p_value < ag_value) {
    *step_h = p_h;
    *predicted_reduction = -p_value;
    *step = p;
    return true;
  }
  if (r_value < p_value && r_value < ag_value) {
    *step_h = r_h;
    *predicted_reduction = -r_value;
    *step = r;
    return true;
  }
  *step_h = ag_h;
  *predicted_reduction = -ag_value;
  *step = ag;
  return true;
}

}  // namespace optd::trf
