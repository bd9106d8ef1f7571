// Moré, Garbow & Hillstrom, "Testing unconstrained optimization software",
// ACM TOMS 7 (1981) 17-41: the problems as the paper defines them. The numbers
// in the comments are the paper's problem numbers, indices are the paper's
// (1-based) while the code is 0-based. tests/data/mgh_problems.py is the same
// set in numpy; the two agree at every x0 to 1e-12 (mgh_problems_test.cc).
#include "solvers/testing/mgh_problems.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace optd::problems {
namespace {

using Eigen::VectorXd;

constexpr double kPi = 3.14159265358979323846;

// Accumulates f = sum_i r_i^2 and, when asked for, grad = 2 J^T r one residual
// (one row of J) at a time.
class SumOfSquares {
 public:
  SumOfSquares(int n, VectorXd* grad) : grad_(grad) {
    if (grad_ != nullptr) grad_->setZero(n);
  }

  // Adds the residual r with the nonzero partial derivatives {j, dr/dx_j}.
  void Add(double r, std::initializer_list<std::pair<int, double>> partials) {
    sum_ += r * r;
    if (grad_ == nullptr) return;
    for (const auto& [j, d] : partials) (*grad_)(j) += 2.0 * r * d;
  }

  // Adds the residual r with the dense row dr/dx.
  void AddDense(double r, const VectorXd& partials) {
    sum_ += r * r;
    if (grad_ != nullptr) *grad_ += (2.0 * r) * partials;
  }

  bool wants_gradient() const { return grad_ != nullptr; }
  double value() const { return sum_; }

