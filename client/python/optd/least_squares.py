"""``optd.least_squares``: scipy.optimize.least_squares (method 'lm' or
'trf', with bounds and robust losses), run by an optd server.

    >>> import numpy as np, optd
    >>> def fun(x):   # Rosenbrock as residuals
    ...     return np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]])
    >>> def jac(x):
    ...     return np.array([[-20 * x[0], 10.0], [-1.0, 0.0]])
    >>> res = optd.least_squares(fun, [-1.2, 1.0], jac=jac,
    ...                          address="localhost:50051")
    >>> res.x, res.cost, res.nfev, res.njev
    (array([1., 1.]), 0.0, 21, 16)

The session runs MINPACK's lmder as scipy 1.10 does for
``least_squares(method='lm', jac=callable)``, or scipy's trust-region
reflective algorithm for ``method='trf'`` (tr_solver 'exact'): the same
evaluations in the same order, so ``nfev`` and ``njev`` equal scipy's where
the arithmetic allows (docs/solvers.md#least-squares). Each trial wants the
residuals, the Jacobian, or both (``Wants.RESIDUALS``, ...); ``fun`` and
``jac`` are called only for what it wants, and the results go back through
the generic ``Trial.tell(residuals=..., jacobian=...)``.

With ``jac='2-point'`` (or '3-point', or None) the server forms the
Jacobian from residuals alone (gradient_source FINITE_DIFFERENCE;
``diff_step`` as scipy's): each Jacobian is a batch of residual trials.
Method 'lm' runs MINPACK's lmdif for any of them, as scipy does (scheme
MINPACK_FORWARD): ``nfev`` counts the n trials of each Jacobian as lmdif
does, so it equals scipy's; ``njev`` is None, as scipy's. Method 'trf'
(bounds, a robust loss) differences as scipy's approx_derivative (scheme
FORWARD for '2-point' and None, CENTRAL for '3-point'; a step that would
leave the box is flipped or made one-sided, as _numdiff.py's): ``nfev``
counts only the algorithm's residual evaluations and ``njev`` the
Jacobians, as scipy's trf. The trials are asked for as one worker's leases
(up to 1024 at a time), so each answer carries only that worker's trials
and a Jacobian costs O(n) messages. Finite differences do not go with
tr_solver='lsmr' (InvalidArgument; pass a callable jac).

``tr_solver='lsmr'`` (or ``jac`` returning a LinearOperator, as scipy picks
it) runs scipy's matrix-free trf (LeastSquaresOptions.tr_solver LSMR): the
server never sees J. ``jac(x)`` returns anything with ``matvec(v)`` and
``rmatvec(u)`` (a ``scipy.sparse.linalg.LinearOperator``) or a matrix
(ndarray, scipy.sparse); it is called once per point and the trials ask for
J(x) v and J(x)^T u (``Wants.JACOBIAN_VECTOR``, ``JACOBIAN_TRANSPOSE_VECTOR``),
a chain of them per iteration (docs/api.md#matrix-free-least-squares-lsmr).
``tr_options`` are scipy's lsmr options: ``atol`` and ``btol`` (one value,
LeastSquaresOptions.lsmr_tol), ``maxiter`` and ``regularize``.

``options`` are scipy's: ftol, xtol, gtol, x_scale (a number, n numbers or
'jac'), max_nfev, bounds, loss ('linear', 'soft_l1', 'huber', 'cauchy',
'arctan'), f_scale, diff_step, or optd's LeastSquaresOptions fields (factor,
'lm' only). ``method=None`` (the default) lets the server choose: 'lm'
without bounds and with the linear loss, else 'trf' (scipy's own default is
'trf' always). Callable losses and jac='cs' are not served: InvalidArgument.
"""

import time
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ._proto import optimizer_pb2 as pb
from .client import Client, connect
from .errors import InvalidArgument
from .messages import Wants
from .minimize import OptimizeResult
from .vectors import VectorEncoding, decode

__all__ = ["least_squares"]

# The worker id under which least_squares leases its trials.
_WORKER = "optd.least_squares"
# Trials leased at once (AskRequest.max_trials' limit).
_MAX_TRIALS = 1024

