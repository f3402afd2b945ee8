"""A peer that stops reading: bounded memory, a responsive node, and every
packet delivered once the peer reads again."""

from __future__ import annotations

import trio
import trio.testing

from trio_dht.services.node import MessagingNode, NodeConfig
from trio_dht.services.node_data import ORIGINATE_BATCH
from trio_dht.services.observer import WatchingObserver
from trio_dht.transport import FrameReader
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
)

HOST = "127.0.0.1"
# More than every buffer on the way can hold (the node's kernel send buffer
# autotunes up to 4 MiB on loopback), so the producer must stall.
PACKETS = 600_000
CAPACITY = 4
# How long every task must stay blocked before the producer counts as
# stalled: far longer than the kernel takes to settle loopback buffers, and
# shorter than the node's slot reaper's period (0.25 s), which wakes it.
QUIET = 0.1


async def test_stalled_peer_bounds_memory_and_resumes_without_loss() -> None:
    dialect = get_dialect("cs455")
    resume = trio.Event()
    delivered = 0
    all_delivered = trio.Event()
    peer_connected = trio.Event()

    async def stalled_peer(stream: trio.SocketStream) -> None:
        nonlocal delivered
        peer_connected.set()
        await resume.wait()  # read nothing until told to
        reader = FrameReader(stream, dialect.framer())
        while bodies := await reader.receive_batch():
            delivered += sum(1 for b in bodies if dialect.data_head(b) is not None)
            if delivered >= PACKETS:
                all_delivered.set()

    messages: list[object] = []
    got_message = trio.Event()

    async def registry(stream: trio.SocketStream) -> None:
        nonlocal got_message
        reader = FrameReader(stream, dialect.framer())
        while bodies := await reader.receive_batch():
            for body in bodies:
                message = dialect.decode(body)
                if isinstance(message, Registration):
                    await stream.send_all(dialect.encode(RegistrationStatus(5, "ok")))
                messages.append(message)
                got_message.set()
                got_message = trio.Event()

    async def wait_for(kind: type, count: int = 1) -> None:
        while sum(isinstance(m, kind) for m in messages) < count:
            await got_message.wait()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            peer_listeners = await trio.open_tcp_listeners(0, host=HOST)
            # A small receive window for the stalled peer's connection.
            peer_listeners[0].socket.setsockopt(
                trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, 1 << 16
            )
            peer_port = peer_listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, stalled_peer, peer_listeners)
            reg_listeners = await trio.open_tcp_listeners(0, host=HOST)
            reg_port = reg_listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, registry, reg_listeners)

            config = NodeConfig(writer_capacity=CAPACITY)
            watcher = WatchingObserver()
            node = MessagingNode(HOST, reg_port, dialect, watcher, config)
            await nursery.start(node.run)

            async def tell(message: object) -> None:
                # Control dialled in from the registry's host, with nothing
                # said on the registration connection: the node takes this
                # fake registry for one that dials every message in, and
                # dials its answers to the registry's port.
                stream = await trio.open_tcp_stream(HOST, node.port)
                async with stream:
                    await stream.send_all(dialect.encode(message))  # type: ignore[arg-type]

            await tell(NodeManifest((PeerEntry(9, HOST, peer_port),), (5, 9)))
            await wait_for(OverlaySetupStatus)
            await peer_connected.wait()
            await tell(TaskInitiate(PACKETS))

            # The peer reads nothing: the writer's queue fills and stays
            # bounded, and the originator waits instead of buffering.
            writer = node.peers[0].writer
            await watcher.wait_until(lambda: node.state == "sending")
            # Origination runs until it stalls: the kernel buffers took what
            # they could, the writer task waits for the socket and the
            # originator for room in the queue. Only then is every task of
            # this test blocked (an originator with room never blocks: it
            # just yields between bursts).
            await trio.testing.wait_all_tasks_blocked(QUIET)
            assert writer.queued() == CAPACITY
            last = node.counters.sent
            assert node.counters.sent < PACKETS, "the producer must block, not buffer everything"
            # What it produced beyond the bytes in flight is at most the queue
            # plus the burst being handed over.
            assert node.counters.sent <= PACKETS - ORIGINATE_BATCH

            # Still responsive: it answers a progress request at once ...
            await tell(ProgressRequest(20))
            await wait_for(ProgressReport)
            # ... and meanwhile it stayed stalled, with the queue at its bound.
            assert node.counters.sent == last
            assert writer.queued() == CAPACITY
            assert not any(isinstance(m, TaskFinished) for m in messages)

            resume.set()
            await wait_for(TaskFinished)
            await all_delivered.wait()
            assert delivered == PACKETS
            assert node.counters.sent == PACKETS
            assert node.counters.dropped == 0
            nursery.cancel_scope.cancel()
