// Lanczos: ask-tell estimates of a symmetric matrix's spectrum from one
// matrix-vector product at a time, for curvature diagnostics (the matrix is a
// Hessian H(x) at a fixed point x; the products are Hessian-vector trials or
// gradient differences, curvature_solver.h).
//
// Two parts, run one after the other on the same stream of products:
//
//  1. Extreme eigenvalues. The symmetric Lanczos process with full
//     reorthogonalization (Golub & Van Loan, Matrix Computations, 4th ed.,
//     §10.1, the Lanczos iteration, with the complete reorthogonalization
//     of §10.3) from a Rademacher start vector. After step m the Ritz
//     vector y_i = Q_m s_i of the Ritz value theta_i (an eigenpair of the
//     tridiagonal T_m, tridiagonal.h) has the residual |H y_i - theta_i y_i|
//     = |beta_m s_mi|, and a symmetric H has an eigenvalue within that
//     distance of theta_i (G&VL §10.1). The run stops when the bound is <=
//     tolerance |theta_i| for each of the k smallest and k largest Ritz
//     values, at max_steps, or at n steps (T_n then has H's spectrum). The
//     test runs at every step up to 100, then at every ceil(m / 50)-th step
//     (each costs O(m^2)). When beta_m vanishes (an invariant subspace)
//     before n steps, the process restarts with a fresh Rademacher vector
//     orthogonalized against the basis (T becomes block diagonal); the
//     convergence test is skipped at such a step, since the bound says
//     nothing of the unexplored space.
//  2. Spectral density by stochastic Lanczos quadrature (Ubaru, Chen & Saad,
//     SIAM J. Matrix Anal. Appl. 38(4), 2017; Ghorbani, Krishnan & Xiao, ICML
//     2019): for each probe l, a Lanczos run of at most density_steps steps
//     from z_l / |z_l| with z_l Rademacher gives nodes theta_lj and weights
//     tau_lj^2 (tau_lj the first component of T's j-th eigenvector); the
//     density (1/n) sum_i delta(t - lambda_i) is estimated by the nodes with
//     weights tau_lj^2 / probes (they sum to 1). Probe 0 is the run of part 1
//     (its start vector is Rademacher too), so part 2 spends
//     (probes - 1) * min(density_steps, n) products at most.
//
// The Rademacher vectors come from std::mt19937_64 (whose sequence the C++
// standard fixes) seeded with kLanczosSeed, one bit per element in global
// element order: the same products give the same estimates on every
// platform, and a session is restored by replaying its products.
//
// The O(n) state (the point, the basis Q, q and the working vector) lives in
// LanczosVectors (lanczos_vectors.h): slices of the whole range, in process
// or on other replicas (a sharded diagnosis). This controller keeps alpha,
// beta, T's eigen-decomposition and the run bookkeeping (O(steps)), and the
// count of Rademacher draws consumed, which it sends with each start vector
// so that every slice produces exactly its range of the one stream. Every
// dot product, norm and reorthogonalization coefficient is a block reduction
// in global block order, so the estimates are bitwise the same for any
// number of slices.
//
//   OPTD_ASSIGN_OR_RETURN(std::unique_ptr<Lanczos> lanczos,
//                         Lanczos::Create(options, n));
//   while (!lanczos->finished()) {
//     Eigen::VectorXd hv = H * lanczos->vector();
//     OPTD_RETURN_IF_ERROR(lanczos->Tell(hv));
//   }
//   const SpectrumEstimate& e = lanczos->estimate();
//
// Thread-safety: not thread-safe; callers serialize access.
#ifndef OPTD_SOLVERS_CURVATURE_LANCZOS_H_
#define OPTD_SOLVERS_CURVATURE_LANCZOS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solvers/curvature/lanczos_vectors.h"

namespace optd {

struct LanczosOptions {
  // k: eigenvalues wanted at each end of the spectrum. Default 3; range
  // [1, 64].
  int extreme_count = 3;
  // Lanczos steps (products) allowed for part 1; capped at n. Default 200;
  // range [1, 2000].
  int max_steps = 200;
  // Relative residual bound of the wanted Ritz values, |beta_m s_mi| <=
  // tolerance |theta_i|. Default 1e-10; range [1e-15, 0.1].
  double tolerance = 1e-10;
  // Probes of the spectral density (probe 0 is part 1's run). Default 4;
  // range [1, 100].
  int probes = 4;
  // Lanczos steps of each further probe; capped at n. Default 30 (Ghorbani
  // et al. use 90 for networks of millions of parameters); range [1, 1000].
  int density_steps = 30;

