#include "solvers/trust_region/trust_region_memory.h"

#include <cmath>
#include <utility>

namespace optd {
namespace {

// The cosine below which a pair tells too little (N&W eq. 6.26's r).
constexpr double kSkip = 1e-8;

}  // namespace

QuasiNewtonMemory::QuasiNewtonMemory(QuasiNewtonUpdate update, int memory,
                                     int64_t dimension, double pair_dependence)
    : update_(update),
      memory_(memory),
      dimension_(dimension),
      pair_dependence_(pair_dependence) {
  Reset(0.0);
}

void QuasiNewtonMemory::Reset(double gg) {
  gram_ = PairGram();
  gram_.ss.resize(0, 0);
  gram_.sy.resize(0, 0);
  gram_.yy.resize(0, 0);
  gram_.sg.resize(0);
  gram_.yg.resize(0);
  gram_.gg = gg;
  model_.reset();
}

void QuasiNewtonMemory::Restore(PairGram gram) {
  gram_ = std::move(gram);
  // Build reads only ss, sy and yy, which change only with a push or a
  // Reset, and both drop the model: the cached one was built from these.
  model_.reset();
}

const LimitedMemoryModel& QuasiNewtonMemory::model() {
  if (!model_) {
    model_ = LimitedMemoryModel::Build(update_, gram_, dimension_, nullptr,
                                       pair_dependence_);
  }
  return *model_;
}

LimitedMemoryModel::Step QuasiNewtonMemory::Solve(double radius) {
  return model().Solve(gram_.sg, gram_.yg, gram_.gg, radius);
}

bool QuasiNewtonMemory::ShouldPush(const std::vector<double>& q) {
  const int k = pairs();
  const TrialDots L{k, true};
  const double ss = q[L.ss()], sy = q[L.sy()], yy = q[L.yy()];
  if (!(ss > 0) || !std::isfinite(yy)) return false;
  if (update_ == QuasiNewtonUpdate::kLbfgs) {
    return sy > kSkip * std::sqrt(ss) * std::sqrt(yy);
  }
  Eigen::VectorXd s_s(k), s_y(k), y_s(k), y_y(k);
  for (int i = 0; i < k; ++i) {
    s_s(i) = q[L.s_s(i)];
    s_y(i) = q[L.s_y(i)];
    y_s(i) = q[L.y_s(i)];
    y_y(i) = q[L.y_y(i)];
  }
  const LimitedMemoryModel::SecantResidual r =
      model().Residual(ss, sy, yy, s_s, s_y, y_s, y_y);
  // N&W eq. 6.26 with ||y - B s|| bounded from above, rounding included:
  // where B has eigenvalues many orders above the curvature along s, the
  // computed ||y - B s||^2 is rounding noise (often <= 0), and taking it at
  // face value skipped every pair (Meyer: thousands of trials on a frozen
  // model). s.(y - B s) must also be measurably nonzero: then y != B s, and
  // the update's denominator is known.
  const double sr = std::fabs(r.s_dot_residual);
  return sr > r.s_dot_residual_error &&
         sr >= kSkip * std::sqrt(ss) * r.residual_norm_bound;
}

void QuasiNewtonMemory::Update(const std::vector<double>& q, bool push,
                               bool accept) {
  const int k = pairs();
  const TrialDots L{k, true};
  PairGram next;
  if (push) {
    // Grow by the new pair (index k), then drop the oldest when full, as
    // the slices do.
    const int drop = k == memory_ ? 1 : 0;
    const int k2 = k + 1 - drop;
    next.ss.resize(k2, k2);
    next.sy.resize(k2, k2);
    next.yy.resize(k2, k2);
    next.sg.resize(k2);
    next.yg.resize(k2);
    for (int a = 0; a < k2; ++a) {
      const int i = a + drop;
      for (int b = 0; b < k2; ++b) {
        const int j = b + drop;
        if (i < k && j < k) {
          next.ss(a, b) = gram_.ss(i, j);
          next.sy(a, b) = gram_.sy(i, j);
          next.yy(a, b) = gram_.yy(i, j);
        } else if (i == k && j == k) {
          next.ss(a, b) = q[L.ss()];
          next.sy(a, b) = q[L.sy()];
          next.yy(a, b) = q[L.yy()];
        } else if (i == k) {  // the new pair against old pair j
          next.ss(a, b) = q[L.s_s(j)];
          next.sy(a, b) = q[L.s_y(j)];  // s_new . y_j
          next.yy(a, b) = q[L.y_y(j)];
        } else {  // old pair i against the new one
          next.ss(a, b) = q[L.s_s(i)];
          next.sy(a, b) = q[L.y_s(i)];  // s_i . y_new
          next.yy(a, b) = q[L.y_y(i)];
        }
      }
      if (i == k) {
        next.sg(a) = accept ? q[L.s_gt()] : q[L.s_g()];
        next.yg(a) = accept ? q[L.y_gt()] : q[L.y_g()];
      } else {
        next.sg(a) = accept ? q[L.gt_s(i)] : gram_.sg(i);
        next.yg(a) = accept ? q[L.gt_y(i)] : gram_.yg(i);
      }
    }
    model_.reset();
  } else {
    next.ss = gram_.ss;
    next.sy = gram_.sy;
    next.yy = gram_.yy;
    next.sg = gram_.sg;
    next.yg = gram_.yg;
    if (accept) {
      for (int i = 0; i < k; ++i) {
        next.sg(i) = q[L.gt_s(i)];
        next.yg(i) = q[L.gt_y(i)];
      }
    }
  }
  next.gg = accept ? q[L.gg()] : gram_.gg;
  gram_ = std::move(next);
}

}  // namespace optd
