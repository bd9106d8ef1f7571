// Ports of MINPACK's enorm.f, qrfac.f, qrsolv.f and lmpar.f as scipy 1.10
// ships them (scipy/optimize/minpack/); see minpack.h. Fortran labels are
// cited as "label N"; Fortran's 1-based j is j + 1 here.
#include "solvers/least_squares/minpack.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace optd::minpack {
namespace {

// dpmpar(1) and dpmpar(2).
constexpr double kEpsmch = std::numeric_limits<double>::epsilon();
constexpr double kDwarf = std::numeric_limits<double>::min();

}  // namespace

double Enorm(int n, const double* x) {
  constexpr double kRdwarf = 3.834e-20;
  constexpr double kRgiant = 1.304e19;
  double s1 = 0.0, s2 = 0.0, s3 = 0.0, x1max = 0.0, x3max = 0.0;
  const double agiant = kRgiant / static_cast<double>(n);
  for (int i = 0; i < n; ++i) {  // do 90
    const double xabs = std::fabs(x[i]);
    if (xabs > kRdwarf && xabs < agiant) {  // label 70: intermediate
      s2 = s2 + xabs * xabs;
    } else if (!(xabs <= kRdwarf)) {  // large components (NaN too)
      if (!(xabs <= x1max)) {
        const double q = x1max / xabs;
        s1 = 1.0 + s1 * (q * q);
        x1max = xabs;
      } else {  // label 10
        const double q = xabs / x1max;
        s1 = s1 + q * q;
      }
    } else {  // label 30: small components
      if (!(xabs <= x3max)) {
        const double q = x3max / xabs;
        s3 = 1.0 + s3 * (q * q);
        x3max = xabs;
      } else if (xabs != 0.0) {  // label 40
        const double q = xabs / x3max;
        s3 = s3 + q * q;
      }
    }
  }
  if (s1 != 0.0) return x1max * std::sqrt(s1 + (s2 / x1max) / x1max);
  if (s2 != 0.0) {  // label 100
    if (s2 >= x3max) return std::sqrt(s2 * (1.0 + (x3max / s2) * (x3max * s3)));
    return std::sqrt(x3max * ((s2 / x3max) + (x3max * s3)));
  }
  return x3max * std::sqrt(s3);  // label 110
}

void Qrfac(Eigen::MatrixXd& a, std::vector<int>* ipvt, Eigen::VectorXd* rdiag,
           Eigen::VectorXd* acnorm) {
  const int m = static_cast<int>(a.rows());
  const int n = static_cast<int>(a.cols());
  ipvt->resize(n);
  rdiag->resize(n);
  acnorm->resize(n);
  Eigen::VectorXd wa(n);
  // do 10: initial column norms.
  for (int j = 0; j < n; ++j) {
    (*acnorm)(j) = Enorm(m, &a(0, j));
    (*rdiag)(j) = (*acnorm)(j);
    wa(j) = (*rdiag)(j);
    (*ipvt)[j] = j;
  }
  const int minmn = std::min(m, n);
  for (int j = 0; j < minmn; ++j) {  // do 110
    // do 20-30: bring the column of largest norm into the pivot position.
    int kmax = j;
    for (int k = j; k < n; ++k) {
      if ((*rdiag)(k) > (*rdiag)(kmax)) kmax = k;
    }
    if (kmax != j) {
      a.col(j).swap(a.col(kmax));
      (*rdiag)(kmax) = (*rdiag)(j);
      wa(kmax) = wa(j);
      std::swap((*ipvt)[j], (*ipvt)[kmax]);
    }
    // label 40: the Householder reflection that maps column j to a
    // multiple of e_j.
    double ajnorm = Enorm(m - j, &a(j, j));
    if (ajnorm != 0.0) {
      if (a(j, j) < 0.0) ajnorm = -ajnorm;
      for (int i = j; i < m; ++i) a(i, j) = a(i, j) / ajnorm;  // do 50
      a(j, j) = a(j, j) + 1.0;
      // do 90: apply it to the remaining columns and update their norms.
      for (int k = j + 1; k < n; ++k) {
        double sum = 0.0;
        for (int i = j; i < m; ++i) sum = sum + a(i, j) * a(i, k);  // do 60
        double temp = sum / a(j, j);
        for (int i = j; i < m; ++i) a(i, k) = a(i, k) - temp * a(i, j);
        if ((*rdiag)(k) == 0.0) continue;  // label 80
        temp = a(j, k) / (*rdiag)(k);
        (*rdiag)(k) = (*rdiag)(k)*std::sqrt(std::max(0.0, 1.0 - temp * temp));
        const double q = (*rdiag)(k) / wa(k);
        if (0.05 * (q * q) > kEpsmch) continue;
        (*rdiag)(k) = Enorm(m - j - 1, &a(j + 1, k));
        wa(k) = (*rdiag)(k);
      }
    }
    (*rdiag)(j) = -ajnorm;  // label 100
  }
}

