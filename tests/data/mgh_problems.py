"""Moré, Garbow & Hillstrom unconstrained test problems in numpy.

J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing unconstrained
optimization software", ACM Transactions on Mathematical Software 7 (1981)
17-41, doi:10.1145/355934.355936.  Problem numbers below are the paper's.

Every problem is a sum of squares f(x) = sum_i r_i(x)^2 with gradient
g = 2 J^T r.  The definitions, dimensions and starting points are the same as
in solvers/testing/mgh_problems.cc and mgh_objectives*.cc (the C++ copy is
checked against this one at x0 through tests/data/scipy_lbfgsb_1.10.txt).  Indices in the comments are the
paper's (1-based); the code is 0-based.
"""

import math
from dataclasses import dataclass
from typing import Callable, List, Tuple

import numpy as np


@dataclass
class Problem:
    name: str
    number: int  # the problem's number in the paper
    n: int
    m: int
    x0: np.ndarray
    # residuals(x) -> (r, J): r has m entries, J is m x n.
    residuals: Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]

    def fun(self, x):
        """Returns (f, g) as scipy's minimize(jac=True) wants them."""
        r, jac = self.residuals(np.asarray(x, dtype=float))
        return float(r @ r), 2.0 * (jac.T @ r)


# ---------------------------------------------------------------------------
# (1) Rosenbrock, n = 2, m = 2.
def _rosenbrock(x):
    r = np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
    jac = np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])
    return r, jac


# (2) Freudenstein and Roth, n = 2, m = 2.
def _freudenstein_roth(x):
    x1, x2 = x
    r = np.array([
        -13.0 + x1 + ((5.0 - x2) * x2 - 2.0) * x2,
        -29.0 + x1 + ((x2 + 1.0) * x2 - 14.0) * x2,
    ])
    jac = np.array([
        [1.0, 10.0 * x2 - 3.0 * x2 ** 2 - 2.0],
        [1.0, 3.0 * x2 ** 2 + 2.0 * x2 - 14.0],
    ])
    return r, jac


# (3) Powell badly scaled, n = 2, m = 2.
def _powell_badly_scaled(x):
    x1, x2 = x
    e1, e2 = math.exp(-x1), math.exp(-x2)
    r = np.array([1e4 * x1 * x2 - 1.0, e1 + e2 - 1.0001])
    jac = np.array([[1e4 * x2, 1e4 * x1], [-e1, -e2]])
    return r, jac


# (4) Brown badly scaled, n = 2, m = 3.
def _brown_badly_scaled(x):
    x1, x2 = x
    r = np.array([x1 - 1e6, x2 - 2e-6, x1 * x2 - 2.0])
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [x2, x1]])
    return r, jac


# (5) Beale, n = 2, m = 3.
_BEALE_Y = np.array([1.5, 2.25, 2.625])


def _beale(x):
    x1, x2 = x
    i = np.arange(1, 4)
    r = _BEALE_Y - x1 * (1.0 - x2 ** i)
    jac = np.column_stack([-(1.0 - x2 ** i), x1 * i * x2 ** (i - 1)])
    return r, jac


# (6) Jennrich and Sampson, n = 2, m = 10.
def _jennrich_sampson(x):
    i = np.arange(1, 11, dtype=float)
    e1, e2 = np.exp(i * x[0]), np.exp(i * x[1])
    r = 2.0 + 2.0 * i - (e1 + e2)
    jac = np.column_stack([-i * e1, -i * e2])
    return r, jac


# (7) Helical valley, n = 3, m = 3.  theta as in the paper for x1 != 0 and as
# MINPACK's test functions for x1 == 0 (1/4 sign(x2)).
def _helical_valley(x):
    x1, x2, x3 = x
    tpi = 2.0 * math.pi
    if x1 > 0.0:
        theta = math.atan(x2 / x1) / tpi
    elif x1 < 0.0:
        theta = math.atan(x2 / x1) / tpi + 0.5
    else:
        theta = 0.25 if x2 >= 0.0 else -0.25
    rho2 = x1 * x1 + x2 * x2
    rho = math.sqrt(rho2)
    r = np.array([10.0 * (x3 - 10.0 * theta), 10.0 * (rho - 1.0), x3])
    jac = np.array([
        [100.0 * x2 / (tpi * rho2), -100.0 * x1 / (tpi * rho2), 10.0],
        [10.0 * x1 / rho, 10.0 * x2 / rho, 0.0],
        [0.0, 0.0, 1.0],
    ])
    return r, jac


