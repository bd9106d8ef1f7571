#include "solvers/trust_region/trust_region_obs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace optd {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
// Directions of Psi whose squared length is below this fraction of the terms
// it is computed from are rounding noise and dropped.
constexpr double kRank = 1e-10;
// L-SR1's gamma stays this far (relative) from the pencil's eigenvalues.
constexpr double kGammaGap = 0.1;
// Newton's method on the secular equation stops when | ||p|| - radius | is
// below this fraction of the radius.
constexpr double kSecularTolerance = 1e-10;
constexpr int kMaxSecularIterations = 100;

// L-SR1's gamma. The smallest of the pairs' scalings y.y / s.y over the pairs
// with s.y > 0 (Nocedal & Wright eq. 6.20; ||y|| / ||s|| of the newest pair
// when none has s.y > 0): a small gamma lets the trust region, not the model,
// limit the steps in directions no pair has explored. The compact form needs
// M^-1 = D + L + L^T - gamma S^T S (BNS eq. 5.2) nonsingular, which fails
// exactly when gamma is an eigenvalue of the pencil (D + L + L^T, S^T S), so
// gamma is moved up until it is at least kGammaGap (relative) away from every
// one of them. gamma > 0 keeps the unexplored directions convex, while B may
// have negative eigenvalues in span(Psi).
//
// Choosing gamma below the pencil's smallest eigenvalue (B - gamma I
// positive semidefinite, and gamma <= 0 once negative curvature is seen) or
// above its largest, so that B - gamma I has one sign, was measured worse on
// the MGH problems: 21 to 32 of 46 runs solved instead of 33, and those near
// 32 with two to five times the evaluations.
double Lsr1Gamma(const MatrixXd& symmetric_sy, const MatrixXd& ss,
                 const MatrixXd& sy, const MatrixXd& yy) {
  const int q = static_cast<int>(ss.rows());
  double gamma = -1.0;
  for (int i = 0; i < q; ++i) {
    if (!(sy(i, i) > 0)) continue;
    const double c = yy(i, i) / sy(i, i);
    if (gamma < 0 || c < gamma) gamma = c;
  }
  if (!(gamma > 0) || !std::isfinite(gamma)) {
    gamma = std::sqrt(yy(q - 1, q - 1) / ss(q - 1, q - 1));
  }
  if (!(gamma > 0) || !std::isfinite(gamma)) gamma = 1.0;
  // The pencil's eigenvalues: those of C = L^-1 A L^-T, S^T S = L L^T.
  const Eigen::LLT<MatrixXd> chol(ss);
  const MatrixXd l = chol.matrixL();
  const auto lower = l.triangularView<Eigen::Lower>();
  MatrixXd c = lower.solve(lower.solve(symmetric_sy).transpose());
  c = 0.5 * (c + c.transpose());
  const VectorXd pencil =
      Eigen::SelfAdjointEigenSolver<MatrixXd>(c, Eigen::EigenvaluesOnly)
          .eigenvalues();
  for (int pass = 0; pass <= pencil.size(); ++pass) {
    bool clash = false;
    for (int i = 0; i < pencil.size(); ++i) {
      if (std::fabs(gamma - pencil(i)) <
          kGammaGap * std::max(std::fabs(gamma), std::fabs(pencil(i)))) {
        gamma = std::max(gamma, pencil(i)) * (1.0 + 2.0 * kGammaGap);
        clash = true;
      }
    }
    if (!clash) break;
  }
  return gamma;
}