  // INVALID_ARGUMENT naming "curvature.<field>", the value and the range.
  absl::Status Validate() const;
};

// What the products have shown of the spectrum.
struct SpectrumEstimate {
  // The min(k, m) smallest Ritz values of part 1, ascending, and the min(k,
  // m) largest, descending (they overlap when m < 2k).
  std::vector<double> smallest;
  std::vector<double> largest;
  // |lambda|max / |lambda|min over the estimated spectrum [smallest[0],
  // largest[0]]: largest[0] / smallest[0] when smallest[0] > 0,
  // smallest[0] / largest[0] when largest[0] < 0, +inf when 0 lies in
  // [smallest[0], largest[0]].
  double condition_number = 0.0;
  // Stochastic Lanczos quadrature nodes and weights (weights sum to 1),
  // probe after probe.
  std::vector<double> density_nodes;
  std::vector<double> density_weights;
  // Products told in all, and in part 1.
  int64_t products = 0;
  int64_t lanczos_steps = 0;
  // Part 1 ended by the residual test or at n steps (exact spectrum).
  bool converged = false;
};

// ConditionNumber()
//
// The condition number as SpectrumEstimate::condition_number defines it from
// the extreme eigenvalues lo <= hi.
double ConditionNumber(double lo, double hi);

class Lanczos {
 public:
  // A run on an n x n matrix, its vectors one slice in this process.
  // INVALID_ARGUMENT from options.Validate() or for n < 1.
  static absl::StatusOr<std::unique_ptr<Lanczos>> Create(
      const LanczosOptions& options, int64_t n);
  // A run over `vectors` (dimension >= 1): the first start vector is formed
  // there now, so a failed vector operation (UNAVAILABLE, remote) fails
  // Create.
  static absl::StatusOr<std::unique_ptr<Lanczos>> Create(
      const LanczosOptions& options, std::unique_ptr<LanczosVectors> vectors);

  int64_t n() const { return n_; }
  bool finished() const { return finished_; }
  LanczosVectors& vectors() { return *vectors_; }
  const LanczosVectors& vectors() const { return *vectors_; }
  // A copy of the unit vector v whose product H v is wanted next (read
  // from the vectors). REQUIRES: !finished().
  Eigen::VectorXd vector() const;
  // Applies H v for vector(). INVALID_ARGUMENT for a length other than n or
  // a non-finite element (naming its index); the state is then unchanged.
  absl::Status Tell(const Eigen::VectorXd& product);
  // Applies the product the vectors hold (LanczosVectors::SetProduct or
  // DifferenceProduct): one Lanczos step. An error of the vectors
  // (UNAVAILABLE) leaves the controller as it was, the slices not.
  absl::Status Step();
  // Ends the run now with what the products so far have shown (no-op when
  // finished). Part 1 not yet run to its end is reported as not converged.
  void Stop();
  // REQUIRES: finished().
  const SpectrumEstimate& estimate() const { return estimate_; }
  // Products told so far.
  int64_t products() const { return products_; }
  // Resolved options, one "name = value" line each.
  std::string OptionsReport() const;

 private:
  Lanczos(const LanczosOptions& options,
          std::unique_ptr<LanczosVectors> vectors);
  // Starts a run (part 1 or a probe) from a fresh Rademacher vector.
  absl::Status StartRun(int max_steps);
  // q <- a fresh Rademacher vector orthogonalized against the run's basis,
  // unit (after three that leave nothing, the coordinate vector the basis
  // covers least); false when nothing is left of that either.
  absl::StatusOr<bool> NextStartVector();
  // Eigen-decomposition of the run's T; the wanted Ritz values' residual
  // bounds all within tolerance?
  bool ExtremesConverged() const;
  // Ends the current run (RecordRun) and starts the next probe or finishes.
  absl::Status EndRun(bool converged);
  // Records the current run: part 1's extremes, the run's quadrature nodes.
  void RecordRun(bool converged);
  void Finish();

  LanczosOptions options_;
  int64_t n_;
  // The basis Q (n x steps_), q and the working vector.
  std::unique_ptr<LanczosVectors> vectors_;
  // Draws of std::mt19937_64(kLanczosSeed) consumed by the Rademacher
  // vectors so far.
  uint64_t draws_ = 0;
  // The current run: the diagonal alpha and the off-diagonal beta of T
  // (beta_[j] couples steps j and j + 1).
  std::vector<double> alpha_;
  std::vector<double> beta_;
  int steps_ = 0;
  int run_max_steps_ = 0;
  int probe_ = 0;  // 0: part 1
  int64_t products_ = 0;
  bool finished_ = false;
  SpectrumEstimate estimate_;
};

}  // namespace optd

#endif  // OPTD_SOLVERS_CURVATURE_LANCZOS_H_
