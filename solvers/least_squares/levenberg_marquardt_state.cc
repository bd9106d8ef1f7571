// LevenbergMarquardt::SaveState and RestoreState (levenberg_marquardt.h):
// every member of the machine, in the order below, as state_bytes.h words.
// The sizes are fixed by n and m (every vector is allocated by the
// constructor), so a state fits exactly the solvers made with its n and m.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "solvers/core/state_bytes.h"
#include "solvers/least_squares/levenberg_marquardt.h"

namespace optd {
namespace {

constexpr std::string_view kTag = "optd.levenberg_marquardt.v1";

}  // namespace

absl::Status LevenbergMarquardt::SaveState(std::string* out) const {
  out->clear();
  StateWriter w(out);
  w.Tag(kTag);
  w.I64(n_);
  w.I64(m_);
  // Options.
  w.F64(options_.ftol);
  w.F64(options_.xtol);
  w.F64(options_.gtol);
  w.I64(options_.max_nfev);
  w.Flag(options_.x_scale_jac);
  w.F64(options_.factor);
  w.Flag(!options_.x_scale.empty());
  if (!options_.x_scale.empty()) w.F64s(options_.x_scale.data(), n_);
  w.I64(maxfev_);
  w.I64(options_.jacobian_nfev);
  w.I64(mode_);
  // lmder's variables.
  w.I64(static_cast<int64_t>(phase_));
  w.F64(fnorm_);
  w.F64(par_);
  w.F64(delta_);
  w.F64(xnorm_);
  w.F64(gnorm_);
  w.F64(pnorm_);
  w.I64(iter_);
  w.I64(nfev_);
  w.I64(njev_);
  w.I64(info_);
  w.I64(status_);
  w.Flag(jacobian_valid_);
  for (int j = 0; j < n_; ++j) w.I64(ipvt_[j]);
  w.F64s(x_);
  w.F64s(fvec_);
  w.F64s(fjac_);
  w.F64s(diag_);
  w.F64s(qtf_);
  w.F64s(wa1_);
  w.F64s(wa2_);
  w.F64s(wa3_);
  w.F64s(wa4_);
  w.F64s(jac_);
  w.I64(static_cast<int64_t>(fail_message_.size()));
  w.Tag(fail_message_);
  return absl::OkStatus();
}

int64_t LevenbergMarquardt::StateBytes() const {
  // The words SaveState writes: 26 scalars, the optional x_scale, seven
  // n-vectors (ipvt, x, diag, qtf, wa1..wa3), two m-vectors and two m x n
  // matrices; then the message.
  const int64_t n = n_, m = m_;
  const int64_t words =
      26 + (options_.x_scale.empty() ? 0 : n) + 7 * n + 2 * m + 2 * m * n;
  return static_cast<int64_t>(kTag.size()) + 8 * words +
         static_cast<int64_t>(fail_message_.size());
}

absl::Status LevenbergMarquardt::RestoreState(std::string_view state) {
  StateReader r(state);
  const std::string what = "the optd.levenberg_marquardt.v1 state";
  if (!r.Tag(kTag)) return r.Error(what);
  const int64_t n = r.I64();
  const int64_t m = r.I64();
  if (r.ok() && (n != n_ || m != m_)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is for n = ", n, ", m = ", m,
                     "; this solver has n = ", n_, ", m = ", m_));
  }
  LevenbergMarquardt t = *this;
  t.options_.ftol = r.F64();
  t.options_.xtol = r.F64();
  t.options_.gtol = r.F64();
  t.options_.max_nfev = r.I64();
  t.options_.x_scale_jac = r.Flag("x_scale_jac");
  t.options_.factor = r.F64();
  t.options_.x_scale.clear();
  if (r.Flag("has_x_scale")) {
    t.options_.x_scale.resize(n_);
    if (!r.F64s(t.options_.x_scale.data(), n_)) return r.Error(what);
  }
  t.maxfev_ = r.Count("maxfev", 1, int64_t{1} << 40);
  t.options_.jacobian_nfev = r.Count("jacobian_nfev", 0, int64_t{1} << 40);
  t.mode_ = static_cast<int>(r.Count("mode", 1, 2));
  t.phase_ = static_cast<Phase>(r.Count("phase", 0, 4));
  t.fnorm_ = r.F64();
  t.par_ = r.F64();
  t.delta_ = r.F64();
  t.xnorm_ = r.F64();
  t.gnorm_ = r.F64();
  t.pnorm_ = r.F64();
  t.iter_ = r.Count("iter", 1, int64_t{1} << 40);
  t.nfev_ = r.Count("nfev", 0, int64_t{1} << 40);
  t.njev_ = r.Count("njev", 0, int64_t{1} << 40);
  t.info_ = static_cast<int>(r.Count("info", 0, 8));
  t.status_ = static_cast<int>(r.Count("status", -2, 4));
  t.jacobian_valid_ = r.Flag("jacobian_valid");
  for (int j = 0; j < n_; ++j)
    t.ipvt_[j] = static_cast<int>(r.Count("ipvt", 0, n_ - 1));
  r.F64s(n_, &t.x_);
  r.F64s(m_, &t.fvec_);
  r.F64s(m_, n_, &t.fjac_);
  r.F64s(n_, &t.diag_);
  r.F64s(n_, &t.qtf_);
  r.F64s(n_, &t.wa1_);
  r.F64s(n_, &t.wa2_);
  r.F64s(n_, &t.wa3_);
  r.F64s(m_, &t.wa4_);
  r.F64s(m_, n_, &t.jac_);
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
