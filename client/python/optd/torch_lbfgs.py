"""``optd.torch.LBFGS``: torch.optim.LBFGS's interface on an optd L-BFGS
session.

    >>> from optd.torch import LBFGS
    >>> opt = LBFGS(model.parameters(), "localhost:50051",
    ...             line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = loss_fn(model(inputs), targets)
    ...     loss.backward()
    ...     return loss
    >>> for _ in range(10):
    ...     opt.step(closure)        # up to max_iter iterations each
    >>> opt.close()

Each ``step(closure)`` runs the session's trials: it writes the trial's
point into the parameters, calls the closure, and tells the loss and the
gradient, until ``max_iter`` iterations (accepted steps) or ``max_eval``
closure calls are spent in this call or the session has ended; then the
parameters hold the last accepted iterate, as torch's do. The session's
state (the curvature pairs, a line search under way) carries over to the
next ``step``, again as in torch.

Whose iterates these are: the server's L-BFGS is scipy 1.10's L-BFGS-B
(Moré–Thuente line search, ``dcsrch``), so the iterates are scipy's,
evaluation for evaluation, not torch's. torch's ``_strong_wolfe`` is another
strong Wolfe search (Nocedal & Wright, Algorithms 3.5 and 3.6, with cubic
interpolation and its own bracketing) started from ``lr * min(1, 1/|g|_1)``
on the first iteration and ``lr`` after, and torch scales the initial
inverse Hessian by y's/y'y from the first pair on, while dcsrch starts from
``1/|g|_2`` and brackets with Moré–Thuente's rules: both methods satisfy the
strong Wolfe conditions but accept different points, so the runs part after
the first line search. Both reach the same minimizers (tested).

Options map as follows: ``history_size`` -> the session's ``memory``,
``tolerance_grad`` -> ``gtol`` (both test max |g_i|), ``tolerance_change``
-> ``ftol`` (torch: |f_k - f_{k+1}| < tolerance_change; scipy: the same
difference over max(|f_k|, |f_{k+1}|, 1), so the two agree while |f| <= 1).
``lr`` must be 1 and ``line_search_fn`` "strong_wolfe": optd's L-BFGS always
searches from scipy's initial step. Parameters are float32 or float64; the
session's state is float64.

Thread-safety: like torch optimizers, not thread-safe.
"""

from typing import Any, Callable, Dict, Iterable, Mapping, Optional

import numpy as np
import torch

from ._torch_session import SessionOptimizer
from .client import Client, connect
from .errors import InvalidArgument

__all__ = ["LBFGS"]


