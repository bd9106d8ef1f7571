"""optd.torch's SGD, RMSprop, Adagrad, Adamax, NAdam, RAdam and Lion against
torch.optim's own (torch 1.13, foreach=False: the single-tensor path the
server reproduces) and, for Lion, against lion_pytorch's update written in
torch ops: the parameters must stay bit for bit equal at every step."""

import unittest

import numpy as np

import optd_server  # noqa: F401  (sets sys.path, builds the stubs)
import optd
from optd_server import OptdServer, ServerTestCase

try:
    import torch
    from optd.torch import (SGD, RMSprop, Adagrad, Adamax, NAdam, RAdam,
                            Lion)
except ImportError:  # pragma: no cover
    torch = None

STEPS = 120


def make_model(dtype, seed=0):
    """A 2-layer MLP; the same seed gives the same initial parameters."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 12), torch.nn.Tanh(),
        torch.nn.Linear(12, 1)).to(dtype)


def make_data(dtype):
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(48, 6, generator=generator, dtype=dtype)
    targets = torch.sin(inputs.sum(dim=1, keepdim=True))
    return inputs, targets


def weights_and_biases(model, extra):
    """Two param groups: the weight matrices (with `extra`), the biases
    (their own lr and weight decay), in the model's order."""
    weights = [p for name, p in model.named_parameters()
               if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters()
              if name.endswith("bias")]
    return [dict(params=weights, **extra),
            dict(params=biases, lr=extra.get("lr", 1e-2) / 3,
                 weight_decay=0.0)]


class LocalLion(torch.optim.Optimizer if torch else object):
    """google/automl lion/lion_pytorch.py's Lion.step, in torch ops."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas,
                                      weight_decay=weight_decay))

    @torch.no_grad() if torch else (lambda f: f)
    def step(self):
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.mul_(1 - lr * wd)
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                exp_avg = state["exp_avg"]
                update = exp_avg * beta1 + grad * (1 - beta1)
                p.add_(torch.sign(update), alpha=-lr)
                exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


def local_class(remote_class):
    """torch's counterpart of an optd drop-in, on its single-tensor path."""
    if remote_class is Lion:
        return LocalLion
    local = getattr(torch.optim, remote_class.__name__)
    return lambda params, **hyper: local(params, foreach=False, **hyper)


def assert_same_parameters(test, label, local, remote, step):
    for (name, a), b in zip(local.named_parameters(), remote.parameters()):
        if not torch.equal(a, b):
            tiny = torch.finfo(a.dtype).tiny
            differ = (a != b)
            gap = (a - b).abs()
            relative = (gap / a.abs().clamp_min(tiny)).max().item()
            test.fail(
                f"{label}, step {step}: {name} differs from torch in "
                f"{int(differ.sum())} of {a.numel()} elements, by up to "
                f"{gap.max().item():.3e} (relative {relative:.3e})")


def run_bitwise(test, remote_class, dtype=torch.float64, steps=STEPS,
                groups=None, scheduler=None, negate=False, **hyper):
    """Trains one model with torch's optimizer and one with the optd
    drop-in from identical parameters, same param groups and lr scheduler,
    and checks every parameter bit for bit after every step. Returns the
    remote optimizer (closed) and the losses of the remote run."""
    label = f"{remote_class.__name__}({dtype}, {hyper})"
    inputs, targets = make_data(dtype)
    local, remote = make_model(dtype), make_model(dtype)
    params = (lambda m: groups(m, dict(hyper))) if groups else (
        lambda m: m.parameters())
    # With groups, the groups carry the hyperparameters; torch's SGD still
    # wants an lr as the default.
    top = {"lr": hyper["lr"]} if groups and "lr" in hyper else (
        {} if groups else hyper)
    local_opt = local_class(remote_class)(params(local), **top)
    remote_opt = remote_class(params(remote), client=test.client, **top)
    schedulers = ([scheduler(local_opt), scheduler(remote_opt)]
                  if scheduler else [])
    losses = []
    with remote_opt:
        test.assertEqual(remote_opt.session.info().solver,
                         remote_class.__name__.lower())
        for step in range(steps):
            for model, opt in ((local, local_opt), (remote, remote_opt)):
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(inputs), targets)
                (-loss if negate else loss).backward()
                opt.step()
            losses.append(loss.item())
            for s in schedulers:
                s.step()
            assert_same_parameters(test, label, local, remote, step)
        if schedulers:  # the lr did change along the way
            test.assertNotEqual(remote_opt.param_groups[0]["lr"],
                                hyper.get("lr"))
    return remote_opt, np.array(losses)


