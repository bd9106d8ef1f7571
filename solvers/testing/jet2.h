// Jet2: a number together with its gradient and Hessian with respect to k
// variables (second-order forward-mode differentiation, dense in k). Meant for
// residuals of a handful of variables, as in the test problems of
// mgh_hessians.cc; every operation costs O(k^2).
//
//   Jet2 x = Jet2::Variable(1.5, /*k=*/2, /*index=*/0);
//   Jet2 y = Jet2::Variable(0.5, 2, 1);
//   Jet2 r = 10.0 * (y - x * x);      // r.v, r.g (2), r.h (2x2)
//
// Every unary function is the chain rule f(u): g = f'(u) g_u,
// h = f'(u) h_u + f''(u) g_u g_u^T.
//
// Thread-safety: plain values.
#ifndef OPTD_SOLVERS_TESTING_JET2_H_
#define OPTD_SOLVERS_TESTING_JET2_H_

#include <cmath>
#include <utility>

#include "Eigen/Core"

namespace optd::problems {

struct Jet2 {
  Jet2(double value, int k)
      : v(value), g(Eigen::VectorXd::Zero(k)), h(Eigen::MatrixXd::Zero(k, k)) {}
  // The variable number `index` of k, at `value`.
  static Jet2 Variable(double value, int k, int index) {
    Jet2 j(value, k);
    j.g(index) = 1.0;
    return j;
  }

  double v;
  Eigen::VectorXd g;
  Eigen::MatrixXd h;
};

// f(u) with f = value, f' = d1, f'' = d2 at u.v.
inline Jet2 Chain(const Jet2& u, double value, double d1, double d2) {
  Jet2 r(value, static_cast<int>(u.g.size()));
  r.g = d1 * u.g;
  r.h = d1 * u.h + d2 * u.g * u.g.transpose();
  return r;
}

inline Jet2 operator+(Jet2 a, const Jet2& b) {
  a.v += b.v;
  a.g += b.g;
  a.h += b.h;
  return a;
}
inline Jet2 operator-(Jet2 a, const Jet2& b) {
  a.v -= b.v;
  a.g -= b.g;
  a.h -= b.h;
  return a;
}
inline Jet2 operator-(Jet2 a) {
  a.v = -a.v;
  a.g = -a.g;
  a.h = -a.h;
  return a;
}
inline Jet2 operator+(Jet2 a, double c) {
  a.v += c;
  return a;
}
inline Jet2 operator+(double c, Jet2 a) { return std::move(a) + c; }
inline Jet2 operator-(Jet2 a, double c) {
  a.v -= c;
  return a;
}
inline Jet2 operator-(double c, const Jet2& a) { return -a + c; }
inline Jet2 operator*(Jet2 a, double c) {
  a.v *= c;
  a.g *= c;
  a.h *= c;
  return a;
}
inline Jet2 operator*(double c, Jet2 a) { return std::move(a) * c; }
inline Jet2 operator/(Jet2 a, double c) { return std::move(a) * (1.0 / c); }

// (ab)'' = a b'' + b a'' + a' b'^T + b' a'^T.
inline Jet2 operator*(const Jet2& a, const Jet2& b) {
  Jet2 r(a.v * b.v, static_cast<int>(a.g.size()));
  r.g = a.v * b.g + b.v * a.g;
  r.h = a.v * b.h + b.v * a.h + a.g * b.g.transpose() + b.g * a.g.transpose();
  return r;
}
inline Jet2 Inverse(const Jet2& u) {
  return Chain(u, 1.0 / u.v, -1.0 / (u.v * u.v), 2.0 / (u.v * u.v * u.v));
}
inline Jet2 operator/(const Jet2& a, const Jet2& b) { return a * Inverse(b); }
inline Jet2 operator/(double c, const Jet2& b) { return c * Inverse(b); }

inline Jet2 Exp(const Jet2& u) {
  const double e = std::exp(u.v);
  return Chain(u, e, e, e);
}
inline Jet2 Log(const Jet2& u) {
  return Chain(u, std::log(u.v), 1.0 / u.v, -1.0 / (u.v * u.v));
}
inline Jet2 Sin(const Jet2& u) {
  return Chain(u, std::sin(u.v), std::cos(u.v), -std::sin(u.v));
}
inline Jet2 Cos(const Jet2& u) {
  return Chain(u, std::cos(u.v), -std::sin(u.v), -std::cos(u.v));
}
inline Jet2 Sqrt(const Jet2& u) {
  const double s = std::sqrt(u.v);
  return Chain(u, s, 0.5 / s, -0.25 / (s * u.v));
}
// |u| away from 0.
inline Jet2 Abs(const Jet2& u) { return u.v < 0 ? -u : u; }

// The angle of (x, y) with the given value (the caller picks the branch);
// its derivatives are those of atan2(y, x): d = (x dy - y dx) / (x^2 + y^2).
inline Jet2 Atan2WithValue(const Jet2& y, const Jet2& x, double value) {
  const double a = x.v, b = y.v, rho2 = a * a + b * b, rho4 = rho2 * rho2;
  const double ta = -b / rho2, tb = a / rho2;
  const double taa = 2 * a * b / rho4, tbb = -taa, tab = (b * b - a * a) / rho4;
  Jet2 r(value, static_cast<int>(x.g.size()));
  r.g = ta * x.g + tb * y.g;
  r.h = ta * x.h + tb * y.h + taa * x.g * x.g.transpose() +
        tbb * y.g * y.g.transpose() +
        tab * (x.g * y.g.transpose() + y.g * x.g.transpose());
  return r;
}

}  // namespace optd::problems

#endif  // OPTD_SOLVERS_TESTING_JET2_H_