_LOSSES = {"linear": pb.LeastSquaresOptions.LOSS_LINEAR,
           "soft_l1": pb.LeastSquaresOptions.LOSS_SOFT_L1,
           "huber": pb.LeastSquaresOptions.LOSS_HUBER,
           "cauchy": pb.LeastSquaresOptions.LOSS_CAUCHY,
           "arctan": pb.LeastSquaresOptions.LOSS_ARCTAN}
_METHODS = {None: pb.LeastSquaresOptions.METHOD_UNSPECIFIED,
            "lm": pb.LeastSquaresOptions.METHOD_LM,
            "trf": pb.LeastSquaresOptions.METHOD_TRF}
_TR_SOLVERS = (None, "exact", "lsmr")
_RESIDUALS = (Wants.RESIDUALS, Wants.RESIDUALS_AND_JACOBIAN)
_JACOBIAN = (Wants.JACOBIAN, Wants.RESIDUALS_AND_JACOBIAN)
_PRODUCTS = (Wants.JACOBIAN_VECTOR, Wants.JACOBIAN_TRANSPOSE_VECTOR)


def _options(n: int, m: int, ftol: float, xtol: float, gtol: float,
             x_scale: Any, max_nfev: Optional[int],
             extra: Mapping[str, Any]) -> pb.LeastSquaresOptions:
    options = pb.LeastSquaresOptions(residuals=m, ftol=ftol, xtol=xtol,
                                     gtol=gtol)
    if max_nfev is not None:
        options.max_nfev = int(max_nfev)
    if isinstance(x_scale, str):
        if x_scale != "jac":
            raise InvalidArgument(
                f"x_scale is {x_scale!r}; use 'jac', a number or n numbers")
        options.x_scale_jac = True
    else:
        scale = np.asarray(x_scale, dtype=np.float64).ravel()
        if scale.size == 1:
            scale = np.full(n, scale[0])
        if not np.all(scale == 1.0):  # scipy's default 1.0 is lmder's diag 1
            options.x_scale.extend(scale.tolist())
    for name, value in extra.items():
        if name not in ("factor",):
            raise InvalidArgument(
                f"unknown least_squares option {name!r}; optd takes ftol, "
                "xtol, gtol, x_scale, max_nfev and factor")
        setattr(options, name, value)
    return options


def _bounds(bounds: Any, n: int):
    """scipy's bounds ((lb, ub) of scalars or n-arrays, or a
    scipy.optimize.Bounds) as two n-arrays, or None when all infinite."""
    if bounds is None:
        return None
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lb, ub = bounds.lb, bounds.ub
    elif len(bounds) == 2:
        lb, ub = bounds
    else:
        raise InvalidArgument("bounds must contain 2 elements (lb, ub)")
    lb = np.broadcast_to(np.asarray(lb, dtype=np.float64), (n,)).copy()
    ub = np.broadcast_to(np.asarray(ub, dtype=np.float64), (n,)).copy()
    if np.all(np.isneginf(lb)) and np.all(np.isposinf(ub)):
        return None
    return lb, ub


def _result(summary: pb.Summary, session_id: str, n: int,
            finite_difference: bool) -> OptimizeResult:
    x = np.array(decode(summary.x), dtype=np.float64)
    result = OptimizeResult(x=x, message=summary.message,
                            session_id=session_id)
    if not summary.HasField("least_squares"):  # stopped before lmder ended
        result.update(cost=summary.value, fun=None, jac=None, grad=None,
                      optimality=np.nan, active_mask=np.zeros(n, dtype=int),
                      nfev=0, njev=0, status=-1, success=False,
                      covariance=None)
        return result
    lsq = summary.least_squares
    fun = np.array(decode(lsq.fun), dtype=np.float64)
    jac = np.array(decode(lsq.jac), dtype=np.float64)
    grad = np.array(decode(lsq.grad), dtype=np.float64)
    covariance = np.array(decode(lsq.covariance), dtype=np.float64)
    m = fun.size
    result.update(
        cost=lsq.cost, fun=fun,
        jac=jac.reshape(m, n) if jac.size == m * n and m else None,
        grad=grad if grad.size else None, optimality=lsq.optimality,
        active_mask=(np.array(lsq.active_mask, dtype=int)
                     if len(lsq.active_mask) == n else np.zeros(n, dtype=int)),
        method=lsq.method, nfev=int(lsq.nfev),
        njev=(None if finite_difference and lsq.method == "lm"
              else int(lsq.njev)),
        status=int(lsq.status), success=lsq.success,
        covariance=covariance.reshape(n, n) if covariance.size else None)
    if lsq.lsmr_iterations or lsq.jacobian_transpose_vector_products:
        result.update(
            jacobian_vector_products=int(lsq.jacobian_vector_products),
            jacobian_transpose_vector_products=int(
                lsq.jacobian_transpose_vector_products),
            lsmr_iterations=int(lsq.lsmr_iterations))
    return result


