"""optd.torch.LBFGS: torch.optim.LBFGS's closure interface on an optd
L-BFGS session. Its iterates are scipy's L-BFGS-B's (the server's algorithm);
torch's own LBFGS(line_search_fn="strong_wolfe") reaches the same minimizer
by other points (optd/torch_lbfgs.py says why)."""

import unittest

import numpy as np
import scipy.optimize
from numpy.testing import assert_allclose

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import ServerTestCase

try:
    import torch
    from optd.torch import LBFGS
except ImportError:  # pragma: no cover
    torch = None


def problem():
    """A logistic regression (strongly convex with the L2 term): a model,
    and a closure factory over fixed data."""
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(200, 6, generator=generator, dtype=torch.float64)
    true = torch.tensor([1.5, -2.0, 0.5, 0.0, 3.0, -1.0], dtype=torch.float64)
    labels = (inputs @ true + 0.3 * torch.randn(
        200, generator=generator, dtype=torch.float64) > 0).double()
    model = torch.nn.Linear(6, 1).double()
    with torch.no_grad():
        model.weight.zero_()
        model.bias.fill_(0.1)

    def loss_of(model):
        logits = model(inputs).squeeze(1)
        return (torch.nn.functional.binary_cross_entropy_with_logits(
            logits, labels) + 1e-3 * (model.weight ** 2).sum())

    return model, loss_of


def flat(model):
    return np.concatenate([p.detach().reshape(-1).numpy()
                           for p in model.parameters()])


