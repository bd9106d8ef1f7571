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

import inspect
import threading
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._evaluator import Evaluator
from .bounds import resolve_bounds
from .client import Client, connect
from .errors import FailedPrecondition, InvalidArgument
from .messages import Iterate, Summary, TerminationReason
from .options import FIRST_ORDER, canonical_solver
from .session import Session

# scipy's jac strings -> FiniteDifferenceOptions.scheme; None and False take
# the server's default, central differences.
_SCHEMES = {"2-point": "forward", "3-point": "central"}

# scipy's trust-region method names -> the trust-region subproblem that
# solves the same model. scipy's trust-region methods have no f-tolerance
# test, so these sessions turn optd's off (ftol 0) unless options set it.
# trust-krylov (GLTR, a Lanczos solve of the subproblem) is served by
# Steihaug-Toint CG: the same model and acceptance rule, a less exact step
# on the trust-region boundary (docs/coming-from-scipy-torch.md).
_TRUST_METHODS = {"trust-exact": "exact", "trust-ncg": "newton_cg",
                  "trust-krylov": "newton_cg"}

#: minimize() fetches the curvature pairs for hess_inv (hess_inv=None) when
#: they are at most this many bytes (2 k n doubles).
HESS_INV_MAX_BYTES = 64 << 20

#: scipy's message when every variable is fixed by its bounds.
ALL_FIXED_MESSAGE = "All independent variables were fixed by bounds."

__all__ = ["OptimizeResult", "minimize"]

#: Steps of a minimize() with Adam/AdamW or another first-order method
#: (options.FIRST_ORDER) given no max_steps (or maxiter).
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


def _on_copies(function: Any, vectors: int = 1) -> Any:
    """`function` called with writable copies of its first `vectors`
    arguments, as scipy calls the user's functions: a function that
    changes its x in place (``x -= a``) then changes neither the trial's
    point nor the solver's view of it. None and non-callables pass."""
    if not callable(function):
        return function

    def call(*args: Any) -> Any:
        copies = [np.array(a, dtype=np.float64) for a in args[:vectors]]
        return function(*copies, *args[vectors:])

    return call


class _Iterates:
    """The per-iteration side of minimize: scipy's ``callback`` (either
    form) and ``return_all``, fed from the iterates the server reports
    (``Session.report_iterates``)."""

    def __init__(self, callback: Any, return_all: bool,
                 x0: np.ndarray) -> None:
        self.callback = callback
        self.all = [x0.copy()] if return_all else None
        self.stopped = False
        # scipy >= 1.11: a callback whose only parameter is named
        # intermediate_result gets an OptimizeResult (x, fun); else xk.
        self.new_style = False
        if callback is not None:
            try:
                parameters = inspect.signature(callback).parameters
                self.new_style = list(parameters) == ["intermediate_result"]
            except (TypeError, ValueError):
                pass

    def finish(self, result: "OptimizeResult",
               hess_inv: Any = None) -> "OptimizeResult":
        """`result` with scipy's traces of the callback (allvecs with
        return_all; status 99 when the callback raised StopIteration) and
        `hess_inv` when there is one."""
        if hess_inv is not None:
            result["hess_inv"] = hess_inv
        if self.all is not None:
            result["allvecs"] = self.all
        if self.stopped:
            result.update(success=False, status=99,
                          message="`callback` raised `StopIteration`.")
        return result

    @property
    def wanted(self) -> bool:
        return self.callback is not None or self.all is not None

    def __call__(self, iterate: Iterate) -> bool:
        """Records one iterate; False when the callback asked to stop
        (raised StopIteration)."""
        x = np.array(iterate.x, dtype=np.float64)
        if self.all is not None:
            self.all.append(x.copy())
        if self.callback is None:
            return True
        try:
            if self.new_style:
                self.callback(intermediate_result=OptimizeResult(
                    x=x, fun=iterate.value, nit=iterate.iteration))
            else:
                self.callback(x)
        except StopIteration:
            self.stopped = True
            return False
        return True


