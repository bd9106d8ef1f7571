#include "solvers/sharding/trust_region_slice.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/slice_state.h"

namespace optd {
namespace {

int64_t FirstNonFinite(const std::vector<double>& v, int64_t offset) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) return offset + static_cast<int64_t>(i);
  }
  return -1;
}

}  // namespace

TrustRegionSlice::TrustRegionSlice(ShardRange range, int memory,
                                   bool cg_vectors)
    : range_(range), memory_(memory), cg_vectors_(cg_vectors) {
  const size_t n = static_cast<size_t>(range.size());
  for (std::vector<double>* v : {&x_, &g_, &x_trial_, &g_trial_, &p_}) {
    v->assign(n, 0.0);
  }
  if (cg_vectors) {
    for (std::vector<double>* v : {&z_, &r_, &d_, &hd_}) v->assign(n, 0.0);
  }
}

void TrustRegionSlice::SetBounds(const Bounds& box) {
  SetBounds(box.lower().data() + range_.begin,
            box.upper().data() + range_.begin);
}

void TrustRegionSlice::SetBounds(const double* lower, const double* upper) {
  lower_.assign(lower, lower + range_.size());
  upper_.assign(upper, upper + range_.size());
  bounded_ = true;
}

void TrustRegionSlice::SetTrialPoint(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), x_trial_.data());
  for (size_t e = 0; e < lower_.size(); ++e) {
    x_trial_[e] = std::min(std::max(x_trial_[e], lower_[e]), upper_[e]);
  }
}

int64_t TrustRegionSlice::SetTrialGradient(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), g_trial_.data());
  return FirstNonFinite(g_trial_, range_.begin);
}

int64_t TrustRegionSlice::SetProduct(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), hd_.data());
  return FirstNonFinite(hd_, range_.begin);
}

void TrustRegionSlice::ReadTrialPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_trial_.data());
}

void TrustRegionSlice::ReadPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_.data());
}

void TrustRegionSlice::ReadGradient(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), g_.data());
}

void TrustRegionSlice::ReadDirection(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), d_.data());
}

void TrustRegionSlice::StepToTrial() {
  for (size_t e = 0; e < p_.size(); ++e) x_trial_[e] = x_[e] + p_[e];
}

void TrustRegionSlice::SetStep(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), p_.data());
  StepToTrial();
}

void TrustRegionSlice::FormStep(absl::Span<const double> coefficients) {
  CombineBasis(coefficients, s_, y_, g_, &p_);
  StepToTrial();
}

void TrustRegionSlice::FormCgStep(double tau) {
  for (size_t e = 0; e < p_.size(); ++e) p_[e] = z_[e] + tau * d_[e];
  StepToTrial();
}

BlockPartials TrustRegionSlice::ReduceBox() const {
  BlockPartials out(range_.first_block(), range_.num_blocks(), 1);
  double max_abs = 0.0;
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t hi = std::min(lo + kReductionBlock, range_.size());
    double free = 0.0;
    for (int64_t e = lo; e < hi; ++e) {
      if (!Active(e)) free += 1.0;
      const double x = x_[e];
      const double step =
          std::min(std::max(x - g_[e], lower_[e]), upper_[e]) - x;
      max_abs = std::max(max_abs, std::fabs(step));
    }
    out.at(b, 0) = free;
  }
  out.set_max_abs(max_abs);
  return out;
}

BlockPartials TrustRegionSlice::ReduceFreeGram() const {
  const int k = pairs();
  const FreeGramDots L{k};
  BlockPartials out(range_.first_block(), range_.num_blocks(), L.quantities());
  // This block's s_i, y_i (rows 0..2k-1) and g (row 2k), active parts zeroed.
  std::vector<std::vector<double>> masked(2 * k + 1);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    for (int i = 0; i <= 2 * k; ++i) {
      const std::vector<double>& v =
          i == 2 * k ? g_ : (i < k ? s_[i] : y_[i - k]);
      masked[i].resize(static_cast<size_t>(len));
      for (int64_t e = 0; e < len; ++e) {
        masked[i][e] = Active(lo + e) ? 0.0 : v[lo + e];
      }
    }
    auto dot = [&](int i, int j) {
      return BlockDot(masked[i].data(), masked[j].data(), len);
    };
    for (int i = 0; i < k; ++i) {
      for (int j = i; j < k; ++j) {
        out.at(b, L.ss(i, j)) = dot(i, j);
        out.at(b, L.yy(i, j)) = dot(k + i, k + j);
      }
      for (int j = 0; j < k; ++j) out.at(b, L.sy(i, j)) = dot(i, k + j);
      out.at(b, L.sg(i)) = dot(i, 2 * k);
      out.at(b, L.yg(i)) = dot(k + i, 2 * k);
    }
    out.at(b, L.gg()) = dot(2 * k, 2 * k);
  }
  return out;
}

