#!/usr/bin/python3
"""optd's curvature sessions against numpy.linalg.eigvalsh.

Runs curvature sessions (Lanczos with full reorthogonalization, docs/
curvature.md) through the Python client against a real optd on matrices
whose spectra are known, and compares the k = 3 smallest and largest
eigenvalues the sessions report with numpy.linalg.eigvalsh of the same
matrix:

- quadratics Q diag(lambda) Q^T with chosen eigenvalues (geometric,
  clustered, indefinite) and Q the orthogonal factor of a Gaussian matrix
  drawn from a fixed seed, n = 100 to 1000, products H v told exactly;
- the same quadratics told as gradients g(x) = A x at x +- h v (source
  gradient_difference), so each product is a batch of two gradient trials;
- every Moré–Garbow–Hillstrom problem of tests/data/mgh_problems.py (up to
  n = 100) at its x0 whose gradient 2 J^T r takes complex arguments: its
  Hessian is formed column by column by complex-step differentiation of the
  analytic gradient, H e_i = Im g(x + i t e_i) / t with t = 1e-30 (Squire
  & Trapp, SIAM Review 40(1), 1998; no cancellation, so exact to rounding),
  symmetrized, and the session's products are H v of that matrix.

The relative error of an extreme eigenvalue is |theta - lambda| /
max(|lambda|, 1e-8 |H|_2): eigenvalues below 1e-8 of the largest (singular
Hessians such as linear_rank_1's) are compared on that scale, where an
error of 1e-6 of it (1e-14 |H|, a few n eps |H|) is the rounding of the
products H v.

Last line: problems=.. max_rel_error=.. hv_products=.. (products summed over
all sessions; a gradient difference counts one product for its two trials)
gradient_trials=.. (the gradient-difference sessions' trials).

Usage: bench/curvature.py [--quick] (build/server/optd, or $OPTD_BINARY).
"""

import argparse
import pathlib
import sys
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from optd_server import OptdServer  # noqa: E402

import numpy as np  # noqa: E402

import mgh_problems  # noqa: E402  (tests/data, on sys.path via optd_server)
import optd  # noqa: E402

K = 3


def with_spectrum(eigenvalues, seed):
    rng = np.random.default_rng(seed)
    n = len(eigenvalues)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * eigenvalues) @ q.T


def quadratics(quick):
    sizes = [100, 300] if quick else [100, 300, 1000]
    for n in sizes:
        yield f"geometric_{n}", with_spectrum(
            np.geomspace(1e-2, 1e3, n), n)
        clustered = np.concatenate([[0.5, 0.7], np.linspace(1.0, 2.0, n - 4),
                                    [50.0, 80.0]])
        yield f"clustered_{n}", with_spectrum(clustered, n + 1)
        yield f"indefinite_{n}", with_spectrum(
            np.linspace(-5.0, 20.0, n), n + 2)


def complex_step_hessian(problem, x):
    """The Hessian of f = sum r^2 at x by complex steps of g = 2 J^T r, or
    None when the problem's code does not take complex arguments."""
    n = len(x)
    t = 1e-30
    h = np.empty((n, n))
    try:
        # A real-only function (math.exp, assignment into a float array)
        # drops the imaginary part with a ComplexWarning: such a problem is
        # skipped rather than given a wrong Hessian.
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.ComplexWarning)
            for i in range(n):
                z = x.astype(complex)
                z[i] += 1j * t
                r, jac = problem.residuals(z)
                g = 2.0 * (np.asarray(jac).T @ np.asarray(r))
                if not np.iscomplexobj(g):
                    return None
                h[:, i] = g.imag / t
    except (TypeError, ValueError, np.ComplexWarning):
        return None
    if not np.all(np.isfinite(h)):
        return None
    # A check that it is the Hessian (gulf's |.| is not analytic): central
    # differences of the real gradient agree to 1e-5 of |H| (error O(s^2)
    # + O(eps / s)); a problem where they do not is skipped.
    s = 1e-5 * max(1.0, np.linalg.norm(x))
    fd = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = s
        fd[:, i] = (problem.fun(x + e)[1] - problem.fun(x - e)[1]) / (2 * s)
    if np.max(np.abs(fd - h)) > 1e-5 * max(1.0, np.max(np.abs(h))):
        return None
    return 0.5 * (h + h.T)


def relative_error(result, h):
    lam = np.linalg.eigvalsh(h)
    scale = 1e-8 * np.max(np.abs(lam))
    worst = 0.0
    for i in range(len(result.smallest)):
        for got, want in ((result.smallest[i], lam[i]),
                          (result.largest[i], lam[-1 - i])):
            worst = max(worst, abs(got - want) / max(abs(want), scale))
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    server = OptdServer()
    client = optd.connect(server.address, timeout=600)
    options = {"extreme_count": K, "max_steps": 1000}
    totals = dict(problems=0, products=0, gradient_trials=0)
    worst = 0.0
    try:
        cases = []
        for name, h in quadratics(args.quick):
            cases.append((name, h, "hessian_vector"))
            if name.startswith("geometric") or name.startswith("indefinite"):
                cases.append((name, h, "gradient_difference"))
        skipped = []
        for p in mgh_problems.PROBLEMS:
            if p.n > 100:
                continue
            h = complex_step_hessian(p, np.asarray(p.x0, dtype=float))
            if h is None:
                skipped.append(p.name)
                continue
            cases.append((f"mgh_{p.name}", h, "hessian_vector"))
        for name, h, source in cases:
            n = h.shape[0]
            x = np.zeros(n)
            if source == "hessian_vector":
                result = optd.curvature(x, hvp=lambda _x, v, h=h: h @ v,
                                        options=options, client=client)
            else:
                result = optd.curvature(
                    x, grad=lambda y, h=h: h @ y,
                    options=dict(options, source=source), client=client)
                totals["gradient_trials"] += 2 * result.products
            err = relative_error(result, h)
            worst = max(worst, err)
            totals["problems"] += 1
            totals["products"] += result.products
            print(f"{name:34s} {source:19s} n={n:5d} products={result.products:5d}"
                  f" steps={result.lanczos_steps:5d} converged="
                  f"{int(result.converged)} cond={result.condition_number:10.4g}"
                  f" rel_error={err:.2e}", flush=True)
        if skipped:
            print("skipped (gradient code not complex-analytic): "
                  + ", ".join(skipped))
    finally:
        client.close()
        server.stop()
    print(f"problems={totals['problems']} max_rel_error={worst:.3g} "
          f"hv_products={totals['products']} "
          f"gradient_trials={totals['gradient_trials']}")


if __name__ == "__main__":
    main()
