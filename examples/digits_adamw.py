#!/usr/bin/python3
"""Trains a small MLP on scikit-learn's digits with a remote AdamW.

Two copies of the same network (64 -> 64 -> 10, float32) are trained side by
side on the bundled 8x8 digits (sklearn.datasets.load_digits: no download):
one with torch.optim.AdamW, one with optd.torch.RemoteOptimizer, whose AdamW
runs in an optd server. optd reproduces torch's AdamW bit for bit, so the two
loss curves are the same; the script prints both and the largest relative
difference, and exits 1 if it exceeds --tolerance.

    build/server/optd &                       # or scripts/run.sh
    PYTHONPATH=client/python /usr/bin/python3 examples/digits_adamw.py \\
        --address=localhost:50051

Needs python3-torch and python3-sklearn (Debian packages).
"""

import argparse
import os
import pathlib
import sys

import torch
from sklearn.datasets import load_digits

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]
                       / "client" / "python"))
from optd.torch import RemoteOptimizer  # noqa: E402


def make_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10))


def accuracy(model: torch.nn.Module, inputs, labels) -> float:
    with torch.no_grad():
        return (model(inputs).argmax(dim=1) == labels).float().mean().item()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=os.environ.get(
        "OPTD_ADDRESS", "localhost:50051"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--weight_decay", type=float, default=1e-2)
    parser.add_argument("--every", type=int, default=25,
                        help="print the losses every this many steps")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args()

    digits = load_digits()
    inputs = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    labels = torch.tensor(digits.target, dtype=torch.long)
    train, test = slice(0, 1500), slice(1500, None)

    local, remote = make_model(0), make_model(0)
    hyper = dict(lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=args.weight_decay)
    local_opt = torch.optim.AdamW(local.parameters(), **hyper)
    remote_opt = RemoteOptimizer(remote.parameters(), args.address,
                                 labels={"example": "digits"}, **hyper)
    loss_fn = torch.nn.CrossEntropyLoss()

    print(f"optd session {remote_opt.session.session_id}: AdamW on "
          f"{remote_opt.session.dimension} float32 parameters")
    print(f"{'step':>5}  {'local AdamW':>14}  {'remote AdamW':>14}")
    worst_loss, worst_param = 0.0, 0.0
    with remote_opt:
        for step in range(1, args.steps + 1):
            losses = []
            for model, opt in ((local, local_opt), (remote, remote_opt)):
                opt.zero_grad()
                loss = loss_fn(model(inputs[train]), labels[train])
                loss.backward()
                opt.step()
                losses.append(loss.item())
            worst_loss = max(worst_loss, abs(losses[0] - losses[1])
                             / abs(losses[0]))
            for a, b in zip(local.parameters(), remote.parameters()):
                diff = ((a - b).abs() / a.abs().clamp_min(1e-12)).max().item()
                worst_param = max(worst_param, diff)
            if step == 1 or step % args.every == 0 or step == args.steps:
                print(f"{step:5d}  {losses[0]:14.8f}  {losses[1]:14.8f}")
        summary = remote_opt.session.info()
    print(f"test accuracy: local "
          f"{accuracy(local, inputs[test], labels[test]):.3f}, remote "
          f"{accuracy(remote, inputs[test], labels[test]):.3f}")
    print(f"server: {summary.iterations} AdamW steps, state "
          f"{summary.state.name}")
    print(f"max relative difference: loss {worst_loss:.3g}, "
          f"parameters {worst_param:.3g}")
    worst = max(worst_loss, worst_param)
    if worst > args.tolerance:
        print(f"FAIL: larger than --tolerance={args.tolerance:g}")
        return 1
    print("OK: remote AdamW follows local AdamW"
          + (" bit for bit" if worst == 0.0 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
