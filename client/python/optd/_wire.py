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

The field numbers are read from the generated descriptors at import, each
checked to have the type this layout assumes, so that a changed
optimizer.proto (or vector.proto, trials.proto, which it imports) fails the
import (regenerate the stubs, then fix this module) instead of writing or
reading the wrong fields.
"""

import datetime
import struct
from typing import Any, List, Optional, Sequence, Tuple

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
import numpy as np

from ._proto import optimizer_pb2 as pb
from .vectors import VectorEncoding

__all__ = ["GRADIENT", "HESSIAN", "HESSIAN_VECTOR", "encode_tell",
           "decode_tell_answer", "decode_tell_response"]

_VARINT, _I64, _LEN = 0, 1, 2
_F64 = np.dtype("<f8")
_F32 = np.dtype("<f4")

_BOOL, _ENUM = FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_ENUM
_INT32, _INT64 = FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64
_UINT64, _DOUBLE = FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_DOUBLE
_STRING, _BYTES = FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
# The wire type of each field type this module reads or writes.
_WIRE_TYPES = {_BOOL: _VARINT, _ENUM: _VARINT, _INT32: _VARINT,
               _INT64: _VARINT, _UINT64: _VARINT, _DOUBLE: _I64,
               _STRING: _LEN, _BYTES: _LEN, _MESSAGE: _LEN}
_TYPE_NAMES = {_BOOL: "bool", _ENUM: "enum", _INT32: "int32",
               _INT64: "int64", _UINT64: "uint64", _DOUBLE: "double",
               _STRING: "string", _BYTES: "bytes", _MESSAGE: "message"}


def _field(message: Any, name: str, field_type: int, of: Any = None,
           repeated: bool = False) -> FieldDescriptor:
    """Field `name` of the generated class `message`, checked to be what
    the layout here assumes: of `field_type` (message `of` when given),
    repeated or not.

    Raises:
      ImportError: the field is missing or is not that.
    """
    descriptor = message.DESCRIPTOR
    field = descriptor.fields_by_name.get(name)
    if field is None:
        raise ImportError(
            f"optd/_wire.py: {descriptor.full_name} has no field {name!r} in "
            "the generated stubs; regenerate them (build_stubs.py) or update "
            "the wire layout here to optimizer.proto")
    is_repeated = field.label == FieldDescriptor.LABEL_REPEATED
    if (field.type != field_type or is_repeated != repeated
            or (of is not None and field.message_type.full_name
                != of.DESCRIPTOR.full_name)):
        wanted = ("repeated " if repeated else "") + (
            of.DESCRIPTOR.full_name if of is not None
            else _TYPE_NAMES[field_type])
        found = ("repeated " if is_repeated else "") + (
            field.message_type.full_name if field.type == _MESSAGE
            else _TYPE_NAMES.get(field.type, f"type {field.type}"))
        raise ImportError(
            f"optd/_wire.py: {descriptor.full_name}.{name} (field "
            f"{field.number}) is {found} in the generated stubs, not the "
            f"{wanted} that the wire layout here reads and writes; update "
            "it to optimizer.proto")
    return field


def _number(message: Any, name: str, field_type: int, of: Any = None) -> int:
    """The number of field `name` of `message` (checked as by _field)."""
    return _field(message, name, field_type, of).number


def _tag(message: Any, name: str, field_type: int, of: Any = None,
         repeated: bool = False) -> int:
    """The tag (number << 3 | wire type) that field `name` of `message`
    carries on the wire (checked as by _field). The repeated fields here
    are messages or packed doubles: length-delimited either way."""
    field = _field(message, name, field_type, of, repeated)
    return (field.number << 3) | (_LEN if repeated else
                                  _WIRE_TYPES[field_type])


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


# TellRequest's vector fields, the numbers encode_tell takes.
GRADIENT = _number(pb.TellRequest, "gradient", _MESSAGE, pb.Vector)
HESSIAN = _number(pb.TellRequest, "hessian", _MESSAGE, pb.Vector)
HESSIAN_VECTOR = _number(pb.TellRequest, "hessian_vector", _MESSAGE,
                         pb.Vector)
# Least squares: the residuals and the row-major m x n Jacobian.
RESIDUALS = _number(pb.TellRequest, "residuals", _MESSAGE, pb.Vector)
JACOBIAN = _number(pb.TellRequest, "jacobian", _MESSAGE, pb.Vector)
# Matrix-free least squares (tr_solver='lsmr'): J(x) v and J(x)^T u.
JACOBIAN_VECTOR = _number(pb.TellRequest, "jacobian_vector", _MESSAGE,
                          pb.Vector)
JACOBIAN_TRANSPOSE_VECTOR = _number(pb.TellRequest,
                                    "jacobian_transpose_vector", _MESSAGE,
                                    pb.Vector)

# Written: TellRequest's keys, as bytes.
_SESSION_ID_KEY = _varint(_tag(pb.TellRequest, "session_id", _STRING))
_TRIAL_ID_KEY = _varint(_tag(pb.TellRequest, "trial_id", _UINT64))
_VALUE_KEY = _varint(_tag(pb.TellRequest, "value", _DOUBLE))
_FAILED_KEY = _varint(_tag(pb.TellRequest, "failed", _BOOL))
_STOP_KEY = _varint(_tag(pb.TellRequest, "stop", _BOOL))
_WORKER_ID_KEY = _varint(_tag(pb.TellRequest, "worker_id", _STRING))
_NOTE_KEY = _varint(_tag(pb.TellRequest, "note", _STRING))
_WEIGHT_KEY = _varint(_tag(pb.TellRequest, "weight", _DOUBLE))
_REPORT_ITERATE_KEY = _varint(_tag(pb.TellRequest, "report_iterate", _BOOL))
_GROUP_LR_KEY = _varint(_tag(pb.TellRequest, "group_lr", _DOUBLE,
                             repeated=True))
_VECTOR_KEYS = {field: _key(field, _LEN)
                for field in (GRADIENT, HESSIAN, HESSIAN_VECTOR, RESIDUALS,
                              JACOBIAN, JACOBIAN_VECTOR,
                              JACOBIAN_TRANSPOSE_VECTOR)}

# Read (and, for Vector, written): the tags of TellResponse and what it
# holds, as integers.
_VECTOR_VALUES = _tag(pb.Vector, "values", _DOUBLE, repeated=True)
_VECTOR_F64 = _tag(pb.Vector, "f64", _BYTES)
_VECTOR_F32 = _tag(pb.Vector, "f32", _BYTES)
_VECTOR_F64_KEY, _VECTOR_F32_KEY = _varint(_VECTOR_F64), _varint(_VECTOR_F32)
_RESPONSE_TRIAL = _tag(pb.TellResponse, "trials", _MESSAGE, pb.Trial,
                       repeated=True)
_RESPONSE_STATE = _tag(pb.TellResponse, "state", _ENUM)
_RESPONSE_SUMMARY = _tag(pb.TellResponse, "summary", _MESSAGE, pb.Summary)
_RESPONSE_DUPLICATE = _tag(pb.TellResponse, "duplicate", _BOOL)
_RESPONSE_ITERATE = _tag(pb.TellResponse, "iterate", _MESSAGE, pb.Iterate)
_RESPONSE_BASE_POINT = _tag(pb.TellResponse, "base_points", _MESSAGE,
                            pb.BasePoint, repeated=True)
_TRIAL_ID = _tag(pb.Trial, "trial_id", _UINT64)
_TRIAL_X = _tag(pb.Trial, "x", _MESSAGE, pb.Vector)
_TRIAL_WANTS = _tag(pb.Trial, "wants", _ENUM)
_TRIAL_VECTOR = _tag(pb.Trial, "vector", _MESSAGE, pb.Vector)
_TRIAL_LEASE = _tag(pb.Trial, "lease_expire_time", _MESSAGE,
                    timestamp_pb2.Timestamp)
_TRIAL_BATCH_INDEX = _tag(pb.Trial, "batch_index", _INT32)
_TRIAL_BATCH_SIZE = _tag(pb.Trial, "batch_size", _INT32)
_TRIAL_DELTA = _tag(pb.Trial, "delta", _MESSAGE, pb.PointDelta)
_DELTA_BASE = _tag(pb.PointDelta, "base_trial_id", _UINT64)
_DELTA_COORDINATE = _tag(pb.PointDelta, "coordinate", _INT64)
_DELTA_VALUE = _tag(pb.PointDelta, "value", _DOUBLE)
_BASE_POINT_ID = _tag(pb.BasePoint, "trial_id", _UINT64)
_BASE_POINT_X = _tag(pb.BasePoint, "x", _MESSAGE, pb.Vector)
_SECONDS = _tag(timestamp_pb2.Timestamp, "seconds", _INT64)
_NANOS = _tag(timestamp_pb2.Timestamp, "nanos", _INT32)


def _vector_parts(field: int, array: Any, encoding: VectorEncoding) -> list:
    """``Vector`` field `field` holding `array` as raw bytes: the header and
    the array's buffer (not copied when it already is contiguous and
    little-endian in the wanted dtype)."""
    dtype = _F32 if encoding == VectorEncoding.F32 else _F64
    data = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
    body = memoryview(data).cast("B")
    inner = (_VECTOR_F32_KEY if dtype is _F32 else _VECTOR_F64_KEY) + (
        _varint(body.nbytes))
    return [_VECTOR_KEYS.get(field) or _key(field, _LEN),
            _varint(len(inner) + body.nbytes), inner, body]


def encode_tell(session_id: str, trial_id: int, value: Optional[float],
                failed: bool, stop: bool,
                vectors: List[Tuple[int, Any]],
                encoding: VectorEncoding, worker_id: str = "",
                note: str = "", weight: Optional[float] = None,
                report_iterate: bool = False,
                group_lr: Optional[Sequence[float]] = None) -> bytes:
    """A serialized ``TellRequest``; `vectors` are (field number, array) for
    GRADIENT, HESSIAN, HESSIAN_VECTOR, RESIDUALS, JACOBIAN, JACOBIAN_VECTOR
    and JACOBIAN_TRANSPOSE_VECTOR (the numbers above, TellRequest's). A Jacobian goes in C order: row-major."""
    parts: list = []
    if session_id:
        sid = session_id.encode()
        parts += [_SESSION_ID_KEY, _varint(len(sid)), sid]
    if trial_id:
        parts += [_TRIAL_ID_KEY, _varint(trial_id)]
    if value is not None:
        parts += [_VALUE_KEY, struct.pack("<d", value)]
    for field, array in vectors:
        parts += _vector_parts(field, array, encoding)
    if failed:
        parts += [_FAILED_KEY, b"\x01"]
    if stop:
        parts += [_STOP_KEY, b"\x01"]
    for key, text in ((_WORKER_ID_KEY, worker_id), (_NOTE_KEY, note)):
        if text:
            data = text.encode()
            parts += [key, _varint(len(data)), data]
    if weight is not None:
        parts += [_WEIGHT_KEY, struct.pack("<d", weight)]
    if report_iterate:
        parts += [_REPORT_ITERATE_KEY, b"\x01"]
    if group_lr:
        packed = struct.pack(f"<{len(group_lr)}d", *group_lr)
        parts += [_GROUP_LR_KEY, _varint(len(packed)), packed]
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
    """(tag, value or (offset, length)) of a message's fields, the tag
    being number << 3 | wire type as _tag gives it."""
    pos = start
    while pos < end:
        tag, pos = _read_varint(buf, pos)
        wire_type = tag & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(buf, pos)
            yield tag, value
        elif wire_type == _I64:
            yield tag, (pos, 8)
            pos += 8
        elif wire_type == _LEN:
            length, pos = _read_varint(buf, pos)
            yield tag, (pos, length)
            pos += length
        elif wire_type == 5:  # I32
            yield tag, (pos, 4)
            pos += 4
        else:
            raise ValueError(f"unexpected wire type {wire_type} in a "
                             "TellResponse")


def _signed(value: int) -> int:
    """An int64/int32 read as a varint: two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _vector(raw: bytes, buf: memoryview, offset: int,
            length: int) -> np.ndarray:
    """A ``Vector`` message as a read-only view into `raw`."""
    array = np.empty(0, dtype=np.float64)
    for tag, where in _fields(buf, offset, offset + length):
        # Packed doubles and raw float64: the same bytes.
        if tag == _VECTOR_F64 or tag == _VECTOR_VALUES:
            start, size = where
            array = np.frombuffer(raw, dtype=_F64, count=size // 8,
                                  offset=start)
        elif tag == _VECTOR_F32:
            start, size = where
            array = np.frombuffer(raw, dtype=_F32, count=size // 4,
                                  offset=start)
    array.flags.writeable = False
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _timestamp(buf: memoryview, offset: int,
               length: int) -> Optional[datetime.datetime]:
    """A ``google.protobuf.Timestamp`` message; None when it is zero."""
    seconds = nanos = 0
    for tag, value in _fields(buf, offset, offset + length):
        if tag == _SECONDS:
            seconds = _signed(value)
        elif tag == _NANOS:
            nanos = _signed(value)
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
    for tag, where in _fields(buf, offset, offset + length):
        if tag == _DELTA_BASE:
            base = where
        elif tag == _DELTA_COORDINATE:
            coordinate = _signed(where)
        elif tag == _DELTA_VALUE:
            value = struct.unpack_from("<d", buf, where[0])[0]
    return base, coordinate, value


def decode_tell_answer(raw: bytes):
    """(trials, state, summary message or None, duplicate, base points,
    iterate message or None) of a
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
    iterate: Optional[pb.Iterate] = None
    for tag, where in _fields(buf, 0, len(raw)):
        if tag == _RESPONSE_TRIAL:
            start, size = where
            trial_id = wants = batch_index = batch_size = 0
            x = np.empty(0, dtype=np.float64)
            vector = lease = delta = None
            for t, v in _fields(buf, start, start + size):
                if t == _TRIAL_ID:
                    trial_id = v
                elif t == _TRIAL_X:
                    x = _vector(raw, buf, *v)
                elif t == _TRIAL_WANTS:
                    wants = v
                elif t == _TRIAL_VECTOR:
                    vector = _vector(raw, buf, *v)
                elif t == _TRIAL_LEASE:
                    lease = _timestamp(buf, *v)
                elif t == _TRIAL_BATCH_INDEX:
                    batch_index = v
                elif t == _TRIAL_BATCH_SIZE:
                    batch_size = v
                elif t == _TRIAL_DELTA:
                    delta = _point_delta(buf, *v)
            trials.append((trial_id, x, wants, vector, batch_index,
                           batch_size, lease, delta))
        elif tag == _RESPONSE_STATE:
            state = where
        elif tag == _RESPONSE_SUMMARY:
            start, size = where
            summary = pb.Summary.FromString(bytes(buf[start:start + size]))
        elif tag == _RESPONSE_DUPLICATE:
            duplicate = bool(where)
        elif tag == _RESPONSE_ITERATE:
            start, size = where
            iterate = pb.Iterate.FromString(bytes(buf[start:start + size]))
        elif tag == _RESPONSE_BASE_POINT:
            start, size = where
            point_id = 0
            point = np.empty(0, dtype=np.float64)
            for t, v in _fields(buf, start, start + size):
                if t == _BASE_POINT_ID:
                    point_id = v
                elif t == _BASE_POINT_X:
                    point = _vector(raw, buf, *v)
            base_points[point_id] = point
    return trials, state, summary, duplicate, base_points, iterate


def decode_tell_response(raw: bytes):
    """(trials, state, summary message or None, duplicate) of a serialized
    ``TellResponse``; each trial is (trial_id, x, wants, vector or None,
    batch_index, batch_size, lease expiry or None), x and vector being
    read-only views into `raw`. A trial sent as a delta has an empty x here:
    :func:`decode_tell_answer` has what builds it."""
    trials, state, summary, duplicate, _, _ = decode_tell_answer(raw)
    return [t[:7] for t in trials], state, summary, duplicate