# (8) Bard, n = 3, m = 15.
_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58,
                    0.73, 0.96, 1.34, 2.10, 4.39])


def _bard(x):
    u = np.arange(1, 16, dtype=float)
    v = 16.0 - u
    w = np.minimum(u, v)
    d = v * x[1] + w * x[2]
    r = _BARD_Y - (x[0] + u / d)
    jac = np.column_stack([-np.ones(15), u * v / d ** 2, u * w / d ** 2])
    return r, jac


# (9) Gaussian, n = 3, m = 15.
_GAUSSIAN_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521,
                        0.3989, 0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044,
                        0.0009])


def _gaussian(x):
    t = (8.0 - np.arange(1, 16)) / 2.0
    d = t - x[2]
    e = np.exp(-0.5 * x[1] * d * d)
    r = x[0] * e - _GAUSSIAN_Y
    jac = np.column_stack([e, -0.5 * x[0] * d * d * e, x[0] * x[1] * d * e])
    return r, jac


# (10) Meyer, n = 3, m = 16.
_MEYER_Y = np.array([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0,
                     11540.0, 9744.0, 8261.0, 7030.0, 6005.0, 5147.0, 4427.0,
                     3820.0, 3307.0, 2872.0])


def _meyer(x):
    t = 45.0 + 5.0 * np.arange(1, 17)
    d = t + x[2]
    e = np.exp(x[1] / d)
    r = x[0] * e - _MEYER_Y
    jac = np.column_stack([e, x[0] * e / d, -x[0] * x[1] * e / d ** 2])
    return r, jac


# (11) Gulf research and development, n = 3, m = 99 (the paper allows
# n <= m <= 100).  The paper's "y_i mi x_2" is y_i - x_2.
def _gulf(x):
    t = np.arange(1, 100) / 100.0
    y = 25.0 + (-50.0 * np.log(t)) ** (2.0 / 3.0)
    d = y - x[1]
    a = np.abs(d)
    p = a ** x[2]
    e = np.exp(-p / x[0])
    r = e - t
    jac = np.column_stack([
        e * p / x[0] ** 2,
        e * x[2] * a ** (x[2] - 1.0) * np.sign(d) / x[0],
        -e * p * np.log(a) / x[0],
    ])
    return r, jac


# (12) Box three-dimensional, n = 3, m = 10.
def _box_3d(x):
    t = 0.1 * np.arange(1, 11)
    e1, e2 = np.exp(-t * x[0]), np.exp(-t * x[1])
    c = np.exp(-t) - np.exp(-10.0 * t)
    r = e1 - e2 - x[2] * c
    jac = np.column_stack([-t * e1, t * e2, -c])
    return r, jac


# (13) Powell singular, n = 4, m = 4.
def _powell_singular(x):
    x1, x2, x3, x4 = x
    s5, s10 = math.sqrt(5.0), math.sqrt(10.0)
    r = np.array([x1 + 10.0 * x2, s5 * (x3 - x4), (x2 - 2.0 * x3) ** 2,
                  s10 * (x1 - x4) ** 2])
    jac = np.array([
        [1.0, 10.0, 0.0, 0.0],
        [0.0, 0.0, s5, -s5],
        [0.0, 2.0 * (x2 - 2.0 * x3), -4.0 * (x2 - 2.0 * x3), 0.0],
        [2.0 * s10 * (x1 - x4), 0.0, 0.0, -2.0 * s10 * (x1 - x4)],
    ])
    return r, jac


# (14) Wood, n = 4, m = 6.
def _wood(x):
    x1, x2, x3, x4 = x
    s90, s10 = math.sqrt(90.0), math.sqrt(10.0)
    r = np.array([10.0 * (x2 - x1 ** 2), 1.0 - x1, s90 * (x4 - x3 ** 2),
                  1.0 - x3, s10 * (x2 + x4 - 2.0), (x2 - x4) / s10])
    jac = np.array([
        [-20.0 * x1, 10.0, 0.0, 0.0],
        [-1.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, -2.0 * s90 * x3, s90],
        [0.0, 0.0, -1.0, 0.0],
        [0.0, s10, 0.0, s10],
        [0.0, 1.0 / s10, 0.0, -1.0 / s10],
    ])
    return r, jac


# (15) Kowalik and Osborne, n = 4, m = 11.
_KOWALIK_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456,
                       0.0342, 0.0323, 0.0235, 0.0246])
_KOWALIK_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833,
                       0.0714, 0.0625])


