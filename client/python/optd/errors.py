"""Exceptions of the optd client: one class per gRPC status code.

Every call that the server refuses raises an :class:`OptdError` subclass that
carries the gRPC status code (``.code``, a :class:`grpc.StatusCode`) and the
server's message unchanged (``.message``), which names the field, the value
and the limit (docs/api.md "Errors")::

    >>> try:
    ...     session.tell(trial.trial_id, value=1.0, gradient=np.zeros(99))
    ... except optd.InvalidArgument as e:
    ...     print(e.code, e.message)
    StatusCode.INVALID_ARGUMENT gradient has 99 elements; session "rosen-1" \
has dimension 100

Some classes also derive from the matching built-in exception, so generic
handlers work: ``InvalidArgument`` is a ``ValueError``, ``NotFound`` a
``LookupError``, ``Unavailable`` a ``ConnectionError`` and
``DeadlineExceeded`` a ``TimeoutError``.
"""

from typing import Dict, Optional, Type

import grpc

__all__ = [
    "OptdError", "Cancelled", "Unknown", "InvalidArgument", "DeadlineExceeded",
    "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
    "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal",
    "Unavailable", "DataLoss", "Unauthenticated", "error_for_code",
    "error_from_rpc",
]


class OptdError(Exception):
    """A request the server (or the client, before sending) refused.

    Attributes:
      code: the gRPC status code, e.g. ``grpc.StatusCode.NOT_FOUND``.
      message: the server's message, unchanged.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str,
                 code: Optional[grpc.StatusCode] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __reduce__(self):  # keeps code and message through pickling
        return (type(self), (self.message, self.code))


class Cancelled(OptdError):
    code = grpc.StatusCode.CANCELLED


class Unknown(OptdError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(OptdError, ValueError):
    """Bad input: options, lengths, NaN/Inf gradients, ids. Nothing changed."""
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(OptdError, TimeoutError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(OptdError, LookupError):
    """Unknown or deleted session."""
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(OptdError):
    """The requested session id is in use."""
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(OptdError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(OptdError):
    """A server limit (sessions, dimension, message size) was reached."""
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(OptdError):
    """A tell of a trial that is not outstanding, or of a finished session."""
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(OptdError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(OptdError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(OptdError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(OptdError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(OptdError, ConnectionError):
    """The server cannot be reached or is shutting down; retrying is safe."""
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(OptdError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(OptdError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: Dict[grpc.StatusCode, Type[OptdError]] = {
    cls.code: cls
    for cls in (Cancelled, Unknown, InvalidArgument, DeadlineExceeded,
                NotFound, AlreadyExists, PermissionDenied, ResourceExhausted,
                FailedPrecondition, Aborted, OutOfRange, Unimplemented,
                Internal, Unavailable, DataLoss, Unauthenticated)
}
# google.rpc.Code numbers (OptimizeResponse.error_code) to grpc.StatusCode.
_BY_NUMBER: Dict[int, grpc.StatusCode] = {
    code.value[0]: code for code in grpc.StatusCode
}


def error_for_code(code, message: str) -> OptdError:
    """The exception for ``code``: a ``grpc.StatusCode`` or its number.

    >>> error_for_code(5, 'session "x" not found')
    NotFound('session "x" not found')
    """
    if not isinstance(code, grpc.StatusCode):
        code = _BY_NUMBER.get(int(code), grpc.StatusCode.UNKNOWN)
    return _BY_CODE.get(code, OptdError)(message, code)


def error_from_rpc(error: grpc.RpcError) -> OptdError:
    """Turns a failed gRPC call into the matching :class:`OptdError`."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return error_for_code(code or grpc.StatusCode.UNKNOWN, details or "")
