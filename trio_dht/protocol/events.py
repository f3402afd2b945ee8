"""Events into a protocol core and actions out of it, for both roles.

A connection is known to a core only by an integer the service chose (its
``ConnId``) and the role the service opened it in; the core never holds a
socket. Events carry the time the service read from its clock, so timers are
plain comparisons and tests choose the time.
"""

from __future__ import annotations

import enum
import logging

import attrs

from trio_dht.protocol.report import RunResult
from trio_dht.wire.messages import Message

ConnId = int


class ConnRole(enum.Enum):
    """How a connection came to be, which bounds what may arrive on it."""

    # Registry side: a connection the registry accepted. Until a node
    # registers on it, its sender is a stranger.
    ACCEPTED = "accepted"
    # Node side: the connection the node opened to register.
    REGISTRATION = "registration"
    # Node side: a connection accepted on the node's listening port.
    LISTENER = "listener"
    # Either side: a connection we dialled for one message and its answer.
    DIALLED = "dialled"


# --- events --------------------------------------------------------------


@attrs.frozen
class Opened:
    """A connection was opened; ``host`` is the peer's real address."""

    conn: ConnId
    role: ConnRole
    host: str


@attrs.frozen
class Closed:
    """A connection ended (closed by the peer, broken, or closed by us)."""

    conn: ConnId


@attrs.frozen
class Received:
    """A decoded control message arrived on ``conn``. ``variant`` is the wire
    form the peer used, when the message showed it (see
    ``Dialect.detect_variant``)."""

    conn: ConnId
    message: Message
    variant: str | None = None


@attrs.frozen
class Tick:
    """Time passed; timers due by ``now`` fire."""


@attrs.frozen
class ProbeResult:
    """Registry side: the reachability probe asked for by ``Probe`` ended."""

    conn: ConnId
    reachable: bool
    reason: str = ""


@attrs.frozen
class Unreachable:
    """A message for a node could not be delivered (its writer broke or a
    dial failed)."""

    node_id: int
    reason: str


Event = Opened | Closed | Received | Tick | ProbeResult | Unreachable


# --- actions -------------------------------------------------------------


@attrs.frozen
class Send:
    """Send ``message`` on the open connection ``conn``, in the wire form
    ``variant`` (None: the dialect's canonical form)."""

    conn: ConnId
    message: Message
    variant: str | None = None


@attrs.frozen
class Dial:
    """Deliver ``message`` on a fresh connection to ``host:port``, in one
    write (peers of the one-message-per-connection kind read one frame per
    connection). Frames dialled under the same ``key`` keep their order.
    ``await_reply``: read one frame back on that connection and feed it in
    as a ``Received`` on a new ``DIALLED`` connection."""

    key: str
    host: str
    port: int
    message: Message
    variant: str | None = None
    await_reply: bool = False


@attrs.frozen
class Close:
    """Close ``conn`` once what was queued for it is written; ``reason`` is
    logged once at ``level``, naming the peer."""

    conn: ConnId
    reason: str
    level: int = logging.WARNING


@attrs.frozen
class Probe:
    """Registry side: try one connection to ``host:port`` and answer with a
    ``ProbeResult`` for ``conn``."""

    conn: ConnId
    host: str
    port: int


@attrs.frozen
class Say:
    """A line for the user's console."""

    text: str


@attrs.frozen
class Log:
    """A line for the log only (``level`` as in the logging module). Lines
    with the same ``aggregate`` key may be counted instead of repeated (a
    flood of one kind from one host is one line per interval)."""

    level: int
    text: str
    aggregate: tuple[str, ...] | None = None


@attrs.frozen
class RunEnded:
    """Registry side: a run ended with this result."""

    result: RunResult


@attrs.frozen
class Forget:
    """Registry side: node ``node_id`` is gone; drop whatever reaches it
    (its dial queue)."""

    key: str


Action = Send | Dial | Close | Probe | Say | Log | RunEnded | Forget