def _kowalik_osborne(x):
    u = _KOWALIK_U
    num = u * u + u * x[1]
    den = u * u + u * x[2] + x[3]
    r = _KOWALIK_Y - x[0] * num / den
    jac = np.column_stack([-num / den, -x[0] * u / den,
                           x[0] * num * u / den ** 2, x[0] * num / den ** 2])
    return r, jac


# (16) Brown and Dennis, n = 4, m = 20.
def _brown_dennis(x):
    t = np.arange(1, 21) / 5.0
    a = x[0] + t * x[1] - np.exp(t)
    b = x[2] + x[3] * np.sin(t) - np.cos(t)
    r = a * a + b * b
    jac = np.column_stack([2.0 * a, 2.0 * a * t, 2.0 * b, 2.0 * b * np.sin(t)])
    return r, jac


# (17) Osborne 1, n = 5, m = 33.
_OSBORNE1_Y = np.array([
    0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
    0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
    0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])


def _osborne_1(x):
    t = 10.0 * np.arange(33)
    e4, e5 = np.exp(-t * x[3]), np.exp(-t * x[4])
    r = _OSBORNE1_Y - (x[0] + x[1] * e4 + x[2] * e5)
    jac = np.column_stack([-np.ones(33), -e4, -e5, t * x[1] * e4,
                           t * x[2] * e5])
    return r, jac


# (18) Biggs EXP6, n = 6, m = 13.
def _biggs_exp6(x):
    t = 0.1 * np.arange(1, 14)
    y = np.exp(-t) - 5.0 * np.exp(-10.0 * t) + 3.0 * np.exp(-4.0 * t)
    e1, e2, e5 = np.exp(-t * x[0]), np.exp(-t * x[1]), np.exp(-t * x[4])
    r = x[2] * e1 - x[3] * e2 + x[5] * e5 - y
    jac = np.column_stack([-t * x[2] * e1, t * x[3] * e2, e1, -e2,
                           -t * x[5] * e5, e5])
    return r, jac


# (19) Osborne 2, n = 11, m = 65.
_OSBORNE2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746,
    0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649,
    0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395,
    0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653,
    0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739,
    0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])


def _osborne_2(x):
    t = np.arange(65) / 10.0
    e1 = np.exp(-t * x[4])
    cols = [None] * 11
    model = x[0] * e1
    cols[0] = -e1
    cols[4] = t * x[0] * e1
    for k in range(3):  # the three Gaussian terms: x[1+k], x[5+k], x[8+k]
        d = t - x[8 + k]
        e = np.exp(-d * d * x[5 + k])
        model = model + x[1 + k] * e
        cols[1 + k] = -e
        cols[5 + k] = x[1 + k] * d * d * e
        cols[8 + k] = -2.0 * x[1 + k] * x[5 + k] * d * e
    r = _OSBORNE2_Y - model
    return r, np.column_stack(cols)


# (20) Watson, 2 <= n <= 31, m = 31.
def _make_watson(n):
    def residuals(x):
        t = np.arange(1, 30) / 29.0
        j = np.arange(n)
        powers = t[:, None] ** j[None, :]  # t_i^(j-1), paper's j = 1..n
        s1 = powers[:, :n - 1] @ (j[1:] * x[1:])  # sum (j-1) x_j t^(j-2)
        s2 = powers @ x
        r = np.empty(31)
        r[:29] = s1 - s2 * s2 - 1.0
        r[29] = x[0]
        r[30] = x[1] - x[0] ** 2 - 1.0
        jac = np.zeros((31, n))
        jac[:29, 1:] = j[1:] * powers[:, :n - 1]
        jac[:29, :] -= 2.0 * s2[:, None] * powers
        jac[29, 0] = 1.0
        jac[30, 0] = -2.0 * x[0]
        jac[30, 1] = 1.0
        return r, jac
    return residuals


# (21) Extended Rosenbrock, n even, m = n.
def _extended_rosenbrock(x):
    n = x.size
    odd, even = x[0::2], x[1::2]
    r = np.empty(n)
    r[0::2] = 10.0 * (even - odd ** 2)
    r[1::2] = 1.0 - odd
    jac = np.zeros((n, n))
    k = np.arange(0, n, 2)
    jac[k, k] = -20.0 * odd
    jac[k, k + 1] = 10.0
    jac[k + 1, k] = -1.0
    return r, jac


