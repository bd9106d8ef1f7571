"""optd.torch.Adafactor against tests/data/gen_adafactor.py's numpy
re-implementation of transformers' Adafactor.step on a small MLP (2-D
weights factored, 1-D biases not), float32 and float64; and the solver name
"adafactor" with layers through the plain client. Not bitwise (see
gen_adafactor.py): each step's parameters must agree to 16 ulps of the
dtype, relative, the tolerance solvers/adafactor/adafactor_test.cc uses."""
import os
import sys
import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "data"))
import gen_adafactor  # noqa: E402

try:
    import torch
    from optd.torch import Adafactor
except ImportError:  # pragma: no cover
    torch = None

STEPS = 60


def make_model(dtype):
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 7), torch.nn.Tanh(),
        torch.nn.Linear(7, 1)).to(dtype)


@unittest.skipIf(torch is None, "torch is not installed")
class AdafactorDropIn(ServerTestCase):

    def run_against_numpy(self, dtype, **hyper):
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        model = make_model(dtype)
        params = list(model.parameters())
        reference = [p.detach().numpy().astype(np_dtype).copy()
                     for p in params]
        states = [dict() for _ in params]
        group = dict(gen_adafactor.DEFAULTS, **hyper)
        generator = torch.Generator().manual_seed(5)
        inputs = torch.randn(32, 5, generator=generator, dtype=dtype)
        targets = torch.cos(inputs.sum(dim=1, keepdim=True))
        tolerance = 16 * np.finfo(np_dtype).eps
        with Adafactor(model.parameters(), client=self.client,
                       **hyper) as opt:
            info = opt.session.info()
            self.assertEqual(info.solver, "adafactor")
            self.assertEqual([(l.rows, l.cols) for l in info.proto.layers],
                             [(7, 5), (7, 0), (1, 7), (1, 0)])
            for step in range(1, STEPS + 1):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(inputs), targets)
                loss.backward()
                for p, ref, state in zip(params, reference, states):
                    gen_adafactor.adafactor_step(
                        ref, p.grad.detach().numpy().astype(np_dtype),
                        state, group)
                opt.step()
                for p, ref in zip(params, reference):
                    got = p.detach().numpy()
                    error = np.max(np.abs(got - ref)
                                   / np.maximum(np.abs(ref), 1.0))
                    self.assertLessEqual(
                        error, tolerance,
                        f"{dtype} {hyper} step {step}: {error:.3g}")

    def test_defaults_float64(self):
        self.run_against_numpy(torch.float64)

    def test_first_moment_manual_lr_float32(self):
        self.run_against_numpy(torch.float32, lr=1e-2, relative_step=False,
                               scale_parameter=False, beta1=0.9,
                               weight_decay=1e-2)

    def test_state_dict_resumes_bitwise(self):
        inputs = torch.linspace(-1, 1, 20, dtype=torch.float64).view(4, 5)
        targets = torch.ones(4, 1, dtype=torch.float64)

        def step(model, opt):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(inputs), targets).backward()
            opt.step()

        model, copy = make_model(torch.float64), make_model(torch.float64)
        with Adafactor(model.parameters(), beta1=0.8,
                       client=self.client) as opt:
            for _ in range(5):
                step(model, opt)
            state = opt.state_dict()
            copy.load_state_dict(model.state_dict())
            with Adafactor(copy.parameters(), beta1=0.8,
                           client=self.client) as resumed:
                resumed.load_state_dict(state)
                for _ in range(5):
                    step(model, opt)
                    step(copy, resumed)
                for a, b in zip(model.parameters(), copy.parameters()):
                    self.assertTrue(torch.equal(a, b))

    def test_refusals_are_transformers_own(self):
        model = make_model(torch.float64)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "Cannot combine manual `lr`"):
            Adafactor(model.parameters(), lr=1e-3, client=self.client)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "requires `relative_step=True`"):
            Adafactor(model.parameters(), lr=1e-3, relative_step=False,
                      warmup_init=True, client=self.client)
        conv = torch.nn.Conv2d(2, 3, 3).double()
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    r"parameter 0 has shape \(3, 2, 3, 3\)"):
            Adafactor(conv.parameters(), client=self.client)

    def test_plain_client_takes_layers_and_eps_pair(self):
        x0 = np.linspace(-1.0, 1.0, 10)
        with self.client.create_session(
                x0, "Adafactor", {"eps": (1e-20, 1e-2), "maxiter": 3},
                layers=[(2, 4), (2, 0)]) as session:
            info = session.info()
            self.assertEqual(info.proto.adafactor.eps1, 1e-20)
            self.assertEqual(info.proto.adafactor.eps2, 1e-2)
            self.assertEqual(info.proto.adafactor.max_steps, 3)
        with self.assertRaisesRegex(
                optd.InvalidArgument,
                "layers cover 9 elements; the session has dimension 10"):
            self.client.create_session(x0, "adafactor", layers=[(3, 3)])
        with self.client.create_session(x0, "adafactor") as session:
            trial = session.pending[0]
            with self.assertRaisesRegex(
                    optd.InvalidArgument,
                    "is a adafactor session; only adam and adamw take "
                    "learning rates"):
                session.tell(trial.trial_id, 1.0, np.ones(10), group_lr=[0.1])


if __name__ == "__main__":
    unittest.main()
