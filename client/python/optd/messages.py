"""Python views of the optd messages: enums, Summary, SessionInfo.

These wrap ``optd.v1`` protobuf messages in plain dataclasses with numpy
vectors and Python enums, so that user code never touches protobuf. Each
keeps the message it came from in ``.proto``.

    >>> info = client.get_session("rosen-1", include_x=True)
    >>> info.state, info.iterations, info.best_x
    (<SessionState.CONVERGED: 2>, 36, array([0.99999, 0.99998]))
    >>> print(info.summary)       # the one-line report
    lbfgs n=2: CONVERGENCE: REL_REDUCTION_OF_F_<=_FACTR*EPSMCH after ...
"""

import dataclasses
import datetime
import enum
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from google.protobuf import message as _message

from ._proto import optimizer_pb2 as pb
from .vectors import VectorEncoding, decode

__all__ = ["Wants", "SessionState", "TerminationReason", "GradientSource",
           "Summary", "HistoryEntry", "TrialRecord", "GradientCheck",
           "SessionInfo", "Iterate", "options_to_dict"]


class Wants(enum.IntEnum):
    """What a trial wants evaluated (``optd.v1.Evaluation``)."""
    UNSPECIFIED = pb.EVALUATION_UNSPECIFIED
    VALUE = pb.EVALUATION_VALUE
    GRADIENT = pb.EVALUATION_GRADIENT
    VALUE_AND_GRADIENT = pb.EVALUATION_VALUE_AND_GRADIENT
    HESSIAN = pb.EVALUATION_HESSIAN  # value, gradient and dense Hessian
    HESSIAN_VECTOR = pb.EVALUATION_HESSIAN_VECTOR  # only H(x) v
    # Least squares (optd.least_squares): the residuals, the Jacobian, or
    # both (TellRequest.residuals, .jacobian).
    RESIDUALS = pb.EVALUATION_RESIDUALS
    JACOBIAN = pb.EVALUATION_JACOBIAN
    RESIDUALS_AND_JACOBIAN = pb.EVALUATION_RESIDUALS_AND_JACOBIAN
    # Matrix-free least squares (tr_solver='lsmr'): J(x) v for v =
    # Trial.vector (n), or J(x)^T u for u = Trial.vector (m)
    # (TellRequest.jacobian_vector, .jacobian_transpose_vector).
    JACOBIAN_VECTOR = pb.EVALUATION_JACOBIAN_VECTOR
    JACOBIAN_TRANSPOSE_VECTOR = pb.EVALUATION_JACOBIAN_TRANSPOSE_VECTOR

    @property
    def needs_value(self) -> bool:
        """True when the tell must carry f(x)."""
        return self in (Wants.VALUE, Wants.VALUE_AND_GRADIENT, Wants.HESSIAN)

    @property
    def needs_gradient(self) -> bool:
        """True when the tell must carry the gradient."""
        return self in (Wants.GRADIENT, Wants.VALUE_AND_GRADIENT,
                        Wants.HESSIAN)


class SessionState(enum.IntEnum):
    """``optd.v1.SessionState``: RUNNING, then one of the final states."""
    UNSPECIFIED = pb.SESSION_STATE_UNSPECIFIED
    RUNNING = pb.SESSION_STATE_RUNNING
    CONVERGED = pb.SESSION_STATE_CONVERGED
    LIMIT_REACHED = pb.SESSION_STATE_LIMIT_REACHED
    FAILED = pb.SESSION_STATE_FAILED
    STOPPED = pb.SESSION_STATE_STOPPED
    # The stored session could not be recovered; SessionInfo.damage says why.
    DAMAGED = pb.SESSION_STATE_DAMAGED

    @property
    def finished(self) -> bool:
        return self not in (SessionState.UNSPECIFIED, SessionState.RUNNING)


