// Moré, Garbow & Hillstrom (1981) problems 1-19 as residuals on Jet2 (the
// numbers are the paper's). mgh_objectives.cc has the same definitions with
// first derivatives; mgh_hessians_test.cc checks that the two agree.
#include "solvers/testing/mgh_residuals.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace optd::problems::residuals {

constexpr double kPi = 3.14159265358979323846;

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

// (7) Helical valley; theta's branches as in mgh_objectives.cc, its derivatives
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
    a.Add(kY[i] - (v[0] + v[1] * Exp(-t * v[3]) + v[2] * Exp(-t * v[4])));
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

}  // namespace optd::problems::residuals