def _trust_subproblem(method: str, subproblem: str, hess: Any, hessp: Any,
                      options: dict) -> Tuple[str, Any]:
    """The trust-region subproblem (and the hess to evaluate) for scipy's
    `method` with its `hess` / `hessp`, as scipy reads them: a callable
    hess or hessp; for trust-ncg and trust-krylov also a finite-difference
    scheme ("2-point", "3-point", "cs": optd forms H p by forward
    differences of gradients, newton_cg_fd) or a HessianUpdateStrategy
    (scipy's BFGS() or SR1(): optd's limited-memory quasi-Newton model with
    the same update). Neither: InvalidArgument (a ValueError) with scipy's
    message."""
    if subproblem == "exact":
        if not callable(hess):
            raise InvalidArgument(
                "Hessian matrix is required for trust region exact "
                f"minimization (method {method!r}: pass hess, a callable "
                "returning the dense Hessian)")
        return subproblem, hess
    if hessp is not None or callable(hess):
        return subproblem, hess
    if isinstance(hess, str) and hess in ("2-point", "3-point", "cs"):
        return "newton_cg_fd", None
    update = type(hess).__name__ if hess is not None else None
    if update in ("BFGS", "SR1") and hasattr(hess, "update"):
        options.setdefault("quasi_newton_update",
                           "lbfgs" if update == "BFGS" else "lsr1")
        return "quasi_newton", None
    if hess is None:
        raise InvalidArgument(
            "Either the Hessian or the Hessian-vector product is required "
            f"for Newton-CG trust-region minimization (method {method!r}: "
            "pass hess, hessp, or hess='2-point')")
    raise InvalidArgument(
        f"hess is {hess!r}; method {method!r} takes a callable hess(x), "
        "hessp(x, p), '2-point', '3-point', 'cs', BFGS() or SR1()")


def _server_gradient(session: Session) -> Optional[np.ndarray]:
    """The gradient the session's solver holds at its best point (L-BFGS:
    told, or formed by finite differences), or None when it holds none."""
    try:
        info = session.client.get_session(session.session_id,
                                          include_gradient=True)
    except FailedPrecondition:
        return None
    return (None if info.best_gradient is None
            else np.array(info.best_gradient, dtype=np.float64))


def _hess_inv(session: Session, memory: int, wanted: Optional[bool]) -> Any:
    """scipy's hess_inv of an L-BFGS session: an LbfgsInvHessProduct of its
    curvature pairs, or None when not wanted (see minimize's hess_inv) or
    scipy is missing (then only when wanted=True, ImportError)."""
    if wanted is False:
        return None
    if wanted is None and 16 * int(memory) * session.dimension > (
            HESS_INV_MAX_BYTES):
        return None
    try:
        from scipy.optimize import LbfgsInvHessProduct
    except ImportError:
        if wanted:
            raise
        return None
    s, y = session.curvature_pairs()
    # scipy's LbfgsInvHessProduct with no pairs is the identity; it needs
    # arrays of shape (k, n) even for k = 0.
    return LbfgsInvHessProduct(s, y)


