#include "solvers/sharding/lbfgs_slice.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "solvers/core/state_bytes.h"
#include "solvers/sharding/slice_state.h"

namespace optd {

LbfgsSlice::LbfgsSlice(ShardRange range, int memory)
    : range_(range), memory_(memory) {
  const size_t n = static_cast<size_t>(range.size());
  x_.assign(n, 0.0);
  g_.assign(n, 0.0);
  x_trial_.assign(n, 0.0);
  g_trial_.assign(n, 0.0);
  d_.assign(n, 0.0);
}

void LbfgsSlice::SetTrialPoint(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), x_trial_.data());
}

int64_t LbfgsSlice::SetTrialGradient(const ConstVectorView& full) {
  full.CopyTo(range_.begin, range_.size(), g_trial_.data());
  for (int64_t i = 0; i < range_.size(); ++i) {
    if (!std::isfinite(g_trial_[i])) return range_.begin + i;
  }
  return -1;
}

void LbfgsSlice::ReadTrialPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_trial_.data());
}

void LbfgsSlice::ReadPoint(const MutableVectorView& full) const {
  full.CopyFrom(range_.begin, range_.size(), x_.data());
}

void LbfgsSlice::SetDirection(absl::Span<const double> delta) {
  CombineBasis(delta, s_, y_, g_, &d_);
}

void LbfgsSlice::FormTrial(double stp) {
  const int64_t n = range_.size();
  for (int64_t e = 0; e < n; ++e) x_trial_[e] = x_[e] + stp * d_[e];
}

BlockPartials LbfgsSlice::ReduceTrial(double stp, bool with_candidate) const {
  const int k = pairs();
  const TrialDotLayout L{k, with_candidate};
  BlockPartials out(range_.first_block(), range_.num_blocks(), L.quantities());
  std::vector<double> s, y;
  for (int64_t b = 0; b < range_.num_blocks(); ++b) {
    const int64_t lo = b * kReductionBlock;
    const int64_t len = std::min(kReductionBlock, range_.size() - lo);
    const double* gt = g_trial_.data() + lo;
    out.at(b, L.gd()) = BlockDot(gt, d_.data() + lo, len);
    out.at(b, L.gg()) = BlockDot(gt, gt, len);
    for (int i = 0; i < k; ++i) {
      out.at(b, L.g_s(i)) = BlockDot(gt, s_[i].data() + lo, len);
      out.at(b, L.g_y(i)) = BlockDot(gt, y_[i].data() + lo, len);
    }
    if (!with_candidate) continue;
    s.resize(static_cast<size_t>(len));
    y.resize(static_cast<size_t>(len));
    for (int64_t e = 0; e < len; ++e) {
      s[e] = stp * d_[lo + e];
      y[e] = gt[e] - g_[lo + e];
    }
    out.at(b, L.ss()) = BlockDot(s.data(), s.data(), len);
    out.at(b, L.sy()) = BlockDot(s.data(), y.data(), len);
    out.at(b, L.yy()) = BlockDot(y.data(), y.data(), len);
    out.at(b, L.sg()) = BlockDot(s.data(), gt, len);
    out.at(b, L.yg()) = BlockDot(y.data(), gt, len);
    for (int i = 0; i < k; ++i) {
      out.at(b, L.s_s(i)) = BlockDot(s.data(), s_[i].data() + lo, len);
      out.at(b, L.s_y(i)) = BlockDot(s.data(), y_[i].data() + lo, len);
      out.at(b, L.y_s(i)) = BlockDot(y.data(), s_[i].data() + lo, len);
      out.at(b, L.y_y(i)) = BlockDot(y.data(), y_[i].data() + lo, len);
    }
  }
  out.set_max_abs(MaxAbs(g_trial_.data(), range_.size()));
  return out;
}

void LbfgsSlice::Accept(bool push_pair, double stp) {
  const int64_t n = range_.size();
  if (push_pair) {
    auto [s, y] =
        AppendCurvaturePair(memory_, static_cast<size_t>(n), &s_, &y_);
    for (int64_t e = 0; e < n; ++e) {
      (*s)[e] = stp * d_[e];
      (*y)[e] = g_trial_[e] - g_[e];
    }
  }
  // The old iterate's buffers become scratch for the next trial, which the
  // controller always forms (FormTrial) before anyone reads it.
  x_.swap(x_trial_);
  g_.swap(g_trial_);
}

void LbfgsSlice::ClearMemory() {
  s_.clear();
  y_.clear();
}

const std::vector<double>& LbfgsSlice::state_vector(int which) const {
  return const_cast<LbfgsSlice*>(this)->mutable_state_vector(which);
}

std::vector<double>& LbfgsSlice::mutable_state_vector(int which) {
  switch (which) {
    case 0:
      return x_;
    case 1:
      return g_;
    case 2:
      return x_trial_;
    case 3:
      return g_trial_;
    case 4:
      return d_;
    default: {
      const int k = pairs();
      const int i = which - 5;
      return i < k ? s_[i] : y_[i - k];
    }
  }
}

int64_t LbfgsSlice::StateBytes() const {
  return StateSize(kLbfgsSliceHeaderBytes, state_vectors(), range_.size());
}

void LbfgsSlice::SaveState(std::string* out) const {
  out->reserve(out->size() + static_cast<size_t>(StateBytes()));
  AppendLbfgsSliceHeader({pairs()}, out);
  AppendSliceVectors(
      state_vectors(), static_cast<size_t>(range_.size()),
      [this](int v) -> const std::vector<double>& { return state_vector(v); },
      out);
}

absl::Status LbfgsSlice::RestoreState(std::string_view in) {
  OPTD_ASSIGN_OR_RETURN(LbfgsSliceHeader header,
                        ParseLbfgsSliceHeader(in, memory_));
  const int64_t expected =
      StateSize(kLbfgsSliceHeaderBytes, header.state_vectors(), range_.size());
  if (static_cast<int64_t>(in.size()) != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("the L-BFGS slice state has ", in.size(),
                     " bytes; a slice of ", range_.size(), " elements with ",
                     header.pairs, " pairs has ", expected));
  }
  LoadState(header.pairs, in.substr(kLbfgsSliceHeaderBytes), range_.size(), 0);
  return absl::OkStatus();
}

void LbfgsSlice::LoadState(int pairs, std::string_view vectors, int64_t stride,
                           int64_t first) {
  const size_t n = static_cast<size_t>(range_.size());
  // Fresh storage for the pairs (AppendCurvaturePair reuses whatever is
  // there; the values are all that matter).
  s_.assign(static_cast<size_t>(pairs), std::vector<double>(n));
  y_.assign(static_cast<size_t>(pairs), std::vector<double>(n));
  LoadSliceVectors(vectors, stride, first, n, state_vectors(),
                   [this](int v) -> std::vector<double>& {
                     return mutable_state_vector(v);
                   });
}

}  // namespace optd