void Qrsolv(Eigen::MatrixXd& r, const std::vector<int>& ipvt,
            const Eigen::VectorXd& diag, const Eigen::VectorXd& qtb,
            Eigen::VectorXd* x, Eigen::VectorXd* sdiag) {
  const int n = static_cast<int>(diag.size());
  x->resize(n);
  sdiag->resize(n);
  Eigen::VectorXd wa(n);
  // do 20: copy R and Q^T b; keep R's diagonal in x.
  for (int j = 0; j < n; ++j) {
    for (int i = j; i < n; ++i) r(i, j) = r(j, i);
    (*x)(j) = r(j, j);
    wa(j) = qtb(j);
  }
  // do 100: eliminate the diagonal matrix D with Givens rotations.
  for (int j = 0; j < n; ++j) {
    const int l = ipvt[j];
    if (diag(l) != 0.0) {
      for (int k = j; k < n; ++k) (*sdiag)(k) = 0.0;  // do 30
      (*sdiag)(j) = diag(l);
      double qtbpj = 0.0;
      for (int k = j; k < n; ++k) {  // do 80
        if ((*sdiag)(k) == 0.0) continue;
        double cos, sin;
        if (std::fabs(r(k, k)) < std::fabs((*sdiag)(k))) {
          const double cotan = r(k, k) / (*sdiag)(k);
          sin = 0.5 / std::sqrt(0.25 + 0.25 * cotan * cotan);
          cos = sin * cotan;
        } else {  // label 40
          const double tan = (*sdiag)(k) / r(k, k);
          cos = 0.5 / std::sqrt(0.25 + 0.25 * tan * tan);
          sin = cos * tan;
        }
        // label 50
        r(k, k) = cos * r(k, k) + sin * (*sdiag)(k);
        const double temp = cos * wa(k) + sin * qtbpj;
        qtbpj = -sin * wa(k) + cos * qtbpj;
        wa(k) = temp;
        for (int i = k + 1; i < n; ++i) {  // do 60
          const double t = cos * r(i, k) + sin * (*sdiag)(i);
          (*sdiag)(i) = -sin * r(i, k) + cos * (*sdiag)(i);
          r(i, k) = t;
        }
      }
    }
    // label 90
    (*sdiag)(j) = r(j, j);
    r(j, j) = (*x)(j);
  }
  // do 110-140: solve the triangular system S z = wa (least squares when
  // S is singular).
  int nsing = n;
  for (int j = 0; j < n; ++j) {
    if ((*sdiag)(j) == 0.0 && nsing == n) nsing = j;
    if (nsing < n) wa(j) = 0.0;
  }
  for (int k = 1; k <= nsing; ++k) {
    const int j = nsing - k;
    double sum = 0.0;
    for (int i = j + 1; i < nsing; ++i) sum = sum + r(i, j) * wa(i);  // do 120
    wa(j) = (wa(j) - sum) / (*sdiag)(j);
  }
  // do 160: permute z back to x.
  for (int j = 0; j < n; ++j) (*x)(ipvt[j]) = wa(j);
}

