// The robust losses (robust_loss.h), line for line after scipy 1.10's
// scipy/optimize/_lsq/least_squares.py (huber, soft_l1, cauchy, arctan,
// construct_loss_function) and common.py (scale_for_robust_loss_function).
// numpy's x**0.5 is sqrt and x**2 is x*x; other powers are pow, as here.
#include "solvers/least_squares/robust_loss.h"

#include <cmath>
#include <limits>
#include <optional>

#include "absl/strings/string_view.h"

namespace optd {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// rho(z), rho'(z), rho''(z) of one z (the unscaled loss); d1, d2 may be
// null (cost only).
double Rho(RobustLoss loss, double z, double* d1, double* d2) {
  switch (loss) {
    case RobustLoss::kLinear:
      if (d1 != nullptr) *d1 = 1.0, *d2 = 0.0;
      return z;
    case RobustLoss::kSoftL1: {
      const double t = 1.0 + z;
      if (d1 != nullptr) {
        *d1 = std::pow(t, -0.5);
        *d2 = -0.5 * std::pow(t, -1.5);
      }
      return 2.0 * (std::sqrt(t) - 1.0);
    }
    case RobustLoss::kHuber:
      if (z <= 1.0) {
        if (d1 != nullptr) *d1 = 1.0, *d2 = 0.0;
        return z;
      }
      if (d1 != nullptr) {
        *d1 = std::pow(z, -0.5);
        *d2 = -0.5 * std::pow(z, -1.5);
      }
      return 2.0 * std::sqrt(z) - 1.0;
    case RobustLoss::kCauchy: {
      const double t = 1.0 + z;
      if (d1 != nullptr) {
        *d1 = 1.0 / t;
        *d2 = -1.0 / (t * t);
      }
      return std::log1p(z);
    }
    case RobustLoss::kArctan: {
      const double t = 1.0 + z * z;
      if (d1 != nullptr) {
        *d1 = 1.0 / t;
        *d2 = -2.0 * z / (t * t);
      }
      return std::atan(z);
    }
  }
  return z;
}

double Z(double r, double f_scale) {
  const double q = r / f_scale;
  return q * q;
}

}  // namespace

absl::string_view RobustLossName(RobustLoss loss) {
  switch (loss) {
    case RobustLoss::kLinear:
      return "linear";
    case RobustLoss::kSoftL1:
      return "soft_l1";
    case RobustLoss::kHuber:
      return "huber";
    case RobustLoss::kCauchy:
      return "cauchy";
    case RobustLoss::kArctan:
      return "arctan";
  }
  return "linear";
}

std::optional<RobustLoss> RobustLossFromName(absl::string_view name) {
  for (RobustLoss loss :
       {RobustLoss::kLinear, RobustLoss::kSoftL1, RobustLoss::kHuber,
        RobustLoss::kCauchy, RobustLoss::kArctan}) {
    if (RobustLossName(loss) == name) return loss;
  }
  return std::nullopt;
}

RobustLossValues EvaluateRobustLoss(RobustLoss loss, double f_scale,
                                    const Eigen::VectorXd& r) {
  const double fs2 = f_scale * f_scale;
  RobustLossValues v;
  const Eigen::Index m = r.size();
  v.rho0.resize(m);
  v.rho1.resize(m);
  v.rho2.resize(m);
  for (Eigen::Index i = 0; i < m; ++i) {
    v.rho0(i) = Rho(loss, Z(r(i), f_scale), &v.rho1(i), &v.rho2(i)) * fs2;
    v.rho2(i) /= fs2;
  }
  return v;
}

double RobustLossCost(RobustLoss loss, double f_scale,
                      const Eigen::VectorXd& r) {
  if (loss == RobustLoss::kLinear) return 0.5 * r.dot(r);
  double sum = 0.0;
  for (Eigen::Index i = 0; i < r.size(); ++i) {
    sum += Rho(loss, Z(r(i), f_scale), nullptr, nullptr);
  }
  return 0.5 * (f_scale * f_scale) * sum;
}

Eigen::VectorXd ScaleResidualsForRobustLoss(const RobustLossValues& rho,
                                            Eigen::VectorXd* r) {
  Eigen::VectorXd j_scale(r->size());
  for (Eigen::Index i = 0; i < r->size(); ++i) {
    const double f = (*r)(i);
    double s = rho.rho1(i) + 2.0 * rho.rho2(i) * (f * f);
    if (s < kEps) s = kEps;
    s = std::sqrt(s);
    (*r)(i) = f * (rho.rho1(i) / s);
    j_scale(i) = s;
  }
  return j_scale;
}

void ScaleForRobustLoss(const RobustLossValues& rho, Eigen::MatrixXd* jac,
                        Eigen::VectorXd* r) {
  const Eigen::VectorXd j_scale = ScaleResidualsForRobustLoss(rho, r);
  for (Eigen::Index i = 0; i < r->size(); ++i) jac->row(i) *= j_scale(i);
}

}  // namespace optd
