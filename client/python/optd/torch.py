"""``RemoteOptimizer``: a torch.optim.Optimizer whose Adam/AdamW runs on optd.

Each ``step()`` flattens the parameters' gradients into one vector, tells it
to an optd Adam or AdamW session (raw float32/float64 bytes), and copies the
parameters the server returns back into the model. The server reproduces
torch.optim.Adam/AdamW (torch 1.13, single-tensor path) bit for bit, so a
model trained remotely follows the same trajectory as one trained locally.

    >>> from optd.torch import RemoteOptimizer
    >>> opt = RemoteOptimizer(model.parameters(), "localhost:50051",
    ...                       lr=1e-3, weight_decay=1e-2)      # AdamW
    >>> for xb, yb in batches:
    ...     opt.zero_grad()
    ...     loss = loss_fn(model(xb), yb)
    ...     loss.backward()
    ...     opt.step()
    >>> opt.close()          # deletes the session (or use `with`)

Parameter groups work as in torch: each group's ``lr``, ``betas``, ``eps``
and ``weight_decay`` become an ``AdamGroup`` (a segment of the flattened
parameters, in the order the groups list them), and every ``step()`` sends
each group's current ``lr``, so ``torch.optim.lr_scheduler`` schedulers
(StepLR, CosineAnnealingLR, LambdaLR, ...) work unchanged:

    >>> opt = RemoteOptimizer(
    ...     [{"params": weights}, {"params": biases, "weight_decay": 0.0}],
    ...     "localhost:50051", lr=1e-3)
    >>> scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=30)
    >>> ... opt.step(); scheduler.step()

Differences from torch.optim: every parameter shares one session (amsgrad is
one setting for all groups); a parameter whose ``.grad`` is None gets a zero
gradient (torch would skip it); changing ``betas``, ``eps``,
``weight_decay`` or ``amsgrad`` in ``param_groups`` after construction
raises (the server holds them). With ``schedule=`` (applied by the server)
the lr is the server's: changing it in ``param_groups`` raises too. Importing
this module imports torch; the rest of the optd package does not need it.

Thread-safety: like torch optimizers, not thread-safe.
"""

from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

import numpy as np
import torch

from .client import Client, connect
from ._torch_session import SessionOptimizer
from .errors import FailedPrecondition, InvalidArgument
from .torch_lbfgs import LBFGS

__all__ = ["RemoteOptimizer", "LBFGS"]

_HYPERPARAMETERS = ("lr", "betas", "eps", "weight_decay", "amsgrad")
# What the server holds for good; lr is sent with every step (unless the
# server applies a schedule).
_FIXED = ("betas", "eps", "weight_decay", "amsgrad")


class RemoteOptimizer(SessionOptimizer, torch.optim.Optimizer):
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
      resume: continue the existing session ``session_id`` (one made by a
        RemoteOptimizer with the same parameters and hyperparameters, or
        imported with ``Client.import_session``) instead of creating one:
        the parameters are set to its outstanding trial point. The
        session's options are the ones it was created with.
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
                 keep: bool = False, resume: bool = False) -> None:
        if weight_decay is None:
            weight_decay = 1e-2 if decoupled else 0.0
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)
        if any(g["amsgrad"] != amsgrad for g in self.param_groups):
            raise InvalidArgument(
                "RemoteOptimizer takes one amsgrad setting for every "
                "parameter group (one optd session); pass amsgrad= instead")
        self._params = [p for g in self.param_groups for p in g["params"]]
        dtypes = {p.dtype for p in self._params}
        self.dtype = dtype or (dtypes.pop() if len(dtypes) == 1 else None)
        if self.dtype not in (torch.float32, torch.float64):
            raise InvalidArgument(
                "RemoteOptimizer needs float32 or float64 state: pass "
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
        options: Dict[str, Any] = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            amsgrad=amsgrad, max_grad_norm=max_grad_norm, schedule=schedule,
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
                    self._flat_x, "adamw" if decoupled else "adam", options,
                    session_id=session_id, labels=labels, keep=keep)
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
            segments.append(dict(begin=begin, end=end, lr=group["lr"],
                                 betas=tuple(group["betas"]),
                                 eps=group["eps"],
                                 weight_decay=group["weight_decay"]))
            begin = end
        return segments

    def _group_hyperparameters(self) -> Tuple[Any, ...]:
        keys = _HYPERPARAMETERS if self._server_schedule else _FIXED
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
                raise InvalidArgument("RemoteOptimizer does not support "
                                      "sparse gradients")
            else:
                target.copy_(p.grad.detach().reshape(-1))
            offset += n
        return self._flat_grad

    def add_param_group(self, param_group: Dict[str, Any]) -> None:
        if hasattr(self, "session"):
            raise InvalidArgument("RemoteOptimizer cannot add parameter "
                                  "groups after its session was created")
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """One Adam/AdamW step on the server; returns closure's loss.

        The loss (when a closure is given) is told as the trial's value and
        shows in the session's history; a NaN or infinite loss counts as a
        failed evaluation and the server skips the step, as Adam does for
        failed trials.
        """
        if self._group_hyperparameters() != self._hyperparameters:
            raise FailedPrecondition(
                ("lr, " if self._server_schedule else "")
                + "betas, eps, weight_decay or amsgrad changed in "
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
        group_lr = None if self._server_schedule else [
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
        ``"optd"``, the session exported compactly: its Adam state (x, m,
        v, the step) as of now, O(n) bytes. ``load_state_dict`` on this or
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