class TerminationReason(enum.IntEnum):
    """Why a session ended (``optd.v1.TerminationReason``)."""
    UNSPECIFIED = pb.TERMINATION_REASON_UNSPECIFIED
    GRADIENT_TOLERANCE = pb.TERMINATION_REASON_GRADIENT_TOLERANCE
    FUNCTION_TOLERANCE = pb.TERMINATION_REASON_FUNCTION_TOLERANCE
    MAX_ITERATIONS = pb.TERMINATION_REASON_MAX_ITERATIONS
    MAX_EVALUATIONS = pb.TERMINATION_REASON_MAX_EVALUATIONS
    LINE_SEARCH_FAILED = pb.TERMINATION_REASON_LINE_SEARCH_FAILED
    EVALUATION_FAILED = pb.TERMINATION_REASON_EVALUATION_FAILED
    STOPPED_BY_CLIENT = pb.TERMINATION_REASON_STOPPED_BY_CLIENT
    MAX_STEPS = pb.TERMINATION_REASON_MAX_STEPS
    TRUST_REGION_FAILED = pb.TERMINATION_REASON_TRUST_REGION_FAILED
    STEP_NOT_FINITE = pb.TERMINATION_REASON_STEP_NOT_FINITE

    @property
    def scipy_status(self) -> int:
        """scipy's ``status``: 0 converged, 1 a limit was reached, 2 other."""
        if self in (TerminationReason.GRADIENT_TOLERANCE,
                    TerminationReason.FUNCTION_TOLERANCE):
            return 0
        if self in (TerminationReason.MAX_ITERATIONS,
                    TerminationReason.MAX_EVALUATIONS,
                    TerminationReason.MAX_STEPS):
            return 1
        return 2


class GradientSource(enum.IntEnum):
    """Where a session's gradients come from (``optd.v1.GradientSource``)."""
    UNSPECIFIED = pb.GRADIENT_SOURCE_UNSPECIFIED  # CLIENT
    CLIENT = pb.GRADIENT_SOURCE_CLIENT
    # The client tells values; the server forms gradients from finite
    # differences, handing the stencil points out as batches of trials.
    FINITE_DIFFERENCE = pb.GRADIENT_SOURCE_FINITE_DIFFERENCE


def _enum(cls, value: int):
    try:
        return cls(value)
    except ValueError:  # a newer server's value: keep the number
        return value


def _time(timestamp) -> Optional[datetime.datetime]:
    if timestamp.seconds == 0 and timestamp.nanos == 0:
        return None
    return timestamp.ToDatetime(tzinfo=datetime.timezone.utc)


@dataclasses.dataclass
class Iterate:
    """An iterate a tell produced (``TellResponse.iterate``; asked for with
    ``Session.report_iterates``): the solver's iteration count after the
    tell, the accepted point (read-only), f there (NaN when unknown) and
    max |g|."""
    iteration: int
    x: np.ndarray
    value: float
    gradient_max_norm: float

    @classmethod
    def from_proto(cls, iterate: pb.Iterate) -> "Iterate":
        return cls(iteration=iterate.iteration, x=decode(iterate.x),
                   value=iterate.value,
                   gradient_max_norm=iterate.gradient_max_norm)


@dataclasses.dataclass
class Summary:
    """The end of a session, like scipy's OptimizeResult and Ceres' Summary.

    ``str(summary)`` is the one-line report; ``summary.full_report`` has
    several lines.
    """
    reason: TerminationReason
    message: str          # scipy-style, e.g. "CONVERGENCE: NORM_OF_..."
    success: bool
    x: np.ndarray         # best point (read-only; empty unless requested)
    value: float          # f(x); NaN when unknown
    gradient_max_norm: float
    iterations: int
    evaluations: int
    wall_seconds: float
    brief_report: str
    full_report: str
    proto: Any = dataclasses.field(repr=False, compare=False, default=None)

    @classmethod
    def from_proto(cls, summary: pb.Summary) -> "Summary":
        return cls(reason=_enum(TerminationReason, summary.reason),
                   message=summary.message, success=summary.success,
                   x=decode(summary.x), value=summary.value,
                   gradient_max_norm=summary.gradient_max_norm,
                   iterations=summary.iterations,
                   evaluations=summary.evaluations,
                   wall_seconds=summary.wall_seconds,
                   brief_report=summary.brief_report,
                   full_report=summary.full_report, proto=summary)

    def __str__(self) -> str:
        return self.brief_report


