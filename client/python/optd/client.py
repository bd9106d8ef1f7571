"""A connection to one optd server: session management and health.

    >>> import optd
    >>> client = optd.connect("localhost:50051")
    >>> client.health()
    'SERVING'
    >>> with client.create_session([-1.2, 1.0], "lbfgs", {"gtol": 1e-8}) as s:
    ...     summary = s.run(rosen_with_gradient)
    >>> [s.session_id for s in client.list_sessions(labels={"team": "a"})]
    ['rosen-1', 'rosen-2']

Every refused call raises an :class:`optd.OptdError` subclass carrying the
gRPC code and the server's message (optd/errors.py).

Thread-safety: a Client is thread-safe (one gRPC channel, shared).
"""

import os
from typing import Any, Iterator, Mapping, Optional, Sequence, Tuple
import weakref

import grpc
import numpy as np

from ._proto import health_pb2
from ._proto import optimizer_pb2 as pb
from ._transport import DEFAULT_MAX_MESSAGE_BYTES, Transport, channel_factory
from .errors import InvalidArgument, Unavailable
from .messages import SessionInfo, SessionState
from .bounds import bounds_message
from .options import (FIRST_ORDER, finite_difference_options,
                      gradient_check_options, gradient_source_value,
                      solver_options)
from .session import Session
from .vectors import (EncodingLike, VectorEncoding, as_array, encode,
                      resolve_encoding)

__all__ = ["connect", "Client", "DEFAULT_ADDRESS",
           "DEFAULT_MAX_MESSAGE_BYTES"]

#: Where connect() goes when given no address: $OPTD_ADDRESS, else this.
DEFAULT_ADDRESS = "localhost:50051"
# DEFAULT_MAX_MESSAGE_BYTES (optd/_transport.py): 1 GiB + 1 MiB, a 1 GiB
# vector with room for the rest of its message.


def connect(address: Optional[str] = None, timeout: Optional[float] = None,
            max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, *,
            connect_timeout: Optional[float] = 10.0,
            credentials: Optional[grpc.ChannelCredentials] = None,
            bearer_token: Optional[str] = None,
            tls_ca: Optional[str] = None,
            tls_cert: Optional[str] = None,
            tls_key: Optional[str] = None,
            tls_server_name: Optional[str] = None,
            channel_options: Sequence[Tuple[str, Any]] = ()) -> "Client":
    """Opens a channel to the optd server at ``address`` ("host:port" or
    any gRPC target) and returns a :class:`Client`.

    Args:
      address: default ``$OPTD_ADDRESS``, else "localhost:50051".
      timeout: deadline in seconds of each unary call (None: none). Streams
        have no deadline: an optimization may run for days.
      max_message_bytes: largest message sent or received.
      connect_timeout: how long to wait for the server to accept the
        connection (None or 0: do not wait; connect on the first call).
      credentials: ``grpc.ssl_channel_credentials(...)`` for TLS; default
        plaintext (or TLS from the ``tls_*`` files).
      bearer_token: sent as "authorization: Bearer <token>" (a server with
        --tokens_file); default ``$OPTD_TOKEN`` when set.
      tls_ca: PEM file of the CA the server's certificate chains to; setting
        it (or tls_cert) connects with TLS.
      tls_cert, tls_key: PEM client certificate and key, for a server with
        mutual TLS (--tls_client_ca).
      tls_server_name: the name the server's certificate must carry when it
        is not the host of ``address``.
      channel_options: extra gRPC channel arguments.

    Raises:
      Unavailable: nothing answered at ``address`` within connect_timeout.
    """
    address = address or os.environ.get("OPTD_ADDRESS") or DEFAULT_ADDRESS
    if not 1 <= max_message_bytes < 2 ** 31:
        raise InvalidArgument(f"max_message_bytes is {max_message_bytes}; "
                              "range [1, 2^31 - 1]")
    options = [("grpc.max_send_message_length", max_message_bytes),
               ("grpc.max_receive_message_length", max_message_bytes),
               *channel_options]
    if credentials is None and (tls_ca or tls_cert or tls_server_name):
        credentials = tls_credentials(tls_ca, tls_cert, tls_key)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    if bearer_token is None:
        bearer_token = os.environ.get("OPTD_TOKEN") or None
    # The other replicas of a sharded session get the same settings.
    open_channel = channel_factory(credentials, options)
    channel = open_channel(address)
    if connect_timeout:
        try:
            grpc.channel_ready_future(channel).result(timeout=connect_timeout)
        except grpc.FutureTimeoutError:
            channel.close()
            raise Unavailable(f"no optd server answered at {address} within "
                              f"{connect_timeout:g} s") from None
    metadata = (("authorization", f"Bearer {bearer_token}"),) if (
        bearer_token) else ()
    client = Client(channel, address=address, timeout=timeout,
                    metadata=metadata)
    client.transport.open_channel = open_channel
    return client


