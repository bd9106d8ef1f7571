#!/usr/bin/python3
"""Writes scipy_lbfgsb_<version>.txt: scipy's L-BFGS-B on every MGH problem.

Runs scipy.optimize.minimize(fun, x0, jac=True, method='L-BFGS-B') with all
of scipy's defaults on every problem of mgh_problems.py, from the standard
starting point, and writes one line per problem (see HEADER for the columns).
The file is read by optd::testing::LoadScipyReferences
(solvers/testing/scipy_reference.h).  Pin the scipy version: scipy >= 1.15
ported L-BFGS-B from Fortran to C and its counts differ (scipy#23161).

Regenerate (from the repository root, with Debian 12's python3-scipy 1.10):
  /usr/bin/python3 tests/data/gen_scipy_lbfgsb.py
"""

import os
import sys

import numpy as np
import scipy
from scipy.optimize import minimize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgh_problems  # noqa: E402

HEADER = """\
# scipy.optimize.minimize(fun, x0, jac=True, method='L-BFGS-B') with scipy's
# defaults (maxcor=10, ftol=2.220446049250313e-09, gtol=1e-05, maxfun=15000,
# maxiter=15000, maxls=20) on the Moré, Garbow & Hillstrom (ACM TOMS 7 (1981)
# 17-41) problems of tests/data/mgh_problems.py, from their standard x0.
# scipy {scipy} (L-BFGS-B Fortran 3.0), numpy {numpy}, python {python}.
# Regenerate: /usr/bin/python3 tests/data/gen_scipy_lbfgsb.py
#
# One line per problem, whitespace-separated columns:
#   name n nfev nit fun status message grad_inf f_x0 grad_inf_x0
# fun: f at scipy's final x; status: 0 converged, 1 limit, 2 other;
# message: scipy's message with spaces replaced by '_';
# grad_inf: max_i |g_i| at scipy's final x;
# f_x0, grad_inf_x0: numpy's f(x0) and max_i |g_i(x0)| (the C++ copy of the
# problems must reproduce them).
"""


def message_token(message):
    if isinstance(message, bytes):  # scipy < 1.10 returned bytes
        message = message.decode()
    return message.replace(" ", "_")


def main():
    version = scipy.__version__
    short = ".".join(version.split(".")[:2])
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            f"scipy_lbfgsb_{short}.txt")
    lines = [HEADER.format(scipy=version, numpy=np.__version__,
                           python=sys.version.split()[0])]
    for problem in mgh_problems.PROBLEMS:
        f0, g0 = problem.fun(problem.x0)
        res = minimize(problem.fun, problem.x0.copy(), jac=True,
                       method="L-BFGS-B")
        grad_inf = float(np.max(np.abs(res.jac)))
        fields = [
            problem.name,
            str(problem.n),
            str(res.nfev),
            str(res.nit),
            repr(float(res.fun)),
            str(res.status),
            message_token(res.message),
            repr(grad_inf),
            repr(float(f0)),
            repr(float(np.max(np.abs(g0)))),
        ]
        lines.append(" ".join(fields) + "\n")
        print(" ".join(fields))
    with open(out_path, "w") as out:
        out.writelines(lines)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