class LBFGS(SessionOptimizer, torch.optim.Optimizer):
    """torch.optim.LBFGS(line_search_fn="strong_wolfe") on an optd server.

    Args:
      params: the parameters (one group, as torch.optim.LBFGS).
      address: the optd server ("host:port"); or pass ``client``.
      lr: must be 1 (see the module docstring).
      max_iter: iterations per ``step`` (torch default 20).
      max_eval: closure calls per ``step`` (default max_iter * 5 // 4).
      tolerance_grad, tolerance_change, history_size: as torch (defaults
        1e-7, 1e-9, 100).
      line_search_fn: "strong_wolfe" (None, torch's fixed step, is refused).
      client, session_id, labels, keep: as RemoteOptimizer.
    """

    def __init__(self, params: Iterable[Any], address: Optional[str] = None,
                 lr: float = 1, max_iter: int = 20,
                 max_eval: Optional[int] = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100,
                 line_search_fn: Optional[str] = "strong_wolfe", *,
                 client: Optional[Client] = None,
                 session_id: Optional[str] = None,
                 labels: Optional[Mapping[str, str]] = None,
                 keep: bool = False) -> None:
        if line_search_fn != "strong_wolfe":
            raise InvalidArgument(
                f"line_search_fn is {line_search_fn!r}; optd's L-BFGS always "
                "runs a strong Wolfe line search: pass "
                "line_search_fn='strong_wolfe'")
        if lr != 1:
            raise InvalidArgument(
                f"lr is {lr}; optd's L-BFGS starts each line search from "
                "scipy's initial step, so lr must be 1")
        if max_iter < 1:
            raise InvalidArgument(f"max_iter is {max_iter}; at least 1")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if max_eval < 1:
            raise InvalidArgument(f"max_eval is {max_eval}; at least 1")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change,
                        history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise InvalidArgument(
                "LBFGS doesn't support per-parameter options (parameter "
                "groups), as torch.optim.LBFGS")
        self._params = list(self.param_groups[0]["params"])
        for p in self._params:
            if p.dtype not in (torch.float32, torch.float64):
                raise InvalidArgument(
                    f"a parameter has dtype {p.dtype}; LBFGS takes float32 "
                    "or float64 parameters")
        x0 = np.concatenate([p.detach().reshape(-1).cpu().double().numpy()
                             for p in self._params])
        self._own_client = client is None
        self.client = client if client is not None else connect(address)
        # torch limits iterations per step() only: no session-wide limit.
        options: Dict[str, Any] = dict(memory=history_size,
                                       gtol=tolerance_grad,
                                       ftol=tolerance_change,
                                       max_iterations=2**53,
                                       max_evaluations=2**53)
        try:
            self.session = self.client.create_session(
                x0, "lbfgs", options, session_id=session_id, labels=labels,
                keep=keep)
        except BaseException:
            if self._own_client:
                self.client.close()
            raise
        # Each tell that completes an iteration answers with its iterate.
        self.session.report_iterates = True
        self._trial = self.session.pending[0] if self.session.pending else None
        # The last accepted iterate (x0 until the first one): where step()
        # leaves the parameters, as torch's, whose line searches end within
        # a step.
        self._iterate = x0

    def _write(self, x: np.ndarray) -> None:
        offset = 0
        with torch.no_grad():
            for p in self._params:
                n = p.numel()
                p.copy_(torch.from_numpy(
                    np.array(x[offset:offset + n])).view_as(p))
                offset += n

    def _gradient(self) -> np.ndarray:
        parts = []
        for p in self._params:
            if p.grad is None:
                parts.append(np.zeros(p.numel()))
            else:
                parts.append(p.grad.detach().reshape(-1).cpu().double()
                             .numpy())
        return np.concatenate(parts)

    @property
    def finished(self) -> bool:
        """The session has ended (converged, or a limit reached)."""
        return self._trial is None

    @property
    def summary(self):
        """The session's Summary once it has ended, else None."""
        return self.session.summary

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Runs up to max_iter iterations (max_eval closure calls) and
        returns the loss at the parameters it started from, as torch's.
        When the session has ended, calls the closure once and returns its
        loss (torch returns at once when the gradient is small)."""
        if closure is None:
            raise InvalidArgument("LBFGS.step needs a closure that "
                                  "reevaluates the model and returns the loss")
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        orig_loss = None
        iterations = evaluations = 0
        while (self._trial is not None and iterations < group["max_iter"]
               and evaluations < group["max_eval"]):
            trial = self._trial
            self._write(trial.x)
            loss = closure()
            evaluations += 1
            if orig_loss is None:
                orig_loss = loss
            value = float(loss)
            gradient = self._gradient()
            if np.isfinite(value) and np.all(np.isfinite(gradient)):
                answer = trial.tell(value, gradient)
            else:
                answer = trial.tell(failed=True)
            if answer.iterate is not None:
                iterations += 1
                self._iterate = answer.iterate.x
            self._trial = answer.trial
        if self._trial is None and self.session.summary is not None and (
                self.session.summary.x.size):
            self._iterate = self.session.summary.x
        self._write(self._iterate)
        if orig_loss is None:
            orig_loss = closure()
        return orig_loss

    def state_dict(self) -> Dict[str, Any]:
        """torch's state dict plus, under ``"optd"``, the session exported
        compactly (its curvature pairs, iterate and line search as of now);
        ``load_state_dict`` on this or another optd goes on bitwise."""
        state = super().state_dict()
        state["optd"] = self._optd_state()
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Imports the state dict's optd session under a new id on this
        optimizer's server, makes it this optimizer's session (the one it
        replaces is deleted unless ``keep``) and sets the parameters to its
        last accepted iterate. InvalidArgument, changing nothing, for a
        state dict without an optd session or of another dimension."""
        before = super().state_dict()
        super().load_state_dict(
            {k: v for k, v in state_dict.items() if k != "optd"})
        try:
            session = self._adopt(state_dict.get("optd"),
                                  self.session.dimension)
        except BaseException:
            super().load_state_dict(before)
            raise
        session.report_iterates = True
        self._trial = session.pending[0] if session.pending else None
        info = session.info(include_x=True)
        self._iterate = np.array(info.best_x, dtype=np.float64)
        self._write(self._iterate)
