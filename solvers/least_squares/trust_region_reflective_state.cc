// TrustRegionReflective::SaveState and RestoreState
// (trust_region_reflective.h): the options and every member of the machine,
// in the order below, as state_bytes.h words. Every vector and matrix has a
// size fixed by n and m (the SVD's by min(m, n), or n for bounds), so a state
// fits exactly the solvers made with its n and m.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/core/state_bytes.h"
#include "solvers/least_squares/trust_region_reflective.h"

namespace optd {
namespace {

constexpr std::string_view kTag = "optd.trust_region_reflective.v1";

}  // namespace

absl::Status TrustRegionReflective::SaveState(std::string* out) const {
  out->clear();
  StateWriter w(out);
  w.Tag(kTag);
  w.I64(n_);
  w.I64(m_);
  w.F64(options_.ftol);
  w.F64(options_.xtol);
  w.F64(options_.gtol);
  w.I64(options_.max_nfev);
  w.Flag(options_.x_scale_jac);
  w.I64(static_cast<int64_t>(options_.loss));
  w.F64(options_.f_scale);
  w.Flag(!options_.x_scale.empty());
  if (!options_.x_scale.empty()) w.F64s(options_.x_scale.data(), n_);
  w.Flag(!options_.lower.empty());
  if (!options_.lower.empty()) w.F64s(options_.lower.data(), n_);
  w.Flag(!options_.upper.empty());
  if (!options_.upper.empty()) w.F64s(options_.upper.data(), n_);
  w.I64(max_nfev_);
  w.I64(static_cast<int64_t>(phase_));
  w.F64(cost_);
  w.F64(delta_);
  w.F64(alpha_);
  w.F64(g_norm_);
  w.F64(theta_);
  w.F64(actual_reduction_);
  w.I64(termination_status_);
  w.I64(iteration_);
  w.I64(nfev_);
  w.I64(njev_);
  w.F64(predicted_reduction_);
  w.F64(cost_new_);
  w.I64(status_);
  w.F64s(x_);
  w.F64s(f_);
  w.F64s(f_true_);
  w.F64s(j_);
  w.F64s(g_);
  w.F64s(scale_);
  w.F64s(scale_inv_);
  w.F64s(d_);
  w.F64s(diag_h_);
  w.F64s(g_h_);
  w.F64s(j_h_);
  w.I64(s_.size());
  w.F64s(uf_);
  w.F64s(s_);
  w.F64s(v_);
  w.F64s(x_new_);
  w.F64s(step_);
  w.F64s(step_h_);
  w.F64s(f_new_);
  w.I64(static_cast<int64_t>(fail_message_.size()));
  w.Tag(fail_message_);
  return absl::OkStatus();
}

int64_t TrustRegionReflective::StateBytes() const {
  // The words SaveState writes: 29 scalars, the optional x_scale, lower and
  // upper, ten n-vectors, three m-vectors, two m x n matrices and the SVD
  // (k singular values, U^T f and the n x k V); then the message.
  const int64_t n = n_, m = m_, k = s_.size();
  const int64_t optional = (options_.x_scale.empty() ? 0 : n) +
                           (options_.lower.empty() ? 0 : n) +
                           (options_.upper.empty() ? 0 : n);
  const int64_t words =
      29 + optional + 10 * n + 3 * m + 2 * m * n + 2 * k + n * k;
  return static_cast<int64_t>(kTag.size()) + 8 * words +
         static_cast<int64_t>(fail_message_.size());
}

absl::Status TrustRegionReflective::RestoreState(std::string_view state) {
  StateReader r(state);
  const std::string what = "the optd.trust_region_reflective.v1 state";
  if (!r.Tag(kTag)) return r.Error(what);
  const int64_t n = r.I64();
  const int64_t m = r.I64();
  if (r.ok() && (n != n_ || m != m_)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is for n = ", n, ", m = ", m,
                     "; this solver has n = ", n_, ", m = ", m_));
  }
  TrustRegionReflective t = *this;
  TrustRegionReflectiveOptions& o = t.options_;
  o.ftol = r.F64();
  o.xtol = r.F64();
  o.gtol = r.F64();
  o.max_nfev = r.Count("max_nfev", 0, int64_t{1} << 40);
  o.x_scale_jac = r.Flag("x_scale_jac");
  o.loss = static_cast<RobustLoss>(r.Count("loss", 0, 4));
  o.f_scale = r.F64();
  std::vector<double>* sides[] = {&o.x_scale, &o.lower, &o.upper};
  const char* const names[] = {"has_x_scale", "has_lower", "has_upper"};
  for (int k = 0; k < 3; ++k) {
    sides[k]->clear();
    if (r.Flag(names[k])) {
      sides[k]->resize(n_);
      if (!r.F64s(sides[k]->data(), n_)) return r.Error(what);
    }
  }
  t.max_nfev_ = r.Count("max_nfev", 1, int64_t{1} << 40);
  t.phase_ = static_cast<Phase>(r.Count("phase", 0, 3));
  t.cost_ = r.F64();
  t.delta_ = r.F64();
  t.alpha_ = r.F64();
  t.g_norm_ = r.F64();
  t.theta_ = r.F64();
  t.actual_reduction_ = r.F64();
  t.termination_status_ =
      static_cast<int>(r.Count("termination_status", -1, 4));
  t.iteration_ = r.Count("iteration", 0, int64_t{1} << 40);
  t.nfev_ = r.Count("nfev", 0, int64_t{1} << 40);
  t.njev_ = r.Count("njev", 0, int64_t{1} << 40);
  t.predicted_reduction_ = r.F64();
  t.cost_new_ = r.F64();
  t.status_ = static_cast<int>(r.Count("status", -2, 4));
  r.F64s(n_, &t.x_);
  r.F64s(m_, &t.f_);
  r.F64s(m_, &t.f_true_);
  r.F64s(m_, n_, &t.j_);
  r.F64s(n_, &t.g_);
  r.F64s(n_, &t.scale_);
  r.F64s(n_, &t.scale_inv_);
  r.F64s(n_, &t.d_);
  r.F64s(n_, &t.diag_h_);
  r.F64s(n_, &t.g_h_);
  r.F64s(m_, n_, &t.j_h_);
  // The SVD's rank k: 0 before the first outer iteration, else min(m, n)
  // (n with bounds: the augmented matrix has m + n rows).
  const int64_t k = r.Count("svd size", 0, std::max(m_, n_));
  r.F64s(k, &t.uf_);
  r.F64s(k, &t.s_);
  r.F64s(n_, k, &t.v_);
  r.F64s(n_, &t.x_new_);
  r.F64s(n_, &t.step_);
  r.F64s(n_, &t.step_h_);
  r.F64s(m_, &t.f_new_);
  const int64_t length = r.Count("message length", 0, 4096);
  t.fail_message_ = std::string(r.Take(static_cast<size_t>(length)));
  if (r.ok() && r.remaining() != 0) {
    r.Fail(absl::StrCat("has ", r.remaining(), " bytes after its end"));
  }
  if (!r.ok()) return r.Error(what);
  absl::Status valid = ValidateTrustRegionReflectiveOptions(o, n_, m_);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " holds bad options: ", valid.message()));
  }
  // The box travels with the options; rebuild what the constructor derives.
  TrustRegionReflective fresh(o, t.x_, m_);
  t.lb_ = fresh.lb_;
  t.ub_ = fresh.ub_;
  t.bounded_ = fresh.bounded_;
  if (t.phase_ == Phase::kFinished) t.Summarize();
  *this = std::move(t);
  return absl::OkStatus();
}

}  // namespace optd