@unittest.skipIf(torch is None, "torch is not installed (python3-torch)")
class FirstOrderBitwiseTest(ServerTestCase):

    def check(self, remote_class, dtype=torch.float64, learns=True,
              **kwargs):
        _, losses = run_bitwise(self, remote_class, dtype, **kwargs)
        if learns:  # the comparison is not between two stuck runs
            self.assertLess(losses[-1], losses[0])

    def test_sgd(self):
        for hyper in (dict(lr=0.05),
                      dict(lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=1e-2),
                      dict(lr=0.02, momentum=0.8, dampening=0.3,
                           weight_decay=1e-3)):
            with self.subTest(**hyper):
                self.check(SGD, **hyper)

    def test_sgd_maximize(self):
        # maximize=True on -loss is the same descent as on loss.
        with self.subTest(maximize=True):
            self.check(SGD, lr=0.05, momentum=0.9, maximize=True,
                       negate=True)

    def test_rmsprop(self):
        for hyper in (dict(),
                      dict(lr=1e-3, centered=True, momentum=0.9),
                      dict(lr=3e-3, alpha=0.9, eps=1e-6, weight_decay=1e-2,
                           centered=True)):
            with self.subTest(**hyper):
                self.check(RMSprop, **hyper)

    def test_adagrad(self):
        for hyper in (dict(),
                      dict(lr=0.05, lr_decay=1e-2,
                           initial_accumulator_value=0.1),
                      dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-2,
                           eps=1e-8, maximize=True, negate=True)):
            with self.subTest(**hyper):
                self.check(Adagrad, **hyper)

    def test_adamax(self):
        for hyper in (dict(), dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6,
                                   weight_decay=1e-2)):
            with self.subTest(**hyper):
                self.check(Adamax, **hyper)

    def test_nadam(self):
        for hyper in (dict(), dict(lr=5e-3, betas=(0.85, 0.995),
                                   weight_decay=1e-2, momentum_decay=1e-2)):
            with self.subTest(**hyper):
                self.check(NAdam, **hyper)

    def test_radam_past_the_rectification_switch(self):
        # rho_t > 5 from some step on: plain momentum steps before it, the
        # rectified adaptive ones after; the run covers both.
        beta2 = 0.999
        rho_inf = 2 / (1 - beta2) - 1
        rho = [rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
               for t in range(1, STEPS + 1)]
        self.assertLessEqual(rho[0], 5)
        self.assertGreater(rho[-1], 5)
        for hyper in (dict(), dict(lr=5e-3, weight_decay=1e-2, eps=1e-6)):
            with self.subTest(**hyper):
                self.check(RAdam, **hyper)

    def test_lion(self):
        for hyper in (dict(lr=1e-3),
                      dict(lr=3e-4, betas=(0.95, 0.98), weight_decay=1.0)):
            with self.subTest(**hyper):
                self.check(Lion, **hyper)

    def test_float32(self):
        for remote_class, hyper in (
                (SGD, dict(lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=1e-2)),
                (RMSprop, dict(lr=1e-3, centered=True, momentum=0.5)),
                (Adagrad, dict(lr=0.05, lr_decay=1e-2,
                               initial_accumulator_value=0.1)),
                (Adamax, dict(lr=1e-2)), (NAdam, dict(lr=5e-3)),
                (RAdam, dict(lr=5e-3)),
                (Lion, dict(lr=1e-3, weight_decay=0.5))):
            with self.subTest(remote_class.__name__):
                remote_opt, _ = run_bitwise(self, remote_class,
                                            torch.float32, **hyper)
                self.assertEqual(remote_opt.session.dtype, np.float32)

    def test_two_groups_and_a_scheduler(self):
        """Each group's lr, weight decay (and betas, eps where the method
        keeps them per group) differ; a torch lr scheduler changes the
        lrs between steps, and each step sends them."""
        step_lr = (lambda opt: torch.optim.lr_scheduler.StepLR(
            opt, step_size=30, gamma=0.5))
        cosine = (lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=80, eta_min=1e-4))
        for remote_class, scheduler, hyper in (
                (SGD, step_lr, dict(lr=0.05, weight_decay=1e-2)),
                (RMSprop, cosine, dict(lr=3e-3, eps=1e-6,
                                       weight_decay=1e-2)),
                (Adagrad, step_lr, dict(lr=0.05, eps=1e-8,
                                        weight_decay=1e-3)),
                (Adamax, cosine, dict(lr=1e-2, betas=(0.8, 0.99))),
                (NAdam, step_lr, dict(lr=5e-3, betas=(0.85, 0.995),
                                      weight_decay=1e-2)),
                (RAdam, cosine, dict(lr=5e-3, eps=1e-6)),
                (Lion, step_lr, dict(lr=1e-3, betas=(0.95, 0.98),
                                     weight_decay=0.5))):
            for dtype in (torch.float64, torch.float32):
                with self.subTest(remote_class.__name__, dtype=dtype):
                    run_bitwise(self, remote_class, dtype,
                                groups=weights_and_biases,
                                scheduler=scheduler, **hyper)

    def test_session_wide_settings_with_groups(self):
        # momentum & co. are one session setting: groups that do not set
        # their own run as torch's.
        inputs, targets = make_data(torch.float64)
        local, remote = make_model(torch.float64), make_model(torch.float64)
        local_opt = torch.optim.SGD(weights_and_biases(local, {"lr": 0.05}),
                                    lr=0.05, momentum=0.9, nesterov=True,
                                    foreach=False)
        remote_opt = SGD(weights_and_biases(remote, {"lr": 0.05}), lr=0.05,
                         momentum=0.9, nesterov=True, client=self.client)
        with remote_opt:
            for step in range(60):
                for model, opt in ((local, local_opt), (remote, remote_opt)):
                    opt.zero_grad()
                    torch.nn.functional.mse_loss(model(inputs),
                                                 targets).backward()
                    opt.step()
                assert_same_parameters(self, "SGD groups", local, remote,
                                       step)


