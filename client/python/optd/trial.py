"""Trials and answers: what a session hands out and what a tell returns.

A :class:`Trial` is a point where the solver wants the objective evaluated
(its ``tell`` reports the result through the session that made it); an
:class:`Answer` is the server's answer to a tell or an ask. Sessions
(optd/session.py) make both.
"""

from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from ._proto import optimizer_pb2 as pb
from .errors import DataLoss
from .messages import Iterate, SessionState, Summary, Wants, _time
from .vectors import decode

__all__ = ["Trial", "Answer"]


class Trial:
    """A point where the solver wants the objective evaluated.

    Attributes:
      trial_id: per-session, strictly increasing from 1.
      x: the point, a read-only numpy array (float64, or float32 for float32
        sessions); ``trial.x.copy()`` for a writable one. A stencil point
        (and a data-parallel worker's share) comes from the server as its
        batch's first point with one element changed (``Trial.delta``); x is
        built from it, bit for bit, when first read, so that the trials of
        a large batch cost n doubles only once evaluated.
      wants: what the tell must carry (:class:`Wants`).
      vector: for ``Wants.HESSIAN_VECTOR``, the vector v of H(x) v; for
        ``Wants.JACOBIAN_VECTOR`` v of J(x) v (n), for
        ``Wants.JACOBIAN_TRANSPOSE_VECTOR`` u of J(x)^T u (m); else None.
      batch_index, batch_size: the trial's place in the batch handed out
        with it (a finite-difference stencil, a gradient check, a
        data-parallel step: batch_size trials with consecutive ids, told in
        any order); 0 and 1 for a trial handed out alone.
      worker_id: the worker the trial is leased to (it came from an ask or a
        tell with ``worker_id``), else None; ``tell()`` tells as that worker.
      lease_expires: when that lease ends (a UTC datetime), else None.
    """

    __slots__ = ("trial_id", "_x", "_base", "_delta", "wants", "vector",
                 "batch_index", "batch_size", "lease_expires", "worker_id",
                 "_teller", "answer")

    def __init__(self, proto: Optional[pb.Trial],
                 teller: Callable[..., "Answer"], *,
                 parts: Optional[tuple] = None,
                 worker_id: Optional[str] = None,
                 bases: Optional[dict] = None):
        if proto is not None:
            delta = None
            if proto.HasField("delta"):
                d = proto.delta
                delta = (d.base_trial_id,
                         d.coordinate if d.HasField("coordinate") else None,
                         d.value)
            parts = (proto.trial_id, decode(proto.x), proto.wants,
                     decode(proto.vector) if proto.HasField("vector")
                     else None, proto.batch_index, proto.batch_size,
                     _time(proto.lease_expire_time), delta)
        # (trial_id, x, wants, vector, batch_index, batch_size, lease
        # expiry[, delta]): from a message, or from _wire. A delta is
        # (base trial id, coordinate or None, value); `bases` has the base
        # points of the answer by trial id.
        (trial_id, x, wants, vector, batch_index, batch_size,
         lease_expires) = parts[:7]
        delta = parts[7] if len(parts) > 7 else None
        self.trial_id: int = trial_id
        self._x: Optional[np.ndarray] = x
        self._base: Optional[np.ndarray] = None
        self._delta: Optional[tuple] = None
        if delta is not None:
            base = (bases or {}).get(delta[0])
            if base is None:
                raise DataLoss(
                    f"trial {trial_id} is built from trial {delta[0]}, "
                    "whose point the answer does not carry")
            if delta[1] is not None and not 0 <= delta[1] < base.size:
                raise DataLoss(
                    f"trial {trial_id} moves coordinate {delta[1]} of a "
                    f"point of {base.size} elements")
            self._x, self._base, self._delta = None, base, delta
        self.wants: Wants = Wants(wants)
        self.vector: Optional[np.ndarray] = vector
        self.batch_index: int = batch_index
        self.batch_size: int = batch_size or 1  # 0 from older servers
        self.lease_expires = lease_expires
        self.worker_id = worker_id or None
        self._teller = teller
        self.answer: Optional[Answer] = None  # set by tell()

    @property
    def x(self) -> np.ndarray:
        """The point (see the class attributes)."""
        if self._x is None:
            # The base point with one element replaced by the exact value
            # the server sent: no arithmetic, so bit for bit the point.
            x = self._base.copy()
            if self._delta[1] is not None:
                x[self._delta[1]] = self._delta[2]
            x.flags.writeable = False
            self._x, self._base = x, None
        return self._x

    @property
    def batch_first_id(self) -> int:
        """The id of the first trial of this trial's batch."""
        return self.trial_id - self.batch_index

    def tell(self, value: Optional[float] = None, gradient: Any = None, *,
             failed: bool = False, stop: bool = False, hessian: Any = None,
             hessian_vector: Any = None, worker_id: Optional[str] = None,
             note: Optional[str] = None,
             weight: Optional[float] = None,
             group_lr: Optional[Sequence[float]] = None,
             residuals: Any = None, jacobian: Any = None,
             jacobian_vector: Any = None,
             jacobian_transpose_vector: Any = None) -> "Answer":
        """Reports this trial's result; see :meth:`Session.tell` (least
        squares: ``residuals=``, ``jacobian=``, ``jacobian_vector=``,
        ``jacobian_transpose_vector=``). A leased trial is told as its
        worker unless ``worker_id`` says otherwise."""
        extra: dict = {}
        worker_id = worker_id or self.worker_id
        if worker_id or note or weight is not None:
            extra = dict(worker_id=worker_id, note=note, weight=weight)
        if group_lr is not None:
            extra["group_lr"] = group_lr
        if residuals is not None:
            extra["residuals"] = residuals
        if jacobian is not None:
            extra["jacobian"] = jacobian
        if jacobian_vector is not None:
            extra["jacobian_vector"] = jacobian_vector
        if jacobian_transpose_vector is not None:
            extra["jacobian_transpose_vector"] = jacobian_transpose_vector
        answer = self._teller(self.trial_id, value, gradient, failed=failed,
                              stop=stop, hessian=hessian,
                              hessian_vector=hessian_vector, **extra)
        self.answer = answer
        return answer

    def __repr__(self) -> str:
        batch = (f", batch={self.batch_index}/{self.batch_size}"
                 if self.batch_size > 1 else "")
        n = (self._x if self._x is not None else self._base).size
        return (f"Trial(trial_id={self.trial_id}, wants={self.wants.name}, "
                f"n={n}{batch})")


