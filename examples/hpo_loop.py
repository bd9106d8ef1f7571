#!/usr/bin/python3
"""Hyperparameter tuning with optd's L-BFGS-B and finite differences, served
by parallel worker processes, next to Optuna's TPE on the same budget.

The model: scikit-learn's GaussianProcessRegressor on the bundled diabetes
data (sklearn.datasets.load_diabetes: 442 patients, 10 features; no
download), with the kernel ConstantKernel(amplitude) * RBF(length_scale) +
WhiteKernel(noise_level) held fixed (optimizer=None). The three
hyperparameters are tuned on log10 scales within

    amplitude     [1e-2, 1e2]     signal variance of the standardized target
    length_scale  [1e-1, 1e2]     of the RBF, on standardized features
    noise_level   [1e-3, 1e1]     observation noise variance

to minimize the validation negative log predictive density (NLPD, nats per
point) of a fixed 2/3 - 1/3 split. Why this model: fitting it is one
Cholesky factorization, so the validation loss is a smooth, deterministic
function of the hyperparameters (no random restarts, no iterative solver
stopping at a tolerance), and finite differences of it are accurate to
about 1e-9 — the setting in which a gradient-based search with finite
differences makes sense. The NLPD depends on all three (a mean squared
error would see only the ratio noise / amplitude), and its optimum lies
inside the box.

optd: one `lbfgs` session with the log10 box as bounds and
gradient_source=FINITE_DIFFERENCE. Each gradient is a batch of trials (the
point and its stencil: n + 1 = 4 values with --scheme=forward, 2n + 1 = 7
with central); --workers processes each run Session.work and evaluate the
batch's points at once. Every value told counts against --budget; when the
trial log holds that many the script stops the session (a worker's trial in
flight then is dropped and not counted).

Optuna: TPESampler(seed=0) with suggest_float(..., log=True) on the same
ranges and the same budget.

The script prints the best validation NLPD found after 10, 20, 40, ...
evaluations and, last, `optd_best=... optuna_best=... evaluations=...`.

    /usr/bin/python3 examples/hpo_loop.py                 # starts its own optd
    /usr/bin/python3 examples/hpo_loop.py --address=localhost:50051 --budget=60

Needs python3-sklearn and python3-optuna (Debian packages); its own optd is
$OPTD_BINARY or build/server/optd.
"""

import argparse
import math
import multiprocessing
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import List, Sequence, Tuple

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "client" / "python"))
import optd  # noqa: E402

# (name, log10 lower, log10 upper)
HYPERPARAMETERS = (("amplitude", -2.0, 2.0), ("length_scale", -1.0, 2.0),
                   ("noise_level", -3.0, 1.0))
LOWER = np.array([lo for _, lo, _ in HYPERPARAMETERS])
UPPER = np.array([hi for _, _, hi in HYPERPARAMETERS])


class ValidationLoss:
    """The validation NLPD of a fixed-kernel GP as a function of the
    hyperparameters' log10 values."""

    def __init__(self) -> None:
        from sklearn.datasets import load_diabetes
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
        features, target = load_diabetes(return_X_y=True)
        (train_x, valid_x, train_y, valid_y) = train_test_split(
            features, target, test_size=1 / 3, random_state=0)
        scaler = StandardScaler().fit(train_x)
        mean, scale = train_y.mean(), train_y.std()
        self.train = (scaler.transform(train_x), (train_y - mean) / scale)
        self.valid = (scaler.transform(valid_x), (valid_y - mean) / scale)

    def __call__(self, log10_params: Sequence[float]) -> float:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import (RBF, ConstantKernel,
                                                      WhiteKernel)
        amplitude, length_scale, noise_level = 10.0 ** np.asarray(
            log10_params, dtype=np.float64)
        kernel = (ConstantKernel(amplitude, "fixed")
                  * RBF(length_scale, "fixed")
                  + WhiteKernel(noise_level, "fixed"))
        model = GaussianProcessRegressor(kernel, optimizer=None)
        model.fit(*self.train)
        mean, std = model.predict(self.valid[0], return_std=True)
        z = (self.valid[1] - mean) / std
        return float(np.mean(np.log(std) + 0.5 * z * z
                             + 0.5 * math.log(2 * math.pi)))


# -- optd ---------------------------------------------------------------------

def worker_main(address: str, session_id: str, worker_id: str) -> None:
    """One worker process: evaluates the session's trials until it ends."""
    loss = ValidationLoss()
    with optd.connect(address, timeout=60) as client:
        client.session(session_id).work(loss, worker_id)


