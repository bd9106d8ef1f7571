#!/usr/bin/python3
"""A worker process for test_workers.py: serves one optd session with
``Session.work`` until it ends, then prints one JSON line (the session's
final state and this worker's evaluation count).

    worker_process.py --address=127.0.0.1:PORT --session=ID --worker=w1 \\
        --objective=rosenbrock --delay=0.02
    worker_process.py ... --objective=shard --shard=2     # data-parallel
    worker_process.py ... --hang_file=PATH --hang_after=10  # hangs in its
        # 10th evaluation after writing PATH (the test then SIGKILLs it)

The objectives live here so that the test computes the same numbers in
process: ``bounded_rosenbrock`` (value only) and ``ShardedLeastSquares``.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

import optd_server  # noqa: F401  (sets sys.path)
import optd


def rosenbrock(x: np.ndarray) -> float:
    """The extended Rosenbrock chain sum 100 (x_{i+1} - x_i^2)^2 +
    (1 - x_i)^2."""
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2
                        + (1.0 - x[:-1]) ** 2))


def rosenbrock_gradient(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    b = x[1:] - x[:-1] ** 2
    g[:-1] = -400.0 * x[:-1] * b - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * b
    return g


class ShardedLeastSquares:
    """A regularized logistic regression on fixed synthetic data, cut into
    shards of unequal sizes: the full loss is the sample-weighted mean of the
    shard losses, so a data-parallel step with weight = shard size equals
    one step on all the data (and an unweighted mean does not)."""

    SIZES = (40, 60, 90, 130)
    DIMENSION = 6

    def __init__(self) -> None:
        rng = np.random.default_rng(2024)
        rows = sum(self.SIZES)
        self.features = rng.standard_normal((rows, self.DIMENSION))
        truth = rng.standard_normal(self.DIMENSION)
        # Labels depend on the row so that shards differ in distribution.
        logits = self.features @ truth + np.linspace(-1.5, 1.5, rows)
        self.labels = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype(
            np.float64)
        self.offsets = np.concatenate([[0], np.cumsum(self.SIZES)])

    def rows(self, shard: int) -> slice:
        return slice(self.offsets[shard], self.offsets[shard + 1])

    def loss(self, w: np.ndarray, rows: slice = slice(None)):
        """Mean log-loss plus 0.05 |w|^2 over `rows`, and its gradient."""
        a, y = self.features[rows], self.labels[rows]
        z = a @ w
        f = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.05 * w @ w)
        p = 1.0 / (1.0 + np.exp(-z))
        g = a.T @ (p - y) / len(y) + 0.1 * w
        return f, g


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--objective", choices=("rosenbrock", "shard"),
                        required=True)
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds each evaluation takes")
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--hang_file", default="")
    parser.add_argument("--hang_after", type=int, default=0)
    args = parser.parse_args()

    evaluations = 0

    def count_and_wait() -> None:
        nonlocal evaluations
        evaluations += 1
        if args.hang_file and evaluations == args.hang_after:
            with open(args.hang_file + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(args.hang_file + ".tmp", args.hang_file)
            time.sleep(3600)  # until SIGKILL
        if args.delay:
            time.sleep(args.delay)

    client = optd.connect(args.address, timeout=60)
    session = client.session(args.session)
    if args.objective == "rosenbrock":
        def value(x):
            count_and_wait()
            return rosenbrock(x)

        summary = session.work(value, args.worker)
    else:
        problem = ShardedLeastSquares()
        rows = problem.rows(args.shard)

        def value_and_gradient(x):
            count_and_wait()
            return problem.loss(x, rows)

        summary = session.work(value_and_gradient, args.worker, jac=True,
                               weight=float(problem.SIZES[args.shard]),
                               note=f"shard-{args.shard}", min_wait=0.005)
    print(json.dumps({"worker": args.worker, "evaluations": evaluations,
                      "state": session.state.name,
                      "summary": str(summary) if summary else None}))
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
