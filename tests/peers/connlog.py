"""The log every scripted peer keeps: each TCP connection it opened or
accepted, what it wrote and read there, and whether it closed it.

Tests assert the connection model from this log (who dialled whom, how many
frames a receiver read per accepted connection, which connections stay open
and unread), so it records facts only, never timings. ``describe`` turns it
into a few lines for an assertion message, which is how a failing interop
test says what went wrong (for example: bytes waiting unread on a
registration connection that the peer never reads again).
"""

from __future__ import annotations

import errno
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import trio

_ACCEPT_CAPACITY_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}

# How many waiting bytes ``unread_bytes`` looks at, at most.
_PEEK_LIMIT = 1 << 20


@dataclass(eq=False)
class Conn:
    """One TCP connection as seen by the scripted peer that holds it."""

    conn_id: int
    owner: str
    # True when ``owner`` dialled it, False when ``owner`` accepted it.
    dialled: bool
    # What it was opened or accepted for ("registration", "manifest",
    # "probe", "data", "accepted", ...); accepted ones are relabelled with
    # the type of the frame that came in.
    purpose: str
    local: str
    remote: str
    stream: trio.SocketStream = field(repr=False)
    written: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    # Receive calls made on it (the Go peer makes exactly two per frame).
    read_calls: int = 0
    length_errors: int = 0
    # The other side closed before sending a byte (a reachability probe).
    empty: bool = False
    closed: bool = False
    # Closed only because its owner stopped (the Go peer's process exit).
    closed_at_exit: bool = False

    def _peek(self) -> bytes | None:
        """What waits unread (not consumed); b"" when the other side has
        closed and nothing waits; None when nothing waits on an open
        connection, or this side is closed."""
        if self.closed:
            return None
        try:
            dup = socket.fromfd(self.stream.socket.fileno(), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            return None
        try:
            return dup.recv(_PEEK_LIMIT, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, OSError):
            return None
        finally:
            dup.close()

    def unread_bytes(self) -> int:
        """Bytes the other side sent that are waiting unread in the kernel
        (peeked, not consumed; 0 once closed)."""
        return len(self._peek() or b"")

    def closed_by_other_side(self) -> bool:
        """The other side closed it and nothing is left to read."""
        return self._peek() == b""


@dataclass(frozen=True)
class LogEvent:
    owner: str
    # "dial", "accept", "write", "read", "length-error", "empty", "close",
    # "unexpected", "refused", "no-route"
    kind: str
    conn_id: int
    detail: str = ""


def _address(pair: object) -> str:
    if isinstance(pair, tuple) and len(pair) >= 2:
        return f"{pair[0]}:{pair[1]}"
    return str(pair)


class ConnLog:
    """Shared by any number of scripted peers (pass the same one to a
    registry and its nodes to see both ends of the scripted side)."""

    def __init__(self, *, record: bool = True) -> None:
        # record=False keeps nothing (benchmarks: hundreds of thousands of
        # connections); queries then see an empty log.
        self.record = record
        self.conns: list[Conn] = []
        self.events: list[LogEvent] = []
        # listening address -> readable name ("registry", "go node 41")
        self.names: dict[str, str] = {}

    def open(self, owner: str, stream: trio.SocketStream, *, dialled: bool, purpose: str) -> Conn:
        sock = stream.socket
        conn = Conn(
            conn_id=len(self.conns) if self.record else -1,
            owner=owner,
            dialled=dialled,
            purpose=purpose,
            local=_address(sock.getsockname()),
            remote=_address(sock.getpeername()),
            stream=stream,
        )
        if self.record:
            self.conns.append(conn)
            self.event(conn, "dial" if dialled else "accept", conn.remote)
        return conn

    def event(self, conn: Conn, kind: str, detail: str = "") -> None:
        if self.record:
            self.events.append(LogEvent(conn.owner, kind, conn.conn_id, detail))

    def note(self, owner: str, kind: str, detail: str = "") -> None:
        """An event tied to no connection (a refused dial, a lost packet)."""
        self.events.append(LogEvent(owner, kind, -1, detail))

    async def close(self, conn: Conn, *, at_exit: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        conn.closed_at_exit = at_exit
        self.event(conn, "close", "exit" if at_exit else "")
        with trio.CancelScope(shield=True):
            await conn.stream.aclose()

    # --- queries ------------------------------------------------------------

    def of(self, owner: str | None = None, **match: object) -> list[Conn]:
        """Connections of ``owner`` (all when None) whose attributes equal
        ``match`` (e.g. ``purpose="data"``, ``dialled=False``)."""
        return [
            c
            for c in self.conns
            if (owner is None or c.owner == owner)
            and all(getattr(c, key) == value for key, value in match.items())
        ]

    def kinds(self, kind: str, owner: str | None = None) -> list[LogEvent]:
        return [e for e in self.events if e.kind == kind and (owner is None or e.owner == owner)]

    def length_errors(self) -> list[Conn]:
        return [c for c in self.conns if c.length_errors]

    def describe(self, owners: Iterable[str] | None = None) -> str:
        """A short account per owner: accepted connections by frame type,
        length errors, unexpected frames, bytes left unread on connections
        the owner never reads again."""
        wanted = list(owners) if owners is not None else sorted({c.owner for c in self.conns})
        lines = []
        for owner in wanted:
            mine = self.of(owner)
            accepted = Counter(
                c.read[0] if c.read else ("empty" if c.empty else "nothing")
                for c in mine
                if not c.dialled
            )
            unread = [f"{c.purpose}#{c.conn_id}={n}" for c in mine if (n := c.unread_bytes())]
            unexpected = [e.detail for e in self.kinds("unexpected", owner)]
            errors = sum(c.length_errors for c in mine)
            lines.append(
                f"{owner}: accepted {dict(accepted)}; dialled {len([c for c in mine if c.dialled])}; "
                f"length errors {errors}; unexpected {unexpected[:5]}; unread bytes {unread[:8]}"
            )
        return "\n".join(lines)


async def _connect(host: str, port: int) -> trio.SocketStream:
    """A plain connect (no happy-eyeballs machinery: the peers dial a
    literal address, and the benchmark dials hundreds of thousands)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    # SocketStream sets TCP_NODELAY, as Go does.
    return trio.SocketStream(sock)


class ConnOwner:
    """The connections one scripted peer holds open, so that stopping it
    closes them all, as the end of a real peer's process does."""

    def __init__(self, log: ConnLog, name: str) -> None:
        self.log = log
        self.name = name
        self.held: set[Conn] = set()

    async def dial(self, host: str, port: int, purpose: str) -> Conn:
        stream = await _connect(host, port)
        conn = self.log.open(self.name, stream, dialled=True, purpose=purpose)
        self.held.add(conn)
        return conn

    def adopt(self, stream: trio.SocketStream) -> Conn:
        conn = self.log.open(self.name, stream, dialled=False, purpose="accepted")
        self.held.add(conn)
        return conn

    async def serve(
        self,
        listeners: Sequence[trio.SocketListener],
        handler: Callable[[trio.SocketStream], Awaitable[object]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on ``listeners`` and run ``handler`` per connection until
        cancelled. Unlike trio.serve_listeners, a connection is NOT closed
        when its handler returns: the peer decides (the Go port never
        closes what it accepted)."""
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener, handler, nursery)
            task_status.started()

    async def _accept_loop(
        self,
        listener: trio.SocketListener,
        handler: Callable[[trio.SocketStream], Awaitable[object]],
        nursery: trio.Nursery,
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                # Out of descriptors or buffers: the kernel keeps the
                # backlog; try again shortly, as trio.serve_listeners does.
                if exc.errno not in _ACCEPT_CAPACITY_ERRORS:
                    raise
                self.log.note(self.name, "accept-error", str(exc))
                await trio.sleep(0.1)
                continue
            nursery.start_soon(handler, stream)

    async def close(self, conn: Conn) -> None:
        self.held.discard(conn)
        await self.log.close(conn)

    async def close_all(self) -> None:
        while self.held:
            await self.log.close(self.held.pop(), at_exit=True)


@contextmanager
def explained(log: ConnLog, said: Sequence[str] = ()) -> Iterator[None]:
    """Re-raise a timeout or failed assertion with the scripted peers'
    account of their connections and the last lines the system under test
    said, so a failing interop test tells what went wrong."""
    try:
        yield
    except (trio.TooSlowError, AssertionError) as exc:
        lines = "\n".join(list(said)[-15:])
        raise AssertionError(
            f"{exc!r}\n--- scripted peers ---\n{log.describe()}\n--- the other side said ---\n{lines}"
        ) from exc