def run_optd(address: str, budget: int, workers: int, scheme: str,
             lease: float) -> Tuple[List[float], str]:
    """The values told, in the order the session applied them (the first
    `budget`), and the session's one-line report."""
    x0 = (LOWER + UPPER) / 2
    with optd.connect(address, timeout=60) as client:
        session = client.create_session(
            x0, "lbfgs", bounds=(LOWER, UPPER),
            gradient_source="finite_difference",
            finite_difference={"scheme": scheme}, lease=lease,
            labels={"example": "hpo-loop"})
        with session:
            spawn = multiprocessing.get_context("spawn")
            processes = [spawn.Process(
                target=worker_main,
                args=(address, session.session_id, f"worker-{k}"))
                for k in range(workers)]
            for process in processes:
                process.start()
            # Stop the session once the budget has been told.
            while True:
                info = session.info()
                if info.state.finished:
                    break
                if info.tells >= budget:
                    session.stop()
                    break
                time.sleep(0.01)
            for process in processes:
                process.join()
                if process.exitcode != 0:
                    raise RuntimeError(f"a worker exited with "
                                       f"{process.exitcode}")
            log = session.history()
            info = session.info()
    values = [record.value for record in log[:budget]]
    report = str(info.summary) if info.summary else info.state.name
    return values, report


# -- Optuna -------------------------------------------------------------------

def run_optuna(budget: int, jobs: int) -> List[float]:
    """The values of Optuna's TPE trials, in trial order."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loss = ValidationLoss()

    def objective(trial) -> float:
        return loss([math.log10(trial.suggest_float(name, 10.0 ** lo,
                                                    10.0 ** hi, log=True))
                     for name, lo, hi in HYPERPARAMETERS])

    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=budget, n_jobs=jobs)
    trials = sorted(study.trials, key=lambda t: t.number)
    return [t.value for t in trials]


# -- reporting and setup ------------------------------------------------------

def best_so_far(values: List[float], count: int) -> float:
    finite = [v for v in values[:count] if math.isfinite(v)]
    return min(finite) if finite else math.nan


def checkpoints(budget: int) -> List[int]:
    """10, 20, 40, 80, ... below the budget, then the budget."""
    marks, mark = [], 10
    while mark < budget:
        marks.append(mark)
        mark *= 2
    return marks + [budget]


class OwnServer:
    """An optd started for this run on a free loopback port."""

    def __init__(self) -> None:
        binary = pathlib.Path(os.environ.get("OPTD_BINARY",
                                             "build/server/optd"))
        if not binary.is_absolute():
            binary = ROOT / binary
        if not binary.exists():
            sys.exit(f"{binary} does not exist: build optd, pass --address "
                     "or set OPTD_BINARY")
        self._dir = tempfile.TemporaryDirectory(prefix="optd-hpo-")
        port_file = pathlib.Path(self._dir.name) / "port"
        self._log = open(pathlib.Path(self._dir.name) / "optd.log", "w")
        self.process = subprocess.Popen(
            [str(binary), "--port=0", f"--port_file={port_file}"],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit("optd did not start")
            time.sleep(0.02)
        self.address = f"127.0.0.1:{port_file.read_text().strip()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self._log.close()
        self._dir.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=os.environ.get("OPTD_ADDRESS"),
                        help="an optd server; default: start one")
    parser.add_argument("--budget", type=int, default=80,
                        help="evaluations (model fits) for each method")
    parser.add_argument("--workers", type=int, default=4,
                        help="optd worker processes")
    parser.add_argument("--scheme", choices=("forward", "central"),
                        default="forward",
                        help="finite differences: forward (n + 1 values per "
                        "gradient) or central (2n + 1)")
    parser.add_argument("--lease", type=float, default=30.0,
                        help="seconds a worker holds a trial")
    parser.add_argument("--optuna_jobs", type=int, default=1,
                        help="Optuna's n_jobs (1: reproducible)")
    args = parser.parse_args()
    if args.budget < 1 or args.workers < 1:
        parser.error("--budget and --workers must be at least 1")

    server = None if args.address else OwnServer()
    address = args.address or server.address
    try:
        started = time.monotonic()
        optd_values, report = run_optd(address, args.budget, args.workers,
                                       args.scheme, args.lease)
        optd_seconds = time.monotonic() - started
    finally:
        if server is not None:
            server.stop()
    started = time.monotonic()
    optuna_values = run_optuna(args.budget, args.optuna_jobs)
    optuna_seconds = time.monotonic() - started

    print(f"GP on diabetes, validation NLPD (lower is better); budget "
          f"{args.budget} fits each")
    print(f"optd: L-BFGS-B, {args.scheme} differences, {args.workers} "
          f"workers, {len(optd_values)} fits counted, {optd_seconds:.1f} s: "
          f"{report}")
    print(f"optuna: TPE seed 0, n_jobs={args.optuna_jobs}, "
          f"{optuna_seconds:.1f} s")
    print(f"{'evaluations':>11}  {'optd best':>12}  {'optuna best':>12}")
    for count in checkpoints(args.budget):
        print(f"{count:11d}  {best_so_far(optd_values, count):12.6f}  "
              f"{best_so_far(optuna_values, count):12.6f}")
    # optd may converge with fewer fits than the budget: its best is then
    # final.
    print(f"optd_best={best_so_far(optd_values, args.budget):.6f} "
          f"optuna_best={best_so_far(optuna_values, args.budget):.6f} "
          f"evaluations={args.budget}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
