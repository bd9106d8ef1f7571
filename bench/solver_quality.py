#!/usr/bin/python3
"""optd's solvers against scipy 1.10 on the Moré, Garbow & Hillstrom problems.

Runs bench/solver_quality (C++, optd in process through the Solver interface)
and scipy.optimize.minimize on the same problems from the same starting
points: every problem of solvers/testing/mgh_problems.h (tests/data/
mgh_problems.py in numpy) and the scalable families at n = 100 and 1000.
scipy's trust-exact and trust-ncg get the same analytic Hessians as optd,
served by `solver_quality --mode=hessians` (solvers/testing/mgh_hessians.h).

Pairs compared (optd solver <-> scipy method), default options on both sides
except the trust-region iteration cap (--tr_max_iterations, both sides):
  lbfgs            <-> L-BFGS-B
  tr_exact         <-> trust-exact, analytic Hessian
  tr_newton_cg     <-> trust-ncg, analytic Hessian-vector products
  tr_newton_cg_fd  <-> trust-ncg, hessp = (g(x + h v) - g(x)) / h with optd's
                       h = sqrt(eps) (1 + |x|) / |v| (g(x) cached)
  tr_lsr1          <-> trust-ncg with hess=SR1() (dense SR1 matrix, Steihaug
                       CG; scipy's trust-exact takes no update strategy and
                       its trust-krylov stops early on most problems with one)
  tr_lbfgs         <-> trust-ncg with hess=BFGS() (dense BFGS matrix)

evaluations: calls of the user's code, of any kind: f and g together (one
call; optd's kHessian trial counts one here and one Hessian), gradients
alone, dense Hessians, Hessian-vector products. (scipy's trust-exact, too,
asks for the Hessian at every trial point: IterativeSubproblem's constructor
reads it.) scipy's L-BFGS-B and trust methods get jac=True (f and g in one
call, as optd's trials).
solved: |f_final - f_min| <= f_tolerance of mgh_problems.h.

The last line: optd_lbfgs_solved, scipy_lbfgsb_solved (problems solved),
optd_lbfgs_nfev, scipy_lbfgsb_nfev (evaluations summed over all problems),
optd_tr_solved, scipy_tr_solved, optd_tr_nfev, scipy_tr_nfev (the same summed
over the five trust-region pairs: each optd variant against its counterpart),
*_nfev_both (evaluations summed over the problems both sides of a pair
solve), then solved and nfev per trust-region pair (optd_tr_<variant>_...).

Usage: /usr/bin/python3 bench/solver_quality.py [--binary build/bench/solver_quality]
"""

import argparse
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import scipy
from scipy.optimize import BFGS, SR1, minimize

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "data"))
import mgh_problems  # noqa: E402

EPS = np.finfo(float).eps

PAIRS = [
    ("lbfgs", "L-BFGS-B"),
    ("tr_exact", "trust-exact"),
    ("tr_newton_cg", "trust-ncg"),
    ("tr_newton_cg_fd", "trust-ncg-fd"),
    ("tr_lsr1", "trust-ncg-sr1"),
    ("tr_lbfgs", "trust-ncg-bfgs"),
]

SCALABLE = {
    "extended_rosenbrock": mgh_problems._extended_rosenbrock,
    "extended_powell": mgh_problems._extended_powell,
    "broyden_tridiagonal": mgh_problems._broyden_tridiagonal,
    "broyden_banded": mgh_problems._broyden_banded,
    "discrete_boundary_value": mgh_problems._discrete_boundary_value,
}


