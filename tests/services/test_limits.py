"""The registry's and node's limits against idle, trickling and flooding
peers, each with the log line that names the peer and the reason."""

from __future__ import annotations

import logging

import pytest
import trio

from trio_dht.services.node import MessagingNode, NodeConfig
from trio_dht.services.observer import Observer, WatchingObserver
from trio_dht.services.registry import Registry, RegistryConfig
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data

HOST = "127.0.0.1"
DIALECT = get_dialect("cs455")


async def closed_by_peer(stream: trio.SocketStream) -> bool:
    """Whether the other side has closed (EOF or reset) -- waits for it."""
    try:
        while await stream.receive_some(1024):
            pass
    except trio.BrokenResourceError:
        pass
    return True


async def test_a_silent_connection_is_dropped_after_the_idle_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry(DIALECT, Observer(), RegistryConfig(idle_timeout=0.3))
    with trio.fail_after(5), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            stream = await trio.open_tcp_stream(HOST, port)
            opened = trio.current_time()
            assert await closed_by_peer(stream)
            waited = trio.current_time() - opened
            assert 0.25 <= waited < 2
            nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records]
    assert any("did not register within 0.3 s" in line for line in lines), lines


async def test_a_trickling_frame_is_dropped_after_the_frame_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Only the frame timeout is short: the time to register (idle_timeout)
    # is far off, so it cannot be the one that closes the trickler.
    registry = Registry(DIALECT, Observer(), RegistryConfig(idle_timeout=30, frame_timeout=0.4))
    frame = DIALECT.encode_data(1, 2, 3)  # any frame; it never completes
    with trio.fail_after(5), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            stream = await trio.open_tcp_stream(HOST, port)
            closed = trio.Event()

            async def watch() -> None:
                await closed_by_peer(stream)
                closed.set()

            nursery.start_soon(watch)
            # A byte every 0.1 s: the frame as a whole takes far longer than
            # 0.4 s. The sleep is the slow peer under test, not a wait: a
            # slower machine only stretches the frame further.
            with trio.move_on_after(3):
                for byte in frame:
                    if closed.is_set():
                        break
                    try:
                        await stream.send_all(bytes([byte]))
                    except trio.BrokenResourceError:
                        break
                    await trio.sleep(0.1)
            assert closed.is_set(), "a trickling peer must be dropped"
            # The registry still serves others.
            node = await nursery.start(MessagingNode(HOST, port, DIALECT).run)
            assert node.node_id in registry.nodes
            nursery.cancel_scope.cancel()
    assert any("no whole frame within 0.4 s" in r.getMessage() for r in caplog.records)


async def test_unregistered_connections_are_capped_and_newcomers_get_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = WatchingObserver()
    registry = Registry(DIALECT, watcher, RegistryConfig(max_pending=5, idle_timeout=30))
    with trio.fail_after(10), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            idle = [await trio.open_tcp_stream(HOST, port) for _ in range(5)]
            await watcher.wait_until(lambda: registry.core.admission.pending >= 5)
            # A newcomer at the cap gets in: the stranger that waited longest
            # with nothing to say hears why and is closed to make room.
            node = await nursery.start(MessagingNode(HOST, port, DIALECT).run)
            assert node.node_id in registry.nodes
            with trio.fail_after(2):
                assert await closed_by_peer(idle[0])
            assert any(
                "registry busy: 5 connections pending" in r.getMessage() for r in caplog.records
            )
            # Never more than the cap pending; registered nodes do not count.
            assert registry.core.admission.pending <= 5
            nursery.cancel_scope.cancel()


async def test_a_host_over_its_pending_cap_hears_busy(caplog: pytest.LogCaptureFixture) -> None:
    config = RegistryConfig(max_pending_per_host=3, idle_timeout=30)
    watcher = WatchingObserver()
    registry = Registry(DIALECT, watcher, config)
    with trio.fail_after(10), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            held = [await trio.open_tcp_stream(HOST, port) for _ in range(3)]
            await watcher.wait_until(lambda: registry.core.admission.pending >= 3)
            extra = await trio.open_tcp_stream(HOST, port)
            answer = await extra.receive_some(4096)
            status = DIALECT.decode(answer[4:])
            assert "registry busy: 3 connections pending from 127.0.0.1" in status.info
            with trio.fail_after(2):
                assert await closed_by_peer(extra)
            for stream in held:
                await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_a_node_at_its_incoming_limit_makes_room_for_one_that_speaks() -> None:
    registry = Registry(DIALECT, Observer())
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            config = NodeConfig(max_incoming=3)
            watcher = WatchingObserver()
            node = MessagingNode(HOST, port, DIALECT, watcher, config)
            await nursery.start(node.run)
            held = [await trio.open_tcp_stream(HOST, node.port) for _ in range(3)]
            await watcher.wait_until(lambda: node.incoming >= 3)
            # The fourth is not accepted and dropped: it waits in the
            # backlog, and its frame is read once an idle stranger has
            # been closed to make room (the oldest one).
            speaker = await trio.open_tcp_stream(HOST, node.port)
            assert node.incoming == 3
            await speaker.send_all(DIALECT.encode(Data(99, 1, 1)))
            assert await closed_by_peer(held[0])
            # Data for an id outside the overlay: it was read, then refused.
            assert await closed_by_peer(speaker)
            assert node.incoming <= 3
            for stream in held:
                await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_a_frame_over_the_limit_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry(DIALECT, Observer(), RegistryConfig(max_frame=64))
    with trio.fail_after(5), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            stream = await trio.open_tcp_stream(HOST, port)
            await stream.send_all((65).to_bytes(4, "big") + b"\x02" * 10)
            assert await closed_by_peer(stream)
            nursery.cancel_scope.cancel()
    assert any("exceeds the maximum of 64 bytes" in r.getMessage() for r in caplog.records)