def _serve(session: Session, evaluate: Evaluator, workers: int,
           iterates: Optional[_Iterates] = None) -> None:
    """Runs the session to its end: on its Optimize stream with one worker,
    else with `workers` threads of Session.work. With `iterates`, each
    iterate the server reports goes to it, in order; when it asks to stop,
    the session is stopped."""
    if workers <= 1:
        trials = session.trials()
        try:
            for trial in trials:
                answer = trial.tell(**evaluate(trial))
                if (iterates is not None and answer.iterate is not None
                        and not iterates(answer.iterate)):
                    break
        finally:
            trials.close()
        if iterates is not None and iterates.stopped and not session.finished:
            session.stop()
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
             keep: bool = False, workers: int = 1,
             hess_inv: Optional[bool] = None) -> OptimizeResult:
    """Minimizes ``fun`` from ``x0`` with an optd session (scipy's
    ``minimize`` signature where it applies).

    Args:
      fun: ``fun(x, *args)``; with ``jac=True`` it returns ``(f, g)``.
        ``x`` is a float64 numpy array, a copy (as scipy's: fun may
        change it).
      x0: starting point (array-like, raveled).
      args: extra arguments of fun, jac, hess and hessp.
      method: "L-BFGS-B" / "L-BFGS" (default), "Adam", "AdamW", "SGD",
        "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Lion",
        "trust-region", or scipy's trust-region names: "trust-exact" (the
        exact subproblem; needs hess), "trust-ncg" (Steihaug-Toint CG on
        hessp, or on hess(x) @ p; hess "2-point"/"3-point"/"cs": H p from
        gradient differences; hess BFGS()/SR1(): the limited-memory
        quasi-Newton model; neither: ValueError, as scipy) and
        "trust-krylov" (served by the same CG). The scipy names turn optd's f-tolerance test off
        (options ftol 0), as scipy's trust-region methods have none.
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
      hess, hessp: for trust-region sessions that ask for Hessians:
        ``hess(x, *args)`` the dense Hessian, ``hessp(x, p, *args)`` the
        product H(x) p.
      bounds: a box on x: scipy's sequence of n ``(min, max)`` pairs (None
        for no bound), a ``scipy.optimize.Bounds``, or ``(lower, upper)``
        arrays (optd/bounds.py). L-BFGS is then L-BFGS-B; finite-difference
        stencils stay inside the box (one-sided at an active bound).
      constraints: not supported (must be empty).
      callback: called once per iteration, in order, with the iterate the
        server accepted: ``callback(xk)``, or, for a callable whose only
        parameter is named ``intermediate_result`` (scipy 1.11's form),
        ``callback(intermediate_result=OptimizeResult(x, fun, nit))``.
        Raising StopIteration stops the session; the result then has
        success False, status 99. Each iterate costs n values on the wire
        (TellRequest.report_iterate). Needs workers=1.
      tol: as scipy: ftol and gtol for L-BFGS, gtol for the trust region,
        unless options set them (any tol >= 0; ftol >= 1 stops at the
        first iteration, as scipy's).
      options: solver options (scipy or optd names). Adam/AdamW and the
        other first-order methods (SGD, RMSprop, Adagrad, Adamax, NAdam,
        RAdam, Lion) run ``max_steps`` (or ``maxiter``) steps, default
        1000.
        ``return_all=True`` puts every iterate (x0 first) in the result's
        ``allvecs``, as scipy's trust-region methods do.
      address: the server (default $OPTD_ADDRESS or localhost:50051);
        ignored when ``client`` is given.
      session_id, labels: of the session.
      keep: keep the session on the server (default: delete it at the end).
      hess_inv: L-BFGS: put scipy's ``hess_inv`` (an
        ``scipy.optimize.LbfgsInvHessProduct``) in the result, built from
        the session's curvature pairs, which costs one GetSession of 2 k n
        doubles (k <= maxcor) at the end. None (the default): when those
        are at most 64 MiB (n <= 419,430 at maxcor 10); True: always;
        False: never. Needs scipy.
      workers: evaluate fun in this many threads at once (each batch of
        trials, e.g. a finite-difference stencil, is shared out; helps when
        fun releases the GIL or waits on I/O). Default 1: one Optimize
        stream.

    When bounds fix every variable (lower == upper), the result is
    scipy's: x at the bounds, fun evaluated once there, no session,
    message "All independent variables were fixed by bounds.".

    ``jac="cs"`` (complex step) is refused: a tell carries real values.

    Returns:
      an :class:`OptimizeResult`. A run that does not converge is a result
      with ``success=False``; errors from the server raise OptdError. With
      finite differences ``nfev`` counts every value told (as scipy's does,
      stencil points included), ``njev`` the gradients the server formed
      (nfev / (2n + 1) central, nfev / (n + 1) forward), and ``jac`` is
      the server's finite-difference gradient at x (L-BFGS; NaN for
      variables fixed by their bounds, as scipy's).

    A value that is NaN or infinite, or a non-finite gradient, is told as a
    failed evaluation: L-BFGS backtracks and Adam skips the step.
    """
    if constraints:
        raise InvalidArgument(
            "optd.minimize does not support constraints; use "
            "scipy.optimize.minimize for those")
    if callback is not None and not callable(callback):
        raise InvalidArgument(f"callback is {callback!r}; want a callable")
    options = dict(options or {})
    options.pop("disp", None)
    return_all = bool(options.pop("return_all", False))
    if (callback is not None or return_all) and workers > 1:
        raise InvalidArgument(
            "callback and options.return_all need workers=1 (the iterates "
            "come in order on the session's Optimize stream)")
    trust = _TRUST_METHODS.get(str(method).lower())
    if trust is not None:
        solver = "trust_region"
        trust, hess = _trust_subproblem(method, trust, hess, hessp, options)
        options.setdefault("subproblem", trust)
        options.setdefault("ftol", 0.0)
        options.pop("inexact", None)  # trust-krylov's; CG is always inexact
    else:
        solver = canonical_solver(method)
    if isinstance(jac, str) and jac == "cs":
        raise InvalidArgument(
            "jac is 'cs'; optd forms gradients by finite differences of "
            "told values, and a complex step needs f at complex points, "
            "which a tell cannot carry: use '2-point', '3-point' or None")
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
    elif tol is not None and solver == "trust_region":
        options.setdefault("gtol", tol)  # as scipy's trust-region methods
    if solver in FIRST_ORDER and not (
            options.get("max_steps") or options.get("maxiter")):
        options["max_steps"] = DEFAULT_ADAM_STEPS
    if workers < 1:
        raise InvalidArgument(f"workers is {workers}; at least 1")
    fun, jac, hess, hessp = (_on_copies(fun), _on_copies(jac),
                             _on_copies(hess), _on_copies(hessp, 2))
    counted = _Counted(fun)
    if solver == "trust_region" and hessp is None and callable(hess):
        def hessp(x, p, *rest):  # trust-ncg with a dense Hessian
            return np.asarray(hess(x, *rest), dtype=np.float64) @ p
    evaluate = Evaluator(counted, jac, hess, hessp, args)
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    # scipy's pairs first: for n = 2, [(lo0, hi0), (lo1, hi1)].
    box = resolve_bounds(bounds, x0.size, pairs_first=True)
    if box is not None and x0.size and np.all(box[0] == box[1]):
        # As scipy: nothing to optimize, one evaluation at the bounds.
        x = box[0].copy()
        value = fun(x, *args)
        if jac is True:
            value = value[0]
        return OptimizeResult(x=x, fun=value, success=True, status=0,
                              message=ALL_FIXED_MESSAGE, nfev=1, njev=0,
                              nhev=0, nit=0)
    extras = dict(bounds=box, finite_difference=finite_difference)
    iterates = _Iterates(callback, return_all, x0)

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
            session.report_iterates = iterates.wanted
            _serve(session, evaluate, workers,
                   iterates if iterates.wanted else None)
            summary = session.summary or session.info().summary
            assert summary is not None
            inverse = (_hess_inv(session, options.get(
                "maxcor", options.get("memory", 10)), hess_inv)
                if solver == "lbfgs" else None)
            if finite_difference is not None:
                # Every gradient was one batch of 2n + 1 values (central) or
                # n + 1 (forward), one-sided stencils at bounds included.
                per_gradient = x0.size + 1 if (
                    finite_difference["scheme"] == "forward") else (
                    2 * x0.size + 1)
                jacobian = _server_gradient(session)
                if jacobian is not None and box is not None:
                    # As scipy, which takes variables fixed by their bounds
                    # out of a finite-difference problem: no derivative.
                    jacobian[box[0] == box[1]] = np.nan
                return iterates.finish(_result(
                    summary, session.session_id, jacobian,
                    nfev=counted.calls,
                    njev=counted.calls // per_gradient), inverse)
            gradient = evaluate.gradient_at(summary.x)
            if gradient is None and solver == "lbfgs":
                gradient = _server_gradient(session)
            if gradient is None and summary.x.size and np.all(
                    np.isfinite(summary.x)):
                # Not among the remembered evaluations (e.g. after a failed
                # line search restored an older iterate): one more call,
                # not counted in nfev.
                gradient = (fun(summary.x, *args)[1] if jac is True
                            else jac(summary.x, *args))
            jacobian = None if gradient is None else np.array(
                gradient, dtype=np.float64)
            return iterates.finish(
                _result(summary, session.session_id, jacobian), inverse)
    finally:
        if own_client:
            client.close()
