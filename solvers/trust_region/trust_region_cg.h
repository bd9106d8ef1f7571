// Steihaug–Toint truncated conjugate gradients for the trust-region
// subproblem min g.p + p.B.p/2, ||p|| <= radius, as scipy 1.10's trust-ncg
// runs it (scipy/optimize/_trustregion_ncg.py, CGSteihaugSubproblem;
// Steihaug, SIAM J. Numer. Anal. 20 (1983) 626-637; Nocedal & Wright,
// Numerical Optimization, 2nd ed., Algorithm 7.2):
//   z = 0, r = g, d = -g; tolerance min(0.5, sqrt(|g|)) |g|;
//   each iteration needs the product B d (one trial); stop on d.Bd <= 0
//   (the boundary point along d with the lower model value), when z would
//   leave the region (the boundary point ahead), or when |r| < tolerance.
// The vectors live in the slices (trust_region_vectors.h); this controller
// holds scalars only and reduces in block order, so the steps are bitwise
// identical for any number of slices. The model's value along the way is
// tracked from the reduced scalars: m(z + t d) = m(z) + t r.d + t^2 d.Bd/2,
// since r = g + B z (scipy evaluates it with extra products instead).
//
//   SteihaugCg cg;
//   auto next = cg.Start(vectors, gg, radius);     // kProduct: tell H d
//   while (*next == SteihaugCg::Next::kProduct) {
//     ... the product H d is set on the slices ...
//     next = cg.OnProduct(vectors);
//   }
//   // kStep: the slices hold p and x_trial = x + p; cg.model_change()
//
// Thread-safety: not thread-safe.
#ifndef OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_CG_H_
#define OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_CG_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "solvers/trust_region/trust_region_vectors.h"

namespace optd {

class SteihaugCg {
 public:
  enum class Next {
    kProduct,  // the slices need hd = B d for the current d
    kStep,     // the step is formed: x_trial = x + p on the slices
  };

  // Starts at the iterate, whose gradient has g.g = gg > 0. At most
  // `max_iterations` products are asked for; then the current z is the step.
  absl::StatusOr<Next> Start(TrustRegionVectors& vectors, double gg,
                             double radius, int64_t max_iterations);
  // Continues once B d is in the slices' hd.
  absl::StatusOr<Next> OnProduct(TrustRegionVectors& vectors);

  // d.d of the direction that wants its product (for a difference step).
  double direction_norm2() const { return dd_; }
  // Once kStep: m(p) = g.p + p.B.p/2, whether p is on the boundary, ||p||.
  double model_change() const { return model_change_; }
  bool on_boundary() const { return on_boundary_; }
  double step_norm() const { return step_norm_; }
  int64_t products() const { return products_; }

  // Every member, so that a session can save a search in flight
  // (TrustRegion::SaveState) and Restore() it later; names as the members'.
  struct Snapshot {
    double radius = 0.0, tolerance = 0.0;
    int64_t max_iterations = 0, products = 0;
    double rr = 0.0, dd = 0.0, model_z = 0.0, model_change = 0.0,
           step_norm = 0.0;
    bool on_boundary = false;
  };
  Snapshot snapshot() const;
  void Restore(const Snapshot& snapshot);

 private:
  // Ends with p = z + tau d.
  absl::StatusOr<Next> Finish(TrustRegionVectors& vectors, double tau,
                              double model_change, bool on_boundary,
                              double norm);

  double radius_ = 0.0;
  double tolerance_ = 0.0;
  int64_t max_iterations_ = 0;
  int64_t products_ = 0;
  double rr_ = 0.0;       // r.r
  double dd_ = 0.0;       // d.d
  double model_z_ = 0.0;  // m(z)
  double model_change_ = 0.0;
  double step_norm_ = 0.0;
  bool on_boundary_ = false;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_TRUST_REGION_TRUST_REGION_CG_H_
