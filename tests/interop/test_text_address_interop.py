"""trio_dht with the cs455 Java variant that marshals addresses as text,
scripted from its captured frames (tests/peers/java_variants.py): issue 10,
"Done when" (a trio_dht registry drives text-address nodes and trio_dht
nodes join a text-address registry, exact).

The text-address peers send no progress reports, so a trio_dht registry
waits its grace period after the last task-finished; on trio's mock clock
with autojump (``AUTOJUMP``) that period passes only while the in-process
overlay is idle. The scripted registry waits until the overlay is quiet.
"""

from __future__ import annotations

import random

import pytest
import trio
from peers.connlog import ConnLog, explained
from peers.go_per_message import quiet_overlay
from peers.java_variants import TextAddressNode, TextAddressRegistry
from trio.testing import MockClock

from trio_dht.services.config import NodeConfig, RegistryConfig
from trio_dht.services.node import MessagingNode, NodeError
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import get_dialect

HOST = "127.0.0.1"
CS455 = get_dialect("cs455")
NODES = 10
PACKETS = 200
NR = 3
JOIN_S, READY_S, RUN_S = 15, 15, 60
# Virtual time: the clock stands still while anything runs and jumps ahead
# only when every task has been blocked, with no socket ready, for this
# many real seconds. So the registry's waits (grace period, manifest
# timeout) end only once the in-process overlay is quiet, whatever the
# machine's load, and the deadlines above fail a stuck test at once.
AUTOJUMP = 0.01


def text_address_node(port: int, observer: Observer, seed: int) -> MessagingNode:
    """A trio_dht node told to use the text-address form for its first
    message (issue 10's node flag, ``--cs455-address text``): here the
    cs455 dialect's "text-address" variant. If the flag lands in another
    form, change it here only."""
    dialect = CS455.with_variant("text-address")
    return MessagingNode(HOST, port, dialect, observer, NodeConfig(seed=seed))


async def test_trio_dht_registry_drives_text_address_nodes(mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observer = Observer()
    registry = Registry(CS455, observer, RegistryConfig(), random.Random(20))
    async with trio.open_nursery() as nursery:
        with explained(log, observer.lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve, HOST, 0)
                nodes: list[TextAddressNode] = [
                    await nursery.start(TextAddressNode(HOST, port, log, random.Random(k)).run)
                    for k in range(NODES)
                ]
                await registry.wait_for_nodes(NODES)
            with trio.fail_after(READY_S):
                registry.setup_overlay(NR)
                await registry.wait_ready()
            assert all(n.setup_status == n.node_id for n in nodes)
            with trio.fail_after(RUN_S):
                run = registry.start(PACKETS)
                await run.done.wait()
            result = run.result
            assert result is not None
            assert result.correct, result.verdict()
            assert result.sent == result.received == NODES * PACKETS
            assert not log.kinds("unexpected") and not log.kinds("no-route"), log.describe()
            # Answered in their own form: every manifest parsed as text
            # addresses, so each node connected to its three entries.
            assert all(len(n.peers) == NR for n in nodes)
        nursery.cancel_scope.cancel()


async def test_trio_dht_nodes_join_a_text_address_registry(mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observers = [Observer() for _ in range(NODES)]
    registry = TextAddressRegistry(log, random.Random(21), before_summaries=quiet_overlay)
    async with trio.open_nursery() as nursery:
        with explained(log, observers[0].lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve)
                nodes = [text_address_node(port, obs, k) for k, obs in enumerate(observers)]
                for node in nodes:
                    await nursery.start(node.run)
                await registry.wait_for_nodes(NODES)
            assert not registry.refusals, registry.refusals
            with trio.fail_after(READY_S):
                await registry.setup(NR)
                await registry.wait_ready()
            with trio.fail_after(RUN_S):
                run = await registry.start(PACKETS)
                await run.done.wait()
            assert run.exact(NODES * PACKETS), run.verdict()
            assert not log.kinds("unexpected"), log.describe()
        nursery.cancel_scope.cancel()


async def test_a_garbled_refusal_suggests_the_text_address_flag(mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    registry = TextAddressRegistry(log, random.Random(22))
    async with trio.open_nursery() as nursery:
        with trio.fail_after(JOIN_S):
            port = await nursery.start(registry.serve)
            node = MessagingNode(HOST, port, CS455, Observer(), NodeConfig())
            with pytest.raises(NodeError) as refused:
                await nursery.start(node.run)
        # The registry read our raw 4-byte address as text, as captured.
        assert registry.refusals and registry.refusals[0]["ip"] == "\x7f\x00\x00\x01"
        assert "text" in str(refused.value).lower(), str(refused.value)
        nursery.cancel_scope.cancel()