@dataclasses.dataclass
class HistoryEntry:
    """One accepted iterate (``optd.v1.HistoryEntry``)."""
    iteration: int
    evaluations: int
    value: float
    gradient_max_norm: float
    step_length: float
    time: Optional[datetime.datetime]

    @classmethod
    def from_proto(cls, entry: pb.HistoryEntry) -> "HistoryEntry":
        return cls(entry.iteration, entry.evaluations, entry.value,
                   entry.gradient_max_norm, entry.step_length,
                   _time(entry.time))


@dataclasses.dataclass
class TrialRecord:
    """One applied tell of a trial (``optd.v1.TrialRecord``), from the
    session's trial log: ``Session.history()`` or
    ``client.get_session(id, include_trials=True).trial_log``."""
    trial_id: int
    x: np.ndarray                   # empty for sessions with n > 100
    wants: "Wants"
    value: float                    # NaN when none was told, or it failed
    gradient_max_norm: float        # NaN when no gradient was told
    failed: bool
    worker_id: str                  # "" when the tell named none
    note: str
    time: Optional[datetime.datetime]
    weight: float                   # 1 unless a data-parallel tell set it

    @classmethod
    def from_proto(cls, record: pb.TrialRecord) -> "TrialRecord":
        return cls(trial_id=record.trial_id, x=decode(record.x),
                   wants=_enum(Wants, record.wants), value=record.value,
                   gradient_max_norm=record.gradient_max_norm,
                   failed=record.failed, worker_id=record.worker_id,
                   note=record.note, time=_time(record.time),
                   weight=record.weight)


@dataclasses.dataclass
class GradientCheck:
    """One gradient check (``optd.v1.GradientCheck``): the told gradient
    against central differences of told values at the same point.

    ``max_relative_error`` below about 1e-7 is a right gradient, above 1e-3
    a bug; ``relative_error[i]`` says which coordinate (NaN where the
    stencil values failed).
    """
    iteration: int
    max_relative_error: float
    relative_error: np.ndarray
    told: np.ndarray
    finite_difference: np.ndarray

    @classmethod
    def from_proto(cls, check: pb.GradientCheck) -> "GradientCheck":
        return cls(iteration=check.iteration,
                   max_relative_error=check.max_relative_error,
                   relative_error=np.array(check.relative_error,
                                           dtype=np.float64),
                   told=np.array(check.told, dtype=np.float64),
                   finite_difference=np.array(check.finite_difference,
                                              dtype=np.float64))


def options_to_dict(options: _message.Message,
                    unset_as_none: bool = False) -> Dict[str, Any]:
    """Every field of an options message (defaults included) as a dict;
    nested messages become dicts, repeated fields lists and enums their
    value names. With ``unset_as_none`` an unset ``optional`` field is None
    (the server's default applies) rather than 0."""
    result: Dict[str, Any] = {}
    for field in options.DESCRIPTOR.fields:
        value = getattr(options, field.name)
        if (unset_as_none and field.has_presence
                and not options.HasField(field.name)):
            value = None
        elif field.label == field.LABEL_REPEATED:
            value = list(value)
        elif field.message_type is not None:
            value = options_to_dict(value, unset_as_none)
        elif field.enum_type is not None:
            value = field.enum_type.values_by_number[value].name
        result[field.name] = value
    return result