def _is_operator(j: Any) -> bool:
    """Whether a jac(x) value is LinearOperator-like (scipy picks
    tr_solver='lsmr' for it) rather than a matrix."""
    return (hasattr(j, "matvec") and hasattr(j, "rmatvec")
            and not isinstance(j, np.ndarray))


def _products(j: Any):
    """(J v, J^T u) callables of a jac(x) value: its matvec and rmatvec, or
    a matrix's products."""
    if _is_operator(j):
        return j.matvec, j.rmatvec
    if not hasattr(j, "dot"):
        j = np.asarray(j, dtype=np.float64)
    return j.dot, j.T.dot


def _lsmr_options(options: pb.LeastSquaresOptions,
                  tr_options: Mapping[str, Any]) -> None:
    """tr_options (scipy's lsmr keywords) into `options`."""
    tols = {tr_options[k] for k in ("atol", "btol") if k in tr_options}
    if len(tols) > 1:
        raise InvalidArgument(
            f"tr_options atol and btol are {tr_options['atol']!r} and "
            f"{tr_options['btol']!r}; optd takes one LSMR tolerance for both "
            "(LeastSquaresOptions.lsmr_tol)")
    for name in tr_options:
        if name not in ("atol", "btol", "maxiter", "regularize"):
            raise InvalidArgument(
                f"tr_options {name!r} is not served; optd takes atol, btol "
                "(equal), maxiter and regularize")
    if tols:
        options.lsmr_tol = float(tols.pop())
    if tr_options.get("maxiter") is not None:
        options.lsmr_maxiter = int(tr_options["maxiter"])
    if "regularize" in tr_options:
        options.regularize = bool(tr_options["regularize"])


def _finite_difference(jac: Any, diff_step: Any,
                       trf: bool) -> Optional[dict]:
    """The session's FiniteDifferenceOptions for a `jac` string (None for a
    callable jac): lmdif's rule for 'lm', approx_derivative's for 'trf'."""
    if callable(jac):
        if diff_step is not None:
            raise InvalidArgument(
                "diff_step is for finite-difference Jacobians; jac is a "
                "callable")
        return None
    if jac is not None and jac not in ("2-point", "3-point"):
        raise InvalidArgument(
            f"jac is {jac!r}; use a callable, '2-point' or '3-point' (server-"
            "side forward differences, as scipy's method='lm' runs lmdif)")
    if not trf:
        scheme = "SCHEME_MINPACK_FORWARD"
    elif jac == "3-point":
        scheme = "SCHEME_CENTRAL"
    else:
        scheme = "SCHEME_FORWARD"
    fd: dict = {"scheme": scheme}
    if diff_step is not None:
        fd["relative_step"] = float(diff_step)
    return fd


