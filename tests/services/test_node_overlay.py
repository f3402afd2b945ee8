"""The messaging node in an overlay, against raw sockets that play the
registry and its routing-table peers: overlay setup, routing and the trace,
tasks, and the counters behind progress reports and traffic summaries."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
from node_helpers import CS455, LOCAL, ME, free_port, registered_node
from trio.testing import MockClock

from trio_dht.overlay import next_hop
from trio_dht.services.node import MessagingNode, NodeConfig
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    Data,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    ProgressRequest,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

RING = (10, 20, 30, 40, 60, 80, 100)
TABLE = (20, 30, 60)  # 1, 2 and 4 positions ahead of 10 on RING


@asynccontextmanager
async def node_in_overlay(
    fake_server: Callable[..., Any], wait_until: Callable[..., Any]
) -> AsyncIterator[tuple[MessagingNode, Any, dict[int, Any]]]:
    """Node 10 on RING with its three entries played by raw sockets; yields
    the node, the registry connection and each entry's accepted connection."""
    async with registered_node(fake_server, wait_until) as (node, conn):
        servers = {peer_id: await fake_server() for peer_id in TABLE}
        entries = tuple(PeerEntry(i, LOCAL, servers[i].port) for i in TABLE)
        await conn.send(NodeManifest(entries, RING))
        peers = {peer_id: await server.accept() for peer_id, server in servers.items()}
        status = await conn.receive_type(OverlaySetupStatus)
        assert status.status == ME
        assert PROGRESS_MARKER in status.info
        assert "20, 30, 60" in status.info
        assert [p.node_id for p in node.peers] == list(TABLE)
        assert node.node_ids == RING
        yield node, conn, peers
        for server in servers.values():
            await server.aclose()


async def run_task(conn: Any, peers: dict[int, Any], packets: int) -> list[tuple[int, Data]]:
    """Have the fake registry start a task; returns the first ``packets``
    packets that reached the entries (peer id, packet), once the node also
    reported the task finished. Whether more came is for the caller to
    check (``nothing_more``)."""
    send, receive = trio.open_memory_channel[tuple[int, Data]](math.inf)

    async def collect(peer_id: int) -> None:
        while True:
            send.send_nowait((peer_id, await peers[peer_id].receive()))

    async with trio.open_nursery() as nursery:
        for peer_id in peers:
            nursery.start_soon(collect, peer_id)
        await conn.send(TaskInitiate(packets))
        await conn.receive_type(TaskFinished)
        got = [await receive.receive() for _ in range(packets)]
        nursery.cancel_scope.cancel()
    return got


async def nothing_more(sender: Any, peers: dict[int, Any]) -> None:
    """Nothing is on its way to any entry: a marker relayed to each one
    through the node (each link is in order) is the next thing it gets."""
    for peer_id, peer in peers.items():
        await sender.send(Data(peer_id, 99, 123_456))
        assert await peer.receive() == Data(peer_id, 99, 123_456, (ME,))