def scalable_problem(name, n):
    """The numpy twin of mgh_hessians.h's ScalableProblem."""
    family = name[:name.rfind("_")]
    if family == "extended_rosenbrock":
        x0 = np.tile([-1.2, 1.0], n // 2)
    elif family == "extended_powell":
        x0 = np.tile([3.0, -1.0, 0.0, 1.0], n // 4)
    elif family == "discrete_boundary_value":
        t = np.arange(1, n + 1) / (n + 1.0)
        x0 = t * (t - 1.0)
    else:
        x0 = np.full(n, -1.0)
    return mgh_problems.Problem(name, 0, n, n, x0, SCALABLE[family])


def find_problem(name, n):
    try:
        return mgh_problems.find_problem(name)
    except KeyError:
        return scalable_problem(name, n)


class Hessians:
    """Analytic Hessians from `solver_quality --mode=hessians`."""

    def __init__(self, binary):
        self.proc = subprocess.Popen([binary, "--mode=hessians"],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def _ask(self, kind, name, payload, count):
        header = f"{kind} {name} {payload[0].size}\n".encode()
        self.proc.stdin.write(header + b"".join(
            np.ascontiguousarray(a, dtype="<f8").tobytes() for a in payload))
        self.proc.stdin.flush()
        data = self.proc.stdout.read(8 * count)
        return np.frombuffer(data, dtype="<f8").copy()

    def hessian(self, name, x):
        n = x.size
        return self._ask("H", name, [x], n * n).reshape(n, n)

    def product(self, name, x, v):
        return self._ask("V", name, [x, v], x.size)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class Counted:
    """The problem's (f, g) with call counters by kind."""

    def __init__(self, problem, hessians):
        self.problem = problem
        self.hessians = hessians
        self.value_calls = self.gradient_calls = 0
        self.hessian_calls = self.product_calls = 0
        self.cache = {}  # x bytes -> g of recent points, for hessp_fd

    def fun(self, x):
        self.value_calls += 1
        f, g = self.problem.fun(x)
        if len(self.cache) >= 8:
            self.cache.pop(next(iter(self.cache)))
        self.cache[x.tobytes()] = g
        return f, g

    def hess(self, x):
        self.hessian_calls += 1
        return self.hessians.hessian(self.problem.name, x)

    def hessp(self, x, v):
        self.product_calls += 1
        return self.hessians.product(self.problem.name, x, v)

    def hessp_fd(self, x, v):
        g0 = self.cache.get(x.tobytes())
        if g0 is None:
            self.gradient_calls += 1
            g0 = self.problem.fun(x)[1]
            self.cache[x.tobytes()] = g0
        h = math.sqrt(EPS) * (1.0 + np.linalg.norm(x)) / np.linalg.norm(v)
        self.gradient_calls += 1
        g1 = self.problem.fun(x + h * v)[1]
        return (g1 - g0) / h

    def evaluations(self):
        return (self.value_calls + self.gradient_calls + self.hessian_calls +
                self.product_calls)


def run_scipy(problem, method, hessians, tr_max_iterations):
    c = Counted(problem, hessians)
    x0 = problem.x0.astype(float)
    options = {"maxiter": tr_max_iterations}
    kwargs = {"jac": True}
    if method == "L-BFGS-B":
        kwargs["method"] = "L-BFGS-B"
        options = {}
    elif method == "trust-exact":
        kwargs.update(method="trust-exact", hess=c.hess)
    elif method == "trust-ncg":
        kwargs.update(method="trust-ncg", hessp=c.hessp)
    elif method == "trust-ncg-fd":
        kwargs.update(method="trust-ncg", hessp=c.hessp_fd)
    elif method == "trust-ncg-sr1":
        kwargs.update(method="trust-ncg", hess=SR1())
    elif method == "trust-ncg-bfgs":
        kwargs.update(method="trust-ncg", hess=BFGS())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            res = minimize(c.fun, x0, options=options, **kwargs)
            f = float(res.fun)
        except Exception:  # scipy gave up with an error: not solved
            f = math.nan
    return c.evaluations(), f


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(
        HERE, "..", "build", "bench", "solver_quality"))
    parser.add_argument("--tr_max_iterations", type=int, default=5000)
    parser.add_argument("--problems", default="")
    args = parser.parse_args()

    listing = subprocess.run([args.binary, "--mode=list"], check=True,
                             capture_output=True, text=True).stdout
    problems = {}
    for line in listing.splitlines():
        name, n, f_min, f_tol = line.split()
        problems[name] = (int(n), float(f_min), float(f_tol))
    if args.problems:
        keep = args.problems.split(",")
        problems = {k: v for k, v in problems.items() if k in keep}

    optd = {}
    out = subprocess.run(
        [args.binary, "--mode=optd", "--problems=" + ",".join(problems),
         f"--tr_max_iterations={args.tr_max_iterations}"],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        evaluations = sum(int(v) for v in f[3:7])
        optd[(f[0], f[2])] = (evaluations, float(f[8]))

    hessians = Hessians(args.binary)
    print(f"scipy {scipy.__version__}, numpy {np.__version__}; "
          f"trust-region max_iterations {args.tr_max_iterations}")
    header = (f"{'problem':<30} {'n':>5} {'optd':<16} {'evals':>6} "
              f"{'final f':>13} {'ok':>3}  {'scipy':<17} {'evals':>6} "
              f"{'final f':>13} {'ok':>3}")
    print(header)
    # optd solved, scipy solved, optd evaluations, scipy evaluations, and the
    # evaluations on the problems both solve.
    totals = {pair: [0, 0, 0, 0, 0, 0] for pair in PAIRS}
    for name, (n, f_min, f_tol) in problems.items():
        problem = find_problem(name, n)
        for ours, theirs in PAIRS:
            o_evals, o_f = optd[(name, ours)]
            s_evals, s_f = run_scipy(problem, theirs, hessians,
                                     args.tr_max_iterations)
            o_ok = abs(o_f - f_min) <= f_tol
            s_ok = abs(s_f - f_min) <= f_tol
            t = totals[(ours, theirs)]
            t[0] += o_ok
            t[1] += s_ok
            t[2] += o_evals
            t[3] += s_evals
            if o_ok and s_ok:
                t[4] += o_evals
                t[5] += s_evals
            print(f"{name:<30} {n:>5} {ours:<16} {o_evals:>6} {o_f:>13.6g} "
                  f"{'yes' if o_ok else 'no':>3}  {theirs:<17} {s_evals:>6} "
                  f"{s_f:>13.6g} {'yes' if s_ok else 'no':>3}", flush=True)
    hessians.close()

    count = len(problems)
    print()
    print(f"{'optd':<16} {'scipy':<17} {'solved':>13} {'evaluations':>17} "
          f"{'evals, both solved':>20}")
    for (ours, theirs), t in totals.items():
        print(f"{ours:<16} {theirs:<17} {t[0]:>5} vs {t[1]:>3} "
              f"{t[2]:>8} vs {t[3]:>6} {t[4]:>9} vs {t[5]:>6}"
              f"   (of {count} problems)")
    lb = totals[PAIRS[0]]
    tr = [sum(totals[p][i] for p in PAIRS[1:]) for i in range(6)]
    fields = [
        f"optd_lbfgs_solved={lb[0]}", f"scipy_lbfgsb_solved={lb[1]}",
        f"optd_lbfgs_nfev={lb[2]}", f"scipy_lbfgsb_nfev={lb[3]}",
        f"optd_tr_solved={tr[0]}", f"scipy_tr_solved={tr[1]}",
        f"optd_tr_nfev={tr[2]}", f"scipy_tr_nfev={tr[3]}",
        f"optd_lbfgs_nfev_both={lb[4]}", f"scipy_lbfgsb_nfev_both={lb[5]}",
        f"optd_tr_nfev_both={tr[4]}", f"scipy_tr_nfev_both={tr[5]}",
    ]
    for (ours, theirs) in PAIRS[1:]:
        t = totals[(ours, theirs)]
        key = ours[3:]
        fields += [f"optd_tr_{key}_solved={t[0]}",
                   f"scipy_tr_{key}_solved={t[1]}",
                   f"optd_tr_{key}_nfev={t[2]}",
                   f"scipy_tr_{key}_nfev={t[3]}"]
    print(" ".join(fields))


if __name__ == "__main__":
    main()
