// Written from L-BFGS-B 3.0 (lbfgsb.f: matupd, formt, bmv) and LINPACK
// (dpofa, dtrsl); loops keep the Fortran order of operations. Indices are
// 0-based here; comments use the Fortran's 1-based names where they help.
#include "solvers/lbfgsb/lbfgsb_compact.h"

#include <cmath>

namespace optd::lbfgsb {

double Ddot(int n, const double* x, const double* y) {
  double dtemp = 0.0;
  if (n <= 0) return dtemp;
  const int m = n % 5;
  for (int i = 0; i < m; ++i) dtemp += x[i] * y[i];
  if (n < 5) return dtemp;
  for (int i = m; i < n; i += 5) {
    dtemp = dtemp + x[i] * y[i] + x[i + 1] * y[i + 1] + x[i + 2] * y[i + 2] +
            x[i + 3] * y[i + 3] + x[i + 4] * y[i + 4];
  }
  return dtemp;
}

int Dpofa(double* a, int lda, int n) {
  auto A = [&](int i, int j) -> double& { return a[i + j * lda]; };
  for (int j = 0; j < n; ++j) {
    double s = 0.0;
    for (int k = 0; k < j; ++k) {
      const double t = (A(k, j) - Ddot(k, &A(0, k), &A(0, j))) / A(k, k);
      A(k, j) = t;
      s += t * t;
    }
    s = A(j, j) - s;
    if (s <= 0.0) return j + 1;
    A(j, j) = std::sqrt(s);
  }
  return 0;
}

int Dtrsl(const double* t, int ldt, int n, double* b, bool transpose) {
  auto T = [&](int i, int j) { return t[i + j * ldt]; };
  for (int i = 0; i < n; ++i) {
    if (T(i, i) == 0.0) return i + 1;
  }
  if (n == 0) return 0;
  if (!transpose) {  // job 01: back substitution by columns
    b[n - 1] /= T(n - 1, n - 1);
    for (int j = n - 2; j >= 0; --j) {
      const double temp = -b[j + 1];
      for (int i = 0; i <= j; ++i) b[i] += temp * T(i, j + 1);
      b[j] /= T(j, j);
    }
  } else {  // job 11: forward substitution with T' by rows
    b[0] /= T(0, 0);
    for (int j = 1; j < n; ++j) {
      b[j] = (b[j] - Ddot(j, &t[j * ldt], b)) / T(j, j);
    }
  }
  return 0;
}

LbfgsbMemory::LbfgsbMemory(int m)
    : m(m),
      sy(Eigen::MatrixXd::Zero(m, m)),
      ss(Eigen::MatrixXd::Zero(m, m)),
      wt(Eigen::MatrixXd::Zero(m, m)) {}

void LbfgsbMemory::Reset() {
  col = 0;
  head = 0;
  theta = 1.0;
  iupdat = 0;
}

void LbfgsbMemory::Update(const double* sums, double dr, double stp,
                          double dtd) {
  ++iupdat;
  if (iupdat <= m) {
    col = iupdat;
    itail = (head + iupdat - 1) % m;
  } else {
    itail = (itail + 1) % m;
    head = (head + 1) % m;
  }
  theta = sums[0] / dr;
  if (iupdat > m) {
    // Drop the oldest pair: shift the upper triangle of S'S and the lower
    // triangle of S'Y one place up and left.
    for (int j = 0; j + 1 < col; ++j) {
      for (int i = 0; i <= j; ++i) ss(i, j) = ss(i + 1, j + 1);
      for (int i = j; i + 1 < col; ++i) sy(i, j) = sy(i + 1, j + 1);
    }
  }
  // The last row of S'Y (s_new'y_j) and the last column of S'S.
  const int last = col - 1;
  for (int j = 0; j < last; ++j) {
    sy(last, j) = sums[1 + j];
    ss(j, last) = sums[1 + last + j];
  }
  ss(last, last) = stp == 1.0 ? dtd : stp * stp * dtd;
  sy(last, last) = dr;
}

bool LbfgsbMemory::FormT() {
  for (int j = 0; j < col; ++j) wt(0, j) = theta * ss(0, j);
  for (int i = 1; i < col; ++i) {
    for (int j = i; j < col; ++j) {
      double ddum = 0.0;
      for (int k = 0; k < i; ++k) ddum += sy(i, k) * sy(j, k) / sy(k, k);
      wt(i, j) = ddum + theta * ss(i, j);
    }
  }
  return Dpofa(wt.data(), m, col) == 0;
}

bool LbfgsbMemory::Bmv(const double* v, double* p) const {
  if (col == 0) return true;
  // Part I: solve [D^(1/2) 0; -L D^(-1/2) J] [p1; p2] = [v1; v2].
  p[col] = v[col];
  for (int i = 1; i < col; ++i) {
    double sum = 0.0;
    for (int k = 0; k < i; ++k) sum += sy(i, k) * v[k] / sy(k, k);
    p[col + i] = v[col + i] + sum;
  }
  if (Dtrsl(wt.data(), m, col, p + col, /*transpose=*/true) != 0) return false;
  for (int i = 0; i < col; ++i) p[i] = v[i] / std::sqrt(sy(i, i));
  // Part II: solve [-D^(1/2) D^(-1/2) L'; 0 J'] [p1; p2] = [p1; p2].
  if (Dtrsl(wt.data(), m, col, p + col, /*transpose=*/false) != 0) {
    return false;
  }
  for (int i = 0; i < col; ++i) p[i] = -p[i] / std::sqrt(sy(i, i));
  for (int i = 0; i < col; ++i) {
    double sum = 0.0;
    for (int k = i + 1; k < col; ++k) sum += sy(k, i) * p[col + k] / sy(i, i);
    p[i] += sum;
  }
  return true;
}

}  // namespace optd::lbfgsb