BlockPartials TrustRegionSlice::FormProjectedStep(
    absl::Span<const double> coefficients) {
  CombineBasis(coefficients, s_, y_, g_, &p_);
  std::vector<double> clipped(static_cast<size_t>(range_.num_blocks()), 0.0);
  for (size_t e = 0; e < p_.size(); ++e) {
    if (Active(e)) {
      x_trial_[e] = x_[e];
      p_[e] = 0.0;
      continue;
    }
    const double unclipped = x_[e] + p_[e];
    x_trial_[e] = std::min(std::max(unclipped, lower_[e]), upper_[e]);
    // The step actually taken: a pair (s, y) must have s = x_trial - x.
    if (x_trial_[e] != unclipped) {
      p_[e] = x_trial_[e] - x_[e];
      clipped[e / kReductionBlock] += 1.0;
    }
  }
  const int k = pairs();
  const ProjectedStepDots L{k};
  BlockPartials out(range_.first_block(), range_.num_blocks(), L.quantities());
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    const double* p = p_.data() + lo;
    out.at(b, L.pp()) = BlockDot(p, p, len);
    out.at(b, L.pg()) = BlockDot(p, g_.data() + lo, len);
    out.at(b, L.clipped()) = clipped[b];
    for (int i = 0; i < k; ++i) {
      out.at(b, L.ps(i)) = BlockDot(p, s_[i].data() + lo, len);
      out.at(b, L.py(i)) = BlockDot(p, y_[i].data() + lo, len);
    }
  }
  return out;
}

BlockPartials TrustRegionSlice::ReduceTrial(bool with_pair) const {
  const int k = pairs();
  const TrialDots L{k, with_pair};
  BlockPartials out(range_.first_block(), range_.num_blocks(), L.quantities());
  std::vector<double> y;
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    const double* gt = g_trial_.data() + lo;
    const double* xt = x_trial_.data() + lo;
    out.at(b, L.gg()) = BlockDot(gt, gt, len);
    out.at(b, L.xx()) = BlockDot(xt, xt, len);
    if (!with_pair) continue;
    const double* s = p_.data() + lo;
    const double* g = g_.data() + lo;
    y.resize(static_cast<size_t>(len));
    for (int64_t e = 0; e < len; ++e) y[e] = gt[e] - g[e];
    out.at(b, L.ss()) = BlockDot(s, s, len);
    out.at(b, L.sy()) = BlockDot(s, y.data(), len);
    out.at(b, L.yy()) = BlockDot(y.data(), y.data(), len);
    out.at(b, L.s_gt()) = BlockDot(s, gt, len);
    out.at(b, L.y_gt()) = BlockDot(y.data(), gt, len);
    out.at(b, L.s_g()) = BlockDot(s, g, len);
    out.at(b, L.y_g()) = BlockDot(y.data(), g, len);
    for (int i = 0; i < k; ++i) {
      const double* si = s_[i].data() + lo;
      const double* yi = y_[i].data() + lo;
      out.at(b, L.gt_s(i)) = BlockDot(gt, si, len);
      out.at(b, L.gt_y(i)) = BlockDot(gt, yi, len);
      out.at(b, L.s_s(i)) = BlockDot(s, si, len);
      out.at(b, L.s_y(i)) = BlockDot(s, yi, len);
      out.at(b, L.y_s(i)) = BlockDot(y.data(), si, len);
      out.at(b, L.y_y(i)) = BlockDot(y.data(), yi, len);
    }
  }
  out.set_max_abs(MaxAbs(g_trial_.data(), range_.size()));
  return out;
}

void TrustRegionSlice::Advance(bool push_pair, bool accept) {
  const size_t n = p_.size();
  if (push_pair) {
    auto [s, y] = AppendCurvaturePair(memory_, n, &s_, &y_);
    for (size_t e = 0; e < n; ++e) {
      (*s)[e] = p_[e];
      (*y)[e] = g_trial_[e] - g_[e];
    }
  }
  if (accept) {
    // The old iterate's buffers become scratch for the next trial, which the
    // controller always forms before anyone reads it.
    x_.swap(x_trial_);
    g_.swap(g_trial_);
  }
}

void TrustRegionSlice::CgStart() {
  for (size_t e = 0; e < g_.size(); ++e) {
    z_[e] = 0.0;
    r_[e] = g_[e];
    d_[e] = -g_[e];
  }
}

void TrustRegionSlice::FormDifferencePoint(double h) {
  for (size_t e = 0; e < x_.size(); ++e) x_trial_[e] = x_[e] + h * d_[e];
}

void TrustRegionSlice::DifferenceProduct(double h) {
  for (size_t e = 0; e < g_.size(); ++e) hd_[e] = (g_trial_[e] - g_[e]) / h;
}

