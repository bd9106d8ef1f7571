#!/usr/bin/python3
"""Every torch.optim optimizer optd serves, against torch, on a real model.

Trains two copies of the same MLP (64 -> 128 -> 10, 9,610 parameters: three
4096-element blocks, so three shards each hold a slice) on scikit-learn's
bundled 8x8 digits (a fixed batch of the first 256 images, cross-entropy): one with
torch.optim's own optimizer (the single-tensor path, foreach=False), one
with its optd.torch drop-in, whose steps run in optd. After every step the
two models' parameters are compared bit for bit. Runs every optimizer in
float32 and float64, on one replica (K = 1) and sharded over three real
replicas (K = 3). Lion, which torch 1.13 lacks, is compared with its
authors' PyTorch code (google/automl lion_pytorch.py) written out below.

A run "mismatches" if any parameter differs at any step; the baseline is
torch itself in the same process, so the figure does not depend on the
machine's speed. Also prints the seconds each optimizer's runs took.

Last line: optimizers=.. steps=.. runs=.. mismatched=.. (mismatched=0 is
the promise), then the first mismatching step of each bad run above it.

Usage: bench/optimizer_parity.py [--steps N] (build/server/optd, or
$OPTD_BINARY). Needs python3-torch and python3-sklearn.
"""

import argparse
import pathlib
import socket
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from optd_server import OptdServer  # noqa: E402

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import optd  # noqa: E402
import optd.torch as optd_torch  # noqa: E402


class Lion(torch.optim.Optimizer):
    """google/automl lion/lion_pytorch.py, the reference optd's Lion is held
    to (Chen et al. 2023, Algorithm 2)."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.data.mul_(1 - group["lr"] * group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                update = exp_avg * beta1 + p.grad * (1 - beta1)
                p.add_(torch.sign(update), alpha=-group["lr"])
                exp_avg.mul_(beta2).add_(p.grad, alpha=1 - beta2)


# name -> (torch's class, optd's drop-in, keyword arguments)
OPTIMIZERS = {
    "Adam": (torch.optim.Adam, optd_torch.RemoteOptimizer,
             dict(lr=1e-3, weight_decay=1e-4), dict(decoupled=False)),
    "AdamW": (torch.optim.AdamW, optd_torch.RemoteOptimizer,
              dict(lr=1e-3, weight_decay=1e-2, amsgrad=True), {}),
    "SGD": (torch.optim.SGD, optd_torch.SGD,
            dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
            {}),
    "RMSprop": (torch.optim.RMSprop, optd_torch.RMSprop,
                dict(lr=1e-3, momentum=0.5, centered=True), {}),
    "Adagrad": (torch.optim.Adagrad, optd_torch.Adagrad,
                dict(lr=0.05, lr_decay=1e-3, initial_accumulator_value=0.1),
                {}),
    "Adamax": (torch.optim.Adamax, optd_torch.Adamax,
               dict(lr=2e-3, weight_decay=1e-4), {}),
    "NAdam": (torch.optim.NAdam, optd_torch.NAdam, dict(lr=2e-3), {}),
    "RAdam": (torch.optim.RAdam, optd_torch.RAdam,
              dict(lr=1e-3, weight_decay=1e-4), {}),
    "Lion": (Lion, optd_torch.Lion, dict(lr=1e-4, weight_decay=0.1), {}),
}


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_model(dtype):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    return model.to(dtype)


def run(name, dtype, shards, client, steps, inputs, labels):
    """The first step at which the two models differ, or None."""
    local_class, remote_class, kwargs, remote_kwargs = OPTIMIZERS[name]
    local, remote = make_model(dtype), make_model(dtype)
    torch_kwargs = dict(kwargs)
    if local_class is not Lion:
        torch_kwargs["foreach"] = False
    local_opt = local_class(local.parameters(), **torch_kwargs)
    remote_opt = remote_class(remote.parameters(), client=client,
                              shards=shards, **kwargs, **remote_kwargs)
    x = inputs.to(dtype)
    loss_fn = torch.nn.CrossEntropyLoss()
    with remote_opt:
        for step in range(1, steps + 1):
            for model, opt in ((local, local_opt), (remote, remote_opt)):
                opt.zero_grad()
                loss_fn(model(x), labels).backward()
                opt.step()
            for a, b in zip(local.parameters(), remote.parameters()):
                if not torch.equal(a, b):
                    return step
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    # One thread: the two models' arithmetic must not depend on how torch
    # splits its work, and two cores are shared with three optd processes.
    torch.set_num_threads(1)
    digits = load_digits()
    inputs = torch.tensor(digits.data[:args.batch] / 16.0)
    labels = torch.tensor(digits.target[:args.batch], dtype=torch.long)

    ports = free_ports(3)
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    servers = [OptdServer(f"--port={port}", f"--peers={peers}",
                          f"--replica_index={index}")
               for index, port in enumerate(ports)]
    client = optd.connect(servers[0].address, timeout=60)
    runs, bad = 0, []
    try:
        for name in OPTIMIZERS:
            start = time.perf_counter()
            for dtype in (torch.float32, torch.float64):
                for shards in (1, 3):
                    first = run(name, dtype, shards, client, args.steps,
                                inputs, labels)
                    runs += 1
                    if first is not None:
                        bad.append(f"{name} {dtype} K={shards}: first "
                                   f"difference at step {first}")
            print(f"{name:8s} 4 runs of {args.steps} steps in "
                  f"{time.perf_counter() - start:6.1f} s", flush=True)
    finally:
        client.close()
        for server in servers:
            server.stop()
    for line in bad:
        print(line)
    print(f"optimizers={len(OPTIMIZERS)} steps={args.steps} runs={runs} "
          f"mismatched={len(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
