"""What the torch drop-ins share: the optd session each one owns, closing
it, and moving it through ``state_dict`` / ``load_state_dict``.

A torch optimizer's ``state_dict`` holds its state; an optd optimizer's
state lives on the server. So ``state_dict()["optd"]`` carries the session
exported compactly (``ExportSession`` with ``compact``: the solver state now
as one checkpoint, O(state) bytes, no tells), and ``load_state_dict``
imports it, on this optimizer's server, under a new id, and makes it this
optimizer's session: the run goes on bitwise where the state dict was
taken, on the same or another optd.
"""

import secrets
from typing import Any, Dict, Mapping

from ._proto import optimizer_pb2 as pb
from .errors import InvalidArgument
from .session import Session
from .vectors import decode

__all__ = ["SessionOptimizer"]

# Session ids are at most 63 characters of [a-z0-9-] (server/session).
_MAX_ID = 63


class SessionOptimizer:
    """Mixin of RemoteOptimizer and LBFGS. The class sets ``session``,
    ``client`` and ``_own_client``."""

    session: Session

    def _optd_state(self) -> Dict[str, Any]:
        """state_dict()["optd"]: the session's id and its compact export."""
        snapshot = self.client.export_session(self.session.session_id,
                                              compact=True)
        return {"format": 1, "session_id": self.session.session_id,
                "snapshot": snapshot.SerializeToString()}

    def _adopt(self, optd_state: Any, dimension: int) -> Session:
        """Imports the session of `optd_state` under a new id and makes it
        this optimizer's session; the one it replaces is closed (deleted
        unless ``keep``). InvalidArgument, changing nothing, for a state
        that is not an optd optimizer's or is of another dimension."""
        name = type(self).__name__
        if not isinstance(optd_state, Mapping) or (
                "snapshot" not in optd_state):
            raise InvalidArgument(
                f"the state dict has no optd session (state_dict()['optd']"
                f"['snapshot']); load one made by optd's {name}.state_dict()")
        snapshot = pb.SessionSnapshot.FromString(
            bytes(optd_state["snapshot"]))
        size = decode(snapshot.create.x0).size
        if size != dimension:
            raise InvalidArgument(
                f"the state dict's optd session has dimension {size}; this "
                f"{name}'s parameters have {dimension} elements")
        base = (snapshot.create.session_id or "optd")[:_MAX_ID - 9]
        imported = self.client.import_session(
            snapshot, session_id=f"{base}-{secrets.token_hex(4)}",
            keep=self.session.keep)
        replaced, self.session = self.session, imported
        replaced.close()
        return imported

    def close(self) -> None:
        """Deletes the session (unless ``keep``) and closes the client this
        optimizer opened."""
        session = getattr(self, "session", None)
        if session is not None:
            session.close()
        if getattr(self, "_own_client", False):
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
