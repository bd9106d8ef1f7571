#!/usr/bin/python3
"""Reference trajectories of torch 1.13's other elementwise optimizers (CPU).

Regenerate (deterministic; overwrites tests/data/torch_first_order/*.bin):

    /usr/bin/python3 tests/data/gen_torch_first_order.py

Each run starts from the p0 of gen_torch_adam.py (n = 37: more than one
AVX2/AVX-512 vector chunk of torch's CPU loops plus a scalar tail), takes
1000 steps with that file's gradient sequence (the C++ side shares it:
solvers/testing/torch_adam_data.h) and records the parameters. The optimizers
run their single-tensor paths (`foreach=False`): torch.optim.SGD, RMSprop,
Adagrad, Adamax, NAdam and RAdam (`_single_tensor_*`). Lion has no torch
implementation; `lion_step` below re-implements google/automl's
lion_pytorch.py (the authors' reference, Chen et al. 2023) in the same torch
ops, which is what optd's kLion matches. solvers/adam/first_order_kernel_test.cc
replays every file through optd's kernel.

File layout (all little-endian), one file per run, named
{method}_{config}_{f64,f32}.bin:

    offset  type      field
    0       char[8]   magic "OPTDFRST"
    8       uint32    version (1)
    12      uint32    scalar_bytes: 8 = float64, 4 = float32
    16      uint32    n (37)
    20      uint32    num_steps (1000)
    24      uint32    record_stride: records are taken after steps
                      0, s, 2s, ..., num_steps (step 0 = p0)
    28      uint32    method: optd's ElementwiseMethod number (solvers/adam/
                      adam_kernel.h): 1 SGD, 2 RMSprop, 3 Adagrad, 4 Adamax,
                      5 NAdam, 6 RAdam, 7 Lion
    32      uint32    flags: bit 0 maximize, bit 1 nesterov, bit 2 centered
    36      uint32    0
    40      float64   lr
    48      float64   momentum
    56      float64   dampening
    64      float64   alpha
    72      float64   eps
    80      float64   weight_decay
    88      float64   beta1
    96      float64   beta2
    104     float64   lr_decay
    112     float64   initial_accumulator_value
    120     float64   momentum_decay
    128     scalar[num_steps / record_stride + 1][n]  parameter records

float32 runs record every 2nd step, float64 runs every 10th, to keep the
folder near 2 MB; a deviation in an unrecorded step propagates to the next
recorded one (the comparison is bitwise).
"""

import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The shared start point and gradient sequence (u, gradient, N, NUM_STEPS):
# one definition, which solvers/testing/torch_adam_data.h mirrors in C++.
from gen_torch_adam import N, NUM_STEPS, gradient, u  # noqa: E402

SGD, RMSPROP, ADAGRAD, ADAMAX, NADAM, RADAM, LION = 1, 2, 3, 4, 5, 6, 7


# (name, method, hyperparameters). Unnamed hyperparameters keep torch's
# defaults (the header records the values used). Together the runs cover
# every option of each method; RAdam's rho_t <= 5 branch holds for its first
# steps (5 with beta2 = 0.999) and the rectified branch after.
RUNS = [
    ('sgd_plain', SGD, dict(lr=1e-3)),
    ('sgd_momentum_dampening', SGD, dict(lr=1e-3, momentum=0.9,
                                         dampening=0.1)),
    ('sgd_nesterov_wd', SGD, dict(lr=1e-3, momentum=0.9, nesterov=True,
                                  weight_decay=0.1)),
    ('sgd_maximize_wd', SGD, dict(lr=1e-3, momentum=0.5, weight_decay=0.1,
                                  maximize=True)),
    ('rmsprop_plain', RMSPROP, dict(lr=1e-3)),
    ('rmsprop_centered', RMSPROP, dict(lr=1e-3, centered=True)),
    ('rmsprop_momentum_maximize', RMSPROP, dict(lr=1e-3, momentum=0.9,
                                                alpha=0.9, maximize=True)),
    ('rmsprop_centered_momentum_wd', RMSPROP, dict(
        lr=1e-3, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-6)),
    ('adagrad_lr_decay', ADAGRAD, dict(lr=1e-2, lr_decay=1e-2)),
    ('adagrad_init_maximize', ADAGRAD, dict(
        lr=1e-2, initial_accumulator_value=0.1, maximize=True)),
    ('adagrad_wd', ADAGRAD, dict(lr=1e-2, weight_decay=0.1, eps=1e-6)),
    ('adamax_plain', ADAMAX, dict(lr=2e-3)),
    ('adamax_wd_maximize', ADAMAX, dict(lr=2e-3, betas=(0.8, 0.95),
                                        weight_decay=0.1, maximize=True)),
    ('nadam_plain', NADAM, dict(lr=2e-3)),
    ('nadam_wd_momentum_decay', NADAM, dict(lr=2e-3, weight_decay=0.1,
                                            momentum_decay=1e-2,
                                            betas=(0.8, 0.95), eps=1e-6)),
    ('radam_plain', RADAM, dict(lr=1e-3)),
    ('radam_wd', RADAM, dict(lr=1e-3, weight_decay=0.1, betas=(0.8, 0.95))),
    ('lion_plain', LION, dict(lr=1e-4)),
    ('lion_wd', LION, dict(lr=1e-4, weight_decay=0.1, betas=(0.95, 0.98))),
]