# (22) Extended Powell singular, n multiple of 4, m = n.
def _extended_powell(x):
    n = x.size
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    s5, s10 = math.sqrt(5.0), math.sqrt(10.0)
    r = np.empty(n)
    r[0::4] = a + 10.0 * b
    r[1::4] = s5 * (c - d)
    r[2::4] = (b - 2.0 * c) ** 2
    r[3::4] = s10 * (a - d) ** 2
    jac = np.zeros((n, n))
    k = np.arange(0, n, 4)
    jac[k, k] = 1.0
    jac[k, k + 1] = 10.0
    jac[k + 1, k + 2] = s5
    jac[k + 1, k + 3] = -s5
    jac[k + 2, k + 1] = 2.0 * (b - 2.0 * c)
    jac[k + 2, k + 2] = -4.0 * (b - 2.0 * c)
    jac[k + 3, k] = 2.0 * s10 * (a - d)
    jac[k + 3, k + 3] = -2.0 * s10 * (a - d)
    return r, jac


# (23) Penalty function I, m = n + 1, a = 1e-5.
def _penalty_1(x):
    n = x.size
    sa = math.sqrt(1e-5)
    r = np.empty(n + 1)
    r[:n] = sa * (x - 1.0)
    r[n] = x @ x - 0.25
    jac = np.zeros((n + 1, n))
    jac[np.arange(n), np.arange(n)] = sa
    jac[n, :] = 2.0 * x
    return r, jac


# (24) Penalty function II, m = 2n, a = 1e-5.
def _penalty_2(x):
    n = x.size
    sa = math.sqrt(1e-5)
    i = np.arange(2, n + 1)  # paper's i = 2..n
    y = np.exp(i / 10.0) + np.exp((i - 1) / 10.0)
    e = np.exp(x / 10.0)
    r = np.empty(2 * n)
    jac = np.zeros((2 * n, n))
    r[0] = x[0] - 0.2
    jac[0, 0] = 1.0
    r[1:n] = sa * (e[1:] + e[:-1] - y)
    rows = np.arange(1, n)
    jac[rows, rows] = sa * e[1:] / 10.0
    jac[rows, rows - 1] = sa * e[:-1] / 10.0
    # paper's i = n+1..2n-1 use x_{i-n+1} = x_2..x_n.
    r[n:2 * n - 1] = sa * (e[1:] - math.exp(-0.1))
    jac[np.arange(n, 2 * n - 1), np.arange(1, n)] = sa * e[1:] / 10.0
    weights = n - np.arange(n)  # n - j + 1 for j = 1..n
    r[2 * n - 1] = weights @ (x * x) - 1.0
    jac[2 * n - 1, :] = 2.0 * weights * x
    return r, jac


# (25) Variably dimensioned, m = n + 2.
def _variably_dimensioned(x):
    n = x.size
    j = np.arange(1, n + 1, dtype=float)
    s = j @ (x - 1.0)
    r = np.empty(n + 2)
    r[:n] = x - 1.0
    r[n] = s
    r[n + 1] = s * s
    jac = np.zeros((n + 2, n))
    jac[np.arange(n), np.arange(n)] = 1.0
    jac[n, :] = j
    jac[n + 1, :] = 2.0 * s * j
    return r, jac


# (26) Trigonometric, m = n.
def _trigonometric(x):
    n = x.size
    i = np.arange(1, n + 1, dtype=float)
    c, s = np.cos(x), np.sin(x)
    r = n - c.sum() + i * (1.0 - c) - s
    jac = np.tile(s, (n, 1))
    jac[np.arange(n), np.arange(n)] += i * s - c
    return r, jac


# (27) Brown almost-linear, m = n.
def _brown_almost_linear(x):
    n = x.size
    r = np.empty(n)
    r[:n - 1] = x[:n - 1] + x.sum() - (n + 1)
    r[n - 1] = np.prod(x) - 1.0
    jac = np.ones((n, n))
    jac[np.arange(n - 1), np.arange(n - 1)] = 2.0
    jac[n - 1, :] = [np.prod(np.delete(x, k)) for k in range(n)]
    return r, jac


# (28) Discrete boundary value, m = n, h = 1/(n+1), t_i = i h, x_0 = x_{n+1} = 0.
def _discrete_boundary_value(x):
    n = x.size
    h = 1.0 / (n + 1)
    t = np.arange(1, n + 1) * h
    xp = np.concatenate([[0.0], x, [0.0]])
    u = x + t + 1.0
    r = 2.0 * x - xp[:-2] - xp[2:] + 0.5 * h * h * u ** 3
    jac = np.zeros((n, n))
    k = np.arange(n)
    jac[k, k] = 2.0 + 1.5 * h * h * u * u
    jac[k[1:], k[1:] - 1] = -1.0
    jac[k[:-1], k[:-1] + 1] = -1.0
    return r, jac


