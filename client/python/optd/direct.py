"""The direct data path of a sharded session (docs/sharding.md).

A session created with ``shards=K`` keeps its state on K replicas. Through the
direct path this client sends each replica its slice of a gradient
(``PutSlice``) and reads its slice of the next point (``GetSlice``), all
replicas at once, instead of passing whole vectors through the session's
home replica; the tell to the home carries only the value.
:class:`~optd.Session` uses it by itself for sharded sessions.
"""

from typing import Any, Callable, Dict, List, Optional, Tuple

import grpc
import numpy as np

from ._proto import optimizer_pb2 as pb
from ._proto import optimizer_pb2_grpc as pb_grpc
from .errors import FailedPrecondition, InvalidArgument, error_from_rpc
from .vectors import VectorEncoding, decode

__all__ = ["DirectPath"]

#: PutSlice/GetSlice fields.
GRADIENT = pb.SLICE_FIELD_GRADIENT
HESSIAN_VECTOR = pb.SLICE_FIELD_HESSIAN_VECTOR
POINT = pb.SLICE_FIELD_POINT
VECTOR = pb.SLICE_FIELD_VECTOR


class DirectPath:
    """The shards of one session and a stub on each replica holding one.

    ``dial(address)`` opens a channel with the client's settings.
    """

    def __init__(self, session: pb.Session,
                 dial: Callable[[str], grpc.Channel],
                 timeout: Optional[float],
                 metadata: Tuple[Tuple[str, str], ...]) -> None:
        if not session.shard_map:
            raise FailedPrecondition(
                f"session \"{session.session_id}\" is not sharded; its "
                "vectors go through its replica")
        self.dimension = session.dimension
        self._timeout = timeout
        self._metadata = metadata or None
        stubs: Dict[str, Any] = {}
        # (shard, begin, end, stub) of every shard holding elements.
        self.routes: List[Tuple[int, int, int, Any]] = []
        for info in session.shard_map:
            if info.address not in stubs:
                stubs[info.address] = pb_grpc.OptimizerStub(
                    dial(info.address))
            if info.end > info.begin:
                self.routes.append((info.shard, info.begin, info.end,
                                    stubs[info.address]))

    def _gather(self, futures: List[Any]) -> List[Any]:
        results = []
        for shard, future in futures:
            try:
                results.append(future.result())
            except grpc.RpcError as e:
                error = error_from_rpc(e)
                raise type(error)(f"shard {shard}: {error}") from None
        return results

    def put(self, session_id: str, trial_id: int, field: int,
            values: Any, float32: bool) -> None:
        """Sends each replica its slice of ``values`` (n elements) for the
        trial, as raw float64 (or float32) bytes, all at once."""
        array = np.ascontiguousarray(
            np.asarray(values).reshape(-1),
            dtype=np.float32 if float32 else np.float64)
        if array.size != self.dimension:
            raise InvalidArgument(
                f"the vector has {array.size} elements; the session has "
                f"dimension {self.dimension}")
        futures = []
        for shard, begin, end, stub in self.routes:
            request = pb.PutSliceRequest(session_id=session_id,
                                         trial_id=trial_id, shard=shard,
                                         field=field)
            raw = array[begin:end].tobytes()
            if float32:
                request.values.f32 = raw
            else:
                request.values.f64 = raw
            futures.append((shard, stub.PutSlice.future(
                request, timeout=self._timeout, metadata=self._metadata)))
        self._gather(futures)

    def get(self, session_id: str, trial_id: int, field: int,
            float32: bool) -> np.ndarray:
        """The trial's point (or vector) assembled from every replica."""
        encoding = VectorEncoding.F32 if float32 else VectorEncoding.F64
        futures = [(shard, stub.GetSlice.future(
            pb.GetSliceRequest(session_id=session_id, trial_id=trial_id,
                               shard=shard, field=field, encoding=encoding),
            timeout=self._timeout, metadata=self._metadata))
                   for shard, _, _, stub in self.routes]
        out = np.zeros(self.dimension,
                       dtype=np.float32 if float32 else np.float64)
        for (shard, begin, end, _), response in zip(self.routes,
                                                    self._gather(futures)):
            part = decode(response.values)
            if response.begin != begin or part.size != end - begin:
                raise FailedPrecondition(
                    f"shard {shard}: the replica answered elements "
                    f"[{response.begin}, {response.begin + part.size}) for "
                    f"[{begin}, {end})")
            out[begin:end] = part
        out.flags.writeable = False
        return out
