// Moré, Garbow & Hillstrom's problems of fixed dimension, (1) to (20)
// (mgh_objectives.h). The numbers in the comments are the paper's problem
// numbers, indices are the paper's (1-based) while the code is 0-based.
#include "solvers/testing/mgh_objectives.h"

#include <algorithm>
#include <cmath>

namespace optd::problems::objectives {

using Eigen::VectorXd;

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

}  // namespace optd::problems::objectives
