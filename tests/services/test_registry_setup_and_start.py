"""The registry's setup-overlay and start commands: refused with a bad NR or
count, too few nodes, or before every node reported its setup; a refusal
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
from registry_helpers import LOCAL, without_probe
from trio.testing import MockClock

from trio_dht.services.registry import CommandError
from trio_dht.wire.messages import NodeManifest, OverlaySetupStatus


@pytest.fixture
def cluster(cluster: Callable[..., Any]) -> Callable[..., Any]:
    """No registration probe: see ``registry_helpers.without_probe``."""
    return without_probe(cluster)


@pytest.mark.parametrize("nr", [0, -1, 3, 4, 9])
async def test_setup_with_an_invalid_nr_changes_nothing(
    cluster: Callable[..., Any], registry_state: Callable[..., Any], nr: int
) -> None:
    with trio.fail_after(10):
        async with cluster(4) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            tables = {n.node_id: [p.node_id for p in n.peers] for n in c.nodes}
            before = registry_state(c.registry)
            with pytest.raises(CommandError, match="NR must be between 1 and 2"):
                c.registry.setup_overlay(nr)
            assert registry_state(c.registry) == before
            assert c.registry.overlay_nr == 2 and c.registry.ready
            # No manifest went out: set up again with a valid NR and wait for
            # it; manifests reach each node in order, so one sent for the
            # refused NR would have been handled first and counted.
            generations = {n.node_id: n.core.generation for n in c.nodes}
            c.registry.setup_overlay(2)
            assert not c.registry.ready
            await c.registry.wait_ready()
            assert {n.node_id: n.core.generation for n in c.nodes} == {
                i: g + 1 for i, g in generations.items()
            }
            assert not any(
                "Refused a manifest" in line for n in c.nodes for line in n.observer.lines
            )
            assert {n.node_id: [p.node_id for p in n.peers] for n in c.nodes} == tables


async def test_setup_with_too_few_nodes(
    cluster: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster(1) as c:
            before = registry_state(c.registry)
            with pytest.raises(CommandError, match="at least 2 nodes"):
                c.registry.setup_overlay(1)
            assert registry_state(c.registry) == before


async def test_start_before_ready_is_refused(
    cluster: Callable[..., Any],
    connect: Callable[..., Any],
    registry_state: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            clients = [await connect(c.port) for _ in range(3)]
            ids = [(await cl.register(port=50000 + k)).status for k, cl in enumerate(clients)]
            with pytest.raises(CommandError, match="not ready"):
                c.registry.start(10)
            # Manifests go out, but these fake nodes never answer: still not ready.
            c.registry.setup_overlay(1)
            ring = sorted(ids)
            for client, node_id in zip(clients, ids, strict=True):
                manifest = await client.receive()
                assert isinstance(manifest, NodeManifest)
                assert manifest.node_ids == tuple(ring)
                after = ring[(ring.index(node_id) + 1) % 3]
                port = 50000 + ids.index(after)
                assert [(e.node_id, e.host, e.port) for e in manifest.entries] == [
                    (after, LOCAL, port)
                ]
            before = registry_state(c.registry)
            with pytest.raises(CommandError, match="not ready"):
                c.registry.start(10)
            assert registry_state(c.registry) == before

            # Two of three report success: still not ready; a failure is said.
            await clients[0].send(OverlaySetupStatus(ids[0], "fine"))
            await clients[1].send(OverlaySetupStatus(-1, "could not connect"))
            await wait_until(
                c.registry,
                lambda: (
                    c.registry.nodes[ids[0]].setup_ok
                    and any("could not connect" in line for line in c.registry.observer.lines)
                ),
            )
            assert not c.registry.ready
            with pytest.raises(CommandError):
                c.registry.start(10)
            await clients[1].send(OverlaySetupStatus(ids[1], "fine now"))
            await clients[2].send(OverlaySetupStatus(ids[2], "fine"))
            await c.registry.wait_ready()
            assert "Registry now ready to initiate tasks." in c.registry.observer.lines


@pytest.mark.parametrize("packets", [-1, 1 << 31])
async def test_start_with_a_bad_count(cluster: Callable[..., Any], packets: int) -> None:
    with trio.fail_after(10):
        async with cluster(2) as c:
            c.registry.setup_overlay(1)
            await c.registry.wait_ready()
            with pytest.raises(CommandError, match="between 0 and"):
                c.registry.start(packets)
            assert c.registry.run is None


async def test_a_member_that_answers_no_manifest_is_removed_and_setup_goes_on(
    cluster: Callable[..., Any], connect: Callable[..., Any], mock_clock: MockClock
) -> None:
    # A fake member that listens (so it passes any reachability check) but
    # answers no manifest, on its connection or dialled: without a limit the
    # overlay is never ready and an unattended run waits for its --timeout.
    mock_clock.autojump_threshold = 0.01
    with trio.fail_after(120):
        async with cluster() as c:
            for _ in range(3):
                await c.add_node()
            fake = await connect(c.port)
            fake_id = (await fake.register()).status
            assert fake_id in c.registry.nodes
            c.registry.setup_overlay(1)
            began = trio.current_time()
            assert not await c.registry.wait_set_up()  # the overlay changed instead
            assert trio.current_time() - began >= 1.5 + 10.0  # dialled, then 10 s more
            assert fake_id not in c.registry.nodes
            assert any(isinstance(m, NodeManifest) for m in await fake.wait_closed())
            c.registry.setup_overlay(1)
            assert await c.registry.wait_set_up()
            run = c.registry.start(100)
            await run.done.wait()
            assert run.result is not None and run.result.correct, run.result
            await fake.aclose()
