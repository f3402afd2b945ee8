"""The registry side of ``check node``: one listening socket for every copy
under test, recording every frame.

The registry keeps one log of everything the copies sent it (messages,
malformed frames, closed connections), each entry charged to the copy whose
connection it came on, so a case can ask "did copy 2 send a summary before
it was requested?" after the fact. Copies are started one at a time and a
connection belongs to the copy being started when its registration arrives:
that is how the checker tells the copies' connections apart (their messages
alone cannot say who sent them before an id is given).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import trio

from trio_dht.checker.frames import FrameEvent, StreamDecoder
from trio_dht.checker.node_links import CHUNK, Recorded, dial_once
from trio_dht.transport import peer_host
from trio_dht.wire import Dialect
from trio_dht.wire.messages import Message

log = logging.getLogger(__name__)


@attrs.define
class Control:
    """An entry of the registry-side log: a frame, or a connection closing."""

    time: float
    connection: int
    event: FrameEvent | None  # None: the connection was closed by the node
    copy: int | None = None  # the copy it came from, when known
    consumed: bool = False

    @property
    def message(self) -> Message | None:
        return self.event.message if self.event is not None else None


class Harness:
    def __init__(
        self, dialect: Dialect, host: str, nursery: trio.Nursery, per_message: bool = False
    ) -> None:
        self.dialect = dialect
        # One message per connection (the seed's Go port): control goes on a
        # fresh connection to the node's listening address.
        self.per_message = per_message
        self.host = host
        self.nursery = nursery
        self.frames: list[Recorded] = []
        self.control: list[Control] = []
        self.connections = 0
        self.streams: dict[int, trio.SocketStream] = {}
        self.owner: dict[int, int] = {}  # registry connection -> copy
        self.control_streams: dict[int, trio.SocketStream] = {}  # copy -> its registration's
        self.peer_hosts: dict[int, str] = {}  # copy -> the address its connection comes from
        self.addresses: dict[int, tuple[str, int]] = {}  # copy -> its registered address
        # The copy being started: a new connection that speaks is its. With a
        # single copy every connection is its (per-message peers dial anew).
        self.claiming: int | None = None
        self.only_copy: int | None = None
        self.by_id: dict[int, int] = {}  # node id -> copy
        self.errors: list[str] = []
        self._changed = trio.Event()
        self.registry_port = 0

    # --- waiting on events ----------------------------------------------------

    def poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds; False when ``timeout`` ran out."""
        with trio.move_on_after(timeout):
            while not predicate():
                await self._changed.wait()
            return True
        return predicate()

    def pending(self, cls: type, copy: int) -> Control | None:
        """The first not yet consumed message of type ``cls`` from ``copy``."""
        for entry in self.control:
            if entry.copy == copy and not entry.consumed and isinstance(entry.message, cls):
                return entry
        return None

    async def expect(self, cls: type, timeout: float, copy: int) -> Control | None:
        """Take the first not yet consumed message of type ``cls`` from ``copy``."""
        if not await self.until(lambda: self.pending(cls, copy) is not None, timeout):
            return None
        found = self.pending(cls, copy)
        assert found is not None
        found.consumed = True
        return found

    def entries_of(self, copy: int) -> list[Control]:
        return [e for e in self.control if e.copy == copy]

    def closed_since(self, time: float, connection: int) -> bool:
        """The node closed registry connection ``connection`` at or after ``time``."""
        return any(e.event is None and e.time >= time and e.connection == connection
                   for e in self.control)  # fmt: skip

    # --- the registry side ----------------------------------------------------

    async def serve_registry(self, *, task_status: trio.TaskStatus[int]) -> None:
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        self.registry_port = int(listeners[0].socket.getsockname()[1])
        task_status.started(self.registry_port)
        await trio.serve_listeners(self._registry_connection, listeners)

    def _claim(self, number: int, stream: trio.SocketStream, event: FrameEvent) -> int | None:
        copy = self.owner.get(number)
        if copy is not None:
            return copy
        copy = self.claiming if self.claiming is not None else self.only_copy
        if copy is None:
            # A later connection of a copy already registered (a deregistration
            # on a fresh connection): the id it names says whose it is.
            copy = self.by_id.get(getattr(event.message, "node_id", -1))
        if copy is not None:
            self.owner[number] = copy
            if copy not in self.control_streams:
                self.control_streams[copy] = stream
                self.peer_hosts[copy] = peer_host(stream)
        return copy

    async def _registry_connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        decoder = StreamDecoder(self.dialect.name)
        self.streams[number] = stream
        async with stream:
            try:
                while data := await stream.receive_some(CHUNK):
                    for event in decoder.feed(data):
                        self._log_control(number, event, self._claim(number, stream, event))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            for event in decoder.close():
                self._log_control(number, event, self._claim(number, stream, event))
            self.control.append(Control(trio.current_time(), number, None, self.owner.get(number)))
            self.poke()

    def _log_control(self, number: int, event: FrameEvent, copy: int | None) -> None:
        now = trio.current_time()
        where = "registry" if copy is None else f"registry (copy {copy})"
        self.frames.append(Recorded(now, where, "node->registry", event))
        self.control.append(Control(now, number, event, copy))
        if copy is None:
            log.warning("a frame on registry connection %d no copy claims", number)
        self.poke()

    async def send_control(
        self, message: Message, copy: int, reply_to: Control | None = None
    ) -> bool:
        """Send ``message`` to ``copy``: on the connection ``reply_to`` came
        on, else on its registration connection (or a fresh connection to its
        listening address, one message per connection)."""
        frame = self.dialect.encode(message)
        event = FrameEvent(0, frame, message)
        now = trio.current_time()
        self.frames.append(Recorded(now, f"registry (copy {copy})", "registry->node", event))
        stream = self.control_streams.get(copy)
        address = self.addresses.get(copy)
        if reply_to is not None:
            stream = self.streams.get(reply_to.connection)
        elif self.per_message and address is not None:
            return await dial_once(self.nursery, address, frame, self.errors)
        try:
            if stream is not None:
                await stream.send_all(frame)
                return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        # The connection is gone: a per-message node takes its answer on a
        # fresh connection to its listening address.
        if self.per_message and address is not None:
            return await dial_once(self.nursery, address, frame, self.errors)
        return False

    def forget(self, copy: int) -> None:
        """Before a fresh process plays ``copy``: its control is new."""
        self.control_streams.pop(copy, None)
        self.peer_hosts.pop(copy, None)
        self.addresses.pop(copy, None)
        for number in [n for n, c in self.owner.items() if c == copy]:
            del self.owner[number]
        for entry in self.entries_of(copy):
            entry.consumed = True
