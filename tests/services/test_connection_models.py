"""Both connection models of WIRE-MINICHORD.md, with scripted peers.

The scripted peers behave like the seed's Go port: every message goes on a
fresh TCP connection that carries one frame and is then closed; the
registry answers a registration on the connection it came on and reaches
nodes for everything else by dialling their listening address.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import pytest
import trio
from trio.testing import MockClock

from trio_dht.overlay import next_hop
from trio_dht.services.node import MessagingNode, NodeConfig
from trio_dht.services.observer import Observer, WatchingObserver
from trio_dht.services.registry import Registry, RegistryConfig
from trio_dht.transport import FrameReader
from trio_dht.wire import Dialect, get_dialect
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

HOST = "127.0.0.1"
DIALECTS = ["minichord", "cs455"]


async def send_one(dialect: Dialect, port: int, message: Message) -> None:
    """One message on its own connection, then close (the Go port's way)."""
    stream = await trio.open_tcp_stream(HOST, port)
    async with stream:
        await stream.send_all(dialect.encode(message))


async def read_one(dialect: Dialect, stream: trio.SocketStream) -> Message | None:
    """The frame of a connection; None for a connection closed with no frame
    (a liveness probe)."""
    bodies = await FrameReader(stream, dialect.framer()).receive_batch()
    if not bodies:
        return None
    assert len(bodies) == 1, "a one-message peer expects exactly one frame per connection"
    return dialect.decode(bodies[0])


async def serve_one_per_connection(
    dialect: Dialect,
    handle: Callable[[Message], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A listener that reads one frame per connection and closes it."""

    async def on_connection(stream: trio.SocketStream) -> None:
        async with stream:
            message = await read_one(dialect, stream)
        if message is not None:
            await handle(message)

    listeners = await trio.open_tcp_listeners(0, host=HOST)
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(on_connection, listeners)


class ScriptedNode:
    """A messaging node of the one-message-per-connection kind."""

    def __init__(self, dialect: Dialect, registry_port: int) -> None:
        self.dialect = dialect
        self.registry_port = registry_port
        self.port = 0
        self.node_id = -1
        self.table: list[PeerEntry] = []
        self.ids: tuple[int, ...] = ()
        self.sent = self.received = self.relayed = 0
        self.sum_sent = self.sum_received = 0
        self.deregistration: DeregistrationStatus | None = None
        self.deregistered = trio.Event()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.port = await nursery.start(serve_one_per_connection, self.dialect, self.handle)
            # Registration: the one exchange answered on the same connection.
            stream = await trio.open_tcp_stream(HOST, self.registry_port)
            async with stream:
                await stream.send_all(self.dialect.encode(Registration(HOST, self.port)))
                answer = await read_one(self.dialect, stream)
            assert isinstance(answer, RegistrationStatus) and answer.status >= 0, answer
            self.node_id = answer.status
            task_status.started()

    async def tell_registry(self, message: Message) -> None:
        await send_one(self.dialect, self.registry_port, message)

    async def forward(self, packet: Data) -> None:
        via = next_hop(self.node_id, packet.destination, [e.node_id for e in self.table])
        entry = next(e for e in self.table if e.node_id == via)
        await send_one(self.dialect, entry.port, packet)

    async def handle(self, message: Message) -> None:
        if isinstance(message, NodeManifest):
            self.table = list(message.entries)
            self.ids = message.node_ids
            await self.tell_registry(OverlaySetupStatus(self.node_id, "connected"))
        elif isinstance(message, TaskInitiate):
            assert self._nursery is not None
            self._nursery.start_soon(self.originate, message.packets)
        elif isinstance(message, Data):
            if message.destination == self.node_id:
                self.received += 1
                self.sum_received += message.payload
            else:
                self.relayed += 1
                trace = (*message.trace, self.node_id)
                await self.forward(
                    Data(message.destination, message.source, message.payload, trace)
                )
        elif isinstance(message, TrafficSummaryRequest):
            await self.tell_registry(
                TrafficSummary(
                    self.node_id,
                    self.sent,
                    self.relayed,
                    self.sum_sent,
                    self.received,
                    self.sum_received,
                )
            )
        elif isinstance(message, DeregistrationStatus):
            self.deregistration = message
            self.deregistered.set()

    async def originate(self, packets: int) -> None:
        rng = random.Random(self.node_id)
        others = [i for i in self.ids if i != self.node_id]
        for _ in range(packets):
            payload = rng.randint(-(2**31), 2**31 - 1)
            self.sent += 1
            self.sum_sent += payload
            await self.forward(Data(rng.choice(others), self.node_id, payload))
        await self.tell_registry(TaskFinished(HOST, self.port, self.node_id))


@pytest.mark.parametrize("wire", DIALECTS)
async def test_registry_drives_one_message_per_connection_nodes(wire: str) -> None:
    dialect = get_dialect(wire)
    observer = WatchingObserver()
    registry = Registry(dialect, observer, RegistryConfig(grace=0.3))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            nodes = [ScriptedNode(dialect, port) for _ in range(5)]
            for node in nodes:
                await nursery.start(node.run)
            # Each closed its connection after registering; the registry must
            # have probed it and kept it, not dropped it.
            await observer.wait_until(
                lambda: sum("fresh connection" in line for line in observer.lines) >= 5
            )
            assert len(registry.nodes) == 5
            registry.setup_overlay(2)
            await registry.wait_ready()
            run = registry.start(40)
            await run.done.wait()
            result = run.result
            assert result is not None
            assert result.correct, result.verdict()
            assert result.sent == result.received == 200
            assert result.quiescence == "grace period"
            assert any("grace period" in line for line in observer.lines)

            # Deregistration on a fresh connection is answered on that same
            # connection (the transcript: the node reads one answer there).
            leaver = nodes[0]
            stream = await trio.open_tcp_stream(HOST, port)
            async with stream:
                message = Deregistration(HOST, leaver.port, leaver.node_id)
                await stream.send_all(dialect.encode(message))
                answer = await read_one(dialect, stream)
            assert isinstance(answer, DeregistrationStatus), answer
            assert answer.status == dialect.deregistered_status(leaver.node_id)
            assert leaver.node_id not in registry.nodes
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("wire", DIALECTS)
async def test_mixed_overlay_with_per_message_peers(wire: str, mock_clock: MockClock) -> None:
    """trio_dht nodes (with --per-message-peers) and one-message nodes in one
    overlay under a trio_dht registry: the totals are exact. On the mock
    clock (jumping only when every task is blocked) the classic peers'
    grace period ends only once the overlay is idle, whatever the load."""
    mock_clock.autojump_threshold = 0.01
    dialect = get_dialect(wire)
    observer = WatchingObserver()
    registry = Registry(dialect, observer, RegistryConfig(grace=3.0))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            scripted = [ScriptedNode(dialect, port) for _ in range(3)]
            for node in scripted:
                await nursery.start(node.run)
            ours = [
                MessagingNode(HOST, port, dialect, Observer(), NodeConfig(per_message_peers=True))
                for _ in range(3)
            ]
            for node in ours:
                await nursery.start(node.run)
            await observer.wait_until(
                lambda: sum("fresh connection" in line for line in observer.lines) >= 3
            )
            registry.setup_overlay(2)
            await registry.wait_ready()
            run = registry.start(100)
            await run.done.wait()
            assert run.result is not None
            assert run.result.correct, run.result.verdict()
            assert run.result.sent == 600
            # The scripted nodes never announced progress: grace period.
            assert run.result.quiescence == "grace period"
            nursery.cancel_scope.cancel()
