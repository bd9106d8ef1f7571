// The residuals of Moré, Garbow & Hillstrom (1981) once more, on a
// second-order forward-mode type, to assemble analytic Hessians
// H = 2 (J^T J + sum_i r_i Hess r_i). The numbers in the comments are the
// paper's problem numbers; mgh_problems.cc has the same definitions with
// first derivatives only, and mgh_hessians_test.cc checks that the two agree.
#include "solvers/testing/mgh_hessians.h"

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "solvers/testing/jet2.h"

namespace optd::problems {
namespace {

using Eigen::VectorXd;

constexpr double kPi = 3.14159265358979323846;

// Accumulates f, grad f and Hess f from residuals over a few local variables.
class Assembler {
 public:
  explicit Assembler(const VectorXd& x)
      : x_(x), gradient_(VectorXd::Zero(x.size())) {}

  int n() const { return static_cast<int>(x_.size()); }

  // Makes x[indices] the variables of the following residuals and returns
  // them as jets.
  std::vector<Jet2> Use(std::vector<int> indices) {
    indices_ = std::move(indices);
    const int k = static_cast<int>(indices_.size());
    std::vector<Jet2> v;
    v.reserve(k);
    for (int i = 0; i < k; ++i) v.push_back(Jet2::Variable(x_(indices_[i]), k, i));
    return v;
  }
  std::vector<Jet2> UseAll() {
    std::vector<int> all(n());
    for (int i = 0; i < n(); ++i) all[i] = i;
    return Use(std::move(all));
  }
  // A constant with the current variables' dimension.
  Jet2 Constant(double c) const {
    return Jet2(c, static_cast<int>(indices_.size()));
  }

  // f += r^2, grad += 2 r grad r, Hess += 2 (grad r grad r^T + r Hess r).
  void Add(const Jet2& r) {
    value_ += r.v * r.v;
    const int k = static_cast<int>(indices_.size());
    for (int a = 0; a < k; ++a) {
      gradient_(indices_[a]) += 2.0 * r.v * r.g(a);
      for (int b = 0; b < k; ++b) {
        const double h = 2.0 * (r.g(a) * r.g(b) + r.v * r.h(a, b));
        if (h != 0.0) triplets_.emplace_back(indices_[a], indices_[b], h);
      }
    }
  }

  double value() const { return value_; }
  const VectorXd& gradient() const { return gradient_; }
  Eigen::SparseMatrix<double> Hessian() const {
    Eigen::SparseMatrix<double> h(n(), n());
    h.setFromTriplets(triplets_.begin(), triplets_.end());
    return h;
  }

