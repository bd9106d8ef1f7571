#!/usr/bin/python3
"""Writes scipy_lbfgsb_bounded_<version>.txt: scipy's L-BFGS-B on the
bound-constrained problems of bounded_problems.py.

For every problem: scipy.optimize.minimize(fun, x0, jac=True,
method='L-BFGS-B', bounds=...) with scipy's defaults (x0 outside the box is
clipped by scipy), and a tight run (ftol=0, gtol=1e-12, maxiter = maxfun =
100000, maxls=50) whose value, or the default run's if lower, is f_ref: the
minimum a solver is held to ("solved": |f - f_ref| <= max(1e-8,
1e-6 |f_ref|)). Read by optd::testing::LoadBoundedReferences
(solvers/testing/bounded_problems.h). Pin the scipy version: scipy >= 1.15
ported L-BFGS-B to C and its counts differ (scipy#23161).

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_lbfgsb_bounded.py
"""

import os
import sys

import numpy as np
import scipy
from scipy.optimize import minimize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bounded_problems  # noqa: E402

HEADER = """\
# scipy.optimize.minimize(fun, x0, jac=True, method='L-BFGS-B', bounds=...)
# with scipy's defaults (maxcor=10, ftol=2.220446049250313e-09, gtol=1e-05,
# maxfun=15000, maxiter=15000, maxls=20) on the bound-constrained problems of
# tests/data/bounded_problems.py (solvers/testing/bounded_problems.h).
# scipy {scipy} (L-BFGS-B Fortran 3.0), numpy {numpy}, python {python}.
# Regenerate: /usr/bin/python3 tests/data/gen_scipy_lbfgsb_bounded.py
#
# One line per problem, whitespace-separated columns:
#   name n nfev nit fun status message pg_inf f_x0 f_ref x_1 ... x_n
# fun, x: scipy's final value and point; status: 0 converged, 1 limit,
# 2 other; message: scipy's with spaces replaced by '_'; pg_inf: max-norm of
# the projected gradient at x (lbfgsb.f projgr); f_x0: numpy's f at x0
# clipped into the box (the C++ copy of the problems must reproduce it);
# f_ref: the lower of this run's value and a tight run's (ftol=0,
# gtol=1e-12, maxiter=maxfun=100000, maxls=50) from the same x0.
"""


def projected_gradient_norm(x, g, lower, upper):
    pg = np.where(g < 0, np.maximum(x - upper, g), np.minimum(x - lower, g))
    return float(np.max(np.abs(pg)))


def main():
    version = scipy.__version__
    short = ".".join(version.split(".")[:2])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            f"scipy_lbfgsb_bounded_{short}.txt")
    lines = [HEADER.format(scipy=version, numpy=np.__version__,
                           python=sys.version.split()[0])]
    for p in bounded_problems.PROBLEMS:
        x0 = np.clip(p.x0, p.lower, p.upper)
        f0, _ = p.fun(x0)
        res = minimize(p.fun, p.x0.copy(), jac=True, method="L-BFGS-B",
                       bounds=p.bounds())
        tight = minimize(p.fun, p.x0.copy(), jac=True, method="L-BFGS-B",
                         bounds=p.bounds(),
                         options=dict(ftol=0.0, gtol=1e-12, maxiter=100000,
                                      maxfun=100000, maxls=50))
        f_ref = min(float(res.fun), float(tight.fun))
        fields = [
            p.name, str(p.n), str(res.nfev), str(res.nit),
            repr(float(res.fun)), str(res.status),
            res.message.replace(" ", "_"),
            repr(projected_gradient_norm(res.x, res.jac, p.lower, p.upper)),
            repr(float(f0)), repr(f_ref),
        ] + [repr(float(v)) for v in res.x]
        lines.append(" ".join(fields) + "\n")
        print(" ".join(fields[:10]))
    with open(out_path, "w") as out:
        out.writelines(lines)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
