"""Bounds on x in the forms numpy and scipy users write them -> ``Bounds``.

A session's box lower <= x <= upper (``optd.v1.Bounds``) can be given as

- ``(lower, upper)``: each side an array-like of n elements, a scalar for
  every coordinate, or None for no bound on that side;
- an object with ``.lb`` and ``.ub``, such as ``scipy.optimize.Bounds``;
- a sequence of n ``(lo, hi)`` pairs, as scipy's ``minimize(bounds=...)``,
  None in a pair meaning no bound.

-inf / +inf (or None) mean no bound on that side of that coordinate.

    >>> lower, upper = resolve_bounds(([0, -1, None], 5.0), 3)
    >>> lower, upper
    (array([ 0., -1., -inf]), array([5., 5., 5.]))
    >>> resolve_bounds([(0, 1), (None, 2)], 2, pairs_first=True)[0]
    array([  0., -inf])

For n = 2 a 2 x 2 nesting reads both ways: ``create_session`` takes it as
``(lower, upper)`` and ``minimize`` as scipy's pairs (``pairs_first``). Pass
a ``scipy.optimize.Bounds`` to say which without doubt.

NaN, lower_i > upper_i, a lower bound of +inf or an upper of -inf are
refused by the server with a message naming the index.
"""

from typing import Any, Optional, Tuple

import numpy as np

from ._proto import optimizer_pb2 as pb
from .errors import InvalidArgument
from .vectors import VectorEncoding, encode

__all__ = ["resolve_bounds", "bounds_message"]


def _side(value: Any, n: int, fill: float, what: str) -> np.ndarray:
    """One side of the box as n float64s (None -> fill)."""
    if value is None:
        return np.full(n, fill)
    items = [fill if v is None else v for v in np.asarray(
        value, dtype=object).ravel()]
    try:
        array = np.asarray(items, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"bounds: the {what} side {value!r} is not "
                              "numbers") from None
    if array.size == 1:  # a scalar bounds every coordinate
        return np.full(n, array[0])
    if array.size != n:
        raise InvalidArgument(
            f"bounds: the {what} side has {array.size} elements; x0 has {n} "
            "(or give n (lo, hi) pairs)")
    return array


def _is_pair(item: Any) -> bool:
    """A (lo, hi) of scalars or None."""
    try:
        return len(item) == 2 and all(v is None or np.ndim(v) == 0
                                      for v in item)
    except TypeError:
        return False


def resolve_bounds(bounds: Any, n: int, pairs_first: bool = False
                   ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``bounds`` in any of the module's forms as (lower, upper) float64
    arrays of n elements, or None for None.

    ``pairs_first`` settles the n = 2 case where a 2 x 2 nesting is both n
    pairs and (lower, upper): scipy's pairs when True.

    Raises:
      InvalidArgument: a shape that is none of the forms, or a side of
        another length than n.
    """
    if bounds is None:
        return None
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        return (_side(bounds.lb, n, -np.inf, "lower"),
                _side(bounds.ub, n, np.inf, "upper"))
    if isinstance(bounds, dict):
        unknown = set(bounds) - {"lower", "upper"}
        if unknown:
            raise InvalidArgument(f"bounds has keys {sorted(unknown)}; use "
                                  "'lower' and 'upper'")
        return (_side(bounds.get("lower"), n, -np.inf, "lower"),
                _side(bounds.get("upper"), n, np.inf, "upper"))
    try:
        items = list(bounds)
    except TypeError:
        raise InvalidArgument(
            f"bounds is {bounds!r}; use (lower, upper), a "
            "scipy.optimize.Bounds or a sequence of (lo, hi) pairs") from None
    as_pairs = len(items) == n and all(_is_pair(item) for item in items)
    as_sides = len(items) == 2 and all(
        item is None or np.size(np.asarray(item, dtype=object)) in (1, n)
        for item in items)
    if as_pairs and (pairs_first or not as_sides):
        return (_side([item[0] for item in items], n, -np.inf, "lower"),
                _side([item[1] for item in items], n, np.inf, "upper"))
    if len(items) == 2:  # (lower, upper); _side names a side that is off
        return (_side(items[0], n, -np.inf, "lower"),
                _side(items[1], n, np.inf, "upper"))
    raise InvalidArgument(
        f"bounds has {len(items)} entries for n = {n}; use (lower, upper) "
        "with sides of n elements (or scalars or None), a "
        "scipy.optimize.Bounds, or n (lo, hi) pairs")


def bounds_message(bounds: Any, n: int, pairs_first: bool = False
                   ) -> Optional[pb.Bounds]:
    """The ``optd.v1.Bounds`` for ``bounds`` (see :func:`resolve_bounds`),
    a side left unset where it bounds nothing; None for no bounds at all."""
    resolved = resolve_bounds(bounds, n, pairs_first)
    if resolved is None:
        return None
    lower, upper = resolved
    message = pb.Bounds()
    # Raw float64 carries +-inf (and NaN, for the server to refuse by index).
    if not np.all(lower == -np.inf):
        encode(lower, VectorEncoding.F64, message.lower)
    if not np.all(upper == np.inf):
        encode(upper, VectorEncoding.F64, message.upper)
    return message