 private:
  VectorXd* grad_;
  double sum_ = 0.0;
};

// (1) Rosenbrock, n = 2, m = 2.
double Rosenbrock(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(2, grad);
  s.Add(10.0 * (x(1) - x(0) * x(0)), {{0, -20.0 * x(0)}, {1, 10.0}});
  s.Add(1.0 - x(0), {{0, -1.0}});
  return s.value();
}

// (2) Freudenstein and Roth, n = 2, m = 2.
double FreudensteinRoth(const VectorXd& x, VectorXd* grad) {
  const double x1 = x(0), x2 = x(1);
  SumOfSquares s(2, grad);
  s.Add(-13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2,
        {{0, 1.0}, {1, 10.0 * x2 - 3.0 * x2 * x2 - 2.0}});
  s.Add(-29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2,
        {{0, 1.0}, {1, 3.0 * x2 * x2 + 2.0 * x2 - 14.0}});
  return s.value();
}

// (3) Powell badly scaled, n = 2, m = 2.
double PowellBadlyScaled(const VectorXd& x, VectorXd* grad) {
  const double e1 = std::exp(-x(0)), e2 = std::exp(-x(1));
  SumOfSquares s(2, grad);
  s.Add(1e4 * x(0) * x(1) - 1.0, {{0, 1e4 * x(1)}, {1, 1e4 * x(0)}});
  s.Add(e1 + e2 - 1.0001, {{0, -e1}, {1, -e2}});
  return s.value();
}

// (4) Brown badly scaled, n = 2, m = 3.
double BrownBadlyScaled(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(2, grad);
  s.Add(x(0) - 1e6, {{0, 1.0}});
  s.Add(x(1) - 2e-6, {{1, 1.0}});
  s.Add(x(0) * x(1) - 2.0, {{0, x(1)}, {1, x(0)}});
  return s.value();
}

// (5) Beale, n = 2, m = 3.
double Beale(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {1.5, 2.25, 2.625};
  SumOfSquares s(2, grad);
  for (int i = 1; i <= 3; ++i) {
    const double p = std::pow(x(1), i);
    s.Add(kY[i - 1] - x(0) * (1.0 - p),
          {{0, -(1.0 - p)}, {1, x(0) * i * std::pow(x(1), i - 1)}});
  }
  return s.value();
}

// (6) Jennrich and Sampson, n = 2, m = 10.
double JennrichSampson(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(2, grad);
  for (int i = 1; i <= 10; ++i) {
    const double e1 = std::exp(i * x(0)), e2 = std::exp(i * x(1));
    s.Add(2.0 + 2.0 * i - (e1 + e2), {{0, -i * e1}, {1, -i * e2}});
  }
  return s.value();
}

// (7) Helical valley, n = 3, m = 3. theta(x1, x2) as in the paper for
// x1 != 0, and 1/4 sign(x2) for x1 = 0 as in MINPACK's test functions.
double HelicalValley(const VectorXd& x, VectorXd* grad) {
  const double x1 = x(0), x2 = x(1), x3 = x(2);
  const double tpi = 2.0 * kPi;
  double theta;
  if (x1 > 0.0) {
    theta = std::atan(x2 / x1) / tpi;
  } else if (x1 < 0.0) {
    theta = std::atan(x2 / x1) / tpi + 0.5;
  } else {
    theta = x2 >= 0.0 ? 0.25 : -0.25;
  }
  const double rho2 = x1 * x1 + x2 * x2;
  const double rho = std::sqrt(rho2);
  SumOfSquares s(3, grad);
  s.Add(10.0 * (x3 - 10.0 * theta), {{0, 100.0 * x2 / (tpi * rho2)},
                                     {1, -100.0 * x1 / (tpi * rho2)},
                                     {2, 10.0}});
  s.Add(10.0 * (rho - 1.0), {{0, 10.0 * x1 / rho}, {1, 10.0 * x2 / rho}});
  s.Add(x3, {{2, 1.0}});
  return s.value();
}

// (8) Bard, n = 3, m = 15.
double Bard(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {0.14, 0.18, 0.22, 0.25, 0.29,
                                  0.32, 0.35, 0.39, 0.37, 0.58,
                                  0.73, 0.96, 1.34, 2.10, 4.39};
  SumOfSquares s(3, grad);
  for (int i = 1; i <= 15; ++i) {
    const double u = i, v = 16 - i, w = std::min(u, v);
    const double d = v * x(1) + w * x(2);
    s.Add(kY[i - 1] - (x(0) + u / d),
          {{0, -1.0}, {1, u * v / (d * d)}, {2, u * w / (d * d)}});
  }
  return s.value();
}

// (9) Gaussian, n = 3, m = 15.
double Gaussian(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {0.0009, 0.0044, 0.0175, 0.0540, 0.1295,
                                  0.2420, 0.3521, 0.3989, 0.3521, 0.2420,
                                  0.1295, 0.0540, 0.0175, 0.0044, 0.0009};
  SumOfSquares s(3, grad);
  for (int i = 1; i <= 15; ++i) {
    const double t = (8.0 - i) / 2.0;
    const double d = t - x(2);
    const double e = std::exp(-0.5 * x(1) * d * d);
    s.Add(x(0) * e - kY[i - 1],
          {{0, e}, {1, -0.5 * x(0) * d * d * e}, {2, x(0) * x(1) * d * e}});
  }
  return s.value();
}

// (10) Meyer, n = 3, m = 16.
double Meyer(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {34780, 28610, 23650, 19630, 16370, 13720,
                                  11540, 9744,  8261,  7030,  6005,  5147,
                                  4427,  3820,  3307,  2872};
  SumOfSquares s(3, grad);
  for (int i = 1; i <= 16; ++i) {
    const double d = 45.0 + 5.0 * i + x(2);
    const double e = std::exp(x(1) / d);
    s.Add(x(0) * e - kY[i - 1],
          {{0, e}, {1, x(0) * e / d}, {2, -x(0) * x(1) * e / (d * d)}});
  }
  return s.value();
}

// (11) Gulf research and development, n = 3, m = 99 (the paper allows
// n <= m <= 100). The paper's "y_i mi x_2" is y_i - x_2.
double Gulf(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(3, grad);
  for (int i = 1; i <= 99; ++i) {
    const double t = i / 100.0;
    const double y = 25.0 + std::pow(-50.0 * std::log(t), 2.0 / 3.0);
    const double d = y - x(1);
    const double a = std::abs(d);
    const double p = std::pow(a, x(2));
    const double e = std::exp(-p / x(0));
    const double sign = d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : 0.0);
    s.Add(e - t, {{0, e * p / (x(0) * x(0))},
                  {1, e * x(2) * std::pow(a, x(2) - 1.0) * sign / x(0)},
                  {2, -e * p * std::log(a) / x(0)}});
  }
  return s.value();
}

// (12) Box three-dimensional, n = 3, m = 10.
double Box3d(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(3, grad);
  for (int i = 1; i <= 10; ++i) {
    const double t = 0.1 * i;
    const double e1 = std::exp(-t * x(0)), e2 = std::exp(-t * x(1));
    const double c = std::exp(-t) - std::exp(-10.0 * t);
    s.Add(e1 - e2 - x(2) * c, {{0, -t * e1}, {1, t * e2}, {2, -c}});
  }
  return s.value();
}