void Lmpar(Eigen::MatrixXd& r, const std::vector<int>& ipvt,
           const Eigen::VectorXd& diag, const Eigen::VectorXd& qtb,
           double delta, double* par, Eigen::VectorXd* x) {
  constexpr double kP1 = 0.1, kP001 = 0.001;
  const int n = static_cast<int>(diag.size());
  x->resize(n);
  Eigen::VectorXd wa1(n), wa2(n), sdiag(n);
  // do 10-60: the Gauss-Newton direction (least squares if R is singular).
  int nsing = n;
  for (int j = 0; j < n; ++j) {
    wa1(j) = qtb(j);
    if (r(j, j) == 0.0 && nsing == n) nsing = j;
    if (nsing < n) wa1(j) = 0.0;
  }
  for (int k = 1; k <= nsing; ++k) {  // do 40
    const int j = nsing - k;
    wa1(j) = wa1(j) / r(j, j);
    const double temp = wa1(j);
    for (int i = 0; i < j; ++i) wa1(i) = wa1(i) - r(i, j) * temp;
  }
  for (int j = 0; j < n; ++j) (*x)(ipvt[j]) = wa1(j);  // do 60
  // do 70: accept the Gauss-Newton direction if it is short enough.
  int iter = 0;
  for (int j = 0; j < n; ++j) wa2(j) = diag(j) * (*x)(j);
  double dxnorm = Enorm(wa2);
  double fp = dxnorm - delta;
  if (fp <= kP1 * delta) {
    *par = 0.0;  // label 220 with iter = 0
    return;
  }
  // do 80-110: the lower bound parl from the Newton step (0 when rank
  // deficient).
  double parl = 0.0;
  if (nsing >= n) {
    for (int j = 0; j < n; ++j) {
      const int l = ipvt[j];
      wa1(j) = diag(l) * (wa2(l) / dxnorm);
    }
    for (int j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int i = 0; i < j; ++i) sum = sum + r(i, j) * wa1(i);  // do 90
      wa1(j) = (wa1(j) - sum) / r(j, j);
    }
    const double temp = Enorm(wa1);
    parl = ((fp / delta) / temp) / temp;
  }
  // label 120, do 130-140: the upper bound paru.
  for (int j = 0; j < n; ++j) {
    double sum = 0.0;
    for (int i = 0; i <= j; ++i) sum = sum + r(i, j) * qtb(i);
    wa1(j) = sum / diag(ipvt[j]);
  }
  const double gnorm = Enorm(wa1);
  double paru = gnorm / delta;
  if (paru == 0.0) paru = kDwarf / std::min(delta, kP1);
  // Clamp par into [parl, paru].
  *par = std::max(*par, parl);
  *par = std::min(*par, paru);
  if (*par == 0.0) *par = gnorm / dxnorm;
  for (;;) {  // label 150
    ++iter;
    if (*par == 0.0) *par = std::max(kDwarf, kP001 * paru);
    double temp = std::sqrt(*par);
    for (int j = 0; j < n; ++j) wa1(j) = temp * diag(j);  // do 160
    Qrsolv(r, ipvt, wa1, qtb, x, &sdiag);
    for (int j = 0; j < n; ++j) wa2(j) = diag(j) * (*x)(j);  // do 170
    dxnorm = Enorm(wa2);
    temp = fp;
    fp = dxnorm - delta;
    if (std::fabs(fp) <= kP1 * delta ||
        (parl == 0.0 && fp <= temp && temp < 0.0) || iter == 10) {
      break;  // label 220 (iter > 0: par is kept)
    }
    // do 180-210: the Newton correction.
    for (int j = 0; j < n; ++j) {
      const int l = ipvt[j];
      wa1(j) = diag(l) * (wa2(l) / dxnorm);
    }
    for (int j = 0; j < n; ++j) {
      wa1(j) = wa1(j) / sdiag(j);
      const double t = wa1(j);
      for (int i = j + 1; i < n; ++i) wa1(i) = wa1(i) - r(i, j) * t;
    }
    temp = Enorm(wa1);
    const double parc = ((fp / delta) / temp) / temp;
    if (fp > 0.0) parl = std::max(parl, *par);
    if (fp < 0.0) paru = std::min(paru, *par);
    *par = std::max(parl, *par + parc);
  }
}

}  // namespace optd::minpack
