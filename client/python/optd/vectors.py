"""numpy arrays <-> ``optd.v1.Vector``, without per-element conversion.

Vectors travel as raw little-endian bytes (``Vector.f64`` or ``Vector.f32``):
encoding is one ``tobytes()`` of a contiguous array, decoding one
``np.frombuffer`` that shares the message's bytes (the result is read-only).
Packed doubles (``Vector.values``) are decoded too, for sessions created by
clients that asked for them.

    >>> v = encode(np.array([1.0, 2.0]), VectorEncoding.F64)
    >>> v.f64
    b'\\x00\\x00\\x00\\x00\\x00\\x00\\xf0?\\x00\\x00\\x00\\x00\\x00\\x00\\x00@'
    >>> decode(v)
    array([1., 2.])
"""

import enum
from typing import Any, Optional, Union

import numpy as np

from ._proto import optimizer_pb2 as pb

__all__ = ["VectorEncoding", "encode", "decode", "resolve_encoding",
           "dtype_of", "as_array"]


class VectorEncoding(enum.IntEnum):
    """How a vector travels (``optd.v1.VectorEncoding``)."""
    UNSPECIFIED = pb.VECTOR_ENCODING_UNSPECIFIED
    VALUES = pb.VECTOR_ENCODING_VALUES  # packed doubles
    F64 = pb.VECTOR_ENCODING_F64        # raw little-endian float64
    F32 = pb.VECTOR_ENCODING_F32        # raw little-endian float32


_F64 = np.dtype("<f8")
_F32 = np.dtype("<f4")

EncodingLike = Union[None, str, int, VectorEncoding, np.dtype, type]


def resolve_encoding(encoding: EncodingLike) -> VectorEncoding:
    """Accepts an encoding as enum, name or dtype.

    ``None`` -> UNSPECIFIED; ``"f64"``/``"float64"``/``np.float64`` -> F64;
    ``"f32"``/``"float32"``/``np.float32`` -> F32; ``"values"`` -> VALUES.

    >>> resolve_encoding("float32")
    <VectorEncoding.F32: 3>
    """
    if encoding is None:
        return VectorEncoding.UNSPECIFIED
    if isinstance(encoding, str):
        key = encoding.lower().replace("vector_encoding_", "")
        names = {"values": VectorEncoding.VALUES, "f64": VectorEncoding.F64,
                 "float64": VectorEncoding.F64, "f32": VectorEncoding.F32,
                 "float32": VectorEncoding.F32,
                 "unspecified": VectorEncoding.UNSPECIFIED}
        if key not in names:
            raise ValueError(f"unknown vector encoding {encoding!r}; use one "
                             f"of {sorted(names)}")
        return names[key]
    if isinstance(encoding, (int, VectorEncoding)) and not isinstance(
            encoding, bool):
        return VectorEncoding(int(encoding))
    dtype = np.dtype(encoding)
    if dtype == np.float64:
        return VectorEncoding.F64
    if dtype == np.float32:
        return VectorEncoding.F32
    raise ValueError(f"no vector encoding for dtype {dtype}; use float64 or "
                     "float32")


def dtype_of(encoding: VectorEncoding) -> np.dtype:
    """The numpy dtype of vectors decoded from ``encoding``."""
    return np.dtype(np.float32) if encoding == VectorEncoding.F32 else (
        np.dtype(np.float64))


def as_array(x: Any) -> Any:
    """A torch tensor (on any device, any dtype) as a numpy array; anything
    else unchanged, so that numpy arrays are not copied."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return x.detach().cpu().numpy()
    return x


def encode(x: Any, encoding: VectorEncoding = VectorEncoding.F64,
           out: Optional[pb.Vector] = None) -> pb.Vector:
    """``x`` (array-like of any shape, read in C order) as a ``Vector``.

    F64 and F32 cost one conversion to a contiguous little-endian array (none
    when ``x`` already is one) and one ``tobytes()``; VALUES converts element
    by element and is only for clients that need it. Writes into ``out`` when
    given (and returns it).
    """
    vector = pb.Vector() if out is None else out
    if encoding == VectorEncoding.F32:
        vector.f32 = np.ascontiguousarray(x, dtype=_F32).tobytes()
    elif encoding == VectorEncoding.VALUES:
        vector.values.extend(np.asarray(x, dtype=np.float64).ravel().tolist())
    else:
        vector.f64 = np.ascontiguousarray(x, dtype=_F64).tobytes()
    return vector


def decode(vector: pb.Vector) -> np.ndarray:
    """A ``Vector`` as a read-only 1-D numpy array (float64, or float32 for
    ``f32``) that shares the message's bytes; empty when nothing is set."""
    if vector.f64:
        array = np.frombuffer(vector.f64, dtype=_F64)
    elif vector.f32:
        array = np.frombuffer(vector.f32, dtype=_F32)
    else:
        array = np.array(vector.values, dtype=np.float64)
        array.flags.writeable = False
    # The native byte order, so that arithmetic needs no byte swap (and
    # nothing is copied on little-endian machines).
    return array.astype(array.dtype.newbyteorder("="), copy=False)
