// Moré, Garbow & Hillstrom's problems of variable dimension, (21) to (35)
// ((22) is (13) on blocks of four: mgh_objectives.cc) (mgh_objectives.h).
// The numbers in the comments are the paper's problem numbers, indices are
// the paper's (1-based) while the code is 0-based.
#include <algorithm>
#include <cmath>

#include "solvers/testing/mgh_objectives.h"

namespace optd::problems::objectives {

using Eigen::VectorXd;

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

}  // namespace optd::problems::objectives
