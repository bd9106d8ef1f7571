#!/usr/bin/python3
"""optd's least-squares sessions against scipy's least_squares(method='lm').

Runs every Moré–Garbow–Hillstrom residual problem of tests/data/mgh_problems.py
(36: n from 2 to 1000, m from n to 99) twice from the paper's x0, with the
analytic Jacobian and scipy's defaults (ftol = xtol = gtol = 1e-8, max_nfev
100 n): once with scipy 1.10's least_squares(method='lm') (MINPACK lmder),
once with optd.least_squares against a real optd (a least_squares session,
the same lmder ported to an ask-tell solver). The baseline is scipy in the
same process.

solved: |2 cost - f_min| <= f_tolerance, f_min and f_tolerance from
mgh_problems.h (`build/bench/solver_quality --mode=list`; f = sum r^2 there,
cost = 0.5 sum r^2 here). nfev and njev are scipy's counts (optd counts them
the same way).

Last line: optd_solved=.. scipy_solved=.. optd_nfev=.. scipy_nfev=..
optd_nfev_both=.. scipy_nfev_both=.. (evaluations summed over all problems,
and over the problems both solve) problems=.. nfev_equal=.. (problems where
optd's nfev and njev equal scipy's).

--jac 2-point runs both sides without the Jacobian instead: scipy's lm then
calls MINPACK's lmdif (forward differences, nfev counting them, max_nfev
100 n (n + 1)), optd a least_squares session with gradient_source
FINITE_DIFFERENCE (the same forward differences, batches of residual
trials); njev is None on both sides.

Usage: bench/least_squares.py [--problems a,b] [--jac 2-point]
(build/server/optd, or $OPTD_BINARY; build/bench/solver_quality for the
minima).
"""

import argparse
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from optd_server import OptdServer  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import least_squares as scipy_least_squares  # noqa: E402

import mgh_problems  # noqa: E402  (tests/data, on sys.path via optd_server)
import optd  # noqa: E402


def minima(binary):
    listing = subprocess.run([binary, "--mode=list"], check=True,
                             capture_output=True, text=True).stdout
    out = {}
    for line in listing.splitlines():
        name, _, f_min, f_tol = line.split()
        out[name] = (float(f_min), float(f_tol))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default="")
    parser.add_argument("--jac", choices=("callable", "2-point"),
                        default="callable")
    parser.add_argument("--minima", default=str(
        ROOT / "build" / "bench" / "solver_quality"))
    args = parser.parse_args()
    known = minima(args.minima)
    problems = [p for p in mgh_problems.PROBLEMS
                if not args.problems or p.name in args.problems.split(",")]

    server = OptdServer("--max_dimension=100000")
    client = optd.connect(server.address, timeout=600)
    rows, totals = [], dict(optd_solved=0, scipy_solved=0, optd_nfev=0,
                            scipy_nfev=0, optd_nfev_both=0, scipy_nfev_both=0,
                            nfev_equal=0)
    try:
        for p in problems:
            def fun(x, p=p):
                return p.residuals(x)[0]

            def jac(x, p=p):
                return p.residuals(x)[1]

            j = jac if args.jac == "callable" else "2-point"
            start = time.perf_counter()
            s = scipy_least_squares(fun, p.x0, jac=j, method="lm")
            scipy_seconds = time.perf_counter() - start
            start = time.perf_counter()
            o = optd.least_squares(fun, p.x0, jac=j, client=client)
            optd_seconds = time.perf_counter() - start
            f_min, f_tol = known[p.name]
            o_ok = abs(2 * o.cost - f_min) <= f_tol
            s_ok = abs(2 * s.cost - f_min) <= f_tol
            same = o.nfev == s.nfev and o.njev == s.njev
            totals["optd_solved"] += o_ok
            totals["scipy_solved"] += s_ok
            totals["optd_nfev"] += o.nfev
            totals["scipy_nfev"] += s.nfev
            totals["nfev_equal"] += same
            if o_ok and s_ok:
                totals["optd_nfev_both"] += o.nfev
                totals["scipy_nfev_both"] += s.nfev
            rows.append((p.name, p.n, p.m, o.nfev, o.njev, s.nfev, s.njev,
                         o.status, s.status, o_ok, s_ok, 2 * o.cost,
                         2 * s.cost, optd_seconds, scipy_seconds))
            print(f"{p.name:30s} n={p.n:<4d} m={p.m:<4d} "
                  f"optd {o.nfev:4d}/{str(o.njev):<4s} st {o.status} "
                  f"{'solved' if o_ok else 'NOT   '}  "
                  f"scipy {s.nfev:4d}/{str(s.njev):<4s} st {s.status} "
                  f"{'solved' if s_ok else 'NOT   '}  "
                  f"f {2 * o.cost:.6g} vs {2 * s.cost:.6g}  "
                  f"{optd_seconds:.2f} s vs {scipy_seconds:.2f} s",
                  flush=True)
    finally:
        client.close()
        server.stop()
    print(" ".join(f"{k}={v}" for k, v in totals.items() if k != "nfev_equal")
          + f" problems={len(rows)} nfev_equal={totals['nfev_equal']}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
