"""Accepting connections into a fixed number of slots.

Accepting every connection and closing the surplus at once (what a plain
accept loop plus a counter does) lets strangers lock everyone out: the
legitimate peer is accepted and closed like the rest. ConnectionSlots runs
an accept loop of its own instead:

- While every slot is taken it stops accepting: a dialler waits in the
  kernel's listen backlog (backpressure) instead of being accepted and
  closed.
- If someone is waiting in the backlog while the slots are full, it offers
  the connections to the owner's ``evict`` policy, longest-idle first, and
  closes the first one the policy lets go to make room.
- Running out of descriptors or kernel memory while accepting (EMFILE,
  ENFILE, ENOBUFS, ENOMEM) pauses accepting briefly and logs one warning
  per interval with a count, never a traceback.
- Each connection has a last-progress time that the owner moves forward
  (``slot.progress()``) when the peer does something worth keeping it for,
  and an ``idle_timeout`` the owner may change at any time; a reaper closes
  connections idle for longer.
- An owner's ``keep`` policy may shield some silent connections from both
  the reaper and eviction (a node's peers link to it at setup and may say
  nothing until the run). It is asked every reap interval which of the
  connections that are not members to keep, and it bounds that number
  itself: whatever it keeps, strangers beyond it are still closed.

The server owns each accepted stream: it is closed when the handler
returns or the slot is closed (as trio.serve_listeners does). A handler
closed by the server sees trio.Cancelled; ``slot.closed`` says why.

Usage (a registry: unregistered strangers get 10 s to register, members
none; make room for a newcomer by closing a stranger idle for 2 s)::

    slots = ConnectionSlots(
        limits_from_rlimit().connections,
        idle_timeout=10.0,
        evict=lambda slot: not slot.member and slot.idle_for() > 2.0,
    )

    async def handle(stream: trio.SocketStream, slot: Slot) -> None:
        reader = FrameReader(stream, dialect.framer(), budget=budget)
        try:
            while batch := await reader.receive_batch(frame_timeout=10):
                ...                          # on a registration:
                slot.progress()              # progress toward registering
                slot.member = True           # (owner-defined flag)
                slot.idle_timeout = math.inf # members are not reaped
        finally:
            reader.release()

    listeners = await trio.open_tcp_listeners(port, host=host)
    nursery.start_soon(slots.serve, handle, listeners)

``slots.count(host)`` gives the connections open from one host (for
per-source caps), ``len(slots)`` all of them.
"""

from __future__ import annotations

import errno
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

import trio

from trio_dht.transport.addresses import format_address

log = logging.getLogger(__name__)

# Accept failures that mean "out of a resource", not "bad connection".
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# How long accepting pauses after such a failure.
RESOURCE_PAUSE = 0.1
# At most one warning about them per this many seconds.
WARN_INTERVAL = 1.0
# How often the reaper looks for idle connections.
REAP_INTERVAL = 0.25


class Slot:
    """One accepted connection's place in a ConnectionSlots."""

    __slots__ = (
        "_scope",
        "closed",
        "host",
        "idle_timeout",
        "kept",
        "last_progress",
        "member",
        "opened",
        "port",
    )

    def __init__(self, host: str, port: int, idle_timeout: float) -> None:
        now = trio.current_time()
        self.host = host
        self.port = port
        self.opened = now
        self.last_progress = now
        self.idle_timeout = idle_timeout
        # Free for the owner (e.g. "this connection registered a node").
        self.member = False
        # Shielded by the owner's keep policy (refreshed every reap).
        self.kept = False
        # Why the server closed it ("idle", "evicted"), or None.
        self.closed: str | None = None
        self._scope = trio.CancelScope()

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def progress(self) -> None:
        """The peer made progress: restart its idle time."""
        self.last_progress = trio.current_time()

    def idle_for(self, now: float | None = None) -> float:
        """Seconds since the last progress."""
        return (trio.current_time() if now is None else now) - self.last_progress

    def close(self, reason: str) -> None:
        """End the connection: its handler is cancelled, its stream closed."""
        if self.closed is None:
            self.closed = reason
        self._scope.cancel()


Handler = Callable[[trio.SocketStream, Slot], Awaitable[object]]


