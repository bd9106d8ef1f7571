"""``optd.curvature``: Hessian spectrum diagnostics run by an optd server.

    >>> import numpy as np, optd
    >>> A = np.diag([1.0, 10.0, 100.0])
    >>> r = optd.curvature([0.0, 0.0, 0.0], hvp=lambda x, v: A @ v,
    ...                    address="localhost:50051")
    >>> r.smallest[0], r.largest[0], r.condition_number  # to ~1e-15
    (1.0, 100.0, 100.0)

A curvature session (``CreateSessionRequest.curvature``) runs Lanczos with
full reorthogonalization on the Hessian H(x) at a fixed x and ends with the
k extreme eigenvalues, the condition number and a spectral density by
stochastic Lanczos quadrature (docs/curvature.md). Its trials want
Hessian-vector products H(x) v (``hvp(x, v)``), or, with only ``grad(x)``,
gradients at x + h v and x - h v (``source="gradient_difference"``; the two
trials of each product come as one batch). :func:`diagnose` opens one at
another session's current or best point (``Diagnose``).

``options`` are CurvatureOptions' fields: extreme_count, max_steps,
tolerance, probes, density_steps, source ("hessian_vector" |
"gradient_difference"), relative_step.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ._proto import optimizer_pb2 as pb
from .client import Client, connect
from .errors import InvalidArgument
from .messages import Wants
from .options import solver_options
from .session import Session
from .vectors import VectorEncoding, decode

__all__ = ["curvature", "diagnose", "CurvatureResult"]

HessianVector = Callable[[np.ndarray, np.ndarray], Any]
Gradient = Callable[[np.ndarray], Any]


@dataclasses.dataclass
class CurvatureResult:
    """``optd.v1.CurvatureResult`` with numpy arrays, plus the session's
    id, message and point."""
    smallest: np.ndarray         # ascending
    largest: np.ndarray          # descending
    condition_number: float      # inf when 0 lies in [smallest, largest]
    density_nodes: np.ndarray
    density_weights: np.ndarray  # sum to 1
    products: int                # Hessian-vector products spent
    lanczos_steps: int
    converged: bool
    session_id: str = ""
    message: str = ""
    x: Optional[np.ndarray] = None

    @classmethod
    def from_proto(cls, result: pb.CurvatureResult, **extra: Any
                   ) -> "CurvatureResult":
        return cls(smallest=np.array(result.smallest),
                   largest=np.array(result.largest),
                   condition_number=result.condition_number,
                   density_nodes=np.array(result.density_nodes),
                   density_weights=np.array(result.density_weights),
                   products=result.products,
                   lanczos_steps=result.lanczos_steps,
                   converged=result.converged, **extra)

    def density(self, grid: Any, sigma: Optional[float] = None) -> np.ndarray:
        """The spectral density smoothed by a Gaussian of width ``sigma``
        on ``grid`` (Ghorbani, Krishnan & Xiao 2019, §2.2): sum_j w_j
        N(t; theta_j, sigma^2). Default sigma: 1% of the spread of the
        nodes (1 when they all coincide)."""
        t = np.asarray(grid, dtype=np.float64)[:, None]
        nodes = self.density_nodes[None, :]
        if sigma is None:
            spread = float(np.ptp(self.density_nodes)) if nodes.size else 0.0
            sigma = 0.01 * spread if spread > 0 else 1.0
        kernel = np.exp(-0.5 * ((t - nodes) / sigma) ** 2)
        kernel /= sigma * np.sqrt(2.0 * np.pi)
        return kernel @ self.density_weights


def _drive(session: Session, hvp: Optional[HessianVector],
           grad: Optional[Gradient]) -> pb.Summary:
    """Tells every trial of a curvature session until it ends."""
    trials = session.ask_all()
    while trials:
        for trial in trials:
            if trial.wants == Wants.HESSIAN_VECTOR:
                if hvp is None:
                    raise InvalidArgument(
                        "the session wants Hessian-vector products; pass "
                        "hvp(x, v)")
                answer = session.tell(
                    trial.trial_id, hessian_vector=np.asarray(
                        hvp(trial.x, trial.vector), dtype=np.float64))
            else:
                if grad is None:
                    raise InvalidArgument(
                        "the session wants gradients (source "
                        "gradient_difference); pass grad(x)")
                answer = session.tell(trial.trial_id, gradient=np.asarray(
                    grad(trial.x), dtype=np.float64))
        trials = answer.trials if answer.trials else session.ask_all()
    return session.summary.proto


def _result(session: Session, summary: pb.Summary,
            x: Optional[np.ndarray]) -> CurvatureResult:
    return CurvatureResult.from_proto(summary.curvature,
                                      session_id=session.session_id,
                                      message=summary.message, x=x)


def curvature(x: Any, hvp: Optional[HessianVector] = None,
              grad: Optional[Gradient] = None, *,
              options: Optional[Mapping[str, Any]] = None,
              client: Optional[Client] = None,
              address: Optional[str] = None,
              session_id: Optional[str] = None,
              keep: bool = False) -> CurvatureResult:
    """The spectrum estimate of H(x) from ``hvp(x, v)`` (H(x) v), or from
    ``grad(x)`` by central gradient differences when ``hvp`` is None.

    Raises:
      InvalidArgument: bad options (the message names the field and the
        range), or neither hvp nor grad.
    """
    if hvp is None and grad is None:
        raise InvalidArgument("pass hvp(x, v) or grad(x)")
    opts = dict(options or {})
    if hvp is None:
        opts.setdefault("source", "gradient_difference")
    own = client is None
    client = client or connect(address)
    try:
        with client.create_session(np.asarray(x, dtype=np.float64),
                                   "curvature", opts, session_id=session_id,
                                   keep=keep) as session:
            summary = _drive(session, hvp, grad)
            return _result(session, summary,
                           np.array(x, dtype=np.float64).ravel())
    finally:
        if own:
            client.close()


def diagnose(client: Client, session_id: str,
             hvp: Optional[HessianVector] = None,
             grad: Optional[Gradient] = None, *, point: str = "current",
             options: Optional[Mapping[str, Any]] = None,
             diagnosis_id: Optional[str] = None,
             keep: bool = True) -> CurvatureResult:
    """Diagnoses session ``session_id`` at its ``point`` ("current" or
    "best") through ``Diagnose`` and drives the new curvature session with
    ``hvp`` (or ``grad`` and source gradient_difference). The new session
    is labelled optd.diagnoses=<session_id> and kept unless ``keep`` is
    False. A sharded session is diagnosed on as many shards, on its
    replicas; the result's ``x`` is then read back from the diagnosis
    (``GetSession``).

    Raises:
      NotFound: no session ``session_id``.
      InvalidArgument: bad options (naming the field and the range).
    """
    if point not in ("current", "best"):
        raise InvalidArgument(
            f"point is {point!r}; use 'current' or 'best'")
    opts = dict(options or {})
    if hvp is None:
        if grad is None:
            raise InvalidArgument("pass hvp(x, v) or grad(x)")
        opts.setdefault("source", "gradient_difference")
    _, message = solver_options("curvature", opts)
    request = pb.DiagnoseRequest(
        session_id=session_id, curvature=message,
        point=(pb.DiagnoseRequest.POINT_BEST if point == "best"
               else pb.DiagnoseRequest.POINT_CURRENT),
        diagnosis_id=diagnosis_id or "",
        vector_encoding=VectorEncoding.F64)
    response = client._unary("Diagnose", request)
    x = np.array(decode(response.x), dtype=np.float64)
    if response.HasField("x"):
        dimension = x.size
    else:
        # A sharded source: the point stays on the slices, and
        # DiagnoseResponse.x is empty; the diagnosis has it as its x0.
        info = client.get_session(response.session_id, include_x=True)
        dimension = info.dimension
        x = info.best_x
    session = Session(client, response.session_id, dimension,
                      VectorEncoding.F64, response.trials, keep=keep,
                      base_points=response.base_points)
    with session:
        summary = _drive(session, hvp, grad)
        return _result(session, summary, x)