# (29) Discrete integral equation, m = n.
def _discrete_integral_equation(x):
    n = x.size
    h = 1.0 / (n + 1)
    t = np.arange(1, n + 1) * h
    u = x + t + 1.0
    r = np.empty(n)
    jac = np.zeros((n, n))
    for i in range(n):
        lower = t[:i + 1] * u[:i + 1] ** 3
        upper = (1.0 - t[i + 1:]) * u[i + 1:] ** 3
        r[i] = x[i] + 0.5 * h * ((1.0 - t[i]) * lower.sum() + t[i] * upper.sum())
        jac[i, :i + 1] = 1.5 * h * (1.0 - t[i]) * t[:i + 1] * u[:i + 1] ** 2
        jac[i, i + 1:] = 1.5 * h * t[i] * (1.0 - t[i + 1:]) * u[i + 1:] ** 2
        jac[i, i] += 1.0
    return r, jac


# (30) Broyden tridiagonal, m = n, x_0 = x_{n+1} = 0.
def _broyden_tridiagonal(x):
    n = x.size
    xp = np.concatenate([[0.0], x, [0.0]])
    r = (3.0 - 2.0 * x) * x - xp[:-2] - 2.0 * xp[2:] + 1.0
    jac = np.zeros((n, n))
    k = np.arange(n)
    jac[k, k] = 3.0 - 4.0 * x
    jac[k[1:], k[1:] - 1] = -1.0
    jac[k[:-1], k[:-1] + 1] = -2.0
    return r, jac


# (31) Broyden banded, m = n, ml = 5, mu = 1.
def _broyden_banded(x):
    n = x.size
    r = np.empty(n)
    jac = np.zeros((n, n))
    for i in range(n):
        r[i] = x[i] * (2.0 + 5.0 * x[i] ** 2) + 1.0
        jac[i, i] = 2.0 + 15.0 * x[i] ** 2
        for j in range(max(0, i - 5), min(n - 1, i + 1) + 1):
            if j != i:
                r[i] -= x[j] * (1.0 + x[j])
                jac[i, j] = -(1.0 + 2.0 * x[j])
    return r, jac


# (32) Linear function - full rank, m >= n.
def _make_linear_full_rank(m):
    def residuals(x):
        n = x.size
        s = x.sum()
        r = np.full(m, -2.0 * s / m - 1.0)
        r[:n] += x
        jac = np.full((m, n), -2.0 / m)
        jac[np.arange(n), np.arange(n)] += 1.0
        return r, jac
    return residuals


# (33) Linear function - rank 1, m >= n.
def _make_linear_rank_1(m):
    def residuals(x):
        n = x.size
        i = np.arange(1, m + 1, dtype=float)
        j = np.arange(1, n + 1, dtype=float)
        r = i * (j @ x) - 1.0
        return r, np.outer(i, j)
    return residuals


# (34) Linear function - rank 1 with zero columns and rows, m >= n.
def _make_linear_rank_1_zero(m):
    def residuals(x):
        n = x.size
        j = np.arange(1, n + 1, dtype=float)
        j[0] = 0.0
        j[n - 1] = 0.0
        c = np.arange(m, dtype=float)  # paper's (i - 1)
        c[m - 1] = 0.0
        r = c * (j @ x) - 1.0
        return r, np.outer(c, j)
    return residuals


# (35) Chebyquad, m >= n; T_i is the Chebyshev polynomial shifted to [0, 1].
def _make_chebyquad(m):
    def residuals(x):
        n = x.size
        y = 2.0 * x - 1.0
        t_prev, t_cur = np.ones(n), y.copy()
        d_prev, d_cur = np.zeros(n), 2.0 * np.ones(n)  # d/dx of T_i(2x - 1)
        r = np.empty(m)
        jac = np.empty((m, n))
        for i in range(1, m + 1):
            integral = -1.0 / (i * i - 1.0) if i % 2 == 0 else 0.0
            r[i - 1] = t_cur.sum() / n - integral
            jac[i - 1, :] = d_cur / n
            t_prev, t_cur = t_cur, 2.0 * y * t_cur - t_prev
            d_prev, d_cur = d_cur, 4.0 * t_prev + 2.0 * y * d_cur - d_prev
        return r, jac
    return residuals


