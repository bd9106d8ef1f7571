"""optd: a Python client for the optd optimization server.

optd runs numerical optimizers (L-BFGS, trust regions, Adam/AdamW and
torch.optim's other first-order methods) as a service: a session's
solver hands out trials (points to evaluate), the client tells the value and
gradient, and the solver moves on. This package wraps the gRPC API
(proto/optd/v1/optimizer.proto) with numpy vectors sent as raw bytes:

    >>> import optd
    >>> client = optd.connect("localhost:50051")
    >>> with client.create_session([-1.2, 1.0], "lbfgs") as session:
    ...     for trial in session.trials():          # the Optimize stream
    ...         trial.tell(rosen(trial.x), rosen_der(trial.x))
    ...     print(session.summary)
    lbfgs n=2: CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH after 36 ...

    >>> res = optd.minimize(fun_and_grad, x0, jac=True, method="L-BFGS-B")
    >>> res.x, res.nfev, res.message

    >>> res = optd.least_squares(residuals, x0, jac=jacobian)  # method='lm'
    >>> res.x, res.cost, res.nfev, res.njev

    >>> from optd.torch import RemoteOptimizer     # needs torch
    >>> opt = RemoteOptimizer(model.parameters(), "localhost:50051", lr=1e-3)

Errors are :class:`OptdError` subclasses named after gRPC codes
(``optd.InvalidArgument``, ``optd.NotFound``, ...) carrying ``.code`` and the
server's ``.message``.

The stubs in optd/_proto are generated: run client/python/build_stubs.py once.
"""

try:
    from ._proto import optimizer_pb2 as _optimizer_pb2  # noqa: F401
except ImportError as _e:  # pragma: no cover
    raise ImportError(
        "optd's gRPC stubs are missing: run "
        "'/usr/bin/python3 client/python/build_stubs.py' first") from _e

from .client import (DEFAULT_ADDRESS, DEFAULT_MAX_MESSAGE_BYTES, Client, connect,
                     tls_credentials)
from .errors import (Aborted, AlreadyExists, Cancelled, DataLoss,
                     DeadlineExceeded, FailedPrecondition, Internal,
                     InvalidArgument, NotFound, OptdError, OutOfRange,
                     PermissionDenied, ResourceExhausted, Unauthenticated,
                     Unavailable, Unimplemented, Unknown)
from .bounds import resolve_bounds
from .messages import (GradientCheck, GradientSource, HistoryEntry,
                       Iterate, SessionInfo, SessionState, Summary, TerminationReason,
                       TrialRecord, Wants)
from .minimize import OptimizeResult, minimize
from .least_squares import least_squares
from .curvature import CurvatureResult, curvature, diagnose
from .session import Answer, Session, Trial
from .vectors import VectorEncoding

__version__ = "0.1.0"

__all__ = [
    "connect", "tls_credentials", "Client", "Session", "Trial", "Answer", "Summary",
    "SessionInfo", "HistoryEntry", "TrialRecord", "GradientCheck", "Iterate",
    "SessionState", "TerminationReason", "GradientSource", "Wants",
    "VectorEncoding", "minimize", "least_squares", "OptimizeResult", "resolve_bounds",
    "curvature", "diagnose", "CurvatureResult",
    "DEFAULT_ADDRESS", "DEFAULT_MAX_MESSAGE_BYTES",
    "OptdError", "Aborted", "AlreadyExists", "Cancelled", "DataLoss",
    "DeadlineExceeded", "FailedPrecondition", "Internal", "InvalidArgument",
    "NotFound", "OutOfRange", "PermissionDenied", "ResourceExhausted",
    "Unauthenticated", "Unavailable", "Unimplemented", "Unknown",
]