class Answer:
    """The server's answer to a tell (or an ask).

    Attributes:
      trials: the outstanding trials now (empty once the session has ended;
        for a worker, those leased to it).
      state: the session's state.
      summary: the :class:`Summary` once the session has ended, else None.
      duplicate: the tell repeated an earlier one and changed nothing.
      retry_after: an ask with worker_id that got no trial because other
        workers hold them all: seconds until the first lease expires.
      iterate: the :class:`Iterate` this tell produced when the session's
        ``report_iterates`` is set and the tell completed an iteration,
        else None.
    """

    __slots__ = ("trials", "state", "summary", "duplicate", "retry_after",
                 "iterate")

    def __init__(self, trials: List[Trial], state: SessionState,
                 summary: Optional[Summary], duplicate: bool,
                 iterate: Optional[Iterate] = None) -> None:
        self.trials = trials
        self.state = state
        self.summary = summary
        self.duplicate = duplicate
        self.iterate = iterate
        # An ask's retry_after_seconds (0 for tells).
        self.retry_after = 0.0

    @property
    def trial(self) -> Optional[Trial]:
        """The first outstanding trial, or None once the session has ended."""
        return self.trials[0] if self.trials else None

    @property
    def finished(self) -> bool:
        return self.summary is not None or SessionState(self.state).finished

    def __repr__(self) -> str:
        return (f"Answer(trials={self.trials}, state={self.state!r}, "
                f"duplicate={self.duplicate}, summary={self.summary!s})")
