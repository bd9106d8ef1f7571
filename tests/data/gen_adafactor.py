#!/usr/bin/python3
"""Reference trajectories of HuggingFace transformers' Adafactor, in numpy.

Regenerate (deterministic; overwrites tests/data/adafactor/*.txt):

    /usr/bin/python3 tests/data/gen_adafactor.py

transformers cannot be installed on this machine, so `adafactor_step` below
re-implements `transformers.optimization.Adafactor.step` (transformers 4.x,
the class "copied from fairseq") line by line in numpy, each array in the
parameter's dtype (float64 or float32), as torch keeps them: the step count
and the scalars (beta2t, lr) are Python floats, rounded to the dtype where
they meet an array. solvers/adafactor/adafactor_test.cc replays every file
through optd's solver.

The two are not bitwise equal, and the comparison has a tolerance: numpy's
means are pairwise sums in the dtype, optd's (adafactor_vectors.h) are sums
in double in a fixed order, rounded once; RMS(x) and RMS(u) differ the same
way; and optd fuses `add_(t, alpha)` into one fma as ATen does, numpy rounds
twice.

Each run minimizes a drifting separable quadratic, f_t(x) = 1/2 sum a_i (x_i
- s_t b_i)^2 with s_t = 1 + 0.5 ((t mod 7) - 3) / 3 at step t = 1, 2, ...:
the gradient a * (x - s_t b) is computed in float64 from x (read as float64)
and rounded to the dtype, with the same IEEE operations on both sides.

File layout: text lines "key values...":

    name      run name
    dtype     float64 | float32
    option    key value          (one line per AdafactorOptions field set;
                                  "none" for an unset lr or beta1)
    layers    RxC ...            (C = 0: a vector; absent: one vector)
    steps     number of steps
    a, b, x0  n values each (%.17g)
    x         step, then n values: the parameters after that step (steps
              1, 10, 100, 250, 500; float32 values in 9 digits, exact)
"""

import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'adafactor')
STEPS = 500
RECORDED = (1, 10, 100, 250, 500)

DEFAULTS = dict(lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0,
                decay_rate=-0.8, beta1=None, weight_decay=0.0,
                scale_parameter=True, relative_step=True, warmup_init=False)

# Shapes: matrices, a vector, a wide matrix, an (n, 1) matrix (factored, as
# transformers treats any 2-D tensor). (Shard boundaries are tested without a
# reference: adafactor_test.cc checks K = 1..4 bitwise against each other.)
MIXED = [(16, 24), (24, 0), (5, 300), (7, 1), (12, 40)]

RUNS = [
    ('defaults', MIXED, {}),
    ('beta1_wd_lr', MIXED, dict(lr=1e-2, relative_step=False,
                                scale_parameter=False, beta1=0.9,
                                weight_decay=1e-2)),
    ('warmup_clip', MIXED, dict(warmup_init=True, decay_rate=-0.5,
                                clip_threshold=0.5, eps=(1e-20, 1e-2))),
    ('vector_only', None, dict(beta1=0.5)),
]


def rms(t):
    """Adafactor._rms: tensor.norm(2) / (tensor.numel() ** 0.5)."""
    return float(np.sqrt(np.sum(t * t, dtype=t.dtype))) / (t.size ** 0.5)


def get_lr(group, step, rms_p):
    """Adafactor._get_lr."""
    rel_step_sz = group['lr']
    if group['relative_step']:
        min_step = 1e-6 * step if group['warmup_init'] else 1e-2
        rel_step_sz = min(min_step, 1.0 / math.sqrt(step))
    param_scale = 1.0
    if group['scale_parameter']:
        param_scale = max(group['eps'][1], rms_p)
    return param_scale * rel_step_sz