async def test_setup_failure_is_reported_to_the_registry(
    fake_server: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    dead_port = await free_port()
    with trio.fail_after(5):
        async with registered_node(fake_server, wait_until) as (node, conn):
            live = await fake_server()
            entries = (PeerEntry(20, LOCAL, live.port), PeerEntry(30, LOCAL, dead_port))
            await conn.send(NodeManifest(entries, RING))
            status = await conn.receive_type(OverlaySetupStatus)
            assert status.status < 0
            assert "node 30" in status.info
            assert str(dead_port) in status.info
            assert PROGRESS_MARKER not in status.info
            assert node.peers == []
            assert any("Overlay setup failed" in line for line in node.observer.lines)
            await live.aclose()


async def test_task_before_the_overlay_originates_nothing(
    fake_server: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with registered_node(fake_server, wait_until) as (node, conn):
            await conn.send(TaskInitiate(10))
            with trio.move_on_after(0.2):
                message = await conn.receive()
                raise AssertionError(f"the node answered a premature task with {message}")
            assert node.counters.sent == 0
            assert not node.stopped.is_set()


async def test_summary_reports_then_resets_counters(
    fake_server: Callable[..., Any], connect: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with node_in_overlay(fake_server, wait_until) as (node, conn, peers):
            got = await run_task(conn, peers, 50)
            sender = await connect(node.port)
            c = node.counters
            await sender.send_raw(
                b"".join(
                    CS455.encode(Data(d, 99, p)) for d, p in ((ME, -5), (ME, 1 << 30), (20, 8))
                )
            )
            # The node counts each batch as it routes it, before relaying, and
            # reads a connection in order: once the last packet reached 20,
            # the two before it are counted. (Nothing of the task is still
            # queued for 20: it would come first.)
            assert await peers[20].receive() == Data(20, 99, 8, (ME,))
            assert c.snapshot() == (
                50, 2, 1, sum(p.payload for _, p in got), (1 << 30) - 5, 0
            )  # fmt: skip
            await conn.send(TrafficSummaryRequest())
            summary = await conn.receive_type(TrafficSummary)
            assert summary == TrafficSummary(
                node_id=ME, sent=50, relayed=1, sum_sent=sum(p.payload for _, p in got),
                received=2, sum_received=(1 << 30) - 5,
            )  # fmt: skip
            # Reset as the summary was sent, before it could reach us.
            assert c.snapshot() == (0, 0, 0, 0, 0, 0)
            # The next run starts from zero.
            got = await run_task(conn, peers, 30)
            await conn.send(TrafficSummaryRequest())
            summary = await conn.receive_type(TrafficSummary)
            assert (summary.sent, summary.received, summary.relayed) == (30, 0, 0)
            assert summary.sum_sent == sum(p.payload for _, p in got)


async def test_progress_reports_follow_the_counters(
    fake_server: Callable[..., Any], connect: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with node_in_overlay(fake_server, wait_until) as (node, conn, _peers):
            await conn.send(ProgressRequest(10))
            sender = await connect(node.port)
            await sender.send_raw(b"".join(CS455.encode(Data(ME, 99, p)) for p in (5, -9, 1 << 30)))
            report = await conn.receive_type(ProgressReport)
            while report.received < 3:
                report = await conn.receive_type(ProgressReport)
            assert report == ProgressReport(ME, 0, 3, 0, 0, 5 - 9 + (1 << 30), 0)
            # Progress does not reset anything.
            assert node.counters.received == 3


async def test_routing_delivers_relays_and_appends_the_trace(
    fake_server: Callable[..., Any], connect: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    packets = [
        Data(10, 40, 111),  # for me
        Data(20, 40, 5, (50, 51)),  # in my table: straight to 20
        Data(30, 80, 6),  # in my table
        Data(60, 80, 7),  # in my table
        Data(40, 100, -7),  # 40 is 30 ahead: farthest entry not passing it is 30
        Data(80, 20, 9),  # 70 ahead: 60 (50 ahead)
        Data(100, 30, -(1 << 31)),  # 90 ahead: 60
        Data(10, 60, (1 << 31) - 1, (99,)),  # for me again
    ]
    expected_hop = {20: 20, 30: 30, 60: 60, 40: 30, 80: 60, 100: 60}
    for destination, via in expected_hop.items():
        assert next_hop(ME, destination, TABLE) == via
    with trio.fail_after(5):
        async with node_in_overlay(fake_server, wait_until) as (node, _conn, peers):
            sender = await connect(node.port)
            # All in one chunk: the reader routes the whole batch at once.
            await sender.send_raw(b"".join(CS455.encode(p) for p in packets))
            arrived: dict[int, list[Data]] = {}
            for peer_id, via_count in ((20, 1), (30, 2), (60, 3)):
                arrived[peer_id] = [await peers[peer_id].receive() for _ in range(via_count)]
            for packet in packets:
                if packet.destination == ME:
                    continue
                via = expected_hop[packet.destination]
                trace = (*packet.trace, ME)
                relayed = Data(packet.destination, packet.source, packet.payload, trace)
                assert relayed in arrived[via]
            # Counted as routed, before being relayed: all are counted by now.
            c = node.counters
            assert (c.sent, c.received, c.relayed, c.dropped) == (0, 2, 6, 0)
            assert c.sum_received == 111 + (1 << 31) - 1

            # Frame by frame works the same.
            await sender.send(Data(40, 20, 42))
            assert await peers[30].receive() == Data(40, 20, 42, (ME,))
            assert c.relayed == 7
            assert c.received == 2

            # A packet for a node outside the overlay is never forwarded nor
            # counted (the node may drop it or close that connection).
            for stray in (50, 127, 200, -1):
                other = await connect(node.port)
                await other.send_raw(
                    CS455.encode(Data(stray, 20, 1)) + CS455.encode(Data(20, 40, stray))
                )
                with trio.move_on_after(0.2):
                    await other.wait_closed()
                await other.aclose()
            # The node still serves its other connections.
            await sender.send(Data(60, 20, 43))
            await sender.send(Data(40, 20, 44))
            await sender.send(Data(20, 40, 45))
            last = {
                60: Data(60, 20, 43, (ME,)),
                30: Data(40, 20, 44, (ME,)),
                20: Data(20, 40, 45, (ME,)),
            }
            for peer_id, final in last.items():
                while (packet := await peers[peer_id].receive()) != final:
                    # Only the good packet sent behind each stray may precede it.
                    assert peer_id == 20 and packet.destination == 20, packet
            assert c.received == 2
            assert c.relayed <= 7 + 3 + 4


async def test_malformed_frame_from_a_peer_closes_only_that_connection(
    fake_server: Callable[..., Any], connect: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with node_in_overlay(fake_server, wait_until) as (node, _conn, peers):
            good = await connect(node.port)
            bad = await connect(node.port)
            await bad.send_raw(b"\x00\x00\x00\x02\x4d\x00")  # unknown type 77
            assert await bad.wait_closed() == []
            await good.send(Data(20, 40, 1))
            assert await peers[20].receive() == Data(20, 40, 1, (ME,))
            assert not node.stopped.is_set()


async def test_task_originates_routes_and_reports_finished(
    fake_server: Callable[..., Any], connect: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    total = 600
    with trio.fail_after(5):
        async with node_in_overlay(fake_server, wait_until) as (node, conn, peers):
            got = await run_task(conn, peers, total)
            assert len(got) == total
            destinations = set()
            for peer_id, packet in got:
                assert packet.source == ME
                assert packet.trace == ()
                assert packet.destination in RING and packet.destination != ME
                assert peer_id == next_hop(ME, packet.destination, TABLE)
                assert -(1 << 31) <= packet.payload < (1 << 31)
                destinations.add(packet.destination)
            assert destinations == set(RING) - {ME}
            c = node.counters
            assert c.sent == total
            assert c.sum_sent == sum(packet.payload for _, packet in got)
            assert (c.received, c.relayed, c.dropped) == (0, 0, 0)
            # And not one packet more than asked went out.
            await nothing_more(await connect(node.port), peers)


async def test_silent_links_of_a_set_up_overlay_outlive_the_idle_timeout(
    cluster: Callable[..., Any], mock_clock: MockClock
) -> None:
    # Peers link to a node during setup, often before its own manifest is in,
    # and then say nothing until the run. The idle limit for silent strangers
    # must not close them once the overlay is up, however long `start` waits.
    mock_clock.autojump_threshold = 0.01
    config = NodeConfig(incoming_idle_timeout=2.0)
    with trio.fail_after(120):
        async with cluster() as c:
            for _ in range(4):
                await c.add_node(config=config)
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            links = [node.incoming for node in c.nodes]
            assert all(links), links
            await trio.sleep(10)  # virtual time: five idle limits, no traffic
            assert [node.incoming for node in c.nodes] == links
            run = c.registry.start(200)
            await run.done.wait()
            assert run.result is not None and run.result.correct, run.result
