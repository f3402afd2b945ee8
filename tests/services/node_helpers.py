"""What the messaging node tests share: a node with short timeouts and a
fixed random seed, one registered with a fake registry, and a free port
nobody listens on."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from trio_dht.services.node import MessagingNode, NodeConfig
from trio_dht.services.observer import WatchingObserver
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Registration, RegistrationStatus

CS455 = get_dialect("cs455")
LOCAL = "127.0.0.1"
ME = 10


def make_node(port: int) -> MessagingNode:
    config = NodeConfig(connect_timeout=2.0, answer_timeout=2.0, leave_timeout=2.0)
    return MessagingNode(LOCAL, port, CS455, WatchingObserver(), config, random.Random(455))


async def free_port() -> int:
    listeners = await trio.open_tcp_listeners(0, host=LOCAL)
    port = int(listeners[0].socket.getsockname()[1])
    await listeners[0].aclose()
    return port


@asynccontextmanager
async def registered_node(
    fake_server: Callable[..., Any], wait_until: Callable[..., Any], node_id: int = ME
) -> AsyncIterator[tuple[MessagingNode, Any]]:
    """A node registered (as ``node_id``) with a fake registry; yields the
    node and the registry's side of its connection."""
    registry = await fake_server()
    node = make_node(registry.port)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node.run)
        conn = await registry.accept()
        registration = await conn.receive()
        assert registration == Registration(LOCAL, node.port)
        assert node.port != 0 and node.port != registry.port
        await conn.send(RegistrationStatus(node_id, "Registration request successful."))
        await wait_until(node, lambda: node.node_id == node_id)
        yield node, conn
        nursery.cancel_scope.cancel()
    await registry.aclose()
