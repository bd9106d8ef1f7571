"""optd.torch.RemoteOptimizer against local torch.optim.Adam/AdamW."""

import tempfile
import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import OptdServer, ServerTestCase

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


def decay_and_no_decay(model, extra):
    """Two torch param groups: the weight matrices with decay, the biases
    with none (and their own lr and eps), in the model's order."""
    weights = [p for name, p in model.named_parameters()
               if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters()
              if name.endswith("bias")]
    return [dict(params=weights, **extra),
            dict(params=biases, weight_decay=0.0, lr=5e-3, eps=1e-6)]


def assert_same_parameters(test, local, remote, step):
    for (name, a), b in zip(local.named_parameters(), remote.parameters()):
        if not torch.equal(a, b):
            test.fail(f"step {step}: {name} differs from torch by up to "
                      f"{(a - b).abs().max().item()}")


def run_bitwise(test, dtype, steps, decoupled=True, groups=None,
                scheduler=None, **hyper):
    """Trains one model with torch.optim.Adam(W) and one with
    RemoteOptimizer, with the same param groups and lr scheduler, and
    checks every parameter bit for bit after every step."""
    inputs, targets = make_data(dtype)
    local, remote = make_model(dtype), make_model(dtype)
    local_class = torch.optim.AdamW if decoupled else torch.optim.Adam
    params = (lambda m: groups(m, {})) if groups else (
        lambda m: m.parameters())
    local_opt = local_class(params(local), **hyper)
    remote_opt = RemoteOptimizer(params(remote), client=test.client,
                                 decoupled=decoupled, **hyper)
    schedulers = ([scheduler(local_opt), scheduler(remote_opt)]
                  if scheduler else [])
    with remote_opt:
        for step in range(steps):
            for model, opt in ((local, local_opt), (remote, remote_opt)):
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(inputs), targets).backward()
                opt.step()
            for s in schedulers:
                s.step()
            assert_same_parameters(test, local, remote, step)
        if schedulers:  # the lr did change along the way
            test.assertNotEqual(remote_opt.param_groups[0]["lr"],
                                hyper.get("lr", 1e-3))


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

    def test_changing_betas_eps_or_decay_in_param_groups_is_refused(self):
        for key, value in (("betas", (0.8, 0.9)), ("eps", 1e-6),
                           ("weight_decay", 0.5)):
            model = make_model(torch.float64)
            with RemoteOptimizer(model.parameters(),
                                 client=self.client) as opt:
                opt.param_groups[0][key] = value
                with self.assertRaises(optd.FailedPrecondition) as caught:
                    opt.step()
                self.assertIn("only lr may change", caught.exception.message)

    def test_changing_lr_with_a_server_schedule_is_refused(self):
        model = make_model(torch.float64)
        with RemoteOptimizer(model.parameters(), client=self.client,
                             schedule={"warmup_steps": 10}) as opt:
            opt.param_groups[0]["lr"] = 0.5
            with self.assertRaises(optd.FailedPrecondition) as caught:
                opt.step()
            self.assertIn("schedule=", caught.exception.message)

    def test_groups_share_amsgrad(self):
        model = make_model(torch.float64)
        groups = [{"params": list(model[0].parameters())},
                  {"params": list(model[2].parameters()), "amsgrad": True}]
        with self.assertRaises(optd.InvalidArgument) as caught:
            RemoteOptimizer(groups, client=self.client)
        self.assertIn("amsgrad", caught.exception.message)

    def test_two_param_groups_match_torch_bitwise_over_300_steps(self):
        for dtype in (torch.float32, torch.float64):
            with self.subTest(dtype=dtype):
                run_bitwise(self, dtype, steps=300, lr=1e-2, betas=(0.9, 0.99),
                            groups=decay_and_no_decay)

    def test_adam_with_groups_matches_torch_bitwise(self):
        run_bitwise(self, torch.float64, steps=200, decoupled=False, lr=3e-3,
                    groups=decay_and_no_decay)

    def test_step_lr_matches_torch_bitwise(self):
        for dtype in (torch.float32, torch.float64):
            with self.subTest(dtype=dtype):
                run_bitwise(
                    self, dtype, steps=300, lr=1e-2, groups=decay_and_no_decay,
                    scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(
                        opt, step_size=40, gamma=0.5))

    def test_cosine_annealing_lr_matches_torch_bitwise(self):
        for dtype in (torch.float32, torch.float64):
            with self.subTest(dtype=dtype):
                run_bitwise(
                    self, dtype, steps=300, lr=1e-2, groups=decay_and_no_decay,
                    scheduler=lambda opt:
                    torch.optim.lr_scheduler.CosineAnnealingLR(
                        opt, T_max=120, eta_min=1e-4))

    def test_lambda_lr_on_one_group_matches_torch_bitwise(self):
        run_bitwise(
            self, torch.float64, steps=150, lr=1e-2,
            scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(
                opt, lambda epoch: 1.0 / (1.0 + 0.05 * epoch)))

    def test_export_import_continues_bitwise(self):
        for compact in (False, True):  # tells replayed; one checkpoint
            with self.subTest(compact=compact):
                self.check_export_import_continues_bitwise(compact)

    def check_export_import_continues_bitwise(self, compact):
        dtype = torch.float32
        inputs, targets = make_data(dtype)
        local, remote = make_model(dtype), make_model(dtype)
        local_opt = torch.optim.AdamW(decay_and_no_decay(local, {}), lr=1e-2)
        local_sched = torch.optim.lr_scheduler.StepLR(local_opt, 25, 0.5)
        remote_opt = RemoteOptimizer(decay_and_no_decay(remote, {}),
                                     client=self.client, lr=1e-2, keep=True)
        remote_sched = torch.optim.lr_scheduler.StepLR(remote_opt, 25, 0.5)
        for step in range(120):
            if step == 60:
                # The run moves to a new session made from the old one's
                # export (creation request and every tell, group_lr
                # included), as after a move to another server.
                snapshot = self.client.export_session(
                    remote_opt.session.session_id, compact=compact)
                self.assertEqual(len(snapshot.tells), 0 if compact else 60)
                old_id = remote_opt.session.session_id
                remote_opt.close()
                self.client.delete_session(old_id)
                imported = self.client.import_session(
                    snapshot.SerializeToString(), session_id=old_id + "-2")
                imported.close()
                resumed = RemoteOptimizer(
                    decay_and_no_decay(remote, {}), client=self.client,
                    lr=1e-2, session_id=old_id + "-2", resume=True)
                # The groups' current lrs, as the scheduler left them.
                for new, old in zip(resumed.param_groups,
                                    remote_opt.param_groups):
                    new["lr"] = old["lr"]
                remote_sched.optimizer = resumed
                remote_opt = resumed
            for model, opt, sched in ((local, local_opt, local_sched),
                                      (remote, remote_opt, remote_sched)):
                opt.zero_grad()
                torch.nn.functional.mse_loss(model(inputs), targets).backward()
                opt.step()
                sched.step()
            assert_same_parameters(self, local, remote, step)
        remote_opt.close()  # deletes the imported session

    def test_state_dict_resumes_bitwise_on_another_server(self):
        """state_dict() carries the session's Adam state (a compact
        export); load_state_dict on a second optd imports it and the run
        goes on as torch's, bit for bit, scheduler included."""
        dtype = torch.float32
        inputs, targets = make_data(dtype)
        local, remote = make_model(dtype), make_model(dtype)
        local_opt = torch.optim.AdamW(decay_and_no_decay(local, {}), lr=1e-2)
        local_sched = torch.optim.lr_scheduler.StepLR(local_opt, 25, 0.5)
        other = OptdServer()
        other_client = optd.connect(other.address, timeout=60)
        try:
            remote_opt = RemoteOptimizer(decay_and_no_decay(remote, {}),
                                         client=self.client, lr=1e-2)
            remote_sched = torch.optim.lr_scheduler.StepLR(remote_opt, 25,
                                                           0.5)
            sizes = []
            for step in range(100):
                if step in (10, 40):
                    sizes.append(len(remote_opt.state_dict()["optd"][
                        "snapshot"]))
                if step == 40:
                    whole = len(self.client.export_session(
                        remote_opt.session.session_id).SerializeToString())
                    state = remote_opt.state_dict()
                    sched_state = remote_sched.state_dict()
                    old_id = remote_opt.session.session_id
                    remote_opt.close()  # deletes the session on this server
                    remote_opt = RemoteOptimizer(
                        decay_and_no_decay(remote, {}), client=other_client,
                        lr=1e-2)
                    fresh_id = remote_opt.session.session_id
                    remote_opt.load_state_dict(state)
                    self.assertNotEqual(remote_opt.session.session_id,
                                        fresh_id)
                    self.assertTrue(remote_opt.session.session_id.startswith(
                        old_id))
                    with self.assertRaises(optd.NotFound):  # replaced
                        other_client.get_session(fresh_id)
                    remote_sched = torch.optim.lr_scheduler.StepLR(
                        remote_opt, 25, 0.5)
                    remote_sched.load_state_dict(sched_state)
                for model, opt, sched in ((local, local_opt, local_sched),
                                          (remote, remote_opt, remote_sched)):
                    opt.zero_grad()
                    torch.nn.functional.mse_loss(model(inputs),
                                                 targets).backward()
                    opt.step()
                    sched.step()
                assert_same_parameters(self, local, remote, step)
            # The state, not the history: the whole export carries every
            # gradient told (40 x n float32s); the compact one grows only
            # by the trial log's scalar records (bounded), under a tenth
            # of a gradient per step.
            n = remote_opt.session.dimension
            self.assertLess(sizes[1], whole / 4)
            self.assertLess(sizes[1] - sizes[0], 30 * 4 * n / 10)
            remote_opt.close()
        finally:
            other_client.close()
            other.stop()

    def test_load_state_dict_refuses_a_foreign_state(self):
        model = make_model(torch.float64)
        with RemoteOptimizer(model.parameters(), client=self.client) as opt:
            session_id = opt.session.session_id
            plain = torch.optim.AdamW(make_model(torch.float64).parameters())
            with self.assertRaisesRegex(optd.InvalidArgument,
                                        "has no optd session"):
                opt.load_state_dict(plain.state_dict())
            small = RemoteOptimizer(torch.nn.Linear(2, 1).double()
                                    .parameters(), client=self.client)
            with small, self.assertRaisesRegex(
                    optd.InvalidArgument, "has dimension 3; this "
                    "RemoteOptimizer's parameters have"):
                state = small.state_dict()
                state["param_groups"] = opt.state_dict()["param_groups"]
                opt.load_state_dict(state)
            self.assertEqual(opt.session.session_id, session_id)

    def test_server_restart_continues_bitwise(self):
        """The journal keeps each tell's group_lr: a server restarted on
        its --data_dir replays the session and the run goes on as torch's."""
        dtype = torch.float64
        inputs, targets = make_data(dtype)
        local, remote = make_model(dtype), make_model(dtype)
        local_opt = torch.optim.AdamW(decay_and_no_decay(local, {}), lr=1e-2)
        local_sched = torch.optim.lr_scheduler.CosineAnnealingLR(local_opt, 50)
        with tempfile.TemporaryDirectory() as data:
            flag = f"--data_dir={data}"  # after OptdServer's own: it wins
            server = OptdServer(flag)
            client = optd.connect(server.address, timeout=60)
            remote_opt = RemoteOptimizer(decay_and_no_decay(remote, {}),
                                         client=client, lr=1e-2, keep=True,
                                         session_id="restarted")
            remote_sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                remote_opt, 50)
            try:
                for step in range(80):
                    if step == 40:
                        lrs = [g["lr"] for g in remote_opt.param_groups]
                        client.close()
                        self.assertEqual(server.stop(), 0)
                        server = OptdServer(flag)
                        client = optd.connect(server.address, timeout=60)
                        remote_opt = RemoteOptimizer(
                            decay_and_no_decay(remote, {}), client=client,
                            lr=1e-2, session_id="restarted", resume=True)
                        for group, lr in zip(remote_opt.param_groups, lrs):
                            group["lr"] = lr
                        remote_sched.optimizer = remote_opt
                    for model, opt, sched in (
                            (local, local_opt, local_sched),
                            (remote, remote_opt, remote_sched)):
                        opt.zero_grad()
                        torch.nn.functional.mse_loss(
                            model(inputs), targets).backward()
                        opt.step()
                        sched.step()
                    assert_same_parameters(self, local, remote, step)
                remote_opt.close()
            finally:
                client.close()
                server.stop()

    def test_bad_hyperparameters_raise_the_servers_error(self):
        model = make_model(torch.float64)
        with self.assertRaises(optd.InvalidArgument) as caught:
            RemoteOptimizer(model.parameters(), client=self.client, lr=-1.0)
        self.assertIn("lr", caught.exception.message)


if __name__ == "__main__":
    unittest.main()