// (13) Powell singular, n = 4, m = 4; (22) extended Powell singular, n a
// multiple of 4, m = n: the same four residuals on each block of four.
double ExtendedPowellSingular(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double s5 = std::sqrt(5.0), s10 = std::sqrt(10.0);
  SumOfSquares s(n, grad);
  for (int k = 0; k < n; k += 4) {
    const double a = x(k), b = x(k + 1), c = x(k + 2), d = x(k + 3);
    s.Add(a + 10.0 * b, {{k, 1.0}, {k + 1, 10.0}});
    s.Add(s5 * (c - d), {{k + 2, s5}, {k + 3, -s5}});
    s.Add((b - 2.0 * c) * (b - 2.0 * c),
          {{k + 1, 2.0 * (b - 2.0 * c)}, {k + 2, -4.0 * (b - 2.0 * c)}});
    s.Add(s10 * (a - d) * (a - d),
          {{k, 2.0 * s10 * (a - d)}, {k + 3, -2.0 * s10 * (a - d)}});
  }
  return s.value();
}

// (14) Wood, n = 4, m = 6.
double Wood(const VectorXd& x, VectorXd* grad) {
  const double s90 = std::sqrt(90.0), s10 = std::sqrt(10.0);
  SumOfSquares s(4, grad);
  s.Add(10.0 * (x(1) - x(0) * x(0)), {{0, -20.0 * x(0)}, {1, 10.0}});
  s.Add(1.0 - x(0), {{0, -1.0}});
  s.Add(s90 * (x(3) - x(2) * x(2)), {{2, -2.0 * s90 * x(2)}, {3, s90}});
  s.Add(1.0 - x(2), {{2, -1.0}});
  s.Add(s10 * (x(1) + x(3) - 2.0), {{1, s10}, {3, s10}});
  s.Add((x(1) - x(3)) / s10, {{1, 1.0 / s10}, {3, -1.0 / s10}});
  return s.value();
}

// (15) Kowalik and Osborne, n = 4, m = 11.
double KowalikOsborne(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {0.1957, 0.1947, 0.1735, 0.1600,
                                  0.0844, 0.0627, 0.0456, 0.0342,
                                  0.0323, 0.0235, 0.0246};
  static constexpr double kU[] = {4.0,   2.0, 1.0,    0.5,    0.25,  0.167,
                                  0.125, 0.1, 0.0833, 0.0714, 0.0625};
  SumOfSquares s(4, grad);
  for (int i = 0; i < 11; ++i) {
    const double u = kU[i];
    const double num = u * u + u * x(1);
    const double den = u * u + u * x(2) + x(3);
    s.Add(kY[i] - x(0) * num / den, {{0, -num / den},
                                     {1, -x(0) * u / den},
                                     {2, x(0) * num * u / (den * den)},
                                     {3, x(0) * num / (den * den)}});
  }
  return s.value();
}

// (16) Brown and Dennis, n = 4, m = 20.
double BrownDennis(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(4, grad);
  for (int i = 1; i <= 20; ++i) {
    const double t = i / 5.0;
    const double a = x(0) + t * x(1) - std::exp(t);
    const double b = x(2) + x(3) * std::sin(t) - std::cos(t);
    s.Add(a * a + b * b, {{0, 2.0 * a},
                          {1, 2.0 * a * t},
                          {2, 2.0 * b},
                          {3, 2.0 * b * std::sin(t)}});
  }
  return s.value();
}

// (17) Osborne 1, n = 5, m = 33.
double Osborne1(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {
      0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818,
      0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558,
      0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438,
      0.431, 0.424, 0.420, 0.414, 0.411, 0.406};
  SumOfSquares s(5, grad);
  for (int i = 0; i < 33; ++i) {
    const double t = 10.0 * i;
    const double e4 = std::exp(-t * x(3)), e5 = std::exp(-t * x(4));
    s.Add(kY[i] - (x(0) + x(1) * e4 + x(2) * e5), {{0, -1.0},
                                                   {1, -e4},
                                                   {2, -e5},
                                                   {3, t * x(1) * e4},
                                                   {4, t * x(2) * e5}});
  }
  return s.value();
}

// (18) Biggs EXP6, n = 6, m = 13.
double BiggsExp6(const VectorXd& x, VectorXd* grad) {
  SumOfSquares s(6, grad);
  for (int i = 1; i <= 13; ++i) {
    const double t = 0.1 * i;
    const double y =
        std::exp(-t) - 5.0 * std::exp(-10.0 * t) + 3.0 * std::exp(-4.0 * t);
    const double e1 = std::exp(-t * x(0)), e2 = std::exp(-t * x(1)),
                 e5 = std::exp(-t * x(4));
    s.Add(x(2) * e1 - x(3) * e2 + x(5) * e5 - y, {{0, -t * x(2) * e1},
                                                  {1, t * x(3) * e2},
                                                  {2, e1},
                                                  {3, -e2},
                                                  {4, -t * x(5) * e5},
                                                  {5, e5}});
  }
  return s.value();
}

