"""torch.optim drop-ins whose optimizer runs on optd: ``RemoteOptimizer``
(Adam/AdamW), ``SGD``, ``RMSprop``, ``Adagrad``, ``Adamax``, ``NAdam``,
``RAdam``, ``Lion`` and ``Adafactor`` (transformers' constructor and
semantics; the parameters' shapes become its layers), and the quasi-Newton
``LBFGS`` (optd/torch_lbfgs.py).

Each ``step()`` flattens the parameters' gradients into one vector, tells it
to the optimizer's optd session (raw float32/float64 bytes), and copies the
parameters the server returns back into the model. The server reproduces
torch 1.13's single-tensor update of each method (``_single_tensor_adam``,
``_single_tensor_sgd``, ...) bit for bit, and Lion as the authors' PyTorch
implementation (google/automl lion_pytorch.py), so a model trained remotely
follows the same trajectory as one trained locally.

    >>> from optd.torch import RemoteOptimizer
    >>> opt = RemoteOptimizer(model.parameters(), "localhost:50051",
    ...                       lr=1e-3, weight_decay=1e-2)      # AdamW
    >>> for xb, yb in batches:
    ...     opt.zero_grad()
    ...     loss = loss_fn(model(xb), yb)
    ...     loss.backward()
    ...     opt.step()
    >>> opt.close()          # deletes the session (or use `with`)

The other drop-ins take torch.optim's constructor arguments, in torch's
order and with torch's defaults, and optd's as keywords (``address``,
``client``, ``dtype``, ``max_grad_norm``, ``schedule``, ``session_id``,
``labels``, ``keep``, ``resume``, as RemoteOptimizer's below):

    >>> from optd.torch import SGD, Lion
    >>> opt = SGD(model.parameters(), 0.1, momentum=0.9, nesterov=True,
    ...           address="localhost:50051")
    >>> opt = Lion(model.parameters(), lr=1e-4, weight_decay=1.0,
    ...            client=client)   # lion_pytorch's Lion; betas (0.9, 0.99)

Parameter groups work as in torch: each group's hyperparameters that
torch lets differ per group and optd keeps per group (``lr`` and
``weight_decay`` always; ``betas`` for Adam, Adamax, NAdam, RAdam and Lion;
``eps`` for Adam, RMSprop, Adagrad, Adamax, NAdam and RAdam) become an
``AdamGroup`` (a segment of the flattened parameters, in the order the
groups list them), and every ``step()`` sends each group's current ``lr``,
so ``torch.optim.lr_scheduler`` schedulers (StepLR, CosineAnnealingLR,
LambdaLR, ...) work unchanged:

    >>> opt = RemoteOptimizer(
    ...     [{"params": weights}, {"params": biases, "weight_decay": 0.0}],
    ...     "localhost:50051", lr=1e-3)
    >>> scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
    >>> ... opt.step(); scheduler.step()

Differences from torch.optim: every parameter shares one session, so the
other hyperparameters are one setting for all groups (Adam's ``amsgrad``,
SGD's ``momentum``, ``dampening``, ``nesterov``, RMSprop's ``alpha``,
``momentum``, ``centered``, Adagrad's ``lr_decay`` and
``initial_accumulator_value``, NAdam's ``momentum_decay``, ``maximize``): a
group setting its own raises InvalidArgument. A parameter whose ``.grad``
is None gets a zero gradient (torch would skip it, weight decay and
momentum included); changing any hyperparameter but ``lr`` in
``param_groups`` after construction raises (the server holds them). With
``schedule=`` (applied by the server) the lr is the server's: changing it in
``param_groups`` raises too. ``foreach`` is accepted and ignored;
``differentiable=True`` is refused. Importing this module imports torch; the
rest of the optd package does not need it.

Thread-safety: like torch optimizers, not thread-safe.
"""

