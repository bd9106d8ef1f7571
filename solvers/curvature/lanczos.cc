// Lanczos with full reorthogonalization and stochastic Lanczos quadrature
// (lanczos.h).
#include "solvers/curvature/lanczos.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "solvers/core/option_checks.h"
#include "solvers/curvature/tridiagonal.h"

namespace optd {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

}  // namespace

double ConditionNumber(double lo, double hi) {
  if (lo > 0.0) return hi / lo;
  if (hi < 0.0) return lo / hi;
  return std::numeric_limits<double>::infinity();
}

absl::Status LanczosOptions::Validate() const {
  if (extreme_count < 1 || extreme_count > 64) {
    return OptionOutOfRange("curvature", "extreme_count", extreme_count,
                            "[1, 64]");
  }
  if (max_steps < 1 || max_steps > 2000) {
    return OptionOutOfRange("curvature", "max_steps", max_steps, "[1, 2000]");
  }
  if (!(tolerance >= 1e-15 && tolerance <= 0.1)) {
    return OptionOutOfRange("curvature", "tolerance", tolerance,
                            "[1e-15, 0.1]");
  }
  if (probes < 1 || probes > 100) {
    return OptionOutOfRange("curvature", "probes", probes, "[1, 100]");
  }
  if (density_steps < 1 || density_steps > 1000) {
    return OptionOutOfRange("curvature", "density_steps", density_steps,
                            "[1, 1000]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Lanczos>> Lanczos::Create(
    const LanczosOptions& options, int64_t n) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  if (n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the dimension is ", n, "; it must be at least 1"));
  }
  OPTD_ASSIGN_OR_RETURN(ShardLayout layout, ShardLayout::Make(n, 1));
  return Create(options, std::make_unique<LocalLanczosVectors>(
                             layout, /*gradients=*/false));
}

absl::StatusOr<std::unique_ptr<Lanczos>> Lanczos::Create(
    const LanczosOptions& options, std::unique_ptr<LanczosVectors> vectors) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  if (vectors->dimension() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the dimension is ", vectors->dimension(), "; it must be at least 1"));
  }
  std::unique_ptr<Lanczos> lanczos(new Lanczos(options, std::move(vectors)));
  OPTD_RETURN_IF_ERROR(lanczos->StartRun(options.max_steps));
  return lanczos;
}

Lanczos::Lanczos(const LanczosOptions& options,
                 std::unique_ptr<LanczosVectors> vectors)
    : options_(options),
      n_(vectors->dimension()),
      vectors_(std::move(vectors)) {}

Eigen::VectorXd Lanczos::vector() const {
  Eigen::VectorXd q(n_);
  vectors_->ReadVector(MutableVectorView::Float64(q.data(), n_)).IgnoreError();
  return q;
}

absl::Status Lanczos::StartRun(int max_steps) {
  run_max_steps_ = static_cast<int>(std::min<int64_t>(max_steps, n_));
  alpha_.clear();
  beta_.clear();
  steps_ = 0;
  // With an empty basis, never empty.
  return NextStartVector().status();
}

absl::StatusOr<bool> Lanczos::NextStartVector() {
  const double floor = 1e-8;
  // A Rademacher vector can be orthogonal to what is left of the space
  // exactly (its elements are +-1): after three such draws, the coordinate
  // vector e_i the basis covers least, 1 - |Q(i, :)|^2 being its part
  // outside the basis (a global argmin over the slices, the lowest index on
  // ties).
  for (int attempt = 0; attempt < 4; ++attempt) {
    Reduction dots;
    if (attempt < 3) {
      // A new run (steps_ == 0) empties the slices' basis first.
      OPTD_ASSIGN_OR_RETURN(dots, vectors_->Rademacher(steps_ == 0, draws_));
      draws_ += RademacherDraws(n_);
    } else {
      if (steps_ == 0) return false;
      OPTD_ASSIGN_OR_RETURN(LeastCovered least,
                            vectors_->LeastCoveredCoordinate());
      OPTD_ASSIGN_OR_RETURN(dots, vectors_->Coordinate(least.index));
    }
    // Orthogonalize twice against the basis (Kahan and Parlett's "twice is
    // enough" for Gram-Schmidt): c = Q^T w, w <- w - Q c.
    for (int pass = 0; pass < 2 && steps_ > 0; ++pass) {
      OPTD_ASSIGN_OR_RETURN(
          dots, vectors_->Orthogonalize(absl::MakeConstSpan(
                    dots.sums.data(), static_cast<size_t>(steps_))));
    }
    const double norm = std::sqrt(dots.sums[steps_]);
    if (norm > floor) {
      OPTD_RETURN_IF_ERROR(vectors_->NextVector(norm));
      return true;
    }
  }
  return false;
}

absl::Status Lanczos::Tell(const Eigen::VectorXd& product) {
  if (finished_) {
    return absl::FailedPreconditionError("the Lanczos run has finished");
  }
  if (product.size() != n_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the Hessian-vector product has ", product.size(),
                     " elements; the dimension is ", n_));
  }
  for (int64_t i = 0; i < n_; ++i) {
    if (!std::isfinite(product(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("the Hessian-vector product's element ", i,
                       " is not finite (", product(i), ")"));
    }
  }
  OPTD_RETURN_IF_ERROR(vectors_->SetProduct(
      ConstVectorView::Float64(product.data(), n_), "hessian_vector"));
  return Step();
}