// (19) Osborne 2, n = 11, m = 65.
double Osborne2(const VectorXd& x, VectorXd* grad) {
  static constexpr double kY[] = {
      1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725,
      0.746, 0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724,
      0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495,
      0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429,
      0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632,
      0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
      0.428, 0.292, 0.162, 0.098, 0.054};
  SumOfSquares s(11, grad);
  VectorXd row(11);
  for (int i = 0; i < 65; ++i) {
    const double t = i / 10.0;
    const double e1 = std::exp(-t * x(4));
    double model = x(0) * e1;
    row.setZero();
    row(0) = -e1;
    row(4) = t * x(0) * e1;
    // The three Gaussian terms x(1+k) exp(-(t - x(8+k))^2 x(5+k)).
    for (int k = 0; k < 3; ++k) {
      const double d = t - x(8 + k);
      const double e = std::exp(-d * d * x(5 + k));
      model += x(1 + k) * e;
      row(1 + k) = -e;
      row(5 + k) = x(1 + k) * d * d * e;
      row(8 + k) = -2.0 * x(1 + k) * x(5 + k) * d * e;
    }
    s.AddDense(kY[i] - model, row);
  }
  return s.value();
}

// (20) Watson, 2 <= n <= 31, m = 31.
double Watson(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  SumOfSquares s(n, grad);
  VectorXd row(n);
  for (int i = 1; i <= 29; ++i) {
    const double t = i / 29.0;
    double s1 = 0.0;     // sum_{j=2..n} (j-1) x_j t^(j-2)
    double s2 = 0.0;     // sum_{j=1..n} x_j t^(j-1)
    double power = 1.0;  // t^(j-1) for the paper's j = k + 1
    for (int k = 0; k < n; ++k) {
      if (k > 0) s1 += k * x(k) * (power / t);
      s2 += x(k) * power;
      power *= t;
    }
    power = 1.0;
    for (int k = 0; k < n; ++k) {
      row(k) = (k > 0 ? k * (power / t) : 0.0) - 2.0 * s2 * power;
      power *= t;
    }
    s.AddDense(s1 - s2 * s2 - 1.0, row);
  }
  s.Add(x(0), {{0, 1.0}});
  s.Add(x(1) - x(0) * x(0) - 1.0, {{0, -2.0 * x(0)}, {1, 1.0}});
  return s.value();
}

// (21) Extended Rosenbrock, n even, m = n.
double ExtendedRosenbrock(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  SumOfSquares s(n, grad);
  for (int k = 0; k < n; k += 2) {
    s.Add(10.0 * (x(k + 1) - x(k) * x(k)), {{k, -20.0 * x(k)}, {k + 1, 10.0}});
    s.Add(1.0 - x(k), {{k, -1.0}});
  }
  return s.value();
}

// (23) Penalty function I, m = n + 1, a = 1e-5.
double Penalty1(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double sa = std::sqrt(1e-5);
  SumOfSquares s(n, grad);
  for (int j = 0; j < n; ++j) s.Add(sa * (x(j) - 1.0), {{j, sa}});
  s.AddDense(x.squaredNorm() - 0.25, 2.0 * x);
  return s.value();
}

// (24) Penalty function II, m = 2n, a = 1e-5.
double Penalty2(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double sa = std::sqrt(1e-5);
  SumOfSquares s(n, grad);
  s.Add(x(0) - 0.2, {{0, 1.0}});
  // The paper's i = 2..n.
  for (int i = 2; i <= n; ++i) {
    const double y = std::exp(i / 10.0) + std::exp((i - 1) / 10.0);
    const double e = std::exp(x(i - 1) / 10.0), ep = std::exp(x(i - 2) / 10.0);
    s.Add(sa * (e + ep - y), {{i - 1, sa * e / 10.0}, {i - 2, sa * ep / 10.0}});
  }
  // The paper's i = n+1..2n-1, on x_{i-n+1} = x_2..x_n.
  for (int j = 1; j < n; ++j) {
    const double e = std::exp(x(j) / 10.0);
    s.Add(sa * (e - std::exp(-0.1)), {{j, sa * e / 10.0}});
  }
  double weighted = 0.0;  // sum_j (n - j + 1) x_j^2
  VectorXd row(n);
  for (int j = 0; j < n; ++j) {
    weighted += (n - j) * x(j) * x(j);
    row(j) = 2.0 * (n - j) * x(j);
  }
  s.AddDense(weighted - 1.0, row);
  return s.value();
}

// (25) Variably dimensioned, m = n + 2.
double VariablyDimensioned(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  SumOfSquares s(n, grad);
  double sum = 0.0;  // sum_j j (x_j - 1)
  VectorXd j_weights(n);
  for (int j = 0; j < n; ++j) {
    s.Add(x(j) - 1.0, {{j, 1.0}});
    sum += (j + 1) * (x(j) - 1.0);
    j_weights(j) = j + 1;
  }
  s.AddDense(sum, j_weights);
  s.AddDense(sum * sum, 2.0 * sum * j_weights);
  return s.value();
}

