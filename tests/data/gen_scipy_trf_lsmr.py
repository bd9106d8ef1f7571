#!/usr/bin/python3
"""Writes scipy_trf_lsmr_<version>.txt: scipy's matrix-free trf runs.

Runs scipy.optimize.least_squares(fun, x0, jac=jac, method='trf',
tr_solver='lsmr') with jac returning a scipy.sparse.linalg.LinearOperator
(matvec J v, rmatvec J^T u; the dense J of the problem is only used inside
the products), scipy's defaults otherwise (ftol = xtol = gtol = 1e-8,
max_nfev = 100 n, tr_options {}: lsmr atol = btol = 1e-6, maxiter min(m, n),
regularize True), on the same runs as gen_scipy_trf.py except x_scale='jac'
(scipy refuses it with a LinearOperator) and problems of one variable (the
2-D subspace needs n >= 2):
  - the problems of mgh_problems.py, unbounded (trf_no_bounds);
  - the boxes of bounded_problems.py over MGH residual problems (trf_bounds);
  - rational_outliers (gen_scipy_trf.py) with each robust loss.
It also counts the products the LinearOperator was asked for. Read by
solvers/least_squares/trf_lsmr_test.cc.

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_trf_lsmr.py
"""

import os
import sys

import numpy as np
import scipy
from scipy.optimize import least_squares
from scipy.sparse.linalg import LinearOperator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_scipy_trf  # noqa: E402

HEADER = """\
# scipy.optimize.least_squares(fun, x0, jac=jac, method='trf',
# tr_solver='lsmr') with jac returning a LinearOperator, ftol = xtol = gtol =
# 1e-8, max_nfev = 100 n, tr_options {{}}, on the runs of scipy_trf_1.10.txt
# without x_scale='jac' and without one-variable problems.
# scipy {scipy}, numpy {numpy}, python {python}.
# Regenerate: /usr/bin/python3 tests/data/gen_scipy_trf_lsmr.py
#
# One line per run, whitespace-separated columns:
#   run problem loss f_scale nfev njev status cost optimality matvec rmatvec
#   active_mask x lb ub x0
# As scipy_trf_1.10.txt; matvec and rmatvec: the products J v and J^T u the
# LinearOperators were asked for (scipy multiplies again where optd reuses
# J S, so only rmatvec is comparable).
"""


class Counter:
    def __init__(self):
        self.matvec = 0
        self.rmatvec = 0


def operator_jac(jac_dense, counter):
    def jac(x, *args):
        j = jac_dense(x)

        def matvec(v):
            counter.matvec += 1
            return j.dot(np.ravel(v))

        def rmatvec(u):
            counter.rmatvec += 1
            return j.T.dot(np.ravel(u))
        return LinearOperator(j.shape, matvec=matvec, rmatvec=rmatvec)
    return jac


def vec(v):
    return ",".join(repr(float(e)) for e in v)


def run(lines, run_name, problem, fun, jac_dense, x0, lb=None, ub=None,
        loss="linear", f_scale=1.0):
    bounds = (-np.inf, np.inf) if lb is None else (lb, ub)
    counter = Counter()
    res = least_squares(fun, x0.copy(), jac=operator_jac(jac_dense, counter),
                        method="trf", tr_solver="lsmr", bounds=bounds,
                        loss=loss, f_scale=f_scale)
    fields = [run_name, problem, loss, repr(f_scale), str(res.nfev),
              str(res.njev), str(res.status), repr(float(res.cost)),
              repr(float(res.optimality)), str(counter.matvec),
              str(counter.rmatvec),
              ",".join(str(int(a)) for a in res.active_mask), vec(res.x),
              "-" if lb is None else vec(lb), "-" if ub is None else vec(ub),
              vec(x0)]
    lines.append(" ".join(fields) + "\n")
    print(" ".join(fields[:11]))


def main():
    version = scipy.__version__
    short = ".".join(version.split(".")[:2])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            f"scipy_trf_lsmr_{short}.txt")
    lines = [HEADER.format(scipy=version, numpy=np.__version__,
                           python=sys.version.split()[0])]
    for run_name, problem, fun, jac, x0, kwargs in gen_scipy_trf.runs(
            min_n=2, jac_scale=False):
        run(lines, run_name, problem, fun, jac, x0, **kwargs)
    with open(out_path, "w") as out:
        out.writelines(lines)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
