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

Without gradients (``jac=None``, ``False``, ``"2-point"`` or ``"3-point"``)
fun returns only f and the server forms gradients by finite differences,
handing out each stencil as a batch of trials; ``workers=W`` evaluates them
in W threads:

    >>> res = optd.minimize(rosen, [-1.2, 1.0], jac=None,
    ...                     bounds=[(-2, 2), (-2, 0.9)], workers=4)
"""

import threading
from typing import Any, Callable, List, Mapping, Optional, Sequence

import numpy as np

from ._evaluator import Evaluator
from .bounds import resolve_bounds
from .client import Client, connect
from .errors import InvalidArgument
from .messages import Summary, TerminationReason
from .options import canonical_solver
from .session import Session

# scipy's jac strings -> FiniteDifferenceOptions.scheme; None and False take
# the server's default, central differences.
_SCHEMES = {"2-point": "forward", "3-point": "central"}

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


def _result(summary: Summary, session_id: str, jac: Optional[np.ndarray],
            nfev: Optional[int] = None,
            njev: Optional[int] = None) -> OptimizeResult:
    reason = summary.reason
    status = (reason.scipy_status if isinstance(reason, TerminationReason)
              else 2)
    return OptimizeResult(
        x=np.array(summary.x), fun=summary.value, jac=jac,
        nit=summary.iterations,
        nfev=summary.evaluations if nfev is None else nfev,
        njev=summary.evaluations if njev is None else njev, status=status,
        message=summary.message,
        success=summary.success, session_id=session_id, reason=reason,
        summary=summary)


class _Counted:
    """fun, counting its calls (from any thread)."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            self.calls += 1
        return self.fun(*args)


