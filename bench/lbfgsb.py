#!/usr/bin/python3
"""optd's L-BFGS-B against scipy 1.10's on bound-constrained problems.

Runs bench/lbfgsb (C++: optd's LbfgsB in process through the Solver
interface) and scipy.optimize.minimize(method='L-BFGS-B', jac=True, bounds=...)
with default options on both sides, on the same problems from the same
starting points: solvers/testing/bounded_problems.h (MGH problems with boxes
that cut the unconstrained minimizer, scalable ones at n = 100 and 1000,
L-BFGS-B's driver1 example, a bounded quadratic).

Both sides evaluate the same C++ objective: scipy's x0, bounds and (f, g) are
served bit for bit by `lbfgsb --mode=serve` over a pipe, so any difference
comes from the solvers, not from the objectives rounding differently. With
--numpy_objective scipy gets the numpy twin instead
(tests/data/bounded_problems.py, which the reference-data generator
tests/data/gen_scipy_lbfgsb_bounded.py uses); its rounding differs on
discrete_boundary_value_100_box (216 evaluations against 215) and its x0 on
variably_dimensioned_10_box in the last bit.

evaluations: calls of (f, g). solved: f <= f_ref + max(1e-8, 1e-6 |f_ref|),
f_ref the best value known from x0 (tests/data/scipy_lbfgsb_bounded_1.10.txt,
from a tight-tolerance scipy run; see gen_scipy_lbfgsb_bounded.py).

The last line: optd_solved, scipy_solved (problems solved), optd_nfev,
scipy_nfev (evaluations summed over all problems).

With the served objective: optd_solved=24 scipy_solved=24 optd_nfev=926
scipy_nfev=926 (equal counts on all 28 problems).

Usage: /usr/bin/python3 bench/lbfgsb.py [--binary build/bench/lbfgsb]
           [--problems=a,b] [--numpy_objective]
"""

import argparse
import os
import subprocess
import sys
import warnings

import numpy as np
import scipy
from scipy.optimize import minimize

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
sys.path.insert(0, DATA)
import bounded_problems  # noqa: E402


def reference_values():
    """f_ref per problem from the recorded scipy results."""
    refs = {}
    path = os.path.join(DATA, "scipy_lbfgsb_bounded_1.10.txt")
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.split()
            refs[fields[0]] = float(fields[9])
    return refs


class Served:
    """The C++ problems (x0, bounds, (f, g)) from `lbfgsb --mode=serve`."""

    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, "--mode=serve"],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def _read(self, count):
        data = self.proc.stdout.read(8 * count)
        if len(data) != 8 * count:
            raise RuntimeError(f"lbfgsb --mode=serve exited "
                               f"({self.proc.poll()})")
        return np.frombuffer(data, dtype="<f8").copy()

    def problem(self, name, n):
        self.proc.stdin.write(f"P {name}\n".encode())
        self.proc.stdin.flush()
        x0, lower, upper = self._read(3 * n).reshape(3, n)
        served = self

        class Problem:
            def fun(self, x):
                served.proc.stdin.write(
                    f"F {name} {n}\n".encode() +
                    np.ascontiguousarray(x, dtype="<f8").tobytes())
                served.proc.stdin.flush()
                fg = served._read(1 + n)
                return float(fg[0]), fg[1:]

            def bounds(self):
                return list(zip(lower, upper))

        p = Problem()
        p.name, p.n, p.x0, p.lower, p.upper = name, n, x0, lower, upper
        return p

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def run_scipy(problem):
    calls = [0]

    def fun(x):
        calls[0] += 1
        return problem.fun(x)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = minimize(fun, problem.x0.copy(), jac=True, method="L-BFGS-B",
                       bounds=problem.bounds())
    return calls[0], float(res.fun)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(
        HERE, "..", "build", "bench", "lbfgsb"))
    parser.add_argument("--problems", default="")
    parser.add_argument("--numpy_objective", action="store_true",
                        help="give scipy the numpy twin "
                        "(tests/data/bounded_problems.py) instead of the C++ "
                        "objective served by `lbfgsb --mode=serve`")
    args = parser.parse_args()

    listing = subprocess.run([args.binary, "--mode=list"], check=True,
                             capture_output=True, text=True).stdout
    names = [line.split()[0] for line in listing.splitlines()]
    if args.problems:
        keep = args.problems.split(",")
        names = [n for n in names if n in keep]
    out = subprocess.run([args.binary, "--mode=optd",
                          "--problems=" + ",".join(names)],
                         check=True, capture_output=True, text=True).stdout
    optd = {}
    for line in out.splitlines():
        f = line.split()
        optd[f[0]] = (int(f[1]), int(f[2]), float(f[4]))
    refs = reference_values()

    served = None if args.numpy_objective else Served(args.binary)
    print(f"scipy {scipy.__version__}, numpy {np.__version__}; scipy's "
          f"objective: " + ("numpy twin" if args.numpy_objective
                            else "C++, served by lbfgsb --mode=serve"))
    print(f"{'problem':<32} {'n':>5} {'optd nfev':>9} {'scipy nfev':>10} "
          f"{'optd f':>14} {'scipy f':>14} {'solved (optd/scipy)':>20}")
    totals = [0, 0, 0, 0]
    for name in names:
        n, o_nfev, o_f = optd[name]
        problem = (bounded_problems.find(name) if served is None
                   else served.problem(name, n))
        s_nfev, s_f = run_scipy(problem)
        f_ref = refs[name]
        tol = max(1e-8, 1e-6 * abs(f_ref))
        o_ok, s_ok = o_f <= f_ref + tol, s_f <= f_ref + tol
        totals[0] += o_ok
        totals[1] += s_ok
        totals[2] += o_nfev
        totals[3] += s_nfev
        solved = f"{'yes' if o_ok else 'no'}/{'yes' if s_ok else 'no'}"
        print(f"{name:<32} {n:>5} {o_nfev:>9} {s_nfev:>10} {o_f:>14.8g} "
              f"{s_f:>14.8g} {solved:>20}", flush=True)
    if served is not None:
        served.close()
    print(f"{len(names)} problems: optd solved {totals[0]}, scipy "
          f"{totals[1]}; evaluations optd {totals[2]}, scipy {totals[3]}")
    print(f"optd_solved={totals[0]} scipy_solved={totals[1]} "
          f"optd_nfev={totals[2]} scipy_nfev={totals[3]}")


if __name__ == "__main__":
    main()
