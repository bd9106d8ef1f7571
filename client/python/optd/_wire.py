"""The unary Tell's bytes, written and read without a protobuf message.

A Tell of a 10^7-element float32 gradient carries 40 MB each way. Through
generated messages every megabyte is copied five times in Python (``tobytes``,
the field assignment, serialization; parsing, reading the field), each copy
costing as much as the network hop. Here the request is one ``b"".join`` of a
small header and the array's own buffer, and the trial points of the answer
are ``np.frombuffer`` views into the bytes gRPC received. The layout is
protobuf's wire format for ``optd.v1.TellRequest`` / ``TellResponse``
(https://protobuf.dev/programming-guides/encoding/); the client's tests
compare both ways with the generated classes.
"""

import datetime
import struct
from typing import Any, List, Optional, Tuple

import numpy as np

from ._proto import optimizer_pb2 as pb
from .vectors import VectorEncoding

_VARINT, _I64, _LEN = 0, 1, 2
_F64 = np.dtype("<f8")
_F32 = np.dtype("<f4")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _vector_parts(field: int, array: Any, encoding: VectorEncoding) -> list:
    """``Vector`` field `field` holding `array` as raw bytes: the header and
    the array's buffer (not copied when it already is contiguous and
    little-endian in the wanted dtype)."""
    dtype = _F32 if encoding == VectorEncoding.F32 else _F64
    data = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
    body = memoryview(data).cast("B")
    inner = _key(3 if dtype is _F32 else 2, _LEN) + _varint(body.nbytes)
    return [_key(field, _LEN), _varint(len(inner) + body.nbytes), inner, body]


def encode_tell(session_id: str, trial_id: int, value: Optional[float],
                failed: bool, stop: bool,
                vectors: List[Tuple[int, Any]],
                encoding: VectorEncoding, worker_id: str = "",
                note: str = "", weight: Optional[float] = None) -> bytes:
    """A serialized ``TellRequest``; `vectors` are (field number, array) for
    gradient (4), hessian (8) and hessian_vector (9)."""
    parts: list = []
    if session_id:
        sid = session_id.encode()
        parts += [_key(1, _LEN), _varint(len(sid)), sid]
    if trial_id:
        parts += [_key(2, _VARINT), _varint(trial_id)]
    if value is not None:
        parts += [_key(3, _I64), struct.pack("<d", value)]
    for field, array in vectors:
        parts += _vector_parts(field, array, encoding)
    if failed:
        parts += [_key(5, _VARINT), b"\x01"]
    if stop:
        parts += [_key(6, _VARINT), b"\x01"]
    for field, text in ((12, worker_id), (13, note)):
        if text:
            data = text.encode()
            parts += [_key(field, _LEN), _varint(len(data)), data]
    if weight is not None:
        parts += [_key(14, _I64), struct.pack("<d", weight)]
    return b"".join(parts)


def _read_varint(buf: memoryview, pos: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int):
    """(field, wire type, value or (offset, length)) of a message's fields."""
    pos = start
    while pos < end:
        key, pos = _read_varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos)
            yield field, wire_type, value
        elif wire_type == _I64:
            yield field, wire_type, (pos, 8)
            pos += 8
        elif wire_type == _LEN:
            length, pos = _read_varint(buf, pos)
            yield field, wire_type, (pos, length)
            pos += length
        elif wire_type == 5:  # I32
            yield field, wire_type, (pos, 4)
            pos += 4
        else:
            raise ValueError(f"unexpected wire type {wire_type} in a "
                             "TellResponse")


