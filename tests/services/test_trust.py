"""Issue 9's attacks, tried on live services over real loopback sockets: a
forged verdict, a frame that kills a node, a stranger steering a node, and
two manifests in a row. Each failed on the services before the protocol
core (they trusted every decoded message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from node_helpers import registered_node

from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

CS455 = get_dialect("cs455")
LOCAL = "127.0.0.1"


async def test_forged_reports_from_the_nodes_host_cannot_make_a_verdict(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(20):
        async with cluster(4, seed=9) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            run = c.registry.start(2_000)
            # While the run goes on, a local process speaks for every node
            # on fresh connections: finished, and a summary of nothing lost.
            for node in c.nodes:
                assert node.node_id is not None
                for forged in (
                    TaskFinished(LOCAL, node.port, node.node_id),
                    TrafficSummary(node.node_id, 2_000, 0, 0, 2_000, 0),
                ):
                    attacker = await connect(c.port)
                    await attacker.send(forged)
                    assert await attacker.wait_closed() == []
            await run.done.wait()
            assert run.result is not None
            # The totals are the nodes' own: exact, and not the forger's.
            assert run.result.correct, run.result.verdict()
            assert [r.source for r in run.result.nodes] == ["summary"] * 4
            assert sum(r.received for r in run.result.nodes) == 8_000


async def test_strangers_cannot_steer_or_kill_a_node(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(20):
        async with cluster(3, seed=3) as c:
            c.registry.setup_overlay(1)
            await c.registry.wait_ready()
            node = c.nodes[0]
            assert node.node_id is not None
            other = [n.node_id for n in c.nodes[1:]]
            bad_manifests = [
                # only the predecessor; an id out of range; an unknown entry
                NodeManifest((PeerEntry(other[0], LOCAL, c.nodes[1].port),), (node.node_id, 200)),
                NodeManifest((PeerEntry(500 % 128, LOCAL, 1),), (node.node_id,)),
            ]
            for message in (
                *bad_manifests,
                TaskInitiate(2**31 - 1),
                TrafficSummaryRequest(),
                NodeManifest((), (node.node_id,)),
            ):
                stranger = await connect(node.port)
                await stranger.send(message)
                assert await stranger.wait_closed() == []
            assert node.counters.sent == 0
            assert not node.stopped.is_set()
            assert node.state == "idle"
            # The real run is exact: nothing was originated on a stranger's word.
            run = c.registry.start(500)
            await run.done.wait()
            assert run.result is not None and run.result.correct, run.result.verdict()


async def test_a_meaningless_manifest_from_the_registry_is_answered_not_fatal(
    fake_server: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(10):
        async with registered_node(fake_server, wait_until) as (node, conn):
            # Only the node's predecessor: nothing reaches 20 without overshooting.
            await conn.send(NodeManifest((PeerEntry(100, LOCAL, 1),), (10, 20, 100)))
            status = await conn.receive_type(OverlaySetupStatus)
            assert status.status == -1 and "no entry gets closer" in status.info
            await conn.send(NodeManifest((PeerEntry(20, LOCAL, 1),), (10, 20, 200)))
            status = await conn.receive_type(OverlaySetupStatus)
            assert status.status == -1 and "outside 0..127" in status.info
            assert not node.stopped.is_set()


async def test_two_manifests_in_a_row_leave_one_set_of_links(
    fake_server: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(10):
        async with registered_node(fake_server, wait_until) as (node, conn):
            first = await fake_server()
            second = await fake_server()
            one = NodeManifest((PeerEntry(20, LOCAL, first.port),), (10, 20))
            two = NodeManifest((PeerEntry(30, LOCAL, second.port),), (10, 30))
            await conn.send_raw(CS455.encode(one) + CS455.encode(two))
            old_link = await first.accept()
            new_link = await second.accept()
            statuses = [await conn.receive_type(OverlaySetupStatus) for _ in range(2)]
            assert [s.status for s in statuses] == [10, 10]
            # The first manifest's link was closed when the second replaced it.
            assert await old_link.wait_closed() == []
            assert [p.node_id for p in node.peers] == [30]
            assert node.node_ids == (10, 30)
            del new_link