def tls_credentials(ca: Optional[str] = None, cert: Optional[str] = None,
                    key: Optional[str] = None) -> grpc.ChannelCredentials:
    """TLS channel credentials from PEM files: ``ca`` verifies the server
    (None: the system's roots); ``cert`` and ``key`` (both or neither) are
    the client's certificate for mutual TLS.

    Raises:
      InvalidArgument: a file cannot be read, or only one of cert and key.
    """
    if bool(cert) != bool(key):
        raise InvalidArgument("tls_cert and tls_key go together: set both "
                              "for mutual TLS, or neither")

    def read(path: Optional[str], what: str) -> Optional[bytes]:
        if not path:
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise InvalidArgument(f"cannot read the {what} file {path}: "
                                  f"{e.strerror}") from None

    return grpc.ssl_channel_credentials(
        root_certificates=read(ca, "CA"), private_key=read(key, "key"),
        certificate_chain=read(cert, "certificate"))


class Client:
    """Session management on one optd server; see :func:`connect`.

    Attributes:
      address: the server's address, as given to connect().
      transport: the channel, deadline and metadata that this client and its
        sessions call through (optd/_transport.py).
    """

    def __init__(self, channel: grpc.Channel, address: str = "",
                 timeout: Optional[float] = None,
                 metadata: Sequence[Tuple[str, str]] = ()) -> None:
        self.address = address
        self.transport = Transport(channel, timeout, metadata)
        self._sessions: "weakref.WeakSet[Session]" = weakref.WeakSet()

    @property
    def channel(self) -> grpc.Channel:
        """The gRPC channel to the server."""
        return self.transport.channel

    @property
    def stub(self) -> Any:
        """The generated stub, for requests this class has no method for."""
        return self.transport.stub

    @property
    def timeout(self) -> Optional[float]:
        """Deadline in seconds of each unary call (None: none); settable."""
        return self.transport.timeout

    @timeout.setter
    def timeout(self, timeout: Optional[float]) -> None:
        self.transport.timeout = timeout

    @property
    def metadata(self) -> Tuple[Tuple[str, str], ...]:
        """(key, value) pairs sent with every call; settable."""
        return self.transport.metadata

    @metadata.setter
    def metadata(self, metadata: Sequence[Tuple[str, str]]) -> None:
        self.transport.metadata = tuple(metadata)

    def _unary(self, method: str, request: Any, stub: Any = None) -> Any:
        return self.transport.unary(method, request, stub)

    # -- health ---------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING", "UNKNOWN" or
        "SERVICE_UNKNOWN". ``service`` "" is the whole server,
        "optd.v1.Optimizer" the optimizer service."""
        response = self._unary(
            "Check", health_pb2.HealthCheckRequest(service=service),
            stub=self.transport.health_stub)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(
            response.status)

    # -- sessions -------------------------------------------------------------

    def _create_request(self, x0: Any, solver: str,
                        options: Optional[Mapping[str, Any]],
                        session_id: Optional[str],
                        labels: Optional[Mapping[str, str]],
                        encoding: EncodingLike, shards: int,
                        ttl: Optional[float] = None,
                        lease: Optional[float] = None,
                        checkpoint_interval: Optional[int] = None,
                        bounds: Any = None, gradient_source: Any = None,
                        finite_difference: Any = None,
                        gradient_check: Any = None,
                        data_parallel_workers: Optional[int] = None,
                        layers: Any = None
                        ) -> Tuple[pb.CreateSessionRequest, VectorEncoding]:
        field, message = solver_options(solver, options)
        if encoding is None:
            float32 = ((field in FIRST_ORDER or field == "adafactor")
                       and message.dtype == pb.STATE_DTYPE_FLOAT32)
            resolved = VectorEncoding.F32 if float32 else VectorEncoding.F64
        else:
            resolved = resolve_encoding(encoding)
        request = pb.CreateSessionRequest(
            session_id=session_id or "", labels=dict(labels or {}),
            vector_encoding=resolved, shards=shards,
            ttl_seconds=ttl or 0.0, lease_seconds=lease or 0.0)
        if checkpoint_interval is not None:
            request.durability.checkpoint_interval = checkpoint_interval
        getattr(request, field).CopyFrom(message)
        # x0 travels in the session's precision: float32 state is rounded
        # from float32 input exactly as torch holds it.
        x0_encoding = (VectorEncoding.F32 if resolved == VectorEncoding.F32
                       else VectorEncoding.F64)
        encode(np.asarray(as_array(x0)), x0_encoding, request.x0)
        box = bounds_message(bounds, _dimension(request))
        if box is not None:
            request.bounds.CopyFrom(box)
        fd = finite_difference_options(finite_difference)
        if fd is not None:
            request.finite_difference.CopyFrom(fd)
            if gradient_source is None:  # the options imply the source
                gradient_source = "finite_difference"
        request.gradient_source = gradient_source_value(gradient_source)
        check = gradient_check_options(gradient_check)
        if check is not None:
            request.gradient_check.CopyFrom(check)
        if data_parallel_workers is not None:
            request.data_parallel.workers = int(data_parallel_workers)
        for layer in layers or ():
            rows, cols = layer
            request.layers.add(rows=int(rows), cols=int(cols))
        return request, resolved

    def create_session(self, x0: Any, solver: str = "lbfgs",
                       options: Optional[Mapping[str, Any]] = None, *,
                       session_id: Optional[str] = None,
                       labels: Optional[Mapping[str, str]] = None,
                       encoding: EncodingLike = None, shards: int = 0,
                       keep: bool = False, ttl: Optional[float] = None,
                       lease: Optional[float] = None,
                       checkpoint_interval: Optional[int] = None,
                       direct: bool = True, bounds: Any = None,
                       gradient_source: Any = None,
                       finite_difference: Any = None,
                       gradient_check: Any = None,
                       data_parallel_workers: Optional[int] = None,
                       layers: Any = None
                       ) -> Session:
        """Opens a session (``CreateSession``) and returns its handle, with
        the first trial in ``session.pending``.

        Args:
          x0: the starting point (array-like; its size is n).
          solver: "lbfgs" (also "L-BFGS-B"), "adam", "adamw", "sgd",
            "rmsprop", "adagrad", "adamax", "nadam", "radam", "lion" (torch's
            class names, "SGD", "RMSprop", "NAdam", ..., work too),
            "adafactor" or "trust-region".
          options: solver options by field name (optd/options.py lists the
            scipy/torch aliases), e.g. ``{"maxiter": 100, "gtol": 1e-8}`` or
            ``{"lr": 1e-3, "betas": (0.9, 0.999), "dtype": "float32"}``.
          session_id: 1-63 characters of [a-z0-9-]; default server-chosen.
          labels: for list_sessions filters.
          encoding: how the server sends vectors: default raw float64 bytes
            (float32 for the float32 state of Adam and the rest of the
            first-order family); "values" for packed doubles.
          shards: replicas to split the state over (ZeRO stage 1; 0 or 1:
            one). The server needs --peers; see docs/sharding.md.
          keep: keep the session when the handle is closed or its ``with``
            block ends (default: delete it).
          ttl: seconds of idleness after which the server deletes the
            session (default: the server's --session_ttl_seconds).
          lease: seconds an ``ask(worker_id=...)`` leases a trial (default:
            the server's --lease_seconds).
          checkpoint_interval: 0 makes every tell durable before its answer;
            N > 0 syncs every N tells (default: 0 up to the server's
            --durable_tell_max_dimension, larger sessions checkpoint).
          direct: for a sharded session, exchange gradients and points with
            each replica directly instead of through this server (default).
          bounds: a box lower <= x <= upper (optd/bounds.py): ``(lower,
            upper)`` with array-likes, scalars or None per side (+-inf
            allowed), a ``scipy.optimize.Bounds``, or n ``(lo, hi)`` pairs.
            An x0 outside the box is projected onto it.
          gradient_source: "client" (default: the tells carry gradients) or
            "finite_difference": every trial wants only a value and the
            server forms gradients from finite differences, handing each
            stencil out as a batch of trials that several workers can
            evaluate at once (``Session.work``).
          finite_difference: ``{"scheme": "central" | "forward",
            "relative_step": h}``; default central differences with
            h = cbrt(eps) * max(1, |x_i|). Setting it implies
            gradient_source="finite_difference". A "least_squares" session
            with it wants residuals only and forms each Jacobian from a
            batch of residual trials; its default scheme is
            "minpack_forward", scipy's method='lm' (docs/api.md
            "Finite-difference Jacobians").
          gradient_check: True (check the told gradient at x0), or
            ``{"at_iterations": [0, 10], "every_iterations": k,
            "relative_step": h}``: at those iterations the session also asks
            for the 2n central-difference values around a gradient trial and
            reports the relative error per coordinate in
            ``info().gradient_checks``.
          data_parallel_workers: W > 1: each step's gradient trial goes to W
            workers at once; each tells the gradient of its own data (with
            ``weight=``, e.g. its batch size) and the session steps on the
            weighted mean.
          layers: the model's parameter shapes along x for "adafactor":
            ``(rows, cols)`` pairs in order, ``cols`` 0 for a vector;
            matrices get factored second moments. Default: one vector.

        Raises:
          InvalidArgument: bad options or x0 (the message names the field).
          AlreadyExists: ``session_id`` is in use.
          ResourceExhausted: --max_sessions or --max_dimension reached.
        """
        request, resolved = self._create_request(
            x0, solver, options, session_id, labels, encoding, shards, ttl,
            lease, checkpoint_interval, bounds, gradient_source,
            finite_difference, gradient_check, data_parallel_workers, layers)
        response = self._unary("CreateSession", request)
        session = Session(self, response.session_id, _dimension(request),
                          resolved, response.trials, keep=keep,
                          base_points=response.base_points)
        self._sessions.add(session)
        if shards > 1 and direct:
            session.enable_direct_path()
        return session

    def optimize(self, x0: Any, solver: str = "lbfgs",
                 options: Optional[Mapping[str, Any]] = None, *,
                 session_id: Optional[str] = None,
                 labels: Optional[Mapping[str, str]] = None,
                 encoding: EncodingLike = None, keep: bool = False,
                 bounds: Any = None, gradient_source: Any = None,
                 finite_difference: Any = None, gradient_check: Any = None
                 ) -> Session:
        """As :meth:`create_session`, but opens the session with the first
        message of an ``Optimize`` stream, which its ``trials()`` and
        ``run()`` then continue (no separate CreateSession round trip)."""
        request, resolved = self._create_request(
            x0, solver, options, session_id, labels, encoding, 0,
            bounds=bounds, gradient_source=gradient_source,
            finite_difference=finite_difference,
            gradient_check=gradient_check)
        stream = self.transport.open_stream(
            pb.OptimizeRequest(create=request))
        session = Session(self, stream.session_id, _dimension(request),
                          resolved, keep=keep, stream=stream)
        self._sessions.add(session)
        return session

    def session(self, session_id: str, keep: bool = True,
                direct: bool = True) -> Session:
        """A handle on an existing session (e.g. made by another worker),
        with its outstanding trials in ``pending``. By default the handle
        does not delete the session when closed. A sharded session uses
        the direct data path unless ``direct`` is False."""
        info = self.get_session(session_id)
        encoding = (VectorEncoding(info.vector_encoding)
                    if info.vector_encoding else VectorEncoding.F64)
        if encoding == VectorEncoding.VALUES:
            encoding = VectorEncoding.F64  # numpy clients get raw bytes
        session = Session(self, session_id, info.dimension, encoding,
                          keep=keep)
        session.state = info.state
        session._summary = info.summary
        if direct and info.proto.shard_map:
            session.enable_direct_path()
        if not info.state.finished:
            session.ask_all()
        self._sessions.add(session)
        return session

    def get_session(self, session_id: str, include_x: bool = False,
                    encoding: EncodingLike = None, *,
                    include_trials: bool = False,
                    trials_after_id: int = 0,
                    include_gradient: bool = False,
                    include_history_overview: bool = False) -> SessionInfo:
        """``GetSession``: state, counters, best value, resolved options,
        recent history, gradient checks, the summary once ended; best_x
        with ``include_x`` (raw float64 bytes unless ``encoding`` says
        otherwise); with ``include_trials`` the trial log in ``trial_log``
        (every applied tell: point, value, worker, note, ...), only the
        trials after ``trials_after_id`` when it is set; with
        ``include_gradient`` (L-BFGS) the gradient at best_x in
        ``best_gradient`` (FailedPrecondition for solvers that hold none);
        with ``include_history_overview`` the whole run, decimated to at
        most 513 iterates, in ``history_overview``."""
        resolved = resolve_encoding(encoding)
        if resolved == VectorEncoding.UNSPECIFIED:
            resolved = VectorEncoding.F64
        response = self._unary("GetSession", pb.GetSessionRequest(
            session_id=session_id, include_x=include_x, encoding=resolved,
            include_trials=include_trials, trials_after_id=trials_after_id,
            include_gradient=include_gradient,
            include_history_overview=include_history_overview))
        return SessionInfo.from_proto(response)

    def list_sessions(self, state: Optional[Any] = None,
                      labels: Optional[Mapping[str, str]] = None,
                      page_size: int = 100) -> Iterator[SessionInfo]:
        """Every session (``ListSessions``, following page tokens), in id
        order, optionally only those in ``state`` (a SessionState or its
        name) carrying all of ``labels``. Without vectors or history."""
        request = pb.ListSessionsRequest(
            page_size=page_size, state=_state_value(state),
            labels=dict(labels or {}))
        while True:
            response = self._unary("ListSessions", request)
            for session in response.sessions:
                yield SessionInfo.from_proto(session)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def export_session(self, session_id: str,
                       compact: bool = False) -> pb.SessionSnapshot:
        """``ExportSession``: the session as a versioned
        ``optd.v1.SessionSnapshot`` (creation request and every tell; with
        ``compact``, its state now as one checkpoint and no tells); save
        it with ``snapshot.SerializeToString()``. FailedPrecondition from a
        server without --data_dir."""
        return self._unary("ExportSession", pb.ExportSessionRequest(
            session_id=session_id, compact=compact))

    def import_session(self, snapshot: Any, session_id: Optional[str] = None,
                       keep: bool = True, shards: int = 0) -> Session:
        """``ImportSession``: recreates an exported session (a
        ``SessionSnapshot`` or its serialized bytes) under ``session_id``
        (default: the snapshot's) and returns a handle whose pending trial is
        bitwise the exported session's. ``shards`` > 0 reshards it over
        that many replicas (0: the snapshot's count)."""
        if isinstance(snapshot, (bytes, bytearray, memoryview)):
            snapshot = pb.SessionSnapshot.FromString(bytes(snapshot))
        response = self._unary("ImportSession", pb.ImportSessionRequest(
            snapshot=snapshot, session_id=session_id or "", shards=shards))
        return self.session(response.session_id, keep=keep)

    def fork_session(self, session_id: str, step: Optional[int] = None, *,
                     new_session_id: Optional[str] = None, shards: int = 0,
                     options: Optional[Mapping[str, Any]] = None,
                     labels: Optional[Mapping[str, str]] = None,
                     ttl: Optional[float] = None,
                     lease: Optional[float] = None,
                     keep: bool = True) -> Session:
        """``ForkSession``: a new session from ``step`` (tells applied;
        default the source's last durable step) of ``session_id``, its state
        there bitwise, under ``new_session_id`` (default server-chosen), on
        ``shards`` replicas (0: the source's). ``options`` change the
        solver's hyperparameters from that step on (first-order family only,
        e.g. ``{"lr": 3e-4, "betas": (0.9, 0.99)}``; fields not named keep
        the source's values); ``labels``, ``ttl`` and ``lease`` replace the
        source's. The source is unchanged. Returns a handle (kept when
        closed, unless ``keep`` is False) with the fork's trials pending.

        Raises:
          InvalidArgument: a step the source's journal does not hold (the
            message gives the range), or options the solver refuses.
          NotFound: no such session."""
        overrides = pb.CreateSessionRequest(
            labels=dict(labels or {}), ttl_seconds=ttl or 0.0,
            lease_seconds=lease or 0.0)
        if options:
            field, message = solver_options(
                self.get_session(session_id).solver, options)
            getattr(overrides, field).CopyFrom(message)
        request = pb.ForkSessionRequest(
            session_id=session_id, new_session_id=new_session_id or "",
            shards=shards, overrides=overrides)
        if step is not None:
            request.step = step
        response = self._unary("ForkSession", request)
        return self.session(response.session_id, keep=keep)

    def delete_session(self, session_id: str) -> None:
        """``DeleteSession``: ends the session if running and frees it.
        NotFound when there is no such session."""
        self._unary("DeleteSession",
                    pb.DeleteSessionRequest(session_id=session_id))

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Closes the open streams and the channel (sessions stay)."""
        for session in list(self._sessions):
            session.close_stream()
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"


def _dimension(request: pb.CreateSessionRequest) -> int:
    x0 = request.x0
    return len(x0.f64) // 8 if x0.f64 else len(x0.f32) // 4


def _state_value(state: Any) -> int:
    if state is None:
        return pb.SESSION_STATE_UNSPECIFIED
    if isinstance(state, str):
        return int(SessionState[state.upper().replace("SESSION_STATE_", "")])
    return int(state)