// (26) Trigonometric, m = n.
double Trigonometric(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const VectorXd c = x.array().cos(), sn = x.array().sin();
  const double sum_cos = c.sum();
  SumOfSquares s(n, grad);
  VectorXd row = sn;
  for (int i = 0; i < n; ++i) {
    const double w = i + 1;
    row(i) += w * sn(i) - c(i);
    s.AddDense(n - sum_cos + w * (1.0 - c(i)) - sn(i), row);
    row(i) = sn(i);
  }
  return s.value();
}

// (27) Brown almost-linear, m = n.
double BrownAlmostLinear(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double sum = x.sum();
  SumOfSquares s(n, grad);
  VectorXd row = VectorXd::Ones(n);
  for (int i = 0; i < n - 1; ++i) {
    row(i) = 2.0;
    s.AddDense(x(i) + sum - (n + 1), row);
    row(i) = 1.0;
  }
  // d/dx_k prod_j x_j = prod_{j != k} x_j, from prefix and suffix products.
  VectorXd prefix(n + 1), suffix(n + 1);
  prefix(0) = 1.0;
  suffix(n) = 1.0;
  for (int j = 0; j < n; ++j) prefix(j + 1) = prefix(j) * x(j);
  for (int j = n - 1; j >= 0; --j) suffix(j) = suffix(j + 1) * x(j);
  for (int k = 0; k < n; ++k) row(k) = prefix(k) * suffix(k + 1);
  s.AddDense(prefix(n) - 1.0, row);
  return s.value();
}

// (28) Discrete boundary value, m = n, h = 1/(n+1), t_i = i h,
// x_0 = x_{n+1} = 0.
double DiscreteBoundaryValue(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double h = 1.0 / (n + 1);
  SumOfSquares s(n, grad);
  for (int i = 0; i < n; ++i) {
    const double t = (i + 1) * h;
    const double u = x(i) + t + 1.0;
    const double left = i > 0 ? x(i - 1) : 0.0;
    const double right = i < n - 1 ? x(i + 1) : 0.0;
    const double r = 2.0 * x(i) - left - right + 0.5 * h * h * u * u * u;
    const double diagonal = 2.0 + 1.5 * h * h * u * u;
    // Out-of-range neighbours get a zero partial on a valid index.
    s.Add(r, {{i, diagonal},
              {std::max(i - 1, 0), i > 0 ? -1.0 : 0.0},
              {std::min(i + 1, n - 1), i < n - 1 ? -1.0 : 0.0}});
  }
  return s.value();
}

// (29) Discrete integral equation, m = n, h and t_i as in (28).
double DiscreteIntegralEquation(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double h = 1.0 / (n + 1);
  VectorXd t(n), u(n);
  for (int j = 0; j < n; ++j) {
    t(j) = (j + 1) * h;
    u(j) = x(j) + t(j) + 1.0;
  }
  SumOfSquares s(n, grad);
  VectorXd row(n);
  for (int i = 0; i < n; ++i) {
    double lower = 0.0, upper = 0.0;
    for (int j = 0; j <= i; ++j) {
      lower += t(j) * u(j) * u(j) * u(j);
      row(j) = 1.5 * h * (1.0 - t(i)) * t(j) * u(j) * u(j);
    }
    for (int j = i + 1; j < n; ++j) {
      upper += (1.0 - t(j)) * u(j) * u(j) * u(j);
      row(j) = 1.5 * h * t(i) * (1.0 - t(j)) * u(j) * u(j);
    }
    row(i) += 1.0;
    s.AddDense(x(i) + 0.5 * h * ((1.0 - t(i)) * lower + t(i) * upper), row);
  }
  return s.value();
}

// (30) Broyden tridiagonal, m = n, x_0 = x_{n+1} = 0.
double BroydenTridiagonal(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  SumOfSquares s(n, grad);
  for (int i = 0; i < n; ++i) {
    const double left = i > 0 ? x(i - 1) : 0.0;
    const double right = i < n - 1 ? x(i + 1) : 0.0;
    s.Add((3.0 - 2.0 * x(i)) * x(i) - left - 2.0 * right + 1.0,
          {{i, 3.0 - 4.0 * x(i)},
           {std::max(i - 1, 0), i > 0 ? -1.0 : 0.0},
           {std::min(i + 1, n - 1), i < n - 1 ? -2.0 : 0.0}});
  }
  return s.value();
}