from typing import (Any, Callable, Dict, Iterable, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np
import torch
from torch.optim.optimizer import required

from .client import Client, connect
from ._torch_session import SessionOptimizer
from .errors import FailedPrecondition, InvalidArgument
from .torch_lbfgs import LBFGS

__all__ = ["RemoteOptimizer", "SGD", "RMSprop", "Adagrad", "Adamax",
           "NAdam", "RAdam", "Lion", "Adafactor", "LBFGS"]

class _RemoteFirstOrder(SessionOptimizer, torch.optim.Optimizer):
    """The drop-ins' one implementation: a torch.optim.Optimizer whose
    elementwise first-order method runs in an optd session of solver
    ``solver`` (a CreateSessionRequest field: "adam", "sgd", ...).

    ``defaults`` are the torch hyperparameters (param_groups' keys);
    ``group_keys`` those of them besides ``lr`` that each group may set
    (AdamGroup fields: betas, eps, weight_decay), and every other key of
    ``defaults`` is one setting of the session, the same in every group.
    The optd keywords are RemoteOptimizer's.
    """

    def __init__(self, params: Iterable[Any], defaults: Dict[str, Any], *,
                 solver: str, group_keys: Sequence[str],
                 address: Optional[str] = None,
                 dtype: Optional[torch.dtype] = None,
                 max_grad_norm: Optional[float] = None,
                 schedule: Optional[Mapping[str, Any]] = None,
                 client: Optional[Client] = None,
                 session_id: Optional[str] = None,
                 labels: Optional[Mapping[str, str]] = None,
                 keep: bool = False, resume: bool = False,
                 shards: int = 0) -> None:
        name = type(self).__name__
        self._solver = solver
        self._group_keys = ("lr",) + tuple(group_keys)
        self._session_keys = tuple(k for k in defaults
                                   if k not in self._group_keys)
        # Not self.defaults' keys: torch's load_state_dict adds its own
        # ("differentiable") to those.
        self._keys = tuple(defaults)
        super().__init__(params, defaults)
        for key in self._session_keys:
            if any(g[key] != defaults[key] for g in self.param_groups):
                raise InvalidArgument(
                    f"{name} takes one {key} setting for every parameter "
                    f"group (one optd session); pass {key}= instead")
        self._params = [p for g in self.param_groups for p in g["params"]]
        dtypes = {p.dtype for p in self._params}
        self.dtype = dtype or (dtypes.pop() if len(dtypes) == 1 else None)
        if self.dtype not in (torch.float32, torch.float64):
            raise InvalidArgument(
                f"{name} needs float32 or float64 state: pass "
                f"dtype=torch.float32 or torch.float64 (parameters: {dtypes})")
        self._server_schedule = schedule is not None
        self._hyperparameters = self._group_hyperparameters()
        self._own_client = client is None
        self.client = client if client is not None else connect(address)
        numpy_dtype = np.float32 if self.dtype == torch.float32 else np.float64
        # Flat CPU buffers shared between numpy (the wire) and torch.
        numel = sum(p.numel() for p in self._params)
        self._flat_grad = np.zeros(numel, dtype=numpy_dtype)
        self._flat_x = np.zeros(numel, dtype=numpy_dtype)
        self._flat_grad_t = torch.from_numpy(self._flat_grad)
        self._flat_x_t = torch.from_numpy(self._flat_x)
        with torch.no_grad():
            torch.cat([p.detach().reshape(-1).cpu().to(self.dtype)
                       for p in self._params], out=self._flat_x_t)
        # The indices of the groups holding elements, in flattening order
        # (an empty group has no segment and no lr on the wire). Indices,
        # not the dicts: load_state_dict replaces the dicts.
        self._segment_groups = [i for i, g in enumerate(self.param_groups)
                                if sum(p.numel() for p in g["params"])]
        # The session's own values: the first group's per-group ones (the
        # defaults, unless a lone group sets its own; with several groups
        # each group's are sent too) and the session-wide settings.
        first = self.param_groups[
            self._segment_groups[0] if self._segment_groups else 0]
        options: Dict[str, Any] = {k: first[k] for k in self._group_keys}
        options.update((k, defaults[k]) for k in self._session_keys)
        options.update(
            max_grad_norm=max_grad_norm, schedule=schedule,
            dtype="float32" if self.dtype == torch.float32 else "float64")
        if len(self.param_groups) > 1:
            options["groups"] = self._segments()
        try:
            if resume:
                if not session_id:
                    raise InvalidArgument("resume=True needs the session_id "
                                          "of the session to continue")
                self.session = self.client.session(session_id, keep=keep)
                if self.session.dimension != numel:
                    raise InvalidArgument(
                        f"optd session \"{session_id}\" has dimension "
                        f"{self.session.dimension}; the parameters have "
                        f"{numel} elements")
            else:
                self.session = self.client.create_session(
                    self._flat_x, solver, options, session_id=session_id,
                    labels=labels, keep=keep, shards=shards,
                    **self._create_extras())
        except BaseException:
            if self._own_client:
                self.client.close()
            raise
        self._trial = self.session.pending[0] if self.session.pending else None
        if self._trial is not None:
            self._write_back(self._trial.x)

    def _segments(self):
        """The AdamGroup of each group holding elements, in flattening
        order."""
        segments, begin = [], 0
        for group in (self.param_groups[i] for i in self._segment_groups):
            end = begin + sum(p.numel() for p in group["params"])
            segment = dict(begin=begin, end=end)
            segment.update((k, tuple(group[k]) if k == "betas" else group[k])
                           for k in self._group_keys)
            segments.append(segment)
            begin = end
        return segments

    #: Whether each step sends the groups' lr (group_lr); a method whose
    #: step size the server computes (Adafactor) holds lr like the rest.
    _sends_lr = True

    def _create_extras(self) -> Dict[str, Any]:
        """More create_session keywords (Adafactor: the layers)."""
        return {}

    def _held_keys(self) -> Tuple[str, ...]:
        """The hyperparameters the server holds for good: all but lr,
        which every step sends (unless the server applies a schedule)."""
        return tuple(k for k in self._keys
                     if self._server_schedule or not self._sends_lr
                     or k != "lr")

    def _group_hyperparameters(self) -> Tuple[Any, ...]:
        keys = self._held_keys()
        return tuple(tuple(g[k] for k in keys) for g in self.param_groups)

    def _write_back(self, x: np.ndarray) -> None:
        np.copyto(self._flat_x, x)
        offset = 0
        with torch.no_grad():
            for p in self._params:
                n = p.numel()
                p.copy_(self._flat_x_t[offset:offset + n].view_as(p))
                offset += n

    def _gather_gradient(self) -> np.ndarray:
        offset = 0
        for p in self._params:
            n = p.numel()
            target = self._flat_grad_t[offset:offset + n]
            if p.grad is None:
                target.zero_()
            elif p.grad.is_sparse:
                raise InvalidArgument(f"{type(self).__name__} does not "
                                      "support sparse gradients")
            else:
                target.copy_(p.grad.detach().reshape(-1))
            offset += n
        return self._flat_grad

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        if hasattr(self, "session"):
            raise InvalidArgument(f"{type(self).__name__} cannot add "
                                  "parameter groups after its session was "
                                  "created")
        try:
            super().add_param_group(param_group)
        except InvalidArgument:
            raise
        except ValueError as e:  # e.g. SGD's lr missing: optd's error type
            raise InvalidArgument(str(e)) from None

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One step of the optimizer's method on the server; returns
        closure's loss.

        The loss (when a closure is given) is told as the trial's value and
        shows in the session's history; a NaN or infinite loss counts as a
        failed evaluation and the server skips the step, as Adam does for
        failed trials.
        """
        if self._group_hyperparameters() != self._hyperparameters:
            held = self._held_keys()
            raise FailedPrecondition(
                (", ".join(held[:-1]) + " or " if len(held) > 1 else "")
                + held[-1] + " changed in "
                "param_groups after the optd session was created; the "
                "server holds them" + (
                    " (with schedule=, the server also sets the lr)"
                    if self._server_schedule else
                    "; only lr may change between steps"))
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._trial is None:
            raise FailedPrecondition(
                f"optd session \"{self.session.session_id}\" has ended: "
                f"{self.session.summary}")
        value = None if loss is None else float(loss)
        # Each group's lr for this step, as torch's step reads it from
        # param_groups (an lr scheduler changes it between steps).
        group_lr = None if self._server_schedule or not self._sends_lr else [
            float(self.param_groups[i]["lr"]) for i in self._segment_groups]
        answer = self._trial.tell(value, self._gather_gradient(),
                                  group_lr=group_lr)
        self._trial = answer.trial
        if answer.trial is not None:
            self._write_back(answer.trial.x)
        elif answer.summary is not None and answer.summary.x.size:
            self._write_back(answer.summary.x)  # max_steps reached
        return loss

    def state_dict(self) -> Dict[str, Any]:
        """torch's state dict (the param_groups: lr, betas, ...) plus, under
        ``"optd"``, the session exported compactly: its state (x, the
        method's slots such as Adam's m and v, the step) as of now, O(n)
        bytes. ``load_state_dict`` on this or
        another optd resumes the run bitwise."""
        state = super().state_dict()
        state["optd"] = self._optd_state()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Loads torch's part (the param_groups, as torch.optim does) and
        imports the state dict's optd session under a new id on this
        optimizer's server; that session replaces this optimizer's (which
        is deleted unless ``keep``) and the parameters are set to its next
        point. InvalidArgument, changing nothing, for a state dict without
        an optd session or of another dimension."""
        optd_state = state_dict.get("optd")
        before = super().state_dict()
        super().load_state_dict(
            {k: v for k, v in state_dict.items() if k != "optd"})
        try:
            session = self._adopt(optd_state, self.session.dimension)
        except BaseException:
            super().load_state_dict(before)
            raise
        self._hyperparameters = self._group_hyperparameters()
        self._trial = session.pending[0] if session.pending else None
        if self._trial is not None:
            self._write_back(self._trial.x)


class RemoteOptimizer(_RemoteFirstOrder):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``, the default)
    on an optd server.

    Args:
      params: the parameters, or parameter groups (dicts with ``params`` and
        any of ``lr``, ``betas``, ``eps``, ``weight_decay``), as for torch;
        all of dtype ``dtype``. Every group shares ``amsgrad``.
      address: the optd server ("host:port"); or pass ``client``.
      lr, betas, eps, amsgrad: as torch.optim.AdamW (the groups' defaults).
      weight_decay: default 1e-2 for AdamW, 0 for Adam (torch's defaults).
      decoupled: True for AdamW's decoupled decay, False for Adam's L2.
      dtype: torch.float32 or torch.float64: the precision of the server's
        state (x, m, v) and of the vectors on the wire. Default: the
        parameters' dtype (another dtype works; the parameters then hold
        the state rounded to their own dtype).
      max_grad_norm: clip the global gradient 2-norm on the server, as
        ``clip_grad_norm_`` would (default: no clipping).
      schedule: an LrSchedule as a dict, e.g. ``{"warmup_steps": 100,
        "decay": "cosine", "decay_steps": 900}``, applied by the server to
        each group's lr. Without it each step sends the groups' current lr
        (``param_groups[i]["lr"]``, which torch's lr schedulers set).
      client: an optd.Client to use instead of connecting to ``address``.
      session_id, labels: of the session.
      keep: keep the session on the server after :meth:`close`.
      resume: continue the existing session ``session_id`` (one made by an
        optimizer of the same class with the same parameters and
        hyperparameters, or imported with ``Client.import_session``)
        instead of creating one: the parameters are set to its outstanding
        trial point. The session's options are the ones it was created
        with.
      shards: split the optimizer state over this many replicas (ZeRO
        stage 1, docs/sharding.md; 0 or 1: on the replica ``address``
        names). The steps are bitwise the same for any number.

    Hyperparameters are checked by the server (InvalidArgument with its
    message), not here.
    """

    def __init__(self, params: Iterable[Any], address: Optional[str] = None,
                 lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Optional[float] = None,
                 amsgrad: bool = False, decoupled: bool = True,
                 dtype: Optional[torch.dtype] = None,
                 max_grad_norm: Optional[float] = None,
                 schedule: Optional[Mapping[str, Any]] = None, *,
                 client: Optional[Client] = None,
                 session_id: Optional[str] = None,
                 labels: Optional[Mapping[str, str]] = None,
                 keep: bool = False, resume: bool = False,
                 shards: int = 0) -> None:
        if weight_decay is None:
            weight_decay = 1e-2 if decoupled else 0.0
        super().__init__(
            params, dict(lr=lr, betas=tuple(betas), eps=eps,
                         weight_decay=weight_decay, amsgrad=amsgrad),
            solver="adamw" if decoupled else "adam",
            group_keys=("betas", "eps", "weight_decay"), address=address,
            dtype=dtype, max_grad_norm=max_grad_norm, schedule=schedule,
            client=client, session_id=session_id, labels=labels, keep=keep,
            resume=resume, shards=shards)


# -- torch.optim's other first-order methods ----------------------------------
#
# Each drop-in checks its arguments as torch 1.13's constructor does (the
# same ValueError messages, raised as optd.InvalidArgument, a ValueError)
# before it connects, and hands the rest to _RemoteFirstOrder.

def _at_least_zero(**values: Any) -> None:
    """torch's `if not 0.0 <= x: raise ValueError("Invalid x value: ...")`
    (NaN fails too); lr and eps with torch's wording."""
    names = {"lr": "learning rate", "eps": "epsilon value"}
    for key, value in values.items():
        if key == "lr" and value is required:
            continue
        if not 0.0 <= value:
            raise InvalidArgument(
                f"Invalid {names.get(key, key + ' value')}: {value}")


def _check_betas(betas: Tuple[float, float]) -> Tuple[float, float]:
    for index in (0, 1):
        if not 0.0 <= betas[index] < 1.0:
            raise InvalidArgument(
                f"Invalid beta parameter at index {index}: {betas[index]}")
    return tuple(betas)


def _not_differentiable(differentiable: bool) -> None:
    if differentiable:
        raise InvalidArgument("differentiable=True is not supported: the "
                              "step runs on the optd server, outside "
                              "autograd")


_OPTD_KEYWORDS = """

    optd's keywords (address, client, dtype, max_grad_norm, schedule,
    session_id, labels, keep, resume, shards) are RemoteOptimizer's; ``foreach`` is
    accepted and ignored (the server has one code path)."""


class SGD(_RemoteFirstOrder):
    """torch.optim.SGD on an optd server (solver "sgd"): ``lr`` is required
    as in torch; ``lr`` and ``weight_decay`` may differ per parameter
    group; ``momentum``, ``dampening``, ``nesterov`` and ``maximize`` are
    one setting for all groups. With momentum 0 the server keeps no state
    besides the parameters."""

    def __init__(self, params: Iterable[Any], lr: float = required,
                 momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: Optional[bool] = None,
                 differentiable: bool = False, **optd: Any) -> None:
        _at_least_zero(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidArgument(
                "Nesterov momentum requires a momentum and zero dampening")
        _not_differentiable(differentiable)
        super().__init__(
            params, dict(lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov,
                         maximize=maximize),
            solver="sgd", group_keys=("weight_decay",), **optd)


class RMSprop(_RemoteFirstOrder):
    """torch.optim.RMSprop on an optd server (solver "rmsprop"): ``lr``,
    ``eps`` and ``weight_decay`` may differ per parameter group;
    ``alpha``, ``momentum``, ``centered`` and ``maximize`` are one setting
    for all groups."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, foreach: Optional[bool] = None,
                 maximize: bool = False, differentiable: bool = False,
                 **optd: Any) -> None:
        _at_least_zero(lr=lr, eps=eps, momentum=momentum,
                       weight_decay=weight_decay, alpha=alpha)
        _not_differentiable(differentiable)
        super().__init__(
            params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                         centered=centered, weight_decay=weight_decay,
                         maximize=maximize),
            solver="rmsprop", group_keys=("eps", "weight_decay"), **optd)


class Adagrad(_RemoteFirstOrder):
    """torch.optim.Adagrad on an optd server (solver "adagrad"): ``lr``,
    ``eps`` and ``weight_decay`` may differ per parameter group;
    ``lr_decay``, ``initial_accumulator_value`` and ``maximize`` are one
    setting for all groups."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-2,
                 lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: Optional[bool] = None, *, maximize: bool = False,
                 **optd: Any) -> None:
        _at_least_zero(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                       initial_accumulator_value=initial_accumulator_value,
                       eps=eps)
        super().__init__(
            params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                         weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value,
                         maximize=maximize),
            solver="adagrad", group_keys=("eps", "weight_decay"), **optd)


class Adamax(_RemoteFirstOrder):
    """torch.optim.Adamax on an optd server (solver "adamax"): ``lr``,
    ``betas``, ``eps`` and ``weight_decay`` may differ per parameter group;
    ``maximize`` is one setting for all groups."""

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 foreach: Optional[bool] = None, *, maximize: bool = False,
                 **optd: Any) -> None:
        _at_least_zero(lr=lr, eps=eps)
        betas = _check_betas(betas)
        _at_least_zero(weight_decay=weight_decay)
        super().__init__(
            params, dict(lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay, maximize=maximize),
            solver="adamax", group_keys=("betas", "eps", "weight_decay"),
            **optd)


