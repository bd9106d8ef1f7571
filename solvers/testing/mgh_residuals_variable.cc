// Moré, Garbow & Hillstrom (1981) problems 20-35, of variable dimension, as
// residuals on Jet2 (the numbers are the paper's). mgh_objectives*.cc have
// the same definitions with first derivatives; mgh_hessians_test.cc checks
// that the two agree.
#include <algorithm>
#include <cmath>
#include <vector>

#include "solvers/testing/mgh_residuals.h"

namespace optd::problems::residuals {

// (20) Watson, m = 31.
void Watson(Assembler& a) {
  auto v = a.UseAll();
  const int n = a.n();
  for (int i = 1; i <= 29; ++i) {
    const double t = i / 29.0;
    Jet2 s1 = a.Constant(0.0), s2 = a.Constant(0.0);
    double power = 1.0;  // t^k
    for (int k = 0; k < n; ++k) {
      if (k > 0) s1 = s1 + (k * power / t) * v[k];
      s2 = s2 + power * v[k];
      power *= t;
    }
    a.Add(s1 - s2 * s2 - 1.0);
  }
  a.Add(v[0]);
  a.Add(v[1] - v[0] * v[0] - 1.0);
}

// (21) Extended Rosenbrock.
void ExtendedRosenbrock(Assembler& a) {
  for (int k = 0; k + 1 < a.n(); k += 2) {
    auto v = a.Use({k, k + 1});
    a.Add(10.0 * (v[1] - v[0] * v[0]));
    a.Add(1.0 - v[0]);
  }
}

// (23) Penalty function I, a = 1e-5.
void Penalty1(Assembler& a) {
  auto v = a.UseAll();
  Jet2 sum = a.Constant(-0.25);
  for (int j = 0; j < a.n(); ++j) {
    a.Add(std::sqrt(1e-5) * (v[j] - 1.0));
    sum = sum + v[j] * v[j];
  }
  a.Add(sum);
}

// (24) Penalty function II, a = 1e-5.
void Penalty2(Assembler& a) {
  auto v = a.UseAll();
  const int n = a.n();
  const double sa = std::sqrt(1e-5);
  a.Add(v[0] - 0.2);
  for (int i = 2; i <= n; ++i) {
    const double y = std::exp(i / 10.0) + std::exp((i - 1) / 10.0);
    a.Add(sa * (Exp(v[i - 1] / 10.0) + Exp(v[i - 2] / 10.0) - y));
  }
  for (int j = 1; j < n; ++j) a.Add(sa * (Exp(v[j] / 10.0) - std::exp(-0.1)));
  Jet2 weighted = a.Constant(-1.0);
  for (int j = 0; j < n; ++j) weighted = weighted + (n - j) * (v[j] * v[j]);
  a.Add(weighted);
}

// (25) Variably dimensioned.
void VariablyDimensioned(Assembler& a) {
  auto v = a.UseAll();
  Jet2 sum = a.Constant(0.0);
  for (int j = 0; j < a.n(); ++j) {
    a.Add(v[j] - 1.0);
    sum = sum + (j + 1.0) * (v[j] - 1.0);
  }
  a.Add(sum);
  a.Add(sum * sum);
}

// (26) Trigonometric.
void Trigonometric(Assembler& a) {
  auto v = a.UseAll();
  const int n = a.n();
  Jet2 sum_cos = a.Constant(0.0);
  for (int j = 0; j < n; ++j) sum_cos = sum_cos + Cos(v[j]);
  for (int i = 0; i < n; ++i) {
    a.Add(n - sum_cos + (i + 1.0) * (1.0 - Cos(v[i])) - Sin(v[i]));
  }
}

// (27) Brown almost-linear.
void BrownAlmostLinear(Assembler& a) {
  auto v = a.UseAll();
  const int n = a.n();
  Jet2 sum = a.Constant(0.0), product = a.Constant(1.0);
  for (int j = 0; j < n; ++j) {
    sum = sum + v[j];
    product = product * v[j];
  }
  for (int i = 0; i < n - 1; ++i) a.Add(v[i] + sum - (n + 1.0));
  a.Add(product - 1.0);
}

namespace {

// The variables i-1, i, i+1 that exist, and jets for all three (zero outside).
struct Neighbours {
  Jet2 left, centre, right;
};
Neighbours UseNeighbours(Assembler& a, int i) {
  std::vector<int> indices;
  if (i > 0) indices.push_back(i - 1);
  indices.push_back(i);
  if (i + 1 < a.n()) indices.push_back(i + 1);
  auto v = a.Use(indices);
  const int c = i > 0 ? 1 : 0;
  return {i > 0 ? v[0] : a.Constant(0.0), v[c],
          i + 1 < a.n() ? v[c + 1] : a.Constant(0.0)};
}

}  // namespace

// (28) Discrete boundary value.
void DiscreteBoundaryValue(Assembler& a) {
  const double h = 1.0 / (a.n() + 1);
  for (int i = 0; i < a.n(); ++i) {
    const Neighbours v = UseNeighbours(a, i);
    const Jet2 u = v.centre + (i + 1) * h + 1.0;
    a.Add(2.0 * v.centre - v.left - v.right + 0.5 * h * h * u * u * u);
  }
}

// (29) Discrete integral equation.
void DiscreteIntegralEquation(Assembler& a) {
  auto v = a.UseAll();
  const int n = a.n();
  const double h = 1.0 / (n + 1);
  for (int i = 0; i < n; ++i) {
    const double ti = (i + 1) * h;
    Jet2 lower = a.Constant(0.0), upper = a.Constant(0.0);
    for (int j = 0; j < n; ++j) {
      const double tj = (j + 1) * h;
      const Jet2 u = v[j] + tj + 1.0;
      if (j <= i) {
        lower = lower + tj * (u * u * u);
      } else {
        upper = upper + (1.0 - tj) * (u * u * u);
      }
    }
    a.Add(v[i] + 0.5 * h * ((1.0 - ti) * lower + ti * upper));
  }
}

// (30) Broyden tridiagonal.
void BroydenTridiagonal(Assembler& a) {
  for (int i = 0; i < a.n(); ++i) {
    const Neighbours v = UseNeighbours(a, i);
    a.Add((3.0 - 2.0 * v.centre) * v.centre - v.left - 2.0 * v.right + 1.0);
  }
}

// (31) Broyden banded: lower bandwidth 5, upper 1.
void BroydenBanded(Assembler& a) {
  const int n = a.n();
  for (int i = 0; i < n; ++i) {
    const int lo = std::max(0, i - 5), hi = std::min(n - 1, i + 1);
    std::vector<int> indices;
    for (int j = lo; j <= hi; ++j) indices.push_back(j);
    auto v = a.Use(indices);
    const Jet2& xi = v[i - lo];
    Jet2 r = xi * (2.0 + 5.0 * xi * xi) + 1.0;
    for (int j = lo; j <= hi; ++j) {
      if (j != i) r = r - v[j - lo] * (1.0 + v[j - lo]);
    }
    a.Add(r);
  }
}

// (32) Linear function - full rank, m = 20.
void LinearFullRank(Assembler& a) {
  constexpr int m = 20;
  auto v = a.UseAll();
  Jet2 sum = a.Constant(0.0);
  for (int j = 0; j < a.n(); ++j) sum = sum + v[j];
  for (int i = 0; i < m; ++i) {
    const Jet2 common = -2.0 / m * sum - 1.0;
    a.Add(i < a.n() ? v[i] + common : common);
  }
}

// (33) Linear function - rank 1, m = 20.
void LinearRank1(Assembler& a) {
  auto v = a.UseAll();
  Jet2 sum = a.Constant(0.0);
  for (int j = 0; j < a.n(); ++j) sum = sum + (j + 1.0) * v[j];
  for (int i = 1; i <= 20; ++i) a.Add(i * sum - 1.0);
}

// (34) Linear function - rank 1 with zero columns and rows, m = 20.
void LinearRank1Zero(Assembler& a) {
  constexpr int m = 20;
  auto v = a.UseAll();
  Jet2 sum = a.Constant(0.0);
  for (int j = 1; j + 1 < a.n(); ++j) sum = sum + (j + 1.0) * v[j];
  a.Add(a.Constant(-1.0));
  for (int i = 2; i <= m - 1; ++i) a.Add((i - 1.0) * sum - 1.0);
  a.Add(a.Constant(-1.0));
}

// (35) Chebyquad, m = n.
void Chebyquad(Assembler& a) {
  auto v = a.UseAll();
  const int n = a.n();
  std::vector<Jet2> t_prev, t_cur;
  for (int j = 0; j < n; ++j) {
    t_prev.push_back(a.Constant(1.0));
    t_cur.push_back(2.0 * v[j] - 1.0);
  }
  for (int i = 1; i <= n; ++i) {
    const double integral = i % 2 == 0 ? -1.0 / (i * i - 1.0) : 0.0;
    Jet2 sum = a.Constant(0.0);
    for (int j = 0; j < n; ++j) sum = sum + t_cur[j];
    a.Add(sum / n - integral);
    for (int j = 0; j < n; ++j) {
      Jet2 next = 2.0 * (2.0 * v[j] - 1.0) * t_cur[j] - t_prev[j];
      t_prev[j] = std::move(t_cur[j]);
      t_cur[j] = std::move(next);
    }
  }
}

}  // namespace optd::problems::residuals