def _serve(session: Session, evaluate: Evaluator, workers: int) -> None:
    """Runs the session to its end: on its Optimize stream with one worker,
    else with `workers` threads of Session.work."""
    if workers <= 1:
        for trial in session.trials():
            trial.tell(**evaluate(trial))
        return
    errors: List[BaseException] = []

    def work(k: int) -> None:
        try:
            session.work(evaluate.fun, f"minimize-{k}", evaluate.jac,
                         evaluate.hess, evaluate.hessp, evaluate.args,
                         min_wait=0.001, max_wait=0.05)
        except BaseException as e:  # noqa: B902 (re-raised below)
            errors.append(e)
            try:
                session.stop()  # the other threads return
            except Exception:  # noqa: BLE001 (the first error is raised)
                pass

    threads = [threading.Thread(target=work, args=(k,), daemon=True)
               for k in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def minimize(fun: Callable[..., Any], x0: Any, args: Sequence[Any] = (),
             method: str = "L-BFGS-B", jac: Any = True, hess: Any = None,
             hessp: Any = None, bounds: Any = None, constraints: Any = (),
             tol: Optional[float] = None, callback: Any = None,
             options: Optional[Mapping[str, Any]] = None, *,
             address: Optional[str] = None, client: Optional[Client] = None,
             session_id: Optional[str] = None,
             labels: Optional[Mapping[str, str]] = None,
             keep: bool = False, workers: int = 1) -> OptimizeResult:
    """Minimizes ``fun`` from ``x0`` with an optd session (scipy's
    ``minimize`` signature where it applies).

    Args:
      fun: ``fun(x, *args)``; with ``jac=True`` it returns ``(f, g)``.
        ``x`` is a read-only float64 numpy array.
      x0: starting point (array-like, raveled).
      args: extra arguments of fun, jac, hess and hessp.
      method: "L-BFGS-B" / "L-BFGS" (default), "Adam", "AdamW" or
        "trust-region".
      jac: True (the default: fun returns (f, g)), a callable
        ``jac(x, *args)``, or None / False / "3-point" / "2-point": fun
        returns only f and the server forms the gradient by finite
        differences of told values (gradient_source="finite_difference").
        Unlike scipy, whose default (jac=None) is "2-point" forward
        differences, optd's default is central differences ("3-point":
        2n + 1 values per gradient, error O(h^2)); "2-point" asks for
        forward ones (n + 1 values, error O(h)). Steps are scipy's:
        h_i = cbrt(eps) (central) or sqrt(eps) (forward) times
        max(1, |x_i|); ``options={"finite_difference_step": h}`` sets the
        relative step (scipy's ``finite_diff_rel_step``, also accepted).
      hess, hessp: for trust-region sessions that ask for Hessians.
      bounds: a box on x: scipy's sequence of n ``(min, max)`` pairs (None
        for no bound), a ``scipy.optimize.Bounds``, or ``(lower, upper)``
        arrays (optd/bounds.py). L-BFGS is then L-BFGS-B; finite-difference
        stencils stay inside the box (one-sided at an active bound).
      constraints, callback: not supported yet (must be empty/None).
      tol: sets ftol and gtol for L-BFGS unless options set them.
      options: solver options (scipy or optd names). Adam/AdamW run
        ``max_steps`` (or ``maxiter``) steps, default 1000.
      address: the server (default $OPTD_ADDRESS or localhost:50051);
        ignored when ``client`` is given.
      session_id, labels: of the session.
      keep: keep the session on the server (default: delete it at the end).
      workers: evaluate fun in this many threads at once (each batch of
        trials, e.g. a finite-difference stencil, is shared out; helps when
        fun releases the GIL or waits on I/O). Default 1: one Optimize
        stream.

    Returns:
      an :class:`OptimizeResult`. A run that does not converge is a result
      with ``success=False``; errors from the server raise OptdError. With
      finite differences ``nfev`` counts every value told (as scipy's does,
      stencil points included), ``njev`` the gradients the server formed
      (nfev / (2n + 1) central, nfev / (n + 1) forward), and ``jac`` is None
      (the server keeps its differences).

    A value that is NaN or infinite, or a non-finite gradient, is told as a
    failed evaluation: L-BFGS backtracks and Adam skips the step.
    """
    if constraints or callback is not None:
        raise InvalidArgument(
            "optd.minimize does not support constraints or callback yet; "
            "use scipy.optimize.minimize for those")
    solver = canonical_solver(method)
    options = dict(options or {})
    options.pop("disp", None)
    finite_difference = None
    step = options.pop("finite_difference_step",
                       options.pop("finite_diff_rel_step", None))
    if jac is None or jac is False or isinstance(jac, str):
        if isinstance(jac, str) and jac not in _SCHEMES:
            raise InvalidArgument(
                f"jac is {jac!r}; optd forms gradients by finite differences "
                f"with {sorted(_SCHEMES)} or None (central)")
        finite_difference = {"scheme": _SCHEMES.get(jac),
                             "relative_step": step}
        jac = None
    elif step is not None:
        raise InvalidArgument("options.finite_difference_step needs "
                              "jac=None (finite differences)")
    if tol is not None and solver == "lbfgs":
        options.setdefault("ftol", tol)
        options.setdefault("gtol", tol)
    if solver in ("adam", "adamw") and not (
            options.get("max_steps") or options.get("maxiter")):
        options["max_steps"] = DEFAULT_ADAM_STEPS
    if workers < 1:
        raise InvalidArgument(f"workers is {workers}; at least 1")
    counted = _Counted(fun)
    evaluate = Evaluator(counted, jac, hess, hessp, args)
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    # scipy's pairs first: for n = 2, [(lo0, hi0), (lo1, hi1)].
    extras = dict(bounds=resolve_bounds(bounds, x0.size, pairs_first=True),
                  finite_difference=finite_difference)

    own_client = client is None
    if own_client:
        client = connect(address)
    try:
        if workers > 1:
            session = client.create_session(
                x0, solver, options, session_id=session_id, labels=labels,
                keep=keep, **extras)
        else:
            session = client.optimize(x0, solver, options,
                                      session_id=session_id, labels=labels,
                                      keep=keep, **extras)
        with session:
            _serve(session, evaluate, workers)
            summary = session.summary or session.info().summary
            assert summary is not None
            if finite_difference is not None:
                # Every gradient was one batch of 2n + 1 values (central) or
                # n + 1 (forward), one-sided stencils at bounds included.
                per_gradient = x0.size + 1 if (
                    finite_difference["scheme"] == "forward") else (
                    2 * x0.size + 1)
                return _result(summary, session.session_id, None,
                               nfev=counted.calls,
                               njev=counted.calls // per_gradient)
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