BlockPartials TrustRegionSlice::Dot(const std::vector<double>& a,
                                    const std::vector<double>& b) const {
  BlockPartials out(range_.first_block(), range_.num_blocks(), 1);
  for (int64_t blk = 0; blk < range_.num_blocks(); ++blk) {
    const int64_t lo = blk * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    out.at(blk, 0) = BlockDot(a.data() + lo, b.data() + lo, len);
  }
  return out;
}

BlockPartials TrustRegionSlice::ReduceCurvature() const {
  BlockPartials out(range_.first_block(), range_.num_blocks(), kCurvatureDots);
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    const double* d = d_.data() + lo;
    const double* z = z_.data() + lo;
    out.at(b, kDHd) = BlockDot(d, hd_.data() + lo, len);
    out.at(b, kDD) = BlockDot(d, d, len);
    out.at(b, kZD) = BlockDot(z, d, len);
    out.at(b, kZZ) = BlockDot(z, z, len);
    out.at(b, kRD) = BlockDot(r_.data() + lo, d, len);
  }
  return out;
}

BlockPartials TrustRegionSlice::CgAdvance(double alpha) {
  for (size_t e = 0; e < z_.size(); ++e) {
    z_[e] += alpha * d_[e];
    r_[e] += alpha * hd_[e];
  }
  return Dot(r_, r_);
}

BlockPartials TrustRegionSlice::CgDirection(double beta) {
  for (size_t e = 0; e < d_.size(); ++e) d_[e] = -r_[e] + beta * d_[e];
  return Dot(d_, d_);
}

const std::vector<double>& TrustRegionSlice::state_vector(int which) const {
  return const_cast<TrustRegionSlice*>(this)->mutable_state_vector(which);
}

std::vector<double>& TrustRegionSlice::mutable_state_vector(int which) {
  std::vector<double>* const fixed[] = {&x_, &g_, &x_trial_, &g_trial_, &p_,
                                        &z_, &r_, &d_,       &hd_};
  const int head = cg_vectors_ ? 9 : 5;
  if (which < head) return *fixed[which];
  const int i = which - head;
  return i < pairs() ? s_[i] : y_[i - pairs()];
}

int64_t TrustRegionSlice::StateBytes() const {
  return StateSize(kTrustRegionSliceHeaderBytes, state_vectors(),
                   range_.size());
}

void TrustRegionSlice::SaveState(std::string* out) const {
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  AppendTrustRegionSliceHeader({pairs(), cg_vectors_, bounded()}, out);
  AppendSliceVectors(
      state_vectors(), static_cast<size_t>(range_.size()),
      [this](int v) -> const std::vector<double>& { return state_vector(v); },
      out);
}

absl::Status TrustRegionSlice::CheckHeader(int pairs, bool cg_vectors,
                                           bool bounded) const {
  if (pairs > memory_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the trust-region slice state has ", pairs,
                     " curvature pairs; this slice holds at most ", memory_));
  }
  if (cg_vectors != cg_vectors_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the trust-region slice state ", cg_vectors ? "has" : "has no",
        " CG vectors; this slice ", cg_vectors_ ? "has them" : "has none",
        " (another subproblem)"));
  }
  if (bounded != this->bounded()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the trust-region slice state is of ",
        bounded ? "a bounded" : "an unbounded", " session; this slice is ",
        this->bounded() ? "bounded" : "unbounded"));
  }
  return absl::OkStatus();
}

absl::Status TrustRegionSlice::RestoreState(std::string_view in) {
  OPTD_ASSIGN_OR_RETURN(TrustRegionSliceHeader header,
                        ParseTrustRegionSliceHeader(in, kMaxCurvaturePairs));
  OPTD_RETURN_IF_ERROR(
      CheckHeader(header.pairs, header.cg_vectors, header.bounded));
  const int64_t expected = StateSize(kTrustRegionSliceHeaderBytes,
                                     header.state_vectors(), range_.size());
  if (static_cast<int64_t>(in.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("the trust-region slice state has ", in.size(),
                     " bytes; a slice of ", range_.size(), " elements with ",
                     header.state_vectors(), " state vectors has ", expected));
  }
  LoadState(header.pairs, in.substr(kTrustRegionSliceHeaderBytes),
            range_.size(), 0);
  return absl::OkStatus();
}

void TrustRegionSlice::LoadState(int pairs, std::string_view vectors,
                                 int64_t stride, int64_t first) {
  const size_t n = static_cast<size_t>(range_.size());
  s_.assign(static_cast<size_t>(pairs), std::vector<double>(n));
  y_.assign(static_cast<size_t>(pairs), std::vector<double>(n));
  LoadSliceVectors(vectors, stride, first, n, state_vectors(),
                   [this](int v) -> std::vector<double>& {
                     return mutable_state_vector(v);
                   });
}

}  // namespace optd