class ConnectionSlots:
    """At most ``limit`` accepted connections at once (see module doc).

    ``evict(slot)`` decides whether a connection may be closed to admit
    someone waiting (offered longest-idle first); the default never evicts.
    ``keep(silent)`` picks, from the open connections that are not members,
    those neither the reaper nor eviction may close; the default keeps none.
    An exception from a handler ends ``serve`` (as in trio.serve_listeners):
    handlers catch whatever a peer can cause."""

    def __init__(
        self,
        limit: int,
        *,
        idle_timeout: float = math.inf,
        evict: Callable[[Slot], bool] | None = None,
        keep: Callable[[list[Slot]], Iterable[Slot]] | None = None,
        evict_retry: float = 0.5,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a connection limit must be positive, not {limit}")
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.evict = evict
        self.keep = keep
        self.evict_retry = evict_retry
        self._slots: set[Slot] = set()
        self._per_host: dict[str, int] = {}
        self._freed = trio.Event()
        # Counters for the owner and the tests.
        self.accepted = 0
        self.evicted = 0
        self.reaped = 0
        self.resource_errors = 0
        self._unreported = 0
        self._last_errno = 0
        self._last_warning = -math.inf

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[Slot]:
        return iter(list(self._slots))

    def count(self, host: str) -> int:
        """Connections open from ``host``."""
        return self._per_host.get(host, 0)

    def full(self) -> bool:
        return len(self._slots) >= self.limit

    def longest_idle(self) -> Slot | None:
        return min(self._slots, key=lambda s: s.last_progress, default=None)

    async def serve(
        self,
        handler: Handler,
        listeners: Sequence[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[Sequence[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on every listener until cancelled; run ``handler(stream,
        slot)`` per connection. Closes the listeners when it ends."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reap)
                for listener in listeners:
                    nursery.start_soon(self._accept_loop, listener, handler, nursery)
                task_status.started(listeners)
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()

    async def _accept_loop(
        self, listener: trio.SocketListener, handler: Handler, nursery: trio.Nursery
    ) -> None:
        while True:
            if self.full():
                await self._make_room(listener)
                continue
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS:
                    raise
                self._resource_error(exc)
                await trio.sleep(RESOURCE_PAUSE)
                continue
            if self._unreported:
                self._report_resource_errors(force=True)
            try:
                host, port = stream.socket.getpeername()[:2]
            except OSError:
                # Gone already: nothing to serve.
                await trio.aclose_forcefully(stream)
                continue
            slot = Slot(str(host), int(port), self.idle_timeout)
            self._add(slot)
            self.accepted += 1
            nursery.start_soon(self._run, handler, stream, slot)

    async def _run(self, handler: Handler, stream: trio.SocketStream, slot: Slot) -> None:
        try:
            with slot._scope:
                await handler(stream, slot)
        finally:
            self._remove(slot)
            await trio.aclose_forcefully(stream)

    def _add(self, slot: Slot) -> None:
        self._slots.add(slot)
        self._per_host[slot.host] = self._per_host.get(slot.host, 0) + 1

    def _remove(self, slot: Slot) -> None:
        self._slots.discard(slot)
        left = self._per_host.get(slot.host, 1) - 1
        if left:
            self._per_host[slot.host] = left
        else:
            self._per_host.pop(slot.host, None)
        self._freed.set()
        self._freed = trio.Event()

    async def _make_room(self, listener: trio.SocketListener) -> None:
        """Wait until a slot is free. Meanwhile, when a dialler is waiting
        in the backlog (the listening socket is readable), offer the
        longest-idle connection to the evict policy."""
        freed = self._freed

        async def someone_waiting() -> None:
            await trio.lowlevel.wait_readable(listener.socket)

        if await _first_of(freed.wait, someone_waiting):
            return
        victim = self._choose_victim()
        if victim is not None:
            self.evicted += 1
            log.debug("closing %s (idle %.1f s) to make room", victim.address, victim.idle_for())
            victim.close("evicted")
            await freed.wait()
            return
        # Nobody may go yet: look again later (the dialler keeps waiting).
        with trio.move_on_after(self.evict_retry):
            await freed.wait()

    def _choose_victim(self) -> Slot | None:
        """The longest-idle connection the evict policy lets go (members a
        registry keeps are usually the quietest, so look past them)."""
        if self.evict is None:
            return None
        for slot in sorted(self._slots, key=lambda s: s.last_progress):
            if slot.closed is None and not slot.kept and self.evict(slot):
                return slot
        return None

    async def _reap(self) -> None:
        while True:
            await trio.sleep(REAP_INTERVAL)
            self.refresh_kept()
            now = trio.current_time()
            for slot in list(self._slots):
                if (
                    slot.closed is None
                    and not slot.kept
                    and now - slot.last_progress >= slot.idle_timeout
                ):
                    self.reaped += 1
                    slot.close("idle")

    def refresh_kept(self) -> None:
        """Ask the keep policy again (the reaper does, every interval; an
        owner whose policy changed may call it at once)."""
        if self.keep is None:
            return
        silent = [slot for slot in self._slots if not slot.member and slot.closed is None]
        kept = set(self.keep(silent))
        for slot in self._slots:
            slot.kept = slot in kept

    def _resource_error(self, exc: OSError) -> None:
        self.resource_errors += 1
        self._unreported += 1
        self._last_errno = exc.errno or 0
        self._report_resource_errors()

    def _report_resource_errors(self, force: bool = False) -> None:
        """One warning per WARN_INTERVAL at most, counting the pauses since
        the last one (whatever handler the logs go to)."""
        now = trio.current_time()
        if not force and now - self._last_warning < WARN_INTERVAL:
            return
        name = errno.errorcode.get(self._last_errno, "resource")
        what = "file descriptors" if name in ("EMFILE", "ENFILE") else "kernel memory"
        log.warning(
            "out of %s (%s) accepting connections: paused %d time(s) since the last report, "
            "%d connections open; diallers wait in the listen backlog",
            what,
            name,
            self._unreported,
            len(self._slots),
        )
        self._unreported = 0
        self._last_warning = now


async def _first_of(*waits: Callable[[], Awaitable[Any]]) -> bool:
    """Run the waits concurrently until one returns; True if it was the
    first one."""
    winner: list[int] = []

    async def run(index: int, wait: Callable[[], Awaitable[Any]], scope: trio.CancelScope) -> None:
        await wait()
        if not winner:
            winner.append(index)
        scope.cancel()

    async with trio.open_nursery() as nursery:
        for index, wait in enumerate(waits):
            nursery.start_soon(run, index, wait, nursery.cancel_scope)
    return winner == [0]
