"""The gRPC connection that a Client and its Sessions share.

A :class:`Transport` owns what every call to one optd server needs: the
channel and its stubs, the metadata sent with each call (the bearer token),
the deadline of unary calls, the channels to other replicas (a sharded
session's direct path), and the one place where a failed gRPC call becomes
an :class:`optd.OptdError` (optd/errors.py). :class:`~optd.Client` makes
one; each :class:`~optd.Session` calls through its client's, so that neither
reaches into the other. No call is retried here: a refused or broken call
raises at once (the ``Unavailable`` it raises is safe to retry).

Thread-safety: the calls are thread-safe, as the gRPC channel is; ``dial``
takes no lock (two threads opening the same new replica may each open it).
"""

from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import grpc

from ._proto import health_pb2_grpc
from ._proto import optimizer_pb2 as pb
from ._proto import optimizer_pb2_grpc as pb_grpc
from .errors import error_from_rpc
from .stream import OptimizeStream

__all__ = ["Transport", "channel_factory", "DEFAULT_MAX_MESSAGE_BYTES"]

#: 1 GiB + 1 MiB: a 1 GiB vector with room for the rest of its message
#: (gRPC's own 4 MiB default stops a gradient at ~500,000 doubles).
DEFAULT_MAX_MESSAGE_BYTES = (1 << 30) + (1 << 20)

_DEFAULT_OPTIONS = (
    ("grpc.max_send_message_length", DEFAULT_MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES))


def channel_factory(credentials: Optional[grpc.ChannelCredentials],
                    options: Sequence[Tuple[str, Any]]
                    ) -> Callable[[str], grpc.Channel]:
    """Opens channels to any address with the same ``credentials`` (None:
    plaintext) and channel ``options``."""
    options = list(options)

    def open_channel(address: str) -> grpc.Channel:
        if credentials is None:
            return grpc.insecure_channel(address, options=options)
        return grpc.secure_channel(address, credentials, options=options)

    return open_channel


class Transport:
    """Calls on one optd server's channel, with the client's metadata and
    deadline.

    Attributes:
      channel: the gRPC channel.
      stub: the generated ``optd.v1.Optimizer`` stub on it.
      health_stub: the ``grpc.health.v1.Health`` stub on it.
      timeout: deadline in seconds of each unary call (None: none).
      metadata: (key, value) pairs sent with every call.
      open_channel: opens a channel to another replica with the settings of
        ``channel`` (connect() sets it; default plaintext, large messages).
    """

    def __init__(self, channel: grpc.Channel,
                 timeout: Optional[float] = None,
                 metadata: Sequence[Tuple[str, str]] = ()) -> None:
        self.channel = channel
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self.stub = pb_grpc.OptimizerStub(channel)
        self.health_stub = health_pb2_grpc.HealthStub(channel)
        # Tell with bytes in and out (optd/_wire.py writes and reads them).
        self._raw_tell = channel.unary_unary("/optd.v1.Optimizer/Tell")
        self.open_channel: Callable[[str], grpc.Channel] = channel_factory(
            None, _DEFAULT_OPTIONS)
        # Channels to other replicas, one per address, closed with this.
        self._dialed: Dict[str, grpc.Channel] = {}

    def unary(self, method: str, request: Any, stub: Any = None) -> Any:
        """Calls ``method`` of ``stub`` (default the Optimizer stub) with the
        deadline and metadata; a failed call raises its OptdError."""
        try:
            return getattr(stub or self.stub, method)(
                request, timeout=self.timeout, metadata=self.metadata or None)
        except grpc.RpcError as e:
            raise error_from_rpc(e) from None

    def tell_bytes(self, request: bytes) -> bytes:
        """The unary Tell on a serialized request; the serialized answer."""
        try:
            return self._raw_tell(request, timeout=self.timeout,
                                  metadata=self.metadata or None)
        except grpc.RpcError as e:
            raise error_from_rpc(e) from None

    def open_stream(self, first: pb.OptimizeRequest) -> OptimizeStream:
        """An ``Optimize`` stream opened with ``first`` (no deadline: an
        optimization may run for days)."""
        return OptimizeStream(self.stub, first, metadata=self.metadata)

    def dial(self, address: str) -> grpc.Channel:
        """The channel to replica ``address`` (opened once)."""
        if address not in self._dialed:
            self._dialed[address] = self.open_channel(address)
        return self._dialed[address]

    def close(self) -> None:
        """Closes the replicas' channels and then the channel."""
        for channel in self._dialed.values():
            channel.close()
        self._dialed.clear()
        self.channel.close()
