"""optd.torch.RemoteOptimizer against local torch.optim.Adam/AdamW."""

import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase

try:
    import torch
    from optd.torch import RemoteOptimizer
except ImportError:  # pragma: no cover
    torch = None

STEPS = 500


def make_model(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
        torch.nn.ReLU(), torch.nn.Linear(16, 1)).to(dtype)


def make_data(dtype):
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(64, 8, generator=generator, dtype=dtype)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    return inputs, targets


def train_side_by_side(test, dtype, decoupled, steps=STEPS, **hyper):
    """Trains two copies of one model, locally and remotely; returns the
    largest relative parameter difference over all steps, and the losses."""
    inputs, targets = make_data(dtype)
    local, remote = make_model(dtype), make_model(dtype)
    local_class = torch.optim.AdamW if decoupled else torch.optim.Adam
    local_opt = local_class(local.parameters(), **hyper)
    remote_opt = RemoteOptimizer(remote.parameters(), client=test.client,
                                 decoupled=decoupled, **hyper)
    worst, losses = 0.0, []
    with remote_opt:
        for _ in range(steps):
            step_losses = []
            for model, opt in ((local, local_opt), (remote, remote_opt)):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(inputs), targets)
                loss.backward()
                opt.step()
                step_losses.append(loss.item())
            losses.append(step_losses)
            for a, b in zip(local.parameters(), remote.parameters()):
                scale = a.detach().abs().clamp_min(1e-12)
                worst = max(worst, ((a - b).abs() / scale).max().item())
    return worst, np.array(losses)


@unittest.skipIf(torch is None, "torch is not installed (python3-torch)")
class RemoteOptimizerTest(ServerTestCase):

    def test_matches_local_adamw_over_500_steps(self):
        for dtype in (torch.float64, torch.float32):
            for amsgrad in (False, True):
                with self.subTest(dtype=dtype, amsgrad=amsgrad):
                    worst, losses = train_side_by_side(
                        self, dtype, decoupled=True, lr=1e-2,
                        betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05,
                        amsgrad=amsgrad)
                    self.assertLessEqual(worst, 1e-6)
                    self.assertLess(losses[-1, 1], losses[0, 1] / 2)

    def test_matches_local_adam_over_500_steps(self):
        for dtype in (torch.float64, torch.float32):
            with self.subTest(dtype=dtype):
                worst, _ = train_side_by_side(
                    self, dtype, decoupled=False, lr=3e-3, weight_decay=1e-3)
                self.assertLessEqual(worst, 1e-6)

    def test_defaults_are_torchs(self):
        worst, _ = train_side_by_side(self, torch.float64, decoupled=True,
                                      steps=100)
        self.assertLessEqual(worst, 1e-6)
        worst, _ = train_side_by_side(self, torch.float64, decoupled=False,
                                      steps=100)
        self.assertLessEqual(worst, 1e-6)

    def test_closure_loss_is_told_as_the_value(self):
        inputs, targets = make_data(torch.float64)
        model = make_model(torch.float64)
        with RemoteOptimizer(model.parameters(), client=self.client,
                             lr=1e-2) as opt:
            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(inputs), targets)
                loss.backward()
                return loss

            losses = [opt.step(closure).item() for _ in range(5)]
            info = opt.session.info()
            self.assertEqual(info.solver, "adamw")
            self.assertEqual(info.iterations, 5)
            self.assertEqual(info.history[0].value, losses[0])
            self.assertEqual(opt.state_dict()["optd"]["session_id"],
                             opt.session.session_id)
        with self.assertRaises(optd.NotFound):  # close() deleted it
            self.client.get_session(info.session_id)

    def test_parameters_start_from_the_server_point(self):
        model = make_model(torch.float32)
        before = [p.detach().clone() for p in model.parameters()]
        with RemoteOptimizer(model.parameters(), client=self.client) as opt:
            self.assertEqual(opt.session.dtype, np.float32)
            self.assertEqual(opt.session.dimension,
                             sum(p.numel() for p in before))
            for a, b in zip(before, model.parameters()):
                self.assertTrue(torch.equal(a, b))

    def test_missing_gradients_count_as_zero(self):
        model = make_model(torch.float64)
        inputs, targets = make_data(torch.float64)
        last = list(model.parameters())[-1]
        with RemoteOptimizer(model.parameters(), client=self.client,
                             weight_decay=0.0) as opt:
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            loss.backward()
            last.grad = None
            before = last.detach().clone()
            opt.step()
            self.assertTrue(torch.equal(before, last))  # zero grad, no decay

    def test_changing_lr_in_param_groups_is_refused(self):
        model = make_model(torch.float64)
        with RemoteOptimizer(model.parameters(), client=self.client) as opt:
            opt.param_groups[0]["lr"] = 0.5
            with self.assertRaises(optd.FailedPrecondition) as caught:
                opt.step()
            self.assertIn("schedule", caught.exception.message)

    def test_one_parameter_group_only(self):
        model = make_model(torch.float64)
        groups = [{"params": list(model[0].parameters())},
                  {"params": list(model[2].parameters()), "lr": 0.1}]
        with self.assertRaises(optd.InvalidArgument):
            RemoteOptimizer(groups, client=self.client)

    def test_bad_hyperparameters_raise_the_servers_error(self):
        model = make_model(torch.float64)
        with self.assertRaises(optd.InvalidArgument) as caught:
            RemoteOptimizer(model.parameters(), client=self.client, lr=-1.0)
        self.assertIn("lr", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
