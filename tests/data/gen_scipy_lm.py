#!/usr/bin/python3
"""Writes scipy_lm_<version>.txt: scipy's least_squares(method='lm') on MGH.

Runs scipy.optimize.least_squares(residuals, x0, jac=jacobian, method='lm')
with all of scipy's defaults (ftol = xtol = gtol = 1e-8, x_scale=1.0, so
MINPACK's lmder runs with mode = 2 and diag = 1; max_nfev = 100 n; factor
100) on the problems of mgh_problems.py, from their standard x0, and writes
one line per problem (see HEADER for the columns).  The file is read by
solvers/least_squares/levenberg_marquardt_test.cc, which runs optd's
LevenbergMarquardt on the same problems and compares.  Pin the scipy
version: scipy >= 1.15 translated MINPACK from Fortran to C.

extended_rosenbrock_1000 is left out (a 1000 x 1000 dense QR per
iteration is more than a unit test wants).

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_lm.py
"""

import os
import sys

import numpy as np
import scipy
from scipy.optimize import least_squares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgh_problems  # noqa: E402

SKIP = {"extended_rosenbrock_1000"}

HEADER = """\
# scipy.optimize.least_squares(fun, x0, jac=jac, method='lm') with scipy's
# defaults (ftol = xtol = gtol = 1e-8, x_scale = 1.0, max_nfev = 100 n) on the
# Moré, Garbow & Hillstrom (ACM TOMS 7 (1981) 17-41) problems of
# tests/data/mgh_problems.py (residuals r and Jacobian J), from their standard
# x0. scipy {scipy} (MINPACK lmder, Fortran), numpy {numpy}, python {python}.
# Generated on an AVX-512 x86-64 machine: numpy's vectorized exp/sin/cos
# round differently there from glibc (and may elsewhere), which moves the
# counts of some exp/trig problems (levenberg_marquardt_test.cc lists them).
# Regenerate: /usr/bin/python3 tests/data/gen_scipy_lm.py
#
# One line per problem, whitespace-separated columns:
#   name n m nfev njev status cost optimality cost_x0 jac_norm_x0 x
# status: scipy's (1 gtol, 2 ftol, 3 xtol, 4 ftol and xtol, 0 max_nfev);
# cost: 0.5 |r|^2 at scipy's final x; optimality: max_i |(J^T r)_i| there;
# cost_x0, jac_norm_x0: numpy's 0.5 |r(x0)|^2 and Frobenius |J(x0)| (the C++
# copy of the problems must reproduce them); x: scipy's final x, the
# coordinates joined by ','.
"""


def write_table(stem, header, row):
    """Writes <stem>_<scipy major.minor>.txt beside this file: `header` (its
    {scipy}, {numpy} and {python} filled in), then one line of the fields
    `row(problem)` returns for every problem of mgh_problems.py but SKIP.
    gen_scipy_lm_2point.py writes its table with it too."""
    version = scipy.__version__
    short = ".".join(version.split(".")[:2])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            f"{stem}_{short}.txt")
    lines = [header.format(scipy=version, numpy=np.__version__,
                           python=sys.version.split()[0])]
    for problem in mgh_problems.PROBLEMS:
        if problem.name in SKIP:
            continue
        fields = row(problem)
        lines.append(" ".join(fields) + "\n")
        print(" ".join(fields[:-1]))  # all but x
    with open(out_path, "w") as out:
        out.writelines(lines)
    print(f"wrote {out_path}")


def row(problem):
    def fun(x):
        return problem.residuals(x)[0]

    def jac(x):
        return problem.residuals(x)[1]

    r0, j0 = problem.residuals(problem.x0.copy())
    res = least_squares(fun, problem.x0.copy(), jac=jac, method="lm")
    return [
        problem.name,
        str(problem.n),
        str(problem.m),
        str(res.nfev),
        str(res.njev),
        str(res.status),
        repr(float(res.cost)),
        repr(float(res.optimality)),
        repr(float(0.5 * (r0 @ r0))),
        repr(float(np.linalg.norm(j0))),
        ",".join(repr(float(v)) for v in res.x),
    ]


def main():
    write_table("scipy_lm", HEADER, row)


if __name__ == "__main__":
    main()
