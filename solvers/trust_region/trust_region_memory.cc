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
  const NewPairProducts pair = CandidatePairProducts(q, L);
  const LimitedMemoryModel::SecantResidual r =
      model().Residual(ss, sy, yy, pair.s_s, pair.s_y, pair.y_s, pair.y_y);
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
    Eigen::VectorXd sg(k + 1), yg(k + 1);
    for (int i = 0; i < k; ++i) {
      sg(i) = accept ? q[L.gt_s(i)] : gram_.sg(i);
      yg(i) = accept ? q[L.gt_y(i)] : gram_.yg(i);
    }
    sg(k) = accept ? q[L.s_gt()] : q[L.s_g()];
    yg(k) = accept ? q[L.y_gt()] : q[L.y_g()];
    // The slices drop their oldest pair when full, as WithPair does.
    next = gram_.WithPair(CandidatePairProducts(q, L), memory_, sg, yg);
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
