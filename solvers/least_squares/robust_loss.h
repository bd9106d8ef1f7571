// The robust loss functions of scipy.optimize.least_squares (scipy 1.10:
// scipy/optimize/_lsq/least_squares.py, huber, soft_l1, cauchy, arctan and
// construct_loss_function) and the Jacobian/residual rescaling that lets a
// Gauss-Newton trust region minimize sum_i rho(r_i^2) (scipy/optimize/_lsq/
// common.py, scale_for_robust_loss_function; Triggs et al., "Bundle
// Adjustment - A Modern Synthesis", 2000, section 4.3).
//
// With z = (r / f_scale)^2, the cost is 0.5 f_scale^2 sum_i rho(z_i):
//   linear   rho(z) = z
//   soft_l1  rho(z) = 2 ((1 + z)^0.5 - 1)
//   huber    rho(z) = z for z <= 1, 2 z^0.5 - 1 otherwise
//   cauchy   rho(z) = ln(1 + z)
//   arctan   rho(z) = arctan(z)
//
//   RobustLossValues rho = EvaluateRobustLoss(RobustLoss::kSoftL1, 0.1, r);
//   ScaleForRobustLoss(rho, &jac, &r);   // J and r for the trust region
//
// Thread-safety: pure functions.
#ifndef OPTD_SOLVERS_LEAST_SQUARES_ROBUST_LOSS_H_
#define OPTD_SOLVERS_LEAST_SQUARES_ROBUST_LOSS_H_

#include <optional>

#include "Eigen/Core"
#include "absl/strings/string_view.h"

namespace optd {

enum class RobustLoss : int {
  kLinear = 0,
  kSoftL1 = 1,
  kHuber = 2,
  kCauchy = 3,
  kArctan = 4,
};

// scipy's name of the loss ("linear", "soft_l1", ...).
absl::string_view RobustLossName(RobustLoss loss);
// The loss called `name`, or nullopt.
std::optional<RobustLoss> RobustLossFromName(absl::string_view name);

// rho and its first two derivatives with respect to r^2, per residual, as
// construct_loss_function's loss_function returns them: row 0 is
// f_scale^2 rho(z), row 1 rho'(z), row 2 rho''(z) / f_scale^2.
struct RobustLossValues {
  Eigen::VectorXd rho0, rho1, rho2;
};
RobustLossValues EvaluateRobustLoss(RobustLoss loss, double f_scale,
                                    const Eigen::VectorXd& r);
// loss_function(f, cost_only=True): 0.5 f_scale^2 sum_i rho(z_i); for
// kLinear 0.5 |r|^2.
double RobustLossCost(RobustLoss loss, double f_scale,
                      const Eigen::VectorXd& r);
// scale_for_robust_loss_function: with s_i = (rho'_i + 2 rho''_i r_i^2),
// floored at machine epsilon, then square-rooted, r_i *= rho'_i / s_i and
// J's row i *= s_i.
void ScaleForRobustLoss(const RobustLossValues& rho, Eigen::MatrixXd* jac,
                        Eigen::VectorXd* r);
// The same for a matrix-free J: scales r and returns the row scales s
// (J_scale; the scaled Jacobian is diag(s) J).
Eigen::VectorXd ScaleResidualsForRobustLoss(const RobustLossValues& rho,
                                            Eigen::VectorXd* r);

}  // namespace optd

#endif  // OPTD_SOLVERS_LEAST_SQUARES_ROBUST_LOSS_H_
