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

Then method='trf' (scipy 1.10's trust-region reflective, tr_solver 'exact'),
scipy's and optd's, on the same problems with n <= 200 (trf makes a dense
SVD per iteration; extended_rosenbrock_1000 would take minutes in both) and
on the boxes of tests/data/bounded_problems.py over MGH residual problems
(x0 clipped into the box, as scipy refuses an infeasible x0).

Last line: optd_solved=.. scipy_solved=.. optd_nfev=.. scipy_nfev=..
optd_nfev_both=.. scipy_nfev_both=.. (evaluations summed over all problems,
and over the problems both solve) problems=.. nfev_equal=.. (problems where
optd's nfev and njev equal scipy's), then the trf runs: trf_runs=..
trf_nfev_equal=.. (runs where optd's nfev, njev and status equal scipy's)
trf_optd_nfev=.. trf_scipy_nfev=.. trf_cost_close=.. (runs whose costs agree
within 1e-6 relative or 1e-10 absolute).

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

import bounded_problems  # noqa: E402  (tests/data, on sys.path)
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
        trf = trf_runs(problems, client)
    finally:
        client.close()
        server.stop()
    print(" ".join(f"{k}={v}" for k, v in totals.items() if k != "nfev_equal")
          + f" problems={len(rows)} nfev_equal={totals['nfev_equal']} "
          + " ".join(f"{k}={v}" for k, v in trf.items()))
    return 0


def trf_runs(problems, client):
    """method='trf', scipy's and optd's, unbounded (n <= 200) and in the
    MGH boxes of bounded_problems.py; the totals for the last line."""
    runs = []
    for p in problems:
        if p.n <= 200:
            runs.append((p.name, p, p.x0.astype(float), None))
    names = {p.name for p in problems}
    for entry in bounded_problems.TABLE:
        name, base, n, _, _ = entry
        if n != 0 or base not in names:
            continue
        box = bounded_problems.make(entry)
        p = mgh_problems.find_problem(base)
        x0 = np.clip(p.x0.astype(float), box.lower, box.upper)
        runs.append((name, p, x0, (box.lower, box.upper)))
    totals = dict(trf_runs=0, trf_nfev_equal=0, trf_optd_nfev=0,
                  trf_scipy_nfev=0, trf_cost_close=0)
    for name, p, x0, bounds in runs:
        def fun(x, p=p):
            return p.residuals(x)[0]

        def jac(x, p=p):
            return p.residuals(x)[1]

        box = bounds if bounds is not None else (-np.inf, np.inf)
        start = time.perf_counter()
        s = scipy_least_squares(fun, x0, jac=jac, method="trf", bounds=box)
        scipy_seconds = time.perf_counter() - start
        start = time.perf_counter()
        o = optd.least_squares(fun, x0, jac=jac, method="trf", bounds=box,
                               client=client)
        optd_seconds = time.perf_counter() - start
        same = (o.nfev == s.nfev and o.njev == s.njev
                and o.status == s.status)
        close = abs(o.cost - s.cost) <= 1e-6 * abs(s.cost) + 1e-10
        totals["trf_runs"] += 1
        totals["trf_nfev_equal"] += same
        totals["trf_optd_nfev"] += o.nfev
        totals["trf_scipy_nfev"] += s.nfev
        totals["trf_cost_close"] += close
        print(f"trf {name:28s} n={p.n:<4d} m={p.m:<4d} "
              f"optd {o.nfev:4d}/{o.njev:<4d} st {o.status}  "
              f"scipy {s.nfev:4d}/{s.njev:<4d} st {s.status}  "
              f"{'  ' if same else '!='}  cost {o.cost:.6g} vs {s.cost:.6g}  "
              f"{optd_seconds:.2f} s vs {scipy_seconds:.2f} s", flush=True)
    return totals


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