def _problems() -> List[Problem]:
    def p(name, number, n, m, x0, residuals):
        x0 = np.asarray(x0, dtype=float)
        assert x0.size == n, name
        return Problem(name, number, n, m, x0, residuals)

    n = 10
    h = 1.0 / (n + 1)
    t = np.arange(1, n + 1) * h
    return [
        p("rosenbrock", 1, 2, 2, [-1.2, 1.0], _rosenbrock),
        p("freudenstein_roth", 2, 2, 2, [0.5, -2.0], _freudenstein_roth),
        p("powell_badly_scaled", 3, 2, 2, [0.0, 1.0], _powell_badly_scaled),
        p("brown_badly_scaled", 4, 2, 3, [1.0, 1.0], _brown_badly_scaled),
        p("beale", 5, 2, 3, [1.0, 1.0], _beale),
        p("jennrich_sampson", 6, 2, 10, [0.3, 0.4], _jennrich_sampson),
        p("helical_valley", 7, 3, 3, [-1.0, 0.0, 0.0], _helical_valley),
        p("bard", 8, 3, 15, [1.0, 1.0, 1.0], _bard),
        p("gaussian", 9, 3, 15, [0.4, 1.0, 0.0], _gaussian),
        p("meyer", 10, 3, 16, [0.02, 4000.0, 250.0], _meyer),
        p("gulf", 11, 3, 99, [5.0, 2.5, 0.15], _gulf),
        p("box_3d", 12, 3, 10, [0.0, 10.0, 20.0], _box_3d),
        p("powell_singular", 13, 4, 4, [3.0, -1.0, 0.0, 1.0], _powell_singular),
        p("wood", 14, 4, 6, [-3.0, -1.0, -3.0, -1.0], _wood),
        p("kowalik_osborne", 15, 4, 11, [0.25, 0.39, 0.415, 0.39],
          _kowalik_osborne),
        p("brown_dennis", 16, 4, 20, [25.0, 5.0, -5.0, -1.0], _brown_dennis),
        p("osborne_1", 17, 5, 33, [0.5, 1.5, -1.0, 0.01, 0.02], _osborne_1),
        p("biggs_exp6", 18, 6, 13, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], _biggs_exp6),
        p("osborne_2", 19, 11, 65,
          [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5], _osborne_2),
        p("watson_6", 20, 6, 31, np.zeros(6), _make_watson(6)),
        p("watson_9", 20, 9, 31, np.zeros(9), _make_watson(9)),
        p("extended_rosenbrock_1000", 21, 1000, 1000,
          np.tile([-1.2, 1.0], 500), _extended_rosenbrock),
        p("extended_powell_100", 22, 100, 100, np.tile([3.0, -1.0, 0.0, 1.0], 25),
          _extended_powell),
        p("penalty_1_10", 23, 10, 11, np.arange(1, 11), _penalty_1),
        p("penalty_2_10", 24, 10, 20, np.full(10, 0.5), _penalty_2),
        p("variably_dimensioned_10", 25, 10, 12, 1.0 - np.arange(1, 11) / 10.0,
          _variably_dimensioned),
        p("trigonometric_10", 26, 10, 10, np.full(10, 0.1), _trigonometric),
        p("brown_almost_linear_10", 27, 10, 10, np.full(10, 0.5),
          _brown_almost_linear),
        p("discrete_boundary_value_10", 28, 10, 10, t * (t - 1.0),
          _discrete_boundary_value),
        p("discrete_integral_equation_10", 29, 10, 10, t * (t - 1.0),
          _discrete_integral_equation),
        p("broyden_tridiagonal_10", 30, 10, 10, np.full(10, -1.0),
          _broyden_tridiagonal),
        p("broyden_banded_10", 31, 10, 10, np.full(10, -1.0), _broyden_banded),
        p("linear_full_rank_10", 32, 10, 20, np.ones(10),
          _make_linear_full_rank(20)),
        p("linear_rank_1_10", 33, 10, 20, np.ones(10), _make_linear_rank_1(20)),
        p("linear_rank_1_zero_10", 34, 10, 20, np.ones(10),
          _make_linear_rank_1_zero(20)),
        p("chebyquad_8", 35, 8, 8, np.arange(1, 9) / 9.0, _make_chebyquad(8)),
    ]


PROBLEMS: List[Problem] = _problems()


def find_problem(name: str) -> Problem:
    for problem in PROBLEMS:
        if problem.name == name:
            return problem
    raise KeyError(name)