TORCH_CLASS = {SGD: torch.optim.SGD, RMSPROP: torch.optim.RMSprop,
               ADAGRAD: torch.optim.Adagrad, ADAMAX: torch.optim.Adamax,
               NADAM: torch.optim.NAdam, RADAM: torch.optim.RAdam}


def lion_step(p, exp_avg, lr, betas, weight_decay):
    """google/automl lion_pytorch.py's Lion.step for one parameter."""
    with torch.no_grad():
        p.mul_(1 - lr * weight_decay)
        grad = p.grad
        beta1, beta2 = betas
        update = exp_avg * beta1 + grad * (1 - beta1)
        p.add_(torch.sign(update), alpha=-lr)
        exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


def run(method, kw, dtype, out_path):
    p = torch.tensor([2.0 * u(0, i) for i in range(N)],
                     dtype=torch.float64).to(dtype).requires_grad_(True)
    if method == LION:
        lion_exp_avg = torch.zeros_like(p, memory_format=torch.preserve_format)
        lion_kw = dict(lr=kw['lr'], betas=kw.get('betas', (0.9, 0.99)),
                       weight_decay=kw.get('weight_decay', 0.0))
        step = lambda: lion_step(p, lion_exp_avg, **lion_kw)
        defaults = dict(lion_kw)
    else:
        opt = TORCH_CLASS[method]([p], foreach=False, **kw)
        step = opt.step
        defaults = opt.defaults
    stride = 2 if dtype == torch.float32 else 10
    records = [p.detach().clone()]
    for t in range(1, NUM_STEPS + 1):
        p.grad = torch.tensor(gradient(t), dtype=torch.float64).to(dtype)
        step()
        if t % stride == 0:
            records.append(p.detach().clone())
    d = defaults
    betas = d.get('betas', (0.0, 0.0))
    flags = ((1 if d.get('maximize', False) else 0)
             | (2 if d.get('nesterov', False) else 0)
             | (4 if d.get('centered', False) else 0))
    header = struct.pack(
        '<8s8I11d', b'OPTDFRST', 1, 8 if dtype == torch.float64 else 4, N,
        NUM_STEPS, stride, method, flags, 0, d['lr'], d.get('momentum', 0.0),
        d.get('dampening', 0.0), d.get('alpha', 0.0), d.get('eps', 0.0),
        d.get('weight_decay', 0.0), betas[0], betas[1], d.get('lr_decay', 0.0),
        d.get('initial_accumulator_value', 0.0),
        d.get('momentum_decay', 0.0))
    assert len(header) == 128
    np_dtype = '<f8' if dtype == torch.float64 else '<f4'
    payload = torch.stack(records).numpy().astype(np_dtype).tobytes()
    with open(out_path, 'wb') as f:
        f.write(header + payload)


def main():
    torch.set_num_threads(1)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           'torch_first_order')
    os.makedirs(out_dir, exist_ok=True)
    for name, method, kw in RUNS:
        for dtype, tag in ((torch.float64, 'f64'), (torch.float32, 'f32')):
            run(method, kw, dtype,
                os.path.join(out_dir, '%s_%s.bin' % (name, tag)))
    with open(os.path.join(out_dir, 'README.md'), 'w') as f:
        f.write('Parameter trajectories of torch.optim.SGD, RMSprop, Adagrad, '
                'Adamax, NAdam, RAdam (foreach=False, CPU) and of Lion '
                '(google/automl lion_pytorch.py in torch ops) from '
                'torch.__version__ %s (Debian python3-torch); runs, layout '
                'and gradient sequence in ../gen_torch_first_order.py. '
                'Regenerate with '
                '`/usr/bin/python3 tests/data/gen_torch_first_order.py`.\n'
                % torch.__version__)


if __name__ == '__main__':
    main()
