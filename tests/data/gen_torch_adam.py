#!/usr/bin/python3
"""Reference trajectories of torch.optim.Adam / AdamW (torch 1.13, CPU).

Regenerate (deterministic; overwrites tests/data/torch_adam/*.bin):

    /usr/bin/python3 tests/data/gen_torch_adam.py

For each of the 16 runs {Adam, AdamW} x {amsgrad off, on} x {weight_decay 0,
0.1} x {float64, float32} this starts from p0 (n = 37 elements: more than one
AVX2/AVX-512 vector chunk of torch's CPU loops, plus a scalar tail), runs 1000
steps of torch.optim.{Adam,AdamW}(..., foreach=False), i.e. the single-tensor
path `_single_tensor_adam` / `_single_tensor_adamw`, with the fixed gradient
sequence below, and records the parameter vector. solvers/adam_kernel_test.cc
replays the same gradients through optd's kernel and compares.

Gradient sequence (independent of p; the C++ test defines the same function):

    key(t, i) = (t << 20) | i                         (uint64; i < 2^20)
    h(t, i)   = splitmix64 finalizer of key + 0x9E3779B97F4A7C15:
                z = key + 0x9E3779B97F4A7C15            (mod 2^64)
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 (mod 2^64)
                z = (z ^ (z >> 27)) * 0x94D049BB133111EB (mod 2^64)
                z =  z ^ (z >> 31)
    u(t, i)   = (h(t, i) mod 2^32) / 2^32 - 0.5        (exact in float64)
    g[t][i]   = u(t, i) * 2^e(i),  e(i) = (13 * i mod 37) - 28, for t >= 1
    p0[i]     = 2 * u(0, i)

so |g| spans about 2^-60 .. 2^7: the tiny elements make eps dominate the
denominator, the large ones make it negligible. Every g is an exact float64;
the float32 runs hand torch g rounded to nearest float32 (what optd does with
a float64 gradient for float32 state).

File layout (all little-endian), one file per run, named
{adam,adamw}_{ams,noams}_wd{0,0.1}_{f64,f32}.bin:

    offset  type      field
    0       char[8]   magic "OPTDADAM"
    8       uint32    version (1)
    12      uint32    scalar_bytes: 8 = float64, 4 = float32
    16      uint32    n (37)
    20      uint32    num_steps (1000)
    24      uint32    record_stride: records are taken after steps
                      0, s, 2s, ..., num_steps (step 0 = p0)
    28      uint32    flags: bit 0 = AdamW, bit 1 = amsgrad
    32      float64   lr
    40      float64   beta1
    48      float64   beta2
    56      float64   eps
    64      float64   weight_decay
    72      scalar[num_steps / record_stride + 1][n]  parameter records

float32 runs record every step (stride 1). float64 runs record every 10th
step (stride 10) to keep the folder under ~1.5 MB; any deviation of the
float64 replay propagates to the next recorded step.
"""

import os
import struct

import numpy as np
import torch

N = 37
NUM_STEPS = 1000
LR = 1e-3
MASK64 = (1 << 64) - 1


def h(t, i):
    z = (((t << 20) | i) + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def u(t, i):
    return (h(t, i) & 0xFFFFFFFF) / 4294967296.0 - 0.5


def gradient(t):
    return [u(t, i) * 2.0 ** ((13 * i % 37) - 28) for i in range(N)]


def run(adamw, amsgrad, weight_decay, dtype, out_path):
    # Non-default betas with amsgrad, non-default eps with weight decay, so
    # all four (betas, eps) combinations occur for both Adam and AdamW.
    betas = (0.8, 0.95) if amsgrad else (0.9, 0.999)
    eps = 1e-6 if weight_decay != 0 else 1e-8
    p = torch.tensor([2.0 * u(0, i) for i in range(N)],
                     dtype=torch.float64).to(dtype).requires_grad_(True)
    cls = torch.optim.AdamW if adamw else torch.optim.Adam
    opt = cls([p], lr=LR, betas=betas, eps=eps, weight_decay=weight_decay,
              amsgrad=amsgrad, foreach=False)
    stride = 1 if dtype == torch.float32 else 10
    records = [p.detach().clone()]
    for t in range(1, NUM_STEPS + 1):
        p.grad = torch.tensor(gradient(t), dtype=torch.float64).to(dtype)
        opt.step()
        if t % stride == 0:
            records.append(p.detach().clone())
    scalar_bytes = 8 if dtype == torch.float64 else 4
    flags = (1 if adamw else 0) | (2 if amsgrad else 0)
    header = struct.pack('<8s6I5d', b'OPTDADAM', 1, scalar_bytes, N,
                         NUM_STEPS, stride, flags, LR, betas[0], betas[1],
                         eps, weight_decay)
    assert len(header) == 72
    np_dtype = '<f8' if dtype == torch.float64 else '<f4'
    payload = torch.stack(records).numpy().astype(np_dtype).tobytes()
    with open(out_path, 'wb') as f:
        f.write(header + payload)


def main():
    torch.set_num_threads(1)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           'torch_adam')
    os.makedirs(out_dir, exist_ok=True)
    for adamw in (False, True):
        for amsgrad in (False, True):
            for wd in (0.0, 0.1):
                for dtype, tag in ((torch.float64, 'f64'),
                                   (torch.float32, 'f32')):
                    name = '%s_%s_wd%s_%s.bin' % (
                        'adamw' if adamw else 'adam',
                        'ams' if amsgrad else 'noams',
                        '0' if wd == 0 else '0.1', tag)
                    run(adamw, amsgrad, wd, dtype, os.path.join(out_dir, name))
    with open(os.path.join(out_dir, 'README.md'), 'w') as f:
        f.write('Parameter trajectories of torch.optim.Adam/AdamW '
                '(foreach=False, CPU) from torch.__version__ %s (Debian '
                'python3-torch); layout and gradient sequence in '
                '../gen_torch_adam.py. Regenerate with '
                '`/usr/bin/python3 tests/data/gen_torch_adam.py`.\n'
                % torch.__version__)


if __name__ == '__main__':
    main()
