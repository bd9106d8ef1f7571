"""Sessions and trials: the ask-tell protocol of one optd session.

A :class:`Session` is a handle on one server-side session. Its trials can be
served three ways:

Ask-tell over unary calls (several workers may share a session)::

    with client.create_session(x0, "lbfgs") as session:
        trial = session.ask()
        while trial is not None:
            f, g = rosen(trial.x), rosen_der(trial.x)
            trial = session.tell(trial.trial_id, f, g).trial
        print(session.summary)          # one-line report

The ``Optimize`` stream (one round trip per evaluation, no per-call setup)::

    with client.create_session(x0, "lbfgs") as session:
        for trial in session.trials():
            trial.tell(rosen(trial.x), rosen_der(trial.x))
        result = session.summary

Or :meth:`Session.run`, which evaluates ``fun`` for every trial on the stream.

A tell may be retried: the same trial with the same payload returns the same
answer with ``duplicate=True`` and changes nothing.

Thread-safety: the unary calls (ask, tell, info, delete) may be used from
several threads (``pending``, ``state`` and ``summary`` then reflect the last
answer received); a stream (``trials()``, ``run()``) is driven by one thread.
"""

import time
from typing import (TYPE_CHECKING, Any, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import numpy as np

from . import _wire
from ._evaluator import Evaluator, Objective
from ._proto import optimizer_pb2 as pb
from .errors import FailedPrecondition, NotFound
from .direct import GRADIENT, HESSIAN_VECTOR, POINT, VECTOR, DirectPath
from .options import solver_options
from .messages import (Iterate, SessionInfo, SessionState, Summary,
                       TrialRecord, _enum, _time)
from .stream import OptimizeStream
from .trial import Answer, Trial
from .vectors import VectorEncoding, as_array, decode, dtype_of, encode

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

__all__ = ["Trial", "Answer", "Session"]


class Session:
    """A handle on one optd session (made by :class:`~optd.Client`).

    Attributes:
      session_id: the server's id for the session.
      dimension: n, the length of x.
      dtype: numpy dtype of the vectors it sends and of the gradients told
        (float32 for Adam's family with ``dtype="float32"``, else float64).
      keep: when False (the default for sessions this client created),
        leaving the ``with`` block or :meth:`close` deletes the session.
      pending: the outstanding trials as last seen (from the create, the
        last ask or the last tell).
      report_iterates: when True, every tell asks the server for the
        iterate it produces (``TellRequest.report_iterate``): a tell that
        completes an iteration answers with ``Answer.iterate`` (the
        accepted point: n values on the wire once per iteration). False by
        default; ``minimize(callback=...)`` sets it.
    """

    def __init__(self, client: "Client", session_id: str, dimension: int,
                 encoding: VectorEncoding, trials: Sequence[pb.Trial] = (),
                 keep: bool = False,
                 stream: Optional[OptimizeStream] = None,
                 base_points: Sequence[pb.BasePoint] = ()) -> None:
        self.client = client
        # The calls go through the client's connection (its channel,
        # deadline and metadata), not through the client.
        self._transport = client.transport
        self.session_id = session_id
        self.dimension = dimension
        self.encoding = encoding
        self.dtype = dtype_of(encoding)
        self.keep = keep
        self.state = SessionState.RUNNING
        # Seconds until another worker's lease expires (ask with worker_id).
        self.retry_after = 0.0
        self.report_iterates = False
        self._summary: Optional[Summary] = None
        self._stream = stream
        # Set for a sharded session on the direct data path.
        self._direct: Optional[DirectPath] = None
        bases = _bases(trials, base_points)
        self.pending: List[Trial] = [Trial(t, self.tell, bases=bases)
                                     for t in trials]
        if stream is not None:
            self._absorb(stream.first_response, self._tell_on_stream)

    # -- state -------------------------------------------------------------

    @property
    def summary(self) -> Optional[Summary]:
        """The summary once this handle has seen the session end (through
        an ask, a tell, the stream or :meth:`info`), else None."""
        return self._summary

    @property
    def finished(self) -> bool:
        return self.state.finished

    def _absorb(self, response, teller,
                worker_id: Optional[str] = None) -> Answer:
        """Updates pending/state/summary from a Tell/Ask/Optimize response
        (its trials leased to ``worker_id`` when one asked or told)."""
        bases = _bases(response.trials, response.base_points)
        return self._absorb_parts(
            [self._trial_from_slices(t, worker_id) if t.on_slices
             else Trial(t, teller, worker_id=worker_id, bases=bases)
             for t in response.trials], response.state,
            response.summary if response.HasField("summary") else None,
            getattr(response, "duplicate", False),
            response.iterate if (hasattr(response, "iterate")
                                 and response.HasField("iterate")) else None)

    def _absorb_parts(self, trials: List[Trial], state_value: int,
                      summary_proto: Optional[pb.Summary],
                      duplicate: bool,
                      iterate: Optional[pb.Iterate] = None) -> Answer:
        state = (_enum(SessionState, state_value) if state_value
                 else SessionState.RUNNING)
        summary = (Summary.from_proto(summary_proto)
                   if summary_proto is not None else None)
        self.pending = trials
        self.state = state
        if summary is not None:
            self._summary = summary
        return Answer(trials, state, summary, duplicate,
                      Iterate.from_proto(iterate) if iterate is not None
                      else None)

    # -- ask / tell ----------------------------------------------------------

    def ask(self, worker_id: Optional[str] = None) -> Optional[Trial]:
        """The outstanding trial (``Ask``; idempotent), or None once the
        session has ended (then :attr:`summary` is set) — or, with
        ``worker_id``, the trial leased to that worker, None while every
        outstanding trial is leased to another worker (then
        :attr:`retry_after` says how many seconds until the first lease
        expires)."""
        trials = self.ask_all(worker_id)
        return trials[0] if trials else None

    def ask_all(self, worker_id: Optional[str] = None,
                max_trials: Optional[int] = None) -> List[Trial]:
        """Every outstanding trial (``Ask``): all the trials of the current
        batch not yet told. With ``worker_id`` the trials are leased to
        that worker for the session's lease_seconds (asking again renews the
        leases), trials leased to other workers are withheld, and the worker
        holds up to ``max_trials`` at once (default 1; range [1, 1024])."""
        return self._ask(worker_id, max_trials).trials

    def _ask(self, worker_id: Optional[str] = None,
             max_trials: Optional[int] = None) -> Answer:
        response = self._transport.unary(
            "Ask", pb.AskRequest(session_id=self.session_id,
                                 worker_id=worker_id or "",
                                 points_on_slices=self._direct is not None,
                                 max_trials=max_trials or 0))
        self.retry_after = response.retry_after_seconds
        answer = self._absorb(response, self.tell, worker_id)
        answer.retry_after = response.retry_after_seconds
        return answer

    # -- the direct data path ------------------------------------------------

    @property
    def direct(self) -> bool:
        """Whether vectors go to and come from each replica directly."""
        return self._direct is not None

    def enable_direct_path(self) -> None:
        """Reads the shard map (``GetSession``) and from then on sends each
        replica its slice of a gradient and reads its slice of a point
        directly, all replicas at once (sessions created with ``shards`` > 1
        do this by themselves). FailedPrecondition for a session that is
        not sharded."""
        info = self.client.get_session(self.session_id)
        self._direct = DirectPath(info.proto, self._transport.dial,
                                  self._transport.timeout,
                                  self._transport.metadata)

    def _trial_from_slices(self, proto: pb.Trial,
                           worker_id: Optional[str] = None) -> Trial:
        float32 = self.dtype == np.float32
        x = self._direct.get(self.session_id, proto.trial_id, POINT, float32)
        vector = (self._direct.get(self.session_id, proto.trial_id, VECTOR,
                                   float32)
                  if proto.wants == pb.EVALUATION_HESSIAN_VECTOR else None)
        return Trial(None, self.tell, worker_id=worker_id,
                     parts=(proto.trial_id, x, proto.wants, vector,
                            proto.batch_index, proto.batch_size,
                            _time(proto.lease_expire_time)))

    def _tell_direct(self, trial_id: int, value: Optional[float],
                     gradient: Any, failed: bool, stop: bool, hessian: Any,
                     hessian_vector: Any, worker_id: Optional[str],
                     note: Optional[str],
                     weight: Optional[float],
                     group_lr: Optional[Sequence[float]] = None,
                     residuals: Any = None, jacobian: Any = None,
                     jacobian_vector: Any = None,
                     jacobian_transpose_vector: Any = None) -> Answer:
        float32 = self.dtype == np.float32
        sliced = False
        if not failed:
            for field, vector in ((GRADIENT, gradient),
                                  (HESSIAN_VECTOR, hessian_vector)):
                if vector is not None:
                    self._direct.put(self.session_id, trial_id, field,
                                     as_array(vector), float32)
                    sliced = True
        request = self._tell_request(
            trial_id, value, None if sliced else gradient, failed, stop,
            hessian, None if sliced else hessian_vector, worker_id, note,
            weight, group_lr, residuals, jacobian, jacobian_vector,
            jacobian_transpose_vector)
        request.session_id = self.session_id
        request.sliced = sliced
        request.points_on_slices = True
        response = self._transport.unary("Tell", request)
        return self._absorb(response, self.tell, worker_id)

    def _tell_request(self, trial_id: int, value: Optional[float],
                      gradient: Any, failed: bool, stop: bool, hessian: Any,
                      hessian_vector: Any, worker_id: Optional[str] = None,
                      note: Optional[str] = None,
                      weight: Optional[float] = None,
                      group_lr: Optional[Sequence[float]] = None,
                      residuals: Any = None, jacobian: Any = None,
                      jacobian_vector: Any = None,
                      jacobian_transpose_vector: Any = None
                      ) -> pb.TellRequest:
        request = pb.TellRequest(trial_id=trial_id, failed=failed, stop=stop,
                                 worker_id=worker_id or "", note=note or "",
                                 report_iterate=self.report_iterates)
        if value is not None:
            request.value = float(value)
        if weight is not None:
            request.weight = float(weight)
        if group_lr is not None:
            request.group_lr.extend(float(lr) for lr in group_lr)
        for name, vector in (("gradient", gradient), ("hessian", hessian),
                             ("hessian_vector", hessian_vector),
                             ("residuals", residuals),
                             ("jacobian", jacobian),
                             ("jacobian_vector", jacobian_vector),
                             ("jacobian_transpose_vector",
                              jacobian_transpose_vector)):
            if vector is not None:
                encode(as_array(vector), self._send_encoding(),
                       getattr(request, name))
        return request

    def _send_encoding(self) -> VectorEncoding:
        return (VectorEncoding.F32 if self.encoding == VectorEncoding.F32
                else VectorEncoding.F64)

    def tell(self, trial_id: int, value: Optional[float] = None,
             gradient: Any = None, failed: bool = False, stop: bool = False,
             *, hessian: Any = None, hessian_vector: Any = None,
             worker_id: Optional[str] = None, note: Optional[str] = None,
             weight: Optional[float] = None,
             group_lr: Optional[Sequence[float]] = None,
             residuals: Any = None, jacobian: Any = None,
             jacobian_vector: Any = None,
             jacobian_transpose_vector: Any = None) -> Answer:
        """Reports the result of trial ``trial_id`` (``Tell``).

        Args:
          trial_id: an outstanding trial (0 with ``stop=True``: stop now).
          value: f(x), when the trial wants a value. NaN/Inf counts as a
            failed evaluation.
          gradient: array-like of n elements (numpy, torch on CPU, list),
            when the trial wants a gradient. Sent as raw float64 bytes
            (float32 for float32 sessions).
          failed: the evaluation crashed or diverged; the solver backtracks
            (L-BFGS) or skips the step (Adam).
          stop: end the session after this tell (STOPPED_BY_CLIENT).
          hessian: the dense n x n Hessian (Wants.HESSIAN).
          hessian_vector: H(x) v (Wants.HESSIAN_VECTOR).
          worker_id: who evaluated the trial (at most 128 characters), kept
            in the trial log. The answer's trials are then those leased to
            this worker afterwards (a free trial is leased to it), as
            ``ask(worker_id)`` would answer; without, every outstanding
            trial, unleased.
          note: free-form text kept with the trial in the trial log (a
            checkpoint path, a log URL; at most 4096 bytes).
          weight: data-parallel sessions: this gradient's weight in the
            step's mean, e.g. the worker's batch size (default 1).
          group_lr: Adam/AdamW sessions and those of the rest of the
            first-order family (SGD, RMSprop, ..., Lion): the learning
            rate of each parameter group (one value without groups) for
            the step this tell
            completes, in place of the session's lr and schedule for this
            step only (as torch's lr_scheduler sets param_groups' lr).
          residuals: least_squares sessions: the m residuals r(x), when the
            trial wants them (``Wants.RESIDUALS``, ``RESIDUALS_AND_JACOBIAN``).
            Non-finite residuals count as a failed evaluation.
          jacobian: least_squares sessions: J(x), m x n (array-like; sent in
            C order, row-major), when the trial wants it (``Wants.JACOBIAN``,
            ``RESIDUALS_AND_JACOBIAN``).
          jacobian_vector, jacobian_transpose_vector: least_squares
            sessions with tr_solver LSMR: J(x) v (m elements) for a
            ``Wants.JACOBIAN_VECTOR`` trial, J(x)^T u (n elements) for a
            ``Wants.JACOBIAN_TRANSPOSE_VECTOR`` trial (v, u: the trial's
            ``vector``).

        Returns:
          the :class:`Answer`: next trial(s) or the summary; ``duplicate``
          when this repeated an earlier tell exactly.

        Raises:
          InvalidArgument: a missing value/gradient, a wrong length, a NaN or
            Inf gradient (the message names the first bad index).
          FailedPrecondition: the trial is not outstanding, was answered with
            another payload, or the session has ended.
          NotFound: the session was deleted.
        """
        if self._direct is not None:
            return self._tell_direct(trial_id, value, gradient, failed, stop,
                                     hessian, hessian_vector, worker_id, note,
                                     weight, group_lr, residuals, jacobian,
                                     jacobian_vector,
                                     jacobian_transpose_vector)
        # Raw float64/float32 vectors go straight from the arrays' buffers
        # into the request, and the answer's points are views of the bytes
        # received (optd/_wire.py): no copies of a large vector in Python.
        vectors = [(field, as_array(v)) for field, v in
                   ((_wire.GRADIENT, gradient), (_wire.HESSIAN, hessian),
                    (_wire.HESSIAN_VECTOR, hessian_vector),
                    (_wire.RESIDUALS, residuals), (_wire.JACOBIAN, jacobian),
                    (_wire.JACOBIAN_VECTOR, jacobian_vector),
                    (_wire.JACOBIAN_TRANSPOSE_VECTOR,
                     jacobian_transpose_vector))
                   if v is not None]
        raw = _wire.encode_tell(
            self.session_id, trial_id,
            None if value is None else float(value), failed, stop, vectors,
            self._send_encoding(), worker_id or "", note or "",
            None if weight is None else float(weight), self.report_iterates,
            None if group_lr is None else [float(lr) for lr in group_lr])
        trials, state, summary, duplicate, bases, iterate = (
            _wire.decode_tell_answer(self._transport.tell_bytes(raw)))
        for t in trials:
            if t[7] is None and t[0] not in bases:
                bases[t[0]] = t[1]
        return self._absorb_parts(
            [Trial(None, self.tell, parts=t, worker_id=worker_id,
                   bases=bases) for t in trials], state, summary, duplicate,
            iterate)

    def stop(self) -> Optional[Summary]:
        """Ends the session now (STOPPED_BY_CLIENT) and returns its summary."""
        self.tell(0, stop=True)
        return self._summary

    # -- the Optimize stream --------------------------------------------------

    def _tell_on_stream(self, trial_id: int, value: Optional[float] = None,
                        gradient: Any = None, failed: bool = False,
                        stop: bool = False, *, hessian: Any = None,
                        hessian_vector: Any = None,
                        worker_id: Optional[str] = None,
                        note: Optional[str] = None,
                        weight: Optional[float] = None,
                        group_lr: Optional[Sequence[float]] = None,
                        residuals: Any = None, jacobian: Any = None
                        ) -> Answer:
        if self._stream is None or self._stream.closed:
            raise FailedPrecondition(
                f"trial {trial_id} came from an Optimize stream of session "
                f"\"{self.session_id}\" that is closed; tell it with "
                "session.tell() instead")
        request = pb.OptimizeRequest(tell=self._tell_request(
            trial_id, value, gradient, failed, stop, hessian, hessian_vector,
            worker_id, note, weight, group_lr, residuals, jacobian))
        return self._absorb(self._stream.exchange(request),
                            self._tell_on_stream, worker_id)

    def _open_stream(self) -> None:
        if self._stream is None or self._stream.closed:
            self._stream = self._transport.open_stream(
                pb.OptimizeRequest(attach_session_id=self.session_id))
            self._absorb(self._stream.first_response, self._tell_on_stream)

    def trials(self) -> Iterator[Trial]:
        """Yields the trials of this session over one ``Optimize`` stream,
        until the session ends; tell each with ``trial.tell(...)`` before
        asking for the next one. Leaving the loop early (``break``) closes
        the stream and leaves the session running.

            >>> for trial in session.trials():
            ...     trial.tell(*fun(trial.x))
            >>> session.summary.x
            array([1., 1.])
        """
        self._open_stream()
        try:
            while not self.finished and self.pending:
                trial = self.pending[0]
                yield trial
                if trial.answer is None and self.pending and (
                        self.pending[0] is trial):
                    raise FailedPrecondition(
                        f"trial {trial.trial_id} of session "
                        f"\"{self.session_id}\" was not told; call "
                        "trial.tell(...) in the loop body")
        finally:
            self.close_stream()

    def run(self, fun: Objective, jac: Any = True, hess: Any = None,
            hessp: Any = None, args: Sequence[Any] = ()) -> Summary:
        """Evaluates every trial with ``fun`` on the Optimize stream until
        the session ends, and returns the summary.

        Args:
          fun: ``fun(x, *args)``; returns ``(f, g)`` when ``jac is True``,
            else f.
          jac: True, or a callable ``jac(x, *args)`` returning the gradient.
          hess: ``hess(x, *args)``, the dense Hessian, for trials that want
            one. hessp: ``hessp(x, v, *args)``, the product H(x) v.
          args: extra arguments passed to the callables.

        A value that is NaN or infinite, or a gradient that is not finite,
        is told as a failed evaluation: the solver backtracks.
        """
        evaluate = Evaluator(fun, jac, hess, hessp, args)
        for trial in self.trials():
            trial.tell(**evaluate(trial))
        assert self._summary is not None
        return self._summary

    def work(self, fun: Objective, worker_id: str, jac: Any = None,
             hess: Any = None, hessp: Any = None, args: Sequence[Any] = (),
             *, note: Any = None, weight: Optional[float] = None,
             min_wait: float = 0.05, max_wait: float = 1.0
             ) -> Optional[Summary]:
        """Serves this session as worker ``worker_id`` until it ends, with
        unary asks and tells; returns the summary. Several threads or
        processes may each run ``work`` on one session (each with its own
        worker_id and, across processes, its own handle from
        ``client.session(id)``): they evaluate the trials of a batch (a
        finite-difference stencil, a data-parallel step) at once.

        The loop: ask with ``worker_id`` (the trial is leased to this
        worker for the session's lease_seconds), evaluate, tell with
        ``worker_id`` and go on with the trial the answer leases to it. When
        it gets no trial (other workers hold every outstanding one, or, in
        a data-parallel session, it has told its share of the step) it
        sleeps ``retry_after`` (clamped to [min_wait, max_wait] seconds) and
        asks again. The server hands a trial whose lease expired to the next
        worker that asks, so a worker that dies delays the session by at
        most the lease. A tell the session refuses because the trial was
        told meanwhile (by a worker that took it over) or the session ended
        is dropped, and the loop asks again.

        Args:
          fun: ``fun(x, *args)``: the value f(x) for trials that want only
            a value (every trial of a finite-difference session); with
            ``jac=True`` it returns ``(f, g)``.
          worker_id: this worker's name (at most 128 characters), kept with
            each of its tells in the trial log. A data-parallel worker's id
            is its share of the data: the server gives it one trial of each
            step (docs/api.md "Many workers").
          jac, hess, hessp, args: as for :meth:`run`, for trials that want
            gradients or Hessians.
          note: a string, or ``note(trial, told)`` returning one (``told``:
            the tell's keyword arguments), kept with each tell in the trial
            log.
          weight: data-parallel sessions: this worker's weight in each
            step's mean (e.g. its number of samples).
          min_wait, max_wait: bounds on the seconds slept before asking
            again when the worker gets no trial.

        A value that is NaN or infinite, or a gradient that is not finite,
        is told as a failed evaluation.
        """
        evaluate = Evaluator(fun, jac, hess, hessp, args)
        answer = self._ask(worker_id)
        while True:
            trial = answer.trial
            if trial is None:
                if answer.finished:
                    return answer.summary or self._summary
                time.sleep(min(max(answer.retry_after, min_wait), max_wait))
                answer = self._ask(worker_id)
                continue
            told = evaluate(trial)
            text = note(trial, told) if callable(note) else note
            try:
                answer = self.tell(trial.trial_id, **told, worker_id=worker_id,
                                   note=text, weight=weight)
            except FailedPrecondition:
                # Told meanwhile by a worker that took it over, or the
                # session ended: see what is left.
                answer = self._ask(worker_id)
                continue
            if not answer.trials and not answer.finished:
                answer = self._ask(worker_id)

    def history(self, after_id: int = 0) -> List[TrialRecord]:
        """The session's trial log (``GetSession`` with include_trials):
        every applied tell of a trial, oldest first, as
        :class:`TrialRecord` (trial_id, x, wants, value,
        gradient_max_norm, failed, worker_id, note, time, weight); only the
        trials after ``after_id`` when it is set. The server keeps the
        newest 8 MiB of records (``info().trial_log_dropped`` counts the
        others)."""
        return self.client.get_session(self.session_id, include_trials=True,
                                       trials_after_id=after_id).trial_log

    def close_stream(self) -> None:
        """Closes this handle's Optimize stream, if one is open."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # -- management -----------------------------------------------------------

    def info(self, include_x: bool = False) -> SessionInfo:
        """The session as ``GetSession`` describes it (best_x with
        ``include_x``); also refreshes :attr:`state` and :attr:`summary`."""
        info = self.client.get_session(self.session_id, include_x=include_x)
        self.state = info.state
        if info.summary is not None:
            self._summary = info.summary
        return info

    def curvature_pairs(self) -> Tuple[np.ndarray, np.ndarray]:
        """An L-BFGS session's quasi-Newton memory (``GetSession`` with
        include_curvature_pairs): arrays s and y of shape (k, n), the k
        most recent pairs s_i = x_{i+1} - x_i, y_i = g_{i+1} - g_i, oldest
        first. Costs 2 k n doubles on the wire.

        Raises:
          FailedPrecondition: the solver keeps no pairs (Adam, the trust
            region) or the session is sharded.
        """
        response = self._transport.unary("GetSession", pb.GetSessionRequest(
            session_id=self.session_id, include_curvature_pairs=True))
        pairs = response.curvature_pairs
        n = self.dimension
        s = np.array([decode(v) for v in pairs.s], dtype=np.float64)
        y = np.array([decode(v) for v in pairs.y], dtype=np.float64)
        return s.reshape(len(pairs.s), n), y.reshape(len(pairs.y), n)

    def switch_solver(self, solver: str,
                      options: Optional[Mapping[str, Any]] = None) -> int:
        """``SwitchSolver``: this session goes on under ``solver`` with
        ``options``, under the same id: "lbfgs" from the first-order
        family, carrying the iterate and the curvature pairs its last
        gradients give; "trust_region" (the quasi-Newton subproblem) from
        lbfgs, carrying the iterate and L-BFGS's pairs as the quasi-Newton
        model (docs/api.md "Switch"). A sharded session switches on as
        many shards. The old solver's pending
        trials are cancelled; :attr:`pending` becomes the new solver's
        first trial(s). Returns the number of curvature pairs carried.

        Raises:
          InvalidArgument: a pair of solvers that does not transfer, or
            options the new solver refuses.
          FailedPrecondition: a finished session, or a server without
            --data_dir.
          NotFound: no such session."""
        field, message = solver_options(solver, options)
        if field not in ("lbfgs", "trust_region"):
            raise ValueError(
                f"switch_solver takes lbfgs or trust_region, not {solver!r}")
        self.close_stream()
        request = pb.SwitchSolverRequest(session_id=self.session_id)
        getattr(request, field).CopyFrom(message)
        response = self._transport.unary("SwitchSolver", request)
        self._summary = None
        self._absorb_parts(
            [Trial(t, self.tell, bases=_bases(response.trials,
                                              response.base_points))
             for t in response.trials], response.state, None, False)
        return response.pairs

    def delete(self) -> None:
        """Deletes the session on the server (NotFound if already gone)."""
        self.close_stream()
        self.client.delete_session(self.session_id)

    def close(self) -> None:
        """Closes the stream and, unless ``keep``, deletes the session
        (quietly when it is already gone)."""
        self.close_stream()
        if not self.keep:
            try:
                self.client.delete_session(self.session_id)
            except NotFound:
                pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Session({self.session_id!r}, n={self.dimension}, "
                f"state={self.state.name})")


def _bases(trials: Sequence[pb.Trial],
           base_points: Sequence[pb.BasePoint]) -> dict:
    """The points an answer's delta trials are built from, by trial id:
    its base points, and its trials sent whole that some delta names."""
    wanted = {t.delta.base_trial_id for t in trials if t.HasField("delta")}
    if not wanted:
        return {}
    bases = {p.trial_id: decode(p.x) for p in base_points
             if p.trial_id in wanted}
    for t in trials:
        if t.trial_id in wanted and not t.HasField("delta"):
            bases[t.trial_id] = decode(t.x)
    return bases