def _vector(raw: bytes, buf: memoryview, offset: int,
            length: int) -> np.ndarray:
    """A ``Vector`` message as a read-only view into `raw`."""
    array = np.empty(0, dtype=np.float64)
    for field, wire_type, where in _fields(buf, offset, offset + length):
        if wire_type != _LEN:
            continue
        start, size = where
        if field in (1, 2):  # packed doubles and raw float64: the same bytes
            array = np.frombuffer(raw, dtype=_F64, count=size // 8,
                                  offset=start)
        elif field == 3:
            array = np.frombuffer(raw, dtype=_F32, count=size // 4,
                                  offset=start)
    array.flags.writeable = False
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _timestamp(buf: memoryview, offset: int,
               length: int) -> Optional[datetime.datetime]:
    """A ``google.protobuf.Timestamp`` message; None when it is zero."""
    seconds = nanos = 0
    for field, wire_type, value in _fields(buf, offset, offset + length):
        if wire_type != _VARINT:
            continue
        if value >= 1 << 63:  # int64/int32 as varints: two's complement
            value -= 1 << 64
        if field == 1:
            seconds = value
        elif field == 2:
            nanos = value
    if seconds == 0 and nanos == 0:
        return None
    return (datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
            + datetime.timedelta(microseconds=nanos // 1000))


def _point_delta(buf: memoryview, offset: int,
                 length: int) -> Tuple[int, Optional[int], float]:
    """A ``PointDelta`` message: (base_trial_id, coordinate or None when
    unset, value)."""
    base = 0
    coordinate: Optional[int] = None
    value = 0.0
    for field, wire_type, where in _fields(buf, offset, offset + length):
        if field == 1 and wire_type == _VARINT:
            base = where
        elif field == 2 and wire_type == _VARINT:
            coordinate = where - (1 << 64) if where >= 1 << 63 else where
        elif field == 3 and wire_type == _I64:
            value = struct.unpack_from("<d", buf, where[0])[0]
    return base, coordinate, value


def decode_tell_answer(raw: bytes):
    """(trials, state, summary message or None, duplicate, base points) of a
    serialized ``TellResponse``. Each trial is (trial_id, x, wants, vector
    or None, batch_index, batch_size, lease expiry or None, delta or None),
    delta being (base_trial_id, coordinate or None, value) for a trial sent
    as a delta (``Trial.delta``; x is then empty); the base points are
    {trial_id: x}. x, vector and the base points are read-only views into
    `raw`."""
    buf = memoryview(raw)
    trials: list = []
    state = 0
    summary: Optional[pb.Summary] = None
    duplicate = False
    base_points: dict = {}
    for field, wire_type, where in _fields(buf, 0, len(raw)):
        if field == 1 and wire_type == _LEN:
            start, size = where
            trial_id = wants = batch_index = batch_size = 0
            x = np.empty(0, dtype=np.float64)
            vector = lease = delta = None
            for f, w, v in _fields(buf, start, start + size):
                if f == 1 and w == _VARINT:
                    trial_id = v
                elif f == 2 and w == _LEN:
                    x = _vector(raw, buf, *v)
                elif f == 3 and w == _VARINT:
                    wants = v
                elif f == 4 and w == _LEN:
                    vector = _vector(raw, buf, *v)
                elif f == 5 and w == _LEN:
                    lease = _timestamp(buf, *v)
                elif f == 7 and w == _VARINT:
                    batch_index = v
                elif f == 8 and w == _VARINT:
                    batch_size = v
                elif f == 9 and w == _LEN:
                    delta = _point_delta(buf, *v)
            trials.append((trial_id, x, wants, vector, batch_index,
                           batch_size, lease, delta))
        elif field == 2 and wire_type == _VARINT:
            state = where
        elif field == 3 and wire_type == _LEN:
            start, size = where
            summary = pb.Summary.FromString(bytes(buf[start:start + size]))
        elif field == 4 and wire_type == _VARINT:
            duplicate = bool(where)
        elif field == 5 and wire_type == _LEN:
            start, size = where
            point_id = 0
            point = np.empty(0, dtype=np.float64)
            for f, w, v in _fields(buf, start, start + size):
                if f == 1 and w == _VARINT:
                    point_id = v
                elif f == 2 and w == _LEN:
                    point = _vector(raw, buf, *v)
            base_points[point_id] = point
    return trials, state, summary, duplicate, base_points


def decode_tell_response(raw: bytes):
    """(trials, state, summary message or None, duplicate) of a serialized
    ``TellResponse``; each trial is (trial_id, x, wants, vector or None,
    batch_index, batch_size, lease expiry or None), x and vector being
    read-only views into `raw`. A trial sent as a delta has an empty x here:
    :func:`decode_tell_answer` has what builds it."""
    trials, state, summary, duplicate, _ = decode_tell_answer(raw)
    return [t[:7] for t in trials], state, summary, duplicate
