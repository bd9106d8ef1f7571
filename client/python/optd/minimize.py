"""``optd.minimize``: scipy.optimize.minimize, run by an optd server.

    >>> import numpy as np, optd
    >>> from scipy.optimize import rosen, rosen_der
    >>> res = optd.minimize(lambda x: (rosen(x), rosen_der(x)), [-1.2, 1.0],
    ...                     jac=True, method="L-BFGS-B",
    ...                     address="localhost:50051")
    >>> res.success, res.nfev, res.x
    (True, 44, array([0.99999..., 0.99999...]))

L-BFGS sessions take scipy 1.10's L-BFGS-B defaults and reproduce its
evaluation counts; ``options`` takes scipy's names (maxcor, ftol, gtol,
maxiter, maxfun, maxls) or optd's (optd/options.py).
"""

from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from .client import Client, connect
from .errors import InvalidArgument
from .messages import Summary, TerminationReason
from .options import canonical_solver
from .session import Evaluator

__all__ = ["OptimizeResult", "minimize"]

#: Steps of an Adam/AdamW minimize() given no max_steps (or maxiter).
DEFAULT_ADAM_STEPS = 1000


class OptimizeResult(dict):
    """scipy's OptimizeResult: a dict whose keys are also attributes.

    Keys: x, fun, jac, nit, nfev, njev, status (0 converged, 1 iteration or
    evaluation limit, 2 other), message, success, plus session_id, reason
    (:class:`TerminationReason`) and summary (:class:`Summary`: reports,
    wall time).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __repr__(self) -> str:
        if not self:
            return f"{type(self).__name__}()"
        width = max(map(len, self)) + 1
        shown = [k for k in self if k != "summary"]
        return "\n".join(f"{k.rjust(width)}: {self[k]!r}" for k in shown)

    def __dir__(self):
        return list(self.keys())


def _result(summary: Summary, session_id: str, jac: Optional[np.ndarray]
            ) -> OptimizeResult:
    reason = summary.reason
    status = (reason.scipy_status if isinstance(reason, TerminationReason)
              else 2)
    return OptimizeResult(
        x=np.array(summary.x), fun=summary.value, jac=jac,
        nit=summary.iterations, nfev=summary.evaluations,
        njev=summary.evaluations, status=status, message=summary.message,
        success=summary.success, session_id=session_id, reason=reason,
        summary=summary)


def minimize(fun: Callable[..., Any], x0: Any, args: Sequence[Any] = (),
             method: str = "L-BFGS-B", jac: Any = True, hess: Any = None,
             hessp: Any = None, bounds: Any = None, constraints: Any = (),
             tol: Optional[float] = None, callback: Any = None,
             options: Optional[Mapping[str, Any]] = None, *,
             address: Optional[str] = None, client: Optional[Client] = None,
             session_id: Optional[str] = None,
             labels: Optional[Mapping[str, str]] = None,
             keep: bool = False) -> OptimizeResult:
    """Minimizes ``fun`` from ``x0`` with an optd session (scipy's
    ``minimize`` signature where it applies).

    Args:
      fun: ``fun(x, *args)``; with ``jac=True`` it returns ``(f, g)``.
        ``x`` is a read-only float64 numpy array.
      x0: starting point (array-like, raveled).
      args: extra arguments of fun, jac, hess and hessp.
      method: "L-BFGS-B" / "L-BFGS" (default), "Adam", "AdamW" or
        "trust-region".
      jac: True, or a callable ``jac(x, *args)``. optd needs gradients.
      hess, hessp: for trust-region sessions that ask for Hessians.
      bounds, constraints, callback: not supported yet (must be None/empty).
      tol: sets ftol and gtol for L-BFGS unless options set them.
      options: solver options (scipy or optd names). Adam/AdamW run
        ``max_steps`` (or ``maxiter``) steps, default 1000.
      address: the server (default $OPTD_ADDRESS or localhost:50051);
        ignored when ``client`` is given.
      session_id, labels: of the session.
      keep: keep the session on the server (default: delete it at the end).

    Returns:
      an :class:`OptimizeResult`. A run that does not converge is a result
      with ``success=False``; errors from the server raise OptdError.

    A value that is NaN or infinite, or a non-finite gradient, is told as a
    failed evaluation: L-BFGS backtracks and Adam skips the step.
    """
    if bounds is not None or constraints or callback is not None:
        raise InvalidArgument(
            "optd.minimize does not support bounds, constraints or callback "
            "yet; use scipy.optimize.minimize for those")
    solver = canonical_solver(method)
    options = dict(options or {})
    options.pop("disp", None)
    if tol is not None and solver == "lbfgs":
        options.setdefault("ftol", tol)
        options.setdefault("gtol", tol)
    if solver in ("adam", "adamw") and not (
            options.get("max_steps") or options.get("maxiter")):
        options["max_steps"] = DEFAULT_ADAM_STEPS
    evaluate = Evaluator(fun, jac, hess, hessp, args)
    x0 = np.asarray(x0, dtype=np.float64).ravel()

    own_client = client is None
    if own_client:
        client = connect(address)
    try:
        session = client.optimize(x0, solver, options, session_id=session_id,
                                  labels=labels, keep=keep)
        with session:
            for trial in session.trials():
                trial.tell(**evaluate(trial))
            summary = session.summary
            assert summary is not None
            gradient = evaluate.gradient_at(summary.x)
            if gradient is None and summary.x.size and np.all(
                    np.isfinite(summary.x)):
                # Not among the remembered evaluations (e.g. after a failed
                # line search restored an older iterate): one more call,
                # not counted in nfev.
                gradient = (fun(summary.x, *args)[1] if jac is True
                            else jac(summary.x, *args))
            jacobian = None if gradient is None else np.array(
                gradient, dtype=np.float64)
            return _result(summary, session.session_id, jacobian)
    finally:
        if own_client:
            client.close()
