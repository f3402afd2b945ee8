"""The world a node under test lives in: a registry and every other node,
all played by the checker on real sockets, recording every frame.

The registry side keeps one log of everything the node sent it (messages,
malformed frames, closed connections) so a case can ask "did a summary come
before it was requested?" after the fact. The probes are the other nodes of
the overlay: each listens, counts the connections the node under test opens
to it, and feeds every data packet it receives to the ledger. Packets for the
node under test go out on one connection per probe, as a real predecessor's
would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import trio

from trio_dht.checker.frames import FrameEvent, StreamDecoder
from trio_dht.checker.ledger import Arrival, Injected, Ledger
from trio_dht.transport import peer_host
from trio_dht.wire import Dialect
from trio_dht.wire.messages import Data, Message

log = logging.getLogger(__name__)

CHUNK = 65536


@attrs.define
class Recorded:
    """One frame the checker saw or sent (for ``--capture``)."""

    time: float
    where: str  # "registry" or "probe N"
    direction: str  # "node->registry", "registry->node", "node->node"
    event: FrameEvent


@attrs.define
class Control:
    """An entry of the registry-side log: a frame, or a connection closing."""

    time: float
    connection: int
    event: FrameEvent | None  # None: the connection was closed by the node
    consumed: bool = False

    @property
    def message(self) -> Message | None:
        return self.event.message if self.event is not None else None


@attrs.define(eq=False)
class Probe:
    node_id: int
    listener: trio.SocketListener
    port: int
    accepted: list[float] = attrs.field(factory=list)
    others: list[FrameEvent] = attrs.field(factory=list)  # non-data frames received


class Harness:
    def __init__(
        self, dialect: Dialect, host: str, nursery: trio.Nursery, per_message: bool = False
    ) -> None:
        self.dialect = dialect
        # One message per connection (the seed's Go port): control goes on a
        # fresh connection to the node's listening address, packets too.
        self.per_message = per_message
        self.node_address: tuple[str, int] | None = None
        self.streams: dict[int, trio.SocketStream] = {}
        self.host = host
        self.nursery = nursery
        self.frames: list[Recorded] = []
        self.control: list[Control] = []
        self.connections = 0
        self.control_stream: trio.SocketStream | None = None
        self.control_peer_host: str | None = None
        self.probes: dict[int, Probe] = {}
        self.ledger: Ledger | None = None
        self.injectors: dict[int, trio.SocketStream] = {}
        self.inject_errors: list[str] = []
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

    async def expect(self, cls: type, timeout: float) -> Control | None:
        """The first not yet consumed registry-side message of type ``cls``."""
        found: list[Control] = []

        def check() -> bool:
            for entry in self.control:
                if not entry.consumed and isinstance(entry.message, cls):
                    found.append(entry)
                    return True
            return False

        if not await self.until(check, timeout):
            return None
        found[0].consumed = True
        return found[0]

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

    async def _registry_connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        decoder = StreamDecoder(self.dialect.name)
        self.streams[number] = stream
        async with stream:
            try:
                while data := await stream.receive_some(CHUNK):
                    for event in decoder.feed(data):
                        if self.control_stream is None and event.message is not None:
                            self.control_stream = stream
                            self.control_peer_host = peer_host(stream)
                        self._log_control(number, event)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            for event in decoder.close():
                self._log_control(number, event)
            self.control.append(Control(trio.current_time(), number, None))
            self.poke()

    def _log_control(self, number: int, event: FrameEvent) -> None:
        now = trio.current_time()
        self.frames.append(Recorded(now, "registry", "node->registry", event))
        self.control.append(Control(now, number, event))
        self.poke()

    async def send_control(self, message: Message, reply_to: Control | None = None) -> bool:
        """Send ``message`` to the node: on the connection ``reply_to`` came
        on, else on its registration connection (or a fresh connection to its
        listening address, one message per connection)."""
        frame = self.dialect.encode(message)
        event = FrameEvent(0, frame, message)
        self.frames.append(Recorded(trio.current_time(), "registry", "registry->node", event))
        stream = self.control_stream
        if reply_to is not None:
            stream = self.streams.get(reply_to.connection)
        elif self.per_message and self.node_address is not None:
            return await self._dial_once(self.node_address, frame)
        try:
            if stream is not None:
                await stream.send_all(frame)
                return True
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        # The connection is gone: a per-message node takes its answer on a
        # fresh connection to its listening address.
        if self.per_message and self.node_address is not None:
            return await self._dial_once(self.node_address, frame)
        return False

    async def _dial_once(self, address: tuple[str, int], frame: bytes) -> bool:
        try:
            stream = await trio.open_tcp_stream(*address)
        except OSError as exc:
            self.inject_errors.append(f"cannot dial the node at {address}: {exc}")
            return False
        # Left open: some per-message peers take a close for an error; the
        # node reads its one frame and leaves the rest to us.
        self.nursery.start_soon(self._drain, stream)
        try:
            await stream.send_all(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def forget_node(self) -> None:
        """Before a second copy of the node registers: its control is new."""
        self.control_stream = None
        self.control_peer_host = None
        self.node_address = None
        for entry in self.control:
            entry.consumed = True

    # --- the probes (every other node) ----------------------------------------

    async def open_probe(self, node_id: int) -> Probe:
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        listener = listeners[0]
        probe = Probe(node_id, listener, int(listener.socket.getsockname()[1]))
        self.probes[node_id] = probe
        self.nursery.start_soon(self._serve_probe, probe)
        return probe

    async def _serve_probe(self, probe: Probe) -> None:
        async def handle(stream: trio.SocketStream) -> None:
            probe.accepted.append(trio.current_time())
            self.poke()
            await self._read_probe(probe, stream)

        await trio.serve_listeners(handle, [probe.listener])

    async def _read_probe(self, probe: Probe, stream: trio.SocketStream) -> None:
        decoder = StreamDecoder(self.dialect.name)
        where = f"probe {probe.node_id}"
        async with stream:
            try:
                while data := await stream.receive_some(CHUNK):
                    now = trio.current_time()
                    for event in decoder.feed(data):
                        self.frames.append(Recorded(now, where, "node->node", event))
                        message = event.message
                        if isinstance(message, Data) and self.ledger is not None:
                            self.ledger.arrive(Arrival(probe.node_id, message, event.frame, now))
                        else:
                            probe.others.append(event)
                    self.poke()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    # --- handing packets to the node ------------------------------------------

    async def inject(self, batch: list[Injected], host: str, port: int) -> None:
        """Send ``batch`` to the node at host:port, each packet from its probe."""
        assert self.ledger is not None
        groups: dict[int, list[Injected]] = {}
        for item in batch:
            groups.setdefault(item.via, []).append(item)
        for via, items in groups.items():
            frames = [self.dialect.encode(i.packet) for i in items]
            if self.per_message:
                for item, frame in zip(items, frames, strict=True):
                    self.ledger.inject(item)
                    self.frames.append(Recorded(trio.current_time(), f"probe {via}", "node->node",
                                                FrameEvent(0, frame, item.packet)))  # fmt: skip
                    await self._dial_once((host, port), frame)
                continue
            stream = await self._injector(via, host, port)
            if stream is None:
                continue
            for item in items:
                self.ledger.inject(item)
            now = trio.current_time()
            self.frames.extend(
                Recorded(now, f"probe {via}", "node->node", FrameEvent(0, f, i.packet))
                for f, i in zip(frames, items, strict=True)
            )
            try:
                await stream.send_all(b"".join(frames))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self.inject_errors.append(f"probe {via}: the connection broke: {exc!r}")
                del self.injectors[via]

    async def _injector(self, via: int, host: str, port: int) -> trio.SocketStream | None:
        stream = self.injectors.get(via)
        if stream is not None:
            return stream
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            self.inject_errors.append(f"probe {via}: cannot connect to the node: {exc}")
            return None
        self.injectors[via] = stream
        # Nothing is expected back on it, but read so a close is noticed.
        self.nursery.start_soon(self._drain, stream)
        return stream

    async def _drain(self, stream: trio.SocketStream) -> None:
        try:
            async with stream:
                while await stream.receive_some(CHUNK):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def close_injectors(self) -> None:
        for stream in self.injectors.values():
            await stream.aclose()
        self.injectors.clear()
