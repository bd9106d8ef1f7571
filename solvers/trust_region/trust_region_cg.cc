#include "solvers/trust_region/trust_region_cg.h"

#include <algorithm>
#include <cmath>

#include "common/status_macros.h"
#include "solvers/trust_region/trust_region_exact.h"

namespace optd {

absl::StatusOr<SteihaugCg::Next> SteihaugCg::Start(TrustRegionVectors& vectors,
                                                   double gg, double radius,
                                                   int64_t max_iterations) {
  radius_ = radius;
  max_iterations_ = max_iterations;
  products_ = 0;
  const double g_norm = std::sqrt(gg);
  // scipy's "forcing sequence": superlinear convergence near a minimizer
  // (N&W eq. 7.3 with eta_k = min(0.5, sqrt(|g|))).
  tolerance_ = std::min(0.5, std::sqrt(g_norm)) * g_norm;
  rr_ = gg;
  dd_ = gg;
  model_z_ = 0.0;
  OPTD_RETURN_IF_ERROR(vectors.CgStart());
  return Next::kProduct;
}

absl::StatusOr<SteihaugCg::Next> SteihaugCg::Finish(TrustRegionVectors& vectors,
                                                    double tau,
                                                    double model_change,
                                                    bool on_boundary,
                                                    double norm) {
  model_change_ = model_change;
  on_boundary_ = on_boundary;
  step_norm_ = norm;
  OPTD_RETURN_IF_ERROR(vectors.FormCgStep(tau));
  return Next::kStep;
}

absl::StatusOr<SteihaugCg::Next> SteihaugCg::OnProduct(
    TrustRegionVectors& vectors) {
  ++products_;
  OPTD_ASSIGN_OR_RETURN(Reduction dots, vectors.ReduceCurvature());
  const double dbd = dots.sums[kDHd], dd = dots.sums[kDD];
  const double zd = dots.sums[kZD], zz = dots.sums[kZZ];
  const double rd = dots.sums[kRD];
  auto model_at = [&](double t) {
    return model_z_ + t * rd + 0.5 * t * t * dbd;
  };
  if (!(dbd > 0)) {
    // Negative curvature: of the two boundary points z + t d, the one with
    // the lower model value.
    const auto [ta, tb] = BoundaryIntersections(zz, zd, dd, radius_);
    const double t = model_at(ta) < model_at(tb) ? ta : tb;
    return Finish(vectors, t, model_at(t), true, radius_);
  }
  const double alpha = rr_ / dbd;
  // ||z + alpha d||^2 from the reduced scalars (z.d >= 0 in CG, so no
  // cancellation; Steihaug 1983, Theorem 2.1).
  const double z_next2 = zz + 2.0 * alpha * zd + alpha * alpha * dd;
  if (std::sqrt(z_next2) >= radius_) {
    const double tb = BoundaryIntersections(zz, zd, dd, radius_).second;
    return Finish(vectors, tb, model_at(tb), true, radius_);
  }
  model_z_ = model_at(alpha);
  OPTD_ASSIGN_OR_RETURN(Reduction r_dots, vectors.CgAdvance(alpha));
  const double rr_next = r_dots.sums[0];
  if (std::sqrt(rr_next) < tolerance_ || products_ >= max_iterations_) {
    return Finish(vectors, 0.0, model_z_, false, std::sqrt(z_next2));
  }
  const double beta = rr_next / rr_;
  rr_ = rr_next;
  OPTD_ASSIGN_OR_RETURN(Reduction d_dots, vectors.CgDirection(beta));
  dd_ = d_dots.sums[0];
  return Next::kProduct;
}

SteihaugCg::Snapshot SteihaugCg::snapshot() const {
  return {radius_, tolerance_, max_iterations_, products_,  rr_,
          dd_,     model_z_,   model_change_,   step_norm_, on_boundary_};
}

void SteihaugCg::Restore(const Snapshot& s) {
  radius_ = s.radius;
  tolerance_ = s.tolerance;
  max_iterations_ = s.max_iterations;
  products_ = s.products;
  rr_ = s.rr;
  dd_ = s.dd;
  model_z_ = s.model_z;
  model_change_ = s.model_change;
  step_norm_ = s.step_norm;
  on_boundary_ = s.on_boundary;
}

}  // namespace optd