class NAdam(_RemoteFirstOrder):
    """torch.optim.NAdam on an optd server (solver "nadam"): ``lr``,
    ``betas``, ``eps`` and ``weight_decay`` may differ per parameter group;
    ``momentum_decay`` is one setting for all groups."""

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3,
                 foreach: Optional[bool] = None, **optd: Any) -> None:
        _at_least_zero(lr=lr, eps=eps)
        betas = _check_betas(betas)
        _at_least_zero(weight_decay=weight_decay,
                       momentum_decay=momentum_decay)
        super().__init__(
            params, dict(lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay,
                         momentum_decay=momentum_decay),
            solver="nadam", group_keys=("betas", "eps", "weight_decay"),
            **optd)


class RAdam(_RemoteFirstOrder):
    """torch.optim.RAdam on an optd server (solver "radam"): ``lr``,
    ``betas``, ``eps`` and ``weight_decay`` may differ per parameter
    group."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 foreach: Optional[bool] = None, **optd: Any) -> None:
        _at_least_zero(lr=lr, eps=eps)
        betas = _check_betas(betas)
        _at_least_zero(weight_decay=weight_decay)
        super().__init__(
            params, dict(lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay),
            solver="radam", group_keys=("betas", "eps", "weight_decay"),
            **optd)


class Lion(_RemoteFirstOrder):
    """Lion (Chen et al. 2023) on an optd server (solver "lion"), as the
    authors' PyTorch ``Lion(params, lr=1e-4, betas=(0.9, 0.99),
    weight_decay=0.0)`` (google/automl lion_pytorch.py): x *= 1 - lr wd;
    x -= lr sign(beta1 m + (1 - beta1) g); m = beta2 m + (1 - beta2) g.
    ``lr``, ``betas`` and ``weight_decay`` may differ per parameter group.
    The paper suggests an lr 3-10x smaller than AdamW's and a weight decay
    3-10x larger."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-4,
                 betas: Tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, **optd: Any) -> None:
        if not 0.0 < lr:
            raise InvalidArgument(f"Invalid learning rate: {lr}")
        betas = _check_betas(betas)
        _at_least_zero(weight_decay=weight_decay)
        super().__init__(
            params, dict(lr=lr, betas=betas, weight_decay=weight_decay),
            solver="lion", group_keys=("betas", "weight_decay"), **optd)


