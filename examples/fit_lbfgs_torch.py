#!/usr/bin/python3
"""Fits a torch model's parameters by remote L-BFGS, compared with scipy.

The model is a damped oscillation, y(t) = A exp(-k t) cos(w t + phi) + c, as
a torch.nn.Module with five parameters, fitted by least squares to noisy
samples. torch's autograd gives the gradient; optd.minimize runs L-BFGS on an
optd server (scipy 1.10's L-BFGS-B defaults and stopping rules), and
scipy.optimize.minimize(method="L-BFGS-B") runs locally on the same function.
The script prints both results; they take the same number of evaluations and
reach the same fit. Exits 1 if the counts differ or the final losses differ
by more than --tolerance (relative).

    build/server/optd &                       # or scripts/run.sh
    PYTHONPATH=client/python /usr/bin/python3 examples/fit_lbfgs_torch.py \\
        --address=localhost:50051

Needs python3-torch and python3-scipy (Debian packages).
"""

import argparse
import os
import pathlib
import sys
from typing import Tuple

import numpy as np
import scipy.optimize
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]
                       / "client" / "python"))
import optd  # noqa: E402


class DampedOscillation(torch.nn.Module):
    """y(t) = amplitude * exp(-decay t) * cos(frequency t + phase) + offset."""

    def __init__(self) -> None:
        super().__init__()
        self.amplitude = torch.nn.Parameter(torch.tensor(1.0))
        self.decay = torch.nn.Parameter(torch.tensor(0.1))
        self.frequency = torch.nn.Parameter(torch.tensor(1.5))
        self.phase = torch.nn.Parameter(torch.tensor(0.0))
        self.offset = torch.nn.Parameter(torch.tensor(0.0))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return (self.amplitude * torch.exp(-self.decay * t)
                * torch.cos(self.frequency * t + self.phase) + self.offset)


class LeastSquares:
    """The objective over the model's flattened parameters: (f, g) for
    minimize(jac=True), the gradient from autograd."""

    def __init__(self, model: torch.nn.Module, t: torch.Tensor,
                 y: torch.Tensor) -> None:
        self.model, self.t, self.y = model, t, y
        self.params = list(model.parameters())

    def x0(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(
            self.params).detach().numpy().copy()

    def __call__(self, x: np.ndarray) -> Tuple[float, np.ndarray]:
        torch.nn.utils.vector_to_parameters(
            torch.as_tensor(np.array(x), dtype=torch.float64), self.params)
        for p in self.params:
            p.grad = None
        loss = 0.5 * ((self.model(self.t) - self.y) ** 2).mean()
        loss.backward()
        gradient = torch.nn.utils.parameters_to_vector(
            [p.grad for p in self.params])
        return loss.item(), gradient.numpy().copy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=os.environ.get(
        "OPTD_ADDRESS", "localhost:50051"))
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--tolerance", type=float, default=1e-8)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    t = torch.linspace(0.0, 10.0, args.samples, dtype=torch.float64)
    truth = (2.0, 0.3, 1.7, 0.5, 0.1)
    y = (truth[0] * torch.exp(-truth[1] * t) * torch.cos(truth[2] * t
                                                          + truth[3])
         + truth[4] + 0.05 * torch.randn(args.samples, generator=generator,
                                         dtype=torch.float64))
    objective = LeastSquares(DampedOscillation().double(), t, y)
    x0 = objective.x0()

    remote = optd.minimize(objective, x0, jac=True, method="L-BFGS-B",
                           address=args.address)
    local = scipy.optimize.minimize(objective, x0, jac=True,
                                    method="L-BFGS-B")

    names = [name for name, _ in objective.model.named_parameters()]
    print(f"{'':10s} {'truth':>10s} {'optd':>12s} {'scipy':>12s}")
    for name, true, a, b in zip(names, truth, remote.x, local.x):
        print(f"{name:10s} {true:10.4f} {a:12.8f} {b:12.8f}")
    print(f"{'loss':10s} {'':10s} {remote.fun:12.6g} {local.fun:12.6g}")
    print(f"{'nfev':10s} {'':10s} {remote.nfev:12d} {local.nfev:12d}")
    print(f"{'nit':10s} {'':10s} {remote.nit:12d} {local.nit:12d}")
    print(f"optd:  {remote.message}")
    print(f"scipy: {local.message}")
    print(remote.summary.brief_report)
    difference = abs(remote.fun - local.fun) / abs(local.fun)
    print(f"relative loss difference {difference:.3g}, max |x_optd - "
          f"x_scipy| {np.max(np.abs(remote.x - local.x)):.3g}")
    if (remote.nfev, remote.nit) != (local.nfev, local.nit) or (
            difference > args.tolerance) or not remote.success:
        print("FAIL: optd and scipy disagree")
        return 1
    print("OK: optd's L-BFGS took scipy's evaluations to the same fit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
