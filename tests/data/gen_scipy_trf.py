#!/usr/bin/python3
"""Writes scipy_trf_<version>.txt: scipy's least_squares(method='trf') runs.

Runs scipy.optimize.least_squares(fun, x0, jac=jac, method='trf') (analytic
Jacobian, so tr_solver='exact': an SVD per outer iteration) with scipy's
defaults (ftol = xtol = gtol = 1e-8, max_nfev = 100 n) on
  - the problems of mgh_problems.py, unbounded (trf_no_bounds), with
    x_scale=1.0 and with x_scale='jac';
  - the boxes of bounded_problems.py whose base is an MGH residual problem
    (trf_bounds), x0 clipped into the box (scipy refuses an infeasible x0);
  - `rational_outliers` (below), a curve fit with gross outliers, with each
    robust loss and f_scale 1.0 and 0.1.
One line per run (see HEADER). Read by
solvers/least_squares/trust_region_reflective_test.cc.

rational_outliers: t_i = 0.4 i (i = 0..24), model x0 + x1 t / (1 + x2 t),
data y_i = 2 + 3 t_i / (1 + 0.5 t_i) + 0.02 ((7 i) mod 5 - 2), plus 4 at
i = 3, 15 and -3 at i = 9, 21; r_i = model - y_i; x0 = (1, 1, 1). Only
+ - * /, so numpy and C++ compute the residuals bitwise alike.

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_trf.py
"""

import os
import sys

import numpy as np
import scipy
from scipy.optimize import least_squares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bounded_problems  # noqa: E402
import mgh_problems  # noqa: E402

SKIP = {"extended_rosenbrock_1000"}
LOSSES = ["linear", "soft_l1", "huber", "cauchy", "arctan"]

HEADER = """\
# scipy.optimize.least_squares(fun, x0, jac=jac, method='trf') (tr_solver
# 'exact') with ftol = xtol = gtol = 1e-8 and max_nfev = 100 n, on the MGH
# problems of tests/data/mgh_problems.py (unbounded, x_scale 1 and 'jac'),
# the boxes of tests/data/bounded_problems.py over MGH residual problems, and
# rational_outliers (tests/data/gen_scipy_trf.py) with each loss.
# scipy {scipy}, numpy {numpy}, python {python}.
# Regenerate: /usr/bin/python3 tests/data/gen_scipy_trf.py
#
# One line per run, whitespace-separated columns:
#   run problem loss f_scale x_scale nfev njev status cost optimality
#   active_mask x lb ub x0
# problem: the residual problem's name (mgh_problems.py, or
# rational_outliers); x_scale: 1 or jac; status: scipy's (0 max_nfev, 1 gtol,
# 2 ftol, 3 xtol, 4 ftol and xtol); cost: scipy's (with the loss), at its
# final x; optimality: its first-order optimality; active_mask, x, lb, ub,
# x0: vectors joined by ',' (lb, ub: - when unbounded; x0 as passed, before
# scipy's make_strictly_feasible).
"""


def rational_outliers():
    i = np.arange(25)
    t = 0.4 * i
    y = 2.0 + 3.0 * t / (1.0 + 0.5 * t) + 0.02 * ((7 * i) % 5 - 2)
    y[[3, 15]] += 4.0
    y[[9, 21]] -= 3.0

    def fun(x):
        return x[0] + x[1] * t / (1.0 + x[2] * t) - y

    def jac(x):
        d = 1.0 + x[2] * t
        j = np.empty((t.size, 3))
        j[:, 0] = 1.0
        j[:, 1] = t / d
        j[:, 2] = -x[1] * t * t / (d * d)
        return j
    return fun, jac, np.array([1.0, 1.0, 1.0])


def vec(v):
    return ",".join(repr(float(e)) for e in v)


def run(lines, run_name, problem, fun, jac, x0, lb=None, ub=None,
        loss="linear", f_scale=1.0, x_scale=1.0):
    bounds = (-np.inf, np.inf) if lb is None else (lb, ub)
    res = least_squares(fun, x0.copy(), jac=jac, method="trf", bounds=bounds,
                        loss=loss, f_scale=f_scale, x_scale=x_scale)
    fields = [run_name, problem, loss, repr(f_scale),
              "jac" if x_scale == "jac" else "1", str(res.nfev),
              str(res.njev), str(res.status), repr(float(res.cost)),
              repr(float(res.optimality)),
              ",".join(str(int(a)) for a in res.active_mask), vec(res.x),
              "-" if lb is None else vec(lb), "-" if ub is None else vec(ub),
              vec(x0)]
    lines.append(" ".join(fields) + "\n")
    print(" ".join(fields[:10]))


def runs(min_n=1, jac_scale=True):
    """The runs of scipy_trf_<version>.txt in order, each as (run name,
    problem name, fun, jac, x0, keyword arguments of run: lb, ub, loss,
    f_scale, x_scale); problems of fewer than `min_n` variables and, without
    `jac_scale`, the x_scale='jac' runs left out (gen_scipy_trf_lsmr.py)."""
    names = set()
    for p in mgh_problems.PROBLEMS:
        if p.name in SKIP or p.x0.size < min_n:
            continue
        names.add(p.name)

        def fun(x, p=p):
            return p.residuals(x)[0]

        def jac(x, p=p):
            return p.residuals(x)[1]
        yield p.name, p.name, fun, jac, p.x0.astype(float), {}
        if jac_scale:
            yield (p.name + "+jac_scale", p.name, fun, jac,
                   p.x0.astype(float), {"x_scale": "jac"})
    for entry in bounded_problems.TABLE:
        name, base, n, _, _ = entry
        if n != 0 or base not in names:
            continue
        b = bounded_problems.make(entry)
        p = mgh_problems.find_problem(base)

        def fun(x, p=p):
            return p.residuals(x)[0]

        def jac(x, p=p):
            return p.residuals(x)[1]
        x0 = np.clip(p.x0.astype(float), b.lower, b.upper)
        yield name, base, fun, jac, x0, {"lb": b.lower, "ub": b.upper}
    fun, jac, x0 = rational_outliers()
    for loss in LOSSES:
        for f_scale in (1.0, 0.1):
            yield (f"rational_outliers+{loss}+{f_scale}", "rational_outliers",
                   fun, jac, x0, {"loss": loss, "f_scale": f_scale})
    # The same with a box that cuts the fit (x1 <= 2.5).
    lb = np.array([-np.inf, -np.inf, 0.0])
    ub = np.array([np.inf, 2.5, np.inf])
    for loss in LOSSES:
        yield (f"rational_outliers_box+{loss}", "rational_outliers", fun, jac,
               x0, {"lb": lb, "ub": ub, "loss": loss, "f_scale": 0.5})


def main():
    version = scipy.__version__
    short = ".".join(version.split(".")[:2])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            f"scipy_trf_{short}.txt")
    lines = [HEADER.format(scipy=version, numpy=np.__version__,
                           python=sys.version.split()[0])]
    for run_name, problem, fun, jac, x0, kwargs in runs():
        run(lines, run_name, problem, fun, jac, x0, **kwargs)
    with open(out_path, "w") as out:
        out.writelines(lines)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