@unittest.skipIf(torch is None, "torch is not installed (python3-torch)")
class FirstOrderStateAndArgumentsTest(ServerTestCase):

    def test_state_dict_round_trip_on_another_server(self):
        """state_dict() carries RMSprop's state (square average, momentum
        buffer, gradient average); load_state_dict on a second optd
        imports it and the run goes on as torch's, bit for bit."""
        dtype = torch.float64
        inputs, targets = make_data(dtype)
        hyper = dict(lr=3e-3, centered=True, momentum=0.9)
        local, remote = make_model(dtype), make_model(dtype)
        local_opt = torch.optim.RMSprop(weights_and_biases(local, {}),
                                        foreach=False, **hyper)
        local_sched = torch.optim.lr_scheduler.StepLR(local_opt, 25, 0.5)
        other = OptdServer()
        other_client = optd.connect(other.address, timeout=60)
        try:
            remote_opt = RMSprop(weights_and_biases(remote, {}),
                                 client=self.client, **hyper)
            remote_sched = torch.optim.lr_scheduler.StepLR(remote_opt, 25,
                                                           0.5)
            for step in range(80):
                if step == 40:
                    state = remote_opt.state_dict()
                    sched_state = remote_sched.state_dict()
                    old_id = remote_opt.session.session_id
                    remote_opt.close()  # deletes the session on this server
                    with self.assertRaises(optd.NotFound):
                        self.client.get_session(old_id)
                    remote_opt = RMSprop(weights_and_biases(remote, {}),
                                         client=other_client, **hyper)
                    remote_opt.load_state_dict(state)
                    self.assertTrue(remote_opt.session.session_id.startswith(
                        old_id))
                    self.assertEqual(remote_opt.session.info().solver,
                                     "rmsprop")
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
                assert_same_parameters(self, "RMSprop state_dict", local,
                                       remote, step)
            remote_opt.close()
        finally:
            other_client.close()
            other.stop()

    def test_load_state_dict_of_another_method_is_refused_by_dimension(self):
        model = make_model(torch.float64)
        with Lion(model.parameters(), client=self.client) as opt:
            small = Lion(torch.nn.Linear(2, 1).double().parameters(),
                         client=self.client)
            with small, self.assertRaisesRegex(
                    optd.InvalidArgument, "has dimension 3; this Lion's "
                    "parameters have"):
                state = small.state_dict()
                state["param_groups"] = opt.state_dict()["param_groups"]
                opt.load_state_dict(state)

    def assert_invalid(self, message, build):
        """`build` raises optd.InvalidArgument (a ValueError, as torch's
        ValueError) whose message contains `message`."""
        with self.assertRaises(optd.InvalidArgument) as caught:
            build()
        self.assertIsInstance(caught.exception, ValueError)
        self.assertIn(message, caught.exception.message)

    def test_bad_arguments_raise_as_torch(self):
        params = lambda: make_model(torch.float64).parameters()  # noqa: E731
        c = self.client
        sessions = len(list(c.list_sessions()))
        self.assert_invalid(
            "didn't specify a value of required optimization parameter lr",
            lambda: SGD(params(), client=c))
        self.assert_invalid(
            "Nesterov momentum requires a momentum and zero dampening",
            lambda: SGD(params(), 0.1, momentum=0.9, dampening=0.1,
                        nesterov=True, client=c))
        self.assert_invalid(
            "Nesterov momentum requires a momentum and zero dampening",
            lambda: SGD(params(), 0.1, nesterov=True, client=c))
        self.assert_invalid("Invalid learning rate: -0.1",
                            lambda: SGD(params(), -0.1, client=c))
        self.assert_invalid("Invalid momentum value: -1",
                            lambda: RMSprop(params(), momentum=-1, client=c))
        self.assert_invalid("Invalid epsilon value: -1e-08",
                            lambda: Adamax(params(), eps=-1e-8, client=c))
        self.assert_invalid(
            "Invalid initial_accumulator_value value: -1",
            lambda: Adagrad(params(), initial_accumulator_value=-1,
                            client=c))
        self.assert_invalid("Invalid beta parameter at index 1: 1.0",
                            lambda: NAdam(params(), betas=(0.9, 1.0),
                                          client=c))
        self.assert_invalid("Invalid momentum_decay value: -0.1",
                            lambda: NAdam(params(), momentum_decay=-0.1,
                                          client=c))
        self.assert_invalid("Invalid beta parameter at index 0: -0.5",
                            lambda: RAdam(params(), betas=(-0.5, 0.9),
                                          client=c))
        self.assert_invalid("Invalid learning rate: 0",
                            lambda: Lion(params(), lr=0, client=c))
        self.assert_invalid("differentiable=True",
                            lambda: SGD(params(), 0.1, differentiable=True,
                                        client=c))
        # torch has no bound on SGD's dampening; optd's is [0, 1]: the
        # server's INVALID_ARGUMENT names it.
        self.assert_invalid("dampening",
                            lambda: SGD(params(), 0.1, momentum=0.9,
                                        dampening=2.0, client=c))
        self.assertEqual(len(list(c.list_sessions())), sessions)  # none made

    def test_session_wide_settings_are_one_for_all_groups(self):
        model = make_model(torch.float64)
        for remote_class, key, value, hyper in (
                (SGD, "momentum", 0.5, dict(lr=0.1, momentum=0.9)),
                (SGD, "nesterov", True, dict(lr=0.1, momentum=0.9)),
                (RMSprop, "centered", True, {}),
                (Adagrad, "lr_decay", 0.1, {}),
                (NAdam, "momentum_decay", 0.1, {}),
                (Adamax, "maximize", True, {})):
            with self.subTest(remote_class.__name__, key=key):
                groups = [{"params": list(model[0].parameters())},
                          {"params": list(model[2].parameters()),
                           key: value}]
                self.assert_invalid(
                    f"{remote_class.__name__} takes one {key} setting for "
                    "every parameter group",
                    lambda: remote_class(groups, client=self.client,
                                         **hyper))

    def test_changing_a_held_hyperparameter_is_refused(self):
        for remote_class, key, value, hyper in (
                (SGD, "momentum", 0.5, dict(lr=0.1, momentum=0.9)),
                (RMSprop, "alpha", 0.9, {}),
                (Lion, "betas", (0.9, 0.9), {})):
            with self.subTest(remote_class.__name__, key=key):
                model = make_model(torch.float64)
                with remote_class(model.parameters(), client=self.client,
                                  **hyper) as opt:
                    opt.param_groups[0][key] = value
                    with self.assertRaises(optd.FailedPrecondition) as caught:
                        opt.step()
                    self.assertIn(key, caught.exception.message)
                    self.assertIn("only lr may change",
                                  caught.exception.message)

    def test_solver_names(self):
        for name, field in (("sgd", "sgd"), ("SGD", "sgd"),
                            ("rmsprop", "rmsprop"), ("RMSprop", "rmsprop"),
                            ("adagrad", "adagrad"), ("Adamax", "adamax"),
                            ("nadam", "nadam"), ("NAdam", "nadam"),
                            ("RAdam", "radam"), ("lion", "lion")):
            self.assertEqual(optd.options.canonical_solver(name), field)
        # Two steps of plain SGD on f = x.x - sum(x), g = 2 x - 1, from 0:
        # x = 0 + 0.5 * 1 = 0.5, where g = 0.
        with self.client.create_session(
                np.zeros(3), "SGD", {"lr": 0.5, "maxiter": 2}) as session:
            self.assertEqual(session.info().solver, "sgd")
            self.assertEqual(session.info().options["max_steps"], 2)
            trial = session.pending[0]
            for _ in range(2):
                answer = trial.tell(float(trial.x @ trial.x - trial.x.sum()),
                                    2 * trial.x - 1)
                trial = answer.trial
            self.assertIsNone(answer.trial)
            np.testing.assert_array_equal(answer.summary.x, np.full(3, 0.5))


if __name__ == "__main__":
    unittest.main()
