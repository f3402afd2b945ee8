"""Helpers for the service tests, handed out as fixtures.

- ``cluster(n, ...)``: an async context manager running a real Registry on
  127.0.0.1 (port 0) and ``n`` real MessagingNodes, all in one nursery.
- ``connect(port, bind_host=...)``: a raw "fake node" speaking cs455 frames
  over a real socket, optionally from another loopback address (to spoof).
- ``fake_registry()``: a raw listening socket that plays the registry for a
  node under test; ``fake_peer()`` the same for a routing-table entry.
- ``registry_state(registry)``: a snapshot to prove a refusal changed nothing.
- ``wait_until(service, predicate)``: wait for a condition on a registry or
  node built with a WatchingObserver (as the cluster's are), re-checked each
  time the service reports a change; no polling (callers bound it with
  fail_after).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from trio_dht.services.node import MessagingNode, NodeConfig
from trio_dht.services.observer import WatchingObserver
from trio_dht.services.registry import Registry, RegistryConfig
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Message, Registration, RegistrationStatus

CS455 = get_dialect("cs455")
LOCAL = "127.0.0.1"
SPOOF = "127.0.0.2"


# --------------------------------------------------------------------------
# a registry and real nodes
# --------------------------------------------------------------------------


@attrs.define(eq=False)
class Cluster:
    registry: Registry
    port: int
    nursery: trio.Nursery
    registry_scope: trio.CancelScope
    seed: int | None
    nodes: list[MessagingNode] = attrs.field(factory=list)

    async def add_node(
        self,
        node_cls: type[MessagingNode] = MessagingNode,
        config: NodeConfig | None = None,
    ) -> MessagingNode:
        rng = random.Random(self.seed * 1000 + len(self.nodes)) if self.seed is not None else None
        node = node_cls(LOCAL, self.port, CS455, WatchingObserver(), config, rng)
        await self.nursery.start(node.run)
        self.nodes.append(node)
        return node

    def stop_registry(self) -> None:
        self.registry_scope.cancel()

    def node(self, node_id: int) -> MessagingNode:
        return next(n for n in self.nodes if n.node_id == node_id)


async def _serve_registry(
    registry: Registry,
    scope: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await registry.serve(LOCAL, 0, task_status=task_status)


@asynccontextmanager
async def running_cluster(
    n_nodes: int = 0,
    *,
    config: RegistryConfig | None = None,
    seed: int | None = None,
    node_cls: type[MessagingNode] = MessagingNode,
    node_classes: dict[int, type[MessagingNode]] | None = None,
) -> AsyncIterator[Cluster]:
    """A registry and ``n_nodes`` registered nodes; ``node_classes`` maps a
    node's index to another class for it."""
    rng = random.Random(seed) if seed is not None else None
    registry = Registry(CS455, WatchingObserver(), config, rng)
    async with trio.open_nursery() as nursery:
        scope = trio.CancelScope()
        port = await nursery.start(_serve_registry, registry, scope)
        cluster = Cluster(registry, port, nursery, scope, seed)
        for index in range(n_nodes):
            cls = (node_classes or {}).get(index, node_cls)
            await cluster.add_node(cls)
        yield cluster
        nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------
# raw cs455 endpoints
# --------------------------------------------------------------------------


class FakeClient:
    """One raw cs455 connection (a fake node, or the far side of a node's
    connection when playing registry or peer)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._framer = CS455.framer()
        self._pending: deque[bytes] = deque()
        # A registry admits a node only once it reached its listening port.
        self.listener: trio.SocketListener | None = None

    @classmethod
    async def connect(cls, port: int, *, bind_host: str | None = None) -> FakeClient:
        if bind_host is None:
            return cls(await trio.open_tcp_stream(LOCAL, port))
        sock = trio.socket.socket()
        try:
            await sock.bind((bind_host, 0))
            await sock.connect((LOCAL, port))
        except BaseException:
            sock.close()
            raise
        return cls(trio.SocketStream(sock))

    @property
    def host(self) -> str:
        return str(self.stream.socket.getsockname()[0])

    @property
    def local_port(self) -> int:
        return int(self.stream.socket.getsockname()[1])

    async def send(self, message: Message) -> None:
        await self.stream.send_all(CS455.encode(message))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive_body(self) -> bytes | None:
        """The next frame body, or None once the other side has closed."""
        while not self._pending:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                return None
            if not data:
                return None
            self._pending.extend(self._framer.feed(data))
        return self._pending.popleft()

    async def receive(self) -> Message:
        body = await self.receive_body()
        if body is None:
            raise AssertionError("the connection closed while a message was expected")
        return CS455.decode(body)

    async def receive_type(self, cls: type) -> Any:
        """Skip messages of other types (e.g. progress requests) until one
        of ``cls`` arrives."""
        while True:
            message = await self.receive()
            if isinstance(message, cls):
                return message

    async def wait_closed(self) -> list[Message]:
        """Read until the other side closes; returns what came before."""
        seen: list[Message] = []
        while (body := await self.receive_body()) is not None:
            seen.append(CS455.decode(body))
        return seen

    async def listening_port(self) -> int:
        """A port this fake node really listens on (opened on first use)."""
        if self.listener is None:
            self.listener = (await trio.open_tcp_listeners(0, host=self.host))[0]
        return int(self.listener.socket.getsockname()[1])

    async def register(
        self, host: str | None = None, port: int | None = None
    ) -> RegistrationStatus:
        if port is None:
            port = await self.listening_port()
        await self.send(Registration(self.host if host is None else host, port))
        status = await self.receive()
        assert isinstance(status, RegistrationStatus), status
        return status

    async def aclose(self) -> None:
        await self.stream.aclose()
        if self.listener is not None:
            await self.listener.aclose()


class FakeServer:
    """A listening socket on 127.0.0.1 that wraps each accepted connection
    in a FakeClient (plays the registry or a routing-table peer)."""

    def __init__(self, listener: trio.SocketListener) -> None:
        self.listener = listener
        self.port = int(listener.socket.getsockname()[1])

    @classmethod
    async def open(cls) -> FakeServer:
        listeners = await trio.open_tcp_listeners(0, host=LOCAL)
        return cls(listeners[0])

    async def accept(self) -> FakeClient:
        return FakeClient(await self.listener.accept())

    async def aclose(self) -> None:
        await self.listener.aclose()


def registry_state(registry: Registry) -> tuple[object, ...]:
    """Everything a refused request must leave as it was."""
    return (
        tuple(
            (i, r.host, r.port, id(r.session), r.state) for i, r in sorted(registry.nodes.items())
        ),
        tuple(registry.core.admission.ids.ids()),
        registry.overlay_nr,
        dict(registry.tables),
        registry.ready,
        registry.run,
    )


async def wait_until(service: Registry | MessagingNode, predicate: Callable[[], bool]) -> None:
    """Return once ``predicate()`` holds, checked each time ``service`` tells
    its observer that something changed."""
    observer = service.observer
    assert isinstance(observer, WatchingObserver), "build the service with a WatchingObserver"
    await observer.wait_until(predicate)


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture
def cluster() -> Callable[..., Any]:
    return running_cluster


@pytest.fixture
def connect() -> Callable[..., Any]:
    return FakeClient.connect


@pytest.fixture
def fake_server() -> Callable[[], Any]:
    return FakeServer.open


@pytest.fixture(name="registry_state")
def registry_state_fixture() -> Callable[[Registry], tuple[object, ...]]:
    return registry_state


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until