@dataclasses.dataclass
class SessionInfo:
    """A session as ``GetSession``/``ListSessions`` describe it."""
    session_id: str
    state: SessionState
    # "lbfgs", "adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax",
    # "nadam", "radam", "lion" or "trust_region"
    solver: str
    dimension: int
    labels: Dict[str, str]
    create_time: Optional[datetime.datetime]
    update_time: Optional[datetime.datetime]
    iterations: int
    evaluations: int
    best_value: float               # NaN before the first value
    gradient_max_norm: float        # NaN before the first gradient
    best_x: Optional[np.ndarray]    # only with include_x
    pending_trial_ids: List[int]
    # The recent accepted iterates, oldest first.
    history: List[HistoryEntry] = dataclasses.field(repr=False)
    summary: Optional[Summary]      # once the session has ended
    options: Dict[str, Any]         # resolved solver options
    vector_encoding: VectorEncoding
    # Tells applied, and how many of them are durable (0 in memory).
    tells: int = 0
    durable_step: int = 0
    # DAMAGED only: what is wrong with the stored session.
    damage: str = ""
    # Outstanding trials leased to workers: (trial_id, worker_id, expiry).
    leases: List[Any] = dataclasses.field(default_factory=list)
    # The box as created: (lower, upper) arrays, -inf/+inf where a side is
    # unbounded; None for a session without bounds.
    bounds: Optional[Tuple[np.ndarray, np.ndarray]] = None
    gradient_source: GradientSource = GradientSource.CLIENT
    # FiniteDifferenceOptions and GradientCheckOptions as created (dicts of
    # their fields), None when unset.
    finite_difference: Optional[Dict[str, Any]] = None
    gradient_check: Optional[Dict[str, Any]] = None
    # Workers of a data-parallel session (1: not data-parallel).
    data_parallel_workers: int = 1
    # Gradient checks done so far, oldest first.
    gradient_checks: List[GradientCheck] = dataclasses.field(
        default_factory=list, repr=False)
    # The trial log (only with get_session(include_trials=True)), oldest
    # first, and how many older records the server let go.
    trial_log: List[TrialRecord] = dataclasses.field(default_factory=list,
                                                    repr=False)
    trial_log_dropped: int = 0
    lease_seconds: float = 0.0
    # L-BFGS: the gradient at best_x (only with include_gradient).
    best_gradient: Optional[np.ndarray] = None
    # The whole run decimated to at most 513 iterates, oldest first (only
    # with get_session(include_history_overview=True); sessions.proto
    # Session.history_overview says which are kept).
    history_overview: List[HistoryEntry] = dataclasses.field(
        default_factory=list, repr=False)
    proto: Any = dataclasses.field(repr=False, compare=False, default=None)

    @classmethod
    def from_proto(cls, session: pb.Session) -> "SessionInfo":
        which = session.WhichOneof("options")
        return cls(
            session_id=session.session_id,
            state=_enum(SessionState, session.state),
            solver=session.solver, dimension=session.dimension,
            labels=dict(session.labels),
            create_time=_time(session.create_time),
            update_time=_time(session.update_time),
            iterations=session.iterations, evaluations=session.evaluations,
            best_value=session.best_value,
            gradient_max_norm=session.gradient_max_norm,
            best_x=decode(session.best_x) if session.HasField("best_x")
            else None,
            best_gradient=decode(session.best_gradient)
            if session.HasField("best_gradient") else None,
            pending_trial_ids=list(session.pending_trial_ids),
            history=[HistoryEntry.from_proto(h) for h in session.history],
            history_overview=[HistoryEntry.from_proto(h)
                              for h in session.history_overview],
            summary=Summary.from_proto(session.summary)
            if session.HasField("summary") else None,
            options=options_to_dict(getattr(session, which)) if which else {},
            vector_encoding=_enum(VectorEncoding, session.vector_encoding),
            tells=session.tells, durable_step=session.durable_step,
            damage=session.damage,
            leases=[(lease.trial_id, lease.worker_id, _time(lease.expire_time))
                    for lease in session.leases],
            bounds=_bounds(session.bounds, session.dimension)
            if session.HasField("bounds") else None,
            gradient_source=(_enum(GradientSource, session.gradient_source)
                             or GradientSource.CLIENT),
            finite_difference=options_to_dict(session.finite_difference, True)
            if session.HasField("finite_difference") else None,
            gradient_check=options_to_dict(session.gradient_check, True)
            if session.HasField("gradient_check") else None,
            data_parallel_workers=max(1, session.data_parallel.workers),
            gradient_checks=[GradientCheck.from_proto(c)
                             for c in session.gradient_checks],
            trial_log=[TrialRecord.from_proto(r) for r in session.trial_log],
            trial_log_dropped=session.trial_log_dropped,
            lease_seconds=session.lease_seconds,
            proto=session)


def _bounds(bounds: pb.Bounds, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of a ``Bounds``, an unset side as n infinities."""
    lower, upper = decode(bounds.lower), decode(bounds.upper)
    if lower.size == 0:
        lower = np.full(n, -np.inf)
    if upper.size == 0:
        upper = np.full(n, np.inf)
    return lower, upper