class Adafactor(_RemoteFirstOrder):
    """Adafactor (Shazeer & Stern 2018) on an optd server (solver
    "adafactor"), with the constructor of HuggingFace transformers'
    ``Adafactor(params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0,
    decay_rate=-0.8, beta1=None, weight_decay=0.0, scale_parameter=True,
    relative_step=True, warmup_init=False)`` and its semantics
    (docs/solvers.md#adafactor). The parameters' shapes become the session's
    layers: 2-D parameters get factored second moments, as transformers
    factors them; 3-D and larger ones are refused (transformers factors
    their last two dimensions per leading index but takes RMS over the
    whole tensor, which optd's layers do not express). One parameter group
    (one set of hyperparameters); the server computes the step size, so lr
    is not sent per step."""

    _sends_lr = False

    def __init__(self, params: Iterable[Any], lr: Optional[float] = None,
                 eps: Tuple[float, float] = (1e-30, 1e-3),
                 clip_threshold: float = 1.0, decay_rate: float = -0.8,
                 beta1: Optional[float] = None, weight_decay: float = 0.0,
                 scale_parameter: bool = True, relative_step: bool = True,
                 warmup_init: bool = False, **optd: Any) -> None:
        # transformers' own checks, with its messages.
        if lr is not None and relative_step:
            raise InvalidArgument(
                "Cannot combine manual `lr` and `relative_step=True` options")
        if warmup_init and not relative_step:
            raise InvalidArgument(
                "`warmup_init=True` requires `relative_step=True`")
        super().__init__(
            params, dict(lr=lr, eps=tuple(eps), clip_threshold=clip_threshold,
                         decay_rate=decay_rate, beta1=beta1,
                         weight_decay=weight_decay,
                         scale_parameter=scale_parameter,
                         relative_step=relative_step,
                         warmup_init=warmup_init),
            solver="adafactor", group_keys=(), **optd)

    def _segments(self):
        raise InvalidArgument(
            "Adafactor runs one optd session with one set of "
            "hyperparameters; pass the parameters as one group")

    def _create_extras(self) -> Dict[str, Any]:
        layers = []
        for i, p in enumerate(self._params):
            if p.dim() >= 3:
                raise InvalidArgument(
                    f"Adafactor: parameter {i} has shape {tuple(p.shape)}; "
                    "optd's Adafactor factors 1-D and 2-D parameters (reshape "
                    "it to 2-D)")
            layers.append(tuple(p.shape) if p.dim() == 2
                          else (p.numel(), 0))
        return dict(layers=layers)


for _drop_in in (SGD, RMSprop, Adagrad, Adamax, NAdam, RAdam, Lion,
                 Adafactor):
    _drop_in.__doc__ += _OPTD_KEYWORDS
del _drop_in
