"""Bound-constrained test problems in numpy: the twin of
solvers/testing/bounded_problems.cc (same names, boxes and starting points).

Most are Moré, Garbow & Hillstrom (ACM TOMS 7 (1981) 17-41) problems of
mgh_problems.py, or their scalable families at larger n, with a box chosen to
cut the unconstrained minimizer (mgh's x0, projected into the box when it
lies outside). Two are not MGH problems:
  driver1_25           the example of L-BFGS-B's driver1.f (Zhu, Byrd, Lu &
                       Nocedal 1997): 4 (0.25 (x_1 - 1)^2 + sum_{i>=2}
                       (x_i - x_{i-1}^2)^2), x_i in [1, 100] for odd i
                       (1-based), [-100, 100] for even i, x0 = 3.
  bounded_quadratic_50 0.5 x'Ax - b'x, A = tridiag(-1, 4, -1), b_i =
                       6 sin(0.7 (i + 1)), x0 = 0: some bounds active at
                       the solution, some not, some sides infinite.

A box is given as two patterns repeated over the variables: lower[i] =
lower_pattern[i % len(lower_pattern)], the same for upper.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgh_problems  # noqa: E402

INF = math.inf

# (name, base problem, n for a scalable family or 0, lower, upper)
TABLE = [
    ("rosenbrock_x1_upper", "rosenbrock", 0, [-INF], [0.5, INF]),
    ("rosenbrock_box", "rosenbrock", 0, [-2.0, -2.0], [0.5, 2.0]),
    ("rosenbrock_x0_outside", "rosenbrock", 0, [-1.0, -0.5], [0.5, 0.2]),
    ("freudenstein_roth_box", "freudenstein_roth", 0, [-INF], [10.0, 3.0]),
    ("beale_box", "beale", 0, [-4.5, -4.5], [2.5, 4.5]),
    ("helical_valley_box", "helical_valley", 0, [-100.0, -1.0, -1.0],
     [0.8, 1.0, 1.0]),
    ("bard_box", "bard", 0, [0.1, 0.0, 0.0], [INF, INF, 2.0]),
    ("box_3d_box", "box_3d", 0, [0.0], [2.0, 8.0, 20.0]),
    ("powell_singular_lower", "powell_singular", 0, [0.1, -INF, -INF, 0.1],
     [INF]),
    ("wood_box", "wood", 0, [-3.0], [0.5, 10.0, 10.0, 10.0]),
    ("kowalik_osborne_box", "kowalik_osborne", 0, [0.0, 0.2, 0.0, 0.0],
     [0.3, 0.5, 0.5, 0.5]),
    ("osborne_1_box", "osborne_1", 0, [0.0, 0.0, -1.2, 0.0, 0.0],
     [1.0, 1.8, 0.0, 1.0, 1.0]),
    ("biggs_exp6_box", "biggs_exp6", 0, [0.0], [10.0]),
    ("watson_6_box", "watson_6", 0, [0.0, -2.0, -2.0, -2.0, -1.0, -2.0],
     [2.0, 1.0, 2.0, 1.0, 2.0, 2.0]),
    ("penalty_1_10_box", "penalty_1_10", 0, [0.2, -INF], [INF]),
    ("trigonometric_10_box", "trigonometric_10", 0, [0.07], [0.3]),
    ("chebyquad_8_box", "chebyquad_8", 0,
     [0.0, 0.0, 0.0, 0.0, 0.55, 0.0, 0.0, 0.0],
     [1.0, 1.0, 1.0, 0.45, 1.0, 1.0, 1.0, 1.0]),
    ("variably_dimensioned_10_box", "variably_dimensioned_10", 0, [-INF],
     [INF, 0.8]),
    ("extended_rosenbrock_10_alt", "extended_rosenbrock", 10,
     [-2.0, -INF, -INF, 1.5], [0.5, INF, INF, 3.0]),
    ("extended_rosenbrock_100_alt", "extended_rosenbrock", 100,
     [-2.0, -INF, -INF, 1.5], [0.5, INF, INF, 3.0]),
    ("extended_rosenbrock_1000_alt", "extended_rosenbrock", 1000,
     [-2.0, -INF, -INF, 1.5], [0.5, INF, INF, 3.0]),
    ("extended_powell_100_lower", "extended_powell", 100,
     [0.1, -INF, -INF, 0.1], [INF]),
    ("broyden_tridiagonal_100_box", "broyden_tridiagonal", 100, [-INF],
     [-0.65]),
    ("broyden_tridiagonal_1000_box", "broyden_tridiagonal", 1000, [-INF],
     [-0.65]),
    ("broyden_banded_100_box", "broyden_banded", 100, [-0.5], [INF]),
    ("discrete_boundary_value_100_box", "discrete_boundary_value", 100,
     [-0.1], [0.0]),
    ("driver1_25", "driver1", 25, [1.0, -100.0], [100.0, 100.0]),
    ("bounded_quadratic_50", "bounded_quadratic", 50,
     [-1.0, -1.0, -INF, -1.0], [1.0, INF, 1.0, 1.0]),
]

_SCALABLE = {
    "extended_rosenbrock": (mgh_problems._extended_rosenbrock, [-1.2, 1.0]),
    "extended_powell": (mgh_problems._extended_powell, [3.0, -1.0, 0.0, 1.0]),
    "broyden_tridiagonal": (mgh_problems._broyden_tridiagonal, [-1.0]),
    "broyden_banded": (mgh_problems._broyden_banded, [-1.0]),
    "discrete_boundary_value": (mgh_problems._discrete_boundary_value, None),
}


class Problem:
    """fun(x) -> (f, g); x0 as given (not projected); lower, upper."""

    def __init__(self, name, n, x0, fun, lower, upper):
        self.name, self.n, self.x0, self.fun = name, n, x0, fun
        self.lower = np.array([lower[i % len(lower)] for i in range(n)])
        self.upper = np.array([upper[i % len(upper)] for i in range(n)])

    def bounds(self):
        return list(zip(self.lower, self.upper))


def _driver1(x):
    t = x[1:] - x[:-1] ** 2
    f = 4.0 * (0.25 * (x[0] - 1.0) ** 2 + float(t @ t))
    g = np.zeros_like(x)
    g[0] = 2.0 * (x[0] - 1.0)
    g[:-1] += -16.0 * x[:-1] * t
    g[1:] += 8.0 * t
    return f, g


def _quadratic(n):
    b = 6.0 * np.sin(0.7 * np.arange(1, n + 1))

    def fun(x):
        ax = 4.0 * x
        ax[1:] -= x[:-1]
        ax[:-1] -= x[1:]
        return float(0.5 * x @ ax - b @ x), ax - b
    return fun


def make(entry):
    name, base, n, lower, upper = entry
    if base == "driver1":
        return Problem(name, n, np.full(n, 3.0), _driver1, lower, upper)
    if base == "bounded_quadratic":
        return Problem(name, n, np.zeros(n), _quadratic(n), lower, upper)
    if n == 0:
        p = mgh_problems.find_problem(base)
        return Problem(name, p.n, p.x0.astype(float), p.fun, lower, upper)
    residuals, pattern = _SCALABLE[base]
    if pattern is None:
        t = np.arange(1, n + 1) / (n + 1.0)
        x0 = t * (t - 1.0)
    else:
        x0 = np.tile(pattern, n // len(pattern) + 1)[:n].astype(float)
    p = mgh_problems.Problem(name, 0, n, n, x0, residuals)
    return Problem(name, n, x0, p.fun, lower, upper)


PROBLEMS = [make(entry) for entry in TABLE]


def find(name):
    for p in PROBLEMS:
        if p.name == name:
            return p
    raise KeyError(name)