absl::Status Lanczos::Step() {
  if (finished_) {
    return absl::FailedPreconditionError("the Lanczos run has finished");
  }
  // The Lanczos iteration (G&VL §10.1): alpha_j = q_j^T H q_j, r = H q_j -
  // alpha_j q_j - beta_{j-1} q_{j-1}, then r orthogonalized against all of
  // Q twice (complete reorthogonalization, §10.3), beta_j = |r|. The slices
  // hold H q_j in w and form r there.
  OPTD_ASSIGN_OR_RETURN(Reduction pushed, vectors_->PushBasis());
  const double alpha = pushed.sums[0];
  OPTD_ASSIGN_OR_RETURN(
      Reduction dots,
      vectors_->Residual(alpha, steps_ > 0 ? beta_.back() : 0.0));
  const int m = steps_ + 1;
  for (int pass = 0; pass < 2; ++pass) {
    OPTD_ASSIGN_OR_RETURN(dots, vectors_->Orthogonalize(absl::MakeConstSpan(
                                    dots.sums.data(), static_cast<size_t>(m))));
  }
  const double beta = std::sqrt(dots.sums[m]);
  ++products_;
  ++steps_;
  alpha_.push_back(alpha);
  beta_.push_back(beta);

  // |T| by Gershgorin's bound, for the breakdown test.
  double norm_t = 0.0;
  for (int j = 0; j < steps_; ++j) {
    norm_t = std::max(
        norm_t, std::abs(alpha_[j]) + beta_[j] + (j > 0 ? beta_[j - 1] : 0.0));
  }
  const bool breakdown = beta <= 100.0 * kEps * norm_t;
  const bool at_end = steps_ == run_max_steps_;
  if (probe_ == 0) {
    if (steps_ == n_) return EndRun(/*converged=*/true);
    // The residual test at every step up to 100, then every ceil(m / 50)-th
    // (an O(m^2) eigenvalue solve each: at most 2% more products).
    const bool test = steps_ <= 100 || steps_ % ((steps_ + 49) / 50) == 0;
    if (!breakdown && test && ExtremesConverged()) {
      return EndRun(/*converged=*/true);
    }
    if (at_end) return EndRun(/*converged=*/false);
    if (breakdown) {
      // An invariant subspace: restart orthogonally, T block diagonal.
      beta_.back() = 0.0;
      OPTD_ASSIGN_OR_RETURN(const bool started, NextStartVector());
      if (!started) return EndRun(/*converged=*/true);
      return absl::OkStatus();
    }
  } else if (at_end || breakdown) {
    // A probe's quadrature is exact on its Krylov space at breakdown.
    return EndRun(/*converged=*/false);
  }
  return vectors_->NextVector(beta);
}

bool Lanczos::ExtremesConverged() const {
  const TridiagonalEigen eigen = DecomposeTridiagonal(alpha_, beta_);
  const int m = steps_;
  const int k = std::min(options_.extreme_count, m);
  const double beta = beta_.back();
  for (int w = 0; w < k; ++w) {
    for (int i : {w, m - 1 - w}) {
      const double bound = std::abs(beta * eigen.last[i]);
      if (bound > options_.tolerance * std::abs(eigen.values[i])) {
        return false;
      }
    }
  }
  return true;
}

absl::Status Lanczos::EndRun(bool converged) {
  RecordRun(converged);
  if (probe_ >= options_.probes) {
    Finish();
    return absl::OkStatus();
  }
  return StartRun(options_.density_steps);
}

void Lanczos::RecordRun(bool converged) {
  const TridiagonalEigen eigen = DecomposeTridiagonal(alpha_, beta_);
  const int m = steps_;
  if (probe_ == 0) {
    const int k = std::min(options_.extreme_count, m);
    for (int i = 0; i < k; ++i) {
      estimate_.smallest.push_back(eigen.values[i]);
      estimate_.largest.push_back(eigen.values[m - 1 - i]);
    }
    estimate_.condition_number =
        ConditionNumber(estimate_.smallest[0], estimate_.largest[0]);
    estimate_.lanczos_steps = m;
    estimate_.converged = converged;
  }
  // Ubaru, Chen & Saad 2017, eq. (3.2): nodes theta_j, weights tau_j^2 with
  // tau_j = e_1^T s_j; averaged over the probes.
  for (int j = 0; j < m; ++j) {
    const double tau = eigen.first[j];
    estimate_.density_nodes.push_back(eigen.values[j]);
    estimate_.density_weights.push_back(tau * tau / options_.probes);
  }
  ++probe_;
}

void Lanczos::Stop() {
  if (finished_) return;
  if (probe_ == 0) {
    if (steps_ == 0) {
      estimate_.condition_number = std::numeric_limits<double>::quiet_NaN();
      Finish();
      return;
    }
    RecordRun(/*converged=*/false);
  }
  // The density of the runs recorded so far: weights renormalized to sum
  // to 1 (a probe cut short is left out).
  double total = 0.0;
  for (double w : estimate_.density_weights) total += w;
  if (total > 0.0) {
    for (double& w : estimate_.density_weights) w /= total;
  }
  Finish();
}

void Lanczos::Finish() {
  finished_ = true;
  estimate_.products = products_;
  // Only frees memory; a failed call (remote slices) has broken the group,
  // and the session is rebuilt anyway.
  vectors_->ClearBasis().IgnoreError();
}

std::string Lanczos::OptionsReport() const {
  return absl::StrFormat(
      "extreme_count = %d\nmax_steps = %d\ntolerance = %g\nprobes = %d\n"
      "density_steps = %d\nseed = %d\n",
      options_.extreme_count, options_.max_steps, options_.tolerance,
      options_.probes, options_.density_steps, kLanczosSeed);
}

}  // namespace optd
