"""End to end over real loopback sockets: a registry, real nodes, real runs."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import attrs
import pytest
import trio

from trio_dht.overlay import mean_relays
from trio_dht.services.node import MessagingNode
from trio_dht.services.registry import Registry, RegistryConfig
from trio_dht.services.report import RunResult
from trio_dht.wire.messages import PROGRESS_MARKER, Message, OverlaySetupStatus

READY = "Registry now ready to initiate tasks."


async def do_run(registry: Registry, packets: int) -> RunResult:
    run = registry.start(packets)
    await run.done.wait()
    assert run.result is not None
    assert registry.run is None
    return run.result


def assert_exact(result: RunResult, registry: Registry, packets: int) -> None:
    ids = tuple(sorted(registry.nodes))
    total = packets * len(ids)
    assert result.verdict().startswith("CORRECT"), result.verdict()
    assert result.correct
    assert result.packets_per_node == packets
    assert tuple(n.node_id for n in result.nodes) == ids
    assert all(n.source == "summary" for n in result.nodes)
    assert [n.sent for n in result.nodes] == [packets] * len(ids)
    assert result.sent == result.received == total
    assert result.sum_sent == result.sum_received
    assert result.dropped == 0
    assert result.gone == ()


async def test_ten_nodes_two_exact_runs_and_the_8_9_relay_mean(
    cluster: Callable[..., Any],
) -> None:
    with trio.fail_after(20):
        async with cluster(10, seed=455) as c:
            registry: Registry = c.registry
            assert len(registry.nodes) == 10
            registry.setup_overlay(3)
            await registry.wait_ready()
            assert registry.ready
            assert READY in c.registry.observer.lines
            # Every node got its table: the 1, 2, 4 positions ahead.
            ids = sorted(registry.nodes)
            for node in c.nodes:
                i = ids.index(node.node_id)
                assert [p.node_id for p in node.peers] == [ids[(i + k) % 10] for k in (1, 2, 4)]
                assert node.node_ids == tuple(ids)

            first = await do_run(registry, 2500)
            assert_exact(first, registry, 2500)
            assert first.sent == 25_000
            assert first.quiescence == "progress"
            # Nodes reset their counters once they sent their summary.
            for node in c.nodes:
                assert node.counters.snapshot() == (0, 0, 0, 0, 0, 0)

            # A second, larger run on the same overlay is exact on its own:
            # nothing of the first run is counted again.
            second = await do_run(registry, 10_000)
            assert_exact(second, registry, 10_000)
            assert second.sent == 100_000
            assert second.quiescence == "progress"
            assert second.sum_sent != first.sum_sent

            assert mean_relays(ids, 3) == Fraction(8, 9)
            for result in (first, second):
                assert result.relays_per_packet == result.relayed / result.received
            assert second.relays_per_packet == pytest.approx(8 / 9, rel=0.01)
            assert c.registry.observer.results == [first, second]


@pytest.mark.parametrize("nr", [1, 4])
async def test_ten_nodes_other_table_sizes(cluster: Callable[..., Any], nr: int) -> None:
    with trio.fail_after(20):
        async with cluster(10, seed=nr) as c:
            c.registry.setup_overlay(nr)
            await c.registry.wait_ready()
            result = await do_run(c.registry, 5000)
            assert_exact(result, c.registry, 5000)
            assert result.nr == nr
            assert result.quiescence == "progress"
            for node in c.nodes:
                assert len(node.peers) == nr
            expected = float(mean_relays(sorted(c.registry.nodes), nr))
            assert result.relays_per_packet == pytest.approx(expected, rel=0.03)


async def test_two_nodes(cluster: Callable[..., Any]) -> None:
    with trio.fail_after(10):
        async with cluster(2, seed=2) as c:
            with pytest.raises(Exception, match="must be between 1 and 1"):
                c.registry.setup_overlay(2)
            c.registry.setup_overlay(1)
            await c.registry.wait_ready()
            result = await do_run(c.registry, 3000)
            assert_exact(result, c.registry, 3000)
            # Each node's only other node is its one routing-table entry.
            assert result.relayed == 0
            for row in result.nodes:
                assert row.received == 3000


class ClassicNode(MessagingNode):
    """Behaves like a classic peer: its setup status lacks PROGRESS_MARKER,
    so the registry must fall back to the grace period."""

    def _encode(self, message: Message) -> bytes | None:
        if isinstance(message, OverlaySetupStatus):
            info = message.info.replace(PROGRESS_MARKER, "").strip()
            message = attrs.evolve(message, info=info)
        return super()._encode(message)


async def test_classic_peer_falls_back_to_the_grace_period(cluster: Callable[..., Any]) -> None:
    config = RegistryConfig(grace=0.3)
    with trio.fail_after(15):
        async with cluster(4, config=config, seed=7, node_classes={2: ClassicNode}) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            capable = {r.node_id: r.progress_capable for r in c.registry.nodes.values()}
            classic_id = c.nodes[2].node_id
            assert capable == {n.node_id: n.node_id != classic_id for n in c.nodes}
            result = await do_run(c.registry, 200)
            assert result.quiescence == "grace period"
            assert_exact(result, c.registry, 200)
            lines = [line for line in c.registry.observer.lines if "grace period" in line]
            assert len(lines) == 1
            assert "1 node does not report progress" in lines[0]
            assert "0.3 s" in lines[0]


async def test_all_progress_capable_never_mentions_grace(cluster: Callable[..., Any]) -> None:
    config = RegistryConfig(grace=30.0)
    with trio.fail_after(10):
        async with cluster(3, config=config, seed=3) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            assert all(r.progress_capable for r in c.registry.nodes.values())
            result = await do_run(c.registry, 1000)  # would hang 30 s on the grace path
            assert_exact(result, c.registry, 1000)
            assert result.quiescence == "progress"
            assert not any("grace" in line for line in c.registry.observer.lines)


async def test_setup_again_after_a_run_and_a_node_joining(cluster: Callable[..., Any]) -> None:
    with trio.fail_after(15):
        async with cluster(3, seed=11) as c:
            c.registry.setup_overlay(1)
            await c.registry.wait_ready()
            assert_exact(await do_run(c.registry, 500), c.registry, 500)
            await c.add_node()
            # The overlay changed: not ready until set up again.
            assert not c.registry.ready
            assert c.registry.overlay_nr is None
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            assert c.registry.observer.lines.count(READY) == 2
            result = await do_run(c.registry, 700)
            assert_exact(result, c.registry, 700)
            assert len(result.nodes) == 4


async def test_a_node_vanishing_mid_run_is_reported_not_hidden(
    cluster: Callable[..., Any],
) -> None:
    config = RegistryConfig(stall_timeout=0.3, summary_timeout=2.0)
    with trio.fail_after(15):
        async with cluster(5, config=config, seed=5) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            victim = c.nodes[3]
            run = c.registry.start(20_000)
            victim.stop()
            await run.done.wait()
            result = run.result
            assert result is not None
            assert result.gone == (victim.node_id,)
            assert not result.correct
            verdict = result.verdict()
            assert verdict.startswith("INCORRECT")
            assert f"node {victim.node_id} vanished" in verdict
            assert result.quiescence == "stalled"
            assert any("No progress for 0.3 s" in line for line in c.registry.observer.lines)
            assert c.registry.run is None
            # The survivors' summaries are in; the overlay must be set up again.
            rows = {n.node_id: n for n in result.nodes}
            assert all(rows[n.node_id].source == "summary" for n in c.nodes if n is not victim)
            assert not c.registry.ready