// (31) Broyden banded, m = n, lower bandwidth 5, upper bandwidth 1.
double BroydenBanded(const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  SumOfSquares s(n, grad);
  VectorXd row(n);
  for (int i = 0; i < n; ++i) {
    row.setZero();
    double r = x(i) * (2.0 + 5.0 * x(i) * x(i)) + 1.0;
    row(i) = 2.0 + 15.0 * x(i) * x(i);
    for (int j = std::max(0, i - 5); j <= std::min(n - 1, i + 1); ++j) {
      if (j == i) continue;
      r -= x(j) * (1.0 + x(j));
      row(j) = -(1.0 + 2.0 * x(j));
    }
    s.AddDense(r, row);
  }
  return s.value();
}

// (32) Linear function - full rank, m >= n.
double LinearFullRank(int m, const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const double common = -2.0 * x.sum() / m - 1.0;
  SumOfSquares s(n, grad);
  VectorXd row = VectorXd::Constant(n, -2.0 / m);
  for (int i = 0; i < m; ++i) {
    if (i < n) {
      row(i) += 1.0;
      s.AddDense(x(i) + common, row);
      row(i) -= 1.0;
    } else {
      s.AddDense(common, row);
    }
  }
  return s.value();
}

// (33) Linear function - rank 1, m >= n.
double LinearRank1(int m, const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const VectorXd j_weights = VectorXd::LinSpaced(n, 1.0, n);
  const double sum = j_weights.dot(x);
  SumOfSquares s(n, grad);
  for (int i = 1; i <= m; ++i) s.AddDense(i * sum - 1.0, i * j_weights);
  return s.value();
}

// (34) Linear function - rank 1 with zero columns and rows, m >= n.
double LinearRank1Zero(int m, const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  VectorXd j_weights = VectorXd::LinSpaced(n, 1.0, n);
  j_weights(0) = 0.0;
  j_weights(n - 1) = 0.0;
  const double sum = j_weights.dot(x);  // sum_{j=2..n-1} j x_j
  SumOfSquares s(n, grad);
  s.Add(-1.0, {});
  for (int i = 2; i <= m - 1; ++i) {
    s.AddDense((i - 1) * sum - 1.0, (i - 1) * j_weights);
  }
  s.Add(-1.0, {});
  return s.value();
}

// (35) Chebyquad, m >= n: f_i = (1/n) sum_j T_i(x_j) - integral_0^1 T_i,
// T_i the Chebyshev polynomial shifted to [0, 1].
double Chebyquad(int m, const VectorXd& x, VectorXd* grad) {
  const int n = static_cast<int>(x.size());
  const VectorXd y = 2.0 * x.array() - 1.0;
  VectorXd t_prev = VectorXd::Ones(n), t_cur = y;
  // Derivatives of T_i(2x - 1) with respect to x.
  VectorXd d_prev = VectorXd::Zero(n), d_cur = VectorXd::Constant(n, 2.0);
  SumOfSquares s(n, grad);
  for (int i = 1; i <= m; ++i) {
    const double integral = i % 2 == 0 ? -1.0 / (i * i - 1.0) : 0.0;
    s.AddDense(t_cur.sum() / n - integral, d_cur / n);
    VectorXd t_next = 2.0 * y.cwiseProduct(t_cur) - t_prev;
    VectorXd d_next = 4.0 * t_cur + 2.0 * y.cwiseProduct(d_cur) - d_prev;
    t_prev = std::move(t_cur);
    t_cur = std::move(t_next);
    d_prev = std::move(d_cur);
    d_cur = std::move(d_next);
  }
  return s.value();
}

using Evaluate = std::function<double(const VectorXd&, VectorXd*)>;

TestProblem Make(std::string name, VectorXd x0, double f_min,
                 Evaluate evaluate) {
  TestProblem p;
  p.name = std::move(name);
  p.n = static_cast<int>(x0.size());
  p.x0 = std::move(x0);
  p.f_min = f_min;
  p.f_tolerance = std::max(1e-8, 1e-6 * std::abs(f_min));
  p.evaluate = std::move(evaluate);
  return p;
}

VectorXd Vec(std::initializer_list<double> values) {
  VectorXd v(values.size());
  int i = 0;
  for (double value : values) v(i++) = value;
  return v;
}

// `block` repeated to n entries.
VectorXd Tile(const VectorXd& block, int n) {
  VectorXd v(n);
  for (int i = 0; i < n; ++i) v(i) = block(i % block.size());
  return v;
}

// t_j (t_j - 1), t_j = j/(n+1): the starting point of (28) and (29).
VectorXd BoundaryValueStart(int n) {
  VectorXd v(n);
  for (int j = 0; j < n; ++j) {
    const double t = (j + 1.0) / (n + 1);
    v(j) = t * (t - 1.0);
  }
  return v;
}