def least_squares(fun: Callable[..., Any], x0: Any, jac: Any = "2-point", *,
                  method: Optional[str] = None, bounds: Any = None,
                  ftol: float = 1e-8, xtol: float = 1e-8, gtol: float = 1e-8,
                  x_scale: Any = 1.0, loss: str = "linear",
                  f_scale: float = 1.0, diff_step: Optional[float] = None,
                  max_nfev: Optional[int] = None,
                  tr_solver: Optional[str] = None,
                  tr_options: Optional[Mapping[str, Any]] = None,
                  args: Sequence[Any] = (),
                  kwargs: Optional[Mapping[str, Any]] = None,
                  address: Optional[str] = None,
                  client: Optional[Client] = None,
                  session_id: Optional[str] = None,
                  labels: Optional[Mapping[str, str]] = None,
                  keep: bool = False, **options: Any) -> OptimizeResult:
    """Minimizes 0.5 * sum(rho(fun(x)**2)) from ``x0``, within ``bounds``,
    by Levenberg-Marquardt or trust-region reflective in an optd session
    (scipy's ``least_squares`` signature where it applies).

    Args:
      fun: ``fun(x, *args, **kwargs)`` -> the m residuals (array-like);
        m >= n for 'lm'. ``x`` is a float64 copy.
      x0: starting point (array-like, raveled); n variables.
      jac: ``jac(x, *args, **kwargs)`` -> the m x n Jacobian, or '2-point'
        (scipy's default), '3-point' or None: the server forms J from told
        residuals, by MINPACK's forward differences with 'lm' (as scipy's
        lm for any of them), by approx_derivative's rule with 'trf' (None:
        '2-point'; bounds respected). Not with tr_solver='lsmr'.
      method: "lm", "trf" or None (the server's choice: "lm" without
        finite bounds and with the linear loss, else "trf").
      bounds: scipy's (lb, ub) (scalars or n-arrays; +-inf for none) or a
        scipy.optimize.Bounds; "trf" only. x0 must lie inside (scipy:
        "`x0` is infeasible"), lb < ub strictly.
      loss: "linear", "soft_l1", "huber", "cauchy" or "arctan" ("trf"
        only for all but "linear"). f_scale: the loss's soft margin.
      ftol, xtol, gtol, x_scale, max_nfev: scipy's (defaults 1e-8, 1e-8,
        1e-8, 1.0, and 100 n; 100 n (n + 1) for 'lm' without a callable
        jac, as scipy's lmdif).
      diff_step: scipy's ('lm': the forward step is max(diff_step,
        sqrt(eps)) |x_j|; 'trf': approx_derivative's rel_step); only without
        a callable jac.
      tr_solver: None, 'exact' or 'lsmr' (matrix-free, see above; None:
        'lsmr' when jac(x0) is LinearOperator-like, as scipy).
      tr_options: 'lsmr' only: atol = btol, maxiter, regularize.
      address / client: the server (default connect()'s address).
      session_id, labels: of the session. keep: keep it after the run
        (default: delete it).
      **options: further LeastSquaresOptions fields (factor).

    Returns:
      OptimizeResult with scipy's fields x, cost, fun, jac, grad, optimality,
      active_mask, nfev, njev (None for 'lm' without a callable jac, as
      scipy),
      status, message, success, plus method (the one that ran), session_id
      and covariance (curve_fit's pinv(J^T J) * 2 cost / (m - n); inf when
      m <= n). With 'lsmr' jac and covariance are None (J is never formed)
      and jacobian_vector_products, jacobian_transpose_vector_products and
      lsmr_iterations count the work. Without a callable jac, ``jac`` is the last forward-difference
      Jacobian (scipy recomputes it by approx_derivative's '3-point' for its
      result, so ``jac``, ``grad`` and ``optimality`` differ from scipy's in
      the digits the difference schemes disagree on).

    Raises:
      InvalidArgument: an option or evaluation the server refuses (the
        message names the field and its limit), or one optd does not serve.
    """
    method_key = None if method is None else str(method).lower()
    if method_key not in _METHODS:
        raise InvalidArgument(
            f"method is {method!r}; optd serves least_squares with 'lm', "
            "'trf' or None (the server's choice)")
    if not isinstance(loss, str) or loss not in _LOSSES:
        raise InvalidArgument(
            f"loss is {loss!r}; optd serves 'linear', 'soft_l1', 'huber', "
            "'cauchy' and 'arctan' (not callables)")
    if tr_solver not in _TR_SOLVERS:
        raise InvalidArgument(
            f"tr_solver is {tr_solver!r}; use None, 'exact' or 'lsmr'")
    kwargs = dict(kwargs or {})
    x0 = np.array(x0, dtype=np.float64).ravel()
    n = x0.size
    box = _bounds(bounds, n)
    # The server's choice of method (method None): 'trf' with finite bounds
    # or a robust loss.
    trf = (method_key == "trf" or box is not None or loss != "linear"
           or tr_solver == "lsmr")
    fd = _finite_difference(jac, diff_step, trf)
    if fd is not None and tr_solver == "lsmr":
        raise InvalidArgument(
            f"jac is {jac!r}: finite-difference Jacobians are not served with "
            "tr_solver='lsmr' (the server never forms J there); pass a "
            "callable jac")
    # As scipy, which calls fun(x0) for m before the method calls it again.
    f0 = np.asarray(fun(x0.copy(), *args, **kwargs), dtype=np.float64).ravel()
    m = f0.size
    request_options = _options(n, m, ftol, xtol, gtol, x_scale, max_nfev,
                               options)
    request_options.method = _METHODS[method_key]
    # scipy: tr_solver None is 'lsmr' when jac(x0) is not a matrix; the
    # operator is kept for x0's products.
    operators: dict = {}
    j0: dict = {}  # a matrix jac(x0), for x0's Jacobian trial
    if fd is None and tr_solver is None:
        j = jac(x0.copy(), *args, **kwargs)
        if _is_operator(j):
            tr_solver = "lsmr"
            operators[x0.tobytes()] = _products(j)
        else:
            j0[x0.tobytes()] = j
    if tr_solver == "lsmr":
        request_options.tr_solver = pb.LeastSquaresOptions.TR_SOLVER_LSMR
        _lsmr_options(request_options, tr_options or {})
    elif tr_options:
        raise InvalidArgument(
            "tr_options are lsmr's; set tr_solver='lsmr' (optd's exact "
            "solver takes none)")
    if loss != "linear":
        request_options.loss = _LOSSES[loss]
    if loss != "linear" or f_scale != 1.0:
        request_options.f_scale = float(f_scale)

    own_client = client is None
    if own_client:
        client = connect(address)
    try:
        with client.create_session(
                x0, "least_squares", request_options,
                session_id=session_id, labels=labels,
                encoding=VectorEncoding.F64, keep=keep, bounds=box,
                finite_difference=fd) as session:
            while not session.finished:
                # One worker's leases: each answer then holds only this
                # worker's trials, not the whole batch's (a finite-difference
                # Jacobian is a batch of n + 1).
                trials = session.ask_all(worker_id=_WORKER,
                                         max_trials=_MAX_TRIALS)
                if not trials and not session.finished:
                    # Leased to another worker (a client sharing this
                    # session): wait for its lease.
                    time.sleep(min(max(session.retry_after, 0.01), 1.0))
                for trial in trials:
                    x = np.array(trial.x, dtype=np.float64)
                    told = {}
                    if trial.wants in _RESIDUALS:
                        told["residuals"] = np.asarray(
                            fun(x.copy(), *args, **kwargs),
                            dtype=np.float64).ravel()
                    if trial.wants in _JACOBIAN:
                        j = j0.pop(x.tobytes(), None)
                        if j is None:
                            j = jac(x.copy(), *args, **kwargs)
                        j0.clear()
                        told["jacobian"] = np.asarray(
                            j, dtype=np.float64).reshape(m, n)
                    if trial.wants in _PRODUCTS:
                        # One jac(x) per point: the products of a trf
                        # iteration are all at its accepted x.
                        key = x.tobytes()
                        if key not in operators:
                            operators.clear()
                            operators[key] = _products(
                                jac(x.copy(), *args, **kwargs))
                        jv, jtu = operators[key]
                        v = np.array(trial.vector, dtype=np.float64)
                        if trial.wants == Wants.JACOBIAN_VECTOR:
                            told["jacobian_vector"] = np.asarray(
                                jv(v), dtype=np.float64).ravel()
                        else:
                            told["jacobian_transpose_vector"] = np.asarray(
                                jtu(v), dtype=np.float64).ravel()
                    trial.tell(**told)
            summary = session.summary
            if summary is None:
                summary = session.info(include_x=True).summary
            return _result(summary.proto, session.session_id, n,
                           fd is not None)
    finally:
        if own_client:
            client.close()
