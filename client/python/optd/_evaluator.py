"""The adapter from a scipy-style objective to a trial's tell.

:class:`Evaluator` calls ``fun`` (and ``jac``, ``hess``, ``hessp``) for
what a trial wants and returns the keyword arguments of its tell; a value
or gradient that is not finite becomes a failed evaluation. ``minimize``
(optd/minimize.py) evaluates with it and reads the gradient it remembers
at the final point; ``Session.run`` and ``Session.work`` use it too.

    >>> evaluate = Evaluator(lambda x: (rosen(x), rosen_der(x)), jac=True)
    >>> trial.tell(**evaluate(trial))
"""

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import numpy as np

from .errors import InvalidArgument
from .messages import Wants
from .vectors import as_array

if TYPE_CHECKING:  # pragma: no cover
    from .session import Trial

__all__ = ["Evaluator", "Objective"]

Objective = Callable[..., Any]


class Evaluator:
    """Calls a scipy-style objective for a trial and returns the tell's
    keyword arguments (value, gradient, failed, hessian, hessian_vector).

    ``jac`` True: fun returns (f, g); a callable: jac(x) is the gradient;
    None or False: fun returns f only, for sessions whose trials want only
    values (gradient_source="finite_difference")."""

    def __init__(self, fun: Objective, jac: Any = True, hess: Any = None,
                 hessp: Any = None, args: Sequence[Any] = ()) -> None:
        if not (jac is True or callable(jac) or jac is None or jac is False):
            raise InvalidArgument(
                f"jac is {jac!r}; use True (fun returns (f, g)), a callable "
                "jac(x), or None (fun returns f; the session forms "
                "gradients by finite differences)")
        self.fun, self.jac, self.hess, self.hessp = fun, jac, hess, hessp
        self.args = tuple(args)
        # The last evaluation and the one with the lowest value, so that
        # OptimizeResult.jac needs no evaluation at the final x.
        self.last: Optional[tuple] = None  # (x, value, gradient)
        self.best: Optional[tuple] = None

    def __call__(self, trial: "Trial") -> dict:
        x, wants, args = trial.x, trial.wants, self.args
        value, gradient = None, None
        if self.jac is True:
            if wants != Wants.HESSIAN_VECTOR:
                value, gradient = self.fun(x, *args)
        else:
            if wants.needs_gradient and not callable(self.jac):
                raise InvalidArgument(
                    f"trial {trial.trial_id} wants a gradient; pass jac=True "
                    "(fun returns (f, g)) or a callable jac(x), or create "
                    "the session with gradient_source='finite_difference'")
            if wants.needs_value:
                value = self.fun(x, *args)
            if wants.needs_gradient:
                gradient = self.jac(x, *args)
        tell: dict = {}
        if value is not None:
            try:
                tell["value"] = float(value)
            except TypeError:
                raise InvalidArgument(
                    f"fun returned {type(value).__name__}, not a number; "
                    "with jac=None fun returns only f(x) (jac=True if it "
                    "returns (f, g))") from None
        if gradient is not None and wants.needs_gradient:
            gradient = np.asarray(as_array(gradient), dtype=np.float64)
            if not np.all(np.isfinite(gradient)):
                return {"failed": True}
            tell["gradient"] = gradient
        if wants == Wants.HESSIAN:
            if self.hess is None:
                raise InvalidArgument("the trial wants a Hessian; pass hess")
            tell["hessian"] = np.asarray(self.hess(x, *args), dtype=np.float64)
        if wants == Wants.HESSIAN_VECTOR:
            if self.hessp is None:
                raise InvalidArgument(
                    "the trial wants a Hessian-vector product; pass hessp")
            tell["hessian_vector"] = self.hessp(x, trial.vector, *args)
        if "value" in tell and not np.isfinite(tell["value"]):
            return {"failed": True}
        self.last = (x, tell.get("value"), tell.get("gradient"))
        if "value" in tell and "gradient" in tell and (
                self.best is None or tell["value"] <= self.best[1]):
            self.best = self.last
        return tell

    def gradient_at(self, x: np.ndarray) -> Optional[np.ndarray]:
        """The gradient told at exactly ``x`` (bitwise), if remembered."""
        for record in (self.last, self.best):
            if (record is not None and record[2] is not None
                    and _bitwise_equal(record[0], x)):
                return record[2]
        return None


def _bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bits (NaN payloads and signed zeros included)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    bits = np.dtype(f"u{a.dtype.itemsize}")
    return bool(np.array_equal(a.view(bits), b.view(bits)))