std::vector<TestProblem> MakeProblems() {
  // f_min: the paper's values (6 digits), here to ~13 digits from a
  // Levenberg-Marquardt solve (scipy.optimize.least_squares, method='lm',
  // xtol = ftol = gtol = 1e-15) polished by Newton's method on the gradient;
  // every one agrees with the paper. Local minima are those the paper lists,
  // which scipy's L-BFGS-B reaches from x0.
  std::vector<TestProblem> p;
  // (1) f = 0 at (1, 1).
  p.push_back(Make("rosenbrock", Vec({-1.2, 1.0}), 0.0, Rosenbrock));
  // (2) f = 0 at (5, 4); L-BFGS-B reaches the local minimum 48.9842 at
  // (11.41..., -0.8968...).
  p.push_back(Make("freudenstein_roth", Vec({0.5, -2.0}), 48.98425367924,
                   FreudensteinRoth));
  // (3) f = 0 at (1.098...e-5, 9.106...).
  p.push_back(
      Make("powell_badly_scaled", Vec({0.0, 1.0}), 0.0, PowellBadlyScaled));
  // (4) f = 0 at (1e6, 2e-6).
  p.push_back(
      Make("brown_badly_scaled", Vec({1.0, 1.0}), 0.0, BrownBadlyScaled));
  // (5) f = 0 at (3, 0.5).
  p.push_back(Make("beale", Vec({1.0, 1.0}), 0.0, Beale));
  // (6) m = 10: f = 124.362 at x1 = x2 = 0.2578.
  p.push_back(Make("jennrich_sampson", Vec({0.3, 0.4}), 124.3621823556,
                   JennrichSampson));
  // (7) f = 0 at (1, 0, 0).
  p.push_back(
      Make("helical_valley", Vec({-1.0, 0.0, 0.0}), 0.0, HelicalValley));
  // (8) f = 8.21487e-3; also 17.4286 at (0.8406, -inf, -inf).
  p.push_back(Make("bard", Vec({1.0, 1.0, 1.0}), 8.214877306579e-3, Bard));
  // (9) f = 1.12793e-8.
  p.push_back(
      Make("gaussian", Vec({0.4, 1.0, 0.0}), 1.127932769619e-8, Gaussian));
  // (10) f = 87.9458.
  p.push_back(Make("meyer", Vec({0.02, 4000.0, 250.0}), 87.94585517076, Meyer));
  // (11) f = 0 at (50, 25, 1.5).
  p.push_back(Make("gulf", Vec({5.0, 2.5, 0.15}), 0.0, Gulf));
  // (12) m = 10: f = 0 at (1, 10, 1), (10, 1, -1) and wherever x1 = x2, x3 = 0.
  p.push_back(Make("box_3d", Vec({0.0, 10.0, 20.0}), 0.0, Box3d));
  // (13) f = 0 at the origin.
  p.push_back(Make("powell_singular", Vec({3.0, -1.0, 0.0, 1.0}), 0.0,
                   ExtendedPowellSingular));
  // (14) f = 0 at (1, 1, 1, 1). (It has a saddle point with f = 7.87697 near
  // (-0.968, 0.947, -0.970, 0.951).)
  p.push_back(Make("wood", Vec({-3.0, -1.0, -3.0, -1.0}), 0.0, Wood));
  // (15) f = 3.07505e-4; also 1.02734e-3 at (+inf, -14.07..., -inf, -inf).
  p.push_back(Make("kowalik_osborne", Vec({0.25, 0.39, 0.415, 0.39}),
                   3.075056038492e-4, KowalikOsborne));
  // (16) m = 20: f = 85822.2.
  p.push_back(Make("brown_dennis", Vec({25.0, 5.0, -5.0, -1.0}), 85822.20162636,
                   BrownDennis));
  // (17) f = 5.46489e-5.
  p.push_back(Make("osborne_1", Vec({0.5, 1.5, -1.0, 0.01, 0.02}),
                   5.464894697483e-5, Osborne1));
  // (18) m = 13: f = 0 at (1, 10, 1, 5, 4, 3); L-BFGS-B reaches the paper's
  // other value 5.65565e-3, a stationary point with x1 = x5, x3 = x6 that is
  // a saddle (f decreases along x1 - x5) which L-BFGS-B does not leave.
  p.push_back(Make("biggs_exp6", Vec({1.0, 2.0, 1.0, 1.0, 1.0, 1.0}),
                   5.655649925500e-3, BiggsExp6));
  // (19) f = 4.01377e-2.
  p.push_back(
      Make("osborne_2",
           Vec({1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5}),
           4.013773629355e-2, Osborne2));
  // (20) f = 2.28767e-3 (n = 6), 1.39976e-6 (n = 9).
  p.push_back(Make("watson_6", VectorXd::Zero(6), 2.287670053552e-3, Watson));
  p.push_back(Make("watson_9", VectorXd::Zero(9), 1.399760138102e-6, Watson));
  // (21) f = 0 at (1, ..., 1).
  p.push_back(Make("extended_rosenbrock_1000", Tile(Vec({-1.2, 1.0}), 1000),
                   0.0, ExtendedRosenbrock));
  // (22) f = 0 at the origin.
  p.push_back(Make("extended_powell_100", Tile(Vec({3.0, -1.0, 0.0, 1.0}), 100),
                   0.0, ExtendedPowellSingular));
  // (23) f = 7.08765e-5 (n = 10).
  p.push_back(Make("penalty_1_10", VectorXd::LinSpaced(10, 1.0, 10.0),
                   7.087651467090e-5, Penalty1));
  // (24) f = 2.93660e-4 (n = 10).
  p.push_back(Make("penalty_2_10", VectorXd::Constant(10, 0.5),
                   2.936605374568e-4, Penalty2));
  // (25) f = 0 at (1, ..., 1).
  p.push_back(Make("variably_dimensioned_10",
                   VectorXd::Ones(10) - VectorXd::LinSpaced(10, 0.1, 1.0), 0.0,
                   VariablyDimensioned));
  // (26) f = 0; L-BFGS-B reaches the local minimum 2.79506e-5 (n = 10).
  p.push_back(Make("trigonometric_10", VectorXd::Constant(10, 0.1),
                   2.795056121880e-5, Trigonometric));
  // (27) f = 0 at (a, ..., a, a^(1-n)), n a^n - (n+1) a^(n-1) + 1 = 0; also
  // f = 1 at (0, ..., 0, n+1).
  p.push_back(Make("brown_almost_linear_10", VectorXd::Constant(10, 0.5), 0.0,
                   BrownAlmostLinear));
  // (28) f = 0.
  p.push_back(Make("discrete_boundary_value_10", BoundaryValueStart(10), 0.0,
                   DiscreteBoundaryValue));
  // (29) f = 0.
  p.push_back(Make("discrete_integral_equation_10", BoundaryValueStart(10), 0.0,
                   DiscreteIntegralEquation));
  // (30) f = 0.
  p.push_back(Make("broyden_tridiagonal_10", VectorXd::Constant(10, -1.0), 0.0,
                   BroydenTridiagonal));
  // (31) f = 0.
  p.push_back(Make("broyden_banded_10", VectorXd::Constant(10, -1.0), 0.0,
                   BroydenBanded));
  // (32) m = 20: f = m - n at (-1, ..., -1).
  p.push_back(Make(
      "linear_full_rank_10", VectorXd::Ones(10), 10.0,
      [](const VectorXd& x, VectorXd* g) { return LinearFullRank(20, x, g); }));
  // (33) m = 20: f = m(m-1) / (2(2m+1)) wherever sum_j j x_j = 3/(2m+1).
  p.push_back(Make(
      "linear_rank_1_10", VectorXd::Ones(10), 380.0 / 82.0,
      [](const VectorXd& x, VectorXd* g) { return LinearRank1(20, x, g); }));
  // (34) m = 20: f = (m^2 + 3m - 6) / (2(2m-3)) wherever
  // sum_{j=2..n-1} j x_j = 3/(2m-3).
  p.push_back(Make("linear_rank_1_zero_10", VectorXd::Ones(10), 454.0 / 74.0,
                   [](const VectorXd& x, VectorXd* g) {
                     return LinearRank1Zero(20, x, g);
                   }));
  // (35) m = n = 8: f = 3.51687e-3.
  p.push_back(Make(
      "chebyquad_8", VectorXd::LinSpaced(8, 1.0, 8.0) / 9.0, 3.516873725678e-3,
      [](const VectorXd& x, VectorXd* g) { return Chebyquad(8, x, g); }));
  return p;
}

}  // namespace

const std::vector<TestProblem>& StandardProblems() {
  static const std::vector<TestProblem>* const problems =
      new std::vector<TestProblem>(MakeProblems());
  return *problems;
}

absl::StatusOr<TestProblem> FindProblem(std::string_view name) {
  // Abseil 20220623 on Debian has its own absl::string_view (not
  // std::string_view), hence the std::string copies for StrCat and StrJoin.
  std::vector<std::string> names;
  for (const TestProblem& p : StandardProblems()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  return absl::NotFoundError(
      absl::StrCat("no test problem called '", std::string(name),
                   "'; known: ", absl::StrJoin(names, ", ")));
}

}  // namespace optd::problems
