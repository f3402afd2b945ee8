"""Link loads in an overlay that mixes trio_dht nodes with classic peers (the
scripted cs455 text-address Java variant, tests/peers/java_variants.py): the
trio_dht nodes report their loads, the classic ones never receive a progress
request and send nothing, and the run's figure marks their links unknown
instead of zero. Virtual time as in test_text_address_interop.py: the
registry's grace period for classic peers passes once the overlay is quiet.
"""

from __future__ import annotations

import random
from pathlib import Path

import trio
from peers.connlog import ConnLog, explained
from peers.java_variants import TextAddressNode
from trio.testing import MockClock

from trio_dht.interface import figures
from trio_dht.services.config import NodeConfig, RegistryConfig
from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import get_dialect

HOST = "127.0.0.1"
CS455 = get_dialect("cs455")
OURS, CLASSIC, PACKETS, NR = 6, 4, 150, 3
JOIN_S, READY_S, RUN_S = 15, 15, 60
AUTOJUMP = 0.01


async def test_classic_peers_links_are_unknown_and_ours_add_up(
    mock_clock: MockClock, tmp_path: Path
) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observer = Observer()
    registry = Registry(CS455, observer, RegistryConfig(), random.Random(30))
    async with trio.open_nursery() as nursery:
        with explained(log, observer.lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve, HOST, 0)
                classic = [
                    await nursery.start(TextAddressNode(HOST, port, log, random.Random(k)).run)
                    for k in range(CLASSIC)
                ]
                for k in range(OURS):
                    node = MessagingNode(HOST, port, CS455, Observer(), NodeConfig(seed=100 + k))
                    await nursery.start(node.run)
                await registry.wait_for_nodes(OURS + CLASSIC)
            with trio.fail_after(READY_S):
                registry.setup_overlay(NR)
                await registry.wait_ready()
            with trio.fail_after(RUN_S):
                run = registry.start(PACKETS)
                await run.done.wait()
            result = run.result
            assert result is not None and result.correct, result.verdict()
            assert not log.kinds("unexpected"), log.describe()
        nursery.cancel_scope.cancel()

    classic_ids = {n.node_id for n in classic}
    assert set(result.unmeasured) == classic_ids
    assert result.relay_histogram is None  # a part of the nodes is not the run's
    by_id = {row.node_id: row for row in result.nodes}
    assert {m.node_id for m in result.measures} == set(by_id) - classic_ids
    for m in result.measures:
        row = by_id[m.node_id]
        assert sum(packets for _, packets in m.links) == row.sent + row.relayed
        assert sum(m.relays) == row.received

    data = figures.write_figure(
        str(tmp_path / "mixed.svg"), result, list(by_id), NR, result.link_loads,
        result.relay_histogram,
    )  # fmt: skip
    for chord in data.chords:
        assert (chord.load is None) == (chord.source in classic_ids), chord
    assert set(data.unmeasured) == classic_ids and data.measured is None
