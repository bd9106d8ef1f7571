// TrfLsmr::SaveState and RestoreState (trf_lsmr.h): the options and every
// member of the machine, in the order below, as state_bytes.h words. The
// vectors whose size depends on the phase (empty, n, m, or m + n inside
// LSMR with bounds) are written after their size; the LSMR routine, when
// one is running, after a flag.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/core/state_bytes.h"
#include "solvers/least_squares/trf_lsmr.h"

namespace optd {
namespace {

constexpr std::string_view kTag = "optd.trf_lsmr.v1";
constexpr int kScalars = 8;  // the doubles of the scalars array below
constexpr int kCounts = 13;  // the integer words after them

void Vector(StateWriter* w, const Eigen::VectorXd& v) {
  w->I64(v.size());
  w->F64s(v);
}

void Vector(StateReader* r, int64_t max, Eigen::VectorXd* v) {
  r->F64s(r->Count("vector size", 0, max), v);
}

}  // namespace

absl::Status TrfLsmr::SaveState(std::string* out) const {
  out->clear();
  StateWriter w(out);
  w.Tag(kTag);
  w.I64(n_);
  w.I64(m_);
  const TrustRegionReflectiveOptions& o = options_.trf;
  w.F64(o.ftol);
  w.F64(o.xtol);
  w.F64(o.gtol);
  w.I64(o.max_nfev);
  w.I64(static_cast<int64_t>(o.loss));
  w.F64(o.f_scale);
  w.F64(options_.lsmr_tol);
  w.I64(options_.lsmr_maxiter);
  w.Flag(options_.regularize);
  Vector(&w,
         Eigen::Map<const Eigen::VectorXd>(o.x_scale.data(), o.x_scale.size()));
  Vector(&w, Eigen::Map<const Eigen::VectorXd>(o.lower.data(), o.lower.size()));
  Vector(&w, Eigen::Map<const Eigen::VectorXd>(o.upper.data(), o.upper.size()));
  const double scalars[kScalars] = {cost_,
                                    delta_,
                                    g_norm_,
                                    theta_,
                                    actual_reduction_,
                                    reg_term_,
                                    predicted_reduction_,
                                    cost_new_};
  w.F64s(scalars, kScalars);
  const int64_t counts[kCounts] = {static_cast<int64_t>(phase_),
                                   termination_status_,
                                   initialized_ ? 1 : 0,
                                   iteration_,
                                   nfev_,
                                   njev_,
                                   jv_count_,
                                   jtv_count_,
                                   lsmr_iterations_,
                                   subspace_column_,
                                   have_reflection_product_ ? 1 : 0,
                                   status_,
                                   max_nfev_};
  for (const int64_t c : counts) w.I64(c);
  for (const Eigen::VectorXd* v :
       {&operand_, &x_, &f_, &f_true_, &j_scale_, &g_, &scale_, &scale_inv_,
        &d_, &diag_h_, &g_h_, &lsmr_diag_, &x_new_, &step_, &step_h_, &f_new_,
        &reflection_product_}) {
    Vector(&w, *v);
  }
  w.I64(s_.cols());
  w.F64s(s_);
  w.F64s(js_);
  w.F64s(b_s_.data(), 4);
  w.F64s(g_s_.data(), 2);
  w.Flag(lsmr_.has_value());
  if (lsmr_.has_value()) lsmr_->Save(&w);
  w.I64(static_cast<int64_t>(fail_message_.size()));
  w.Tag(fail_message_);
  return absl::OkStatus();
}

int64_t TrfLsmr::StateBytes() const {
  const TrustRegionReflectiveOptions& o = options_.trf;
  int64_t words = 2 + 9 + 3 + o.x_scale.size() + o.lower.size() +
                  o.upper.size() + kScalars + kCounts + 1 + s_.size() +
                  js_.size() + 6 + 1 + 1;
  for (const Eigen::VectorXd* v :
       {&operand_, &x_, &f_, &f_true_, &j_scale_, &g_, &scale_, &scale_inv_,
        &d_, &diag_h_, &g_h_, &lsmr_diag_, &x_new_, &step_, &step_h_, &f_new_,
        &reflection_product_}) {
    words += 1 + v->size();
  }
  return static_cast<int64_t>(kTag.size()) + 8 * words +
         (lsmr_.has_value() ? lsmr_->SavedBytes() : 0) +
         static_cast<int64_t>(fail_message_.size());
}

absl::Status TrfLsmr::RestoreState(std::string_view state) {
  StateReader r(state);
  const std::string what = "the optd.trf_lsmr.v1 state";
  if (!r.Tag(kTag)) return r.Error(what);
  const int64_t n = r.I64();
  const int64_t m = r.I64();
  if (r.ok() && (n != n_ || m != m_)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is for n = ", n, ", m = ", m,
                     "; this solver has n = ", n_, ", m = ", m_));
  }
  TrfLsmr t = *this;
  TrustRegionReflectiveOptions& o = t.options_.trf;
  o.ftol = r.F64();
  o.xtol = r.F64();
  o.gtol = r.F64();
  o.max_nfev = r.Count("max_nfev", 0, int64_t{1} << 40);
  o.loss = static_cast<RobustLoss>(r.Count("loss", 0, 4));
  o.f_scale = r.F64();
  t.options_.lsmr_tol = r.F64();
  t.options_.lsmr_maxiter = r.Count("lsmr_maxiter", 0, int64_t{1} << 31);
  t.options_.regularize = r.Flag("regularize");
  std::vector<double>* sides[] = {&o.x_scale, &o.lower, &o.upper};
  for (std::vector<double>* side : sides) {
    Eigen::VectorXd v;
    Vector(&r, n_, &v);
    side->assign(v.data(), v.data() + v.size());
  }
  if (!r.ok()) return r.Error(what);
  absl::Status valid = ValidateTrfLsmrOptions(t.options_, n_, m_);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " holds bad options: ", valid.message()));
  }
  // The box travels with the options; rebuild what the constructor derives.
  const TrfLsmr fresh(t.options_, Eigen::VectorXd::Zero(n_), m_);
  t.lb_ = fresh.lb_;
  t.ub_ = fresh.ub_;
  t.bounded_ = fresh.bounded_;
  double scalars[kScalars];
  if (!r.F64s(scalars, kScalars)) return r.Error(what);
  t.cost_ = scalars[0];
  t.delta_ = scalars[1];
  t.g_norm_ = scalars[2];
  t.theta_ = scalars[3];
  t.actual_reduction_ = scalars[4];
  t.reg_term_ = scalars[5];
  t.predicted_reduction_ = scalars[6];
  t.cost_new_ = scalars[7];
  t.phase_ = static_cast<Phase>(r.Count("phase", 0, 7));
  t.termination_status_ =
      static_cast<int>(r.Count("termination_status", -1, 4));
  t.initialized_ = r.Flag("initialized");
  t.iteration_ = r.Count("iteration", 0, int64_t{1} << 40);
  t.nfev_ = r.Count("nfev", 0, int64_t{1} << 40);
  t.njev_ = r.Count("njev", 0, int64_t{1} << 40);
  t.jv_count_ = r.Count("jv_count", 0, int64_t{1} << 50);
  t.jtv_count_ = r.Count("jtv_count", 0, int64_t{1} << 50);
  t.lsmr_iterations_ = r.Count("lsmr_iterations", 0, int64_t{1} << 50);
  t.subspace_column_ = static_cast<int>(r.Count("subspace_column", 0, 2));
  t.have_reflection_product_ = r.Flag("have_reflection_product");
  t.status_ = static_cast<int>(r.Count("status", -2, 4));
  t.max_nfev_ = r.Count("max_nfev", 1, int64_t{1} << 40);
  const int64_t most = m_ + n_;
  for (Eigen::VectorXd* v :
       {&t.operand_, &t.x_, &t.f_, &t.f_true_, &t.j_scale_, &t.g_, &t.scale_,
        &t.scale_inv_, &t.d_, &t.diag_h_, &t.g_h_, &t.lsmr_diag_, &t.x_new_,
        &t.step_, &t.step_h_, &t.f_new_, &t.reflection_product_}) {
    Vector(&r, most, v);
  }
  const int64_t columns = r.Count("subspace columns", 0, 2);
  r.F64s(columns == 0 ? 0 : n_, columns, &t.s_);
  r.F64s(columns == 0 ? 0 : m_, columns, &t.js_);
  r.F64s(t.b_s_.data(), 4);
  r.F64s(t.g_s_.data(), 2);
  t.lsmr_.reset();
  if (r.Flag("has_lsmr")) {
    t.lsmr_.emplace(1, 1, Eigen::VectorXd::Zero(1), LsmrOptions());
    if (!t.lsmr_->Restore(&r, t.bounded_ ? m_ + n_ : m_, n_)) {
      return r.Error(what);
    }
  }
  const int64_t length = r.Count("message length", 0, 4096);
  t.fail_message_ = std::string(r.Take(static_cast<size_t>(length)));
  if (r.ok() && r.remaining() != 0) {
    r.Fail(absl::StrCat("has ", r.remaining(), " bytes after its end"));
  }
  if (!r.ok()) return r.Error(what);
  if (t.phase_ == Phase::kFinished) t.Summarize();
  *this = std::move(t);
  return absl::OkStatus();
}

}  // namespace optd
