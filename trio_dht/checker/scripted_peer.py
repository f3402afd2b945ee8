"""The checker's own messaging nodes for ``check registry`` (trio).

Complete nodes: they register, take their manifest, connect to their entries,
route packets by the rule of SYSTEM.md and count. One difference on purpose:
each holds back its last ``held`` packets for ``hold`` seconds after telling
the registry it finished, so packets are still in flight when a registry that
does not wait for them asks for the summaries. Every message from the
registry is logged with its arrival time.
"""

from __future__ import annotations

import random

import attrs
import trio

from trio_dht.checker.frames import FrameEvent, StreamDecoder
from trio_dht.overlay import next_hop
from trio_dht.transport import local_host
from trio_dht.wire import Dialect
from trio_dht.wire.messages import (
    Data,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    Registration,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

CHUNK = 65536


@attrs.define
class Heard:
    time: float
    event: FrameEvent | None  # None: the registry closed the connection


@attrs.define
class Traffic:
    """Data-plane facts shared by all the checker's nodes."""

    sent: int = 0
    received: int = 0
    last_arrival: float = 0.0
    finished_at: list[float] = attrs.field(factory=list)
    released_at: float = 0.0  # when the last held packets were sent
    asked_at: float | None = None  # the first summary request any node heard
    received_when_asked: int = 0


class ScriptedPeer:
    def __init__(
        self,
        dialect: Dialect,
        host: str,
        traffic: Traffic,
        *,
        hold: float = 2.0,
        held: int = 2,
        rng: random.Random | None = None,
        per_message: bool = False,
    ) -> None:
        # One message per connection (the seed's Go registry): every message
        # to the registry goes on a fresh connection, and the registry's own
        # messages arrive on connections it dials to our listening port.
        self.per_message = per_message
        self.registry_address = ("", 0)
        self.dialect = dialect
        self.host = host
        self.traffic = traffic
        self.hold = hold
        self.held = held
        self.rng = rng or random.Random()
        self.heard: list[Heard] = []
        self.node_id = -1
        self.port = 0
        self.registry: trio.SocketStream | None = None
        self.table: tuple[int, ...] = ()
        self.ids: tuple[int, ...] = ()
        # trio lets one task send on a stream at a time: a lock per stream.
        self.peers: dict[int, tuple[trio.SocketStream, trio.Lock]] = {}
        self._registry_lock = trio.Lock()
        self.counts = [0, 0, 0, 0, 0]  # sent, relayed, sum sent, received, sum received
        self._changed = trio.Event()
        self.set_up = trio.Event()  # its setup status has been sent
        self._nursery: trio.Nursery | None = None

    # --- plumbing -------------------------------------------------------------

    def poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(
        self, cls: type | tuple[type, ...], timeout: float, after: int = 0
    ) -> Heard | None:
        """The first message of type ``cls`` heard at index ``after`` or later."""
        with trio.move_on_after(timeout):
            while True:
                for heard in self.heard[after:]:
                    if heard.event is not None and isinstance(heard.event.message, cls):
                        return heard
                await self._changed.wait()
        return None

    async def start(
        self,
        nursery: trio.Nursery,
        registry_host: str,
        registry_port: int,
        patience: float = 0.0,
    ) -> None:
        """Listen, connect to the registry and read it; nothing sent yet.

        With ``patience`` a refused connection is retried for that long: a
        registry just started may not listen yet, and an empty probe
        connection would kill some (the Go port dies of a short read)."""
        self._nursery = nursery
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        self.port = int(listeners[0].socket.getsockname()[1])
        nursery.start_soon(trio.serve_listeners, self._serve_peer, listeners)
        self.registry_address = (registry_host, registry_port)
        deadline = trio.current_time() + patience
        while True:
            try:
                self.registry = await trio.open_tcp_stream(registry_host, registry_port)
                break
            except OSError:
                if trio.current_time() >= deadline:
                    raise
                await trio.sleep(0.05)
        self.host = local_host(self.registry)
        nursery.start_soon(self._read_registry, self.registry)

    async def send(self, message: Message) -> bool:
        stream = self.registry
        assert stream is not None and self._nursery is not None
        if self.per_message and not isinstance(message, Registration):
            try:
                stream = await trio.open_tcp_stream(*self.registry_address)
            except OSError:
                return False
            # Any answer (a deregistration status) comes back on it.
            self._nursery.start_soon(self._read_registry, stream)
        try:
            async with self._registry_lock:
                await stream.send_all(self.dialect.encode(message))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def register(self) -> bool:
        return await self.send(Registration(self.host, self.port))

    async def _read_registry(self, stream: trio.SocketStream) -> None:
        decoder = StreamDecoder(self.dialect.name)
        try:
            while data := await stream.receive_some(CHUNK):
                events = decoder.feed(data)
                for event in events:
                    self.heard.append(Heard(trio.current_time(), event))
                    await self._on_control(event.message)
                self.poke()
                if self.per_message and events:
                    return  # one answer per connection; never read it again
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.heard.append(Heard(trio.current_time(), None))
        self.poke()

    async def _on_control(self, message: Message | None) -> None:
        if isinstance(message, NodeManifest):
            assert self._nursery is not None
            self._nursery.start_soon(self._setup, message)
        elif isinstance(message, TaskInitiate):
            assert self._nursery is not None
            self._nursery.start_soon(self._originate, message.packets)
        elif isinstance(message, TrafficSummaryRequest):
            if self.traffic.asked_at is None:
                self.traffic.asked_at = trio.current_time()
                self.traffic.received_when_asked = self.traffic.received
            sent, relayed, sum_sent, received, sum_received = self.counts
            self.counts = [0, 0, 0, 0, 0]
            await self.send(
                TrafficSummary(self.node_id, sent, relayed, sum_sent, received, sum_received)
            )

    # --- the overlay ------------------------------------------------------------

    async def _setup(self, manifest: NodeManifest) -> None:
        for stream, _ in self.peers.values():
            await stream.aclose()
        self.peers = {}
        try:
            for entry in manifest.entries:
                stream = await trio.open_tcp_stream(entry.host, entry.port)
                self.peers[entry.node_id] = (stream, trio.Lock())
        except OSError as exc:
            await self.send(OverlaySetupStatus(-1, f"cannot connect: {exc}"[:100]))
            return
        self.table = tuple(e.node_id for e in manifest.entries)
        self.ids = tuple(manifest.node_ids)
        await self.send(OverlaySetupStatus(self.node_id, "Connected to every routing-table entry."))
        self.set_up.set()

    async def _serve_peer(self, stream: trio.SocketStream) -> None:
        decoder = StreamDecoder(self.dialect.name)
        async with stream:
            try:
                while data := await stream.receive_some(CHUNK):
                    for event in decoder.feed(data):
                        if isinstance(event.message, Data):
                            await self._on_data(event.message)
                        else:  # control dialled to us by a per-message registry
                            self.heard.append(Heard(trio.current_time(), event))
                            await self._on_control(event.message)
                            self.poke()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def _on_data(self, packet: Data) -> None:
        if packet.destination == self.node_id:
            self.counts[3] += 1
            self.counts[4] += packet.payload
            self.traffic.received += 1
            self.traffic.last_arrival = trio.current_time()
            return
        self.counts[1] += 1
        trace = (*packet.trace, self.node_id)
        await self._forward(Data(packet.destination, packet.source, packet.payload, trace))

    async def _forward(self, packet: Data) -> None:
        hop = next_hop(self.node_id, packet.destination, self.table)
        stream, lock = self.peers[hop]
        async with lock:
            await stream.send_all(self.dialect.encode(packet))

    async def _originate(self, packets: int) -> None:
        others = [i for i in self.ids if i != self.node_id]
        late: list[Data] = []
        for index in range(packets):
            sink = self.rng.choice(others)
            payload = self.rng.randint(-(2**31), 2**31 - 1)
            self.counts[0] += 1
            self.counts[2] += payload
            self.traffic.sent += 1
            packet = Data(sink, self.node_id, payload)
            if index >= packets - self.held:
                late.append(packet)
            else:
                await self._forward(packet)
        # Noted before sending: a registry may answer before send() returns.
        self.traffic.finished_at.append(trio.current_time())
        await self.send(TaskFinished(self.host, self.port, self.node_id))
        await trio.sleep(self.hold)
        for packet in late:
            await self._forward(packet)
        self.traffic.released_at = max(self.traffic.released_at, trio.current_time())

    async def close(self) -> None:
        for stream, _ in self.peers.values():
            await stream.aclose()
        if self.registry is not None:
            await self.registry.aclose()
