#!/usr/bin/python3
"""Writes scipy_lm_2point_<version>.txt: scipy's lm with jac='2-point' on MGH.

Runs scipy.optimize.least_squares(residuals, x0, jac='2-point', method='lm')
with all of scipy's other defaults on the problems of mgh_problems.py, from
their standard x0.  scipy then calls MINPACK's lmdif, whose fdjac2 forms the
Jacobian by forward differences (h_j = sqrt(eps) |x_j|, sqrt(eps) when x_j is
0) and counts those n evaluations per Jacobian in nfev and against max_nfev
(default 100 n (n + 1)); see scipy/optimize/_lsq/least_squares.py,
call_minpack.  The file is read by
solvers/adapters/finite_difference_jacobian_test.cc, which runs optd's
LevenbergMarquardt behind WithFiniteDifferenceJacobian on the same problems
and compares nfev, status and cost.  Same problems and skip list as
gen_scipy_lm.py; pin the scipy version (>= 1.15 translated MINPACK to C).

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_lm_2point.py
"""

import os
import sys

from scipy.optimize import least_squares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The problems, the skip list and the table writer: gen_scipy_lm.py's.
from gen_scipy_lm import write_table  # noqa: E402

HEADER = """\
# scipy.optimize.least_squares(fun, x0, jac='2-point', method='lm') with
# scipy's other defaults (ftol = xtol = gtol = 1e-8, x_scale = 1.0,
# diff_step None, max_nfev = 100 n (n + 1)) on the Moré, Garbow & Hillstrom
# (ACM TOMS 7 (1981) 17-41) problems of tests/data/mgh_problems.py (residuals
# r only), from their standard x0: MINPACK lmdif, nfev counting the forward
# differences. scipy {scipy} (Fortran MINPACK), numpy {numpy}, python
# {python}. Regenerate: /usr/bin/python3 tests/data/gen_scipy_lm_2point.py
#
# One line per problem, whitespace-separated columns:
#   name n m nfev status cost x
# status: scipy's (1 gtol, 2 ftol, 3 xtol, 4 ftol and xtol, 0 max_nfev);
# cost: 0.5 |r|^2 at scipy's final x; x: that x, coordinates joined by ','.
"""


def row(problem):
    def fun(x):
        return problem.residuals(x)[0]

    res = least_squares(fun, problem.x0.copy(), jac="2-point", method="lm")
    return [
        problem.name,
        str(problem.n),
        str(problem.m),
        str(res.nfev),
        str(res.status),
        repr(float(res.cost)),
        ",".join(repr(float(v)) for v in res.x),
    ]


def main():
    write_table("scipy_lm_2point", HEADER, row)


if __name__ == "__main__":
    main()