@unittest.skipIf(torch is None, "torch is not installed")
class TorchLbfgsTest(ServerTestCase):

    def closure_for(self, opt, model, loss_of):
        def closure():
            opt.zero_grad()
            loss = loss_of(model)
            loss.backward()
            return loss
        return closure

    def test_iterates_are_scipys_l_bfgs_b(self):
        model, loss_of = problem()
        x0 = flat(model)
        ours = []
        with LBFGS(model.parameters(), client=self.client, max_iter=1,
                   max_eval=100, history_size=10) as opt:
            closure = self.closure_for(opt, model, loss_of)
            while not opt.finished:
                opt.step(closure)
                if not opt.finished:
                    ours.append(flat(model))
            summary = opt.summary
        ours.append(flat(model))

        def fun(x):
            probe, _ = problem()
            torch.nn.utils.vector_to_parameters(torch.from_numpy(x.copy()),
                                                probe.parameters())
            loss = loss_of(probe)
            loss.backward()
            return float(loss), flat_grad(probe)

        theirs = []
        expected = scipy.optimize.minimize(
            fun, x0, jac=True, method="L-BFGS-B",
            callback=lambda xk: theirs.append(xk.copy()),
            options={"maxcor": 10, "gtol": 1e-7, "ftol": 1e-9})
        self.assertEqual(summary.iterations, expected.nit)
        self.assertEqual(len(ours), len(theirs))
        assert_allclose(np.array(ours), np.array(theirs), rtol=1e-7,
                        atol=1e-10)

    def test_torchs_lbfgs_reaches_the_same_minimizer(self):
        model, loss_of = problem()
        tight = dict(tolerance_grad=1e-11, tolerance_change=1e-15)
        with LBFGS(model.parameters(), client=self.client, **tight) as opt:
            closure = self.closure_for(opt, model, loss_of)
            for _ in range(20):
                opt.step(closure)
            self.assertTrue(opt.finished)
            self.assertTrue(opt.summary.success, opt.summary.message)
        reference, _ = problem()
        torch_opt = torch.optim.LBFGS(reference.parameters(),
                                      line_search_fn="strong_wolfe", **tight)
        torch_closure = self.closure_for(torch_opt, reference, loss_of)
        for _ in range(20):
            torch_opt.step(torch_closure)
        self.assertAlmostEqual(float(loss_of(model)),
                               float(loss_of(reference)), delta=1e-10)
        assert_allclose(flat(model), flat(reference), rtol=1e-6, atol=1e-7)

    def test_step_runs_at_most_max_iter_iterations(self):
        model, loss_of = problem()
        with LBFGS(model.parameters(), client=self.client, max_iter=3,
                   max_eval=100) as opt:
            closure = self.closure_for(opt, model, loss_of)
            start_loss = float(loss_of(model))
            returned = opt.step(closure)
            # torch's step returns the loss where it started.
            self.assertEqual(float(returned), start_loss)
            info = opt.session.info()
            self.assertEqual(info.iterations, 3)
            # The parameters hold the third iterate, whose loss is lower.
            self.assertLess(float(loss_of(model)), start_loss)
            opt.step(closure)
            self.assertEqual(opt.session.info().iterations, 6)

    def test_step_makes_at_most_max_eval_closure_calls(self):
        model, loss_of = problem()
        # torch's default max_eval is max_iter * 5 // 4: 3 for max_iter 3.
        with LBFGS(model.parameters(), client=self.client,
                   max_iter=3) as opt:
            closure = self.closure_for(opt, model, loss_of)
            calls = []

            def counting():
                calls.append(1)
                return closure()

            opt.step(counting)
            self.assertEqual(len(calls), 3)
            self.assertEqual(opt.session.info().evaluations, 3)

    def test_a_finished_session_evaluates_once(self):
        model, loss_of = problem()
        with LBFGS(model.parameters(), client=self.client,
                   max_iter=1000) as opt:
            closure = self.closure_for(opt, model, loss_of)
            opt.step(closure)
            self.assertTrue(opt.finished)
            before = flat(model)
            calls = []

            def counting():
                calls.append(1)
                return closure()

            opt.step(counting)
            self.assertEqual(len(calls), 1)
            assert_allclose(flat(model), before, rtol=0, atol=0)

    def test_state_dict_goes_on_bitwise_on_another_server(self):
        def run(move_at=None):
            model, loss_of = problem()
            seen = []
            other = optd_server.OptdServer() if move_at is not None else None
            other_client = optd.connect(other.address) if other else None
            opt = LBFGS(model.parameters(), client=self.client, max_iter=2,
                        max_eval=3)
            try:
                for step in range(8):
                    if step == move_at:
                        state = opt.state_dict()
                        opt.close()
                        opt = LBFGS(model.parameters(), client=other_client,
                                    max_iter=2, max_eval=3)
                        opt.load_state_dict(state)
                    opt.step(self.closure_for(opt, model, loss_of))
                    seen.append(flat(model))
                opt.close()
            finally:
                if other is not None:
                    other_client.close()
                    other.stop()
            return np.array(seen)

        # Moved after 3 steps (pairs, iterate, and a line search that
        # max_eval may have cut), the run is the unmoved one bit for bit.
        np.testing.assert_array_equal(run(move_at=3), run())

    def test_a_line_search_cut_by_max_eval_resumes_in_the_next_step(self):
        # However the closure calls are cut into steps, the session makes
        # the same iterates: a step that stops mid line search leaves it
        # to the next.
        finals = []
        for max_eval in (2, 3, 1000):
            model, loss_of = problem()
            with LBFGS(model.parameters(), client=self.client,
                       max_iter=1000, max_eval=max_eval) as opt:
                closure = self.closure_for(opt, model, loss_of)
                while not opt.finished:
                    opt.step(closure)
                finals.append((flat(model), opt.summary.iterations,
                               opt.summary.evaluations))
        for x, iterations, evaluations in finals[:-1]:
            np.testing.assert_array_equal(x, finals[-1][0])
            self.assertEqual(iterations, finals[-1][1])
            self.assertEqual(evaluations, finals[-1][2])

    def test_refusals_name_the_argument(self):
        model, _ = problem()
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "line_search_fn is None"):
            LBFGS(model.parameters(), client=self.client,
                  line_search_fn=None)
        with self.assertRaisesRegex(optd.InvalidArgument, "lr is 0.5"):
            LBFGS(model.parameters(), client=self.client, lr=0.5)
        with self.assertRaisesRegex(optd.InvalidArgument,
                                    "per-parameter options"):
            LBFGS([{"params": [model.weight]}, {"params": [model.bias]}],
                  client=self.client)


def flat_grad(model):
    return np.concatenate([p.grad.detach().reshape(-1).numpy()
                           for p in model.parameters()])


if __name__ == "__main__":
    unittest.main()