 private:
  const VectorXd& x_;
  std::vector<int> indices_;
  double value_ = 0.0;
  VectorXd gradient_;
  std::vector<Eigen::Triplet<double>> triplets_;
};

using Residuals = void (*)(Assembler&);

// (1) Rosenbrock.
void Rosenbrock(Assembler& a) {
  auto v = a.UseAll();
  a.Add(10.0 * (v[1] - v[0] * v[0]));
  a.Add(1.0 - v[0]);
}

// (2) Freudenstein and Roth.
void FreudensteinRoth(Assembler& a) {
  auto v = a.UseAll();
  a.Add(-13.0 + v[0] + ((5.0 - v[1]) * v[1] - 2.0) * v[1]);
  a.Add(-29.0 + v[0] + ((v[1] + 1.0) * v[1] - 14.0) * v[1]);
}

// (3) Powell badly scaled.
void PowellBadlyScaled(Assembler& a) {
  auto v = a.UseAll();
  a.Add(1e4 * v[0] * v[1] - 1.0);
  a.Add(Exp(-v[0]) + Exp(-v[1]) - 1.0001);
}

// (4) Brown badly scaled.
void BrownBadlyScaled(Assembler& a) {
  auto v = a.UseAll();
  a.Add(v[0] - 1e6);
  a.Add(v[1] - 2e-6);
  a.Add(v[0] * v[1] - 2.0);
}

// (5) Beale.
void Beale(Assembler& a) {
  static constexpr double kY[] = {1.5, 2.25, 2.625};
  auto v = a.UseAll();
  Jet2 power = v[1];
  for (int i = 0; i < 3; ++i) {
    a.Add(kY[i] - v[0] * (1.0 - power));
    power = power * v[1];
  }
}

// (6) Jennrich and Sampson, m = 10.
void JennrichSampson(Assembler& a) {
  auto v = a.UseAll();
  for (int i = 1; i <= 10; ++i) {
    a.Add(2.0 + 2.0 * i - (Exp(i * v[0]) + Exp(i * v[1])));
  }
}

// (7) Helical valley; theta's branches as in mgh_problems.cc, its derivatives
// those of atan2, which are the same on every branch.
void HelicalValley(Assembler& a) {
  auto v = a.UseAll();
  const double x1 = v[0].v, x2 = v[1].v;
  double theta;
  if (x1 > 0.0) {
    theta = std::atan(x2 / x1) / (2.0 * kPi);
  } else if (x1 < 0.0) {
    theta = std::atan(x2 / x1) / (2.0 * kPi) + 0.5;
  } else {
    theta = x2 >= 0.0 ? 0.25 : -0.25;
  }
  const Jet2 t = Atan2WithValue(v[1], v[0], theta * 2.0 * kPi) / (2.0 * kPi);
  a.Add(10.0 * (v[2] - 10.0 * t));
  a.Add(10.0 * (Sqrt(v[0] * v[0] + v[1] * v[1]) - 1.0));
  a.Add(v[2]);
}

// (8) Bard.
void Bard(Assembler& a) {
  static constexpr double kY[] = {0.14, 0.18, 0.22, 0.25, 0.29,
                                  0.32, 0.35, 0.39, 0.37, 0.58,
                                  0.73, 0.96, 1.34, 2.10, 4.39};
  auto v = a.UseAll();
  for (int i = 1; i <= 15; ++i) {
    const double u = i, w = std::min(i, 16 - i);
    a.Add(kY[i - 1] - (v[0] + u / ((16 - i) * v[1] + w * v[2])));
  }
}

// (9) Gaussian.
void Gaussian(Assembler& a) {
  static constexpr double kY[] = {0.0009, 0.0044, 0.0175, 0.0540, 0.1295,
                                  0.2420, 0.3521, 0.3989, 0.3521, 0.2420,
                                  0.1295, 0.0540, 0.0175, 0.0044, 0.0009};
  auto v = a.UseAll();
  for (int i = 1; i <= 15; ++i) {
    const Jet2 d = (8.0 - i) / 2.0 - v[2];
    a.Add(v[0] * Exp(-0.5 * v[1] * d * d) - kY[i - 1]);
  }
}

// (10) Meyer.
void Meyer(Assembler& a) {
  static constexpr double kY[] = {34780, 28610, 23650, 19630, 16370, 13720,
                                  11540, 9744,  8261,  7030,  6005,  5147,
                                  4427,  3820,  3307,  2872};
  auto v = a.UseAll();
  for (int i = 1; i <= 16; ++i) {
    a.Add(v[0] * Exp(v[1] / (45.0 + 5.0 * i + v[2])) - kY[i - 1]);
  }
}

// (11) Gulf research and development, m = 99.
void Gulf(Assembler& a) {
  auto v = a.UseAll();
  for (int i = 1; i <= 99; ++i) {
    const double t = i / 100.0;
    const double y = 25.0 + std::pow(-50.0 * std::log(t), 2.0 / 3.0);
    const Jet2 power = Exp(v[2] * Log(Abs(y - v[1])));  // |y - x2|^x3
    a.Add(Exp(-power / v[0]) - t);
  }
}

// (12) Box three-dimensional, m = 10.
void Box3d(Assembler& a) {
  auto v = a.UseAll();
  for (int i = 1; i <= 10; ++i) {
    const double t = 0.1 * i;
    a.Add(Exp(-t * v[0]) - Exp(-t * v[1]) -
          v[2] * (std::exp(-t) - std::exp(-10.0 * t)));
  }
}

// (13) Powell singular and (22) extended Powell singular.
void ExtendedPowellSingular(Assembler& a) {
  for (int k = 0; k + 3 < a.n(); k += 4) {
    auto v = a.Use({k, k + 1, k + 2, k + 3});
    a.Add(v[0] + 10.0 * v[1]);
    a.Add(std::sqrt(5.0) * (v[2] - v[3]));
    a.Add((v[1] - 2.0 * v[2]) * (v[1] - 2.0 * v[2]));
    a.Add(std::sqrt(10.0) * (v[0] - v[3]) * (v[0] - v[3]));
  }
}

// (14) Wood.
void Wood(Assembler& a) {
  auto v = a.UseAll();
  a.Add(10.0 * (v[1] - v[0] * v[0]));
  a.Add(1.0 - v[0]);
  a.Add(std::sqrt(90.0) * (v[3] - v[2] * v[2]));
  a.Add(1.0 - v[2]);
  a.Add(std::sqrt(10.0) * (v[1] + v[3] - 2.0));
  a.Add((v[1] - v[3]) / std::sqrt(10.0));
}

// (15) Kowalik and Osborne.
void KowalikOsborne(Assembler& a) {
  static constexpr double kY[] = {0.1957, 0.1947, 0.1735, 0.1600,
                                  0.0844, 0.0627, 0.0456, 0.0342,
                                  0.0323, 0.0235, 0.0246};
  static constexpr double kU[] = {4.0,   2.0, 1.0,    0.5,    0.25,  0.167,
                                  0.125, 0.1, 0.0833, 0.0714, 0.0625};
  auto v = a.UseAll();
  for (int i = 0; i < 11; ++i) {
    const double u = kU[i];
    a.Add(kY[i] - v[0] * (u * u + u * v[1]) / (u * u + u * v[2] + v[3]));
  }
}

// (16) Brown and Dennis, m = 20.
void BrownDennis(Assembler& a) {
  auto v = a.UseAll();
  for (int i = 1; i <= 20; ++i) {
    const double t = i / 5.0;
    const Jet2 p = v[0] + t * v[1] - std::exp(t);
    const Jet2 q = v[2] + std::sin(t) * v[3] - std::cos(t);
    a.Add(p * p + q * q);
  }
}

// (17) Osborne 1.
void Osborne1(Assembler& a) {
  static constexpr double kY[] = {
      0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818,
      0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558,
      0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438,
      0.431, 0.424, 0.420, 0.414, 0.411, 0.406};
  auto v = a.UseAll();
  for (int i = 0; i < 33; ++i) {
    const double t = 10.0 * i;
    a.Add(kY[i] -
          (v[0] + v[1] * Exp(-t * v[3]) + v[2] * Exp(-t * v[4])));
  }
}

// (18) Biggs EXP6, m = 13.
void BiggsExp6(Assembler& a) {
  auto v = a.UseAll();
  for (int i = 1; i <= 13; ++i) {
    const double t = 0.1 * i;
    const double y =
        std::exp(-t) - 5.0 * std::exp(-10.0 * t) + 3.0 * std::exp(-4.0 * t);
    a.Add(v[2] * Exp(-t * v[0]) - v[3] * Exp(-t * v[1]) +
          v[5] * Exp(-t * v[4]) - y);
  }
}

// (19) Osborne 2.
void Osborne2(Assembler& a) {
  static constexpr double kY[] = {
      1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725,
      0.746, 0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724,
      0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495,
      0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429,
      0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632,
      0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
      0.428, 0.292, 0.162, 0.098, 0.054};
  auto v = a.UseAll();
  for (int i = 0; i < 65; ++i) {
    const double t = i / 10.0;
    Jet2 model = v[0] * Exp(-t * v[4]);
    for (int k = 0; k < 3; ++k) {
      const Jet2 d = t - v[8 + k];
      model = model + v[1 + k] * Exp(-(d * d) * v[5 + k]);
    }
    a.Add(kY[i] - model);
  }
}

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

const std::map<std::string, Residuals>& FixedProblems() {
  static const auto* const problems = new std::map<std::string, Residuals>{
      {"rosenbrock", Rosenbrock},
      {"freudenstein_roth", FreudensteinRoth},
      {"powell_badly_scaled", PowellBadlyScaled},
      {"brown_badly_scaled", BrownBadlyScaled},
      {"beale", Beale},
      {"jennrich_sampson", JennrichSampson},
      {"helical_valley", HelicalValley},
      {"bard", Bard},
      {"gaussian", Gaussian},
      {"meyer", Meyer},
      {"gulf", Gulf},
      {"box_3d", Box3d},
      {"powell_singular", ExtendedPowellSingular},
      {"wood", Wood},
      {"kowalik_osborne", KowalikOsborne},
      {"brown_dennis", BrownDennis},
      {"osborne_1", Osborne1},
      {"biggs_exp6", BiggsExp6},
      {"osborne_2", Osborne2},
      {"watson_6", Watson},
      {"watson_9", Watson},
      {"penalty_1_10", Penalty1},
      {"penalty_2_10", Penalty2},
      {"variably_dimensioned_10", VariablyDimensioned},
      {"trigonometric_10", Trigonometric},
      {"brown_almost_linear_10", BrownAlmostLinear},
      {"discrete_integral_equation_10", DiscreteIntegralEquation},
      {"linear_full_rank_10", LinearFullRank},
      {"linear_rank_1_10", LinearRank1},
      {"linear_rank_1_zero_10", LinearRank1Zero},
      {"chebyquad_8", Chebyquad},
  };
  return *problems;
}

struct Family {
  Residuals residuals;
  const char* standard_name;  // the member of StandardProblems()
  int multiple;               // n must be a multiple of this
};

const std::map<std::string, Family>& Families() {
  static const auto* const families = new std::map<std::string, Family>{
      {"extended_rosenbrock",
       {ExtendedRosenbrock, "extended_rosenbrock_1000", 2}},
      {"extended_powell", {ExtendedPowellSingular, "extended_powell_100", 4}},
      {"broyden_tridiagonal",
       {BroydenTridiagonal, "broyden_tridiagonal_10", 1}},
      {"broyden_banded", {BroydenBanded, "broyden_banded_10", 1}},
      {"discrete_boundary_value",
       {DiscreteBoundaryValue, "discrete_boundary_value_10", 1}},
  };
  return *families;
}

// Splits "<family>_<n>" into the family and n; false if `name` has no such
// form or the family is unknown.
bool ParseScalableName(const std::string& name, std::string* family, int* n) {
  const size_t cut = name.rfind('_');
  if (cut == std::string::npos) return false;
  *family = name.substr(0, cut);
  return Families().count(*family) > 0 &&
         absl::SimpleAtoi(name.substr(cut + 1), n) && *n > 0;
}

// The residuals of `name`, or null.
Residuals FindResiduals(const std::string& name) {
  if (auto it = FixedProblems().find(name); it != FixedProblems().end()) {
    return it->second;
  }
  std::string family;
  int n = 0;
  if (ParseScalableName(name, &family, &n)) return Families().at(family).residuals;
  return nullptr;
}

HessianFunction MakeHessian(Residuals residuals) {
  return [residuals](const VectorXd& x) {
    Assembler a(x);
    residuals(a);
    return a.Hessian();
  };
}


}  // namespace

absl::StatusOr<HessianFunction> HessianOf(std::string_view name) {
  const std::string key(name);
  const Residuals residuals = FindResiduals(key);
  if (residuals == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no analytic Hessian for test problem '", key, "'"));
  }
  return MakeHessian(residuals);
}

absl::StatusOr<double> SecondOrderValue(std::string_view name,
                                        const VectorXd& x, VectorXd* gradient) {
  const std::string key(name);
  const Residuals residuals = FindResiduals(key);
  if (residuals == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no analytic Hessian for test problem '", key, "'"));
  }
  Assembler a(x);
  residuals(a);
  *gradient = a.gradient();
  return a.value();
}

const std::vector<std::string_view>& ScalableFamilies() {
  static const auto* const names = new std::vector<std::string_view>{
      "extended_rosenbrock", "extended_powell", "broyden_tridiagonal",
      "broyden_banded", "discrete_boundary_value"};
  return *names;
}

absl::StatusOr<TestProblem> ScalableProblem(std::string_view family_name,
                                            int n) {
  const std::string key(family_name);
  auto it = Families().find(key);
  if (it == Families().end()) {
    return absl::NotFoundError(
        absl::StrCat("no scalable test problem family '", key, "'"));
  }
  const Family& family = it->second;
  if (n < 1 || n % family.multiple != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " needs n a positive multiple of ", family.multiple,
                     "; got ", n));
  }
  absl::StatusOr<TestProblem> standard = FindProblem(family.standard_name);
  if (!standard.ok()) return standard.status();
  TestProblem p = *std::move(standard);
  // The paper's starting points: the standard one's pattern repeated, except
  // for the discrete boundary value problem, whose x0 depends on n.
  const VectorXd pattern = p.x0;
  p.x0.resize(n);
  for (int i = 0; i < n; ++i) {
    if (key == "discrete_boundary_value") {
      const double t = (i + 1.0) / (n + 1);
      p.x0(i) = t * (t - 1.0);
    } else {
      p.x0(i) = pattern(i % family.multiple);
    }
  }
  p.name = absl::StrCat(key, "_", n);
  p.n = n;
  return p;
}

}  // namespace optd::problems