// Pairs whose s's are well conditioned, newest first, returned oldest first.
std::vector<int> SelectPairs(const PairGram& gram, QuasiNewtonUpdate update,
                             double dependence) {
  const int k = gram.pairs();
  std::vector<int> chosen;
  for (int j = k - 1; j >= 0; --j) {
    const double sjsj = gram.ss(j, j);
    if (!(sjsj > 0)) continue;
    if (update == QuasiNewtonUpdate::kLbfgs && !(gram.sy(j, j) > 0)) continue;
    const int q = static_cast<int>(chosen.size());
    MatrixXd block(q, q);
    VectorXd b(q);
    for (int a = 0; a < q; ++a) {
      b(a) = gram.ss(chosen[a], j);
      for (int c = 0; c < q; ++c) block(a, c) = gram.ss(chosen[a], chosen[c]);
    }
    double residual = sjsj;
    if (q > 0) {
      const Eigen::LLT<MatrixXd> chol(block);
      residual -= chol.matrixL().solve(b).squaredNorm();
    }
    if (residual > dependence * sjsj) chosen.push_back(j);
  }
  std::reverse(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

LimitedMemoryModel LimitedMemoryModel::Build(QuasiNewtonUpdate update,
                                             const PairGram& gram,
                                             int64_t dimension,
                                             const PairGram* free_gram,
                                             double pair_dependence) {
  LimitedMemoryModel model;
  const int k = gram.pairs();
  model.pairs_ = k;
  model.dimension_ = dimension;
  model.basis_ = MatrixXd::Zero(2 * k, 0);
  const std::vector<int> chosen = SelectPairs(gram, update, pair_dependence);
  const int q = static_cast<int>(chosen.size());
  model.used_pairs_ = q;
  if (q == 0) return model;

  MatrixXd ss(q, q), sy(q, q), yy(q, q);
  for (int a = 0; a < q; ++a) {
    for (int b = 0; b < q; ++b) {
      ss(a, b) = gram.ss(chosen[a], chosen[b]);
      sy(a, b) = gram.sy(chosen[a], chosen[b]);
      yy(a, b) = gram.yy(chosen[a], chosen[b]);
    }
  }
  // S^T Y = L + D + U: L strictly lower (s_i.y_j, i > j), D its diagonal.
  MatrixXd strict_lower = sy.triangularView<Eigen::StrictlyLower>();
  const VectorXd d = sy.diagonal();

  // Psi = [S Y] C, and the middle matrix as T = R M R^T once R is known.
  MatrixXd c;
  double gamma;
  if (update == QuasiNewtonUpdate::kLbfgs) {
    // BNS 1994 eq. 2.17 with B_0 = gamma I, gamma = y.y / s.y of the newest
    // pair (Nocedal & Wright eq. 7.20 inverted).
    gamma = yy(q - 1, q - 1) / sy(q - 1, q - 1);
    c = MatrixXd::Identity(2 * q, 2 * q);
  } else {
    const MatrixXd symmetric_sy =
        strict_lower + strict_lower.transpose() + MatrixXd(d.asDiagonal());
    gamma = Lsr1Gamma(symmetric_sy, ss, sy, yy);
    c.resize(2 * q, q);
    c << -gamma * MatrixXd::Identity(q, q), MatrixXd::Identity(q, q);
  }
  model.gamma_ = gamma;

  // The Gram matrix of [S Y], or of [Z S  Z Y] for the reduced model.
  MatrixXd gram_sy(2 * q, 2 * q);
  if (free_gram == nullptr) {
    gram_sy << ss, sy, sy.transpose(), yy;
  } else {
    MatrixXd zss(q, q), zsy(q, q), zyy(q, q);
    for (int a = 0; a < q; ++a) {
      for (int b = 0; b < q; ++b) {
        zss(a, b) = free_gram->ss(chosen[a], chosen[b]);
        zsy(a, b) = free_gram->sy(chosen[a], chosen[b]);
        zyy(a, b) = free_gram->yy(chosen[a], chosen[b]);
      }
    }
    gram_sy << zss, zsy, zsy.transpose(), zyy;
  }
  // The rank of Psi is decided on the Gram matrix of Psi T^-1, T = diag(t_j),
  // dropping the eigenvalues below kRank * terms. L-BFGS's Psi = [S Y] mixes
  // units (steps and gradient differences): its t_j are the columns' own
  // lengths ||s_a||, ||y_a|| (Jacobi scaling) and terms = 1, so the decision
  // does not depend on the units of x; measured against the longest column
  // instead, a badly scaled problem whose y's are many orders longer than its
  // s's (Brown badly scaled: curvature 1e12 across the valley, 2 along it)
  // loses its s directions as "noise" and leaves them to gamma I, with gamma
  // = y.y / s.y set by the large curvature, and crawls along the valley in
  // steps of |g| / gamma. (The OBS method's thin QR of Psi, Brust, Erway &
  // Marcia 2017 §3, is invariant to column scaling; scaling before a rank
  // decision: Higham, Accuracy and Stability of Numerical Algorithms, 2nd
  // ed., §19.9.) L-SR1's Psi = Y - gamma S has gradient units throughout:
  // T = I, and terms are the largest ones its columns are formed from.
  const int cols = static_cast<int>(c.cols());
  VectorXd column_terms = VectorXd::Ones(cols);
  double terms;
  if (update == QuasiNewtonUpdate::kLbfgs) {
    for (int a = 0; a < q; ++a) {
      column_terms(a) = std::sqrt(ss(a, a));
      column_terms(q + a) = std::sqrt(yy(a, a));
    }
    terms = 1.0;
  } else {
    terms = yy.diagonal().maxCoeff() + gamma * gamma * ss.diagonal().maxCoeff();
  }
  const VectorXd inverse_terms = column_terms.cwiseInverse();
  MatrixXd psi_gram = inverse_terms.asDiagonal() *
                      (c.transpose() * gram_sy * c) *
                      inverse_terms.asDiagonal();
  psi_gram = 0.5 * (psi_gram + psi_gram.transpose());
  const Eigen::SelfAdjointEigenSolver<MatrixXd> psi_eigen(psi_gram);
  std::vector<int> kept;
  for (int i = 0; i < psi_eigen.eigenvalues().size(); ++i) {
    if (psi_eigen.eigenvalues()(i) > kRank * terms) kept.push_back(i);
  }
  const int r = static_cast<int>(kept.size());
  if (r == 0) return model;
  MatrixXd v(cols, r);
  VectorXd sigma(r);
  for (int i = 0; i < r; ++i) {
    v.col(i) = psi_eigen.eigenvectors().col(kept[i]);
    sigma(i) = psi_eigen.eigenvalues()(kept[i]);
  }
  // Psi ~ Q R with Q = Psi T^-1 V Sigma^-1/2 orthonormal,
  // R = Sigma^1/2 V^T T.
  const MatrixXd r_factor = sigma.cwiseSqrt().asDiagonal() * v.transpose() *
                            column_terms.asDiagonal();  // r x cols(C)
  MatrixXd middle;                                      // R M R^T
  if (update == QuasiNewtonUpdate::kLbfgs) {
    MatrixXd kkt(2 * q, 2 * q);
    kkt << gamma * ss, strict_lower, strict_lower.transpose(),
        -MatrixXd(d.asDiagonal());
    MatrixXd e = MatrixXd::Identity(2 * q, 2 * q);
    e.topLeftCorner(q, q) *= gamma;
    const MatrixXd re = r_factor * e;
    middle = -re * kkt.fullPivLu().solve(re.transpose());
  } else {
    const MatrixXd inverse_m = strict_lower + strict_lower.transpose() +
                               MatrixXd(d.asDiagonal()) - gamma * ss;
    middle = r_factor * inverse_m.fullPivLu().solve(r_factor.transpose());
  }
  middle = 0.5 * (middle + middle.transpose());
  const Eigen::SelfAdjointEigenSolver<MatrixXd> middle_eigen(middle);
  model.lambda_ = middle_eigen.eigenvalues();
  if (update == QuasiNewtonUpdate::kLbfgs) {
    // L-BFGS's B is positive definite in exact arithmetic (every pair has
    // s.y > 0), but gamma + lambda_i is formed by cancellation when gamma is
    // many orders above the curvature along some direction (Meyer: gamma ~
    // 1e14), and comes out as rounding noise, zero or negative. Such a
    // direction is numerically singular, not of negative curvature: its
    // eigenvalue is raised to the numerical-rank tolerance of the r x r
    // eigenproblem, r eps max|mu| (numpy.linalg.matrix_rank's default,
    // S.max() * max(M, N) * eps), instead of sending the subproblem into the
    // hard case along a noise eigenvector.
    double mu_max = gamma;
    for (int i = 0; i < r; ++i) {
      mu_max = std::max(mu_max, std::fabs(gamma + model.lambda_(i)));
    }
    const double mu_floor = r * kEpsilon * mu_max;
    for (int i = 0; i < r; ++i) {
      model.lambda_(i) = std::max(model.lambda_(i), mu_floor - gamma);
    }
  }

  // P = [S Y] W with W = C T^-1 V Sigma^-1/2 U, spread over all k pairs.
  const MatrixXd w_chosen = c * inverse_terms.asDiagonal() * v *
                            sigma.cwiseSqrt().cwiseInverse().asDiagonal() *
                            middle_eigen.eigenvectors();
  model.basis_ = MatrixXd::Zero(2 * k, r);
  for (int a = 0; a < q; ++a) {
    model.basis_.row(chosen[a]) = w_chosen.row(a);
    model.basis_.row(k + chosen[a]) = w_chosen.row(q + a);
  }
  return model;
}

VectorXd LimitedMemoryModel::Project(const VectorXd& on_s,
                                     const VectorXd& on_y) const {
  VectorXd stacked(2 * pairs_);
  stacked << on_s, on_y;
  return basis_.transpose() * stacked;
}

LimitedMemoryModel::Step LimitedMemoryModel::Solve(const VectorXd& sg,
                                                   const VectorXd& yg,
                                                   double gg,
                                                   double radius) const {
  const int k = pairs_;
  const int r = rank();
  Step step;
  step.coefficients = VectorXd::Zero(2 * k + 1);
  if (!(gg > 0)) return step;
  // g = P a + g_perp.
  const VectorXd a = r > 0 ? Project(sg, yg) : VectorXd();
  const VectorXd mu = eigenvalues();
  const bool complement = r < dimension_;
  const double a_perp2 = complement ? std::max(0.0, gg - a.squaredNorm()) : 0;
  double mu_min = complement ? gamma_ : std::numeric_limits<double>::infinity();
  for (int i = 0; i < r; ++i) mu_min = std::min(mu_min, mu(i));

  // ||p(sigma)||^2 (N&W eq. 4.38) and its sigma-derivative / -2, leaving out
  // the eigenvalues equal to mu_min when `skip_min`; zero components never
  // count.
  // Eigenvalues within rounding of mu_min count as mu_min.
  const double tie = 1e-12 * std::max(std::fabs(mu_min),
                                      r > 0 ? mu.cwiseAbs().maxCoeff() : 0.0);
  auto at_min = [&](double m) { return m - mu_min <= tie; };
  auto norm2 = [&](double sigma, bool skip_min, double* slope) {
    double n2 = 0.0, d = 0.0;
    auto add = [&](double m, double a2) {
      if (a2 == 0.0 || (skip_min && at_min(m))) return;
      const double t = 1.0 / (m + sigma);
      n2 += a2 * t * t;
      d += a2 * t * t * t;
    };
    for (int i = 0; i < r; ++i) add(mu(i), a(i) * a(i));
    if (complement) add(gamma_, a_perp2);
    if (slope != nullptr) *slope = d;
    return n2;
  };
  double a2_min = 0.0;  // g's squared component in the mu_min eigenspace
  int min_index = -1;
  for (int i = 0; i < r; ++i) {
    if (at_min(mu(i))) {
      a2_min += a(i) * a(i);
      if (min_index < 0) min_index = i;
    }
  }
  if (complement && at_min(gamma_)) a2_min += a_perp2;

  double sigma = 0.0, tau = 0.0;
  if (!(mu_min > 0 && norm2(0.0, false, nullptr) <= radius * radius)) {
    const double lo = std::max(0.0, -mu_min);
    const bool hard = mu_min <= 0 && a2_min <= kEpsilon * gg &&
                      min_index >= 0 &&
                      norm2(lo, true, nullptr) <= radius * radius;
    if (hard) {
      // N&W eq. 4.45: sigma = -mu_min, and the remaining length along an
      // eigenvector of mu_min (g has no component there, to rounding). Of
      // the two lengths +-tau, the one against g's component a_min lowers
      // the model by |tau a_min| (Moré & Sorensen 1983 §3 take the root of
      // smaller model value); the other raised it, which with mu_min = 0
      // could make a region's whole step predict an increase.
      sigma = lo;
      tau = std::copysign(std::sqrt(radius * radius - norm2(lo, true, nullptr)),
                          -a(min_index));
      step.hard_case = true;
    } else {
      // Newton's method on phi(sigma) = 1/||p|| - 1/radius, concave and
      // increasing on (-mu_min, inf): from the left of the root it converges
      // monotonically (Moré & Sorensen 1983, §3). Start where the mu_min term
      // alone would reach the boundary; bisect if rounding leaves the bracket.
      // At right, every |a_i| / (mu_i + sigma) <= |a_i| radius / ||g||.
      double left = lo,
             right = std::max(
                 lo, std::sqrt(gg + a.squaredNorm()) / radius - mu_min);
      sigma = lo + std::sqrt(a2_min) / radius;
      if (mu_min > 0) sigma = 0.0;
      for (int it = 0; it < kMaxSecularIterations; ++it) {
        double slope;
        const double n = std::sqrt(norm2(sigma, false, &slope));
        if (std::fabs(n - radius) <= kSecularTolerance * radius) break;
        (n > radius ? left : right) = sigma;
        const double phi = 1.0 / n - 1.0 / radius;
        const double next = sigma - phi * n * n * n / slope;
        sigma = (next > left && next < right) ? next : 0.5 * (left + right);
      }
    }
  }

  // The step in the eigenbasis: v_i = -a_i / (mu_i + sigma) along P, and
  // -g_perp / (gamma + sigma) in the complement, g_perp = g - P a.
  VectorXd v = VectorXd::Zero(r);
  for (int i = 0; i < r; ++i) {
    if (a(i) != 0.0 && !(step.hard_case && at_min(mu(i)))) {
      v(i) = -a(i) / (mu(i) + sigma);
    }
  }
  const double c_perp = complement ? -1.0 / (gamma_ + sigma) : 0.0;
  double model = a_perp2 * (c_perp + 0.5 * gamma_ * c_perp * c_perp);
  for (int i = 0; i < r; ++i) model += a(i) * v(i) + 0.5 * mu(i) * v(i) * v(i);
  VectorXd along_p = v - c_perp * a;
  if (step.hard_case) {
    along_p(min_index) += tau;
    model += tau * a(min_index) + 0.5 * mu(min_index) * tau * tau;
  }
  if (r > 0) step.coefficients.head(2 * k) = basis_ * along_p;
  step.coefficients(2 * k) = c_perp;
  step.model_change = model;
  step.norm =
      std::sqrt(v.squaredNorm() + a_perp2 * c_perp * c_perp + tau * tau);
  step.sigma = sigma;
  step.on_boundary = sigma > 0 || step.hard_case;
  return step;
}

double LimitedMemoryModel::ModelChange(double gp, double pp,
                                       const VectorXd& p_on_s,
                                       const VectorXd& p_on_y) const {
  double pbp = gamma_ * pp;
  if (rank() > 0) {
    const VectorXd pp_along = Project(p_on_s, p_on_y);
    for (int i = 0; i < rank(); ++i) {
      pbp += lambda_(i) * pp_along(i) * pp_along(i);
    }
  }
  return gp + 0.5 * pbp;
}

LimitedMemoryModel::SecantResidual LimitedMemoryModel::Residual(
    double ss, double sy, double yy, const VectorXd& s_on_s,
    const VectorXd& s_on_y, const VectorXd& y_on_s,
    const VectorXd& y_on_y) const {
  // B s = gamma s + P Lambda P^T s. Each sum also keeps the sum of its terms'
  // magnitudes: a sum of m terms is exact to within m eps times that (Higham,
  // Accuracy and Stability of Numerical Algorithms, 2nd ed., §4.2), and the
  // Gram entries it starts from carry errors of the same form, hence the
  // factor of 2 below.
  double sbs = gamma_ * ss, ybs = gamma_ * sy, bsbs = gamma_ * gamma_ * ss;
  double sbs_abs = std::fabs(sbs), ybs_abs = std::fabs(ybs), bsbs_abs = bsbs;
  if (rank() > 0) {
    const VectorXd ps = Project(s_on_s, s_on_y), py = Project(y_on_s, y_on_y);
    for (int i = 0; i < rank(); ++i) {
      const double s_term = lambda_(i) * ps(i) * ps(i);
      const double y_term = lambda_(i) * py(i) * ps(i);
      const double b_term = (2.0 * gamma_ + lambda_(i)) * s_term;
      sbs += s_term;
      ybs += y_term;
      bsbs += b_term;
      sbs_abs += std::fabs(s_term);
      ybs_abs += std::fabs(y_term);
      bsbs_abs += std::fabs(b_term);
    }
  }
  const double rounding = 2.0 * (rank() + 3) * kEpsilon;
  SecantResidual out;
  out.s_dot_residual = sy - sbs;
  out.s_dot_residual_error = rounding * (std::fabs(sy) + sbs_abs);
  const double rr = yy - 2.0 * ybs + bsbs;
  const double rr_error = rounding * (yy + 2.0 * ybs_abs + bsbs_abs);
  out.residual_norm = std::sqrt(std::max(0.0, rr));
  out.residual_norm_bound = std::sqrt(std::max(0.0, rr) + rr_error);
  return out;
}

}  // namespace optd