def adafactor_step(p, grad, state, group):
    """Adafactor.step for one parameter p (updated in place)."""
    t = p.dtype.type
    factored = p.ndim >= 2
    use_first_moment = group['beta1'] is not None
    if not state:
        state['step'] = 0
        if use_first_moment:
            state['exp_avg'] = np.zeros_like(grad)
        if factored:
            state['exp_avg_sq_row'] = np.zeros(grad.shape[:-1], grad.dtype)
            state['exp_avg_sq_col'] = np.zeros(grad.shape[:-2] +
                                               grad.shape[-1:], grad.dtype)
        else:
            state['exp_avg_sq'] = np.zeros_like(grad)
    state['step'] += 1
    state['RMS'] = rms(p)
    lr = get_lr(group, state['step'], state['RMS'])
    beta2t = 1.0 - math.pow(state['step'], group['decay_rate'])
    update = grad * grad + t(group['eps'][0])
    if factored:
        row, col = state['exp_avg_sq_row'], state['exp_avg_sq_col']
        row *= t(beta2t)
        row += update.mean(axis=-1, dtype=p.dtype) * t(1.0 - beta2t)
        col *= t(beta2t)
        col += update.mean(axis=-2, dtype=p.dtype) * t(1.0 - beta2t)
        # _approx_sq_grad
        r_factor = (1 / np.sqrt(row / row.mean(axis=-1, keepdims=True,
                                                dtype=p.dtype)))[..., None]
        c_factor = (1 / np.sqrt(col))[..., None, :]
        update = (r_factor * c_factor) * grad
    else:
        v = state['exp_avg_sq']
        v *= t(beta2t)
        v += update * t(1.0 - beta2t)
        update = (1 / np.sqrt(v)) * grad
    update = update / t(max(rms(update) / group['clip_threshold'], 1.0))
    update = update * t(lr)
    if use_first_moment:
        m = state['exp_avg']
        m *= t(group['beta1'])
        m += update * t(1 - group['beta1'])
        update = m
    if group['weight_decay'] != 0:
        p += p * t(-group['weight_decay'] * lr)
    p -= update


def fmt(values, digits=17):
    return ' '.join('%.*g' % (digits, float(v)) for v in values)


def run(name, layers, overrides, dtype):
    group = dict(DEFAULTS, **overrides)
    shapes = layers if layers is not None else [(1000, 0)]
    n = sum(r * c if c else r for r, c in shapes)
    rng = np.random.RandomState(20180411)  # Shazeer & Stern's arXiv date
    a = rng.uniform(0.1, 3.0, n)
    b = rng.normal(0.0, 1.0, n)
    x0 = rng.normal(0.0, 0.5, n)
    x = x0.astype(dtype)
    # One view (and one state) per layer, as torch's param tensors.
    views, offset = [], 0
    for r, c in shapes:
        size = r * c if c else r
        views.append(x[offset:offset + size].reshape((r, c) if c else (r,)))
        offset += size
    states = [dict() for _ in shapes]
    lines = ['name %s_%s' % (name, 'f64' if dtype == np.float64 else 'f32'),
             'dtype %s' % ('float64' if dtype == np.float64 else 'float32')]
    for key in ('lr', 'clip_threshold', 'decay_rate', 'beta1',
                'weight_decay', 'scale_parameter', 'relative_step',
                'warmup_init'):
        value = group[key]
        lines.append('option %s %s' % (
            key, 'none' if value is None else
            int(value) if isinstance(value, bool) else '%.17g' % value))
    lines.append('option eps1 %.17g' % group['eps'][0])
    lines.append('option eps2 %.17g' % group['eps'][1])
    if layers is not None:
        lines.append('layers ' + ' '.join('%dx%d' % s for s in layers))
    lines.append('steps %d' % STEPS)
    # float32 values round-trip in 9 significant digits.
    digits = 17 if dtype == np.float64 else 9
    lines += ['a ' + fmt(a), 'b ' + fmt(b), 'x0 ' + fmt(x, digits)]
    for step in range(1, STEPS + 1):
        s = 1.0 + 0.5 * (((step % 7) - 3) / 3.0)
        g = (a * (x.astype(np.float64) - b * s)).astype(dtype)
        offset = 0
        for view, state, (r, c) in zip(views, states, shapes):
            size = r * c if c else r
            adafactor_step(view, g[offset:offset + size].reshape(view.shape),
                           state, group)
            offset += size
        if step in RECORDED:
            lines.append('x %d %s' % (step, fmt(x, digits)))
    path = os.path.join(OUT, lines[0].split()[1] + '.txt')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, layers, overrides in RUNS:
        for dtype in (np.float64, np.float32):
            run(name, layers, overrides, dtype)


if __name__ == '__main__':
    main()
