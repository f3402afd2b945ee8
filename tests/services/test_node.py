"""The messaging node against a real registry and against raw sockets that
play the registry and its routing-table peers."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from trio_dht.overlay import next_hop
from trio_dht.services.config import RegistryConfig
from trio_dht.services.node import MessagingNode, NodeConfig, NodeError, NodeErrorKind
from trio_dht.services.observer import Observer, WatchingObserver
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    Data,
    DeregistrationStatus,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

CS455 = get_dialect("cs455")
LOCAL = "127.0.0.1"
ME = 10
RING = (10, 20, 30, 40, 60, 80, 100)
TABLE = (20, 30, 60)  # 1, 2 and 4 positions ahead of 10 on RING


def make_node(port: int) -> MessagingNode:
    config = NodeConfig(connect_timeout=2.0, leave_timeout=2.0)
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


async def test_unreachable_registry_raises_node_error_quickly() -> None:
    node = make_node(await free_port())
    with trio.fail_after(3), pytest.raises(NodeError, match="cannot reach the registry") as err:
        await node.run()
    assert err.value.kind is NodeErrorKind.UNREACHABLE
    assert node.node_id is None


async def test_registry_closing_before_answering_is_a_node_error_not_a_crash(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    node = make_node(registry.port)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def hang_up() -> None:
                # At once, before the registration is even read: the node's
                # wait for an answer then meets a cancelled scope.
                conn = await registry.accept()
                await conn.stream.aclose()

            nursery.start_soon(hang_up)
            # Through nursery.start, as the node program runs it: it used to
            # end without started() and trio raised RuntimeError.
            with pytest.raises(
                NodeError, match="registration failed: .*closed the connection"
            ) as err:
                await nursery.start(node.run)
    assert err.value.kind is NodeErrorKind.HUNG_UP
    assert node.stopped.is_set()


async def test_refused_registration_raises_node_error_with_the_reason(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    node = make_node(registry.port)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def refuse() -> None:
                conn = await registry.accept()
                assert isinstance(await conn.receive(), Registration)
                refusal = "Registration request unsuccessful. No room."
                await conn.send(RegistrationStatus(-1, refusal))

            nursery.start_soon(refuse)
            with pytest.raises(NodeError, match="registration failed: .*No room") as err:
                await node.run()
    assert err.value.kind is NodeErrorKind.REFUSED
    assert node.node_id is None
    assert node.stopped.is_set()


async def test_registry_closing_before_answering_raises_node_error(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    node = make_node(registry.port)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def hang_up() -> None:
                conn = await registry.accept()
                await conn.receive()
                await conn.aclose()

            nursery.start_soon(hang_up)
            with pytest.raises(NodeError, match="closed the connection before answering") as err:
                await node.run()
    # Read but never answered: the kind a wrong --wire produces.
    assert err.value.kind is NodeErrorKind.HUNG_UP


async def test_registry_that_never_answers_is_a_no_answer_error(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    config = NodeConfig(connect_timeout=0.3, leave_timeout=0.3)
    node = MessagingNode(LOCAL, registry.port, CS455, Observer(), config)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def read_and_stay_silent() -> None:
                conn = await registry.accept()
                assert isinstance(await conn.receive(), Registration)
                await trio.sleep_forever()

            nursery.start_soon(read_and_stay_silent)
            with pytest.raises(NodeError, match="did not answer within 0.3 s") as err:
                await node.run()
            nursery.cancel_scope.cancel()
    assert err.value.kind is NodeErrorKind.NO_ANSWER


async def test_undecodable_answer_is_a_hang_up(fake_server: Callable[..., Any]) -> None:
    # What a node meets at a registry of the other --wire: bytes it cannot
    # decode, then a closed connection.
    registry = await fake_server()
    node = make_node(registry.port)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def garble() -> None:
                conn = await registry.accept()
                await conn.receive()
                await conn.send_raw(b"\x00\x00\x00\x03\xff\xff\xff")

            nursery.start_soon(garble)
            with pytest.raises(NodeError) as err:
                await node.run()
    assert err.value.kind is NodeErrorKind.HUNG_UP


async def test_refused_by_a_real_registry_when_full(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(20):
        # The fakes give made-up ports: no registration probe here.
        async with cluster(config=RegistryConfig(probe_registrations=False)) as c:
            fakes = []
            for k in range(128):
                fake = await connect(c.port)
                fakes.append(fake)
                await fake.send(Registration(LOCAL, 20000 + k))
            for fake in fakes:
                assert (await fake.receive()).status >= 0
            with pytest.raises(NodeError, match="overlay is full"):
                await c.add_node()
            assert len(c.registry.nodes) == 128
            for fake in fakes:
                await fake.aclose()


async def test_leave_deregisters_and_run_returns(
    cluster: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(10):
        async with cluster(3) as c:
            node = c.nodes[0]
            node_id = node.node_id
            assert node_id in c.registry.nodes
            session = c.registry.nodes[node_id].session
            status = await node.leave()
            assert isinstance(status, DeregistrationStatus)
            assert status.status == node_id
            assert status.info.startswith("Deregistration request successful")
            assert "(2)" in status.info
            await node.stopped.wait()
            assert node.state == "gone"
            assert node_id not in c.registry.nodes
            assert [r.node_id for r in c.registry.node_list()] == sorted(
                n.node_id for n in c.nodes[1:]
            )
            assert any(line.startswith("Deregistration:") for line in node.observer.lines)
            # It left cleanly: once the registry has seen its connection
            # close, it has not reported it as lost.
            await wait_until(c.registry, lambda: session not in c.registry.core.admission.conns)
            assert not any("disconnected" in line for line in c.registry.observer.lines)
            assert not any("closed the connection" in line for line in node.observer.lines)


async def test_node_stops_when_the_registry_goes_away(cluster: Callable[..., Any]) -> None:
    with trio.fail_after(10):
        async with cluster(3) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            c.stop_registry()
            for node in c.nodes:
                await node.stopped.wait()
                assert node.registry_closed
                assert node.state == "gone"
                assert "The registry closed the connection; leaving." in node.observer.lines


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
