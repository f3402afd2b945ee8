"""trio_dht with the seed's one-message-per-connection Go port, scripted
from its transcript (tests/peers/go_per_message.py): issue 10, "Done when".

Each test is what trio_dht must do; one that fails on the code it was
written against carries an xfail naming what is missing, and the marker
must go once the services do it. A failure message ends with the scripted
peers' account of their connections (frames read per accepted connection,
bytes left unread on connections they never read again).

Packet counts are small here (every data packet is a TCP connection);
tools/interop_bench.py runs 10 x 25,000.

The Go peers send no progress reports, so a trio_dht registry can only
wait a grace period after the last task-finished before asking for
summaries. The tests run on trio's mock clock with autojump (``AUTOJUMP``):
that period passes only while the whole in-process overlay is idle, so the
totals cannot depend on the machine's load.
"""

from __future__ import annotations

import random

import trio
from peers.connlog import ConnLog, explained
from peers.go_per_message import GoNode, GoRegistry, quiet_overlay
from trio.testing import MockClock

from trio_dht.services.config import NodeConfig, RegistryConfig
from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import get_dialect

HOST = "127.0.0.1"
MINICHORD = get_dialect("minichord")
NODES = 10
PACKETS = 200
NR = 3
# Per phase (virtual seconds): joining, setup until ready, the run itself.
JOIN_S, READY_S, RUN_S = 15, 15, 60
# Virtual time: the clock stands still while anything runs and jumps ahead
# only when every task has been blocked, with no socket ready, for this
# many real seconds. So the registry's waits (grace period, manifest
# timeout) end only once the in-process overlay is quiet, whatever the
# machine's load, and the deadlines above fail a stuck test at once.
AUTOJUMP = 0.01


def assert_go_model_kept(log: ConnLog, nodes: list[GoNode]) -> None:
    """What the Go peers saw was something they can live with."""
    assert not log.length_errors(), log.describe()
    for node in nodes:
        for conn in log.of(node.name, dialled=False):
            assert len(conn.read) + conn.empty <= 1 and conn.read_calls <= 2, conn
            # A second frame on a connection would wait there unread for
            # ever: a message lost without anyone counting it.
            assert conn.unread_bytes() == 0, conn


async def test_trio_dht_registry_drives_go_per_message_nodes(mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observer = Observer()
    registry = Registry(MINICHORD, observer, RegistryConfig(), random.Random(10))
    async with trio.open_nursery() as nursery:
        with explained(log, observer.lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve, HOST, 0)
                nodes: list[GoNode] = [
                    await nursery.start(GoNode(HOST, port, log, rng=random.Random(k)).run)
                    for k in range(NODES)
                ]
                await registry.wait_for_nodes(NODES)
            with trio.fail_after(READY_S):
                registry.setup_overlay(NR)
                await registry.wait_ready()
            with trio.fail_after(RUN_S):
                run = registry.start(PACKETS)
                await run.done.wait()
            result = run.result
            assert result is not None
            assert result.correct, result.verdict()
            assert result.sent == result.received == NODES * PACKETS
            assert_go_model_kept(log, nodes)
        nursery.cancel_scope.cancel()


async def test_trio_dht_nodes_join_the_go_per_message_registry(mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observers = [Observer() for _ in range(NODES)]
    registry = GoRegistry(log, random.Random(11), before_summaries=quiet_overlay)
    async with trio.open_nursery() as nursery:
        with explained(log, observers[0].lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve)
                nodes = [
                    MessagingNode(HOST, port, MINICHORD, obs, NodeConfig(seed=k))
                    for k, obs in enumerate(observers)
                ]
                for node in nodes:
                    await nursery.start(node.run)
                await registry.wait_for_nodes(NODES)
            with trio.fail_after(READY_S):
                await registry.setup(NR)
                await registry.wait_ready()
            with trio.fail_after(RUN_S):
                run = await registry.start(PACKETS)
                await run.done.wait()
            assert run.exact(NODES * PACKETS), run.verdict()
            assert not log.length_errors(), log.describe()
            # The registry read one frame per connection and never read its
            # registration connections again: nothing may wait there.
            for conn in log.of(registry.name, purpose="registration"):
                assert conn.unread_bytes() == 0, conn
        nursery.cancel_scope.cancel()


async def test_mixed_overlay_under_a_trio_dht_registry(mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observer = Observer()
    registry = Registry(MINICHORD, observer, RegistryConfig(), random.Random(12))
    half = NODES // 2
    async with trio.open_nursery() as nursery:
        with explained(log, observer.lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve, HOST, 0)
                go_nodes: list[GoNode] = [
                    await nursery.start(GoNode(HOST, port, log, rng=random.Random(k)).run)
                    for k in range(half)
                ]
                # Data to a Go peer must go one packet per connection, and
                # nothing in the traffic says which peers are Go: forced.
                ours = [
                    MessagingNode(
                        HOST,
                        port,
                        MINICHORD,
                        Observer(),
                        NodeConfig(per_message_peers=True, seed=k),
                    )
                    for k in range(half)
                ]
                for node in ours:
                    await nursery.start(node.run)
                await registry.wait_for_nodes(NODES)
            with trio.fail_after(READY_S):
                registry.setup_overlay(NR)
                await registry.wait_ready()
            with trio.fail_after(RUN_S):
                run = registry.start(PACKETS)
                await run.done.wait()
            result = run.result
            assert result is not None
            assert result.correct, result.verdict()
            assert result.sent == result.received == NODES * PACKETS
            assert_go_model_kept(log, go_nodes)
        nursery.cancel_scope.cancel()


async def test_a_trio_dht_node_at_its_incoming_limit_loses_nothing(mock_clock: MockClock) -> None:
    """Issue 10, backpressure: Go nodes dial a connection per packet; a
    trio_dht node allowed only 2 incoming connections at once must make the
    rest wait (the kernel's backlog holds the diallers), not accept and
    close them: every packet still arrives and is counted."""
    mock_clock.autojump_threshold = AUTOJUMP
    log = ConnLog()
    observer = Observer()
    registry = Registry(MINICHORD, observer, RegistryConfig(), random.Random(13))
    async with trio.open_nursery() as nursery:
        with explained(log, observer.lines):
            with trio.fail_after(JOIN_S):
                port = await nursery.start(registry.serve, HOST, 0)
                go_nodes: list[GoNode] = [
                    await nursery.start(GoNode(HOST, port, log, rng=random.Random(k)).run)
                    for k in range(NODES - 1)
                ]
                narrow = MessagingNode(
                    HOST,
                    port,
                    MINICHORD,
                    Observer(),
                    NodeConfig(per_message_peers=True, max_incoming=2, seed=1),
                )
                await nursery.start(narrow.run)
                await registry.wait_for_nodes(NODES)
            with trio.fail_after(READY_S):
                registry.setup_overlay(NR)
                await registry.wait_ready()
            with trio.fail_after(RUN_S):
                run = registry.start(PACKETS)
                await run.done.wait()
            result = run.result
            assert result is not None
            assert result.correct, result.verdict()
            assert result.sent == result.received == NODES * PACKETS
            assert not log.kinds("refused"), log.kinds("refused")[:3]
            assert_go_model_kept(log, go_nodes)
        nursery.cancel_scope.cancel()
