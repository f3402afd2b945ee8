"""A node vanishing mid-run: honest accounting, no hang, exact next run."""

from __future__ import annotations

import trio

from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import WatchingObserver
from trio_dht.services.registry import Registry, RegistryConfig
from trio_dht.wire import get_dialect

HOST = "127.0.0.1"


async def test_node_vanishing_mid_run_is_reported_and_next_run_is_exact() -> None:
    dialect = get_dialect("cs455")
    observer = WatchingObserver()
    registry = Registry(dialect, observer, RegistryConfig(stall_timeout=0.5))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            nodes: list[MessagingNode] = []
            for _ in range(10):
                nodes.append(await nursery.start(MessagingNode(HOST, port, dialect).run))
            registry.setup_overlay(3)
            await registry.wait_ready()
            run = registry.start(30_000)

            # Let traffic flow, then make one node vanish without a word
            # (its sockets close, as when its process is killed).
            victim = nodes[4]
            victim_id = victim.node_id
            assert victim_id is not None
            record = registry.nodes[victim_id]
            # Once the registry has heard of its traffic (sent, and relayed
            # for others), so that its row can show last known counters.
            await observer.wait_until(
                lambda: (
                    record.progress is not None
                    and record.progress.sent > 0
                    and record.progress.relayed >= 2_000
                )
            )
            victim.stop()
            await observer.wait_until(lambda: victim_id not in registry.nodes)
            # Noticed from its closed connection, not by waiting out the run.
            assert not run.done.is_set(), "the registry must notice before the run ends"

            await run.done.wait()
            result = run.result
            assert result is not None
            assert not result.correct
            assert result.verdict().startswith("INCORRECT")
            assert result.gone == (victim_id,)
            row = next(r for r in result.nodes if r.node_id == victim_id)
            assert row.source == "last-progress"
            assert row.sent > 0
            survivors = [r for r in result.nodes if r.node_id != victim_id]
            assert all(r.source == "summary" and r.sent == 30_000 for r in survivors)
            assert result.sent > result.received
            lines = result.accounting()
            text = "\n".join(lines)
            assert f"Node {victim_id} vanished" in text
            shortfall = result.sent - result.received
            assert f"Shortfall: {shortfall:,} = {result.sent:,} sent" in text
            if result.dropped:
                assert f"{result.dropped:,} were dropped" in text
            assert str(victim_id) in result.verdict()

            # The survivors set up again and run exactly.
            assert registry.overlay_nr is None
            assert len(registry.nodes) == 9
            registry.setup_overlay(3)
            await registry.wait_ready()
            again = registry.start(2_000)
            await again.done.wait()
            assert again.result is not None
            assert again.result.correct, again.result.verdict()
            assert again.result.sent == 18_000
            nursery.cancel_scope.cancel()
