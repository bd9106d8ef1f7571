// Eigenvalues and end components of eigenvectors of a symmetric tridiagonal
// matrix (tridiagonal.h).
#include "solvers/curvature/tridiagonal.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "Eigen/Core"
#include "Eigen/Eigenvalues"

namespace optd {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

struct Eigenpair {
  double value;
  double first;
  double last;
};

// Solves (T - theta I) x = b in place for the block T (diagonal a,
// off-diagonal e) by Gaussian elimination with partial pivoting (LAPACK
// dgttrf, then dgtts2). A pivot below `tiny` in magnitude is replaced by
// `tiny`: the matrix is singular to working precision at an eigenvalue, as
// inverse iteration intends.
void SolveShifted(const double* a, const double* e, int n, double theta,
                  double tiny, Eigen::VectorXd* b) {
  Eigen::VectorXd d(n), dl(std::max(n - 1, 0)), du(std::max(n - 1, 0)),
      du2 = Eigen::VectorXd::Zero(std::max(n - 2, 0));
  std::vector<bool> swapped(std::max(n - 1, 0), false);
  for (int i = 0; i < n; ++i) d(i) = a[i] - theta;
  for (int i = 0; i + 1 < n; ++i) dl(i) = du(i) = e[i];
  for (int i = 0; i + 1 < n; ++i) {
    if (std::abs(d(i)) >= std::abs(dl(i))) {
      if (d(i) == 0.0) d(i) = tiny;
      const double fact = dl(i) / d(i);
      dl(i) = fact;
      d(i + 1) -= fact * du(i);
    } else {
      const double fact = d(i) / dl(i);
      d(i) = dl(i);
      dl(i) = fact;
      const double temp = du(i);
      du(i) = d(i + 1);
      d(i + 1) = temp - fact * d(i + 1);
      if (i + 2 < n) {
        du2(i) = du(i + 1);
        du(i + 1) = -fact * du(i + 1);
      }
      swapped[i] = true;
    }
  }
  for (int i = 0; i < n; ++i) {
    if (std::abs(d(i)) < tiny) d(i) = std::copysign(tiny, d(i));
  }
  Eigen::VectorXd& x = *b;
  for (int i = 0; i + 1 < n; ++i) {
    if (!swapped[i]) {
      x(i + 1) -= dl(i) * x(i);
    } else {
      const double temp = x(i);
      x(i) = x(i + 1);
      x(i + 1) = temp - dl(i) * x(i);
    }
  }
  x(n - 1) /= d(n - 1);
  if (n > 1) x(n - 2) = (x(n - 2) - du(n - 2) * x(n - 1)) / d(n - 2);
  for (int i = n - 3; i >= 0; --i) {
    x(i) = (x(i) - du(i) * x(i + 1) - du2(i) * x(i + 2)) / d(i);
  }
}

// The eigenpairs of the unreduced block [begin, end) of T, their end
// components taken at T's rows 0 and m - 1 (zero when the block does not
// reach them).
void DecomposeBlock(const std::vector<double>& alpha,
                    const std::vector<double>& beta, int begin, int end, int m,
                    std::vector<Eigenpair>* out) {
  const int n = end - begin;
  const Eigen::Map<const Eigen::VectorXd> a(alpha.data() + begin, n);
  Eigen::VectorXd e(std::max(n - 1, 0));
  for (int j = 0; j + 1 < n; ++j) e(j) = beta[begin + j];
  const bool has_first = begin == 0;
  const bool has_last = end == m;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen;
  if (n <= kDenseBlock) {
    eigen.computeFromTridiagonal(a, e, Eigen::ComputeEigenvectors);
    for (int i = 0; i < n; ++i) {
      out->push_back({eigen.eigenvalues()(i),
                      has_first ? eigen.eigenvectors()(0, i) : 0.0,
                      has_last ? eigen.eigenvectors()(n - 1, i) : 0.0});
    }
    return;
  }
  eigen.computeFromTridiagonal(a, e, Eigen::EigenvaluesOnly);
  double norm = 0.0;  // Gershgorin's bound on |T|
  for (int j = 0; j < n; ++j) {
    norm = std::max(norm, std::abs(a(j)) + (j > 0 ? std::abs(e(j - 1)) : 0) +
                              (j + 1 < n ? std::abs(e(j)) : 0));
  }
  const double tiny = std::max(kEps * norm, std::numeric_limits<double>::min());
  for (int i = 0; i < n; ++i) {
    const double theta = eigen.eigenvalues()(i);
    // A start vector with no special structure; three steps (one or two
    // suffice from an eigenvalue accurate to rounding).
    Eigen::VectorXd x(n);
    for (int j = 0; j < n; ++j) x(j) = 1.5 + std::cos(0.7 * j + 0.3);
    for (int step = 0; step < 3; ++step) {
      SolveShifted(a.data(), e.data(), n, theta, tiny, &x);
      x /= x.norm();
    }
    out->push_back({theta, has_first ? x(0) : 0.0, has_last ? x(n - 1) : 0.0});
  }
}

}  // namespace

TridiagonalEigen DecomposeTridiagonal(const std::vector<double>& alpha,
                                      const std::vector<double>& beta) {
  const int m = static_cast<int>(alpha.size());
  std::vector<Eigenpair> pairs;
  pairs.reserve(m);
  int begin = 0;
  for (int j = 0; j < m; ++j) {
    if (j + 1 == m || beta[j] == 0.0) {
      DecomposeBlock(alpha, beta, begin, j + 1, m, &pairs);
      begin = j + 1;
    }
  }
  std::stable_sort(
      pairs.begin(), pairs.end(),
      [](const Eigenpair& x, const Eigenpair& y) { return x.value < y.value; });
  TridiagonalEigen out;
  for (const Eigenpair& p : pairs) {
    out.values.push_back(p.value);
    out.first.push_back(p.first);
    out.last.push_back(p.last);
  }
  return out;
}

}  // namespace optd
