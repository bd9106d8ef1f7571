"""One ``Optimize`` stream: a request, then exactly one response, in turn.

The server answers each ``OptimizeRequest`` with one ``OptimizeResponse``
(optimizer.proto), so the stream is driven as a sequence of exchanges. gRPC's
synchronous API reads requests from an iterator on its own thread; a queue
feeds it, and a sentinel half-closes the stream.

Thread-safety: not thread-safe; one thread drives a stream.
"""

import queue
from typing import Optional, Sequence, Tuple

import grpc

from ._proto import optimizer_pb2 as pb
from .errors import Unavailable, error_for_code, error_from_rpc

__all__ = ["OptimizeStream"]

_CLOSE = object()  # half-closes the request side


class OptimizeStream:
    """An open ``Optimize`` call.

    REQUIRES: ``first`` sets ``create`` or ``attach_session_id``.
    """

    def __init__(self, stub, first: pb.OptimizeRequest,
                 timeout: Optional[float] = None,
                 metadata: Sequence[Tuple[str, str]] = ()) -> None:
        self._requests: "queue.SimpleQueue" = queue.SimpleQueue()
        self._closed = False
        self._call = stub.Optimize(iter(self._requests.get, _CLOSE),
                                   timeout=timeout, metadata=metadata or None)
        try:
            self.first_response = self.exchange(first)
        except BaseException:
            self.close()
            raise
        self.session_id = self.first_response.session_id

    def exchange(self, request: pb.OptimizeRequest) -> pb.OptimizeResponse:
        """Sends ``request`` and returns its response. A refusal carried in
        ``error_code`` is raised as its OptdError (the stream stays open);
        a broken stream raises its status and closes."""
        if self._closed:
            raise Unavailable("the Optimize stream is closed")
        self._requests.put(request)
        try:
            response = next(self._call)
        except StopIteration:
            self._closed = True
            raise Unavailable("the server ended the Optimize stream") from None
        except grpc.RpcError as e:
            self._closed = True
            raise error_from_rpc(e) from None
        if response.error_code != 0:
            raise error_for_code(response.error_code, response.error_message)
        return response

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Half-closes the stream and waits for the server to finish it."""
        if self._closed:
            return
        self._closed = True
        self._requests.put(_CLOSE)
        try:
            for _ in self._call:  # the server answers nothing more
                pass
        except grpc.RpcError:
            pass  # already broken: nothing left to release

    def cancel(self) -> None:
        """Abandons the stream at once (the session is unchanged)."""
        if not self._closed:
            self._closed = True
            self._requests.put(_CLOSE)
            self._call.cancel()

