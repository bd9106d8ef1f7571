#!/usr/bin/python3
"""Writes scipy_trf_2point_<version>.txt: scipy's trf with jac='2-point' and
'3-point' (finite-difference Jacobians by approx_derivative, bounds obeyed).

Runs scipy.optimize.least_squares(fun, x0, jac=scheme, method='trf',
bounds=...) (tr_solver 'exact', ftol = xtol = gtol = 1e-8, max_nfev = 100 n;
trf calls approx_derivative(fun, x, rel_step=None, method=scheme, f0=f,
bounds=bounds), whose evaluations nfev does not count) for each scheme on
  - the boxes of bounded_problems.py whose base is an MGH residual problem
    (as gen_scipy_trf.py, x0 clipped into the box);
  - rational_outliers (gen_scipy_trf.py) in the box x1 <= 2.5, x2 >= 0 with
    the linear and the soft_l1 loss (f_scale 0.5).
One line per run (see HEADER). Read by
solvers/adapters/finite_difference_jacobian_test.cc.

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_trf_2point.py
"""

import os
import sys

import numpy as np
import scipy
from scipy.optimize import least_squares

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bounded_problems  # noqa: E402
import gen_scipy_trf  # noqa: E402
import mgh_problems  # noqa: E402

HEADER = """\
# scipy.optimize.least_squares(fun, x0, jac=scheme, method='trf', bounds=...)
# (tr_solver 'exact', approx_derivative's differences) with ftol = xtol =
# gtol = 1e-8 and max_nfev = 100 n, scheme '2-point' and '3-point', on the
# boxes of tests/data/bounded_problems.py over MGH residual problems and
# rational_outliers in a box (tests/data/gen_scipy_trf_2point.py).
# scipy {scipy}, numpy {numpy}, python {python}.
# Regenerate: /usr/bin/python3 tests/data/gen_scipy_trf_2point.py
#
# One line per run, whitespace-separated columns:
#   run problem scheme loss f_scale nfev njev status cost x lb ub x0
# nfev: trf's residual evaluations (approx_derivative's not counted); njev:
# its Jacobians; status: scipy's; cost: with the loss, at the final x; x,
# lb, ub, x0: vectors joined by ',' (x0 as passed).
"""


def vec(v):
    return ",".join(repr(float(e)) for e in v)


def run(lines, run_name, problem, fun, x0, lb, ub, scheme, loss="linear",
        f_scale=1.0):
    res = least_squares(fun, x0.copy(), jac=scheme, method="trf",
                        bounds=(lb, ub), loss=loss, f_scale=f_scale)
    fields = [run_name, problem, scheme, loss, repr(f_scale), str(res.nfev),
              str(res.njev), str(res.status), repr(float(res.cost)),
              vec(res.x), vec(lb), vec(ub), vec(x0)]
    lines.append(" ".join(fields) + "\n")
    print(" ".join(fields[:9]))


def main():
    version = scipy.__version__
    short = ".".join(version.split(".")[:2])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            f"scipy_trf_2point_{short}.txt")
    lines = [HEADER.format(scipy=version, numpy=np.__version__,
                           python=sys.version.split()[0])]
    names = {p.name for p in mgh_problems.PROBLEMS}
    for scheme in ("2-point", "3-point"):
        for entry in bounded_problems.TABLE:
            name, base, n, _, _ = entry
            if n != 0 or base not in names:
                continue
            b = bounded_problems.make(entry)
            p = mgh_problems.find_problem(base)

            def fun(x, p=p):
                return p.residuals(x)[0]
            x0 = np.clip(p.x0.astype(float), b.lower, b.upper)
            run(lines, name, base, fun, x0, b.lower, b.upper, scheme)
        fun, _, x0 = gen_scipy_trf.rational_outliers()
        lb = np.array([-np.inf, -np.inf, 0.0])
        ub = np.array([np.inf, 2.5, np.inf])
        for loss in ("linear", "soft_l1"):
            run(lines, f"rational_outliers_box+{loss}", "rational_outliers",
                fun, x0, lb, ub, scheme, loss=loss, f_scale=0.5)
    with open(out_path, "w") as out:
        out.writelines(lines)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
